package workflows_test

import (
	"encoding"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"baocun"
	"baocun/activities"
	"baocun/workflows"
)

var updatePayloads = flag.Bool("update-payloads", false, "rewrite testdata/payloads.txt from today's types")

// Every value a workflow's history holds — its input and what it carries across
// continue-as-new, Update arguments and answers, query answers, activity inputs
// and results — is JSON of these types, and a run in flight replays from it. The
// types are shared with the API and the database (the domain's), so a JSON field
// renamed for the API's sake would change what old histories decode to: this test
// pins their JSON shape, and a change to it must come with a version (DESIGN.md
// "Versions") and then `go test ./workflows -run TestPayloadShapes -update-payloads`.
func TestPayloadShapes(t *testing.T) {
	payloads := []any{
		workflows.CycleInput{}, workflows.BatchInput{}, workflows.PairingState{}, workflows.Step{}, workflows.CycleStep{},
		workflows.StepResult{}, workflows.CommendationState{},
		baocun.Change{}, baocun.Inputs{}, baocun.Rubric{}, activities.CommendationPlan{}, []baocun.Pairing{},
	}
	var b strings.Builder
	for _, p := range payloads {
		shape(&b, reflect.TypeOf(p), "", map[reflect.Type]bool{})
	}
	const golden = "testdata/payloads.txt"
	if *updatePayloads {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("a history payload's JSON changed at line %d:\n got  %q\n want %q\n(a change that alters what histories hold needs a version: DESIGN.md \"Versions\")", i+1, g, w)
			}
		}
	}
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// shape writes t's JSON shape, one field a line: its JSON name and kind, nested
// types indented under it (each type spelled out once per payload).
func shape(b *strings.Builder, t reflect.Type, indent string, seen map[reflect.Type]bool) {
	if indent == "" {
		fmt.Fprintf(b, "%s\n", t)
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if f.Anonymous && name == "" {
			shape(b, f.Type, indent, seen)
			continue
		}
		if name == "" {
			name = f.Name
		}
		fmt.Fprintf(b, "%s  %s %s\n", indent, name, kindOf(f.Type))
		shape(b, f.Type, indent+"  ", seen)
	}
}

// kindOf names a field's JSON kind, and the Go type where it is encoded its own way.
func kindOf(t reflect.Type) string {
	switch {
	case t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return "encoded " + t.String()
	case t.Kind() == reflect.Pointer:
		return "optional " + kindOf(t.Elem())
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "list of " + kindOf(t.Elem())
	case t.Kind() == reflect.Map:
		return "map " + kindOf(t.Key()) + " to " + kindOf(t.Elem())
	case t.Kind() == reflect.Struct:
		return "object"
	default:
		return t.Kind().String()
	}
}
