package sqldb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"baocun"
)

// CreateUser stores a new account with its roles, the policy version bump and the
// audit entry, in one transaction.
func (db *DB) CreateUser(ctx context.Context, nu baocun.NewUser, audit *baocun.AuditEntry) (*baocun.User, error) {
	if err := baocun.ValidateUsername(nu.Username); err != nil {
		return nil, err
	}
	now := time.Now()
	var id int64
	var u *baocun.User
	err := db.InTx(ctx, func(tx *Tx) error {
		if nu.PersonID != "" {
			if err := mustExist(ctx, tx, "SELECT 1 FROM people WHERE id = ?", nu.PersonID, "person_id", "没有这个人员 No such person: "+nu.PersonID); err != nil {
				return err
			}
		}
		if nu.VillageCode != "" {
			if err := mustExist(ctx, tx, "SELECT 1 FROM villages WHERE code = ?", nu.VillageCode, "village_code", "没有这个行政村 No such village: "+nu.VillageCode); err != nil {
				return err
			}
		}
		for i, g := range nu.Roles {
			if err := checkGrant(ctx, tx, g, fmt.Sprintf("roles[%d]", i)); err != nil {
				return err
			}
			if err := checkPersonFor(g.Role, nu.PersonID, fmt.Sprintf("roles[%d]", i)); err != nil {
				return err
			}
		}
		// ON CONFLICT, not a check first: two admins creating the same name at once
		// get one account and one clear conflict, on PostgreSQL too.
		// The account's department is its person's as the admin creates it; a later
		// directory edit moves the person, not the account (DESIGN.md).
		err := tx.QueryRowContext(ctx,
			`INSERT INTO users (username, password_hash, person_id, village_code, department_code, created_at)
			VALUES (?, ?, ?, ?, COALESCE((SELECT department_code FROM people WHERE id = ?), ''), ?) ON CONFLICT (username) DO NOTHING RETURNING id`,
			nu.Username, nu.PasswordHash, nullable(nu.PersonID), nullable(nu.VillageCode), nu.PersonID, FormatTime(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return &baocun.Error{Code: baocun.ECONFLICT, Message: "用户名已存在 Username already exists: " + nu.Username,
				Fields: map[string]string{"username": "taken"}}
		}
		if err != nil {
			return err
		}
		for _, g := range nu.Roles {
			if _, err := tx.ExecContext(ctx, "INSERT INTO casbin_rule (ptype, v0, v1, v2) VALUES ('g', ?, ?, ?) ON CONFLICT DO NOTHING",
				nu.Username, g.Role, g.Jurisdiction); err != nil {
				return err
			}
		}
		if err := bumpPolicyVersion(ctx, tx); err != nil {
			return err
		}
		if err := AppendAuditTx(ctx, tx, audit); err != nil {
			return err
		}
		// Read back inside the transaction: once it commits, nothing can fail.
		u, err = userWhere(ctx, tx, "u.id = ?", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// rolesOfPeople are the roles whose rules depend on the holder's department (own
// department, own pairing, and a reviewer's bar on their own department): held only
// by an account that is a person of the directory, so the bar can never fail open.
var rolesOfPeople = map[baocun.Role]bool{baocun.RoleReviewer: true, baocun.RoleDeptLead: true, baocun.RoleTeamMember: true}

func checkPersonFor(role baocun.Role, personID, field string) error {
	if rolesOfPeople[role] && personID == "" {
		return &baocun.Error{Code: baocun.EINVALID,
			Message: fmt.Sprintf("角色 %s 须关联人员（部门） Role %s needs an account linked to a person of the directory (person_id), so its department is known.", role, role),
			Fields:  map[string]string{field + ".role": "needs person_id"}}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mustExist(ctx context.Context, q Querier, query, arg, field, msg string) error {
	var one int
	err := q.QueryRowContext(ctx, query, arg).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return &baocun.Error{Code: baocun.EINVALID, Message: msg, Fields: map[string]string{field: "not found"}}
	}
	return err
}

// checkGrant refuses a role that does not exist or a jurisdiction that is neither the
// city nor a county the villages name.
func checkGrant(ctx context.Context, q Querier, g baocun.Grant, field string) error {
	if _, err := baocun.ParseRole(field+".role", string(g.Role)); err != nil {
		return err
	}
	if g.Jurisdiction == baocun.CityJurisdiction {
		return nil
	}
	return mustExist(ctx, q, "SELECT 1 FROM villages WHERE county = ? LIMIT 1", g.Jurisdiction, field+".jurisdiction",
		fmt.Sprintf("没有这个辖区 No such jurisdiction: %q (\"*\" or a county of the villages file)", g.Jurisdiction))
}

// lockPolicy serialises the transaction with every other that changes who may
// administer: it takes the policy version row's lock (on SQLite the transaction
// holds the write lock already) without changing it.
func lockPolicy(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE settings SET value = value WHERE key = 'policy_version'")
	return err
}

func bumpPolicyVersion(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = ? WHERE key = 'policy_version'",
		FormatTime(time.Now()))
	return err
}

// User returns the account with its roles and its person's department.
func (db *DB) User(ctx context.Context, username string) (*baocun.User, error) {
	return userWhere(ctx, db, "u.username = ?", username)
}

func userWhere(ctx context.Context, q Querier, where string, args ...any) (*baocun.User, error) {
	var u baocun.User
	var person, village, directory sql.NullString
	var created string
	var disabled, mustChange int
	err := q.QueryRowContext(ctx, `SELECT u.id, u.username, u.person_id, u.village_code, u.department_code, p.department_code,
		u.disabled, u.must_change_password, u.created_at
		FROM users u LEFT JOIN people p ON p.id = u.person_id WHERE `+where, args...).
		Scan(&u.ID, &u.Username, &person, &village, &u.Department, &directory, &disabled, &mustChange, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个用户 No such user"}
	}
	if err != nil {
		return nil, err
	}
	u.PersonID, u.VillageCode, u.Disabled, u.MustChangePassword = person.String, village.String, disabled != 0, mustChange != 0
	if directory.Valid && directory.String != u.Department {
		u.PendingDepartment = directory.String
	}
	u.CreatedAt, _ = ParseTime(created)
	u.Roles, err = grants(ctx, q, u.Username)
	return &u, err
}

func grants(ctx context.Context, q Querier, username string) ([]baocun.Grant, error) {
	rows, err := q.QueryContext(ctx, "SELECT v1, v2 FROM casbin_rule WHERE ptype = 'g' AND v0 = ? ORDER BY v1, v2", username)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Grant{}
	for rows.Next() {
		var g baocun.Grant
		if err := rows.Scan(&g.Role, &g.Jurisdiction); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Users lists accounts by id, a page at a time; cursor is the last id of the
// previous page.
func (db *DB) Users(ctx context.Context, after int64, limit int) ([]baocun.User, error) {
	rows, err := db.QueryContext(ctx, "SELECT username FROM users WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := make([]baocun.User, 0, len(names))
	for _, n := range names {
		u, err := db.User(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}

// MaxLiveTokens is how many live tokens an account keeps: a sign-in beyond it ends
// the oldest, so signing in in a loop stores no more than this many live secrets.
const MaxLiveTokens = 20

// CreateToken issues a new secret for the user, only while its credential epoch is
// still epoch (the one Login checked the password against) and it is enabled; else
// it issues none and answers as a wrong password does (the password that was checked
// is no longer the account's). Only the secret's SHA-256 is stored. It ends the
// oldest live tokens beyond MaxLiveTokens and reports how many.
func (db *DB) CreateToken(ctx context.Context, userID, epoch int64, kind string, ttl time.Duration) (string, time.Time, int, error) {
	buf := make([]byte, 32)
	rand.Read(buf)
	token := base64.RawURLEncoding.EncodeToString(buf)
	now := time.Now()
	expires := now.Add(ttl)
	ended := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		// One statement checks and inserts. On PostgreSQL FOR UPDATE waits for a
		// transaction ending the sessions (it updates the user's row first) and then
		// sees its epoch, and it orders sign-ins of one account, so the cap below
		// counts the tokens of those that committed first (FOR SHARE would let two
		// run at once, each blind to the other's token: 21 live); on SQLite the
		// transaction holds the write lock already.
		q := `INSERT INTO tokens (hash, user_id, kind, created_at, expires_at)
			SELECT ?, id, ?, ?, ? FROM users WHERE id = ? AND credential_epoch = ? AND disabled = 0`
		if tx.Dialect() == Postgres {
			q += " FOR UPDATE"
		}
		res, err := tx.ExecContext(ctx, q, tokenHash(token), kind, FormatTime(now), FormatTime(expires), userID, epoch)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errBadLogin
		}
		res, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = '' AND expires_at > ? AND hash NOT IN
			(SELECT hash FROM tokens WHERE user_id = ? AND revoked_at = '' AND expires_at > ? ORDER BY created_at DESC, hash DESC LIMIT ?)`,
			FormatTime(now), userID, FormatTime(now), userID, FormatTime(now), MaxLiveTokens)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ended = int(n)
		return nil
	})
	if err != nil {
		return "", time.Time{}, 0, err
	}
	return token, expires, ended, nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// UserByToken returns the user a live token of the kind belongs to.
func (db *DB) UserByToken(ctx context.Context, token, kind string, now time.Time) (*baocun.User, error) {
	u, err := userWhere(ctx, db, "u.id = (SELECT user_id FROM tokens WHERE hash = ? AND kind = ? AND revoked_at = '' AND expires_at > ?) AND u.disabled = 0",
		tokenHash(token), kind, FormatTime(now))
	if baocun.ErrorCode(err) == baocun.ENOTFOUND {
		return nil, &baocun.Error{Code: baocun.EUNAUTHORIZED, Message: "登录已失效，请重新登录 The token is invalid or expired; sign in again."}
	}
	return u, err
}

// RevokeToken ends a token (sign-out).
func (db *DB) RevokeToken(ctx context.Context, token string) error {
	_, err := db.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at = ''", FormatTime(time.Now()), tokenHash(token))
	return err
}
