package baocun_test

import (
	"errors"
	"testing"

	"baocun"
)

// Every task kind has its role, and a name from outside is taken only if it is one
// of the type's values, the error naming the field.
func TestNames(t *testing.T) {
	if len(baocun.TaskRoles) != len(baocun.TaskKinds) {
		t.Fatalf("%d task kinds, %d with a role", len(baocun.TaskKinds), len(baocun.TaskRoles))
	}
	for _, k := range baocun.TaskKinds {
		if !baocun.TaskRoles[k].Valid() {
			t.Errorf("task kind %s acts as %q, not a role", k, baocun.TaskRoles[k])
		}
	}
	for _, s := range baocun.Stages {
		if baocun.StageNames[s] == "" {
			t.Errorf("stage %s has no name", s)
		}
	}
	if s, err := baocun.ParseStage("stage", "reviews"); err != nil || s != baocun.StageReviews {
		t.Fatalf("reviews: %q, %v", s, err)
	}
	for _, bad := range []string{"", "Reviews", "reviews ", "nominate_team"} {
		_, err := baocun.ParseStage("stage", bad)
		if baocun.ErrorCode(err) != baocun.EINVALID || fieldOf(err, "stage") == "" {
			t.Errorf("stage %q: %v, want EINVALID naming the field", bad, err)
		}
	}
	if r, err := baocun.ParseRole("role", "dept_lead"); err != nil || r != baocun.RoleDeptLead {
		t.Fatalf("dept_lead: %q, %v", r, err)
	}
	if _, err := baocun.ParseRole("grants[0].role", "root"); baocun.ErrorCode(err) != baocun.EINVALID || fieldOf(err, "grants[0].role") == "" {
		t.Errorf("role root: %v", err)
	}
	if k, err := baocun.ParseTaskKind("kind", "score_acceptance"); err != nil || k != baocun.TaskScore {
		t.Fatalf("score_acceptance: %q, %v", k, err)
	}
	if _, err := baocun.ParseTaskKind("kind", "score"); err == nil {
		t.Error("kind score (a step, not a task kind) taken")
	}
}

func fieldOf(err error, field string) string {
	var e *baocun.Error
	if !errors.As(err, &e) {
		return ""
	}
	return e.Fields[field]
}
