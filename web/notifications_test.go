package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/notify"
	"baocun/sqldb/sqldbtest"
)

// The bell and the contact routes: each reads and marks only their own
// notifications, with the unread count; contact details are one's own, or another's
// for an admin (the read audited), another's refused (403, audited); a bad email or
// a webhook to a host not allowed is 400 naming the field; every change is audited
// without the robot's key.
func TestNotificationRoutes(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		ctx := context.Background()
		f.user("admin", "", "", g("admin", "*"))
		f.user("lead", "P1", "", g("dept_lead", "县A"))
		f.user("lead_b", "P2", "", g("dept_lead", "县B"))
		now := time.Now()
		var open []baocun.Task
		for i := range 3 {
			open = append(open, baocun.Task{ID: fmt.Sprintf("1-%d", i+1), Kind: baocun.TaskNominateTeam, PairingID: 1, CycleID: 1, Role: baocun.RoleDeptLead,
				Jurisdiction: "县A", Department: "D1", Village: "V1", DueAt: now.Add(time.Hour), DueDate: "2027-02-01"})
		}
		open = append(open, baocun.Task{ID: "2-1", Kind: baocun.TaskNominateTeam, PairingID: 2, CycleID: 1, Role: baocun.RoleDeptLead,
			Jurisdiction: "县B", Department: "D2", Village: "V2", DueAt: now.Add(time.Hour), DueDate: "2027-02-01"})
		if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Open: open}); err != nil {
			t.Fatal(err)
		}
		d := &notify.Dispatcher{DB: f.db}
		if _, err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		lead, leadB, admin := f.login(f.srv, "lead"), f.login(f.srv, "lead_b"), f.login(f.srv, "admin")

		type page struct {
			Items      []baocun.Notification `json:"items"`
			NextCursor string                `json:"next_cursor"`
			Unread     int                   `json:"unread"`
		}
		list := func(token, query string) page {
			t.Helper()
			status, body := call(t, f.srv, token, "GET", "/api/v1/notifications"+query, nil)
			if status != 200 {
				t.Fatalf("GET /notifications%s: %d %s", query, status, body)
			}
			var p page
			json.Unmarshal([]byte(body), &p)
			return p
		}
		p := list(lead, "?limit=2")
		if len(p.Items) != 2 || p.Unread != 3 || p.NextCursor == "" || p.Items[0].TaskID != "1-3" || !strings.Contains(p.Items[0].Title, "New task") {
			t.Fatalf("lead's first page: %+v", p)
		}
		if rest := list(lead, "?limit=2&cursor="+p.NextCursor); len(rest.Items) != 1 || rest.Items[0].TaskID != "1-1" || rest.NextCursor != "" {
			t.Fatalf("lead's second page: %+v", rest)
		}
		pb := list(leadB, "")
		if len(pb.Items) != 1 || pb.Items[0].TaskID != "2-1" || pb.Unread != 1 {
			t.Fatalf("lead_b's: %+v", pb)
		}

		// Marks: another's id is passed over; one's own counts.
		mark := func(token string, body any) (int, string) {
			return call(t, f.srv, token, "POST", "/api/v1/notifications/read", body)
		}
		if status, body := mark(lead, map[string]any{"ids": []int64{pb.Items[0].ID}}); status != 200 || !strings.Contains(body, `"marked":0`) || !strings.Contains(body, `"unread":3`) {
			t.Fatalf("marking another's: %d %s", status, body)
		}
		if list(leadB, "").Unread != 1 {
			t.Fatal("lead marked lead_b's notification read")
		}
		if status, body := mark(lead, map[string]any{"ids": []int64{p.Items[0].ID}}); status != 200 || !strings.Contains(body, `"marked":1,"unread":2`) {
			t.Fatalf("marking one's own: %d %s", status, body)
		}
		if u := list(lead, "?unread=1"); len(u.Items) != 2 || u.Unread != 2 {
			t.Fatalf("unread after a mark: %+v", u)
		}
		many := make([]int64, 501)
		for _, bad := range []any{map[string]any{}, map[string]any{"ids": many}, map[string]any{"ids": []int64{1}, "all": true}, `{"all":true,"x":1}`} {
			if status, body := mark(lead, bad); status != 400 {
				t.Errorf("mark %v: %d %s", bad, status, body)
			}
		}
		if status, body := mark(lead, map[string]bool{"all": true}); status != 200 || !strings.Contains(body, `"marked":2,"unread":0`) {
			t.Fatalf("mark all: %d %s", status, body)
		}
		if status, _ := call(t, f.srv, lead, "GET", "/api/v1/notifications?unread=maybe", nil); status != 400 {
			t.Errorf("unread=maybe: %d", status)
		}

		// Contact details.
		put := func(token, user string, body any) (int, string) {
			return call(t, f.srv, token, "PUT", "/api/v1/users/"+user+"/contact", body)
		}
		for field, body := range map[string]map[string]any{
			"email":          {"email": "not an address"},
			"webhook_url":    {"webhook_url": "https://evil.example/hook", "webhook_enabled": true},
			"webhook_format": {"webhook_format": "telegram"},
			"mute[0]":        {"mute": []string{"everything"}},
		} {
			status, resp := put(lead, "lead", body)
			if status != 400 || !strings.Contains(resp, `"`+field+`"`) {
				t.Errorf("%s: %d %s", field, status, resp)
			}
		}
		// SSRF: internal addresses are no webhook, whatever the scheme.
		for _, u := range []string{"http://169.254.169.254/latest/meta-data", "https://127.0.0.1:7233/", "http://oapi.dingtalk.com/robot/send", "https://user:pw@oapi.dingtalk.com/x", "ftp://oapi.dingtalk.com/"} {
			if status, resp := put(lead, "lead", map[string]any{"webhook_url": u}); status != 400 || !strings.Contains(resp, `"webhook_url"`) {
				t.Errorf("webhook %s: %d %s", u, status, resp)
			}
		}
		hook := "https://oapi.dingtalk.com/robot/send?access_token=robot-secret"
		status, body := put(lead, "lead", map[string]any{"email": " Lead@Example.gov.cn ", "email_enabled": true, "webhook_url": hook,
			"webhook_format": "dingtalk", "webhook_enabled": true, "mute": []string{"publicity.begun", "publicity.begun"}})
		var c baocun.Contact
		json.Unmarshal([]byte(body), &c)
		if status != 200 || c.Email != "Lead@Example.gov.cn" || !c.EmailEnabled || c.WebhookURL != hook || len(c.Mute) != 1 || c.Username != "lead" {
			t.Fatalf("put own contact: %d %s", status, body)
		}
		if status, body := call(t, f.srv, lead, "GET", "/api/v1/users/lead/contact", nil); status != 200 || !strings.Contains(body, "robot-secret") {
			t.Fatalf("own contact: %d %s", status, body)
		}
		// Another's: refused and audited, for reading and for changing.
		if status, _ := call(t, f.srv, leadB, "GET", "/api/v1/users/lead/contact", nil); status != 403 {
			t.Fatalf("lead_b read lead's contact: %d", status)
		}
		if status, _ := put(leadB, "lead", map[string]any{"email": "attacker@evil.example", "email_enabled": true}); status != 403 {
			t.Fatalf("lead_b changed lead's contact: %d", status)
		}
		// An admin may: the read is audited, the change too.
		if status, body := call(t, f.srv, admin, "GET", "/api/v1/users/lead/contact", nil); status != 200 || !strings.Contains(body, "Lead@Example.gov.cn") {
			t.Fatalf("admin read: %d %s", status, body)
		}
		if status, _ := call(t, f.srv, admin, "GET", "/api/v1/users/nobody/contact", nil); status != 404 {
			t.Fatalf("no such account: %d", status)
		}
		if status, body := put(admin, "lead", map[string]any{"email": "lead@example.gov.cn", "email_enabled": true, "digest": true}); status != 200 || !strings.Contains(body, `"digest":true`) {
			t.Fatalf("admin put: %d %s", status, body)
		}
		check := func(action, decision, actor string, want int) []baocun.AuditEntry {
			t.Helper()
			es, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: action, Decision: decision, Actor: actor, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != want {
				t.Fatalf("%s %s by %s: %d entries, want %d: %+v", action, decision, actor, len(es), want, es)
			}
			return es
		}
		for _, e := range append(check("contact.read", "deny", "lead_b", 1), check("contact.update", "deny", "lead_b", 1)...) {
			if e.Status != 403 || e.Resource != "users/lead/contact" || !strings.Contains(e.Rule, "user.update") {
				t.Errorf("denial: %+v", e)
			}
		}
		reads := check("contact.read", "allow", "admin", 2)
		if reads[0].Status != 404 && reads[1].Status != 404 {
			t.Errorf("the read of no account is not recorded with its 404: %+v", reads)
		}
		check("contact.read", "allow", "lead", 0)              // one's own is not personal data read
		own := check("contact.update", "allow", "lead", 4+5+1) // refused (400) and the one that stood
		for _, e := range own {
			if strings.Contains(e.Summary, "robot-secret") {
				t.Fatalf("the robot's key is in the trail: %s", e.Summary)
			}
		}
		if !strings.Contains(own[0].Summary, `"https://oapi.dingtalk.com/…#`) && !strings.Contains(own[len(own)-1].Summary, `"https://oapi.dingtalk.com/…#`) {
			t.Errorf("the change's summary lacks the webhook's host and hash: %+v", own)
		}
		for _, e := range own {
			if strings.Contains(e.Summary, "/robot/send") {
				t.Fatalf("the robot's path is in the trail: %s", e.Summary)
			}
		}
		check("contact.update", "allow", "admin", 1)
	})
}
