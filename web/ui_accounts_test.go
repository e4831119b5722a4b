package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// The users page offers an admin what the API lets them do to accounts — disable,
// enable, confirm a move of department, unlock, list and end sessions, reset a
// password — shows each account's state, and offers an auditor only the sessions; an
// account whose password an admin reset is sent to change it before any other page.
func TestUIAccounts(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("adm", "", "", g("admin", "*"))
	f.user("aud", "", "", g("auditor", "*"))
	f.user("org", "", "", g("organiser", "*"))
	f.user("lead1", "P1", "", g("dept_lead", "*"))
	f.user("bob", "", "", g("auditor", "*"))
	admin := f.login(f.srv, "adm")
	ctx := context.Background()
	if _, err := f.db.ExecContext(ctx, "UPDATE people SET department_code = 'D3' WHERE id = 'P1'"); err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, f.srv, admin, "PATCH", "/api/v1/users/org", map[string]bool{"disabled": true}); status != 200 {
		t.Fatalf("disable org: %d %s", status, body)
	}
	adm, aud := sessionCookie(t, f, "adm"), sessionCookie(t, f, "aud")
	cases := []struct {
		cookie     *http.Cookie
		path       string
		status     int
		has, lacks []string
	}{
		{adm, "/users", 200, []string{`id="reset-form"`, `id="disable-aud"`, `id="enable-org"`, `id="unlock-aud"`, `id="end-sessions-aud"`,
			`href="/users?sessions=aud"`, `id="confirm-lead1"`, `data-pending="D3"`, `name="department_code" value="D3"`}, []string{`id="disable-org"`}},
		{aud, "/users", 200, []string{`href="/users?sessions=aud"`, `data-pending="D3"`},
			[]string{`id="reset-form"`, `id="disable-aud"`, `id="unlock-aud"`, `id="end-sessions-aud"`, `id="confirm-lead1"`}},
		{adm, "/users?sessions=aud", 200, []string{`id="sessions"`, "网页"}, nil},
		{aud, "/password", 200, []string{`id="password-form"`, `data-api="/api/v1/auth/password"`}, []string{`id="must-change"`}},
	}
	for _, c := range cases {
		status, _, body := uiGet(t, f, c.cookie, c.path)
		if status != c.status {
			t.Errorf("GET %s: %d, want %d", c.path, status, c.status)
			continue
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: lacks %s", c.path, s)
			}
		}
		for _, s := range c.lacks {
			if strings.Contains(body, s) {
				t.Errorf("GET %s: shows %s", c.path, s)
			}
		}
	}

	// A reset: bob's next sign-in may only change the password, and every page says so.
	if status, body := call(t, f.srv, admin, "POST", "/api/v1/users/bob/password", map[string]string{"password": password + "-reset"}); status != 200 {
		t.Fatalf("reset: %d %s", status, body)
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/auth/login",
		strings.NewReader(`{"username":"bob","password":"`+password+`-reset","session":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var bob *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			bob = c
		}
	}
	if bob == nil {
		t.Fatalf("bob's sign-in with the temporary password: %d", resp.StatusCode)
	}
	for _, path := range []string{"/inbox", "/", "/users"} {
		if status, h, _ := uiGet(t, f, bob, path); status != http.StatusSeeOther || h.Get("Location") != "/password" {
			t.Errorf("GET %s before changing the password: %d to %q, want 303 to /password", path, status, h.Get("Location"))
		}
	}
	status, _, body := uiGet(t, f, bob, "/password")
	if status != 200 || !strings.Contains(body, `id="must-change"`) {
		t.Fatalf("the password page after a reset: %d", status)
	}
	// The page's form posts with the session's CSRF token.
	var csrf string
	if i := strings.Index(body, `name="csrf-token" content="`); i >= 0 {
		csrf, _, _ = strings.Cut(body[i+len(`name="csrf-token" content="`):], `"`)
	}
	req, _ = http.NewRequest("POST", f.srv.URL+"/api/v1/auth/password",
		strings.NewReader(`{"old_password":"`+password+`-reset","new_password":"bobs-own-password"}`))
	req.AddCookie(bob)
	req.Header.Set(web.CSRFHeader, csrf)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("change the password from the page's session: %d", resp.StatusCode)
	}
	if status, _, _ := uiGet(t, f, bob, "/inbox"); status != 200 {
		t.Errorf("the inbox once the password is changed: %d", status)
	}
}
