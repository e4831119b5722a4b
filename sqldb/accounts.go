package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"baocun"
)

// UpdateAccount makes one admin's (or, for their own password, the owner's) change
// to an account, and records it in the audit entry with the account's state before
// and after, in one transaction: a disabled account's or a reset password's sessions
// are gone the moment the change commits. It returns the account as changed and how
// many sessions it ended.
func (db *DB) UpdateAccount(ctx context.Context, username string, ch baocun.AccountChange, audit *baocun.AuditEntry) (*baocun.User, int, error) {
	var u *baocun.User
	ended := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		now := time.Now()
		if ch.Disabled != nil && *ch.Disabled {
			if err := lockPolicy(ctx, tx); err != nil { // before anything is read: keepAnAdmin
				return err
			}
		}
		before, err := userWhere(ctx, tx, "u.username = ?", username)
		if err != nil {
			return err
		}
		stateBefore, err := accountState(ctx, tx, before, now)
		if err != nil {
			return err
		}
		var changed []string
		if ch.Disabled != nil {
			disabled := 0
			if *ch.Disabled {
				disabled = 1
				ch.EndSessions = true
			}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET disabled = ? WHERE id = ?", disabled, before.ID); err != nil {
				return err
			}
			if *ch.Disabled && holdsCityAdmin(before) {
				if err := keepAnAdmin(ctx, tx); err != nil {
					return err
				}
			}
			changed = append(changed, map[bool]string{true: "disabled", false: "enabled"}[*ch.Disabled])
		}
		if ch.Department != nil {
			if before.PersonID == "" {
				return fieldErr("department_code", "该账户不是名录中的人员，没有部门 The account is no person of the directory: it has no department.")
			}
			var directory string
			err := tx.QueryRowContext(ctx, "SELECT department_code FROM people WHERE id = ?", before.PersonID).Scan(&directory)
			if errors.Is(err, sql.ErrNoRows) {
				return &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{"department_code": "no such person"},
					Message: "该账户的人员 " + before.PersonID + " 已不在名录中，无法确认部门 The account's person " + before.PersonID +
						" is no longer in the directory: there is no department to confirm."}
			}
			if err != nil {
				return err
			}
			if *ch.Department != directory {
				return fieldErr("department_code", "只能确认名录中该人员现在的部门 "+directory+
					" Only the person's department in the directory now ("+directory+") can be confirmed as the account's.")
			}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET department_code = ? WHERE id = ?", directory, before.ID); err != nil {
				return err
			}
			changed = append(changed, "department_confirmed")
		}
		if ch.PasswordHash != "" {
			mustChange := 0
			if ch.MustChangePassword {
				mustChange = 1
			}
			q, args := "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?", []any{ch.PasswordHash, mustChange, before.ID}
			if ch.IfEpoch != nil {
				// In the statement, not read before it: on PostgreSQL a reset
				// committing meanwhile is seen here, once its row lock is released.
				q, args = q+" AND credential_epoch = ?", append(args, *ch.IfEpoch)
			}
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return &baocun.Error{Code: baocun.ECONFLICT, Fields: map[string]string{"old_password": "changed meanwhile"},
					Message: "密码刚被修改或重置，请重新登录 The password was changed or reset meanwhile: sign in again."}
			}
			ch.EndSessions = true
			changed = append(changed, map[bool]string{true: "password_reset", false: "password_changed"}[ch.MustChangePassword])
		}
		if ch.EndSessions {
			if ended, err = endSessions(ctx, tx, before.ID, ch.KeepToken, now); err != nil {
				return err
			}
			changed = append(changed, "sessions_ended")
		}
		if ch.Unlock {
			// The failures and locks go; the networks the owner signs in from stay
			// familiar, so an unlock (or a reset) in the middle of an attack does not
			// put the owner behind the account's throttle.
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE username = ? AND last_success = 0", username); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE login_failures SET failures = 0, locked_until = 0 WHERE username = ?", username); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_buckets WHERE key IN (?, ?)",
				accountFailures.key(username), accountSuccesses.key(username)); err != nil {
				return err
			}
			changed = append(changed, "unlocked")
		}
		if u, err = userWhere(ctx, tx, "u.id = ?", before.ID); err != nil {
			return err
		}
		stateAfter, err := accountState(ctx, tx, u, now)
		if err != nil {
			return err
		}
		if audit != nil {
			audit.Summary = summaryJSON(map[string]any{"username": username, "changes": changed,
				"before": stateBefore, "after": stateAfter, "sessions_ended": ended})
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	if err != nil {
		return nil, 0, err
	}
	return u, ended, nil
}

func fieldErr(field, msg string) error {
	return &baocun.Error{Code: baocun.EINVALID, Message: msg, Fields: map[string]string{field: "invalid"}}
}

func summaryJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// withFields adds fields to a summary that is a JSON object (or empty).
func withFields(summary string, fields map[string]any) string {
	m := map[string]any{}
	if summary != "" && json.Unmarshal([]byte(summary), &m) != nil {
		m = map[string]any{"request": summary}
	}
	for k, v := range fields {
		m[k] = v
	}
	return summaryJSON(m)
}

// accountState is what the trail records of u.
func accountState(ctx context.Context, q Querier, u *baocun.User, now time.Time) (baocun.AccountState, error) {
	st := baocun.AccountState{Disabled: u.Disabled, MustChangePassword: u.MustChangePassword,
		Department: u.Department, PendingDepartment: u.PendingDepartment}
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens WHERE user_id = ? AND revoked_at = '' AND expires_at > ?",
		u.ID, FormatTime(now)).Scan(&st.Sessions); err != nil {
		return st, err
	}
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM login_failures WHERE username = ? AND locked_until > ?",
		u.Username, ms(now)).Scan(&st.LockedAddresses)
	return st, err
}

// endSessions revokes every live token of the user but keep's, and moves the
// credential epoch first: a sign-in whose password was checked before this
// transaction commits gets no token after it (CreateToken), and on PostgreSQL the
// epoch's row lock makes one in the middle of issuing its token wait, so the
// revocation below sees that token.
func endSessions(ctx context.Context, q Querier, userID int64, keep string, now time.Time) (int, error) {
	if _, err := q.ExecContext(ctx, "UPDATE users SET credential_epoch = credential_epoch + 1 WHERE id = ?", userID); err != nil {
		return 0, err
	}
	keepHash := ""
	if keep != "" {
		keepHash = tokenHash(keep)
	}
	res, err := q.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = '' AND expires_at > ? AND hash <> ?",
		FormatTime(now), userID, FormatTime(now), keepHash)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Sessions lists the account's live tokens, newest first, without their secrets, at
// most limit of them after cursor ("" for the first page); next is the cursor of
// the page after, "" on the last.
func (db *DB) Sessions(ctx context.Context, username string, now time.Time, cursor string, limit int) ([]baocun.Session, string, error) {
	u, err := db.User(ctx, username)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT hash, kind, created_at, expires_at FROM tokens WHERE user_id = ? AND revoked_at = '' AND expires_at > ?`
	args := []any{u.ID, FormatTime(now)}
	if cursor != "" {
		created, id, ok := parseSessionCursor(cursor)
		if !ok {
			return nil, "", &baocun.Error{Code: baocun.EINVALID, Message: "cursor 无效 Invalid cursor.", Fields: map[string]string{"cursor": "invalid"}}
		}
		// id is a prefix of the cursor's hash, which sorts after it: hash < id
		// leaves that session out and keeps every one before it.
		q += " AND (created_at < ? OR (created_at = ? AND hash < ?))"
		args = append(args, created, created, id)
	}
	rows, err := db.QueryContext(ctx, q+" ORDER BY created_at DESC, hash DESC LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []baocun.Session{}
	var created []string
	for rows.Next() {
		var s baocun.Session
		var hash, c, expires string
		if err := rows.Scan(&hash, &s.Kind, &c, &expires); err != nil {
			return nil, "", err
		}
		s.ID = hash[:sessionIDLen]
		if s.CreatedAt, err = ParseTime(c); err != nil {
			return nil, "", err
		}
		if s.ExpiresAt, err = ParseTime(expires); err != nil {
			return nil, "", err
		}
		out, created = append(out, s), append(created, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) <= limit {
		return out, "", nil
	}
	return out[:limit], created[limit-1] + "_" + out[limit-1].ID, nil
}

// sessionIDLen hex digits of a token's SHA-256 name its session: enough to tell an
// account's sessions apart, and nothing to guess a token from.
const sessionIDLen = 16

func parseSessionCursor(cursor string) (created, id string, ok bool) {
	created, id, ok = strings.Cut(cursor, "_")
	if _, err := time.Parse(timeLayout, created); err != nil || len(id) != sessionIDLen {
		return "", "", false
	}
	for _, r := range id {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", "", false
		}
	}
	return created, id, ok
}

// holdsCityAdmin reports whether u holds admin over the whole city.
func holdsCityAdmin(u *baocun.User) bool {
	return slices.Contains(u.Roles, baocun.Grant{Role: baocun.RoleAdmin, Jurisdiction: baocun.CityJurisdiction})
}

// keepAnAdmin refuses, inside the transaction of a change that may take the last
// one away (disabling an admin, revoking admin on "*"), to leave no enabled account
// holding admin on "*": nobody could manage accounts or the policy through the API
// again. Two such changes at once must not each see the other's admin still there:
// each first serialises on the policy version's row (lockPolicy), so the second one
// counts after the first commits, on PostgreSQL as on SQLite.
func keepAnAdmin(ctx context.Context, tx *Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u JOIN casbin_rule r
		ON r.ptype = 'g' AND r.v0 = u.username AND r.v1 = ? AND r.v2 = ? WHERE u.disabled = 0`,
		baocun.RoleAdmin, baocun.CityJurisdiction).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return &baocun.Error{Code: baocun.ECONFLICT, Op: "last admin",
			Message: "这是最后一个可用的全市管理员账户：请先授予另一个账户 admin（*） This is the last enabled account holding admin on \"*\": grant admin to another account first."}
	}
	return nil
}
