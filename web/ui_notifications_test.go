package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/notify"
	"baocun/sqldb/sqldbtest"
)

// The bell in every page's header counts the unread notifications and leads to
// them; the notifications page lists them (the subject escaped) with how their
// deliveries went, and holds the user's own contact form.
func TestUINotifications(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	f.user("lead1", "P1", "", g("dept_lead", "县A"))
	cookie := sessionCookie(t, f, "lead1")
	if status, _, body := uiGet(t, f, cookie, "/inbox"); status != 200 || !strings.Contains(body, `id="bell"`) || strings.Contains(body, `id="bell-count"`) {
		t.Fatalf("no notifications: %d, bell without a count expected", status)
	}
	if _, err := f.db.PutContact(ctx, baocun.Contact{Username: "lead1", Email: "lead1@example.gov.cn", EmailEnabled: true,
		WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=t", WebhookFormat: baocun.WebhookDingTalk, Mute: []string{baocun.NotifyPublicity}}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{{ID: "1-1", Kind: baocun.TaskNominateTeam, PairingID: 1, CycleID: 1,
		Role: baocun.RoleDeptLead, Jurisdiction: "县A", Department: "D1", Village: "V1", Subject: `<script>alert(1)</script>`, DueAt: now.Add(time.Hour), DueDate: "2027-02-01"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&notify.Dispatcher{DB: f.db}).Tick(ctx); err != nil {
		t.Fatal(err)
	}
	status, _, body := uiGet(t, f, cookie, "/inbox")
	if status != 200 || !strings.Contains(body, `<span class="count" id="bell-count">1</span>`) || !strings.Contains(body, `href="/notifications"`) {
		t.Fatalf("the bell: %d\n%s", status, body)
	}
	status, _, body = uiGet(t, f, cookie, "/notifications")
	for _, want := range []string{`id="notification-`, `href="/pairings/1"`, "新待办：提名工作组", "&lt;script&gt;", `id="read-all"`,
		`id="contact-form"`, `data-api="/api/v1/users/lead1/contact"`, `data-method="PUT"`, `value="lead1@example.gov.cn"`,
		`value="publicity.begun" data-type="set" checked`, `<option value="dingtalk" selected>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the notifications page lacks %s", want)
		}
	}
	if status != 200 || strings.Contains(body, "<script>alert") {
		t.Fatalf("notifications page: %d", status)
	}
	if _, err := f.db.MarkRead(ctx, "lead1", nil, true, now); err != nil {
		t.Fatal(err)
	}
	if _, _, body := uiGet(t, f, cookie, "/notifications"); strings.Contains(body, `id="bell-count"`) || strings.Contains(body, `id="read-all"`) {
		t.Fatal("the bell still counts after everything was read")
	}
}
