package baocun

import (
	"fmt"
	"slices"
	"strings"
)

// The lifecycle's named values — stages, task kinds, roles — are types of their own,
// so a task kind cannot be passed where a stage is meant; a value from outside (a
// query, a request body, a policy row) becomes one through its Parse function, which
// names the field and the values allowed.

// ParseStage returns s as a Stage, or an EINVALID error naming field.
func ParseStage(field, s string) (Stage, error) {
	return parseName(field, "没有这个阶段 no stage", s, Stages)
}

// ParseRole returns s as a Role, or an EINVALID error naming field.
func ParseRole(field, s string) (Role, error) {
	return parseName(field, "没有这个角色 no role", s, Roles)
}

// ParseTaskKind returns s as a TaskKind, or an EINVALID error naming field.
func ParseTaskKind(field, s string) (TaskKind, error) {
	return parseName(field, "没有这种待办 no task kind", s, TaskKinds)
}

// Valid reports whether s is a stage.
func (s Stage) Valid() bool { return slices.Contains(Stages, s) }

// Valid reports whether r is a role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Valid reports whether k is a task kind.
func (k TaskKind) Valid() bool { return slices.Contains(TaskKinds, k) }

func parseName[T ~string](field, what, s string, all []T) (T, error) {
	if slices.Contains(all, T(s)) {
		return T(s), nil
	}
	names := make([]string, len(all))
	for i, v := range all {
		names[i] = string(v)
	}
	msg := fmt.Sprintf("%s: %s %q (%s)", field, what, s, strings.Join(names, ", "))
	return "", &Error{Code: EINVALID, Message: msg, Fields: map[string]string{field: msg}}
}
