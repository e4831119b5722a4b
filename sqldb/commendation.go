package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"baocun"
)

// finalize stores a pairing's result as final, with its appeal.
func finalize(ctx context.Context, tx *Tx, f *baocun.FinalResult) error {
	res, err := json.Marshal(f.Result)
	if err != nil {
		return err
	}
	appeal := ""
	if f.Appeal != nil {
		b, err := json.Marshal(f.Appeal)
		if err != nil {
			return err
		}
		appeal = string(b)
	}
	r, err := tx.ExecContext(ctx, `UPDATE acceptance_results SET appeal = ?, final_total = ?, final_grade = ?, final_result = ?, finalized_at = ?
		WHERE pairing_id = ? AND finalized_at = ''`, appeal, f.Result.Total.StringFixed(2), f.Result.Grade, string(res), FormatTime(f.At), f.PairingID)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return baocun.Errorf(baocun.ECONFLICT, "结对 %d 没有待定的验收结果 Pairing %d has no confirmed result still to finalise.", f.PairingID, f.PairingID)
	}
	return nil
}

// applyCommendation writes a step of a cycle's commendation. Publishing builds the
// list from the stored final results and cadres, in the same transaction, and keeps
// it as published.
func applyCommendation(ctx context.Context, tx *Tx, c *baocun.CommendationChange, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO commendations (cycle_id, status) VALUES (?, ?)
		ON CONFLICT (cycle_id) DO UPDATE SET status = excluded.status`, c.CycleID, c.Status); err != nil {
		return err
	}
	if len(c.Cadres) > 0 {
		el, err := eligible(ctx, tx, c.CycleID, c.Cadres[0].Department)
		if err != nil {
			return err
		}
		var people map[string]int64
		if len(el) == 1 {
			people = el[0].People
		}
		for i := range c.Cadres {
			pid, ok := people[c.Cadres[i].PersonID]
			if !ok || c.Cadres[i].Department != c.Cadres[0].Department {
				return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s 不符合推荐条件 %s may not be proposed.", c.Cadres[i].PersonID, c.Cadres[i].PersonID),
					Fields: map[string]string{fmt.Sprintf("cadres[%d].person_id", i): "须为本部门结对评为良好及以上、驻村达标、群众评议不低于 60% 的工作组成员 must be a member of one of the department's teams graded good or better, who met the residency rule and whom the villagers never rated under 60 %"}}
			}
			c.Cadres[i].PairingID = pid
		}
	}
	for _, cd := range c.Cadres {
		if _, err := tx.ExecContext(ctx, `INSERT INTO commendation_cadres (cycle_id, person_id, department_code, pairing_id, reason, proposed_by, proposed_at, status)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.CycleID, cd.PersonID, cd.Department, cd.PairingID, cd.Reason, cd.ProposedBy, FormatTime(at), baocun.CadreProposed); err != nil {
			return fmt.Errorf("cadre %s: %w", cd.PersonID, err)
		}
	}
	if c.Status != baocun.CommendationPublished {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE commendation_cadres SET status = ? WHERE cycle_id = ?", baocun.CadreApproved, c.CycleID); err != nil {
		return err
	}
	for _, id := range c.Exclude {
		if _, err := tx.ExecContext(ctx, "UPDATE commendation_cadres SET status = ? WHERE cycle_id = ? AND person_id = ?", baocun.CadreExcluded, c.CycleID, id); err != nil {
			return err
		}
	}
	list, err := buildCommendation(ctx, tx, c.CycleID)
	if err != nil {
		return err
	}
	list.Status, list.ApprovedBy, list.PublishedAt = baocun.CommendationPublished, c.ApprovedBy, &at
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE commendations SET list = ?, approved_by = ?, published_at = ? WHERE cycle_id = ?",
		string(b), c.ApprovedBy, FormatTime(at), c.CycleID)
	return err
}

// Commendation returns a cycle's commendation: as published, or, before that, the
// ranking so far and the cadres proposed (status "pending" while pairings run).
func (db *DB) Commendation(ctx context.Context, cycleID int64) (*baocun.Commendation, error) {
	var status, list string
	err := db.QueryRowContext(ctx, "SELECT status, list FROM commendations WHERE cycle_id = ?", cycleID).Scan(&status, &list)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		status = baocun.CommendationPending
	case err != nil:
		return nil, err
	case status == baocun.CommendationPublished:
		var c baocun.Commendation
		if err := json.Unmarshal([]byte(list), &c); err != nil {
			return nil, fmt.Errorf("commendation of cycle %d: %w", cycleID, err)
		}
		return &c, nil
	}
	c, err := buildCommendation(ctx, db, cycleID)
	if err != nil {
		return nil, err
	}
	c.Status = status
	return c, nil
}

// buildCommendation ranks a cycle's results under its frozen rubric and lists its
// cadres with their names, villages and grades.
func buildCommendation(ctx context.Context, q Querier, cycleID int64) (*baocun.Commendation, error) {
	var settings string
	if err := q.QueryRowContext(ctx, "SELECT settings FROM cycles WHERE id = ?", cycleID).Scan(&settings); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("没有第 %d 轮 No cycle %d.", cycleID, cycleID)}
		}
		return nil, err
	}
	var s baocun.CycleSettings
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		return nil, fmt.Errorf("cycle %d settings: %w", cycleID, err)
	}
	rubric, err := s.StoredRubric(cycleID)
	if err != nil {
		return nil, err
	}
	results, err := acceptanceResults(ctx, q, cycleID)
	if err != nil {
		return nil, err
	}
	c := &baocun.Commendation{CycleID: cycleID, AdvancedShare: rubric.Share(), Cadres: []baocun.Cadre{}}
	c.Pairings, c.Departments = rubric.Rank(results)
	if err := nameRanking(ctx, q, cycleID, c); err != nil {
		return nil, err
	}
	grades := map[int64]string{}
	for _, p := range c.Pairings {
		grades[p.PairingID] = p.Grade
	}
	rows, err := q.QueryContext(ctx, `SELECT c.person_id, COALESCE(pe.name, ''), c.department_code, c.pairing_id, p.village_code, c.reason,
		c.proposed_by, c.proposed_at, c.status
		FROM commendation_cadres c JOIN pairings p ON p.id = c.pairing_id LEFT JOIN people pe ON pe.id = c.person_id
		WHERE c.cycle_id = ? ORDER BY c.department_code, c.person_id`, cycleID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cd baocun.Cadre
		var at string
		if err := rows.Scan(&cd.PersonID, &cd.Name, &cd.Department, &cd.PairingID, &cd.Village, &cd.Reason, &cd.ProposedBy, &at, &cd.Status); err != nil {
			return nil, err
		}
		cd.ProposedAt, _ = ParseTime(at)
		cd.Grade = grades[cd.PairingID]
		c.Cadres = append(c.Cadres, cd)
	}
	return c, rows.Err()
}

// nameRanking fills in the names of the ranked pairings' departments and villages.
func nameRanking(ctx context.Context, q Querier, cycleID int64, c *baocun.Commendation) error {
	rows, err := q.QueryContext(ctx, `SELECT p.id, d.name, v.code, v.name FROM pairings p
		JOIN departments d ON d.code = p.department_code JOIN villages v ON v.code = p.village_code WHERE p.cycle_id = ?`, cycleID)
	if err != nil {
		return err
	}
	defer rows.Close()
	type names struct{ dept, village, villageName string }
	by := map[int64]names{}
	for rows.Next() {
		var id int64
		var n names
		if err := rows.Scan(&id, &n.dept, &n.village, &n.villageName); err != nil {
			return err
		}
		by[id] = n
	}
	depts := map[string]string{}
	for i := range c.Pairings {
		p := &c.Pairings[i]
		n := by[p.PairingID]
		p.DepartmentName, p.Village, p.VillageName = n.dept, n.village, n.villageName
		depts[p.Department] = n.dept
	}
	for i := range c.Departments {
		c.Departments[i].Name = depts[c.Departments[i].Department]
	}
	return rows.Err()
}

// Eligible lists, by department (of one, or every one when dept is ""), the cadres
// who may be proposed for commendation: members of teams whose pairings' final
// grades are at least good, with no month under the residency rule.
func (db *DB) Eligible(ctx context.Context, cycleID int64, dept string) ([]baocun.Eligible, error) {
	return eligible(ctx, db, cycleID, dept)
}

// eligible is Eligible for one department, or every one when dept is "".
func eligible(ctx context.Context, q Querier, cycleID int64, dept string) ([]baocun.Eligible, error) {
	results, err := acceptanceResults(ctx, q, cycleID)
	if err != nil {
		return nil, err
	}
	good := map[int64]bool{}
	for _, r := range results {
		if r.Final != nil && baocun.GradeAtLeast(r.Final.Grade, baocun.GradeGood) && (dept == "" || r.Department == dept) {
			good[r.PairingID] = true
		}
	}
	out := []baocun.Eligible{}
	if len(good) == 0 {
		return out, nil
	}
	flagged := map[int64][]baocun.Event{}
	rows, err := q.QueryContext(ctx, `SELECT e.pairing_id, e.data FROM pairing_events e JOIN pairings p ON p.id = e.pairing_id
		WHERE p.cycle_id = ? AND e.kind = 'residency.flagged'`, cycleID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		e := baocun.Event{Kind: "residency.flagged"}
		var data string
		if err := rows.Scan(&e.PairingID, &data); err != nil {
			rows.Close()
			return nil, err
		}
		e.Data = json.RawMessage(data)
		flagged[e.PairingID] = append(flagged[e.PairingID], e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	short := map[int64]map[string]int{}
	for pid, events := range flagged {
		if short[pid], err = baocun.ShortMonths(events); err != nil {
			return nil, err
		}
	}
	// The villagers' ratings of each cadre by name (群众评议干部): one under
	// baocun.MinCadreRating in any year, at any pairing of the cycle (a team change
	// may have moved them), keeps the cadre off the list.
	low := map[string]bool{}
	rows, err = q.QueryContext(ctx, `SELECT e.pairing_id, e.data FROM pairing_events e JOIN pairings p ON p.id = e.pairing_id
		WHERE p.cycle_id = ? AND e.kind = 'evaluation.submitted'`, cycleID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pid int64
		var data string
		if err := rows.Scan(&pid, &data); err != nil {
			rows.Close()
			return nil, err
		}
		var ev baocun.EvaluationInput
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			rows.Close()
			return nil, fmt.Errorf("evaluation of pairing %d: %w", pid, err)
		}
		for _, person := range ev.LowRated() {
			low[person] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT t.pairing_id, t.person_id, p.department_code, COALESCE(d.county, '')
		FROM team_members t JOIN pairings p ON p.id = t.pairing_id JOIN departments d ON d.code = p.department_code
		WHERE p.cycle_id = ? ORDER BY p.department_code, t.person_id`, cycleID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int64
		var person, code, county string
		if err := rows.Scan(&pid, &person, &code, &county); err != nil {
			return nil, err
		}
		if !good[pid] || short[pid][person] > 0 || low[person] {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Department != code {
			if county == "" {
				county = baocun.CityJurisdiction
			}
			out = append(out, baocun.Eligible{Department: code, County: county, People: map[string]int64{}})
		}
		e := &out[len(out)-1]
		e.People[person] = pid
		e.Count = len(e.People)
	}
	return out, rows.Err()
}
