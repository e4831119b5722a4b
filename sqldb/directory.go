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

// Department returns one department of the directory.
func (db *DB) Department(ctx context.Context, code string) (*baocun.Department, error) {
	var d baocun.Department
	err := db.QueryRowContext(ctx, "SELECT code, name, level, county FROM departments WHERE code = ?", code).
		Scan(&d.Code, &d.Name, &d.Level, &d.County)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个部门 No such department: " + code}
	}
	return &d, err
}

// People lists a department's people by id.
func (db *DB) People(ctx context.Context, department string) ([]baocun.Person, error) {
	rows, err := db.QueryContext(ctx, "SELECT id, name, department_code, title, phone FROM people WHERE department_code = ? ORDER BY id", department)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Person{}
	for rows.Next() {
		var p baocun.Person
		if err := rows.Scan(&p.ID, &p.Name, &p.DepartmentCode, &p.Title, &p.Phone); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ImportDepartments upserts departments by code, all or nothing, with the audit entry.
func (db *DB) ImportDepartments(ctx context.Context, ds []baocun.Department, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		for _, d := range ds {
			if _, err := tx.ExecContext(ctx, `INSERT INTO departments (code, name, level, county) VALUES (?, ?, ?, ?)
				ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, county = excluded.county`,
				d.Code, d.Name, d.Level, d.County); err != nil {
				return fmt.Errorf("department %s: %w", d.Code, err)
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// ImportVillages upserts villages by code, all or nothing, with the audit entry.
func (db *DB) ImportVillages(ctx context.Context, vs []baocun.Village, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := lockVillages(ctx, tx); err != nil {
			return err
		}
		for _, v := range vs {
			// A file without a village's point keeps the one stored.
			// The income's band is kept beside it, for the statistics. A file without
			// a village's income, population or households (or its point) keeps those
			// stored: the village years set them too.
			income := v.CollectiveIncomeWan
			if income == "" {
				income = "0"
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO villages (code, name, county, township, class, collective_income_wan, income_band, population, households, lat, lng)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (code) DO UPDATE SET name = excluded.name, county = excluded.county, township = excluded.township, class = excluded.class,
					collective_income_wan = CASE WHEN ? THEN villages.collective_income_wan ELSE excluded.collective_income_wan END,
					income_band = CASE WHEN ? THEN villages.income_band ELSE excluded.income_band END,
					population = CASE WHEN excluded.population > 0 THEN excluded.population ELSE villages.population END,
					households = CASE WHEN excluded.households > 0 THEN excluded.households ELSE villages.households END,
					lat = COALESCE(excluded.lat, villages.lat), lng = COALESCE(excluded.lng, villages.lng)`,
				v.Code, v.Name, v.County, v.Township, v.Class, income, baocun.IncomeBandOf(income), v.Population, v.Households, v.Lat, v.Lng,
				v.CollectiveIncomeWan == "", v.CollectiveIncomeWan == ""); err != nil {
				return fmt.Errorf("village %s: %w", v.Code, err)
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// ImportPeople upserts people by id, all or nothing, with the audit entry. A person
// of a department the directory lacks rejects the file; lines[i] is the line of
// ps[i], so the error names it.
func (db *DB) ImportPeople(ctx context.Context, ps []baocun.Person, lines []int, column string, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		known := map[string]bool{}
		var bad []baocun.RowError
		for i, p := range ps {
			ok, seen := known[p.DepartmentCode]
			if !seen {
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM departments WHERE code = ?", p.DepartmentCode).Scan(&n); err != nil {
					return err
				}
				ok = n > 0
				known[p.DepartmentCode] = ok
			}
			if !ok && len(bad) < 200 {
				bad = append(bad, baocun.RowError{Line: lines[i], Column: column,
					Message: fmt.Sprintf("没有这个部门 no such department %q: import the departments first", p.DepartmentCode)})
			}
		}
		if len(bad) > 0 {
			return &baocun.ImportError{Rows: bad}
		}
		moves, err := accountMoves(ctx, tx, ps, audit)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, name, department_code, title, phone) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, department_code = excluded.department_code,
					title = excluded.title, phone = excluded.phone`,
				p.ID, p.Name, p.DepartmentCode, p.Title, p.Phone); err != nil {
				return fmt.Errorf("person %s: %w", p.ID, err)
			}
		}
		for i := range moves {
			if err := AppendAuditTx(ctx, tx, &moves[i]); err != nil {
				return err
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// accountMoves are the audit entries of the accounts whose person the import moves
// to another department. The account keeps its own department (its scope) until an
// admin confirms the move; the entry records the account before and after: the
// department it acts for, and the one pending.
func accountMoves(ctx context.Context, tx *Tx, ps []baocun.Person, by *baocun.AuditEntry) ([]baocun.AuditEntry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.username, u.person_id, u.department_code, p.department_code
		FROM users u JOIN people p ON p.id = u.person_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type account struct{ username, own, directory string }
	accounts := map[string][]account{}
	for rows.Next() {
		var a account
		var person string
		if err := rows.Scan(&a.username, &person, &a.own, &a.directory); err != nil {
			return nil, err
		}
		accounts[person] = append(accounts[person], a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []baocun.AuditEntry
	for _, p := range ps {
		for _, a := range accounts[p.ID] {
			if a.directory == p.DepartmentCode {
				continue
			}
			pending := func(dir string) string {
				if dir == a.own {
					return ""
				}
				return dir
			}
			e := baocun.AuditEntry{Actor: "system", Action: "user.department_pending", Resource: "users/" + a.username,
				Department: p.DepartmentCode,
				Summary: summaryJSON(map[string]any{"username": a.username, "person_id": p.ID,
					"before": map[string]string{"department_code": a.own, "pending_department_code": pending(a.directory)},
					"after":  map[string]string{"department_code": a.own, "pending_department_code": pending(p.DepartmentCode)},
					"note":   "directory edit: the account's scope changes only when an admin confirms"})}
			if by != nil {
				e.Actor, e.Role, e.Jurisdiction, e.Rule = by.Actor, by.Role, by.Jurisdiction, by.Rule
				e.RequestID, e.SourceIP, e.UserAgent, e.Status = by.RequestID, by.SourceIP, by.UserAgent, by.Status
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Departments lists departments by code after the cursor, of one county or all ("").
func (db *DB) Departments(ctx context.Context, county, after string, limit int) ([]baocun.Department, error) {
	rows, err := db.QueryContext(ctx, "SELECT code, name, level, county FROM departments WHERE code > ? AND (? = '' OR county = ?) ORDER BY code LIMIT ?",
		after, county, county, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Department{}
	for rows.Next() {
		var d baocun.Department
		if err := rows.Scan(&d.Code, &d.Name, &d.Level, &d.County); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Villages lists villages by code after the cursor, of one county or all ("").
//
// unpaired keeps only the lagging villages (class 2 or 3) left unpaired: in no running
// cycle's pairing that is still open, which a launch would refuse.
func (db *DB) Villages(ctx context.Context, county string, unpaired bool, after string, limit int) ([]baocun.Village, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+villageColumns+`
		FROM villages v WHERE code > ? AND (? = '' OR county = ?)
		AND (? = 0 OR (class IN (2, 3) AND NOT EXISTS (SELECT 1 FROM pairings o JOIN cycles oc ON oc.id = o.cycle_id AND oc.status = ?
			WHERE o.village_code = v.code AND o.stage NOT IN (?, ?))))
		ORDER BY code LIMIT ?`, after, county, county, boolInt(unpaired), baocun.CycleRunning, baocun.StageClosed, baocun.StageCancelled, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Village{}
	for rows.Next() {
		v, err := scanVillage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

const villageColumns = "code, name, county, township, class, collective_income_wan, population, households, lat, lng"

func scanVillage(row interface{ Scan(...any) error }) (*baocun.Village, error) {
	var v baocun.Village
	var lat, lng sql.NullFloat64
	if err := row.Scan(&v.Code, &v.Name, &v.County, &v.Township, &v.Class, &v.CollectiveIncomeWan, &v.Population, &v.Households, &lat, &lng); err != nil {
		return nil, err
	}
	if lat.Valid && lng.Valid {
		v.Lat, v.Lng = &lat.Float64, &lng.Float64
	}
	return &v, nil
}

// Village returns one village of the directory.
func (db *DB) Village(ctx context.Context, code string) (*baocun.Village, error) {
	v, err := scanVillage(db.QueryRowContext(ctx, `SELECT `+villageColumns+` FROM villages WHERE code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个行政村 No such village: " + code}
	}
	return v, err
}

// Person returns one person of the directory.
func (db *DB) Person(ctx context.Context, id string) (*baocun.Person, error) {
	var p baocun.Person
	err := db.QueryRowContext(ctx, "SELECT id, name, department_code, title, phone FROM people WHERE id = ?", id).
		Scan(&p.ID, &p.Name, &p.DepartmentCode, &p.Title, &p.Phone)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个人员 No such person: " + id}
	}
	return &p, err
}

// lockVillages serialises the imports that write villages on PostgreSQL (SQLite's
// writer is one already): a village's latest year is read and written as one, and
// two imports never wait on each other's villages in opposite orders.
func lockVillages(ctx context.Context, tx *Tx) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('baocun.villages'))")
	return err
}

// ImportVillageYears upserts villages' years (by village and year), all or nothing,
// with the audit entry; a village the directory lacks rejects the file, naming its
// line (lines[i] is ys[i]'s, column the file's heading). A year that is its village's
// latest is the directory's too: its income (and band), its population where given,
// its class where given.
func (db *DB) ImportVillageYears(ctx context.Context, ys []baocun.VillageYear, lines []int, column string, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := lockVillages(ctx, tx); err != nil {
			return err
		}
		known := map[string]bool{}
		var bad []baocun.RowError
		for i, y := range ys {
			ok, seen := known[y.VillageCode]
			if !seen {
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM villages WHERE code = ?", y.VillageCode).Scan(&n); err != nil {
					return err
				}
				ok = n > 0
				known[y.VillageCode] = ok
			}
			if !ok && len(bad) < 200 {
				bad = append(bad, baocun.RowError{Line: lines[i], Column: column,
					Message: fmt.Sprintf("没有这个行政村 no such village %q: import the villages first", y.VillageCode)})
			}
		}
		if len(bad) > 0 {
			return &baocun.ImportError{Rows: bad}
		}
		for _, y := range ys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO village_years (village_code, year, collective_income_wan, population, class) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (village_code, year) DO UPDATE SET collective_income_wan = excluded.collective_income_wan,
					population = excluded.population, class = excluded.class`,
				y.VillageCode, y.Year, y.CollectiveIncomeWan, y.Population, y.Class); err != nil {
				return fmt.Errorf("village %s, %d: %w", y.VillageCode, y.Year, err)
			}
		}
		for _, y := range ys {
			// The latest year of each village is what the directory says of it now.
			if _, err := tx.ExecContext(ctx, `UPDATE villages SET collective_income_wan = ?, income_band = ?,
				population = CASE WHEN ? > 0 THEN ? ELSE population END, class = CASE WHEN ? > 0 THEN ? ELSE class END
				WHERE code = ? AND NOT EXISTS (SELECT 1 FROM village_years WHERE village_code = ? AND year > ?)`,
				y.CollectiveIncomeWan, baocun.IncomeBandOf(y.CollectiveIncomeWan), y.Population, y.Population, y.Class, y.Class,
				y.VillageCode, y.VillageCode, y.Year); err != nil {
				return err
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// VillageHistory is a village over time: its years, oldest first, and its pairings,
// the earliest first.
func (db *DB) VillageHistory(ctx context.Context, code string) (*baocun.VillageHistory, error) {
	v, err := db.Village(ctx, code)
	if err != nil {
		return nil, err
	}
	h := &baocun.VillageHistory{Village: *v, Years: []baocun.VillageYear{}, Pairings: []baocun.VillagePairing{}, Contacts: []baocun.LeaderContact{}}
	rows, err := db.QueryContext(ctx, "SELECT year, collective_income_wan, population, class FROM village_years WHERE village_code = ? ORDER BY year", code)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		y := baocun.VillageYear{VillageCode: code}
		if err := rows.Scan(&y.Year, &y.CollectiveIncomeWan, &y.Population, &y.Class); err != nil {
			return nil, err
		}
		h.Years = append(h.Years, y)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	prs, err := db.QueryContext(ctx, `SELECT p.id, p.cycle_id, c.name, p.department_code, p.kind, p.stage, p.baseline_class, p.baseline_income_wan,
		a.new_class, COALESCE(NULLIF(a.final_grade, ''), a.grade)
		FROM pairings p JOIN cycles c ON c.id = p.cycle_id LEFT JOIN acceptance_results a ON a.pairing_id = p.id
		WHERE p.village_code = ? ORDER BY p.id`, code)
	if err != nil {
		return nil, err
	}
	defer prs.Close()
	for prs.Next() {
		var vp baocun.VillagePairing
		var after sql.NullInt64
		var grade sql.NullString
		if err := prs.Scan(&vp.PairingID, &vp.CycleID, &vp.CycleName, &vp.Department, &vp.Kind, &vp.Stage, &vp.ClassAtLaunch, &vp.IncomeAtLaunchWan, &after, &grade); err != nil {
			return nil, err
		}
		if after.Valid {
			n := int(after.Int64)
			vp.ClassAfter = &n
		}
		vp.Grade = grade.String
		h.Pairings = append(h.Pairings, vp)
	}
	if err := prs.Err(); err != nil {
		return nil, err
	}
	return h, db.contacts(ctx, h)
}

// contacts adds the village's leaders' contacts to h, and the visits recorded at its
// pairings (h.CountVisits counts them for a reader).
func (db *DB) contacts(ctx context.Context, h *baocun.VillageHistory) error {
	rows, err := db.QueryContext(ctx, `SELECT id, leader, title, level, registered_by, registered_at FROM leader_contacts WHERE village_code = ? ORDER BY id`, h.Village.Code)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		lc := baocun.LeaderContact{VillageCode: h.Village.Code}
		var at string
		if err := rows.Scan(&lc.ID, &lc.Leader, &lc.Title, &lc.Level, &lc.RegisteredBy, &at); err != nil {
			return err
		}
		lc.RegisteredAt, _ = ParseTime(at)
		h.Contacts = append(h.Contacts, lc)
	}
	if err := rows.Err(); err != nil || len(h.Contacts) == 0 {
		return err
	}
	visits, err := db.QueryContext(ctx, `SELECT e.pairing_id, e.programme_at, e.data FROM pairing_events e JOIN pairings p ON p.id = e.pairing_id
		WHERE p.village_code = ? AND e.kind = 'visit.recorded'`, h.Village.Code)
	if err != nil {
		return err
	}
	defer visits.Close()
	for visits.Next() {
		var pid int64
		var day, data string
		if err := visits.Scan(&pid, &day, &data); err != nil {
			return err
		}
		var v baocun.VisitInput
		if json.Unmarshal([]byte(data), &v) != nil {
			continue
		}
		h.Visits = append(h.Visits, baocun.VillageVisit{PairingID: pid, Day: day, Visitor: strings.TrimSpace(v.Visitor)})
	}
	return visits.Err()
}

// AddLeaderContact registers a leader's contact village, with the audit entry; the
// same leader twice for one village is a conflict.
func (db *DB) AddLeaderContact(ctx context.Context, lc baocun.LeaderContact, audit *baocun.AuditEntry) (*baocun.LeaderContact, error) {
	lc.RegisteredAt = time.Now().UTC().Truncate(time.Millisecond)
	err := db.InTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO leader_contacts (village_code, leader, title, level, registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (village_code, leader) DO NOTHING RETURNING id`, lc.VillageCode, lc.Leader, lc.Title, lc.Level, lc.RegisteredBy, FormatTime(lc.RegisteredAt)).Scan(&lc.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return baocun.Errorf(baocun.ECONFLICT, "%s 已是行政村 %s 的联系领导 %s is already a contact leader of village %s.", lc.Leader, lc.VillageCode, lc.Leader, lc.VillageCode)
		}
		if err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("villages/%s/contacts/%d", lc.VillageCode, lc.ID)
			audit.Summary = jsonSummary(map[string]any{"leader": lc.Leader, "title": lc.Title, "level": lc.Level})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	if err != nil {
		return nil, err
	}
	return &lc, nil
}
