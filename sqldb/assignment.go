package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"baocun"
)

// Running the programme day to day (issue 19): tasks assigned and delegated, due
// dates moved, notes and reminders kept with a task, inspection teams.

// moveDue writes a task's new due date; its escalation, if any, is withdrawn.
func moveDue(ctx context.Context, tx *Tx, d baocun.TaskDue, at string) error {
	var from string
	err := tx.QueryRowContext(ctx, "SELECT due_date FROM tasks WHERE id = ? AND status = ?", d.ID, baocun.TaskOpen).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // closed meanwhile: the workflow's state says so too
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET first_due_date = CASE WHEN first_due_date = '' THEN due_date ELSE first_due_date END,
		due_at = ?, due_date = ?, remind_at = CASE WHEN reminded_at = '' THEN ? ELSE remind_at END, escalated_at = '' WHERE id = ?`, FormatTime(d.DueAt), d.DueDate, FormatTime(d.RemindAt), d.ID); err != nil {
		return err
	}
	return taskAction(ctx, tx, d.ID, at, d.By, "due", map[string]string{"from": from, "to": d.DueDate, "reason": d.Reason})
}

// taskAction keeps what was done about a task with it.
func taskAction(ctx context.Context, tx *Tx, id, at, actor, action string, detail map[string]string) error {
	data, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO task_actions (task_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)", id, at, actor, action, string(data))
	return err
}

// TaskActions are what was done about a task besides deciding it, oldest first.
func (db *DB) TaskActions(ctx context.Context, id string) ([]baocun.TaskAction, error) {
	// The latest thousand, oldest first.
	rows, err := db.QueryContext(ctx, `SELECT at, actor, action, detail FROM (SELECT id, at, actor, action, detail FROM task_actions
		WHERE task_id = ? ORDER BY id DESC LIMIT 1000) latest ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.TaskAction{}
	for rows.Next() {
		var a baocun.TaskAction
		var at, detail string
		if err := rows.Scan(&at, &a.Actor, &a.Action, &detail); err != nil {
			return nil, err
		}
		a.At, _ = ParseTime(at)
		_ = json.Unmarshal([]byte(detail), &a.Detail)
		out = append(out, a)
	}
	return out, rows.Err()
}

// openTask reads an open task in tx, locking its row on PostgreSQL, so an
// assignment and a delegation of one task are taken one after the other.
func openTask(ctx context.Context, tx *Tx, id string) (*baocun.Task, error) {
	q := "SELECT " + taskRead + " FROM tasks WHERE id = ?"
	if tx.Dialect() == Postgres {
		q += " FOR UPDATE"
	}
	t, err := scanTask(tx.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个待办 No such task: " + id}
	}
	if err != nil {
		return nil, err
	}
	if t.Status != baocun.TaskOpen {
		return nil, baocun.Errorf(baocun.ECONFLICT, "待办 %s 已办结（%s） Task %s is %s, not open.", id, t.Status, id, t.Status)
	}
	return &t, nil
}

// CouldTake reports whether username's roles, in their scope, let them act on task
// id, whoever it is assigned to: whom a task may be given to.
func (db *DB) CouldTake(ctx context.Context, username, id string) (bool, error) {
	u, err := userWhere(ctx, db, "u.username = ?", username)
	if err != nil {
		return false, err
	}
	if u.Disabled {
		return false, nil
	}
	cond, args := inboxCondition(u, time.Now(), false)
	if cond == "" {
		return false, nil
	}
	var one int
	err = db.QueryRowContext(ctx, "SELECT 1 FROM tasks WHERE id = ? AND status = ? AND "+cond, append([]any{id, baocun.TaskOpen}, args...)...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// HeldBy answers whether username may take the open tasks a step acts on — task id,
// or with no id the pairing's open tasks of kind — as far as assignment goes: none
// of them is assigned to someone else (who has not delegated it to username), and
// a pairing assigned to an inspection team is scored by that team only. It returns
// the holder of the first task username may not take.
func (db *DB) HeldBy(ctx context.Context, username string, pairingID int64, id string, kind baocun.TaskKind, now time.Time) (string, error) {
	at := FormatTime(now)
	q := `SELECT assignee FROM tasks WHERE status = ? AND `
	args := []any{baocun.TaskOpen}
	if id != "" {
		q += "id = ?"
		args = append(args, id)
	} else {
		q += "pairing_id = ? AND kind = ?"
		args = append(args, pairingID, kind)
	}
	q += ` AND NOT (` + assignedTo + ` AND (kind <> ? OR pairing_id NOT IN (SELECT pairing_id FROM inspection_assignments)
		OR pairing_id IN (SELECT a.pairing_id FROM inspection_assignments a JOIN inspection_team_members m ON m.team_id = a.team_id WHERE m.username = ?))) LIMIT 1`
	args = append(args, username, username, at, at, baocun.TaskScore, username)
	var holder string
	err := db.QueryRowContext(ctx, q, args...).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if holder == "" {
		holder = "检查验收组 the pairing's inspection team"
	}
	return holder, nil
}

// Reassign gives task id to account to, with the audit entry; the task's
// delegations end with its holder.
func (db *DB) Reassign(ctx context.Context, id, to, by, reason string, audit *baocun.AuditEntry) error {
	now := FormatTime(time.Now())
	return db.InTx(ctx, func(tx *Tx) error {
		t, err := openTask(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE tasks SET assignee = ? WHERE id = ?", to, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE delegations SET revoked_at = ? WHERE task_id = ? AND revoked_at = ''", now, id); err != nil {
			return err
		}
		if err := taskAction(ctx, tx, id, now, by, "reassign", map[string]string{"from": t.Assignee, "to": to, "reason": reason}); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// DelegateTask hands task id from its holder by to account to until until. A task
// of its role's pool (anyone of the role may take it) or someone else's is not by's
// to hand on.
func (db *DB) DelegateTask(ctx context.Context, id, by, to string, until time.Time, reason string, audit *baocun.AuditEntry) (*baocun.Delegation, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	var out *baocun.Delegation
	err := db.InTx(ctx, func(tx *Tx) error {
		t, err := openTask(ctx, tx, id)
		if err != nil {
			return err
		}
		switch t.Assignee {
		case "":
			return baocun.Errorf(baocun.ECONFLICT, "待办 %s 未指派给任何人：请组织部门改派 Task %s is its role's pool's, not one account's: an organiser assigns it first.", id, id)
		case by:
		default:
			return baocun.Errorf(baocun.ECONFLICT, "待办 %s 已指派给 %s，只有其本人可委托 Task %s is assigned to %s: only they delegate it.", id, t.Assignee, id, t.Assignee)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE delegations SET revoked_at = ? WHERE task_id = ? AND revoked_at = ''", FormatTime(now), id); err != nil {
			return err
		}
		d := baocun.Delegation{Delegator: by, Delegate: to, TaskID: id, StartsAt: now, Until: until, Reason: reason, CreatedAt: now}
		if out, err = insertDelegation(ctx, tx, d); err != nil {
			return err
		}
		if err := taskAction(ctx, tx, id, FormatTime(now), by, "delegate", map[string]string{"to": to, "until": FormatTime(until), "reason": reason}); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return out, err
}

func insertDelegation(ctx context.Context, tx *Tx, d baocun.Delegation) (*baocun.Delegation, error) {
	err := tx.QueryRowContext(ctx, `INSERT INTO delegations (delegator, delegate, task_id, starts_at, until, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, d.Delegator, d.Delegate, d.TaskID, FormatTime(d.StartsAt), FormatTime(d.Until), d.Reason, FormatTime(d.CreatedAt)).Scan(&d.ID)
	return &d, err
}

// MaxActiveDelegations bounds the delegations one account has running or ahead.
const MaxActiveDelegations = 20

// Delegate stores a delegation of all d.Delegator's assigned tasks, with the audit
// entry.
func (db *DB) Delegate(ctx context.Context, d baocun.Delegation, audit *baocun.AuditEntry) (*baocun.Delegation, error) {
	var out *baocun.Delegation
	err := db.InTx(ctx, func(tx *Tx) error {
		if tx.Dialect() == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.delegations:' || ?))", d.Delegator); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM delegations WHERE delegator = ? AND revoked_at = '' AND until > ?",
			d.Delegator, FormatTime(d.CreatedAt)).Scan(&n); err != nil {
			return err
		}
		if n >= MaxActiveDelegations {
			return baocun.Errorf(baocun.ECONFLICT, "已有 %d 项代理未到期 %d delegations are running or ahead: revoke one first.", n, n)
		}
		var err error
		if out, err = insertDelegation(ctx, tx, d); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("delegations/%d", out.ID)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return out, err
}

const delegationColumns = "id, delegator, delegate, task_id, starts_at, until, reason, created_at, revoked_at"

func scanDelegation(row interface{ Scan(...any) error }) (baocun.Delegation, error) {
	var d baocun.Delegation
	var starts, until, created, revoked string
	if err := row.Scan(&d.ID, &d.Delegator, &d.Delegate, &d.TaskID, &starts, &until, &d.Reason, &created, &revoked); err != nil {
		return d, err
	}
	d.StartsAt, _ = ParseTime(starts)
	d.Until, _ = ParseTime(until)
	d.CreatedAt, _ = ParseTime(created)
	d.Revoked = revoked != ""
	return d, nil
}

// Delegations are username's delegations, given or received, that have not ended,
// the newest first.
func (db *DB) Delegations(ctx context.Context, username string, now time.Time) ([]baocun.Delegation, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+delegationColumns+` FROM delegations
		WHERE (delegator = ? OR delegate = ?) AND revoked_at = '' AND until > ? ORDER BY id DESC LIMIT 200`, username, username, FormatTime(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Delegation{}
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RevokeDelegation ends delegation id, which must be by's, with the audit entry.
func (db *DB) RevokeDelegation(ctx context.Context, id int64, by string, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE delegations SET revoked_at = ? WHERE id = ? AND delegator = ? AND revoked_at = ''", FormatTime(time.Now()), id, by)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("没有您的这项代理 No delegation %d of yours is running.", id)}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// RemindEvery is how often a task may be reminded by hand.
const RemindEvery = time.Hour

// NoteTask keeps an action (a note, a reminder by hand) with each task, with the
// audit entry: all of them or none (an id that is no open task is named).
func (db *DB) NoteTask(ctx context.Context, ids []string, actor, action string, detail map[string]string, audit *baocun.AuditEntry) error {
	now := FormatTime(time.Now())
	return db.InTx(ctx, func(tx *Tx) error {
		for i, id := range ids {
			if _, err := openTask(ctx, tx, id); err != nil {
				if e, ok := err.(*baocun.Error); ok && len(ids) > 1 {
					e.Fields = map[string]string{fmt.Sprintf("task_ids[%d]", i): id}
				}
				return err
			}
			if action == "remind" {
				// One reminder by hand a task an hour: a loop of them floods nobody.
				var last int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM task_actions WHERE task_id = ? AND action = 'remind' AND at > ?",
					id, FormatTime(time.Now().Add(-RemindEvery))).Scan(&last); err != nil {
					return err
				}
				if last > 0 {
					e := baocun.Errorf(baocun.ECONFLICT, "待办 %s 一小时内已催办 Task %s was reminded within the hour.", id, id)
					if len(ids) > 1 {
						e.Fields = map[string]string{fmt.Sprintf("task_ids[%d]", i): id}
					}
					return e
				}
				if err := enqueueReminder(ctx, tx, id, actor, now, detail["text"]); err != nil {
					return err
				}
			}
			if err := taskAction(ctx, tx, id, now, actor, action, detail); err != nil {
				return err
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// CreateInspectionTeam stores a cycle's inspection team of raters, with the audit
// entry.
func (db *DB) CreateInspectionTeam(ctx context.Context, in baocun.InspectionTeamInput, by string, audit *baocun.AuditEntry) (*baocun.InspectionTeam, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	var id int64
	err := db.InTx(ctx, func(tx *Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, "SELECT status FROM cycles WHERE id = ?", in.CycleID).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return &baocun.Error{Code: baocun.EINVALID, Message: "没有这一轮 No such cycle", Fields: map[string]string{"cycle_id": "no such cycle"}}
			}
			return err
		}
		if status == baocun.CycleCancelled || status == baocun.CycleClosed {
			return &baocun.Error{Code: baocun.ECONFLICT, Message: fmt.Sprintf("这一轮已%s Cycle %d is %s.", status, in.CycleID, status), Fields: map[string]string{"cycle_id": status}}
		}
		if err := lockInspection(ctx, tx, in.CycleID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM inspection_teams WHERE cycle_id = ? AND name = ?", in.CycleID, in.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &baocun.Error{Code: baocun.ECONFLICT, Message: "本轮已有同名检查验收组 The cycle has a team of that name.", Fields: map[string]string{"name": "taken"}}
		}
		if err := tx.QueryRowContext(ctx, "INSERT INTO inspection_teams (cycle_id, name, created_by, created_at) VALUES (?, ?, ?, ?) RETURNING id",
			in.CycleID, in.Name, by, FormatTime(now)).Scan(&id); err != nil {
			return err
		}
		for _, m := range in.Members {
			if _, err := tx.ExecContext(ctx, "INSERT INTO inspection_team_members (team_id, username) VALUES (?, ?)", id, m); err != nil {
				return err
			}
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("inspection-teams/%d", id)
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	if err != nil {
		return nil, err
	}
	teams, err := db.InspectionTeams(ctx, in.CycleID)
	if err != nil {
		return nil, err
	}
	for i := range teams {
		if teams[i].ID == id {
			return &teams[i], nil
		}
	}
	return nil, fmt.Errorf("inspection team %d not found after insert", id)
}

// InspectionTeams are a cycle's teams with their members (and the departments they
// may not score) and pairings.
func (db *DB) InspectionTeams(ctx context.Context, cycleID int64) ([]baocun.InspectionTeam, error) {
	return inspectionTeams(ctx, db, cycleID)
}

func inspectionTeams(ctx context.Context, q Querier, cycleID int64) ([]baocun.InspectionTeam, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, cycle_id, name, created_by, created_at FROM inspection_teams WHERE cycle_id = ? ORDER BY id", cycleID)
	if err != nil {
		return nil, err
	}
	out := []baocun.InspectionTeam{}
	for rows.Next() {
		var t baocun.InspectionTeam
		var created string
		if err := rows.Scan(&t.ID, &t.CycleID, &t.Name, &t.CreatedBy, &created); err != nil {
			rows.Close()
			return nil, err
		}
		t.CreatedAt, _ = ParseTime(created)
		t.Members, t.Pairings = []baocun.Rater{}, []int64{}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		mrows, err := q.QueryContext(ctx, `SELECT m.username, COALESCE(p.department_code, u.department_code, '') FROM inspection_team_members m
			LEFT JOIN users u ON u.username = m.username LEFT JOIN people p ON p.id = u.person_id WHERE m.team_id = ? ORDER BY m.username`, out[i].ID)
		if err != nil {
			return nil, err
		}
		for mrows.Next() {
			var r baocun.Rater
			if err := mrows.Scan(&r.Username, &r.Department); err != nil {
				mrows.Close()
				return nil, err
			}
			out[i].Members = append(out[i].Members, r)
		}
		mrows.Close()
		prows, err := q.QueryContext(ctx, "SELECT pairing_id FROM inspection_assignments WHERE team_id = ? ORDER BY pairing_id", out[i].ID)
		if err != nil {
			return nil, err
		}
		for prows.Next() {
			var id int64
			if err := prows.Scan(&id); err != nil {
				prows.Close()
				return nil, err
			}
			out[i].Pairings = append(out[i].Pairings, id)
		}
		prows.Close()
	}
	return out, nil
}

// raterCounties are, for each rater of a team, the counties they hold the reviewer
// role in ("*": all): a team scores a pairing only where each of its raters may.
func raterCounties(ctx context.Context, tx *Tx, teamID int64) (map[string][]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT m.username, COALESCE(r.v2, '') FROM inspection_team_members m
		LEFT JOIN casbin_rule r ON r.ptype = 'g' AND r.v0 = m.username AND r.v1 = ? WHERE m.team_id = ?`, baocun.RoleReviewer, teamID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var name, county string
		if err := rows.Scan(&name, &county); err != nil {
			return nil, err
		}
		out[name] = append(out[name], county)
	}
	return out, rows.Err()
}

// mayScore reports whether every rater (their counties) may score a pairing in county.
func mayScore(raters map[string][]string, county string) bool {
	for _, cs := range raters {
		if !slices.Contains(cs, baocun.CityJurisdiction) && !slices.Contains(cs, county) {
			return false
		}
	}
	return true
}

// raterDepartments are the departments a team's raters belong to (by account and
// by the directory), which its pairings may not be of.
func raterDepartments(ctx context.Context, tx *Tx, teamID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.department_code, COALESCE(p.department_code, '') FROM inspection_team_members m
		JOIN users u ON u.username = m.username LEFT JOIN people p ON p.id = u.person_id WHERE m.team_id = ?`, teamID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		for _, d := range []string{a, b} {
			if d != "" && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out, rows.Err()
}

// lockInspection serialises assignments of a cycle's pairings on PostgreSQL, so
// loads are counted and written as one.
func lockInspection(ctx context.Context, tx *Tx, cycleID int64) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.inspection:' || ?))", fmt.Sprint(cycleID))
	return err
}

// AssignPairings assigns pairings to team teamID, all or none: each must be a
// pairing of the team's cycle not closed or cancelled, and of no rater's own
// department (named by its index when not). With none named, every open pairing of
// the cycle no team scores yet goes to the team, of those whose raters are not of
// its department, with the fewest pairings (balanced load); a pairing no team may
// score is left, and listed.
func (db *DB) AssignPairings(ctx context.Context, cycleID, teamID int64, ids []int64, audit *baocun.AuditEntry) (assigned int, left []int64, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		assigned, left = 0, nil
		if err := lockInspection(ctx, tx, cycleID); err != nil {
			return err
		}
		teams, err := inspectionTeams(ctx, tx, cycleID)
		if err != nil {
			return err
		}
		var n int
		depts := map[int64][]string{}
		scopes := map[int64]map[string][]string{}
		load := map[int64]int{}
		for _, t := range teams {
			if depts[t.ID], err = raterDepartments(ctx, tx, t.ID); err != nil {
				return err
			}
			if scopes[t.ID], err = raterCounties(ctx, tx, t.ID); err != nil {
				return err
			}
			// The load is the team's pairings still to be scored.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM inspection_assignments a JOIN pairings p ON p.id = a.pairing_id
				WHERE a.team_id = ? AND p.stage NOT IN (?, ?)`, t.ID, baocun.StageCancelled, baocun.StageClosed).Scan(&n); err != nil {
				return err
			}
			load[t.ID] = n
		}
		if teamID != 0 {
			if _, ok := depts[teamID]; !ok {
				return &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("本轮没有检查验收组 %d No inspection team %d in cycle %d", teamID, teamID, cycleID)}
			}
		}
		type pairing struct {
			id                 int64
			department, county string
		}
		var ps []pairing
		if len(ids) > 0 {
			for i, id := range ids {
				var p pairing
				var cycle int64
				var stage string
				field := fmt.Sprintf("pairing_ids[%d]", i)
				if slices.Index(ids, id) < i {
					return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s: 结对 %d 重复 pairing %d is named twice", field, id, id), Fields: map[string]string{field: "twice"}}
				}
				err := tx.QueryRowContext(ctx, "SELECT id, department_code, county, cycle_id, stage FROM pairings WHERE id = ?", id).Scan(&p.id, &p.department, &p.county, &cycle, &stage)
				if errors.Is(err, sql.ErrNoRows) || (err == nil && cycle != cycleID) {
					return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s: 结对 %d 不属于本轮 pairing %d is not of cycle %d", field, id, id, cycleID), Fields: map[string]string{field: "not of the cycle"}}
				}
				if err != nil {
					return err
				}
				if stage == string(baocun.StageCancelled) || stage == string(baocun.StageClosed) {
					return &baocun.Error{Code: baocun.ECONFLICT, Message: fmt.Sprintf("%s: 结对 %d 已%s pairing %d is %s", field, id, baocun.StageNames[baocun.Stage(stage)], id, stage), Fields: map[string]string{field: stage}}
				}
				if !mayScore(scopes[teamID], p.county) {
					return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s: 该组有评分人员不能检查%s的结对 %d pairing %d is in %s, where a rater of the team holds no reviewer role",
						field, p.county, id, id, p.county), Fields: map[string]string{field: "outside a rater's jurisdiction"}}
				}
				var scored int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM pairing_events WHERE pairing_id = ? AND kind = 'acceptance.scored'", id).Scan(&scored); err != nil {
					return err
				}
				if scored > 0 {
					return &baocun.Error{Code: baocun.ECONFLICT, Message: fmt.Sprintf("%s: 结对 %d 已有评分，不再改组 pairing %d has scores: its team does not change now", field, id, id), Fields: map[string]string{field: "scored"}}
				}
				if slices.Contains(depts[teamID], p.department) {
					return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s: 结对 %d 是评分人员本部门（%s）的，不能由该组检查验收 pairing %d is of department %s, a rater's own",
						field, id, p.department, id, p.department), Fields: map[string]string{field: "a rater's own department"}}
				}
				ps = append(ps, p)
			}
		} else {
			rows, err := tx.QueryContext(ctx, `SELECT id, department_code, county FROM pairings WHERE cycle_id = ? AND stage NOT IN (?, ?)
				AND id NOT IN (SELECT pairing_id FROM inspection_assignments) ORDER BY id`, cycleID, baocun.StageCancelled, baocun.StageClosed)
			if err != nil {
				return err
			}
			for rows.Next() {
				var p pairing
				if err := rows.Scan(&p.id, &p.department, &p.county); err != nil {
					rows.Close()
					return err
				}
				ps = append(ps, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, p := range ps {
			to := teamID
			if len(ids) == 0 {
				to = 0
				for _, t := range teams { // the eligible team with the fewest, the first of equals
					if !slices.Contains(depts[t.ID], p.department) && mayScore(scopes[t.ID], p.county) && (to == 0 || load[t.ID] < load[to]) {
						to = t.ID
					}
				}
				if to == 0 {
					left = append(left, p.id)
					continue
				}
			}
			var prev int64
			err := tx.QueryRowContext(ctx, "SELECT team_id FROM inspection_assignments WHERE pairing_id = ?", p.id).Scan(&prev)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, "INSERT INTO inspection_assignments (pairing_id, team_id) VALUES (?, ?)", p.id, to); err != nil {
					return err
				}
			case err != nil:
				return err
			default:
				if _, err := tx.ExecContext(ctx, "UPDATE inspection_assignments SET team_id = ? WHERE pairing_id = ?", to, p.id); err != nil {
					return err
				}
				load[prev]--
			}
			load[to]++
			assigned++
		}
		if audit != nil {
			audit.Summary = jsonSummary(map[string]any{"team": teamID, "assigned": assigned, "left": len(left)})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return assigned, left, err
}

// InspectionTeamCycle is the cycle of inspection team id.
func (db *DB) InspectionTeamCycle(ctx context.Context, id int64) (int64, error) {
	var cycle int64
	err := db.QueryRowContext(ctx, "SELECT cycle_id FROM inspection_teams WHERE id = ?", id).Scan(&cycle)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("没有检查验收组 %d No inspection team %d", id, id)}
	}
	return cycle, err
}

// enqueueReminder tells the task's audience of a reminder sent by hand, in the
// transaction that records it.
func enqueueReminder(ctx context.Context, tx *Tx, id, actor, at, note string) error {
	var pairing sql.NullInt64
	var cycle int64
	if err := tx.QueryRowContext(ctx, "SELECT pairing_id, cycle_id FROM tasks WHERE id = ?", id).Scan(&pairing, &cycle); err != nil {
		return err
	}
	when, _ := ParseTime(at)
	var data json.RawMessage
	if note != "" {
		data, _ = json.Marshal(map[string]string{"note": note})
	}
	return EnqueueTx(ctx, tx, baocun.Outbound{Kind: baocun.NotifyTaskReminded, TaskID: id, PairingID: pairing.Int64, CycleID: cycle, Actor: actor, At: when, Data: data})
}
