package apiclient

import (
	"context"
	"net/url"

	"baocun"
)

// Sign-in, one's own account, the accounts an admin keeps and the role grants.

// SignIn returns a client signed in as username, with a bearer token. A sign-in
// throttled (429) is tried again after its Retry-After, a few times.
func (c *Client) SignIn(ctx context.Context, username, password string) (*Client, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, "POST", "api/v1/auth/login", map[string]string{"username": username, "password": password}, &out); err != nil {
		return nil, err
	}
	return &Client{base: c.base, hc: c.hc, user: username, token: out.Token}, nil
}

// SignOut ends the client's session: its token is refused from then on.
func (c *Client) SignOut(ctx context.Context) error {
	return c.do(ctx, "POST", "api/v1/auth/logout", nil, nil)
}

// Me is the signed-in user, with their roles.
func (c *Client) Me(ctx context.Context) (*baocun.User, error) {
	return get[baocun.User](ctx, c, "api/v1/auth/me")
}

// ChangePassword changes the signed-in user's own password (the only call an
// account whose password an admin reset may make, besides Me and SignOut). The
// user's other sessions end; this client's goes on.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	return c.do(ctx, "POST", "api/v1/auth/password", map[string]string{"old_password": oldPassword, "new_password": newPassword}, nil)
}

// Account is a new account (POST /users): its password, the person or village it
// is, and the roles it holds.
type Account struct {
	Username    string         `json:"username"`
	Password    string         `json:"password"`
	PersonID    string         `json:"person_id,omitempty"`    // the directory's person (officials)
	VillageCode string         `json:"village_code,omitempty"` // the village (a village's account)
	Roles       []baocun.Grant `json:"roles"`
}

// CreateUser creates an account (admin) and returns it as stored.
func (c *Client) CreateUser(ctx context.Context, a Account) (*baocun.User, error) {
	var u baocun.User
	if err := c.do(ctx, "POST", "api/v1/users", a, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Users lists every account, every page.
func (c *Client) Users(ctx context.Context) ([]baocun.User, error) {
	return list[baocun.User](ctx, c, "api/v1/users", withLimit(nil, 500))
}

// User is one account.
func (c *Client) User(ctx context.Context, username string) (*baocun.User, error) {
	return get[baocun.User](ctx, c, "api/v1/users/"+url.PathEscape(username))
}

// UserChange is a change an admin makes to an account (PATCH /users/{username});
// a nil field is left as it is.
type UserChange struct {
	// Disabled: a disabled account cannot sign in and its sessions end at once.
	Disabled *bool `json:"disabled,omitempty"`
	// DepartmentCode confirms a move the directory made: it must be the person's
	// department there now, and becomes the account's (its scope).
	DepartmentCode *string `json:"department_code,omitempty"`
}

// UpdateUser disables or enables an account, or confirms its move to another
// department, and returns it as changed.
func (c *Client) UpdateUser(ctx context.Context, username string, ch UserChange) (*baocun.User, error) {
	var u baocun.User
	if err := c.do(ctx, "PATCH", "api/v1/users/"+url.PathEscape(username), ch, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ResetPassword gives an account a new password (admin); its next sign-in must
// change it, and the sign-in failures that locked it are forgotten.
func (c *Client) ResetPassword(ctx context.Context, username, password string) (*baocun.User, error) {
	var u baocun.User
	if err := c.do(ctx, "POST", "api/v1/users/"+url.PathEscape(username)+"/password", map[string]string{"password": password}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Unlock forgets the sign-in failures that lock an account.
func (c *Client) Unlock(ctx context.Context, username string) (*baocun.User, error) {
	var u baocun.User
	if err := c.do(ctx, "POST", "api/v1/users/"+url.PathEscape(username)+"/unlock", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Sessions lists an account's live sessions, newest first (never their tokens).
func (c *Client) Sessions(ctx context.Context, username string) ([]baocun.Session, error) {
	return list[baocun.Session](ctx, c, "api/v1/users/"+url.PathEscape(username)+"/sessions", withLimit(nil, 500))
}

// EndSessions ends every session of an account and returns how many there were.
func (c *Client) EndSessions(ctx context.Context, username string) (int, error) {
	var out struct {
		Ended int `json:"ended"`
	}
	err := c.do(ctx, "DELETE", "api/v1/users/"+url.PathEscape(username)+"/sessions", nil, &out)
	return out.Ended, err
}

// Policy is the authorization policy at one version: the roles' permissions and
// the role grants.
type Policy struct {
	Version int64        `json:"version"` // changes with every change of the policy
	Rules   []PolicyRule `json:"items"`
}

// PolicyRule is a p rule (role, object, action, scope, effect) or a g rule
// (username, role, jurisdiction), as Casbin writes them.
type PolicyRule struct {
	Type   string   `json:"type"` // "p" or "g"
	Values []string `json:"values"`
}

// Policy is every rule of the policy (it is small: one page).
func (c *Client) Policy(ctx context.Context) (*Policy, error) {
	return get[Policy](ctx, c, "api/v1/policy")
}

// Grant gives username the role g in g's jurisdiction.
func (c *Client) Grant(ctx context.Context, username string, g baocun.Grant) error {
	return c.do(ctx, "POST", "api/v1/policy/grants", grantRequest(username, g), nil)
}

// Revoke takes the role g in g's jurisdiction back from username.
func (c *Client) Revoke(ctx context.Context, username string, g baocun.Grant) error {
	return c.do(ctx, "DELETE", "api/v1/policy/grants", grantRequest(username, g), nil)
}

func grantRequest(username string, g baocun.Grant) map[string]string {
	return map[string]string{"username": username, "role": string(g.Role), "jurisdiction": g.Jurisdiction}
}
