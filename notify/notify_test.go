package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"baocun"
	"baocun/notify"
	"baocun/notify/notifytest"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// world is a directory, a cycle, three leads of D1 (each with a contact of its
// own), and a dispatcher on a clock the test moves.
type world struct {
	db    *sqldb.DB
	mail  *notifytest.MailServer
	hooks *notifytest.Hooks
	reg   *prometheus.Registry
	d     *notify.Dispatcher
	now   time.Time
}

func newWorld(t *testing.T, dsn string) *world {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, dsn)
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D1'), ('P3', '王五', 'D1')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01"}
	settings.Defaults()
	if _, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "第一轮", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()},
		[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: "support"}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"}); err != nil {
		t.Fatal(err)
	}
	w := &world{db: db, mail: notifytest.StartMail(t, true), hooks: notifytest.StartHooks(t), reg: prometheus.NewRegistry(),
		now: time.Date(2027, 3, 1, 10, 0, 0, 0, baocun.ChinaTime)}
	for i, u := range []struct{ name, format string }{{"lead1", baocun.WebhookDingTalk}, {"lead2", baocun.WebhookWeCom}, {"lead3", baocun.WebhookJSON}} {
		if _, err := db.CreateUser(ctx, baocun.NewUser{Username: u.name, PasswordHash: "x", PersonID: []string{"P1", "P2", "P3"}[i],
			Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "县A"}}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutContact(ctx, baocun.Contact{Username: u.name, Email: u.name + "@example.gov.cn", EmailEnabled: true,
			WebhookURL: w.hooks.URL + "/" + u.format + "?access_token=secret", WebhookFormat: u.format, WebhookEnabled: true, Mute: []string{}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.d = &notify.Dispatcher{DB: db, Registry: w.reg, Now: func() time.Time { return w.now }, BaseURL: "https://baocun.example.gov.cn",
		Webhooks: w.hooks.Allow(), Backoff: time.Minute, MaxBackoff: time.Hour, MaxAttempts: 4, SendTimeout: 10 * time.Second,
		SMTP: &notify.SMTP{Addr: w.mail.Addr, From: "部门包村 <noreply@example.gov.cn>", Username: notifytest.User, Password: notifytest.Password,
			TLS: &tls.Config{RootCAs: w.mail.Roots}}}
	return w
}

// tick runs rounds until one leaves nothing to do now.
func (w *world) tick(t *testing.T) {
	t.Helper()
	for range 20 {
		more, err := w.d.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return
		}
	}
	t.Fatal("work left after 20 rounds")
}

func (w *world) apply(t *testing.T, ch baocun.Change) {
	t.Helper()
	ch.At = w.now
	if err := w.db.ApplyChange(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
}

// metric is the value of a counter or gauge of reg with label value lv.
func metric(t *testing.T, reg *prometheus.Registry, name, lv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if lv == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == lv) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{%s}", name, lv)
	return 0
}

var nominate = baocun.Task{ID: "1-1", Kind: baocun.TaskNominateTeam, PairingID: 1, CycleID: 1, Role: baocun.RoleDeptLead, Jurisdiction: "县A",
	Department: "D1", Village: "V1", Subject: "提名工作组 nominate the team", DueDate: "2027-03-31"}

// A task opens and is reminded: each lead has it in the bell, an email over
// STARTTLS with AUTH (its subject and body in Chinese and English, the task named)
// and a webhook in its format — DingTalk's and WeCom's robot text, the generic JSON.
func TestReminderByEmailAndWebhook(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		task := nominate
		task.DueAt, task.RemindAt = w.now.Add(30*24*time.Hour), w.now.Add(27*24*time.Hour)
		w.apply(t, baocun.Change{Open: []baocun.Task{task}})
		w.tick(t)
		if got := len(w.mail.Received()); got != 3 {
			t.Fatalf("%d emails for the new task, want 3", got)
		}
		w.apply(t, baocun.Change{Remind: []string{"1-1"}})
		w.tick(t)

		msgs := w.mail.Received()
		if len(msgs) != 6 {
			t.Fatalf("%d emails, want 6", len(msgs))
		}
		var reminder *notifytest.Message
		for i, m := range msgs {
			if m.To[0] == "lead1@example.gov.cn" && strings.Contains(m.Subject(), "Due soon") {
				reminder = &msgs[i]
			}
		}
		if reminder == nil {
			t.Fatalf("no reminder to lead1: %+v", msgs)
		}
		r := *reminder
		if !r.TLS || r.From != "noreply@example.gov.cn" || r.Msg.Header.Get("To") != "<lead1@example.gov.cn>" {
			t.Errorf("envelope: tls %v, from %q, To %q", r.TLS, r.From, r.Msg.Header.Get("To"))
		}
		if s := r.Subject(); s != "[部门包村 Baocun] 待办即将到期：提名工作组 Due soon: Nominate the team" {
			t.Errorf("subject %q", s)
		}
		if ct := r.Msg.Header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("content type %q", ct)
		}
		for _, want := range []string{"甲村（甲县农业局）", "提名工作组 nominate the team", "截止日期 Due: 2027-03-31", "https://baocun.example.gov.cn/pairings/1", "请勿回复"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("body lacks %q:\n%s", want, r.Body)
			}
		}

		ding, wecom, js := w.hooks.Posts("/dingtalk"), w.hooks.Posts("/wecom"), w.hooks.Posts("/json")
		if len(ding) != 2 || len(wecom) != 2 || len(js) != 2 {
			t.Fatalf("webhooks: dingtalk %d, wecom %d, json %d; want 2 each", len(ding), len(wecom), len(js))
		}
		for name, p := range map[string]map[string]any{"dingtalk": ding[1], "wecom": wecom[1]} {
			text, _ := p["text"].(map[string]any)
			content, _ := text["content"].(string)
			if p["msgtype"] != "text" || !strings.Contains(content, "待办即将到期：提名工作组 Due soon") || !strings.Contains(content, "甲村") {
				t.Errorf("%s: %v", name, p)
			}
		}
		if js[1]["kind"] != baocun.NotifyTaskReminded || js[1]["task_id"] != "1-1" || js[1]["pairing_id"] != float64(1) ||
			js[1]["link"] != "https://baocun.example.gov.cn/pairings/1" || !strings.Contains(js[1]["title"].(string), "Due soon") {
			t.Errorf("json: %v", js[1])
		}

		items, unread, err := w.db.Notifications(context.Background(), "lead2", false, 0, 10)
		if err != nil || len(items) != 2 || unread != 2 || items[0].Kind != baocun.NotifyTaskReminded || items[0].Link != "/pairings/1" {
			t.Fatalf("lead2's bell: %+v, %d, %v", items, unread, err)
		}
		for _, d := range items[0].Deliveries {
			if d.Status != baocun.DeliverySent || d.Attempts != 0 {
				t.Errorf("delivery %+v", d)
			}
		}
		if v := metric(t, w.reg, "baocun_notifications_sent_total", "email"); v != 6 {
			t.Errorf("emails sent: %v", v)
		}
		if v := metric(t, w.reg, "baocun_notifications_sent_total", "inapp"); v != 6 {
			t.Errorf("in the bell: %v", v)
		}
		// A reminder recorded again (the change retried under its key) sends nothing.
		w.apply(t, baocun.Change{Key: "remind-once", Remind: []string{"1-1"}})
		w.apply(t, baocun.Change{Key: "remind-once", Remind: []string{"1-1"}})
		w.tick(t)
		if got := len(w.mail.Received()); got != 9 {
			t.Errorf("%d emails after a keyed reminder applied twice, want 9", got)
		}
		// A reminder by an organiser's hand, enqueued in the transaction recording it.
		if err := w.db.InTx(context.Background(), func(tx *sqldb.Tx) error {
			return sqldb.EnqueueTx(context.Background(), tx, baocun.Outbound{Kind: baocun.NotifyTaskReminded, TaskID: "1-1", Actor: "org", At: w.now,
				Data: []byte(`{"note":"请本周内提名 nominate this week"}`)})
		}); err != nil {
			t.Fatal(err)
		}
		w.tick(t)
		msgs = w.mail.Received()
		if len(msgs) != 12 || !strings.Contains(msgs[11].Body, "由 org 提醒 Reminded by org") || !strings.Contains(msgs[11].Body, "留言 Note: 请本周内提名 nominate this week") {
			t.Errorf("a reminder by hand: %d emails, the last %q", len(msgs), msgs[len(msgs)-1].Body)
		}
	})
}

// A receiver failing at first: the webhook is retried after a backoff (not before),
// each failure counted, and then delivered; an email the server refuses likewise.
// After MaxAttempts a delivery is dead, in the metrics and beside the bell's item.
func TestRetriedWithBackoff(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		ctx := context.Background()
		// Only lead3 (JSON) has a webhook; lead1 keeps email only.
		for _, u := range []string{"lead1", "lead2"} {
			if _, err := w.db.PutContact(ctx, baocun.Contact{Username: u, Mute: []string{}, WebhookFormat: baocun.WebhookJSON}, nil); err != nil {
				t.Fatal(err)
			}
		}
		w.hooks.Fail(2)
		w.mail.Refuse(true)
		task := nominate
		task.DueAt = w.now.Add(time.Hour)
		w.apply(t, baocun.Change{Open: []baocun.Task{task}})
		w.tick(t)
		if v := metric(t, w.reg, "baocun_notifications_failed_total", "webhook"); v != 1 {
			t.Fatalf("webhook failures after the first try: %v", v)
		}
		w.tick(t) // not due yet: the backoff is at least half a minute
		if v := metric(t, w.reg, "baocun_notifications_failed_total", "webhook"); v != 1 {
			t.Fatalf("retried before the backoff: %v failures", v)
		}
		w.now = w.now.Add(time.Minute)
		w.tick(t)
		w.now = w.now.Add(2 * time.Minute)
		w.tick(t)
		if v := metric(t, w.reg, "baocun_notifications_failed_total", "webhook"); v != 2 {
			t.Fatalf("webhook failures: %v, want 2", v)
		}
		if got := w.hooks.Posts("/json"); len(got) != 1 || got[0]["kind"] != baocun.NotifyTaskOpened {
			t.Fatalf("the webhook after two failures: %v", got)
		}
		if v := metric(t, w.reg, "baocun_notifications_failed_total", "email"); v != 3 {
			t.Fatalf("email failures: %v, want 3", v)
		}
		// The fourth refusal is the last attempt: dead.
		w.now = w.now.Add(10 * time.Minute)
		w.tick(t)
		if v := metric(t, w.reg, "baocun_notifications_deliveries", baocun.DeliveryDead); v != 1 {
			t.Fatalf("dead deliveries: %v", v)
		}
		items, _, _ := w.db.Notifications(ctx, "lead3", false, 0, 10)
		var states []string
		for _, d := range items[0].Deliveries {
			states = append(states, d.Channel+" "+d.Status)
			if d.Channel == baocun.ChannelEmail && (d.Attempts != 4 || !strings.Contains(d.LastError, "451")) {
				t.Errorf("dead email: %+v", d)
			}
		}
		if strings.Join(states, ",") != "email dead,webhook sent" {
			t.Fatalf("lead3's deliveries: %v", states)
		}
		w.mail.Refuse(false)
		w.now = w.now.Add(24 * time.Hour)
		w.tick(t)
		if got := len(w.mail.Received()); got != 0 {
			t.Fatalf("a dead delivery was sent: %d", got)
		}
	})
}

// SSRF: a webhook to a host the operator does not allow is never requested, even
// one stored while it was allowed: the delivery is dead at once.
func TestWebhookHostCheckedAtSend(t *testing.T) {
	w := newWorld(t, sqldbtest.SQLiteDSN(t))
	w.d.Webhooks = baocun.WebhookPolicy{} // the defaults: DingTalk and WeCom only
	w.d.SMTP = nil                        // and no email: none is made
	task := nominate
	task.DueAt = w.now.Add(time.Hour)
	w.apply(t, baocun.Change{Open: []baocun.Task{task}})
	w.tick(t)
	if hits := w.hooks.Hits(); hits != 0 {
		t.Fatalf("the receiver was requested %d times", hits)
	}
	items, _, _ := w.db.Notifications(context.Background(), "lead1", false, 0, 10)
	if len(items) != 1 || len(items[0].Deliveries) != 1 || items[0].Deliveries[0].Status != baocun.DeliveryDead ||
		!strings.Contains(items[0].Deliveries[0].LastError, "not allowed") {
		t.Fatalf("lead1: %+v", items)
	}
	if v := metric(t, w.reg, "baocun_notifications_deliveries", baocun.DeliveryDead); v != 3 {
		t.Fatalf("dead: %v", v)
	}
	if strings.Contains(items[0].Deliveries[0].LastError, "secret") {
		t.Fatalf("the robot's key is in the error: %s", items[0].Deliveries[0].LastError)
	}
}

// A digest: a user's email and webhook wait for 08:00 China time and go as one
// message each, listing everything due; the bell has each at once.
func TestDailyDigest(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		ctx := context.Background()
		c, _ := w.db.Contact(ctx, "lead1")
		c.Digest = true
		if _, err := w.db.PutContact(ctx, *c, nil); err != nil {
			t.Fatal(err)
		}
		a, b := nominate, nominate
		a.DueAt = w.now.Add(time.Hour)
		b.ID, b.Subject, b.DueAt = "1-2", "再次提名 nominate again", w.now.Add(2*time.Hour)
		w.apply(t, baocun.Change{Open: []baocun.Task{a}})
		w.apply(t, baocun.Change{Open: []baocun.Task{b}})
		w.tick(t)
		for _, m := range w.mail.Received() {
			if m.To[0] == "lead1@example.gov.cn" {
				t.Fatalf("lead1 was sent an email before the digest: %s", m.Subject())
			}
		}
		if items, unread, _ := w.db.Notifications(ctx, "lead1", false, 0, 10); len(items) != 2 || unread != 2 {
			t.Fatalf("the bell waits for no digest: %d items, %d unread", len(items), unread)
		}
		w.now = time.Date(2027, 3, 2, 7, 59, 0, 0, baocun.ChinaTime)
		w.tick(t)
		if n := len(w.hooks.Posts("/dingtalk")); n != 0 {
			t.Fatalf("the digest went before 08:00: %d", n)
		}
		w.now = time.Date(2027, 3, 2, 8, 0, 0, 0, baocun.ChinaTime)
		w.tick(t)
		var digests []notifytest.Message
		for _, m := range w.mail.Received() {
			if m.To[0] == "lead1@example.gov.cn" {
				digests = append(digests, m)
			}
		}
		if len(digests) != 1 || !strings.Contains(digests[0].Subject(), "Daily digest: 2 notifications") ||
			!strings.Contains(digests[0].Body, "提名工作组 nominate the team") || !strings.Contains(digests[0].Body, "再次提名 nominate again") {
			t.Fatalf("digest emails: %d %+v", len(digests), digests)
		}
		ding := w.hooks.Posts("/dingtalk")
		if len(ding) != 1 || !strings.Contains(ding[0]["text"].(map[string]any)["content"].(string), "每日汇总：2 条通知") {
			t.Fatalf("digest webhook: %v", ding)
		}
		items, _, _ := w.db.Notifications(ctx, "lead1", false, 0, 10)
		for _, n := range items {
			for _, d := range n.Deliveries {
				if d.Status != baocun.DeliverySent || !d.Digest {
					t.Fatalf("after the digest: %+v", d)
				}
			}
		}
		if v := metric(t, w.reg, "baocun_notifications_deliveries", baocun.DeliveryPending); v != 0 {
			t.Fatalf("pending after the digest: %v", v)
		}
	})
}

// STARTTLS is required: a server that does not offer it is not sent to (a failure,
// retried), and the password never goes in clear.
func TestEmailRequiresSTARTTLS(t *testing.T) {
	plain := notifytest.StartMail(t, false)
	s := &notify.SMTP{Addr: plain.Addr, From: "noreply@example.gov.cn", Username: notifytest.User, Password: notifytest.Password}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, "a@example.gov.cn", "s", "b", time.Now()); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("sent without STARTTLS: %v", err)
	}
	if len(plain.Received()) != 0 {
		t.Fatal("the message went in clear")
	}
	// With the insecure flag, to a relay on loopback, it goes (no AUTH asked).
	s.Insecure, s.Username, s.Password = true, "", ""
	if err := s.Send(ctx, "a@example.gov.cn", "主题\r\nBcc: x@evil.example", "正文 body", time.Now()); err != nil {
		t.Fatal(err)
	}
	got := plain.Received()
	if len(got) != 1 || got[0].TLS || got[0].Msg.Header.Get("Bcc") != "" || !strings.Contains(got[0].Subject(), "Bcc: x@evil.example") || got[0].Body != "正文 body" {
		t.Fatalf("insecure relay: %+v", got)
	}
	// A password is never sent in clear off loopback.
	if err := (&notify.SMTP{Addr: "mail.example.gov.cn:25", From: "a@example.gov.cn", Username: "u", Insecure: true}).Check(); err == nil {
		t.Fatal("a password in clear to a remote relay was accepted")
	}
}

// Two instances on one database, each a dispatcher, working at once: every
// notification is made once and every email sent once.
func TestTwoDispatchersSendOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		var tasks []baocun.Task
		for i := range 20 {
			task := nominate
			task.ID, task.Subject, task.DueAt = fmt.Sprintf("1-%d", i+1), fmt.Sprintf("任务 task %d", i), w.now.Add(time.Hour)
			tasks = append(tasks, task)
		}
		w.apply(t, baocun.Change{Open: tasks})
		other := *w.d
		other.Registry = prometheus.NewRegistry()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for _, d := range []*notify.Dispatcher{w.d, &other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := d.Tick(ctx); err != nil {
						t.Error(err)
						return
					}
					if _, pending, _, _ := w.db.NotificationBacklog(ctx); pending == 0 && len(w.mail.Received()) >= 60 {
						return
					}
				}
			}()
		}
		wg.Wait()
		seen := map[string]int{}
		for _, m := range w.mail.Received() {
			seen[m.To[0]+" "+m.Body]++
		}
		if len(seen) != 60 || len(w.mail.Received()) != 60 {
			t.Fatalf("%d emails, %d different, want 60 once each", len(w.mail.Received()), len(seen))
		}
		var n int
		w.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM notifications").Scan(&n)
		if n != 60 {
			t.Fatalf("%d notifications, want 60", n)
		}
	})
}

// A retry that comes after its person switched the channel off, or was disabled,
// is not sent; a comment with a NUL byte (from a decision) fans out as clean text
// on both databases instead of jamming the outbox.
func TestStaleDeliveriesAndDirtyText(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		w := newWorld(t, dsn)
		ctx := context.Background()
		w.mail.Refuse(true)
		task := nominate
		task.DueAt = w.now.Add(time.Hour)
		w.apply(t, baocun.Change{Open: []baocun.Task{task}})
		w.tick(t)
		// lead1 turns email off; lead2's account is disabled; lead3 keeps theirs.
		if _, err := w.db.PutContact(ctx, baocun.Contact{Username: "lead1", Mute: []string{}, WebhookFormat: baocun.WebhookJSON}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := w.db.ExecContext(ctx, "UPDATE users SET disabled = 1 WHERE username = 'lead2'"); err != nil {
			t.Fatal(err)
		}
		w.mail.Refuse(false)
		w.now = w.now.Add(2 * time.Hour)
		w.tick(t)
		var to []string
		for _, m := range w.mail.Received() {
			to = append(to, m.To...)
		}
		if strings.Join(to, ",") != "lead3@example.gov.cn" {
			t.Fatalf("the retried emails went to %v; want lead3's only", to)
		}
		// A decision's comment with a NUL byte.
		w.apply(t, baocun.Change{Events: []baocun.Event{
			{PairingID: 1, Kind: "plan.submitted", Actor: "lead1", At: w.now.Add(-time.Minute), Data: json.RawMessage(`{}`)},
			{PairingID: 1, Kind: "plan.returned", Actor: "rev", TaskID: "1-2", Data: json.RawMessage(`{"outcome":"return","comment":"请修改\u0000 revise"}`)}}})
		w.tick(t)
		items, _, err := w.db.Notifications(ctx, "lead1", false, 0, 10)
		if err != nil || len(items) == 0 || items[0].Kind != baocun.NotifyDecision || strings.ContainsRune(items[0].Body, 0) || !strings.Contains(items[0].Body, "请修改 revise") {
			t.Fatalf("lead1's decision notification: %+v, %v", items, err)
		}
	})
}

// A robot that says it is sent too fast (DingTalk's 130101, WeCom's 45009) is left
// alone for RobotPause and tried again; its refusals use up no attempt, so a burst
// of reminders is delayed, not lost.
func TestRobotThrottled(t *testing.T) {
	w := newWorld(t, sqldbtest.SQLiteDSN(t))
	w.d.SMTP = nil
	w.hooks.Throttle(2 * w.d.MaxAttempts) // more refusals than a delivery's attempts
	task := nominate
	task.DueAt = w.now.Add(time.Hour)
	w.apply(t, baocun.Change{Open: []baocun.Task{task}})
	for range w.d.MaxAttempts {
		w.tick(t)
		w.now = w.now.Add(notify.RobotPause)
	}
	if got := len(w.hooks.Posts("/" + baocun.WebhookDingTalk)); got != 0 {
		t.Fatalf("%d DingTalk messages taken while throttled", got)
	}
	w.hooks.Throttle(0)
	w.tick(t)
	for _, f := range []string{baocun.WebhookDingTalk, baocun.WebhookWeCom} {
		if got := len(w.hooks.Posts("/" + f)); got != 1 {
			t.Errorf("%s: %d messages after the throttle, want 1 (none dead)", f, got)
		}
	}
	if v := metric(t, w.reg, "baocun_notifications_deliveries", baocun.DeliveryDead); v != 0 {
		t.Errorf("%v deliveries dead", v)
	}
}
