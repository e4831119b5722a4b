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
//
// Department is the account's own: its own-department rules and inbox read it, and
// only an admin sets it (from the person's department when the account is created,
// later by confirming a move). When the directory has moved the person since,
// PendingDepartment is where the directory says they are now; until an admin
// confirms it, the account may act for neither department and is barred, as a
// reviewer, from both.
type User struct {
	ID                 int64     `json:"id"`
	Username           string    `json:"username"`
	PersonID           string    `json:"person_id,omitempty"`
	VillageCode        string    `json:"village_code,omitempty"`
	Department         string    `json:"department_code,omitempty"`
	PendingDepartment  string    `json:"pending_department_code,omitempty"`
	Disabled           bool      `json:"disabled,omitempty"`
	MustChangePassword bool      `json:"must_change_password,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	Roles              []Grant   `json:"roles"`
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

// LoginAttempt is one sign-in: the name as typed, the password, and the address it
// came from (the throttles and the lock count per address).
type LoginAttempt struct {
	Username, Password, Source string
	Now                        time.Time
}

// LoginResult says how a sign-in attempt ended.
type LoginResult struct {
	User        *User
	LockedUntil time.Time // set when the name is locked for this address (now or by this failure)
	// Reason is why it failed, for the audit trail only: the caller hears the same
	// for a wrong password, an unknown name, a disabled account and a lock.
	Reason string
}

// Session is a live bearer token or browser session of an account, described
// without its secret.
type Session struct {
	Kind      string    `json:"kind"` // "bearer" or "session"
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AccountChange is one change an admin (or, for their own password, the user) makes
// to an account; the zero value changes nothing.
type AccountChange struct {
	Disabled *bool
	// Department confirms a move: it must be the person's department in the
	// directory, which becomes the account's.
	Department *string
	// PasswordHash replaces the password; MustChangePassword then says whether the
	// next sign-in may only change it (an admin's reset) or not (the owner's change).
	PasswordHash       string
	MustChangePassword bool
	// EndSessions ends every live token but KeepToken (the owner's own, when they
	// change their password). Disabling and a new password always end them.
	EndSessions bool
	KeepToken   string
	// Unlock forgets the sign-in failures counted against the name, from every address.
	Unlock bool
}

// AccountState is what the audit trail records of an account before and after a change.
type AccountState struct {
	Disabled           bool   `json:"disabled"`
	MustChangePassword bool   `json:"must_change_password"`
	Department         string `json:"department_code"`
	PendingDepartment  string `json:"pending_department_code,omitempty"`
	Sessions           int    `json:"sessions"`
	LockedAddresses    int    `json:"locked_addresses"`
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
