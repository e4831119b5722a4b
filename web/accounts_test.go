package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// The account routes as an admin uses them: sessions listed without their secrets
// and ended together, changes audited with the account before and after, bad input
// refused with nothing changed; and the owner's own password change.
func TestAccountLifecycleAPI(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("admin", "", "", g("admin", "*"))
	f.user("alice", "", "", g("auditor", "*"))
	admin := f.login(f.srv, "admin")
	alice1, alice2 := f.login(f.srv, "alice"), f.login(f.srv, "alice")
	ctx := context.Background()

	status, body := call(t, f.srv, admin, "GET", "/api/v1/users/alice/sessions", nil)
	var list struct{ Items []baocun.Session }
	json.Unmarshal([]byte(body), &list)
	if status != 200 || len(list.Items) != 2 || list.Items[0].Kind != "bearer" || list.Items[0].ExpiresAt.IsZero() {
		t.Fatalf("sessions: %d %s", status, body)
	}
	for _, secret := range []string{alice1, alice2, "hash"} {
		if strings.Contains(body, secret) {
			t.Fatalf("the sessions list shows %q: %s", secret, body)
		}
	}
	// A page at a time: ?limit= and the next_cursor of each page.
	var paged []string
	for cursor := ""; ; {
		status, body := call(t, f.srv, admin, "GET", "/api/v1/users/alice/sessions?limit=1&cursor="+url.QueryEscape(cursor), nil)
		var p struct {
			Items      []baocun.Session
			NextCursor string `json:"next_cursor"`
		}
		json.Unmarshal([]byte(body), &p)
		if status != 200 || len(p.Items) != 1 {
			t.Fatalf("sessions page after %q: %d %s", cursor, status, body)
		}
		paged = append(paged, p.Items[0].ID)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(paged) != 2 || paged[0] != list.Items[0].ID || paged[1] != list.Items[1].ID || paged[0] == paged[1] {
		t.Fatalf("sessions a page at a time: %v, all at once: %+v", paged, list.Items)
	}
	for _, q := range []string{"?cursor=x", "?limit=0", "?limit=501"} {
		if status, body := call(t, f.srv, admin, "GET", "/api/v1/users/alice/sessions"+q, nil); status != 400 {
			t.Fatalf("sessions%s: %d %s", q, status, body)
		}
	}

	before := f.state(t)
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"nothing to change", "PATCH", "/api/v1/users/alice", map[string]any{}, 400, "Nothing to change"},
		{"an unknown field", "PATCH", "/api/v1/users/alice", map[string]any{"roles": []string{}}, 400, "unknown field"},
		{"no such user", "PATCH", "/api/v1/users/ghost", map[string]bool{"disabled": true}, 404, "No such user"},
		{"a department for no person", "PATCH", "/api/v1/users/alice", map[string]string{"department_code": "D1"}, 400, "department_code"},
		{"a short password", "POST", "/api/v1/users/alice/password", map[string]string{"password": "short"}, 400, "password"},
		{"reset no such user", "POST", "/api/v1/users/ghost/password", map[string]string{"password": "long-enough-password"}, 404, "No such user"},
		{"unlock no such user", "POST", "/api/v1/users/ghost/unlock", nil, 404, "No such user"},
		{"sessions of no such user", "GET", "/api/v1/users/ghost/sessions", nil, 404, "No such user"},
		{"change with a wrong password", "POST", "/api/v1/auth/password", map[string]string{"old_password": "not-my-password", "new_password": "long-enough-password"}, 400, "old_password"},
		{"change to a short one", "POST", "/api/v1/auth/password", map[string]string{"old_password": password, "new_password": "short"}, 400, "password"},
	} {
		token := admin
		if c.path == "/api/v1/auth/password" {
			token = alice1
		}
		if status, body := call(t, f.srv, token, c.method, c.path, c.body); status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, status, body, c.status, c.want)
		}
	}
	if f.state(t) != before {
		t.Fatal("refused account changes changed the state")
	}
	entries, _, _ := f.audit.Query(ctx, baocun.AuditFilter{Action: "user.password_change"})
	if len(entries) != 1 || !strings.Contains(entries[0].Summary, "wrong username or password") || entries[0].Status != 400 {
		t.Fatalf("the wrong current password audited: %+v", entries)
	}

	status, body = call(t, f.srv, admin, "DELETE", "/api/v1/users/alice/sessions", nil)
	if status != 200 || body != `{"ended":2}` {
		t.Fatalf("end sessions: %d %s", status, body)
	}
	for _, tok := range []string{alice1, alice2} {
		if status, _ := call(t, f.srv, tok, "GET", "/api/v1/auth/me", nil); status != 401 {
			t.Fatalf("an ended session: %d", status)
		}
	}
	entries, _, _ = f.audit.Query(ctx, baocun.AuditFilter{Action: "user.update", Limit: 1})
	if len(entries) != 1 || entries[0].Actor != "admin" || entries[0].Resource != "users/alice" || entries[0].Rule == "" ||
		!strings.Contains(entries[0].Summary, `"changes":["sessions_ended"]`) || !strings.Contains(entries[0].Summary, `"before":{"disabled":false,"must_change_password":false,"department_code":"","sessions":2`) ||
		!strings.Contains(entries[0].Summary, `"after":{"disabled":false,"must_change_password":false,"department_code":"","sessions":0`) {
		t.Fatalf("ending sessions audited as %+v", entries)
	}

	// The owner's change ends their other sessions and keeps the one they use.
	mine, other := f.login(f.srv, "alice"), f.login(f.srv, "alice")
	if status, body := call(t, f.srv, mine, "POST", "/api/v1/auth/password", map[string]string{"old_password": password, "new_password": "alices-new-password"}); status != 204 {
		t.Fatalf("change: %d %s", status, body)
	}
	if status, _ := call(t, f.srv, mine, "GET", "/api/v1/auth/me", nil); status != 200 {
		t.Fatalf("the session the password was changed from: %d", status)
	}
	if status, _ := call(t, f.srv, other, "GET", "/api/v1/auth/me", nil); status != 401 {
		t.Fatalf("another session after the change: %d", status)
	}
	entries, _, _ = f.audit.Query(ctx, baocun.AuditFilter{Action: "user.password_change", Limit: 1})
	if len(entries) != 1 || entries[0].Status != 204 || !strings.Contains(entries[0].Summary, `"changes":["password_changed","sessions_ended"]`) {
		t.Fatalf("the change audited as %+v", entries)
	}
}
