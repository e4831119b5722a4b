package sqldb

import (
	"context"
	"encoding/json"
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
			changed = append(changed, map[bool]string{true: "disabled", false: "enabled"}[*ch.Disabled])
		}
		if ch.Department != nil {
			if before.PersonID == "" {
				return fieldErr("department_code", "该账户不是名录中的人员，没有部门 The account is no person of the directory: it has no department.")
			}
			var directory string
			if err := tx.QueryRowContext(ctx, "SELECT department_code FROM people WHERE id = ?", before.PersonID).Scan(&directory); err != nil {
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
			if _, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ?, must_change_password = ? WHERE id = ?",
				ch.PasswordHash, mustChange, before.ID); err != nil {
				return err
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
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_failures WHERE username = ?", username); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM login_buckets WHERE key = ?", accountKey(username)); err != nil {
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

// endSessions revokes every live token of the user but keep's.
func endSessions(ctx context.Context, q Querier, userID int64, keep string, now time.Time) (int, error) {
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

// Sessions lists the account's live tokens, newest first, without their secrets.
func (db *DB) Sessions(ctx context.Context, username string, now time.Time) ([]baocun.Session, error) {
	u, err := db.User(ctx, username)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT kind, created_at, expires_at FROM tokens
		WHERE user_id = ? AND revoked_at = '' AND expires_at > ? ORDER BY created_at DESC`, u.ID, FormatTime(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.Session{}
	for rows.Next() {
		var s baocun.Session
		var created, expires string
		if err := rows.Scan(&s.Kind, &created, &expires); err != nil {
			return nil, err
		}
		if s.CreatedAt, err = ParseTime(created); err != nil {
			return nil, err
		}
		if s.ExpiresAt, err = ParseTime(expires); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
