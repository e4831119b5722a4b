package baocun_test

import (
	"reflect"
	"strings"
	"testing"

	"baocun"
)

func TestParsePairings(t *testing.T) {
	got, lines, err := baocun.ParsePairings(table([]string{"部门编码", "村编码", "类型"}, rows("D1,V1,包扶", "D2,V2,共建", "D3,V3,model")))
	if err != nil {
		t.Fatal(err)
	}
	want := []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V2", "model"}, {"D3", "V3", "model"}}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(lines, []int{2, 3, 4}) {
		t.Fatalf("got %+v at %v", got, lines)
	}
	_, _, err = baocun.ParsePairings(table([]string{"department_code", "village_code", "kind"}, rows("D1,V1,帮扶")))
	if errs := importErrors(t, err); len(errs) != 1 || errs[0].Column != "kind" || errs[0].Line != 2 {
		t.Fatalf("errors %+v", errs)
	}
}

func TestValidatePairings(t *testing.T) {
	dir := baocun.LaunchDirectory{
		People: map[string]int{"D1": 5, "D2": 3, "D9": 0},
		Villages: map[string]baocun.LaunchVillage{"V1": {County: "县A", Class: 2}, "V2": {County: "县A", Class: 1}, "V3": {County: "县B", Class: 3},
			"V4": {County: "县B", Class: 1}, "V5": {County: "县B", Class: 2, Cycle: 7}},
	}
	ok := []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V2", "model"}, {"D1", "V3", "support"}}
	if w, err := baocun.ValidatePairings(ok, []int{1, 2, 3}, "*", dir, ""); err != nil || len(w) != 0 {
		t.Fatalf("a valid city launch: %v, warnings %v", err, w)
	}
	// A support pairing of a class 1 village is refused by default, and only warned
	// of when the cycle says so; a village in another running cycle is refused either way.
	class1 := []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V4", "support"}}
	if w, err := baocun.ValidatePairings(class1, []int{1, 2}, "*", dir, baocun.Class1Warn); err != nil || len(w) != 1 || w[0].Line != 2 || w[0].Column != "kind" || !strings.Contains(w[0].Message, "V4") {
		t.Fatalf("class1 warn: %v, warnings %+v", err, w)
	}
	busy := []baocun.PairingSpec{{"D1", "V5", "model"}}
	if got := importErrors(t, second(baocun.ValidatePairings(busy, []int{1}, "*", dir, baocun.Class1Warn))); len(got) != 1 || got[0].Column != "village_code" || !strings.Contains(got[0].Message, "running cycle 7") {
		t.Fatalf("busy village: %+v", got)
	}
	tests := []struct {
		name         string
		ps           []baocun.PairingSpec
		jurisdiction string
		want         []baocun.RowError // line and column
	}{
		{"support of a class 1 village", []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V4", "support"}}, "*",
			[]baocun.RowError{{Line: 2, Column: "kind"}}},
		{"village in another running cycle", []baocun.PairingSpec{{"D1", "V5", "support"}}, "*",
			[]baocun.RowError{{Line: 1, Column: "village_code"}}},
		{"unknown codes", []baocun.PairingSpec{{"DX", "VX", "support"}}, "*",
			[]baocun.RowError{{Line: 1, Column: "department_code"}, {Line: 1, Column: "village_code"}}},
		{"village paired twice", []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V1", "model"}}, "*",
			[]baocun.RowError{{Line: 2, Column: "village_code"}}},
		{"department with no people", []baocun.PairingSpec{{"D9", "V1", "support"}}, "*",
			[]baocun.RowError{{Line: 1, Column: "department_code"}}},
		{"village outside a county cycle", []baocun.PairingSpec{{"D1", "V1", "support"}, {"D2", "V3", "model"}}, "县A",
			[]baocun.RowError{{Line: 2, Column: "village_code"}}},
		{"bad kind", []baocun.PairingSpec{{"D1", "V1", "adopt"}}, "*", []baocun.RowError{{Line: 1, Column: "kind"}}},
		{"no pairings", nil, "*", []baocun.RowError{{Line: 0, Column: "pairings"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := make([]int, len(tt.ps))
			for i := range lines {
				lines[i] = i + 1
			}
			got := importErrors(t, second(baocun.ValidatePairings(tt.ps, lines, tt.jurisdiction, dir, baocun.Class1Refuse)))
			if len(got) != len(tt.want) {
				t.Fatalf("errors %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i].Line != tt.want[i].Line || got[i].Column != tt.want[i].Column || got[i].Message == "" {
					t.Fatalf("error %d = %+v, want line %d column %s", i, got[i], tt.want[i].Line, tt.want[i].Column)
				}
			}
		})
	}
}

// A team change naming someone twice is refused at the door, naming the field: once a
// workflow committed it, the database could never store a team with a member twice.
func TestTeamChangeNamesEachPersonOnce(t *testing.T) {
	for _, tt := range []struct {
		in    baocun.TeamChangeInput
		field string
	}{
		{baocun.TeamChangeInput{Add: []string{"P4", "P4"}, Reason: "调整"}, "add"},
		{baocun.TeamChangeInput{Remove: []string{"P3", "P3"}, Reason: "调整"}, "remove"},
	} {
		err := tt.in.Validate()
		if baocun.ErrorCode(err) != baocun.EINVALID || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%+v: %v, want invalid naming %s", tt.in, err, tt.field)
		}
	}
	if err := (baocun.TeamChangeInput{Remove: []string{"P3"}, Add: []string{"P4"}, Reason: "调整"}).Validate(); err != nil {
		t.Errorf("a change naming each once: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }
