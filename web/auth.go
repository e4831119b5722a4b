package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// TokenTTL is how long a bearer token lives.
const TokenTTL = 12 * time.Hour

// Context keys.
const (
	ctxUser    = "baocun.user"
	ctxToken   = "baocun.token"
	ctxAudit   = "baocun.audit"   // *baocun.AuditEntry drafted by authorize
	ctxAudited = "baocun.audited" // set once the handler's entry is written
	ctxReqID   = "baocun.request_id"
	ctxKind    = "baocun.token_kind"
	ctxAuthErr = "baocun.auth_error" // a credential authenticate refused
)

// requestID gives every request an ID, echoed in X-Request-ID and in its audit entry.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		buf := make([]byte, 8)
		rand.Read(buf)
		id := hex.EncodeToString(buf)
		c.Set(ctxReqID, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// Token kinds: a bearer token for API clients, a session cookie for the browser.
const (
	kindBearer  = "bearer"
	kindSession = "session"
	// SessionCookie holds the browser's session token: HttpOnly, so page scripts
	// never see it, and SameSite=Strict.
	SessionCookie = "baocun_session"
	// CSRFHeader must carry the session's CSRF token on every cookie-authenticated
	// request that changes something.
	CSRFHeader = "X-CSRF-Token"
)

// csrfToken is derived from the session secret: only a page that was given it at
// sign-in knows it, and the server need not store it.
func csrfToken(session string) string {
	sum := sha256.Sum256([]byte("baocun-csrf:" + session))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authenticate resolves a bearer token or a session cookie to its user, when there
// is one. It refuses nothing itself: a bad credential is remembered (ctxAuthErr) and
// the route's gate refuses it and audits the refusal, while public routes such as
// sign-in ignore it — a stale cookie must never stop anyone signing in again.
func authenticate(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		kind, token := kindBearer, ""
		if h := c.GetHeader("Authorization"); h != "" {
			t, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || strings.TrimSpace(t) == "" || len(t) > 256 {
				c.Set(ctxAuthErr, &baocun.Error{Code: baocun.EUNAUTHORIZED, Op: "bad Authorization header",
					Message: "Authorization 头须为 Bearer 令牌 The Authorization header must be \"Bearer <token>\"."})
				c.Next()
				return
			}
			token = t
		} else if t, err := c.Cookie(SessionCookie); err == nil && t != "" {
			kind, token = kindSession, t
		}
		if token == "" {
			c.Next()
			return
		}
		u, err := store.UserByToken(c.Request.Context(), token, kind, time.Now())
		if err != nil {
			c.Set(ctxAuthErr, err)
			c.Next()
			return
		}
		c.Set(ctxUser, u)
		c.Set(ctxToken, token)
		c.Set(ctxKind, kind)
		if kind == kindSession && c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead &&
			subtle.ConstantTimeCompare([]byte(c.GetHeader(CSRFHeader)), []byte(csrfToken(token))) != 1 {
			c.Set(ctxAuthErr, &baocun.Error{Code: baocun.EFORBIDDEN, Op: "csrf",
				Message: "缺少或错误的 CSRF 令牌 Missing or wrong CSRF token."})
		}
		c.Next()
	}
}

func currentUser(c *gin.Context) *baocun.User {
	u, _ := c.Get(ctxUser)
	user, _ := u.(*baocun.User)
	return user
}

// baseEntry is an audit entry with what every request knows about itself.
func baseEntry(c *gin.Context, action string) *baocun.AuditEntry {
	e := &baocun.AuditEntry{
		Actor:     "anonymous",
		Action:    action,
		RequestID: c.GetString(ctxReqID),
		SourceIP:  c.ClientIP(),
		UserAgent: c.Request.UserAgent(),
	}
	if u := currentUser(c); u != nil {
		e.Actor = u.Username
	}
	return e
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Session asks for a browser session cookie (and a CSRF token) instead of a
	// bearer token.
	Session bool `json:"session"`
}

type loginResponse struct {
	Token     string       `json:"token,omitempty"`      // bearer sign-in
	CSRFToken string       `json:"csrf_token,omitempty"` // session sign-in: send as X-CSRF-Token
	ExpiresAt time.Time    `json:"expires_at"`
	User      *baocun.User `json:"user"`
	// MustChangePassword: an admin reset the password; the token is good only for
	// POST /auth/password (and /auth/me, /auth/logout) until it is changed.
	MustChangePassword bool `json:"must_change_password,omitempty"`
}

// handleLogin checks a username and password and returns a bearer token. Every
// attempt whose password was checked, success or failure, is audited; one refused
// before (shed in memory, throttled, the slots busy) is audited a sample per network
// (auditRefusedSignIn). Repeated failures lock the name for the network they came
// from, for a growing while.
func handleLogin(d Deps) gin.HandlerFunc {
	store, audit := d.Store, d.Audit
	return func(c *gin.Context) {
		var req loginRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		fields := map[string]string{}
		if req.Username == "" {
			fields["username"] = "required"
		}
		if req.Password == "" {
			fields["password"] = "required"
		}
		if len(fields) > 0 {
			Error(c, &baocun.Error{Code: baocun.EINVALID, Message: "请填写用户名和密码 Username and password are required.", Fields: fields})
			return
		}
		// A name no account can have is refused before it is counted, stored or
		// audited. The pattern says nothing of which names exist: a name that fits it
		// and belongs to nobody is checked like any other, below.
		if err := baocun.ValidateUsername(req.Username); err != nil {
			Error(c, err)
			return
		}
		e := baseEntry(c, "auth.login")
		e.Actor = req.Username
		e.Resource = "users/" + req.Username
		res, err := signIn(c, d, req.Username, req.Password)
		if err != nil {
			if aerr := auditRefusedSignIn(c, d, e, res, err); aerr != nil {
				Error(c, aerr)
				return
			}
			Error(c, err)
			return
		}
		kind := kindBearer
		if req.Session {
			kind = kindSession
		}
		token, expires, ended, err := store.CreateToken(c.Request.Context(), res.User.ID, res.Epoch, kind, TokenTTL)
		if err != nil {
			// The password was changed, reset or the account disabled while it was
			// checked: what was checked is no longer the account's credential.
			if baocun.ErrorCode(err) == baocun.EUNAUTHORIZED {
				res.Reason = "credential changed during sign-in"
				if aerr := auditRefusedSignIn(c, d, e, res, err); aerr != nil {
					Error(c, aerr)
					return
				}
			}
			Error(c, err)
			return
		}
		e.Status = http.StatusOK
		out := map[string]any{"result": "success", "must_change_password": res.User.MustChangePassword}
		if ended > 0 {
			out["oldest_sessions_ended"] = ended
		}
		e.Summary = summary(out)
		if err := audit.Append(c.Request.Context(), e); err != nil {
			Error(c, err)
			return
		}
		setDeviceCookie(c, res.Device)
		if req.Session {
			c.SetSameSite(http.SameSiteStrictMode)
			c.SetCookie(SessionCookie, token, int(TokenTTL.Seconds()), "/", "", secure(c), true)
			c.JSON(http.StatusOK, loginResponse{CSRFToken: csrfToken(token), ExpiresAt: expires.UTC(), User: res.User,
				MustChangePassword: res.User.MustChangePassword})
			return
		}
		c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: expires.UTC(), User: res.User, MustChangePassword: res.User.MustChangePassword})
	}
}

// auditRefusedSignIn writes the refusal of a sign-in (or of the current password of
// a password change) to the trail. An anonymous refusal that checked no password
// costs its sender nothing, so those are sampled per network like anonymous
// denials: a client polling a throttle must not write an entry a poll. A signed-in
// user's refusals (a password change) are all written: they have an actor, and
// anonymous noise from the same network must not use up their sample.
func auditRefusedSignIn(c *gin.Context, d Deps, e *baocun.AuditEntry, res baocun.LoginResult, err error) error {
	e.Status = statusOf[baocun.ErrorCode(err)]
	e.Summary = summary(map[string]any{"result": "failure", "reason": loginReason(res)})
	if currentUser(c) == nil && !passwordChecked(res, err) && !d.sampled(c, e) {
		return nil
	}
	return d.Audit.Append(c.Request.Context(), e)
}

// passwordChecked reports whether a refused sign-in got as far as its password.
func passwordChecked(res baocun.LoginResult, err error) bool {
	return baocun.ErrorCode(err) != baocun.ETOOMANY && res.Reason != shed
}

// loginReason is what the trail says of a refused sign-in; the client hears the same
// for a wrong password, an unknown name, a disabled account and a lock.
func loginReason(res baocun.LoginResult) string {
	r := res.Reason
	if r == "" {
		r = "error"
	}
	if res.LockedUntil.IsZero() {
		return r
	}
	locked := "locked until " + res.LockedUntil.UTC().Format(time.RFC3339)
	if r == "locked" {
		return locked
	}
	return r + "; " + locked
}

// handleLogout revokes the caller's token, and says so in the audit trail.
func handleLogout(store Store, audit AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := store.RevokeToken(c.Request.Context(), c.GetString(ctxToken)); err != nil {
			Error(c, err)
			return
		}
		e := baseEntry(c, "auth.logout")
		e.Resource, e.Status = "users/"+e.Actor, http.StatusNoContent
		if err := audit.Append(c.Request.Context(), e); err != nil {
			Error(c, err)
			return
		}
		c.SetCookie(SessionCookie, "", -1, "/", "", secure(c), true)
		c.Status(http.StatusNoContent)
	}
}

// me is the signed-in user and, for a browser session, its CSRF token: a page that
// was reloaded has lost the one sign-in returned.
type me struct {
	*baocun.User
	CSRFToken string `json:"csrf_token,omitempty"`
}

// handleMe returns the signed-in user with their roles.
func handleMe() gin.HandlerFunc {
	return func(c *gin.Context) {
		out := me{User: currentUser(c)}
		if c.GetString(ctxKind) == kindSession {
			out.CSRFToken = csrfToken(c.GetString(ctxToken))
		}
		c.JSON(http.StatusOK, out)
	}
}

// summary renders a payload summary for the audit trail.
func summary(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// withField adds one field to a summary that is a JSON object (or empty).
func withField(s, key string, v any) string {
	m := map[string]any{}
	if s != "" && json.Unmarshal([]byte(s), &m) != nil {
		m = map[string]any{"summary": s}
	}
	m[key] = v
	return summary(m)
}
