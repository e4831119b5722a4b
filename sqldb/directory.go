package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
		for _, v := range vs {
			// A file without a village's point keeps the one stored.
			// The income's band is kept beside it, for the statistics.
			if _, err := tx.ExecContext(ctx, `INSERT INTO villages (code, name, county, township, class, collective_income_wan, income_band, population, households, lat, lng)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (code) DO UPDATE SET name = excluded.name, county = excluded.county, township = excluded.township,
					class = excluded.class, collective_income_wan = excluded.collective_income_wan, income_band = excluded.income_band,
					population = excluded.population, households = excluded.households,
					lat = COALESCE(excluded.lat, villages.lat), lng = COALESCE(excluded.lng, villages.lng)`,
				v.Code, v.Name, v.County, v.Township, v.Class, v.CollectiveIncomeWan, baocun.IncomeBandOf(v.CollectiveIncomeWan), v.Population, v.Households, v.Lat, v.Lng); err != nil {
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
