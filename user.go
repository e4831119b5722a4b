package baocun

import (
	"context"
	"time"
)

// Roles of SPEC.md "Roles". A role is held within a jurisdiction.
const (
	RoleAdmin      = "admin"
	RoleOrganiser  = "organiser"
	RoleReviewer   = "reviewer"
	RoleDeptLead   = "dept_lead"
	RoleTeamMember = "team_member"
	RoleVillage    = "village"
	RoleAuditor    = "auditor"
)

// Roles lists every role, in the order SPEC.md gives them.
var Roles = []string{RoleAdmin, RoleOrganiser, RoleReviewer, RoleDeptLead, RoleTeamMember, RoleVillage, RoleAuditor}

// CityJurisdiction is the jurisdiction of the whole city; any other is a county's name
// exactly as the villages file gives it.
const CityJurisdiction = "*"

// User is an account. PersonID ties it to a person of the directory and so to a
// department; VillageCode makes it the voice of one village.
type User struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	PersonID    string    `json:"person_id,omitempty"`
	VillageCode string    `json:"village_code,omitempty"`
	Department  string    `json:"department_code,omitempty"` // the person's department, derived
	Disabled    bool      `json:"disabled,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Roles       []Grant   `json:"roles"`
}

// Grant is one role held in one jurisdiction.
type Grant struct {
	Role         string `json:"role"`
	Jurisdiction string `json:"jurisdiction"`
}

// HasRole reports whether u holds role in any jurisdiction.
func (u *User) HasRole(role string) bool {
	for _, g := range u.Roles {
		if g.Role == role {
			return true
		}
	}
	return false
}

// NewUser is an account to create. PasswordHash comes from HashPassword.
type NewUser struct {
	Username     string
	PasswordHash string
	PersonID     string
	VillageCode  string
	Roles        []Grant
}

// LoginResult says how a sign-in attempt ended.
type LoginResult struct {
	User        *User
	LockedUntil time.Time // set when the account is locked (now or by this failure)
}

// AccessRequest asks whether User may do Action on an Object of some type.
// Jurisdiction and Relations describe the resource as the database has it, never
// as the client says.
type AccessRequest struct {
	User         string
	Jurisdiction string   // the resource's: "*" for city-wide resources, else a county
	Object       string   // the resource type: "pairing", "user", "audit"…
	Action       string   // "read", "decide", "grant"…
	Relations    []string // the caller's relations to it: "own_dept", "own_pairing", "own_village"
}

// AccessDecision is the answer and the policy rule that gave it.
type AccessDecision struct {
	Allowed bool
	Rule    string
}

// Authorizer decides AccessRequests.
type Authorizer interface {
	Decide(ctx context.Context, r AccessRequest) (AccessDecision, error)
}
