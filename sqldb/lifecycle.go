package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"baocun"
)

// LaunchDirectory loads what validating a launch needs: each department's head
// count, and each village's county, class and the running cycle it is paired in, one
// query a table.
func (db *DB) LaunchDirectory(ctx context.Context) (baocun.LaunchDirectory, error) {
	dir := baocun.LaunchDirectory{People: map[string]int{}, Villages: map[string]baocun.LaunchVillage{}}
	rows, err := db.QueryContext(ctx, `SELECT d.code, COUNT(p.id) FROM departments d LEFT JOIN people p ON p.department_code = d.code GROUP BY d.code`)
	if err != nil {
		return dir, err
	}
	for rows.Next() {
		var code string
		var n int
		if err := rows.Scan(&code, &n); err != nil {
			rows.Close()
			return dir, err
		}
		dir.People[code] = n
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT v.code, v.county, v.class, COALESCE((SELECT MAX(p.cycle_id) FROM pairings p
		JOIN cycles c ON c.id = p.cycle_id AND c.status = ?
		WHERE p.village_code = v.code AND p.stage NOT IN (?, ?)), 0) FROM villages v`, baocun.CycleRunning, baocun.StageClosed, baocun.StageCancelled)
	if err != nil {
		return dir, err
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		var v baocun.LaunchVillage
		if err := rows.Scan(&code, &v.County, &v.Class, &v.Cycle); err != nil {
			return dir, err
		}
		dir.Villages[code] = v
	}
	return dir, rows.Err()
}

// CreateCycle stores a validated cycle and its pairings (all at stage dispatch) with
// the launch's audit entry, in one transaction, and returns the cycle's id.
func (db *DB) CreateCycle(ctx context.Context, c *baocun.Cycle, ps []baocun.PairingSpec, audit *baocun.AuditEntry) (int64, error) {
	settings, err := json.Marshal(c.Settings)
	if err != nil {
		return 0, err
	}
	var id int64
	err = db.InTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO cycles (name, jurisdiction, settings, status, launched_by, launched_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, c.Name, c.Jurisdiction, string(settings), baocun.CycleRunning, c.LaunchedBy, FormatTime(c.LaunchedAt)).Scan(&id); err != nil {
			return err
		}
		// Rows of 100: one statement per pairing is slow on PostgreSQL at 20,000.
		const chunk = 100
		for from := 0; from < len(ps); from += chunk {
			to := min(from+chunk, len(ps))
			var q strings.Builder
			q.WriteString(`INSERT INTO pairings (cycle_id, ordinal, department_code, village_code, kind, county, baseline_class, baseline_income_wan, stage)
				SELECT v.cycle_id, v.ordinal, v.department_code, v.village_code, v.kind, villages.county, villages.class, villages.collective_income_wan, ? FROM (`)
			args := []any{baocun.StageDispatch}
			for i := from; i < to; i++ {
				if i > from {
					q.WriteString(" UNION ALL ")
				}
				q.WriteString("SELECT CAST(? AS BIGINT) AS cycle_id, CAST(? AS INTEGER) AS ordinal, CAST(? AS TEXT) AS department_code, CAST(? AS TEXT) AS village_code, CAST(? AS TEXT) AS kind")
				args = append(args, id, i, ps[i].DepartmentCode, ps[i].VillageCode, ps[i].Kind)
			}
			q.WriteString(") v JOIN villages ON villages.code = v.village_code")
			res, err := tx.ExecContext(ctx, q.String(), args...)
			if err != nil {
				return fmt.Errorf("pairings: %w", err)
			}
			if n, _ := res.RowsAffected(); int(n) != to-from {
				return baocun.Errorf(baocun.ECONFLICT, "名录已变更，请重试 The directory changed during the launch; try again.")
			}
		}
		if err := recheckLaunch(ctx, tx, id, c.Settings.Class1Support); err != nil {
			return err
		}
		audit.CycleID = strconv.FormatInt(id, 10)
		audit.Resource = "cycles/" + audit.CycleID
		return AppendAuditTx(ctx, tx, audit)
	})
	return id, err
}

// recordResidency keeps a period's residency counts (its period.ended event's), once,
// and adds them to the pairing's, which the statistics sum.
func recordResidency(ctx context.Context, tx *Tx, e baocun.Event) error {
	var c struct {
		MemberMonths int `json:"member_months"`
		Short        int `json:"member_months_short"`
	}
	if err := json.Unmarshal(e.Data, &c); err != nil {
		return fmt.Errorf("period.ended of pairing %d: %w", e.PairingID, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO pairing_residency (pairing_id, period, member_months, short_months) VALUES (?, ?, ?, ?)
		ON CONFLICT (pairing_id, period) DO NOTHING`, e.PairingID, e.Period, c.MemberMonths, c.Short)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 { // a period's end counts once
		_, err = tx.ExecContext(ctx, `UPDATE pairings SET residency_member_months = residency_member_months + ?, residency_short = residency_short + ? WHERE id = ?`,
			c.MemberMonths, c.Short, e.PairingID)
	}
	return err
}

// linkReportProjects marks the ledger's projects a period's report counts (its
// report.submitted event names them): each project is counted by one period's
// report, and a report submitted again for its period counts what it names now.
func linkReportProjects(ctx context.Context, tx *Tx, e baocun.Event) error {
	var r struct {
		Report baocun.ReportInput `json:"report"`
	}
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return fmt.Errorf("report.submitted of pairing %d: %w", e.PairingID, err)
	}
	period := r.Report.Period
	if _, err := tx.ExecContext(ctx, "UPDATE projects SET reported_period = 0 WHERE pairing_id = ? AND reported_period = ?", e.PairingID, period); err != nil {
		return err
	}
	for _, id := range r.Report.ProjectIDs {
		if _, err := tx.ExecContext(ctx, "UPDATE projects SET reported_period = ? WHERE id = ? AND pairing_id = ? AND reported_period IN (0, ?)",
			period, id, e.PairingID, period); err != nil {
			return err
		}
	}
	return nil
}

// recheckLaunch checks again, in the launch's transaction, what the launch was
// validated against and what may have changed since: no village of the new cycle is
// in another running cycle (two launches at once naming one village: on PostgreSQL
// launches take one lock, on SQLite writes are serial), and no support pairing's
// village was class 1 when it was stored, unless the cycle only warns of that.
func recheckLaunch(ctx context.Context, tx *Tx, cycle int64, class1 string) error {
	if tx.Dialect() == Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.launch'))"); err != nil {
			return err
		}
	}
	busy, err := queryStrings(ctx, tx, `SELECT p.village_code || ' (' || CAST(MAX(o.cycle_id) AS TEXT) || ')'
		FROM pairings p JOIN pairings o ON o.village_code = p.village_code AND o.cycle_id <> p.cycle_id AND o.stage NOT IN (?, ?)
		JOIN cycles oc ON oc.id = o.cycle_id AND oc.status = ?
		WHERE p.cycle_id = ? GROUP BY p.village_code ORDER BY p.village_code LIMIT 20`,
		baocun.StageClosed, baocun.StageCancelled, baocun.CycleRunning, cycle)
	if err != nil {
		return err
	}
	if len(busy) > 0 {
		return baocun.Errorf(baocun.ECONFLICT, "行政村已在进行中的另一轮结对（轮次） villages already paired in another running cycle (its id): %s", strings.Join(busy, ", "))
	}
	if class1 == baocun.Class1Warn {
		return nil
	}
	class1s, err := queryStrings(ctx, tx, `SELECT village_code FROM pairings WHERE cycle_id = ? AND kind = ? AND baseline_class = 1 ORDER BY ordinal LIMIT 20`, cycle, baocun.KindSupport)
	if err != nil {
		return err
	}
	if len(class1s) > 0 {
		return baocun.Errorf(baocun.ECONFLICT, "包扶须为二类或三类村，名录已变更 the directory changed during the launch: these support villages are class 1: %s", strings.Join(class1s, ", "))
	}
	return nil
}

const cycleColumns = `id, name, jurisdiction, settings, status, launched_by, launched_at`

func scanCycle(row interface{ Scan(...any) error }) (*baocun.Cycle, error) {
	var c baocun.Cycle
	var settings, launched string
	if err := row.Scan(&c.ID, &c.Name, &c.Jurisdiction, &settings, &c.Status, &c.LaunchedBy, &launched); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &c.Settings); err != nil {
		return nil, fmt.Errorf("cycle %d settings: %w", c.ID, err)
	}
	var err error
	c.LaunchedAt, err = ParseTime(launched)
	return &c, err
}

// CycleRecord returns a cycle as stored: its settings and status, its pairings not
// counted (what most requests need, with no read of the pairings).
func (db *DB) CycleRecord(ctx context.Context, id int64) (*baocun.Cycle, error) {
	c, err := scanCycle(db.QueryRowContext(ctx, "SELECT "+cycleColumns+" FROM cycles WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("没有这一轮 No such cycle: %d", id)}
	}
	return c, err
}

// Cycle returns a cycle with its pairings counted by stage.
func (db *DB) Cycle(ctx context.Context, id int64) (*baocun.Cycle, error) {
	c, err := db.CycleRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT stage, COUNT(*) FROM pairings WHERE cycle_id = ? GROUP BY stage", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c.Stages = map[baocun.Stage]int{}
	for rows.Next() {
		var stage baocun.Stage
		var n int
		if err := rows.Scan(&stage, &n); err != nil {
			return nil, err
		}
		c.Stages[stage] = n
		c.PairingsTotal += n
	}
	return c, rows.Err()
}

// CycleRan reports whether cycle id's workflow ever ran: its first batch opened its
// pairings' first tasks (the key that write is applied under).
func (db *DB) CycleRan(ctx context.Context, id int64) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM applied_changes WHERE key = ?", fmt.Sprintf("cycle-%d/batch-0/open", id)).Scan(&n)
	return n > 0, err
}

// Cycles lists cycles by id, newest first, after the cursor id (0: from the newest).
func (db *DB) Cycles(ctx context.Context, before int64, limit int) ([]baocun.Cycle, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.QueryContext(ctx, "SELECT "+cycleColumns+" FROM cycles WHERE id < ? ORDER BY id DESC LIMIT ?", before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Cycle{}
	for rows.Next() {
		c, err := scanCycle(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

const pairingColumns = `p.id, p.cycle_id, p.department_code, p.village_code, p.kind, p.county, p.stage, p.period, c.jurisdiction,
	d.name, v.name, p.baseline_class, p.baseline_income_wan`

// Pairings lists pairings by id.
func (db *DB) Pairings(ctx context.Context, f baocun.PairingFilter) ([]baocun.Pairing, error) {
	q := "SELECT " + pairingColumns + ` FROM pairings p JOIN cycles c ON c.id = p.cycle_id
		JOIN departments d ON d.code = p.department_code JOIN villages v ON v.code = p.village_code WHERE p.cycle_id = ? AND p.id > ?`
	args := []any{f.CycleID, f.After}
	for _, cond := range []struct{ col, v string }{{"p.stage", string(f.Stage)}, {"p.county", f.County}, {"p.department_code", f.Department}} {
		if cond.v != "" {
			q += " AND " + cond.col + " = ?"
			args = append(args, cond.v)
		}
	}
	if f.ToOrd > 0 {
		q += " AND p.ordinal >= ? AND p.ordinal < ?"
		args = append(args, f.FromOrd, f.ToOrd)
	}
	q += " ORDER BY p.id LIMIT ?"
	args = append(args, max(f.Limit, 1))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Pairing{}
	for rows.Next() {
		var p baocun.Pairing
		if err := rows.Scan(&p.ID, &p.CycleID, &p.Department, &p.Village, &p.Kind, &p.County, &p.Stage, &p.Period, &p.Jurisdiction,
			&p.DepartmentName, &p.VillageName, &p.BaselineClass, &p.BaselineIncomeWan); err != nil {
			return nil, err
		}
		p.Team = []baocun.Member{}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Pairing returns one pairing with its team.
func (db *DB) Pairing(ctx context.Context, id int64) (*baocun.Pairing, error) {
	var p baocun.Pairing
	err := db.QueryRowContext(ctx, "SELECT "+pairingColumns+` FROM pairings p JOIN cycles c ON c.id = p.cycle_id
		JOIN departments d ON d.code = p.department_code JOIN villages v ON v.code = p.village_code WHERE p.id = ?`, id).
		Scan(&p.ID, &p.CycleID, &p.Department, &p.Village, &p.Kind, &p.County, &p.Stage, &p.Period, &p.Jurisdiction,
			&p.DepartmentName, &p.VillageName, &p.BaselineClass, &p.BaselineIncomeWan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("没有这个结对 No such pairing: %d", id)}
	}
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT t.person_id, p.name, t.leader FROM team_members t JOIN people p ON p.id = t.person_id
		WHERE t.pairing_id = ? ORDER BY t.leader DESC, t.person_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p.Team = []baocun.Member{}
	for rows.Next() {
		var m baocun.Member
		var leader int
		if err := rows.Scan(&m.PersonID, &m.Name, &leader); err != nil {
			return nil, err
		}
		m.Leader = leader != 0
		p.Team = append(p.Team, m)
	}
	return &p, rows.Err()
}

const taskColumns = `id, kind, pairing_id, cycle_id, role, jurisdiction, department_code, village_code, period, subject,
	due_at, due_date, remind_at, status, opened_at, reminded_at, escalated_at, closed_at, closed_by, outcome`

// taskRead are the columns scanTask reads: taskColumns, then who the task is
// assigned to and its first due date (issue 19).
const taskRead = taskColumns + ", assignee, first_due_date"

func scanTask(row interface{ Scan(...any) error }) (baocun.Task, error) {
	var t baocun.Task
	var due, remind, opened, reminded, escalated, closed string
	var pairing sql.NullInt64 // none for a cycle's own tasks
	if err := row.Scan(&t.ID, &t.Kind, &pairing, &t.CycleID, &t.Role, &t.Jurisdiction, &t.Department, &t.Village, &t.Period, &t.Subject,
		&due, &t.DueDate, &remind, &t.Status, &opened, &reminded, &escalated, &closed, &t.ClosedBy, &t.Outcome, &t.Assignee, &t.FirstDueDate); err != nil {
		return t, err
	}
	t.PairingID = pairing.Int64
	var err error
	if t.DueAt, err = ParseTime(due); err != nil {
		return t, err
	}
	t.RemindAt, _ = ParseTime(remind)
	t.OpenedAt, _ = ParseTime(opened)
	t.RemindedAt, t.EscalatedAt, t.ClosedAt = optTime(reminded), optTime(escalated), optTime(closed)
	return t, nil
}

func optTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return nil
	}
	return &t
}

// Tasks lists tasks by due date.
func (db *DB) Tasks(ctx context.Context, f baocun.TaskFilter) ([]baocun.Task, error) {
	q := "SELECT " + taskRead + " FROM tasks WHERE 1 = 1"
	var args []any
	switch f.Status {
	case "all":
	case "":
		q += " AND status = ?"
		args = append(args, baocun.TaskOpen)
	default:
		q += " AND status = ?"
		args = append(args, f.Status)
	}
	if f.PairingID != 0 {
		q += " AND pairing_id = ?"
		args = append(args, f.PairingID)
	}
	if u := f.For; u != nil {
		cond, cargs := inboxCondition(u, time.Now(), true)
		if cond == "" {
			return []baocun.Task{}, nil
		}
		q += " AND " + cond
		args = append(args, cargs...)
	}
	if f.After != "" {
		due, id, ok := strings.Cut(f.After, "|")
		if !ok {
			return nil, &baocun.Error{Code: baocun.EINVALID, Message: "cursor 无效 Bad cursor.", Fields: map[string]string{"cursor": "invalid"}}
		}
		q += " AND (due_at > ? OR (due_at = ? AND id > ?))"
		args = append(args, due, due, id)
	}
	q += " ORDER BY due_at, id LIMIT ?"
	args = append(args, max(f.Limit, 1))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// inboxCondition is the condition on tasks that puts one in u's inbox at now: a
// task of a role u holds, in a jurisdiction u holds it in, within the grant's scope
// (inboxScope), and either its role's pool's or assigned to u or to someone who has
// delegated it to u until after now (assigned); for organisers every escalated task
// too. "" when u's inbox is empty whatever the tasks.
//
// With inbox false it is the condition that u's roles let them act on a task,
// whoever holds it: no assignment, no escalation.
func inboxCondition(u *baocun.User, now time.Time, inbox bool) (string, []any) {
	var ors []string
	var args []any
	at := FormatTime(now)
	for _, g := range u.Roles {
		cond, cargs := inboxScope(u, g)
		if cond == "" {
			continue
		}
		if inbox {
			cond = "(" + cond + ") AND " + assignedTo
			cargs = append(cargs, u.Username, u.Username, at, at)
		}
		if g.Role == baocun.RoleReviewer {
			// A pairing assigned to an inspection team is scored by that team only.
			cond += " AND (kind <> ? OR pairing_id NOT IN (SELECT pairing_id FROM inspection_assignments)" +
				" OR pairing_id IN (SELECT a.pairing_id FROM inspection_assignments a JOIN inspection_team_members m ON m.team_id = a.team_id WHERE m.username = ?))"
			cargs = append(cargs, baocun.TaskScore, u.Username)
		}
		if g.Jurisdiction != baocun.CityJurisdiction {
			cond = "(" + cond + ") AND jurisdiction = ?"
			cargs = append(cargs, g.Jurisdiction)
		}
		if g.Role == baocun.RoleOrganiser && inbox {
			// Every escalated task in the organiser's jurisdiction, whoever it is assigned to.
			esc := "escalated_at > ''"
			if g.Jurisdiction != baocun.CityJurisdiction {
				esc += " AND jurisdiction = ?"
				cargs = append(cargs, g.Jurisdiction)
			}
			cond = "(" + cond + ") OR (" + esc + ")"
		}
		ors = append(ors, "("+cond+")")
		args = append(args, cargs...)
	}
	if len(ors) == 0 {
		return "", nil
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// assignedTo is the condition that a task is its pool's, or assigned to the user
// (the first argument), or to someone who delegated it (or all their tasks) to the
// user (the second) from before now (third) until after now (fourth).
const assignedTo = `(assignee = '' OR assignee = ? OR assignee IN (SELECT d.delegator FROM delegations d
	WHERE d.delegate = ? AND d.revoked_at = '' AND d.starts_at <= ? AND d.until > ? AND (d.task_id = '' OR d.task_id = tasks.id)))`

// inboxScope is the condition on tasks one grant of u acts on, whoever they are
// assigned to.
func inboxScope(u *baocun.User, g baocun.Grant) (string, []any) {
	switch g.Role {
	case baocun.RoleOrganiser:
		return "role = ?", []any{g.Role}
	case baocun.RoleReviewer:
		// Never their own department's, nor, while a move waits for an admin, the
		// one the directory moved them to (web/authz.go decides the same).
		if u.PendingDepartment != "" {
			return "role = ? AND department_code <> ? AND department_code <> ?", []any{g.Role, u.Department, u.PendingDepartment}
		}
		return "role = ? AND department_code <> ?", []any{g.Role, u.Department}
	case baocun.RoleDeptLead:
		if u.Department == "" || u.PendingDepartment != "" {
			return "", nil
		}
		return "role = ? AND department_code = ?", []any{g.Role, u.Department}
	case baocun.RoleTeamMember:
		if u.PersonID == "" {
			return "", nil
		}
		return "role = ? AND pairing_id IN (SELECT pairing_id FROM team_members WHERE person_id = ?)", []any{g.Role, u.PersonID}
	case baocun.RoleVillage:
		if u.VillageCode == "" {
			return "", nil
		}
		return "role = ? AND village_code = ?", []any{g.Role, u.VillageCode}
	}
	return "", nil
}

// TaskAudience are the accounts (enabled) whose inbox holds task id at now: whom
// a notification about it reaches.
func (db *DB) TaskAudience(ctx context.Context, id string, now time.Time) ([]string, error) {
	return taskAudience(ctx, db, id, now)
}

func taskAudience(ctx context.Context, q Querier, id string, now time.Time) ([]string, error) {
	var role, jurisdiction, escalated, dept, village, assignee string
	var pairing sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT role, jurisdiction, escalated_at, department_code, village_code, pairing_id, assignee FROM tasks WHERE id = ?", id).
		Scan(&role, &jurisdiction, &escalated, &dept, &village, &pairing, &assignee); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	// The candidates, narrowed in SQL by what each role's scope needs (the account's
	// department, team or village; a held task's holder and delegates); each is then
	// checked against their inbox's own condition.
	held := `SELECT r.v0 FROM casbin_rule r JOIN users u ON u.username = r.v0 WHERE r.ptype = 'g' AND u.disabled = 0 AND r.v1 = ? AND r.v2 IN (?, ?)`
	args := []any{role, jurisdiction, baocun.CityJurisdiction}
	switch {
	case assignee != "":
		held += ` AND (u.username = ? OR u.username IN (SELECT delegate FROM delegations WHERE delegator = ? AND revoked_at = ''))`
		args = append(args, assignee, assignee)
	case role == string(baocun.RoleDeptLead):
		held += " AND u.department_code = ?"
		args = append(args, dept)
	case role == string(baocun.RoleTeamMember):
		held += " AND u.person_id IN (SELECT person_id FROM team_members WHERE pairing_id = ?)"
		args = append(args, pairing.Int64)
	case role == string(baocun.RoleVillage):
		held += " AND u.village_code = ?"
		args = append(args, village)
	}
	if escalated != "" {
		held += ` UNION SELECT r.v0 FROM casbin_rule r JOIN users u ON u.username = r.v0 WHERE r.ptype = 'g' AND u.disabled = 0 AND r.v1 = ? AND r.v2 IN (?, ?)`
		args = append(args, baocun.RoleOrganiser, jurisdiction, baocun.CityJurisdiction)
	}
	rows, err := q.QueryContext(ctx, "SELECT DISTINCT v0 FROM ("+held+") c ORDER BY v0", args...)
	if err != nil {
		return nil, err
	}
	var candidates []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		candidates = append(candidates, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []string{}
	for _, name := range candidates {
		u, err := userWhere(ctx, q, "u.username = ?", name)
		if err != nil {
			return nil, err
		}
		cond, args := inboxCondition(u, now, true)
		if cond == "" {
			continue
		}
		var one int
		err = q.QueryRowContext(ctx, "SELECT 1 FROM tasks WHERE id = ? AND "+cond, append([]any{id}, args...)...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	// A delegate without the role's grant in the task's jurisdiction is no audience
	// (the policy still applies to them).
	return out, nil
}

// Task returns one task.
func (db *DB) Task(ctx context.Context, id string) (*baocun.Task, error) {
	t, err := scanTask(db.QueryRowContext(ctx, "SELECT "+taskRead+" FROM tasks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个待办 No such task: " + id}
	}
	return &t, err
}

// Events returns a pairing's timeline, oldest first.
func (db *DB) Events(ctx context.Context, pairingID int64) ([]baocun.Event, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, pairing_id, at, programme_at, actor, kind, task_id, period, data
		FROM pairing_events WHERE pairing_id = ? ORDER BY id`, pairingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Event{}
	for rows.Next() {
		var e baocun.Event
		var at, data string
		if err := rows.Scan(&e.ID, &e.PairingID, &at, &e.ProgrammeAt, &e.Actor, &e.Kind, &e.TaskID, &e.Period, &data); err != nil {
			return nil, err
		}
		e.At, _ = ParseTime(at)
		if data != "" {
			e.Data = json.RawMessage(data)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The evidence each step named: links of the pairing's files to its events (a
	// record's kind has no dot; an event's has).
	links, err := db.QueryContext(ctx, `SELECT l.ref, l.file_id FROM file_links l JOIN files f ON f.id = l.file_id
		WHERE f.pairing_id = ? AND l.kind LIKE '%.%' ORDER BY f.uploaded_at, f.id`, pairingID)
	if err != nil {
		return nil, err
	}
	defer links.Close()
	files := map[string][]string{}
	for links.Next() {
		var ref, id string
		if err := links.Scan(&ref, &id); err != nil {
			return nil, err
		}
		files[ref] = append(files[ref], id)
	}
	for i := range out {
		out[i].Files = files[strconv.FormatInt(out[i].ID, 10)]
	}
	return out, links.Err()
}

// ApplyChange writes a workflow step in one transaction (see baocun.Change). Closing
// a task that is not open fails it with ECONFLICT and writes nothing.
func (db *DB) ApplyChange(ctx context.Context, ch baocun.Change) error {
	return db.ApplyChanges(ctx, []baocun.Change{ch})
}

// ApplyChanges writes changes in order in one transaction: all of them or, when one
// fails, none. A numbered change (Seq) is written only right after the one before it:
// one numbered past the next is an error that writes nothing, so a pairing's
// committed steps reach the database in the order its workflow took them.
func (db *DB) ApplyChanges(ctx context.Context, chs []baocun.Change) error {
	return db.InTx(ctx, func(tx *Tx) error {
		for _, ch := range chs {
			if err := applyChange(ctx, tx, ch); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppliedSeq is the number of the last change of the pairing's workflow written.
func (db *DB) AppliedSeq(ctx context.Context, pairingID int64) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT applied_seq FROM pairings WHERE id = ?", pairingID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, baocun.Errorf(baocun.ENOTFOUND, "结对 %d 不存在 pairing %d not found", pairingID, pairingID)
	}
	return n, err
}

func applyChange(ctx context.Context, tx *Tx, ch baocun.Change) error {
	at := FormatTime(ch.At)
	if ch.Key != "" {
		res, err := tx.ExecContext(ctx, "INSERT INTO applied_changes (key, applied_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", ch.Key, at)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // applied before: a retry
		}
	}
	if ch.Seq > 0 {
		res, err := tx.ExecContext(ctx, "UPDATE pairings SET applied_seq = ? WHERE id = ? AND applied_seq = ?", ch.Seq, ch.PairingID, ch.Seq-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var stored int64
			if err := tx.QueryRowContext(ctx, "SELECT applied_seq FROM pairings WHERE id = ?", ch.PairingID).Scan(&stored); err != nil {
				return fmt.Errorf("change %d of pairing %d: %w", ch.Seq, ch.PairingID, err)
			}
			return &baocun.Error{Code: baocun.EINTERNAL, Message: fmt.Sprintf(
				"结对 %d 的第 %d 项变更不能先于第 %d 项写入 change %d of pairing %d cannot be written before change %d (the database holds up to %d)",
				ch.PairingID, ch.Seq, stored+1, ch.Seq, ch.PairingID, stored+1, stored)}
		}
	}
	for _, c := range ch.Close {
		res, err := tx.ExecContext(ctx, `UPDATE tasks SET status = ?, outcome = ?, closed_by = ?, closed_at = ? WHERE id = ? AND status = ?`,
			c.Status, c.Outcome, c.By, at, c.ID, baocun.TaskOpen)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 && !c.IfOpen {
			return closedTask(ctx, tx, c.ID)
		}
	}
	for _, s := range ch.Stages {
		// A cancelled pairing stays cancelled.
		if _, err := tx.ExecContext(ctx, "UPDATE pairings SET stage = ?, period = ? WHERE id = ? AND stage <> ?", s.Stage, s.Period, s.PairingID, baocun.StageCancelled); err != nil {
			return err
		}
		// The tasks the workflow does not know of (a village's dispute of check-ins)
		// end with the pairing.
		if end, ok := map[baocun.Stage]string{baocun.StageCancelled: baocun.TaskCancelled, baocun.StageClosed: baocun.TaskExpired}[s.Stage]; ok {
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET status = ?, closed_by = 'system', closed_at = ? WHERE pairing_id = ? AND kind = ? AND status = ?`,
				end, at, s.PairingID, baocun.TaskCheckinDispute, baocun.TaskOpen); err != nil {
				return err
			}
		}
	}
	if t := ch.Team; t != nil {
		if _, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE pairing_id = ?", t.PairingID); err != nil {
			return err
		}
		for _, m := range t.Members {
			if _, err := tx.ExecContext(ctx, "INSERT INTO team_members (pairing_id, person_id, leader) VALUES (?, ?, ?)",
				t.PairingID, m.PersonID, boolInt(m.Leader)); err != nil {
				return fmt.Errorf("team member %s: %w", m.PersonID, err)
			}
		}
	}
	// A task never opens on a cancelled pairing (a batch opening first tasks after
	// an early cancel).
	for _, t := range ch.Open {
		if t.PairingID == 0 { // a cycle's own task
			if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`)
				VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', '') ON CONFLICT (id) DO NOTHING`,
				t.ID, t.Kind, t.CycleID, t.Role, t.Jurisdiction, t.Department, t.Village, t.Period, t.Subject,
				FormatTime(t.DueAt), t.DueDate, FormatTime(t.RemindAt), baocun.TaskOpen, at); err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', '' FROM pairings WHERE id = ? AND stage <> ?
			ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Kind, t.PairingID, t.CycleID, t.Role, t.Jurisdiction, t.Department, t.Village, t.Period, t.Subject,
			FormatTime(t.DueAt), t.DueDate, FormatTime(t.RemindAt), baocun.TaskOpen, at, t.PairingID, baocun.StageCancelled); err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
	}
	for _, id := range ch.Remind {
		if _, err := tx.ExecContext(ctx, "UPDATE tasks SET reminded_at = ? WHERE id = ? AND reminded_at = ''", at, id); err != nil {
			return err
		}
	}
	for _, id := range ch.Escalate {
		// Not once an organiser has moved its due date since (the escalation was on its
		// way meanwhile): the workflow escalates it again at the new date.
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET escalated_at = ? WHERE id = ? AND escalated_at = ''
			AND NOT EXISTS (SELECT 1 FROM task_actions a WHERE a.task_id = tasks.id AND a.action = 'due' AND a.at >= ?)`, at, id, at); err != nil {
			return err
		}
	}
	for _, d := range ch.Due {
		if err := moveDue(ctx, tx, d, at); err != nil {
			return err
		}
	}
	for _, e := range ch.Events {
		if e.At.IsZero() {
			e.At = ch.At
		}
		switch e.Kind {
		case "period.ended":
			if err := recordResidency(ctx, tx, e); err != nil {
				return err
			}
		case "report.submitted":
			if err := linkReportProjects(ctx, tx, e); err != nil {
				return err
			}
		case "report.returned":
			// A returned report counts nothing until it is sent again: its projects
			// are free for whichever report comes next.
			if _, err := tx.ExecContext(ctx, "UPDATE projects SET reported_period = 0 WHERE pairing_id = ? AND reported_period = ?", e.PairingID, e.Period); err != nil {
				return err
			}
		}
		if len(e.Files) == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pairing_events (pairing_id, at, programme_at, actor, kind, task_id, period, data)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.PairingID, FormatTime(e.At), e.ProgrammeAt, e.Actor, e.Kind, e.TaskID, e.Period, string(e.Data)); err != nil {
				return err
			}
			continue
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO pairing_events (pairing_id, at, programme_at, actor, kind, task_id, period, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, e.PairingID, FormatTime(e.At), e.ProgrammeAt, e.Actor, e.Kind, e.TaskID, e.Period, string(e.Data)).Scan(&id); err != nil {
			return err
		}
		// The API checked each file is the pairing's before it sent the step; a step
		// the workflow committed is written whatever, so a file that is not the
		// pairing's (none can be: files are never removed) is passed over, not refused.
		for _, f := range e.Files {
			if _, err := tx.ExecContext(ctx, `INSERT INTO file_links (file_id, kind, ref)
				SELECT id, ?, ? FROM files WHERE id = ? AND pairing_id = ? ON CONFLICT DO NOTHING`, e.Kind, fmt.Sprint(id), f, e.PairingID); err != nil {
				return err
			}
		}
	}
	if r := ch.Result; r != nil {
		data, err := json.Marshal(r.Result)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO acceptance_results (pairing_id, cycle_id, total, grade, result, new_class, confirmed_by, confirmed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.PairingID, r.CycleID, r.Result.Total.StringFixed(2), r.Result.Grade, string(data),
			r.NewClass, r.ConfirmedBy, FormatTime(r.ConfirmedAt)); err != nil {
			return fmt.Errorf("acceptance result of pairing %d: %w", r.PairingID, err)
		}
	}
	if f := ch.Final; f != nil {
		if err := finalize(ctx, tx, f); err != nil {
			return err
		}
	}
	if c := ch.Commendation; c != nil {
		if err := applyCommendation(ctx, tx, c, ch.At); err != nil {
			return err
		}
	}
	if c := ch.Cycle; c != nil {
		// A closed cycle — its commendation published — stays closed.
		if _, err := tx.ExecContext(ctx, "UPDATE cycles SET status = ? WHERE id = ? AND status <> ?", c.Status, c.ID, baocun.CycleClosed); err != nil {
			return err
		}
		if c.Status == baocun.CycleCancelled {
			// The cycle's own tasks (its commendation's) end with it.
			if _, err := tx.ExecContext(ctx, `UPDATE tasks SET status = ?, closed_by = 'system', closed_at = ? WHERE cycle_id = ? AND pairing_id IS NULL AND status = ?`,
				baocun.TaskCancelled, at, c.ID, baocun.TaskOpen); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE commendations SET status = ? WHERE cycle_id = ? AND status <> ?",
				baocun.CommendationCancelled, c.ID, baocun.CommendationPublished); err != nil {
				return err
			}
		}
	}
	// What reaches people: written with the change, sent after it (notifications).
	if err := enqueueNotifications(ctx, tx, ch); err != nil {
		return err
	}
	for i := range ch.Audit {
		if ch.Audit[i].At.IsZero() {
			ch.Audit[i].At = ch.At
		}
		if err := AppendAuditTx(ctx, tx, &ch.Audit[i]); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PairingRange returns the pairings of a cycle with ordinals [from, to).
func (db *DB) PairingRange(ctx context.Context, cycleID int64, from, to int) ([]baocun.Pairing, error) {
	return db.Pairings(ctx, baocun.PairingFilter{CycleID: cycleID, FromOrd: from, ToOrd: to, Limit: to - from})
}

// AcceptanceResults returns a cycle's confirmed acceptance results by pairing id,
// but for pairings cancelled since (they are not ranked).
func (db *DB) AcceptanceResults(ctx context.Context, cycleID int64) ([]baocun.AcceptanceResult, error) {
	return acceptanceResults(ctx, db, cycleID)
}

func acceptanceResults(ctx context.Context, q Querier, cycleID int64) ([]baocun.AcceptanceResult, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.pairing_id, a.cycle_id, p.department_code, a.result, a.new_class, a.confirmed_by, a.confirmed_at,
		a.appeal, a.final_result, a.finalized_at
		FROM acceptance_results a JOIN pairings p ON p.id = a.pairing_id
		WHERE a.cycle_id = ? AND p.stage <> ? ORDER BY a.pairing_id`, cycleID, baocun.StageCancelled)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.AcceptanceResult{}
	for rows.Next() {
		var r baocun.AcceptanceResult
		var data, at, appeal, final, finalAt string
		if err := rows.Scan(&r.PairingID, &r.CycleID, &r.Department, &data, &r.NewClass, &r.ConfirmedBy, &at, &appeal, &final, &finalAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &r.Result); err != nil {
			return nil, fmt.Errorf("acceptance result of pairing %d: %w", r.PairingID, err)
		}
		if appeal != "" {
			r.Appeal = &baocun.Appeal{}
			if err := json.Unmarshal([]byte(appeal), r.Appeal); err != nil {
				return nil, fmt.Errorf("appeal of pairing %d: %w", r.PairingID, err)
			}
		}
		if final != "" {
			r.Final = &baocun.Result{}
			if err := json.Unmarshal([]byte(final), r.Final); err != nil {
				return nil, fmt.Errorf("final result of pairing %d: %w", r.PairingID, err)
			}
		}
		r.ConfirmedAt, _ = ParseTime(at)
		r.FinalizedAt = optTime(finalAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// closedTask is the conflict of a step on a task no longer open, saying why: a
// member whose report expired as the pairing moved on is not told it was decided.
func closedTask(ctx context.Context, tx *Tx, id string) error {
	var status string
	err := tx.QueryRowContext(ctx, "SELECT status FROM tasks WHERE id = ?", id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Its workflow holds it, so the write opening it is still to come.
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: fmt.Sprintf("待办 %s 尚未写入数据库，请稍后再试 Task %s is not in the database yet: try again in a moment.", id, id), Err: baocun.ErrNotOpened}
	case err != nil:
		return err
	}
	if status == baocun.TaskOpen {
		// PostgreSQL: the row's insert committed between the UPDATE that missed it
		// and this read. Not a refusal: tried again, the close finds it.
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: fmt.Sprintf("待办 %s 刚刚写入，请稍后再试 Task %s was written just now: try again.", id, id), Err: baocun.ErrNotOpened}
	}
	why := map[string][2]string{
		baocun.TaskDone:      {"已处理", "it was decided already"},
		baocun.TaskExpired:   {"已过期（期限已过或已进入下一阶段）", "it expired: its window passed or the pairing moved on"},
		baocun.TaskCancelled: {"已撤销", "it was cancelled"},
	}[status]
	if why[0] == "" {
		why = [2]string{status, status}
	}
	return baocun.Errorf(baocun.ECONFLICT, "待办 %s %s Task %s is no longer open: %s.", id, why[0], id, why[1])
}
