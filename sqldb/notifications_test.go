package sqldb_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// notifyUsers adds the accounts the notification tests reach: D1's lead, D2's lead,
// a member of pairing 1's team (P1), village V1's account, a disabled lead of D1.
func notifyUsers(t *testing.T, db *sqldb.DB) {
	t.Helper()
	ctx := context.Background()
	for _, nu := range []baocun.NewUser{
		{Username: "lead", PersonID: "P1", Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "县A"}}},
		{Username: "lead2", PersonID: "P2", Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "县B"}}},
		{Username: "member", PersonID: "P1", Roles: []baocun.Grant{{Role: baocun.RoleTeamMember, Jurisdiction: "县A"}}},
		{Username: "village", VillageCode: "V1", Roles: []baocun.Grant{{Role: baocun.RoleVillage, Jurisdiction: "县A"}}},
		{Username: "gone", PersonID: "P3", Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "县A"}}},
	} {
		nu.PasswordHash = "x"
		if _, err := db.CreateUser(ctx, nu, nil); err != nil {
			t.Fatal(err)
		}
	}
	disabled := true
	if _, _, err := db.UpdateAccount(ctx, "gone", baocun.AccountChange{Disabled: &disabled}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Team: &baocun.TeamChange{PairingID: 1, Members: []baocun.Member{{PersonID: "P1", Leader: true}}}}); err != nil {
		t.Fatal(err)
	}
}

func outbox(t *testing.T, db *sqldb.DB) []baocun.OutboxItem {
	t.Helper()
	items, err := db.Unfanned(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// What a change tells people is written in its transaction: a change that fails
// leaves no outbox row, a change applied again (its key) adds none, and each kind
// of event is one row.
func TestOutboxWrittenWithTheChange(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, cycle := lifecycleFixture(t, dsn)
		ctx := context.Background()
		due := time.Now().Add(48 * time.Hour)
		open := baocun.Change{Key: "open-1", At: time.Now(), Open: []baocun.Task{task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", due)}}
		// The second change closes a task that does not exist: both roll back.
		err := db.ApplyChanges(ctx, []baocun.Change{open, {At: time.Now(), Close: []baocun.TaskClose{{ID: "nope", Status: baocun.TaskDone}}}})
		if err == nil {
			t.Fatal("a change closing no task was written")
		}
		if got := outbox(t, db); len(got) != 0 {
			t.Fatalf("a change that failed left outbox rows: %+v", got)
		}
		// An Enqueue in a transaction that rolls back is gone with it.
		db.InTx(ctx, func(tx *sqldb.Tx) error {
			if err := sqldb.EnqueueTx(ctx, tx, baocun.Outbound{Kind: baocun.NotifyTaskReminded, TaskID: "1-1", Actor: "org"}); err != nil {
				t.Fatal(err)
			}
			return baocun.Errorf(baocun.ECONFLICT, "rolled back")
		})
		if got := outbox(t, db); len(got) != 0 {
			t.Fatalf("a rolled-back enqueue left %+v", got)
		}
		for range 2 { // the second is a retry: skipped by its key
			if err := db.ApplyChange(ctx, open); err != nil {
				t.Fatal(err)
			}
		}
		plan, _ := json.Marshal(map[string]string{"outcome": "return", "comment": "请补充 add the budget"})
		published, _ := json.Marshal(map[string]string{"total": "91.50", "grade": "excellent", "publicity_ends": "2030-01-08", "appeal_by": "2030-01-11"})
		for _, ch := range []baocun.Change{
			{At: time.Now(), Remind: []string{"1-1"}},
			{At: time.Now(), Escalate: []string{"1-1"}},
			{At: time.Now(), Events: []baocun.Event{{PairingID: 1, Actor: "rev", Kind: "plan.returned", TaskID: "1-2", Data: plan},
				{PairingID: 1, Actor: "member", Kind: "plan.submitted"}}},
			{At: time.Now(), Events: []baocun.Event{{PairingID: 1, Actor: "system", Kind: "result.published", Data: published}}},
			{At: time.Now(), Commendation: &baocun.CommendationChange{CycleID: cycle, Status: "proposing"}},
			{At: time.Now(), Commendation: &baocun.CommendationChange{CycleID: cycle, Status: baocun.CommendationPublished, ApprovedBy: "org"}},
		} {
			if err := db.ApplyChange(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Enqueue(ctx, baocun.Outbound{Kind: baocun.NotifyTaskReminded, TaskID: "1-1", Actor: "org", To: []string{"lead"}}); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, o := range outbox(t, db) {
			kinds = append(kinds, o.Kind+" "+o.TaskID+" "+o.Actor)
		}
		want := []string{"task.opened 1-1 system", "task.reminded 1-1 system", "task.escalated 1-1 system", "submission.decided 1-2 rev",
			"publicity.begun  system", "publicity.begun  org", "task.reminded 1-1 org"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("outbox:\n%q\nwant\n%q", kinds, want)
		}
		if err := db.Enqueue(ctx, baocun.Outbound{Kind: "nonsense"}); err == nil {
			t.Fatal("an unknown kind was enqueued")
		}
	})
}

// Whom each kind reaches: a task's inbox while it is open, the submitter of what was
// decided, the department, team and village of a published result; never a
// disabled account.
func TestOutboxAudience(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, cycle := lifecycleFixture(t, dsn)
		notifyUsers(t, db)
		ctx := context.Background()
		now := time.Now()
		due := now.Add(48 * time.Hour)
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", due),
			task("1-2", 1, baocun.TaskSubmitPlan, "县A", "D1", "V1", due)}}); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(map[string]string{"outcome": "approve"})
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Close: []baocun.TaskClose{{ID: "1-2", Status: baocun.TaskDone, By: "member"}},
			Events: []baocun.Event{{PairingID: 1, Actor: "member", Kind: "plan.submitted", TaskID: "1-2"}}}); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now.Add(time.Second), Events: []baocun.Event{{PairingID: 1, Actor: "rev", Kind: "plan.approved", Data: data},
			{PairingID: 1, Actor: "system", Kind: "result.published", Data: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Commendation: &baocun.CommendationChange{CycleID: cycle, Status: baocun.CommendationPublished}}); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, o := range outbox(t, db) {
			who, err := db.OutboxAudience(ctx, o, now)
			if err != nil {
				t.Fatal(err)
			}
			key := o.Kind + " " + o.TaskID
			if o.Kind == baocun.NotifyPublicity && o.PairingID == 0 {
				key += "cycle"
			}
			got[key] = who
		}
		for key, want := range map[string][]string{
			"task.opened 1-1":       {"lead"},   // not the disabled lead of D1, nor D2's
			"task.opened 1-2":       nil,        // closed before it was fanned out
			"submission.decided ":   {"member"}, // who submitted the plan
			"publicity.begun ":      {"lead", "member", "village"},
			"publicity.begun cycle": {"lead", "lead2"},
		} {
			if !slices.Equal(got[key], want) {
				t.Errorf("%s reaches %q, want %q", key, got[key], want)
			}
		}
		// Named recipients, the enabled ones.
		who, err := db.OutboxAudience(ctx, baocun.OutboxItem{Outbound: baocun.Outbound{Kind: baocun.NotifyTaskReminded, TaskID: "1-1", To: []string{"gone", "lead2", "nobody"}}}, now)
		if err != nil || !slices.Equal(who, []string{"lead2"}) {
			t.Fatalf("named: %q, %v", who, err)
		}
	})
}

// A fan-out makes each notification once: a second fan-out of the row, or one after
// a crash that lost the row's mark, adds nothing. Deliveries are claimed under a
// lease, retried, and marked sent; read marks are one's own.
func TestFanOutOnceAndClaims(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		notifyUsers(t, db)
		ctx := context.Background()
		now := time.Now()
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", now.Add(time.Hour))}}); err != nil {
			t.Fatal(err)
		}
		o := outbox(t, db)[0]
		notes := []baocun.NewNotification{{Username: "lead", Kind: o.Kind, Title: "新待办 New task", Body: "甲村", At: o.At,
			Deliveries: []baocun.NewDelivery{{Channel: baocun.ChannelEmail, Target: "lead@example.com", NextAt: now},
				{Channel: baocun.ChannelWebhook, Target: "https://oapi.dingtalk.com/robot/send?access_token=x", Format: baocun.WebhookDingTalk, Digest: true, NextAt: now.Add(time.Hour)}}}}
		for i, want := range []int{1, 0} {
			made, err := db.FanOut(ctx, o.ID, notes, now)
			if err != nil || made != want {
				t.Fatalf("fan-out %d: %d made, %v; want %d", i, made, err, want)
			}
		}
		// The row's mark lost (a crash between the notifications and the mark cannot
		// happen, they commit together; this is the worst case): nothing twice.
		if _, err := db.ExecContext(ctx, "UPDATE outbox SET fanned_at = '' WHERE id = ?", o.ID); err != nil {
			t.Fatal(err)
		}
		if made, err := db.FanOut(ctx, o.ID, notes, now); err != nil || made != 0 {
			t.Fatalf("fan-out again: %d, %v", made, err)
		}
		var n int
		db.QueryRowContext(ctx, "SELECT COUNT(*) FROM deliveries").Scan(&n)
		if n != 2 {
			t.Fatalf("%d deliveries, want 2", n)
		}
		if len(outbox(t, db)) != 0 {
			t.Fatal("the row is not marked fanned out")
		}

		// Claims: the email is due, the digest not before its time.
		ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10, false)
		if err != nil || len(ds) != 1 || ds[0].Target != "lead@example.com" || ds[0].Title != "新待办 New task" || ds[0].Username != "lead" {
			t.Fatalf("claim: %+v, %v", ds, err)
		}
		if again, _ := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10, false); len(again) != 0 {
			t.Fatalf("claimed twice within the lease: %+v", again)
		}
		if digest, _ := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10, true); len(digest) != 0 {
			t.Fatalf("a digest claimed before its time: %+v", digest)
		}
		if after, _ := db.ClaimDeliveries(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10, false); len(after) != 1 {
			t.Fatalf("not claimed again once the lease ended: %+v", after)
		}
		if err := db.DeliveriesFailed(ctx, []int64{ds[0].ID}, "connection refused", now.Add(10*time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if early, _ := db.ClaimDeliveries(ctx, now.Add(5*time.Minute), now.Add(6*time.Minute), 10, false); len(early) != 0 {
			t.Fatalf("claimed before its retry: %+v", early)
		}
		retry, _ := db.ClaimDeliveries(ctx, now.Add(11*time.Minute), now.Add(12*time.Minute), 10, false)
		if len(retry) != 1 || retry[0].Attempts != 1 {
			t.Fatalf("retry: %+v", retry)
		}
		if err := db.DeliveriesSent(ctx, []int64{retry[0].ID}, now); err != nil {
			t.Fatal(err)
		}
		digest, _ := db.ClaimDeliveries(ctx, now.Add(2*time.Hour), now.Add(3*time.Hour), 10, true)
		if len(digest) != 1 || !digest[0].Digest {
			t.Fatalf("digest: %+v", digest)
		}
		if err := db.DeliveriesFailed(ctx, []int64{digest[0].ID}, "HTTP 500", now, true); err != nil {
			t.Fatal(err)
		}
		outboxN, pending, dead, err := db.NotificationBacklog(ctx)
		if err != nil || outboxN != 0 || pending != 0 || dead != 1 {
			t.Fatalf("backlog: %d %d %d, %v", outboxN, pending, dead, err)
		}

		// The bell: the delivery states beside the item; read marks are one's own.
		items, unread, err := db.Notifications(ctx, "lead", false, 0, 10)
		if err != nil || len(items) != 1 || unread != 1 || len(items[0].Deliveries) != 2 {
			t.Fatalf("notifications: %+v, %d, %v", items, unread, err)
		}
		if d := items[0].Deliveries; d[0].Status != baocun.DeliverySent || d[0].Attempts != 1 || d[1].Status != baocun.DeliveryDead || d[1].LastError != "HTTP 500" {
			t.Fatalf("delivery states: %+v", d)
		}
		if n, err := db.MarkRead(ctx, "lead2", []int64{items[0].ID}, false, now); err != nil || n != 0 {
			t.Fatalf("another's mark: %d, %v", n, err)
		}
		if n, err := db.MarkRead(ctx, "lead", []int64{items[0].ID}, false, now); err != nil || n != 1 {
			t.Fatalf("own mark: %d, %v", n, err)
		}
		if items, unread, _ := db.Notifications(ctx, "lead", true, 0, 10); len(items) != 0 || unread != 0 {
			t.Fatalf("unread after the mark: %+v, %d", items, unread)
		}
	})
}

// A contact is stored as given and read back; an account never set has an empty one;
// no account, 404.
func TestContactStored(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		notifyUsers(t, db)
		ctx := context.Background()
		c, err := db.Contact(ctx, "lead")
		if err != nil || c.Email != "" || c.WebhookFormat != baocun.WebhookJSON || c.Mute == nil {
			t.Fatalf("unset: %+v, %v", c, err)
		}
		in := baocun.Contact{Username: "lead", Email: "lead@example.com", EmailEnabled: true, WebhookURL: "https://oapi.dingtalk.com/robot/send?access_token=x",
			WebhookFormat: baocun.WebhookDingTalk, WebhookEnabled: true, Mute: []string{baocun.NotifyPublicity}, Digest: true}
		for range 2 {
			if c, err = db.PutContact(ctx, in, nil); err != nil {
				t.Fatal(err)
			}
		}
		if !c.EmailEnabled || !c.Digest || c.WebhookFormat != baocun.WebhookDingTalk || !slices.Equal(c.Mute, []string{baocun.NotifyPublicity}) || c.UpdatedAt.IsZero() {
			t.Fatalf("stored: %+v", c)
		}
		all, err := db.Contacts(ctx, []string{"lead", "lead2"})
		if err != nil || len(all) != 1 || all["lead"].Email != "lead@example.com" {
			t.Fatalf("contacts: %+v, %v", all, err)
		}
		if _, err := db.Contact(ctx, "nobody"); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("no such account: %v", err)
		}
		if _, err := db.PutContact(ctx, baocun.Contact{Username: "nobody"}, nil); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("put for no account: %v", err)
		}
	})
}
