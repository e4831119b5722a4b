package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"baocun"
)

const projectColumns = `id, pairing_id, cycle_id, kind, name, quantity, unit, own_yuan, higher_yuan, social_yuan, status,
	planned_on, started_on, completed_on, accepted_on, accepted_by, acceptance_note, from_plan, reported_period, created_by, created_at, updated_by, updated_at`

func scanProject(row interface{ Scan(...any) error }) (*baocun.Project, error) {
	var p baocun.Project
	var own, higher, social int64
	var fromPlan int
	var created, updated string
	if err := row.Scan(&p.ID, &p.PairingID, &p.CycleID, &p.Kind, &p.Name, &p.Quantity, &p.Unit, &own, &higher, &social, &p.Status,
		&p.PlannedOn, &p.StartedOn, &p.CompletedOn, &p.AcceptedOn, &p.AcceptedBy, &p.AcceptanceNote, &fromPlan, &p.ReportedPeriod, &p.CreatedBy, &created, &p.UpdatedBy, &updated); err != nil {
		return nil, err
	}
	p.Investment = baocun.InvestmentOf(own, higher, social)
	p.TotalWan = baocun.WanOf(own + higher + social)
	p.FromPlan = fromPlan != 0
	p.CreatedAt, _ = ParseTime(created)
	p.UpdatedAt, _ = ParseTime(updated)
	p.Files = []string{}
	return &p, nil
}

// AddProject adds p to its pairing's ledger, planned on p.PlannedOn, with its
// evidence (files of the pairing) and the audit entry, and returns it as stored.
func (db *DB) AddProject(ctx context.Context, p baocun.Project, audit *baocun.AuditEntry) (*baocun.Project, error) {
	own, higher, social := p.Investment.Yuan()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var out *baocun.Project
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := lockPairingLedger(ctx, tx, p.PairingID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM projects WHERE pairing_id = ?", p.PairingID).Scan(&n); err != nil {
			return err
		}
		if n >= baocun.MaxProjects {
			return baocun.Errorf(baocun.ECONFLICT, "台账已有 %d 个项目，已达上限 The ledger holds %d projects, its limit.", n, n)
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO projects (pairing_id, cycle_id, kind, name, quantity, unit, own_yuan, higher_yuan, social_yuan, status,
			planned_on, from_plan, created_by, created_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.PairingID, p.CycleID, p.Kind, p.Name, p.Quantity, p.Unit, own, higher, social, baocun.ProjectPlanned,
			p.PlannedOn, boolInt(p.FromPlan), p.CreatedBy, FormatTime(now), p.CreatedBy, FormatTime(now)).Scan(&id); err != nil {
			return err
		}
		if err := linkFiles(ctx, tx, p.PairingID, "project", strconv.FormatInt(id, 10), p.Files); err != nil {
			return err
		}
		var err error
		if out, err = project(ctx, tx, p.PairingID, id); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("pairings/%d/projects/%d", p.PairingID, id)
			audit.Summary = jsonSummary(map[string]any{"kind": out.Kind, "name": out.Name, "quantity": out.Quantity, "unit": out.Unit, "total_wan": out.TotalWan,
				"from_plan": out.FromPlan, "files": len(p.Files)})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return out, err
}

// StepProject moves the pairing's project id on to st.Status, which must be later
// than its status now (acceptance only of a completed project), on a date no
// earlier than its last; the project's row is locked for the change, so two steps at
// once are taken one after the other and the second finds the first's status.
func (db *DB) StepProject(ctx context.Context, pairingID, id int64, st baocun.ProjectStep, audit *baocun.AuditEntry) (*baocun.Project, error) {
	var out *baocun.Project
	err := db.InTx(ctx, func(tx *Tx) error {
		if err := lockPairingLedger(ctx, tx, pairingID); err != nil {
			return err
		}
		p, err := project(ctx, tx, pairingID, id)
		if err != nil {
			return err
		}
		from, to := baocun.ProjectStatusIndex(p.Status), baocun.ProjectStatusIndex(st.Status)
		switch {
		case st.Status == baocun.ProjectAccepted && p.Status != baocun.ProjectCompleted:
			return baocun.Errorf(baocun.ECONFLICT, "项目 %d 尚未完工（%s），不能验收 Project %d is %s: only a completed project is accepted.", id, p.Status, id, p.Status)
		case to <= from:
			return baocun.Errorf(baocun.ECONFLICT, "项目 %d 已是 %s，不能改为 %s Project %d is %s already: it only moves forward.", id, p.Status, st.Status, id, p.Status)
		}
		last := max(p.PlannedOn, p.StartedOn, p.CompletedOn)
		if st.On < last {
			return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("on: %s 早于项目上一步的日期 %s is before the project's last step, %s", st.On, st.On, last),
				Fields: map[string]string{"on": "before the last step"}}
		}
		started, completed, accepted, acceptedBy, note := p.StartedOn, p.CompletedOn, p.AcceptedOn, "", ""
		switch st.Status {
		case baocun.ProjectUnderWay:
			started = st.On
		case baocun.ProjectCompleted:
			if started == "" {
				started = st.On
			}
			completed = st.On
		case baocun.ProjectAccepted:
			accepted, acceptedBy, note = st.On, st.By, st.Note
		}
		quantity := p.Quantity
		if st.Quantity != "" {
			quantity = st.Quantity
		}
		inv := p.Investment
		if st.Investment != nil {
			inv = *st.Investment
		}
		own, higher, social := inv.Yuan()
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET status = ?, started_on = ?, completed_on = ?, accepted_on = ?, accepted_by = ?, acceptance_note = ?,
			quantity = ?, own_yuan = ?, higher_yuan = ?, social_yuan = ?, updated_by = ?, updated_at = ? WHERE id = ?`,
			st.Status, started, completed, accepted, acceptedBy, note, quantity, own, higher, social, st.By, FormatTime(time.Now()), id); err != nil {
			return err
		}
		if err := linkFiles(ctx, tx, pairingID, "project", strconv.FormatInt(id, 10), st.Files); err != nil {
			return err
		}
		if out, err = project(ctx, tx, pairingID, id); err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("pairings/%d/projects/%d", pairingID, id)
			audit.Summary = jsonSummary(map[string]any{"from": p.Status, "status": out.Status, "on": st.On, "total_wan": out.TotalWan, "was_wan": p.TotalWan,
				"files": len(st.Files), "note": st.Note})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return out, err
}

// lockPairingLedger serialises the writes of one pairing's ledger on PostgreSQL
// (SQLite's writer holds its lock from BEGIN already): its count limit and each
// project's status move are read and written as one.
func lockPairingLedger(ctx context.Context, tx *Tx, pairingID int64) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.ledger:' || ?))", strconv.FormatInt(pairingID, 10))
	return err
}

func project(ctx context.Context, q Querier, pairingID, id int64) (*baocun.Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, "SELECT "+projectColumns+" FROM projects WHERE id = ? AND pairing_id = ?", id, pairingID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, baocun.Errorf(baocun.ENOTFOUND, "结对 %d 没有项目 %d Pairing %d has no project %d.", pairingID, id, pairingID, id)
	}
	if err != nil {
		return nil, err
	}
	p.Files, err = queryStrings(ctx, q, "SELECT file_id FROM file_links WHERE kind = 'project' AND ref = ? ORDER BY file_id", strconv.FormatInt(id, 10))
	return p, err
}

// Projects is a pairing's ledger, oldest first, each with its evidence.
func (db *DB) Projects(ctx context.Context, pairingID int64) ([]baocun.Project, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+projectColumns+" FROM projects WHERE pairing_id = ? ORDER BY id", pairingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Project{}
	at := map[string]int{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		at[strconv.FormatInt(p.ID, 10)] = len(out)
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	links, err := db.QueryContext(ctx, `SELECT l.ref, l.file_id FROM file_links l JOIN files f ON f.id = l.file_id
		WHERE f.pairing_id = ? AND l.kind = 'project' ORDER BY l.file_id`, pairingID)
	if err != nil {
		return nil, err
	}
	defer links.Close()
	for links.Next() {
		var ref, id string
		if err := links.Scan(&ref, &id); err != nil {
			return nil, err
		}
		if i, ok := at[ref]; ok {
			out[i].Files = append(out[i].Files, id)
		}
	}
	return out, links.Err()
}

// jsonSummary is an audit entry's summary: v as JSON (free text escaped as JSON
// wants it).
func jsonSummary(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
