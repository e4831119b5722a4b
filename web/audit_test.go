package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// An auditor answers "who did this, when, and was it allowed" through the API: every
// 2xx change has its entry (with rule and status), filters and export work, and
// /audit/verify catches an edit of the stored trail.
func TestAuditAPI(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.user("admin", "", "", g("admin", "*"))
		f.user("aud", "", "", g("auditor", "*"))
		admin, aud := f.login(f.srv, "admin"), f.login(f.srv, "aud")
		if s, b := call(t, f.srv, admin, "POST", "/api/v1/users", map[string]any{"username": "wang", "password": password, "person_id": "P1",
			"roles": []baocun.Grant{g("reviewer", "县A")}}); s != 201 {
			t.Fatalf("create user: %d %s", s, b)
		}
		if s, _ := call(t, f.srv, aud, "POST", "/api/v1/users", map[string]any{"username": "x1", "password": password}); s != 403 {
			t.Fatalf("auditor created a user: %d", s)
		}

		s, b := call(t, f.srv, aud, "GET", "/api/v1/audit?action=user.create", nil)
		var page struct {
			Items []baocun.AuditEntry `json:"items"`
		}
		json.Unmarshal([]byte(b), &page)
		if s != 200 || len(page.Items) != 2 {
			t.Fatalf("query: %d, %d items: %s", s, len(page.Items), b)
		}
		denied, allowed := page.Items[0], page.Items[1] // newest first
		if allowed.Actor != "admin" || allowed.Decision != "allow" || allowed.Status != 201 || allowed.Role != "admin" ||
			allowed.Rule != "p, admin, user, create, any, allow" || strings.Contains(allowed.Summary, password) || !strings.Contains(allowed.Summary, "wang") {
			t.Fatalf("allowed entry %+v", allowed)
		}
		if denied.Actor != "aud" || denied.Decision != "deny" || denied.Status != 403 || denied.Rule == "" {
			t.Fatalf("denied entry %+v", denied)
		}

		// Reading the trail is itself on the trail.
		_, b = call(t, f.srv, aud, "GET", "/api/v1/audit?action=audit.read", nil)
		json.Unmarshal([]byte(b), &page)
		if len(page.Items) == 0 || page.Items[len(page.Items)-1].Actor != "aud" || page.Items[len(page.Items)-1].Decision != "allow" {
			t.Fatalf("the auditor's own reads are not audited: %s", b)
		}

		s, csv := call(t, f.srv, aud, "GET", "/api/v1/audit/export?format=csv&actor=admin", nil)
		if s != 200 || !strings.HasPrefix(csv, "\uFEFF序号 seq,") || !strings.Contains(csv, "user.create") || strings.Contains(csv, ",aud,") {
			t.Fatalf("csv export: %d %.300s", s, csv)
		}
		if s, b := call(t, f.srv, aud, "GET", "/api/v1/audit?since=yesterday", nil); s != 400 || !strings.Contains(b, "since") {
			t.Fatalf("bad since: %d %s", s, b)
		}

		if s, b := call(t, f.srv, aud, "GET", "/api/v1/audit/verify", nil); s != 200 || !strings.Contains(b, `"ok":true`) {
			t.Fatalf("verify: %d %s", s, b)
		}
		if _, err := f.db.ExecContext(context.Background(), "UPDATE audit_entries SET actor = 'someone else' WHERE seq = ?", allowed.Seq); err != nil {
			t.Fatal(err)
		}
		s, b = call(t, f.srv, aud, "GET", "/api/v1/audit/verify", nil)
		var v baocun.AuditVerification
		json.Unmarshal([]byte(b), &v)
		if s != 200 || v.OK || v.FirstBadSeq == nil || *v.FirstBadSeq != allowed.Seq {
			t.Fatalf("verify after tampering: %d %s, want first_bad_seq %d", s, b, allowed.Seq)
		}
		// Put it back, so the fixture's final chain check holds.
		f.db.ExecContext(context.Background(), "UPDATE audit_entries SET actor = 'admin' WHERE seq = ?", allowed.Seq)
	})
}
