package workflows

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"baocun"
)

// A signature covers what the workflow will read: a step signed as the client holds
// it checks against the same step as the worker decodes it, and fails when the
// workflow, the Update's name or ID, the time, or any field of the step differ.
func TestStepSignatureBinds(t *testing.T) {
	key, err := NewStepKey([]byte(strings.Repeat("s", StepKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2027, 3, 1, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))
	step := Step{Actor: "lead", Person: "P1",
		Audit: baocun.AuditEntry{Actor: "lead", Role: "dept_lead", Jurisdiction: "*", Action: "team.nominate", At: at,
			Summary: `{"a":"<b>&"}`, SourceIP: "10.0.0.1", UserAgent: "测试"},
		Team:     &baocun.TeamInput{Leader: "P1", Members: []string{"P1", "P2", "P3"}},
		Decision: &baocun.DecisionInput{TaskID: "1-2", Outcome: "approve", Comment: "好"},
		Names:    map[string]string{"P2": "李四", "P1": "张三"},
	}
	sig, err := key.sign("pairing-1", UpdateNominateTeam, "u-1", at, []any{step})
	if err != nil {
		t.Fatal(err)
	}
	// As the worker has it: the payload's JSON decoded into the handler's type.
	decoded := func(st Step) [][]byte {
		b, _ := json.Marshal(st)
		var back Step
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(back)
		return [][]byte{out}
	}
	check := func(wid, update, id string, at time.Time, st Step) bool {
		return hex.EncodeToString(key.mac(wid, update, id, at, decoded(st))) == sig.MAC
	}
	if !check("pairing-1", UpdateNominateTeam, "u-1", sig.At, step) {
		t.Fatal("the genuine step does not check")
	}
	other := step
	other.Actor = "organiser"
	altered := step
	altered.Team = &baocun.TeamInput{Leader: "P1", Members: []string{"P1", "P2", "P9"}}
	for name, ok := range map[string]bool{
		"another workflow": check("pairing-2", UpdateNominateTeam, "u-1", sig.At, step),
		"another Update":   check("pairing-1", UpdateDecideTeam, "u-1", sig.At, step),
		"another ID":       check("pairing-1", UpdateNominateTeam, "u-2", sig.At, step),
		"another time":     check("pairing-1", UpdateNominateTeam, "u-1", sig.At.Add(time.Nanosecond), step),
		"another actor":    check("pairing-1", UpdateNominateTeam, "u-1", sig.At, other),
		"another team":     check("pairing-1", UpdateNominateTeam, "u-1", sig.At, altered),
	} {
		if ok {
			t.Errorf("%s: the signature still checks", name)
		}
	}
	if _, err := NewStepKey(make([]byte, StepKeyBytes-1)); err == nil {
		t.Error("a short key was accepted")
	}
}
