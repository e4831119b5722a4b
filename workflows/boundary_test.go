package workflows_test

import (
	"reflect"
	"testing"

	"baocun"
	"baocun/workflows"
)

// Every API step reaches its Update with all it carries: each kind maps to one
// Update of its own, and no field of baocun.Step is dropped on the way into the
// workflow's payload (a dropped field would lose a step's input silently).
func TestEveryStepReachesItsUpdate(t *testing.T) {
	full := baocun.Step{}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.String:
			f.SetString("x")
		case reflect.Int64:
			f.SetInt(7)
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
			f.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Struct:
			full.Audit = baocun.AuditEntry{Action: "x"}
		default:
			t.Fatalf("baocun.Step.%s: a %s this test cannot fill", v.Type().Field(i).Name, f.Kind())
		}
	}
	seen := map[string]baocun.StepKind{}
	for _, k := range baocun.StepKinds {
		st := full
		st.Kind = k
		wid, update, arg, ok := workflows.Update(st)
		if !ok || update == "" {
			t.Errorf("%s: no Update", k)
			continue
		}
		if other, dup := seen[update]; dup {
			t.Errorf("%s and %s both become Update %s", k, other, update)
		}
		seen[update] = k
		want := workflows.PairingWorkflowID(7)
		if k.CycleStep() {
			want = workflows.CycleWorkflowID(7)
		}
		if wid != want {
			t.Errorf("%s goes to %s, want %s", k, wid, want)
		}
		p := reflect.ValueOf(arg)
		for i := range p.NumField() {
			if p.Type().Field(i).Name == "Applied" {
				continue // the engine's, not the API's: what the database holds (temporalclient)
			}
			if p.Field(i).IsZero() {
				t.Errorf("%s: %s.%s is not filled from the step", k, p.Type().Name(), p.Type().Field(i).Name)
			}
		}
	}
	if _, _, _, ok := workflows.Update(baocun.Step{Kind: "no_such_step"}); ok {
		t.Error("an unknown kind has an Update")
	}
}
