package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"baocun"
)

// Notifications (issue 19). A change writes what it tells people to the outbox in
// its own transaction: there is an outbox row exactly when the change is committed,
// and a change applied before (its Key) is skipped before it gets here, so none is
// written twice. The dispatcher (package notify) fans each row out in a transaction
// of its own — a notification per person it reaches, once (UNIQUE (outbox_id,
// username)), their email and webhook deliveries, the row marked fanned — and sends
// the deliveries, claiming each under a lease so instances sharing one database do
// not send the same one at once.

// decisionEvents are the events that decide a submission, each with the event
// that submitted it: its actor is whom the decision reaches.
var decisionEvents = map[string]string{
	"plan.approved": "plan.submitted", "plan.returned": "plan.submitted",
	"report.approved": "report.submitted", "report.returned": "report.submitted",
	"team.approved": "team.nominated", "team.returned": "team.nominated",
	"team_change.approved": "team_change.requested", "team_change.returned": "team_change.requested",
	"appeal.decided": "appeal.filed",
}

// enqueueNotifications writes to the outbox, in the change's own transaction, what
// the change tells people: a task opened, reminded or escalated, a decision on a
// submission, publicity begun (a result published, or the commendation list).
// Whom each reaches is worked out at fan-out, keeping this transaction to inserts.
func enqueueNotifications(ctx context.Context, tx *Tx, ch baocun.Change) error {
	var out []baocun.Outbound
	for _, t := range ch.Open {
		out = append(out, baocun.Outbound{Kind: baocun.NotifyTaskOpened, TaskID: t.ID, PairingID: t.PairingID, CycleID: t.CycleID, Actor: "system", At: ch.At})
	}
	// A reminder or escalation tells only when it was recorded now: not one the task
	// had already, nor a stale escalation (its due date moved since).
	for _, w := range []struct {
		ids          []string
		kind, column string
	}{{ch.Remind, baocun.NotifyTaskReminded, "reminded_at"}, {ch.Escalate, baocun.NotifyTaskEscalated, "escalated_at"}} {
		for _, id := range w.ids {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM tasks WHERE id = ? AND "+w.column+" = ?", id, FormatTime(ch.At)).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				out = append(out, baocun.Outbound{Kind: w.kind, TaskID: id, PairingID: ch.PairingID, Actor: "system", At: ch.At})
			}
		}
	}
	for _, e := range ch.Events {
		at := e.At
		if at.IsZero() {
			at = ch.At
		}
		switch {
		case decisionEvents[e.Kind] != "":
			var v struct {
				Outcome string `json:"outcome"`
				Comment string `json:"comment"`
				Reasons string `json:"reasons"`
			}
			json.Unmarshal(e.Data, &v) // what is missing is left out of the message
			if v.Comment == "" {
				v.Comment = v.Reasons
			}
			data, _ := json.Marshal(map[string]any{"event": e.Kind, "period": e.Period, "outcome": v.Outcome, "comment": clip(v.Comment, 1500)})
			out = append(out, baocun.Outbound{Kind: baocun.NotifyDecision, TaskID: e.TaskID, PairingID: e.PairingID, Actor: e.Actor, At: at, Data: data})
		case e.Kind == "result.published":
			out = append(out, baocun.Outbound{Kind: baocun.NotifyPublicity, PairingID: e.PairingID, Actor: e.Actor, At: at, Data: e.Data})
		}
	}
	if c := ch.Commendation; c != nil && c.Status == baocun.CommendationPublished {
		data, _ := json.Marshal(map[string]string{"event": "commendation.published"})
		out = append(out, baocun.Outbound{Kind: baocun.NotifyPublicity, CycleID: c.CycleID, Actor: c.ApprovedBy, At: ch.At, Data: data})
	}
	return EnqueueTx(ctx, tx, out...)
}

// EnqueueTx writes ns to the outbox in tx: they are sent once tx commits, and never
// if it rolls back. A step that tells people something (a reminder sent by hand)
// calls it in the transaction that records the step.
func EnqueueTx(ctx context.Context, tx *Tx, ns ...baocun.Outbound) error {
	const chunk = 100 // rows a statement: a launch's first batch opens hundreds of tasks
	for from := 0; from < len(ns); from += chunk {
		to := min(from+chunk, len(ns))
		var q strings.Builder
		q.WriteString("INSERT INTO outbox (at, kind, task_id, pairing_id, cycle_id, actor, recipients, data) VALUES ")
		args := make([]any, 0, 8*(to-from))
		for i, n := range ns[from:to] {
			if !isNotifyKind(n.Kind) {
				return fmt.Errorf("outbox: unknown kind %q", n.Kind)
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
			recipients := ""
			if len(n.To) > 0 {
				b, err := json.Marshal(n.To)
				if err != nil {
					return err
				}
				recipients = string(b)
			}
			at := n.At
			if at.IsZero() {
				at = time.Now()
			}
			args = append(args, FormatTime(at), n.Kind, n.TaskID, n.PairingID, n.CycleID, n.Actor, recipients, string(n.Data))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

func isNotifyKind(k string) bool {
	for _, v := range baocun.NotifyKinds {
		if v == k {
			return true
		}
	}
	return false
}

// Enqueue writes ns to the outbox in a transaction of their own.
func (db *DB) Enqueue(ctx context.Context, ns ...baocun.Outbound) error {
	return db.InTx(ctx, func(tx *Tx) error { return EnqueueTx(ctx, tx, ns...) })
}

// Unfanned returns up to limit outbox rows not fanned out yet, oldest first.
func (db *DB) Unfanned(ctx context.Context, limit int) ([]baocun.OutboxItem, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, at, kind, task_id, pairing_id, cycle_id, actor, recipients, data FROM outbox
		WHERE fanned_at = '' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []baocun.OutboxItem
	for rows.Next() {
		var o baocun.OutboxItem
		var at, recipients, data string
		if err := rows.Scan(&o.ID, &at, &o.Kind, &o.TaskID, &o.PairingID, &o.CycleID, &o.Actor, &recipients, &data); err != nil {
			return nil, err
		}
		o.At, _ = ParseTime(at)
		if recipients != "" {
			if err := json.Unmarshal([]byte(recipients), &o.To); err != nil {
				return nil, fmt.Errorf("outbox %d: recipients: %w", o.ID, err)
			}
		}
		if data != "" {
			o.Data = json.RawMessage(data)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// OutboxAudience are the enabled accounts outbox row o reaches, as of now:
//   - a task's (opened, reminded, escalated): whoever's inbox holds it now
//     (TaskAudience), while it is open;
//   - a decision: who submitted what was decided (the actor of the pairing's latest
//     submission of it before the decision: the period's report for a report);
//   - publicity of a result: the department's leads (dept_lead of the pairing's
//     department, in its county or the city), the accounts of its team's members and
//     the village's accounts; of the commendation list: the leads of every department
//     paired in the cycle.
//
// Named recipients (To) are taken as they are, those enabled.
func (db *DB) OutboxAudience(ctx context.Context, o baocun.OutboxItem, now time.Time) ([]string, error) {
	if len(o.To) > 0 {
		return queryStrings(ctx, db, `SELECT username FROM users WHERE disabled = 0 AND username IN (?`+strings.Repeat(", ?", len(o.To)-1)+`) ORDER BY username`,
			anys(o.To)...)
	}
	switch o.Kind {
	case baocun.NotifyTaskOpened, baocun.NotifyTaskReminded, baocun.NotifyTaskEscalated:
		var status, escalated string
		err := db.QueryRowContext(ctx, "SELECT status, escalated_at FROM tasks WHERE id = ?", o.TaskID).Scan(&status, &escalated)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && status != baocun.TaskOpen) {
			return nil, nil // never opened (its pairing was cancelled), or closed already
		}
		if err == nil && o.Kind == baocun.NotifyTaskEscalated && escalated == "" {
			return nil, nil // its due date was moved since: no longer overdue
		}
		if err != nil {
			return nil, err
		}
		return db.TaskAudience(ctx, o.TaskID, now)
	case baocun.NotifyDecision:
		var d struct {
			Event  string `json:"event"`
			Period int    `json:"period"`
		}
		json.Unmarshal(o.Data, &d)
		submitted := decisionEvents[d.Event]
		if submitted == "" || o.PairingID == 0 {
			return nil, nil
		}
		// The latest submission's author, if their account is still enabled: never an
		// earlier one's in their place.
		q := `SELECT e.actor FROM pairing_events e WHERE e.pairing_id = ? AND e.kind = ? AND e.at <= ?`
		args := []any{o.PairingID, submitted, FormatTime(o.At)}
		if submitted == "report.submitted" {
			q += " AND e.period = ?"
			args = append(args, d.Period)
		}
		return queryStrings(ctx, db, `SELECT username FROM users WHERE disabled = 0 AND username = (`+q+` ORDER BY e.id DESC LIMIT 1)`, args...)
	case baocun.NotifyPublicity:
		if o.PairingID != 0 {
			return queryStrings(ctx, db, `SELECT DISTINCT u.username FROM users u JOIN pairings p ON p.id = ?
				WHERE u.disabled = 0 AND (
					(u.department_code = p.department_code AND EXISTS (SELECT 1 FROM casbin_rule r
						WHERE r.ptype = 'g' AND r.v0 = u.username AND r.v1 = ? AND r.v2 IN (p.county, ?)))
					OR u.person_id IN (SELECT t.person_id FROM team_members t WHERE t.pairing_id = p.id)
					OR u.village_code = p.village_code)
				ORDER BY u.username`, o.PairingID, baocun.RoleDeptLead, baocun.CityJurisdiction)
		}
		return queryStrings(ctx, db, `SELECT DISTINCT u.username FROM users u
			WHERE u.disabled = 0 AND u.department_code IN (SELECT p.department_code FROM pairings p WHERE p.cycle_id = ? AND p.stage <> ?)
			AND EXISTS (SELECT 1 FROM casbin_rule r WHERE r.ptype = 'g' AND r.v0 = u.username AND r.v1 = ?)
			ORDER BY u.username`, o.CycleID, baocun.StageCancelled, baocun.RoleDeptLead)
	}
	return nil, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

const contactColumns = `username, email, email_enabled, webhook_url, webhook_format, webhook_enabled, mute, digest, updated_at`

func scanContact(row interface{ Scan(...any) error }) (baocun.Contact, error) {
	var c baocun.Contact
	var emailOn, webhookOn, digest int
	var mute, updated string
	if err := row.Scan(&c.Username, &c.Email, &emailOn, &c.WebhookURL, &c.WebhookFormat, &webhookOn, &mute, &digest, &updated); err != nil {
		return c, err
	}
	c.EmailEnabled, c.WebhookEnabled, c.Digest = emailOn != 0, webhookOn != 0, digest != 0
	c.Mute = []string{}
	if mute != "" {
		if err := json.Unmarshal([]byte(mute), &c.Mute); err != nil {
			return c, fmt.Errorf("contact of %s: mute: %w", c.Username, err)
		}
	}
	c.UpdatedAt, _ = ParseTime(updated)
	return c, nil
}

// Contacts returns the contacts the users among usernames have set, by username.
func (db *DB) Contacts(ctx context.Context, usernames []string) (map[string]baocun.Contact, error) {
	out := map[string]baocun.Contact{}
	const chunk = 500
	for from := 0; from < len(usernames); from += chunk {
		part := usernames[from:min(from+chunk, len(usernames))]
		rows, err := db.QueryContext(ctx, "SELECT "+contactColumns+" FROM user_contacts WHERE username IN (?"+strings.Repeat(", ?", len(part)-1)+")", anys(part)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[c.Username] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Contact returns a user's contact: as set, or empty (nothing but the bell) when
// never set; ENOTFOUND when there is no such account.
func (db *DB) Contact(ctx context.Context, username string) (*baocun.Contact, error) {
	c, err := scanContact(db.QueryRowContext(ctx, "SELECT "+contactColumns+" FROM user_contacts WHERE username = ?", username))
	if err == nil {
		return &c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE username = ?", username).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个用户 No such user: " + username}
	}
	return &baocun.Contact{Username: username, WebhookFormat: baocun.WebhookJSON, Mute: []string{}}, nil
}

// PutContact stores a validated contact with its audit entry, in one transaction.
func (db *DB) PutContact(ctx context.Context, c baocun.Contact, audit *baocun.AuditEntry) (*baocun.Contact, error) {
	mute, err := json.Marshal(c.Mute)
	if err != nil {
		return nil, err
	}
	if c.Mute == nil {
		mute = []byte("[]")
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE username = ?", c.Username).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个用户 No such user: " + c.Username}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_contacts (`+contactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET email = excluded.email, email_enabled = excluded.email_enabled,
				webhook_url = excluded.webhook_url, webhook_format = excluded.webhook_format, webhook_enabled = excluded.webhook_enabled,
				mute = excluded.mute, digest = excluded.digest, updated_at = excluded.updated_at`,
			c.Username, c.Email, boolInt(c.EmailEnabled), c.WebhookURL, c.WebhookFormat, boolInt(c.WebhookEnabled), string(mute), boolInt(c.Digest), FormatTime(c.UpdatedAt)); err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	if err != nil {
		return nil, err
	}
	return db.Contact(ctx, c.Username)
}

// FanOut stores outbox row id's notifications, each with its deliveries, and marks
// the row fanned out, in one transaction. A row another instance has fanned out
// already is left alone (0), and a notification the row made before (a fan-out that
// crashed after its commit and before it knew) is not made again. It reports the
// notifications made.
func (db *DB) FanOut(ctx context.Context, id int64, notes []baocun.NewNotification, now time.Time) (int, error) {
	made := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		made = 0
		// First, so a second instance on PostgreSQL waits here for the first to end
		// and then finds the row fanned.
		res, err := tx.ExecContext(ctx, "UPDATE outbox SET fanned_at = ? WHERE id = ? AND fanned_at = ''", FormatTime(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		for _, n := range notes {
			var nid int64
			err := tx.QueryRowContext(ctx, `INSERT INTO notifications (username, outbox_id, at, kind, title, body, link, task_id, pairing_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (outbox_id, username) DO NOTHING RETURNING id`,
				n.Username, id, FormatTime(n.At), n.Kind, n.Title, n.Body, n.Link, n.TaskID, n.PairingID).Scan(&nid)
			if errors.Is(err, sql.ErrNoRows) {
				continue // made before
			}
			if err != nil {
				return fmt.Errorf("notification of outbox %d for %s: %w", id, n.Username, err)
			}
			made++
			for _, d := range n.Deliveries {
				if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (notification_id, username, channel, target, format, digest, status, next_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nid, n.Username, d.Channel, d.Target, d.Format, boolInt(d.Digest), baocun.DeliveryPending, FormatTime(d.NextAt)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return made, err
}

// ClaimDeliveries claims pending deliveries due at now until leaseUntil, and returns
// them with their notifications' text: no other instance claims them before the
// lease ends (on PostgreSQL rows another instance is claiming are skipped, never
// waited for). Without digest, up to limit of them, the earliest due first; with
// digest, one digest: up to limit due digest deliveries of one user, channel and
// target (the earliest due one's), sent together as one message.
func (db *DB) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int, digest bool) ([]baocun.Delivery, error) {
	at := FormatTime(now)
	order := "next_at, id"
	if digest {
		order = "username, channel, target, id"
	}
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var ids []int64
	err := db.InTx(ctx, func(tx *Tx) error {
		// Picked, then claimed: an UPDATE … WHERE id IN (SELECT … LIMIT) may run its
		// subquery more than once on PostgreSQL and claim more than limit.
		q := `SELECT id FROM deliveries WHERE status = ? AND digest = ? AND next_at <= ? AND claimed_until <= ?`
		args := []any{baocun.DeliveryPending, boolInt(digest), at, at}
		if digest {
			var user, channel, target string
			err := tx.QueryRowContext(ctx, `SELECT username, channel, target FROM deliveries
				WHERE status = ? AND digest = 1 AND next_at <= ? AND claimed_until <= ? ORDER BY next_at, id LIMIT 1`+lock,
				baocun.DeliveryPending, at, at).Scan(&user, &channel, &target)
			if errors.Is(err, sql.ErrNoRows) {
				ids = ids[:0]
				return nil
			}
			if err != nil {
				return err
			}
			q += " AND username = ? AND channel = ? AND target = ?"
			args = append(args, user, channel, target)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY `+order+` LIMIT ?`+lock, append(args, limit)...)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE deliveries SET claimed_until = ? WHERE id IN (?"+strings.Repeat(", ?", len(ids)-1)+")",
			append([]any{FormatTime(leaseUntil)}, int64s(ids)...)...)
		return err
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT d.id, d.notification_id, d.username, d.channel, d.target, d.format, d.digest, d.attempts,
			n.kind, n.title, n.body, n.link, n.task_id, n.pairing_id, n.at
		FROM deliveries d JOIN notifications n ON n.id = d.notification_id
		WHERE d.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY `+map[bool]string{false: "d.next_at, d.id", true: "d.username, d.channel, d.target, d.id"}[digest],
		int64s(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []baocun.Delivery
	for rows.Next() {
		var d baocun.Delivery
		var dg int
		var nat string
		if err := rows.Scan(&d.ID, &d.NotificationID, &d.Username, &d.Channel, &d.Target, &d.Format, &dg, &d.Attempts,
			&d.Kind, &d.Title, &d.Body, &d.Link, &d.TaskID, &d.PairingID, &nat); err != nil {
			return nil, err
		}
		d.Digest = dg != 0
		d.At, _ = ParseTime(nat)
		out = append(out, d)
	}
	return out, rows.Err()
}

func int64s(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// DeliveriesSent marks deliveries sent at now (the server took them).
func (db *DB) DeliveriesSent(ctx context.Context, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.ExecContext(ctx, `UPDATE deliveries SET status = ?, sent_at = ?, claimed_until = '', last_error = ''
		WHERE status = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+")",
		append([]any{baocun.DeliverySent, FormatTime(now), baocun.DeliveryPending}, int64s(ids)...)...)
	return err
}

// DeliveriesFailed records a failed attempt of each of ids: tried again at next,
// or, when dead, never again. The error is kept (its first kilobyte).
func (db *DB) DeliveriesFailed(ctx context.Context, ids []int64, why string, next time.Time, dead bool) error {
	if len(ids) == 0 {
		return nil
	}
	status := baocun.DeliveryPending
	if dead {
		status = baocun.DeliveryDead
	}
	_, err := db.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_at = ?, last_error = ?, claimed_until = ''
		WHERE status = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+")",
		append([]any{status, FormatTime(next), clip(why, 1000), baocun.DeliveryPending}, int64s(ids)...)...)
	return err
}

// DeliveriesThrottled puts pending deliveries ids off until next, their receiver
// having said it is sent too fast: the attempt is not counted.
func (db *DB) DeliveriesThrottled(ctx context.Context, ids []int64, why string, next time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.ExecContext(ctx, `UPDATE deliveries SET next_at = ?, last_error = ?, claimed_until = ''
		WHERE status = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+")",
		append([]any{FormatTime(next), clip(why, 1000), baocun.DeliveryPending}, int64s(ids)...)...)
	return err
}

// NotificationBacklog counts the outbox rows not fanned out yet and the deliveries
// pending and dead, for the metrics.
func (db *DB) NotificationBacklog(ctx context.Context) (outbox, pending, dead int, err error) {
	if err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE fanned_at = ''").Scan(&outbox); err != nil {
		return
	}
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) FROM deliveries WHERE status IN (?, ?)`,
		baocun.DeliveryPending, baocun.DeliveryDead, baocun.DeliveryPending, baocun.DeliveryDead).Scan(&pending, &dead)
	return
}

// Notifications lists a user's notifications, newest first, with ids below before
// (0: from the newest), only the unread ones when unread; and how many are unread.
func (db *DB) Notifications(ctx context.Context, username string, unread bool, before int64, limit int) ([]baocun.Notification, int, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	q := `SELECT id, kind, title, body, link, task_id, pairing_id, at, read_at FROM notifications WHERE username = ? AND id < ?`
	if unread {
		q += " AND read_at = ''"
	}
	rows, err := db.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", username, before, limit)
	if err != nil {
		return nil, 0, err
	}
	out := []baocun.Notification{}
	byID := map[int64]int{}
	for rows.Next() {
		var n baocun.Notification
		var at, read string
		if err := rows.Scan(&n.ID, &n.Kind, &n.Title, &n.Body, &n.Link, &n.TaskID, &n.PairingID, &at, &read); err != nil {
			rows.Close()
			return nil, 0, err
		}
		n.At, _ = ParseTime(at)
		n.ReadAt = optTime(read)
		n.Deliveries = []baocun.DeliveryState{}
		byID[n.ID] = len(out)
		out = append(out, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(out) > 0 {
		ids := make([]any, 0, len(out))
		for _, n := range out {
			ids = append(ids, n.ID)
		}
		drows, err := db.QueryContext(ctx, `SELECT notification_id, channel, status, digest, attempts, last_error, sent_at FROM deliveries
			WHERE notification_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id`, ids...)
		if err != nil {
			return nil, 0, err
		}
		for drows.Next() {
			var nid int64
			var d baocun.DeliveryState
			var digest int
			var sent string
			if err := drows.Scan(&nid, &d.Channel, &d.Status, &digest, &d.Attempts, &d.LastError, &sent); err != nil {
				drows.Close()
				return nil, 0, err
			}
			d.Digest, d.SentAt = digest != 0, optTime(sent)
			out[byID[nid]].Deliveries = append(out[byID[nid]].Deliveries, d)
		}
		drows.Close()
		if err := drows.Err(); err != nil {
			return nil, 0, err
		}
	}
	n, err := db.UnreadCount(ctx, username)
	return out, n, err
}

// UnreadCount is how many of a user's notifications are unread.
func (db *DB) UnreadCount(ctx context.Context, username string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM notifications WHERE username = ? AND read_at = ''", username).Scan(&n)
	return n, err
}

// MarkRead marks a user's notifications read at now: those of ids that are theirs
// (another's id is passed over), or every one when all. It reports how many it
// marked.
func (db *DB) MarkRead(ctx context.Context, username string, ids []int64, all bool, now time.Time) (int, error) {
	q := "UPDATE notifications SET read_at = ? WHERE username = ? AND read_at = ''"
	args := []any{FormatTime(now), username}
	if !all {
		if len(ids) == 0 {
			return 0, nil
		}
		q += " AND id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
		args = append(args, int64s(ids)...)
	}
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
