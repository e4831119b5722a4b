package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"baocun"
)

// PolicyRules returns every Casbin rule as [ptype, v0, v1…] (trailing empty values
// dropped) and the policy version they are at, read in one transaction so the two
// agree.
func (db *DB) PolicyRules(ctx context.Context) ([][]string, int64, error) {
	var out [][]string
	var version int64
	err := db.InTx(ctx, func(tx *Tx) error {
		v, err := policyVersion(ctx, tx)
		if err != nil {
			return err
		}
		version = v
		rows, err := tx.QueryContext(ctx, "SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := make([]string, 7)
			if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]); err != nil {
				return err
			}
			for len(r) > 1 && r[len(r)-1] == "" {
				r = r[:len(r)-1]
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, version, err
}

// PolicyVersion is the number of policy changes so far: one indexed read, done before
// every authorization decision so no instance decides on a stale policy.
func (db *DB) PolicyVersion(ctx context.Context) (int64, error) {
	return policyVersion(ctx, db)
}

func policyVersion(ctx context.Context, q Querier) (int64, error) {
	var s string
	if err := q.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'policy_version'").Scan(&s); err != nil {
		return 0, fmt.Errorf("read policy version: %w", err)
	}
	return strconv.ParseInt(s, 10, 64)
}

// SeedPolicy stores the default permission rules when the database has none (its
// first start); afterwards the database's rules are the policy.
func (db *DB) SeedPolicy(ctx context.Context, rules [][]string, audit *baocun.AuditEntry) (bool, error) {
	seeded := false
	err := db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'p'").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, r := range rules {
			v := make([]any, 7)
			for i := range v {
				v[i] = ""
				if i < len(r) {
					v[i] = r[i]
				}
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?)", v...); err != nil {
				return fmt.Errorf("seed policy rule %v: %w", r, err)
			}
		}
		seeded = true
		if err := bumpPolicyVersion(ctx, tx); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return seeded, err
}

// AddPolicyRules adds the rules of a release's addition (policy.Additions) to a
// policy seeded before it, once: the settings key policy_added:<name> marks it done,
// so a rule removed afterwards stays removed. On a policy seeded with them already it
// only sets the mark. It reports how many rules it added; the audit entry is written
// only then, with the rules in its summary.
func (db *DB) AddPolicyRules(ctx context.Context, name string, rules [][]string, audit *baocun.AuditEntry) (int, error) {
	added := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, '1', ?) ON CONFLICT (key) DO NOTHING",
			"policy_added:"+name, FormatTime(time.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // added before
		}
		var seeded int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM casbin_rule WHERE ptype = 'p'").Scan(&seeded); err != nil {
			return err
		}
		if seeded == 0 {
			return nil // SeedPolicy will store the whole default, these included
		}
		for _, r := range rules {
			v := make([]any, 7)
			for i := range v {
				v[i] = ""
				if i < len(r) {
					v[i] = r[i]
				}
			}
			res, err := tx.ExecContext(ctx, "INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", v...)
			if err != nil {
				return fmt.Errorf("add policy rule %v: %w", r, err)
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		if added == 0 {
			return nil
		}
		if err := bumpPolicyVersion(ctx, tx); err != nil {
			return err
		}
		if audit != nil {
			audit.Summary = withFields(audit.Summary, map[string]any{"addition": name, "rules": rules, "added": added})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	return added, err
}

// GrantRole gives username a role in a jurisdiction. Granting a role already held is
// a conflict, so a client can tell it changed nothing.
func (db *DB) GrantRole(ctx context.Context, username string, g baocun.Grant, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := mustExist(ctx, tx, "SELECT 1 FROM users WHERE username = ?", username, "username", "没有这个用户 No such user: "+username); err != nil {
			return err
		}
		if err := checkGrant(ctx, tx, g, "grant"); err != nil {
			return err
		}
		var person sql.NullString
		if err := tx.QueryRowContext(ctx, "SELECT person_id FROM users WHERE username = ?", username).Scan(&person); err != nil {
			return err
		}
		if err := checkPersonFor(g.Role, person.String, "grant"); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('g', ?, ?, ?) ON CONFLICT DO NOTHING", username, g.Role, g.Jurisdiction)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &baocun.Error{Code: baocun.ECONFLICT, Message: fmt.Sprintf("%s 已拥有该角色 already holds %s in %s", username, g.Role, g.Jurisdiction)}
		}
		if err := bumpPolicyVersion(ctx, tx); err != nil {
			return err
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}

// RevokeRole takes a role back; every instance refuses it from its next decision on.
// Taking the last role ends the account's sessions in the same transaction: a token
// with no role left is no use to its owner, and a live one is a thief's.
func (db *DB) RevokeRole(ctx context.Context, username string, g baocun.Grant, audit *baocun.AuditEntry) error {
	return db.InTx(ctx, func(tx *Tx) error {
		// The version first: its row lock serialises this with every other change
		// of who may administer, before keepAnAdmin counts.
		if err := bumpPolicyVersion(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM casbin_rule WHERE ptype = 'g' AND v0 = ? AND v1 = ? AND v2 = ?", username, g.Role, g.Jurisdiction)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("%s 没有该角色 does not hold %s in %s", username, g.Role, g.Jurisdiction)}
		}
		if g == (baocun.Grant{Role: baocun.RoleAdmin, Jurisdiction: baocun.CityJurisdiction}) {
			if err := keepAnAdmin(ctx, tx); err != nil {
				return err
			}
		}
		left, err := grants(ctx, tx, username)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			var id int64
			if err := tx.QueryRowContext(ctx, "SELECT id FROM users WHERE username = ?", username).Scan(&id); err != nil {
				return err
			}
			ended, err := endSessions(ctx, tx, id, "", time.Now())
			if err != nil {
				return err
			}
			if audit != nil {
				audit.Summary = withFields(audit.Summary, map[string]any{"roles_after": left, "sessions_ended": ended})
			}
		}
		return AppendAuditTx(ctx, tx, audit)
	})
}
