package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"baocun"
)

// Field records (issue 17): check-ins and leave, written straight to the database.

// lockPerson serialises the field records of one person for the rest of tx: a
// check-in, a leave request and a leave decision each check the others' rows before
// writing their own, which READ COMMITTED on PostgreSQL would let two transactions do
// at once (SQLite's writer holds its lock from BEGIN already).
func lockPerson(ctx context.Context, tx *Tx, person string) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.person:' || ?))", person)
	return err
}

// AddCheckin records a member's day. One village a day: a person's second check-in
// of a day, here or in another pairing, is ECONFLICT naming where the day stands; a
// day inside the person's approved leave is ECONFLICT too.
func (db *DB) AddCheckin(ctx context.Context, c baocun.Checkin, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := lockPerson(ctx, tx, c.PersonID); err != nil {
			return err
		}
		// The village has had its word on the month: no day comes into it since.
		var confirmed int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM checkin_months WHERE pairing_id = ? AND month = ?", c.PairingID, c.Day[:7]).Scan(&confirmed); err != nil {
			return err
		}
		if confirmed > 0 {
			return baocun.Errorf(baocun.ECONFLICT, "村委已确认 %s 月的打卡，不能再补录 The village has confirmed %s: no day is added to it now.", c.Day[:7], c.Day[:7])
		}
		if l, err := leaveOn(ctx, tx, c.PersonID, c.Day, c.Day, baocun.LeaveApproved); err != nil {
			return err
		} else if l != nil {
			return baocun.Errorf(baocun.ECONFLICT, "%s 在已批准的请假（%s 至 %s）之内，不能打卡 %s is inside approved leave (%s to %s): no check-in.",
				c.Day, l.From, l.To, c.Day, l.From, l.To)
		}
		var inRange any
		if c.InRange != nil {
			inRange = boolInt(*c.InRange)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO checkins (pairing_id, person_id, day, recorded_at, recorded_by, lat, lng, accuracy_m,
			distance_m, in_range, late, reason, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.PairingID, c.PersonID, c.Day, FormatTime(c.RecordedAt), c.RecordedBy, c.Lat, c.Lng, c.AccuracyM, c.DistanceM, inRange,
			boolInt(c.Late), c.Reason, c.Status)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var pairing int64
			var village string
			if err := tx.QueryRowContext(ctx, `SELECT c.pairing_id, p.village_code FROM checkins c JOIN pairings p ON p.id = c.pairing_id
				WHERE c.person_id = ? AND c.day = ?`, c.PersonID, c.Day).Scan(&pairing, &village); err != nil {
				return err
			}
			return &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{"date": "already checked in"}, Message: fmt.Sprintf(
				"%s 已打卡（结对 %d，村 %s）：一人一天只在一个村 %s is checked in already (pairing %d, village %s): one village a day.",
				c.Day, pairing, village, c.Day, pairing, village)}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

const checkinColumns = `pairing_id, person_id, day, recorded_at, recorded_by, lat, lng, accuracy_m, distance_m, in_range, late, reason,
	status, confirmed_by, confirmed_at, village_status, village_note`

func scanCheckin(row interface{ Scan(...any) error }) (baocun.Checkin, error) {
	var c baocun.Checkin
	var at, confirmedAt string
	var lat, lng, acc, dist sql.NullFloat64
	var inRange sql.NullInt64
	var late int
	if err := row.Scan(&c.PairingID, &c.PersonID, &c.Day, &at, &c.RecordedBy, &lat, &lng, &acc, &dist, &inRange, &late, &c.Reason,
		&c.Status, &c.ConfirmedBy, &confirmedAt, &c.Village, &c.VillageNote); err != nil {
		return c, err
	}
	c.RecordedAt, _ = ParseTime(at)
	if t, _ := ParseTime(confirmedAt); !t.IsZero() {
		c.ConfirmedAt = &t
	}
	for _, f := range []struct {
		v   sql.NullFloat64
		dst **float64
	}{{lat, &c.Lat}, {lng, &c.Lng}, {acc, &c.AccuracyM}, {dist, &c.DistanceM}} {
		if f.v.Valid {
			v := f.v.Float64
			*f.dst = &v
		}
	}
	if inRange.Valid {
		b := inRange.Int64 == 1
		c.InRange = &b
	}
	c.Late = late == 1
	return c, nil
}

// Checkins lists a pairing's check-ins of one month (YYYY-MM), by day and person.
func (db *DB) Checkins(ctx context.Context, pairingID int64, month string) ([]baocun.Checkin, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+checkinColumns+` FROM checkins WHERE pairing_id = ? AND day >= ? AND day < ?
		ORDER BY day, person_id`, pairingID, month+"-01", month+"-32")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Checkin{}
	for rows.Next() {
		c, err := scanCheckin(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ReviewCheckin records the team leader's word on a late check-in waiting for it.
func (db *DB) ReviewCheckin(ctx context.Context, pairingID int64, in baocun.CheckinReview, by string, audit *baocun.AuditEntry) (baocun.Checkin, error) {
	var out baocun.Checkin
	err := db.InTx(ctx, func(tx *Tx) error {
		status := baocun.CheckinRefused
		if in.Accept {
			status = baocun.CheckinOK
		}
		res, err := tx.ExecContext(ctx, `UPDATE checkins SET status = ?, confirmed_by = ?, confirmed_at = ? WHERE pairing_id = ? AND person_id = ? AND day = ? AND status = ?`,
			status, by, FormatTime(time.Now()), pairingID, in.PersonID, in.Date, baocun.CheckinPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return baocun.Errorf(baocun.ECONFLICT, "%s 在 %s 没有待确认的补卡 %s has no late check-in on %s waiting for confirmation.", in.PersonID, in.Date, in.PersonID, in.Date)
		}
		if out, err = scanCheckin(tx.QueryRowContext(ctx, `SELECT `+checkinColumns+` FROM checkins WHERE pairing_id = ? AND person_id = ? AND day = ?`,
			pairingID, in.PersonID, in.Date)); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return out, err
}

// ConfirmMonth records the village's word on a month (YYYY-MM) of a pairing's
// check-ins, once: every day confirmed but those disputed, which no longer count. A
// disputed day with no check-in is EINVALID naming it, and nothing is written. When
// a day is disputed, dispute is written too: the task for the department lead to
// answer, and the event that puts it on the pairing's timeline.
func (db *DB) ConfirmMonth(ctx context.Context, pairingID int64, month string, in baocun.MonthConfirmation, by string, dispute baocun.Change, audit *baocun.AuditEntry) (int, error) {
	disputed := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO checkin_months (pairing_id, month, confirmed_by, confirmed_at, disputed) VALUES (?, ?, ?, ?, 0)
			ON CONFLICT (pairing_id, month) DO NOTHING`, pairingID, month, by, FormatTime(time.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return baocun.Errorf(baocun.ECONFLICT, "%s 月的打卡已确认过 The village has confirmed %s already.", month, month)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE checkins SET village_status = ? WHERE pairing_id = ? AND day >= ? AND day < ?`,
			baocun.VillageConfirmed, pairingID, month+"-01", month+"-32"); err != nil {
			return err
		}
		for i, d := range in.Disputes {
			for j, day := range d.Dates {
				res, err := tx.ExecContext(ctx, `UPDATE checkins SET village_status = ?, village_note = ? WHERE pairing_id = ? AND person_id = ? AND day = ?`,
					baocun.VillageDisputed, d.Reason, pairingID, d.PersonID, day)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					f := fmt.Sprintf("disputes[%d].dates[%d]", i, j)
					return &baocun.Error{Code: baocun.EINVALID, Fields: map[string]string{f: "no check-in"},
						Message: fmt.Sprintf("%s: %s 在 %s 没有打卡，无可异议 %s has no check-in on %s to dispute", f, d.PersonID, day, d.PersonID, day)}
				}
				disputed++
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE checkin_months SET disputed = ? WHERE pairing_id = ? AND month = ?", disputed, pairingID, month); err != nil {
			return err
		}
		if disputed > 0 {
			// Not on a pairing that has ended: no one would answer, or close, its task.
			lock := ""
			if tx.Dialect() == Postgres {
				lock = " FOR UPDATE" // a cancel committing now waits, or is seen
			}
			var stage baocun.Stage
			if err := tx.QueryRowContext(ctx, "SELECT stage FROM pairings WHERE id = ?"+lock, pairingID).Scan(&stage); err != nil {
				return err
			}
			if stage != baocun.StageCancelled && stage != baocun.StageClosed {
				if err := applyChange(ctx, tx, dispute); err != nil {
					return err
				}
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return disputed, err
}

// WatchDisputes reminds and escalates the tasks no workflow watches (a village's
// dispute of check-ins) as the workflows do theirs: a reminder at its remind time
// and an escalation to the organisers once due, each once however many instances
// sweep, each on the pairing's timeline and in the trail. It returns how many it
// recorded.
func (db *DB) WatchDisputes(ctx context.Context, now time.Time) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+taskRead+` FROM tasks WHERE kind = ? AND status = ? AND (reminded_at = '' OR escalated_at = '')
		ORDER BY due_at LIMIT 1000`, baocun.TaskCheckinDispute, baocun.TaskOpen)
	if err != nil {
		return 0, err
	}
	var ts []baocun.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		ts = append(ts, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		steps := []struct {
			column, event, action, note string
			due, done                   bool
		}{
			{"reminded_at", "task.reminded", "task.remind", "due soon", !t.RemindAt.IsZero() && !now.Before(t.RemindAt), t.RemindedAt != nil},
			{"escalated_at", "task.escalated", "task.escalate", "overdue: escalated to the organisers", !now.Before(t.DueAt), t.EscalatedAt != nil},
		}
		for _, s := range steps {
			if !s.due || s.done {
				continue
			}
			cy, err := db.Cycle(ctx, t.CycleID)
			if err != nil {
				return n, err
			}
			err = db.InTx(ctx, func(tx *Tx) error {
				res, err := tx.ExecContext(ctx, "UPDATE tasks SET "+s.column+" = ? WHERE id = ? AND status = ? AND "+s.column+" = ''", FormatTime(now), t.ID, baocun.TaskOpen)
				if err != nil {
					return err
				}
				if k, _ := res.RowsAffected(); k == 0 {
					return nil // another instance did, or the task closed
				}
				n++
				data, _ := json.Marshal(map[string]string{"kind": string(t.Kind), "due_date": t.DueDate})
				pid := strconv.FormatInt(t.PairingID, 10)
				ch := baocun.Change{At: now,
					Events: []baocun.Event{{PairingID: t.PairingID, ProgrammeAt: cy.Clock().Now(now).Format(time.DateOnly), Actor: "system", Kind: s.event,
						TaskID: t.ID, Period: t.Period, Data: data}},
					Audit: []baocun.AuditEntry{{Actor: "system", Action: s.action, Resource: "pairings/" + pid, Jurisdiction: t.Jurisdiction,
						CycleID: strconv.FormatInt(t.CycleID, 10), PairingID: pid, Department: t.Department, Village: t.Village,
						Summary: fmt.Sprintf(`{"task":%q,"kind":%q,"due_date":%q,"note":%q}`, t.ID, t.Kind, t.DueDate, s.note)}}}
				// Named in the change too (already recorded above: written as nothing),
				// so its holders are told as of any task's reminder or escalation.
				if s.column == "reminded_at" {
					ch.Remind = []string{t.ID}
				} else {
					ch.Escalate = []string{t.ID}
				}
				return applyChange(ctx, tx, ch)
			})
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// DisputedPeople are those whose check-ins in month (YYYY-MM) of the pairing the
// village disputed.
func (db *DB) DisputedPeople(ctx context.Context, pairingID int64, month string) ([]string, error) {
	return queryStrings(ctx, db, `SELECT DISTINCT person_id FROM checkins WHERE pairing_id = ? AND village_status = ? AND day >= ? AND day < ? ORDER BY person_id`,
		pairingID, baocun.VillageDisputed, month+"-01", month+"-32")
}

// AnswerDispute closes a dispute task of the pairing with the department lead's
// answer, on the pairing's timeline at programme date day. A task that is not a
// dispute of the pairing is ENOTFOUND; one answered already, ECONFLICT.
func (db *DB) AnswerDispute(ctx context.Context, pairingID int64, in baocun.DecisionInput, by, day string, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		var kind string
		var taskPairing sql.NullInt64
		var period int
		err := tx.QueryRowContext(ctx, "SELECT kind, pairing_id, period FROM tasks WHERE id = ?", in.TaskID).Scan(&kind, &taskPairing, &period)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (kind != string(baocun.TaskCheckinDispute) || taskPairing.Int64 != pairingID) {
			return &baocun.Error{Code: baocun.ENOTFOUND, Fields: map[string]string{"task_id": "no such dispute"},
				Message: fmt.Sprintf("task_id: 本结对没有异议待办 %s pairing %d has no dispute task %s", in.TaskID, pairingID, in.TaskID)}
		}
		if err != nil {
			return err
		}
		data, _ := json.Marshal(map[string]string{"outcome": in.Outcome, "comment": in.Comment})
		now := time.Now()
		if err := applyChange(ctx, tx, baocun.Change{At: now,
			Close:  []baocun.TaskClose{{ID: in.TaskID, Status: baocun.TaskDone, Outcome: in.Outcome, By: by}},
			Events: []baocun.Event{{PairingID: pairingID, ProgrammeAt: day, Actor: by, Kind: "checkins.dispute_answered", TaskID: in.TaskID, Period: period, Data: data}}}); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// MonthConfirmed reports whether the village has confirmed the month (YYYY-MM).
func (db *DB) MonthConfirmed(ctx context.Context, pairingID int64, month string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM checkin_months WHERE pairing_id = ? AND month = ?", pairingID, month).Scan(&n)
	return n > 0, err
}

// CheckinDays counts each member's days in [from, to) (programme dates) that count
// toward the residency rule, by month "YYYY-MM": check-ins on time or confirmed late,
// not disputed by the village nor belied by a spot check, and days of approved leave
// (excused).
func (db *DB) CheckinDays(ctx context.Context, pairingID int64, from, to string) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	add := func(person, month string, n int) {
		if out[person] == nil {
			out[person] = map[string]int{}
		}
		out[person][month] += n
	}
	// A day a spot check found the member absent, with no leave to excuse it, does
	// not count, checked in or not.
	rows, err := db.QueryContext(ctx, `SELECT c.person_id, SUBSTR(c.day, 1, 7), COUNT(*) FROM checkins c
		WHERE c.pairing_id = ? AND c.day >= ? AND c.day < ? AND c.status = ? AND c.village_status <> ?
		AND NOT EXISTS (SELECT 1 FROM spot_checks s JOIN spot_check_people sp ON sp.spot_check_id = s.id
			WHERE s.pairing_id = c.pairing_id AND s.day = c.day AND sp.person_id = c.person_id AND sp.present = 0 AND sp.excused = 0)
		GROUP BY c.person_id, SUBSTR(c.day, 1, 7)`,
		pairingID, from, to, baocun.CheckinOK, baocun.VillageDisputed)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var person, month string
		var n int
		if err := rows.Scan(&person, &month, &n); err != nil {
			rows.Close()
			return nil, err
		}
		add(person, month, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	leave, err := db.Leaves(ctx, pairingID, baocun.LeaveApproved, from, to)
	if err != nil {
		return nil, err
	}
	for _, l := range leave {
		first, _ := time.Parse(time.DateOnly, l.From)
		last, _ := time.Parse(time.DateOnly, l.To)
		for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
			if day := d.Format(time.DateOnly); day >= from && day < to {
				add(l.PersonID, day[:7], 1)
			}
		}
	}
	return out, nil
}

// ServingPairing is the pairing other than except whose team person is on while it
// is running (dispatch to reviews), or nil: one person serves on one active team.
// With pending, a team nominated or a change requested and not yet decided counts too
// (the person named in its latest proposal).
func (db *DB) ServingPairing(ctx context.Context, person string, except int64, pending bool) (*baocun.Pairing, error) {
	running := []any{baocun.StageDispatch, baocun.StageStationed, baocun.StagePlanning, baocun.StageReviews}
	var p baocun.Pairing
	err := db.QueryRowContext(ctx, `SELECT p.id, p.cycle_id, p.department_code, p.village_code, p.stage FROM team_members t JOIN pairings p ON p.id = t.pairing_id
		WHERE t.person_id = ? AND p.id <> ? AND p.stage IN (?, ?, ?, ?) ORDER BY p.id LIMIT 1`, append([]any{person, except}, running...)...).
		Scan(&p.ID, &p.CycleID, &p.Department, &p.Village, &p.Stage)
	if !errors.Is(err, sql.ErrNoRows) || !pending {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return &p, err
	}
	proposals := []any{"team.nominated", "team_change.requested"}
	args := append([]any{except}, running...)
	args = append(args, baocun.TaskOpen, baocun.TaskApproveTeam, baocun.TaskApproveTeamChange)
	args = append(args, proposals...)
	args = append(args, `%"person_id":"`+likeEscaper.Replace(person)+`"%`)
	args = append(args, proposals...)
	err = db.QueryRowContext(ctx, `SELECT p.id, p.cycle_id, p.department_code, p.village_code, p.stage FROM pairings p
		WHERE p.id <> ? AND p.stage IN (?, ?, ?, ?)
		AND EXISTS (SELECT 1 FROM tasks t WHERE t.pairing_id = p.id AND t.status = ? AND t.kind IN (?, ?))
		AND EXISTS (SELECT 1 FROM pairing_events e WHERE e.pairing_id = p.id AND e.kind IN (?, ?) AND e.data LIKE ? ESCAPE '!'
			AND e.id = (SELECT MAX(e2.id) FROM pairing_events e2 WHERE e2.pairing_id = p.id AND e2.kind IN (?, ?)))
		ORDER BY p.id LIMIT 1`, args...).Scan(&p.ID, &p.CycleID, &p.Department, &p.Village, &p.Stage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &p, err
}

// Proposed is the team of the pairing's latest nomination or team change request.
func (db *DB) Proposed(ctx context.Context, pairingID int64) ([]baocun.Member, error) {
	var kind, data string
	err := db.QueryRowContext(ctx, `SELECT kind, data FROM pairing_events WHERE pairing_id = ? AND kind IN (?, ?) ORDER BY id DESC LIMIT 1`,
		pairingID, "team.nominated", "team_change.requested").Scan(&kind, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var team []baocun.Member
	if kind == "team.nominated" {
		err = json.Unmarshal([]byte(data), &team)
	} else {
		var ch struct {
			Team []baocun.Member `json:"team"`
		}
		err = json.Unmarshal([]byte(data), &ch)
		team = ch.Team
	}
	return team, err
}

const leaveColumns = `id, pairing_id, person_id, from_day, to_day, days, kind, reason, status, requested_at, requested_by, decided_by, decided_at, comment`

func scanLeave(row interface{ Scan(...any) error }) (baocun.Leave, error) {
	var l baocun.Leave
	var at, decided string
	if err := row.Scan(&l.ID, &l.PairingID, &l.PersonID, &l.From, &l.To, &l.Days, &l.Kind, &l.Reason, &l.Status, &at, &l.RequestedBy,
		&l.DecidedBy, &decided, &l.Comment); err != nil {
		return l, err
	}
	l.RequestedAt, _ = ParseTime(at)
	if t, _ := ParseTime(decided); !t.IsZero() {
		l.DecidedAt = &t
	}
	return l, nil
}

// leaveOn is person's leave of the status given ("" for requested or approved) that
// overlaps [from, to], or nil.
func leaveOn(ctx context.Context, q Querier, person, from, to, status string) (*baocun.Leave, error) {
	statuses := []any{status, status}
	if status == "" {
		statuses = []any{baocun.LeaveRequested, baocun.LeaveApproved}
	}
	l, err := scanLeave(q.QueryRowContext(ctx, `SELECT `+leaveColumns+` FROM leave_requests WHERE person_id = ? AND status IN (?, ?)
		AND from_day <= ? AND to_day >= ? ORDER BY from_day LIMIT 1`, append([]any{person}, append(statuses, to, from)...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return &l, err
}

// checkinsIn are person's check-in days in [from, to], any pairing.
func checkinsIn(ctx context.Context, q Querier, person, from, to string) ([]string, error) {
	return queryStrings(ctx, q, "SELECT day FROM checkins WHERE person_id = ? AND day >= ? AND day <= ? ORDER BY day LIMIT 10", person, from, to)
}

// queryStrings reads a query's one text column.
func queryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RequestLeave records a member's request. Leave overlapping a check-in of theirs,
// or another request or approved leave, is ECONFLICT naming it.
func (db *DB) RequestLeave(ctx context.Context, l baocun.Leave, audit *baocun.AuditEntry) (baocun.Leave, error) {
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := lockPerson(ctx, tx, l.PersonID); err != nil {
			return err
		}
		if err := leaveFree(ctx, tx, l); err != nil {
			return err
		}
		if other, err := leaveOn(ctx, tx, l.PersonID, l.From, l.To, ""); err != nil {
			return err
		} else if other != nil {
			return baocun.Errorf(baocun.ECONFLICT, "与请假 %d（%s 至 %s，%s）重叠 It overlaps leave %d (%s to %s, %s).",
				other.ID, other.From, other.To, other.Status, other.ID, other.From, other.To, other.Status)
		}
		l.Status, l.RequestedAt = baocun.LeaveRequested, time.Now().UTC().Truncate(time.Millisecond)
		if err := tx.QueryRowContext(ctx, `INSERT INTO leave_requests (pairing_id, person_id, from_day, to_day, days, kind, reason, status, requested_at, requested_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, l.PairingID, l.PersonID, l.From, l.To, l.Days, l.Kind, l.Reason, l.Status,
			FormatTime(l.RequestedAt), l.RequestedBy).Scan(&l.ID); err != nil {
			return err
		}
		if err := linkFiles(ctx, tx, l.PairingID, "leave", fmt.Sprint(l.ID), l.Files); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("pairings/%d/leave/%d", l.PairingID, l.ID)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return l, err
}

// leaveFree refuses leave over days the person checked in.
func leaveFree(ctx context.Context, q Querier, l baocun.Leave) error {
	days, err := checkinsIn(ctx, q, l.PersonID, l.From, l.To)
	if err != nil || len(days) == 0 {
		return err
	}
	return &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{"from": "checked in"}, Message: fmt.Sprintf(
		"请假期间已有打卡：%s Leave overlaps days checked in: %s.", strings.Join(days, ", "), strings.Join(days, ", "))}
}

// Leave returns one leave request of a pairing.
func (db *DB) Leave(ctx context.Context, pairingID, id int64) (baocun.Leave, error) {
	l, err := scanLeave(db.QueryRowContext(ctx, `SELECT `+leaveColumns+` FROM leave_requests WHERE id = ? AND pairing_id = ?`, id, pairingID))
	if errors.Is(err, sql.ErrNoRows) {
		return l, baocun.Errorf(baocun.ENOTFOUND, "结对 %d 没有请假 %d pairing %d has no leave %d", pairingID, id, pairingID, id)
	}
	return l, err
}

// Leaves lists a pairing's leave of a status ("" for all) that overlaps [from, to)
// (empty bounds: all), by start.
func (db *DB) Leaves(ctx context.Context, pairingID int64, status, from, to string) ([]baocun.Leave, error) {
	if to == "" {
		to = "9999-12-31"
	}
	rows, err := db.QueryContext(ctx, `SELECT `+leaveColumns+` FROM leave_requests WHERE pairing_id = ? AND (? = '' OR status = ?)
		AND to_day >= ? AND from_day < ? ORDER BY from_day, id LIMIT 1000`, pairingID, status, status, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Leave{}
	for rows.Next() {
		l, err := scanLeave(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// DecideLeave approves or refuses a request still waiting; approving leave over days
// checked in since is ECONFLICT.
func (db *DB) DecideLeave(ctx context.Context, pairingID, id int64, in baocun.LeaveDecision, by string, audit *baocun.AuditEntry) (baocun.Leave, error) {
	var l baocun.Leave
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		l, err = scanLeave(tx.QueryRowContext(ctx, `SELECT `+leaveColumns+` FROM leave_requests WHERE id = ? AND pairing_id = ?`, id, pairingID))
		if errors.Is(err, sql.ErrNoRows) {
			return baocun.Errorf(baocun.ENOTFOUND, "结对 %d 没有请假 %d pairing %d has no leave %d", pairingID, id, pairingID, id)
		}
		if err != nil {
			return err
		}
		if err := lockPerson(ctx, tx, l.PersonID); err != nil {
			return err
		}
		if l.Status != baocun.LeaveRequested {
			return baocun.Errorf(baocun.ECONFLICT, "请假 %d 已%s Leave %d is %s already.", id, l.Status, id, l.Status)
		}
		l.Status = baocun.LeaveRefused
		if in.Outcome == "approve" {
			if err := leaveFree(ctx, tx, l); err != nil {
				return err
			}
			l.Status = baocun.LeaveApproved
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		l.DecidedBy, l.DecidedAt, l.Comment = by, &now, in.Comment
		res, err := tx.ExecContext(ctx, `UPDATE leave_requests SET status = ?, decided_by = ?, decided_at = ?, comment = ? WHERE id = ? AND status = ?`,
			l.Status, by, FormatTime(now), in.Comment, id, baocun.LeaveRequested)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return baocun.Errorf(baocun.ECONFLICT, "请假 %d 刚被他人处理 Leave %d was decided by someone else just now.", id, id)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return l, err
}

// WithdrawLeave withdraws leave at its requester's word: asked and not yet decided,
// or approved and not yet begun (its first day after today, the programme date
// today gives, read under the person's lock). Once withdrawn it excuses no day and
// holds none; who decided it, and how, stays on its record. Leave decided otherwise,
// or begun, is ECONFLICT.
func (db *DB) WithdrawLeave(ctx context.Context, pairingID, id int64, by string, today func() string, audit *baocun.AuditEntry) (baocun.Leave, error) {
	var l baocun.Leave
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		l, err = scanLeave(tx.QueryRowContext(ctx, `SELECT `+leaveColumns+` FROM leave_requests WHERE id = ? AND pairing_id = ?`, id, pairingID))
		if errors.Is(err, sql.ErrNoRows) {
			return baocun.Errorf(baocun.ENOTFOUND, "结对 %d 没有请假 %d pairing %d has no leave %d", pairingID, id, pairingID, id)
		}
		if err != nil {
			return err
		}
		if err := lockPerson(ctx, tx, l.PersonID); err != nil {
			return err
		}
		switch {
		case l.Status == baocun.LeaveApproved && l.From <= today():
			return baocun.Errorf(baocun.ECONFLICT, "请假 %d 已于 %s 开始，不能撤回 Leave %d began on %s: it cannot be withdrawn.", id, l.From, id, l.From)
		case l.Status != baocun.LeaveRequested && l.Status != baocun.LeaveApproved:
			return baocun.Errorf(baocun.ECONFLICT, "请假 %d 已%s Leave %d is %s already.", id, l.Status, id, l.Status)
		}
		was := l.Status
		l.Status = baocun.LeaveWithdrawn
		res, err := tx.ExecContext(ctx, `UPDATE leave_requests SET status = ? WHERE id = ? AND status = ?`, l.Status, id, was)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return baocun.Errorf(baocun.ECONFLICT, "请假 %d 刚被他人处理 Leave %d was decided by someone else just now.", id, id)
		}
		if audit != nil {
			audit.Action = "leave.withdraw"
			audit.Resource = fmt.Sprintf("pairings/%d/leave/%d", pairingID, id)
			audit.Summary = fmt.Sprintf(`{"was":%q,"from":%q,"to":%q,"person_id":%q}`, was, l.From, l.To, l.PersonID)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return l, err
}

// AddSpotCheck records a spot check; an absence is excused when the person's approved
// leave covers the day.
func (db *DB) AddSpotCheck(ctx context.Context, sc baocun.SpotCheck, audit *baocun.AuditEntry) (baocun.SpotCheck, error) {
	err := db.InTx(ctx, func(tx *Tx) error {
		sc.RecordedAt = time.Now().UTC().Truncate(time.Millisecond)
		if err := tx.QueryRowContext(ctx, `INSERT INTO spot_checks (pairing_id, day, note, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			sc.PairingID, sc.Day, sc.Note, FormatTime(sc.RecordedAt), sc.RecordedBy).Scan(&sc.ID); err != nil {
			return err
		}
		// An absence is judged against the person's leave under their lock, so no
		// withdrawal slips between; the locks taken in one order, so two spot checks
		// never wait on each other.
		var absent []string
		for _, p := range sc.People {
			if !p.Present {
				absent = append(absent, p.PersonID)
			}
		}
		slices.Sort(absent)
		for _, person := range slices.Compact(absent) {
			if err := lockPerson(ctx, tx, person); err != nil {
				return err
			}
		}
		for i, p := range sc.People {
			if !p.Present {
				l, err := leaveOn(ctx, tx, p.PersonID, sc.Day, sc.Day, baocun.LeaveApproved)
				if err != nil {
					return err
				}
				sc.People[i].Excused = l != nil
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO spot_check_people (spot_check_id, person_id, present, excused) VALUES (?, ?, ?, ?)",
				sc.ID, p.PersonID, boolInt(p.Present), boolInt(sc.People[i].Excused)); err != nil {
				return err
			}
		}
		if err := linkFiles(ctx, tx, sc.PairingID, "spot_check", fmt.Sprint(sc.ID), sc.Files); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("pairings/%d/spot-checks/%d", sc.PairingID, sc.ID)
			audit.Summary = fmt.Sprintf(`{"date":%q,"present":%d,"absent":%d,"unexcused":%d}`, sc.Day, len(sc.People)-countAbsent(sc.People), countAbsent(sc.People), sc.Unexcused())
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return sc, err
}

func countAbsent(ps []baocun.SpotCheckEntry) int {
	n := 0
	for _, p := range ps {
		if !p.Present {
			n++
		}
	}
	return n
}

// SpotCheckTally counts a pairing's spot checks and the absences (a person's day)
// they found that approved leave did not excuse.
func (db *DB) SpotCheckTally(ctx context.Context, pairingID int64) (checks, unexcused int, err error) {
	// An absence is a person's day: the same one recorded twice (a retry, a second
	// inspector) counts once, as the residency rule counts it.
	err = db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT s.id), COUNT(DISTINCT CASE WHEN p.present = 0 AND p.excused = 0 THEN s.day || '|' || p.person_id END)
		FROM spot_checks s LEFT JOIN spot_check_people p ON p.spot_check_id = s.id WHERE s.pairing_id = ?`, pairingID).Scan(&checks, &unexcused)
	return checks, unexcused, err
}

// SpotChecks lists a pairing's spot checks, newest first (at most 500).
func (db *DB) SpotChecks(ctx context.Context, pairingID int64) ([]baocun.SpotCheck, error) {
	rows, err := db.QueryContext(ctx, `SELECT s.id, s.day, s.note, s.recorded_at, s.recorded_by, p.person_id, p.present, p.excused
		FROM spot_checks s JOIN spot_check_people p ON p.spot_check_id = s.id WHERE s.pairing_id = ?
		ORDER BY s.day DESC, s.id DESC, p.person_id LIMIT 25000`, pairingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.SpotCheck{}
	for rows.Next() {
		var sc baocun.SpotCheck
		var at string
		var e baocun.SpotCheckEntry
		var present, excused int
		if err := rows.Scan(&sc.ID, &sc.Day, &sc.Note, &at, &sc.RecordedBy, &e.PersonID, &present, &excused); err != nil {
			return nil, err
		}
		e.Present, e.Excused = present == 1, excused == 1
		if n := len(out); n > 0 && out[n-1].ID == sc.ID {
			out[n-1].People = append(out[n-1].People, e)
			continue
		}
		if len(out) == 500 {
			break
		}
		sc.PairingID = pairingID
		sc.RecordedAt, _ = ParseTime(at)
		sc.People = []baocun.SpotCheckEntry{e}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// AddLogEntry records a work log entry.
func (db *DB) AddLogEntry(ctx context.Context, e baocun.LogEntry, audit *baocun.AuditEntry) (baocun.LogEntry, error) {
	err := db.InTx(ctx, func(tx *Tx) error {
		e.RecordedAt = time.Now().UTC().Truncate(time.Millisecond)
		if err := tx.QueryRowContext(ctx, `INSERT INTO work_log (pairing_id, day, kind, goal, text, person_id, recorded_at, recorded_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, e.PairingID, e.Day, e.Kind, e.Goal, e.Text, e.PersonID,
			FormatTime(e.RecordedAt), e.RecordedBy).Scan(&e.ID); err != nil {
			return err
		}
		if err := linkFiles(ctx, tx, e.PairingID, "work_log", fmt.Sprint(e.ID), e.Files); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("pairings/%d/log/%d", e.PairingID, e.ID)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return e, err
}

// likeEscaper escapes LIKE's wildcards in a search term (ESCAPE '!').
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// LogEntries lists a pairing's work log, newest first, filtered by f.
func (db *DB) LogEntries(ctx context.Context, pairingID int64, f baocun.LogFilter) ([]baocun.LogEntry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	if f.To == "" {
		f.To = "9999-12-31"
	}
	if f.Before <= 0 {
		f.Before = math.MaxInt64
	}
	q := "%" + likeEscaper.Replace(f.Q) + "%"
	rows, err := db.QueryContext(ctx, `SELECT id, pairing_id, day, kind, goal, text, person_id, recorded_at, recorded_by FROM work_log
		WHERE pairing_id = ? AND day >= ? AND day <= ? AND id < ? AND (text LIKE ? ESCAPE '!' OR goal LIKE ? ESCAPE '!')
		ORDER BY id DESC LIMIT ?`, pairingID, f.From, f.To, f.Before, q, q, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.LogEntry{}
	for rows.Next() {
		var e baocun.LogEntry
		var at string
		if err := rows.Scan(&e.ID, &e.PairingID, &e.Day, &e.Kind, &e.Goal, &e.Text, &e.PersonID, &at, &e.RecordedBy); err != nil {
			return nil, err
		}
		e.RecordedAt, _ = ParseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LeaveRun is the length in days of the unbroken run of the person's leave, asked
// or approved, that l joins (l itself included): a department lead's limit is on
// the run, so splitting a long absence into short requests gains nothing.
func (db *DB) LeaveRun(ctx context.Context, l baocun.Leave) (int, error) {
	from, err := time.Parse(time.DateOnly, l.From)
	if err != nil {
		return 0, err
	}
	to, err := time.Parse(time.DateOnly, l.To)
	if err != nil {
		return 0, err
	}
	rows, err := db.QueryContext(ctx, `SELECT from_day, to_day FROM leave_requests WHERE person_id = ? AND status IN (?, ?) AND id <> ?
		AND to_day >= ? AND from_day <= ? ORDER BY from_day LIMIT 400`, l.PersonID, baocun.LeaveRequested, baocun.LeaveApproved, l.ID,
		from.AddDate(0, 0, -400).Format(time.DateOnly), to.AddDate(0, 0, 400).Format(time.DateOnly))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	type span struct{ from, to time.Time }
	var spans []span
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return 0, err
		}
		fa, _ := time.Parse(time.DateOnly, a)
		tb, _ := time.Parse(time.DateOnly, b)
		spans = append(spans, span{fa, tb})
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	// Grow [from, to] by every span touching it until none does.
	for grown := true; grown; {
		grown = false
		for _, s := range spans {
			if !s.to.Before(from.AddDate(0, 0, -1)) && !s.from.After(to.AddDate(0, 0, 1)) && (s.from.Before(from) || s.to.After(to)) {
				from, to = minTime(from, s.from), maxTime(to, s.to)
				grown = true
			}
		}
	}
	return int(to.Sub(from).Hours()/24) + 1, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

const fileColumns = "id, sha256, size, content_type, name, pairing_id, thumb_sha256, uploaded_by, uploaded_at"

func scanFile(row interface{ Scan(...any) error }) (baocun.File, error) {
	var f baocun.File
	var at string
	if err := row.Scan(&f.ID, &f.SHA256, &f.Size, &f.ContentType, &f.Name, &f.PairingID, &f.ThumbSHA256, &f.UploadedBy, &at); err != nil {
		return f, err
	}
	f.UploadedAt, _ = ParseTime(at)
	f.Thumbnail = f.ThumbSHA256 != ""
	return f, nil
}

// AddFile records an uploaded file (its content already in the blob store).
func (db *DB) AddFile(ctx context.Context, f baocun.File, quota int64, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if quota > 0 {
			// One uploader's uploads to one pairing, one at a time (SQLite's writer is one already).
			if tx.Dialect() == Postgres {
				if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.files:' || ? || ':' || ?))", fmt.Sprint(f.PairingID), f.UploadedBy); err != nil {
					return err
				}
			}
			used, err := filesSize(ctx, tx, f.PairingID, f.UploadedBy)
			if err != nil {
				return err
			}
			var held int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM files WHERE pairing_id = ? AND uploaded_by = ? AND sha256 = ?", f.PairingID, f.UploadedBy, f.SHA256).Scan(&held); err != nil {
				return err
			}
			if held == 0 && used+f.Size > quota {
				return baocun.QuotaReached(quota)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO files (`+fileColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.SHA256, f.Size, f.ContentType, f.Name, f.PairingID, f.ThumbSHA256, f.UploadedBy, FormatTime(f.UploadedAt)); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// File returns one file's record.
func (db *DB) File(ctx context.Context, id string) (baocun.File, error) {
	f, err := scanFile(db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, baocun.Errorf(baocun.ENOTFOUND, "没有这个文件 No such file: %s", id)
	}
	return f, err
}

// Files lists a pairing's files, newest first (at most 1,000).
func (db *DB) Files(ctx context.Context, pairingID int64) ([]baocun.File, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+fileColumns+` FROM files WHERE pairing_id = ? ORDER BY uploaded_at DESC, id LIMIT 1000`, pairingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.File{}
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// linkFiles names files as the evidence of a record (kind, ref) of the pairing: each
// must be a file uploaded to that pairing, else EINVALID naming it, and nothing is
// written (the caller's transaction).
func linkFiles(ctx context.Context, tx *Tx, pairingID int64, kind, ref string, ids []string) error {
	for i, id := range ids {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM files WHERE id = ? AND pairing_id = ?", id, pairingID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return baocun.NoSuchFile(fmt.Sprintf("files[%d]", i), pairingID, id)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO file_links (file_id, kind, ref) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", id, kind, ref); err != nil {
			return err
		}
	}
	return nil
}

// FilesSize is the size of what one uploader has put in a pairing: each content
// once, however often it was uploaded.
func (db *DB) FilesSize(ctx context.Context, pairingID int64, uploader string) (int64, error) {
	return filesSize(ctx, db, pairingID, uploader)
}

func filesSize(ctx context.Context, q Querier, pairingID int64, uploader string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT sha256, size FROM files WHERE pairing_id = ? AND uploaded_by = ?) x`,
		pairingID, uploader).Scan(&n)
	return n, err
}

// NotFiles are those of ids that are not files of the pairing, in ids' order.
func (db *DB) NotFiles(ctx context.Context, pairingID int64, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{pairingID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := db.QueryContext(ctx, "SELECT id FROM files WHERE pairing_id = ? AND id IN (?"+strings.Repeat(", ?", len(ids)-1)+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		held[id] = true
	}
	var out []string
	for _, id := range ids {
		if !held[id] {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// FileKinds are the kinds of record that name a file as their evidence.
func (db *DB) FileKinds(ctx context.Context, fileID string) ([]string, error) {
	return queryStrings(ctx, db, "SELECT DISTINCT kind FROM file_links WHERE file_id = ? ORDER BY kind", fileID)
}
