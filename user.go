package baocun

import (
	"context"
	"net/netip"
	"regexp"
	"time"
)

// Role is what a user may do, held within a jurisdiction (SPEC.md "Roles").
type Role string

// Roles of SPEC.md "Roles". A role is held within a jurisdiction.
const (
	RoleAdmin      Role = "admin"
	RoleOrganiser  Role = "organiser"
	RoleReviewer   Role = "reviewer"
	RoleDeptLead   Role = "dept_lead"
	RoleTeamMember Role = "team_member"
	RoleVillage    Role = "village"
	RoleAuditor    Role = "auditor"
)

// Roles lists every role, in the order SPEC.md gives them.
var Roles = []Role{RoleAdmin, RoleOrganiser, RoleReviewer, RoleDeptLead, RoleTeamMember, RoleVillage, RoleAuditor}

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
	Role         Role   `json:"role"`
	Jurisdiction string `json:"jurisdiction"`
}

// HasRole reports whether u holds role in any jurisdiction.
func (u *User) HasRole(role Role) bool {
	for _, g := range u.Roles {
		if g.Role == role {
			return true
		}
	}
	return false
}

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$`)

// ValidateUsername checks a name against the one pattern every account's name
// matches. Sign-in refuses any other name before it is counted, stored or audited:
// no account can have it, and an unbounded name would be written three times.
func ValidateUsername(name string) error {
	if !usernamePattern.MatchString(name) {
		return &Error{Code: EINVALID, Message: "用户名须为 2–64 个字母、数字或 . _ @ - Username must be 2–64 letters, digits or . _ @ -",
			Fields: map[string]string{"username": "invalid"}}
	}
	return nil
}

// ClientNetwork is what every per-address limit counts one client by: an IPv4
// address, or the /64 of an IPv6 address. One host (or one customer's LAN) holds a
// whole /64 and may use a fresh address of it for every request, so counting IPv6
// addresses one by one would give it 2^64 budgets. An IPv4-mapped IPv6 address is
// its IPv4 address; anything that is no address is counted as itself.
func ClientNetwork(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
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
// came from (the throttles and the lock count per ClientNetwork of it).
type LoginAttempt struct {
	Username, Password, Source string
	// Device is the known-device credential the client holds, if any: a sign-in that
	// succeeded on this device before, which spares it the account's throttle of
	// unfamiliar addresses.
	Device string
	Now    time.Time
}

// KnownDeviceFor is how long a device stays known after its last successful sign-in.
const KnownDeviceFor = 90 * 24 * time.Hour

// LoginResult says how a sign-in attempt ended.
type LoginResult struct {
	User *User
	// Epoch is the account's credential epoch the password was checked against: a
	// token is issued only while it holds (a new password, disabling or ending the
	// sessions moves it).
	Epoch int64
	// Device is a fresh known-device credential for the client to keep.
	Device      string
	LockedUntil time.Time // set when the name is locked for this address (now or by this failure)
	// Reason is why it failed, for the audit trail only: the caller hears the same
	// for a wrong password, an unknown name, a disabled account and a lock.
	Reason string
}

// Session is a live bearer token or browser session of an account, described
// without its secret.
type Session struct {
	// ID names the session without revealing it: the start of its token's SHA-256.
	ID        string    `json:"id"`
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
	// IfEpoch, when set, makes the change only while the credential epoch is still
	// this one: the owner's new password stands only if nothing (an admin's reset)
	// changed the credential since the old one was checked.
	IfEpoch *int64
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
