package sqldb_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

const loginPassword = "correct-horse-battery"

// accountsDB is a database with departments D1, D2 (县A, 县B), people P1 (D1) and P2
// (D2), and accounts: owner (auditor), lead (dept_lead, P1), rev (reviewer, P1).
func accountsDB(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, dsn)
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A'), ('D2', '乙县交通局', '县直', '县B')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3), ('V2', '乙村', '县B', '二镇', 2)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D2')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := baocun.HashPassword(loginPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, nu := range []baocun.NewUser{
		{Username: "owner", Roles: []baocun.Grant{{Role: "auditor", Jurisdiction: "*"}}},
		{Username: "lead", PersonID: "P1", Roles: []baocun.Grant{{Role: "dept_lead", Jurisdiction: "*"}}},
		{Username: "rev", PersonID: "P1", Roles: []baocun.Grant{{Role: "reviewer", Jurisdiction: "*"}}},
	} {
		nu.PasswordHash = hash
		if _, err := db.CreateUser(ctx, nu, nil); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// issue gives the account a token of kind at its current credential epoch, as a
// sign-in that checked its password just now would.
func issue(t *testing.T, db *sqldb.DB, username, kind string) string {
	t.Helper()
	var id, epoch int64
	ctx := context.Background()
	if err := db.QueryRowContext(ctx, "SELECT id, credential_epoch FROM users WHERE username = ?", username).Scan(&id, &epoch); err != nil {
		t.Fatal(err)
	}
	tok, _, _, err := db.CreateToken(ctx, id, epoch, kind, time.Hour)
	if err != nil {
		t.Fatalf("token for %s: %v", username, err)
	}
	return tok
}

func attempt(db *sqldb.DB, name, password, source string, now time.Time) (baocun.LoginResult, error) {
	return db.Login(context.Background(), baocun.LoginAttempt{Username: name, Password: password, Source: source, Now: now})
}

// The lock counts failures per (name, address): the address that failed is locked
// out, even with the right password, while another address signs in; an unknown
// name is locked exactly like an account; a lock passes, and unlocking forgets it.
func TestLoginLocksPerAddress(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		now := time.Now()
		for _, name := range []string{"owner", "nobody"} {
			var res baocun.LoginResult
			var err error
			for i := range 4 {
				res, err = attempt(db, name, fmt.Sprintf("wrong-%d-password", i), "203.0.113.7", now)
				if baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
					t.Fatalf("%s wrong password %d: %v", name, i, err)
				}
			}
			if res.LockedUntil.Sub(now) != time.Second {
				t.Fatalf("%s: the 4th failure locks for %s, want 1s", name, res.LockedUntil.Sub(now))
			}
			res, err = attempt(db, name, loginPassword, "203.0.113.7", now.Add(500*time.Millisecond))
			if baocun.ErrorCode(err) != baocun.EUNAUTHORIZED || res.Reason != "locked" {
				t.Fatalf("%s, locked address, right password: %+v %v", name, res, err)
			}
		}
		if res, err := attempt(db, "owner", loginPassword, "198.51.100.9", now.Add(500*time.Millisecond)); err != nil || res.User == nil {
			t.Fatalf("the owner from another address: %+v %v", res, err)
		}
		if res, err := attempt(db, "owner", loginPassword, "203.0.113.7", now.Add(1100*time.Millisecond)); err != nil || res.User == nil {
			t.Fatalf("after the lock passed: %+v %v", res, err)
		}
		// Lock it again, then an admin unlocks.
		for i := range 5 {
			attempt(db, "owner", fmt.Sprintf("wrong-%d-password", i), "203.0.113.7", now.Add(2*time.Second))
		}
		u, _, err := db.UpdateAccount(context.Background(), "owner", baocun.AccountChange{Unlock: true}, &baocun.AuditEntry{Actor: "admin", Action: "user.update"})
		if err != nil || u.Username != "owner" {
			t.Fatal(u, err)
		}
		if res, err := attempt(db, "owner", loginPassword, "203.0.113.7", now.Add(2*time.Second)); err != nil || res.User == nil {
			t.Fatalf("after unlock: %+v %v", res, err)
		}
	})
}

// The throttles answer 429 with a wait, before any password is checked: an address's
// failures over every name, and a name's failures from addresses it never signed in
// from. An address the owner signed in from is spared the account's throttle, and an
// address that is locked drains nothing of it.
func TestLoginThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (throttle windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		now := time.Now()
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.9", now); err != nil {
			t.Fatal(err)
		}
		// One address, one name, many failures: its lock stops it, and the account's
		// throttle never fills, so the owner from elsewhere is not slowed.
		for i := range 12 {
			_, err := attempt(db, "owner", "wrong-password-x", "203.0.113.7", now.Add(time.Duration(i)*100*time.Millisecond))
			if baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
				t.Fatalf("attempt %d: %v", i, err)
			}
		}
		if _, err := attempt(db, "owner", loginPassword, "192.0.2.50", now.Add(2*time.Second)); err != nil {
			t.Fatalf("owner from a new address after one address's 12 failures: %v", err)
		}
		// Many addresses, one name: the account's throttle after its burst.
		var throttled error
		for i := range 20 {
			_, err := attempt(db, "owner", "wrong-password-y", fmt.Sprintf("10.0.0.%d", i), now.Add(3*time.Second))
			if baocun.ErrorCode(err) == baocun.ETOOMANY {
				throttled = err
				break
			}
		}
		if throttled == nil || throttled.(*baocun.Error).RetryAfter <= 0 {
			t.Fatalf("twenty addresses guessing one name: not throttled (%v)", throttled)
		}
		if _, err := attempt(db, "owner", loginPassword, "10.0.0.200", now.Add(3*time.Second)); baocun.ErrorCode(err) != baocun.ETOOMANY {
			t.Fatalf("a new address while the name is throttled: %v", err)
		}
		// The owner's own address is spared.
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.9", now.Add(3*time.Second)); err != nil {
			t.Fatalf("the owner's trusted address while the name is throttled: %v", err)
		}
		// One address, many names: the address's throttle.
		throttled = nil
		for i := range 40 {
			_, err := attempt(db, fmt.Sprintf("name%d", i), "wrong-password-z", "203.0.113.99", now.Add(4*time.Second))
			if baocun.ErrorCode(err) == baocun.ETOOMANY {
				throttled = err
				if !strings.Contains(err.Error(), "Too many sign-in attempts") {
					t.Fatalf("throttle message: %v", err)
				}
				break
			}
		}
		if throttled == nil {
			t.Fatal("one address guessing forty names: not throttled")
		}
		// The throttles refill.
		if _, err := attempt(db, "name0", "wrong-password-z", "203.0.113.99", now.Add(5*time.Minute)); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("five minutes later: %v", err)
		}
	})
}

// Disabled, reset and unlocked accounts: each change ends what it must in its own
// transaction and is audited with the account before and after.
func TestUserAccountChanges(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		tok := issue(t, db, "owner", "bearer")
		issue(t, db, "owner", "session")
		ss, next, err := db.Sessions(ctx, "owner", time.Now(), "", 50)
		if err != nil || len(ss) != 2 || next != "" {
			t.Fatalf("sessions %+v %q %v", ss, next, err)
		}
		yes := true
		e := &baocun.AuditEntry{Actor: "admin", Action: "user.update"}
		u, ended, err := db.UpdateAccount(ctx, "owner", baocun.AccountChange{Disabled: &yes}, e)
		if err != nil || !u.Disabled || ended != 2 {
			t.Fatalf("disable: %+v ended %d %v", u, ended, err)
		}
		for _, want := range []string{`"before":{"disabled":false`, `"after":{"disabled":true`, `"sessions":2`, `"sessions_ended":2`} {
			if !strings.Contains(e.Summary, want) {
				t.Fatalf("audit summary %s lacks %s", e.Summary, want)
			}
		}
		if _, err := db.UserByToken(ctx, tok, "bearer", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("a disabled account's token: %v", err)
		}
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.9", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("a disabled account signs in: %v", err)
		}
		no := false
		if u, _, err = db.UpdateAccount(ctx, "owner", baocun.AccountChange{Disabled: &no}, nil); err != nil || u.Disabled {
			t.Fatalf("enable: %+v %v", u, err)
		}
		// A reset: the old password and sessions are gone; the next sign-in must change it.
		issue(t, db, "owner", "bearer")
		hash, _ := baocun.HashPassword("a-new-password-1")
		if u, ended, err = db.UpdateAccount(ctx, "owner", baocun.AccountChange{PasswordHash: hash, MustChangePassword: true}, nil); err != nil || !u.MustChangePassword || ended != 1 {
			t.Fatalf("reset: %+v %d %v", u, ended, err)
		}
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.9", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("the old password after a reset: %v", err)
		}
		res, err := attempt(db, "owner", "a-new-password-1", "198.51.100.9", time.Now())
		if err != nil || !res.User.MustChangePassword {
			t.Fatalf("the new password: %+v %v", res, err)
		}
		// The owner changes it, keeping the session they change it from.
		keep := issue(t, db, "owner", "session")
		issue(t, db, "owner", "bearer")
		hash, _ = baocun.HashPassword("another-password-2")
		if u, ended, err = db.UpdateAccount(ctx, "owner", baocun.AccountChange{PasswordHash: hash, KeepToken: keep}, nil); err != nil || u.MustChangePassword || ended != 1 {
			t.Fatalf("change: %+v %d %v", u, ended, err)
		}
		if _, err := db.UserByToken(ctx, keep, "session", time.Now()); err != nil {
			t.Fatalf("the session the owner changed it from: %v", err)
		}
		if _, _, err := db.UpdateAccount(ctx, "ghost", baocun.AccountChange{Unlock: true}, nil); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("no such user: %v", err)
		}
	})
}

// A directory edit that moves a person with an account leaves the account's
// department (its scope) where it was and records the move as pending, audited with
// before and after; only the directory's department can be confirmed, and then it
// is the account's. Revoking the last role ends the sessions.
func TestUserDepartmentMove(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		audit := sqldbtest.AuditLog(t, db)
		e := &baocun.AuditEntry{Actor: "organiser", Action: "directory.write", Resource: "people/P1", RequestID: "r1"}
		if err := db.ImportPeople(ctx, []baocun.Person{{ID: "P1", Name: "张三", DepartmentCode: "D2"}}, []int{1}, "department_code", e); err != nil {
			t.Fatal(err)
		}
		u, err := db.User(ctx, "lead")
		if err != nil || u.Department != "D1" || u.PendingDepartment != "D2" {
			t.Fatalf("after the move: %+v %v", u, err)
		}
		entries, _, err := audit.Query(ctx, baocun.AuditFilter{Action: "user.department_pending"})
		if err != nil || len(entries) != 2 {
			t.Fatalf("pending moves audited: %d %v", len(entries), err)
		}
		for _, e := range entries {
			if e.Actor != "organiser" || e.RequestID != "r1" ||
				!strings.Contains(e.Summary, `"before":{"department_code":"D1","pending_department_code":""}`) ||
				!strings.Contains(e.Summary, `"after":{"department_code":"D1","pending_department_code":"D2"}`) {
				t.Fatalf("pending move entry %+v", e)
			}
		}
		for _, dept := range []string{"D1", "D9"} {
			if _, _, err := db.UpdateAccount(ctx, "lead", baocun.AccountChange{Department: &dept}, nil); baocun.ErrorCode(err) != baocun.EINVALID {
				t.Fatalf("confirm %s while the directory says D2: %v", dept, err)
			}
		}
		d2 := "D2"
		e = &baocun.AuditEntry{Actor: "admin", Action: "user.update"}
		if u, _, err = db.UpdateAccount(ctx, "lead", baocun.AccountChange{Department: &d2}, e); err != nil || u.Department != "D2" || u.PendingDepartment != "" {
			t.Fatalf("confirm: %+v %v", u, err)
		}
		if !strings.Contains(e.Summary, `"department_code":"D1","pending_department_code":"D2"`) || !strings.Contains(e.Summary, `"after":{"disabled":false,"must_change_password":false,"department_code":"D2"`) {
			t.Fatalf("confirmation audited as %s", e.Summary)
		}
		if _, _, err := db.UpdateAccount(ctx, "owner", baocun.AccountChange{Department: &d2}, nil); baocun.ErrorCode(err) != baocun.EINVALID {
			t.Fatalf("a department for an account that is no person: %v", err)
		}
		// Moving the person back where the account is clears the pending move.
		if err := db.ImportPeople(ctx, []baocun.Person{{ID: "P1", Name: "张三", DepartmentCode: "D1"}}, []int{1}, "department_code", nil); err != nil {
			t.Fatal(err)
		}
		if u, _ := db.User(ctx, "rev"); u.Department != "D1" || u.PendingDepartment != "" {
			t.Fatalf("moved back: %+v", u)
		}
		// The last role.
		tok := issue(t, db, "rev", "bearer")
		e = &baocun.AuditEntry{Actor: "admin", Action: "policy.revoke", Summary: `{"username":"rev"}`}
		if err := db.RevokeRole(ctx, "rev", baocun.Grant{Role: "reviewer", Jurisdiction: "*"}, e); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UserByToken(ctx, tok, "bearer", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("token after the last role was revoked: %v", err)
		}
		if !strings.Contains(e.Summary, `"sessions_ended":1`) || !strings.Contains(e.Summary, `"username":"rev"`) {
			t.Fatalf("revocation audited as %s", e.Summary)
		}
	})
}

// AddPolicyRules gives a policy seeded before a release the rules it added, once, and
// audits it; a policy seeded with them gets only the mark.
func TestUserPolicyAddition(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := sqldbtest.Open(t, dsn)
		ctx := context.Background()
		old := [][]string{{"p", "admin", "user", "read", "any", "allow"}}
		if _, err := db.SeedPolicy(ctx, old, nil); err != nil {
			t.Fatal(err)
		}
		add := [][]string{{"p", "admin", "user", "update", "any", "allow"}}
		e := &baocun.AuditEntry{Actor: "system", Action: "policy.add"}
		if n, err := db.AddPolicyRules(ctx, "accounts", add, e); err != nil || n != 1 || !strings.Contains(e.Summary, "update") {
			t.Fatalf("first: %d %v %s", n, err, e.Summary)
		}
		db.ExecContext(ctx, "DELETE FROM casbin_rule WHERE v2 = 'update'")
		if n, err := db.AddPolicyRules(ctx, "accounts", add, nil); err != nil || n != 0 {
			t.Fatalf("again after an admin removed it: %d %v", n, err)
		}
	})
}

// A sign-in whose password was checked before the credential changed — a reset,
// disabling, the sessions ended — gets no token after the change commits: the token
// is issued only at the credential epoch the password was checked against. Sign-ins
// issuing tokens while the sessions end leave none live (on PostgreSQL the two
// really race), and the owner's own change stands only over the epoch it checked.
func TestSignInInFlightGetsNoTokenAfterTheCredentialChanged(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		hash, _ := baocun.HashPassword("a-new-password-1")
		yes := true
		for _, tc := range []struct {
			user string
			ch   baocun.AccountChange
		}{
			{"owner", baocun.AccountChange{PasswordHash: hash, MustChangePassword: true}},
			{"lead", baocun.AccountChange{Disabled: &yes}},
			{"rev", baocun.AccountChange{EndSessions: true}},
		} {
			res, err := attempt(db, tc.user, loginPassword, "198.51.100.1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.UpdateAccount(ctx, tc.user, tc.ch, nil); err != nil {
				t.Fatal(err)
			}
			if tok, _, _, err := db.CreateToken(ctx, res.User.ID, res.Epoch, "bearer", time.Hour); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED || tok != "" {
				t.Errorf("%s: a token for the password checked before %+v: %q %v", tc.user, tc.ch, tok, err)
			}
		}

		// The race: sign-ins checked at one epoch issue tokens as fast as they can
		// while an admin ends the sessions.
		res, err := attempt(db, "rev", loginPassword, "198.51.100.2", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// Each issues a bounded number: on SQLite, writers in tight loops can keep
		// the change from its lock past the busy timeout (CI, under -race).
		var wg sync.WaitGroup
		var issued atomic.Int64
		start, first := make(chan struct{}), make(chan struct{})
		var once sync.Once
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range 50 {
					if _, _, _, err := db.CreateToken(ctx, res.User.ID, res.Epoch, "bearer", time.Hour); err != nil {
						return
					}
					issued.Add(1)
					once.Do(func() { close(first) })
				}
			}()
		}
		go func() { wg.Wait(); once.Do(func() { close(first) }) }() // none issued: do not wait for ever
		close(start)
		<-first // the sessions end while tokens are being issued
		if _, _, err := db.UpdateAccount(ctx, "rev", baocun.AccountChange{EndSessions: true}, nil); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		live, _, err := db.Sessions(ctx, "rev", time.Now(), "", 100)
		if err != nil || len(live) != 0 {
			t.Fatalf("%d tokens issued at the old epoch; %d live after the sessions ended (%v)", issued.Load(), len(live), err)
		}
		t.Logf("%d tokens issued at the old epoch while the sessions ended; none live", issued.Load())

		// The owner's change over a checked epoch an admin's reset has moved: refused,
		// and the admin's password stands.
		res, err = attempt(db, "rev", loginPassword, "198.51.100.2", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.UpdateAccount(ctx, "rev", baocun.AccountChange{PasswordHash: hash, MustChangePassword: true}, nil); err != nil {
			t.Fatal(err)
		}
		mine, _ := baocun.HashPassword("the-owners-choice-3")
		if _, _, err := db.UpdateAccount(ctx, "rev", baocun.AccountChange{PasswordHash: mine, IfEpoch: &res.Epoch}, nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Fatalf("the owner's change over a reset: %v", err)
		}
		if _, err := attempt(db, "rev", "a-new-password-1", "198.51.100.2", time.Now()); err != nil {
			t.Fatalf("the admin's password after the refused change: %v", err)
		}
	})
}

// Signing in in a loop keeps MaxLiveTokens live tokens, the oldest ended; the
// sessions list pages through them; the pruner deletes expired tokens and spent
// sign-in rows in batches, off the request path, and keeps what still counts.
func TestTokensCappedPagedAndPruned(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		u, _ := db.User(ctx, "owner")
		first := issue(t, db, "owner", "bearer")
		for range sqldb.MaxLiveTokens - 1 {
			issue(t, db, "owner", "session")
		}
		if _, _, ended, err := db.CreateToken(ctx, u.ID, 0, "bearer", time.Hour); err != nil || ended != 1 {
			t.Fatalf("token %d: ended %d %v", sqldb.MaxLiveTokens+1, ended, err)
		}
		if _, err := db.UserByToken(ctx, first, "bearer", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("the oldest token beyond the cap: %v", err)
		}
		var pages []int
		seen := map[string]bool{}
		var last time.Time
		for cursor := ""; ; {
			ss, next, err := db.Sessions(ctx, "owner", time.Now(), cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, len(ss))
			for _, s := range ss {
				if seen[s.ID] || (!last.IsZero() && s.CreatedAt.After(last)) {
					t.Fatalf("session %s repeated or out of order", s.ID)
				}
				seen[s.ID], last = true, s.CreatedAt
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != sqldb.MaxLiveTokens || !slices.Equal(pages, []int{7, 7, 6}) {
			t.Fatalf("pages %v, %d sessions", pages, len(seen))
		}
		for _, bad := range []string{"x", "2024-01-01T00:00:00.000000Z_zz", strings.Repeat("a", 300)} {
			if _, _, err := db.Sessions(ctx, "owner", time.Now(), bad, 7); baocun.ErrorCode(err) != baocun.EINVALID {
				t.Fatalf("cursor %q: %v", bad, err)
			}
		}

		// What a flood leaves: expired tokens, full buckets, forgotten failures —
		// more than one batch of tokens.
		now := time.Now()
		past, old := sqldb.FormatTime(now.Add(-time.Hour)), now.Add(-time.Hour).UnixMilli()
		const spent = 1200
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			for i := range spent {
				if _, err := tx.ExecContext(ctx, "INSERT INTO tokens (hash, user_id, kind, created_at, expires_at) VALUES (?, ?, 'bearer', ?, ?)",
					fmt.Sprintf("expired-%d", i), u.ID, past, past); err != nil {
					return err
				}
			}
			for i := range 50 {
				if _, err := tx.ExecContext(ctx, "INSERT INTO login_buckets (key, tat) VALUES (?, ?)", fmt.Sprintf("address:10.0.0.%d", i), old); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO login_failures (username, source, failures, last_failure, forget_at) VALUES (?, ?, 1, ?, ?)",
					fmt.Sprintf("ghost%d", i), "10.0.0.1", old, old); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// And what must stay: the owner's familiar network and a throttle still owed.
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.3", now); err != nil {
			t.Fatal(err)
		}
		n, err := db.PruneSignIns(ctx, now)
		if err != nil || n != spent+100 {
			t.Fatalf("pruned %d rows, want %d: %v", n, spent+100, err)
		}
		var expired, familiar, buckets int
		db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens WHERE expires_at < ?", sqldb.FormatTime(now)).Scan(&expired)
		db.QueryRowContext(ctx, "SELECT COUNT(*) FROM login_failures WHERE username = 'owner'").Scan(&familiar)
		db.QueryRowContext(ctx, "SELECT COUNT(*) FROM login_buckets").Scan(&buckets)
		if expired != 0 || familiar != 1 || buckets == 0 {
			t.Fatalf("after pruning: %d expired tokens, %d familiar networks, %d buckets", expired, familiar, buckets)
		}
		if ss, _, _ := db.Sessions(ctx, "owner", time.Now(), "", 100); len(ss) != sqldb.MaxLiveTokens {
			t.Fatalf("%d live sessions after pruning", len(ss))
		}
	})
}

// A right password costs a hash like a wrong one: an account signing in in a loop
// is throttled after its burst, before any hash, and one more is let in a minute later.
func TestSignInSuccessesThrottled(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		now := time.Now()
		ok := 0
		var res baocun.LoginResult
		var err error
		for range 30 {
			if res, err = attempt(db, "owner", loginPassword, "198.51.100.4", now); err != nil {
				break
			}
			ok++
		}
		if baocun.ErrorCode(err) != baocun.ETOOMANY || res.Reason != "throttled: account successes" || ok != 10 {
			t.Fatalf("after %d sign-ins: %+v %v", ok, res, err)
		}
		if _, err := attempt(db, "owner", loginPassword, "198.51.100.4", now.Add(61*time.Second)); err != nil {
			t.Fatalf("a minute later: %v", err)
		}
	})
}

// One client holds a whole IPv6 /64: every address of it is the same network to the
// lock and the throttles, and an IPv4-mapped address is its IPv4 address.
func TestSignInCountsIPv6By64(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (throttle windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		now := time.Now()
		var res baocun.LoginResult
		for i := range 4 {
			res, _ = attempt(db, "owner", "wrong-password-x", fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
		}
		if res.LockedUntil.IsZero() {
			t.Fatal("four failures from four addresses of one /64: no lock")
		}
		if res, err := attempt(db, "owner", loginPassword, "2001:db8:1:2:ffff::9", now.Add(100*time.Millisecond)); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED || res.Reason != "locked" {
			t.Fatalf("a fifth address of the /64, right password: %+v %v", res, err)
		}
		if _, err := attempt(db, "owner", loginPassword, "2001:db8:1:3::1", now.Add(100*time.Millisecond)); err != nil {
			t.Fatalf("the next /64: %v", err)
		}
		// Spraying one guess each at many names from one /64 meets the network's throttle.
		var err error
		sprayed := 0
		for ; sprayed < 60; sprayed++ {
			if _, err = attempt(db, fmt.Sprintf("name%d", sprayed), "spray-password-1", fmt.Sprintf("2001:db8:9:9::%x", sprayed+1), now); baocun.ErrorCode(err) == baocun.ETOOMANY {
				break
			}
		}
		if baocun.ErrorCode(err) != baocun.ETOOMANY || sprayed > 30 {
			t.Fatalf("a spray from one /64: %d guesses, then %v", sprayed, err)
		}
		for i := range 4 {
			res, _ = attempt(db, "lead", "wrong-password-x", "203.0.113.7", now)
			_ = i
		}
		if res, err := attempt(db, "lead", loginPassword, "::ffff:203.0.113.7", now.Add(100*time.Millisecond)); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED || res.Reason != "locked" {
			t.Fatalf("the IPv4-mapped form of a locked IPv4 address: %+v %v", res, err)
		}
	})
}

// An attacker guessing from many networks fills the account's throttle of unfamiliar
// clients. The owner's own device, which signed in before, holds a known-device
// credential and gets in from any network; no credential, a forged one, another
// account's, or one from before a reset does not help. An unlock forgets failures
// but keeps the networks the owner signs in from.
func TestSignInKnownDeviceAndFamiliarNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (throttle windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		now := time.Now()
		own, err := attempt(db, "owner", loginPassword, "192.0.2.1", now)
		if err != nil || own.Device == "" {
			t.Fatalf("the owner's sign-in: %+v %v", own, err)
		}
		other, _ := attempt(db, "lead", loginPassword, "192.0.2.2", now)
		fill := func(at time.Time) {
			for i := range 12 {
				attempt(db, "owner", "guess-password-x", fmt.Sprintf("2001:db8:%x::1", i+1), at)
			}
		}
		fill(now)
		at := now.Add(time.Second)
		try := func(device, src string) error {
			_, err := db.Login(ctx, baocun.LoginAttempt{Username: "owner", Password: loginPassword, Source: src, Device: device, Now: at})
			return err
		}
		forged := own.Device[:len(own.Device)-2] + "AA"
		for name, device := range map[string]string{"none": "", "forged": forged, "another account's": other.Device} {
			if err := try(device, "198.51.100.77"); baocun.ErrorCode(err) != baocun.ETOOMANY {
				t.Errorf("a new network with %s credential while the account is throttled: %v", name, err)
			}
		}
		for i := range 5 {
			if err := try(own.Device, fmt.Sprintf("198.51.100.%d", 100+i)); err != nil {
				t.Fatalf("the owner's device from new network %d: %v", i, err)
			}
		}
		// An unlock: the throttle and failures go; the owner's network stays familiar.
		if _, _, err := db.UpdateAccount(ctx, "owner", baocun.AccountChange{Unlock: true}, nil); err != nil {
			t.Fatal(err)
		}
		fill(at)
		if err := try("", "192.0.2.1"); err != nil {
			t.Fatalf("the owner's familiar network after an unlock: %v", err)
		}
		// A reset forgets every device.
		hash, _ := baocun.HashPassword("a-new-password-1")
		if _, _, err := db.UpdateAccount(ctx, "owner", baocun.AccountChange{PasswordHash: hash, MustChangePassword: true}, nil); err != nil {
			t.Fatal(err)
		}
		fill(at)
		if _, err := db.Login(ctx, baocun.LoginAttempt{Username: "owner", Password: "a-new-password-1", Source: "198.51.100.200", Device: own.Device, Now: at}); baocun.ErrorCode(err) != baocun.ETOOMANY {
			t.Fatalf("a device credential from before the reset: %v", err)
		}
	})
}

// The last enabled account holding admin on "*" can neither lose the role nor be
// disabled; two admins revoking or disabling each other at once leave one.
func TestLastAdminKept(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		admin := baocun.Grant{Role: baocun.RoleAdmin, Jurisdiction: baocun.CityJurisdiction}
		hash, _ := baocun.HashPassword(loginPassword)
		for _, name := range []string{"a1", "a2"} {
			if _, err := db.CreateUser(ctx, baocun.NewUser{Username: name, PasswordHash: hash, Roles: []baocun.Grant{admin}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		entry := func() *baocun.AuditEntry { return &baocun.AuditEntry{Actor: "a1", Action: "policy.revoke"} }
		if err := db.RevokeRole(ctx, "a2", admin, entry()); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeRole(ctx, "a1", admin, entry()); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Fatalf("the last admin's role revoked: %v", err)
		}
		yes, no := true, false
		if _, _, err := db.UpdateAccount(ctx, "a1", baocun.AccountChange{Disabled: &yes}, nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Fatalf("the last admin disabled: %v", err)
		}
		// At once, each against the other, a few rounds.
		for round := range 5 {
			if err := db.GrantRole(ctx, "a2", admin, &baocun.AuditEntry{Actor: "a1", Action: "policy.grant"}); err != nil {
				t.Fatal(err)
			}
			changes := []func() error{
				func() error { return db.RevokeRole(ctx, "a1", admin, entry()) },
				func() error { return db.RevokeRole(ctx, "a2", admin, entry()) },
			}
			if round%2 == 1 {
				changes = []func() error{
					func() error {
						_, _, err := db.UpdateAccount(ctx, "a1", baocun.AccountChange{Disabled: &yes}, nil)
						return err
					},
					func() error {
						_, _, err := db.UpdateAccount(ctx, "a2", baocun.AccountChange{Disabled: &yes}, nil)
						return err
					},
				}
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, ch := range changes {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = ch() }()
			}
			wg.Wait()
			refused := 0
			for _, err := range errs {
				if baocun.ErrorCode(err) == baocun.ECONFLICT {
					refused++
				} else if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if refused != 1 {
				t.Fatalf("round %d: %d of two changes refused: %v", round, refused, errs)
			}
			// Back to a1 an enabled admin, a2 enabled without the role.
			for _, name := range []string{"a1", "a2"} {
				if _, _, err := db.UpdateAccount(ctx, name, baocun.AccountChange{Disabled: &no}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if u, _ := db.User(ctx, "a1"); !slices.Contains(u.Roles, admin) {
				db.GrantRole(ctx, "a1", admin, &baocun.AuditEntry{Actor: "a2", Action: "policy.grant"})
			}
			if u, _ := db.User(ctx, "a2"); slices.Contains(u.Roles, admin) {
				if err := db.RevokeRole(ctx, "a2", admin, entry()); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// bucketDebt is how far the throttle bucket under key is charged ahead of now (0
// for none).
func bucketDebt(t *testing.T, db *sqldb.DB, key string, now time.Time) time.Duration {
	t.Helper()
	var tat int64
	err := db.QueryRowContext(context.Background(), "SELECT tat FROM login_buckets WHERE key = ?", key).Scan(&tat)
	if err != nil {
		return 0
	}
	return max(time.UnixMilli(tat).Sub(now), 0)
}

// A refusal charges the network's failure bucket only when that bucket refused it:
// one account's script looping past its own success throttle, an office's morning
// past the network's success throttle, or a name's failure throttle filled from
// elsewhere, each leave the network's failure bucket as it was, and the next official
// from the same network signs in.
func TestThrottleRefusalsChargeOnlyTheNetworksFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (throttle windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		now := time.Now()
		office := "203.0.113.9"
		if _, err := attempt(db, "lead", loginPassword, office, now); err != nil {
			t.Fatal(err)
		}
		// owner's script: 10 sign-ins, then refused by its own success bucket, 5 a second.
		refused := 0
		var last time.Time
		for i := range 60 {
			last = now.Add(time.Duration(i) * 200 * time.Millisecond)
			if res, err := attempt(db, "owner", loginPassword, office, last); err != nil {
				if res.Reason != "throttled: account successes" {
					t.Fatalf("the loop's sign-in %d: %+v %v", i, res, err)
				}
				refused++
			}
		}
		if refused != 50 {
			t.Fatalf("the loop: %d of 60 refused, want 50", refused)
		}
		if d := bucketDebt(t, db, "address:"+office, last); d > 0 {
			t.Fatalf("50 refusals by the account's success throttle charged the network's failure bucket %s", d)
		}
		if res, err := attempt(db, "lead", loginPassword, office, last.Add(time.Second)); err != nil {
			t.Fatalf("the next official, familiar network, right password, after the loop: %+v %v", res, err)
		}

		// The network's morning: its success bucket is spent, and everyone retries.
		morning := now.Add(time.Hour)
		if _, err := db.ExecContext(ctx, "INSERT INTO login_buckets (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
			"address-ok:"+office, morning.Add(10*time.Minute).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			name := []string{"owner", "lead", "rev"}[i%3]
			if res, err := attempt(db, name, loginPassword, office, morning.Add(time.Duration(i)*100*time.Millisecond)); res.Reason != "throttled: address successes" {
				t.Fatalf("retry %d in a spent morning: %+v %v", i, res, err)
			}
		}
		if d := bucketDebt(t, db, "address:"+office, morning); d > 0 {
			t.Fatalf("200 refusals by the network's success throttle charged its failure bucket %s", d)
		}

		// A name's failure throttle filled from many networks: its owner retrying from
		// the office (no device, not familiar there) is refused, and the office is not.
		attack := now.Add(2 * time.Hour)
		other := "198.51.100.50"
		for i := range 12 {
			attempt(db, "rev", "wrong-password-xx", fmt.Sprintf("2001:db8:%x::1", i+1), attack)
		}
		for i := range 35 {
			if res, err := attempt(db, "rev", loginPassword, other, attack.Add(time.Duration(i)*time.Second)); res.Reason != "throttled: account" {
				t.Fatalf("the attacked name's retry %d: %+v %v", i, res, err)
			}
		}
		if d := bucketDebt(t, db, "address:"+other, attack.Add(40*time.Second)); d > 0 {
			t.Fatalf("35 refusals by a name's failure throttle charged the network's failure bucket %s", d)
		}
		if res, err := attempt(db, "owner", loginPassword, other, attack.Add(40*time.Second)); err != nil {
			t.Fatalf("a colleague, right password, from the attacked name's network: %+v %v", res, err)
		}

		// The network's own failure bucket still charges its refusals: polling it costs.
		spray := "192.0.2.99"
		var err error
		for i := range 40 {
			if _, err = attempt(db, fmt.Sprintf("name%d", i), "wrong-password-z", spray, attack); baocun.ErrorCode(err) == baocun.ETOOMANY {
				break
			}
		}
		before := bucketDebt(t, db, "address:"+spray, attack)
		if _, err := attempt(db, "name0", "wrong-password-z", spray, attack); baocun.ErrorCode(err) != baocun.ETOOMANY {
			t.Fatalf("polling a full failure bucket: %v", err)
		}
		if after := bucketDebt(t, db, "address:"+spray, attack); after <= before {
			t.Fatalf("polling a full failure bucket cost nothing: %s, then %s", before, after)
		}
	})
}

// A device that signed in before, with the right password, is not refused by its
// network's failure throttle alone: whoever filled it, the device's own failures
// are its limit. Without the credential, or with a forged one, the throttle holds.
func TestThrottleSparesAKnownDeviceWithTheRightPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (throttle windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		now := time.Now()
		own, err := attempt(db, "owner", loginPassword, "192.0.2.1", now)
		if err != nil || own.Device == "" {
			t.Fatalf("the owner's sign-in: %+v %v", own, err)
		}
		office := "203.0.113.20"
		sprayed := 0
		for ; sprayed < 40; sprayed++ {
			if _, err = attempt(db, fmt.Sprintf("name%d", sprayed), "wrong-password-z", office, now); baocun.ErrorCode(err) == baocun.ETOOMANY {
				break
			}
		}
		if baocun.ErrorCode(err) != baocun.ETOOMANY {
			t.Fatalf("a spray of %d names: %v", sprayed, err)
		}
		at := now.Add(time.Second)
		try := func(device, password string) (baocun.LoginResult, error) {
			return db.Login(ctx, baocun.LoginAttempt{Username: "owner", Password: password, Source: office, Device: device, Now: at})
		}
		for name, device := range map[string]string{"no": "", "a forged": own.Device[:len(own.Device)-2] + "AA"} {
			if res, err := try(device, loginPassword); baocun.ErrorCode(err) != baocun.ETOOMANY || res.Reason != "throttled: address" {
				t.Fatalf("%s credential on a network whose failure bucket is full: %+v %v", name, res, err)
			}
		}
		res, err := try(own.Device, loginPassword)
		if err != nil || res.User == nil {
			t.Fatalf("the owner's device, right password, on a network whose failure bucket is full: %+v %v", res, err)
		}
		// A wrong password from the device is still a failure the network pays for.
		before := bucketDebt(t, db, "address:"+office, at)
		if _, err := try(res.Device, "wrong-password-q"); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
			t.Fatalf("the device, wrong password: %v", err)
		}
		if after := bucketDebt(t, db, "address:"+office, at); after <= before {
			t.Fatalf("the device's wrong password cost the network nothing: %s, then %s", before, after)
		}
	})
}

// A colleague behind the owner's NAT sends one wrong password whenever no lock
// holds, for hours: the network stays locked for clients without a device
// credential, but the owner's device, with the right password, signs in each time.
// The device's own wrong guesses lock it alone — and a stolen credential with it.
func TestSignInKnownDeviceHasItsOwnLock(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (lock windows): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		start := time.Now()
		owner, colleague := "2001:db8:1:2::bbbb", "2001:db8:1:2:aaaa:aaaa:aaaa:aaaa"
		res, err := attempt(db, "lead", loginPassword, owner, start)
		if err != nil || res.Device == "" {
			t.Fatalf("the owner's first sign-in: %+v %v", res, err)
		}
		device := res.Device
		device1 := device
		var until time.Time
		sent, ok, tries, lockedOut := 0, 0, 0, 0
		for s := 1; s < 3*3600; s++ {
			now := start.Add(time.Duration(s) * time.Second)
			if !now.Before(until) {
				r, _ := attempt(db, "lead", "wrong-password-xx", colleague, now)
				sent++
				until = r.LockedUntil
			}
			if s%600 == 300 && s > 1800 {
				tries++
				if r, _ := attempt(db, "lead", loginPassword, owner, now); r.Reason == "locked" {
					lockedOut++ // the network's lock holds without the credential
				}
				r, err := db.Login(ctx, baocun.LoginAttempt{Username: "lead", Password: loginPassword, Source: owner, Device: device, Now: now})
				if err != nil {
					t.Fatalf("the owner's device, right password, %s into the colleague's guessing: %+v %v", now.Sub(start), r, err)
				}
				ok++
				device = r.Device
			}
		}
		if ok != tries || lockedOut == 0 || sent < 3+5 {
			t.Fatalf("%d wrong passwords sent; the device signed in %d of %d; without it locked out %d times", sent, ok, tries, lockedOut)
		}

		// The device's own guesses lock the device, on any network it guesses from;
		// the network's other clients are not locked by them.
		at := start.Add(4 * time.Hour)
		lan := "198.51.100.60"
		var r baocun.LoginResult
		for i := range 4 {
			r, err = db.Login(ctx, baocun.LoginAttempt{Username: "lead", Password: fmt.Sprintf("stolen-guess-%d", i), Source: lan, Device: device1, Now: at})
			if baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
				t.Fatalf("guess %d with the credential: %v", i, err)
			}
		}
		if r.LockedUntil.Sub(at) != time.Second {
			t.Fatalf("the credential's 4th failure locks for %s, want 1s", r.LockedUntil.Sub(at))
		}
		r, err = db.Login(ctx, baocun.LoginAttempt{Username: "lead", Password: loginPassword, Source: lan, Device: device1, Now: at.Add(500 * time.Millisecond)})
		if baocun.ErrorCode(err) != baocun.EUNAUTHORIZED || r.Reason != "locked" {
			t.Fatalf("the locked credential, right password: %+v %v", r, err)
		}
		if r, err := attempt(db, "lead", loginPassword, lan, at.Add(500*time.Millisecond)); err != nil {
			t.Fatalf("the network without the credential, while the credential is locked: %+v %v", r, err)
		}
	})
}

// Every throttle answers alike: an unknown name has no success bucket, so a
// message of its own would tell a name exists and is busy.
func TestThrottleMessagesAlike(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		now := time.Now()
		var success, failure error
		for range 11 {
			if _, success = attempt(db, "owner", loginPassword, "198.51.100.4", now); success != nil {
				break
			}
		}
		for i := range 12 {
			if _, failure = attempt(db, "nobody", "wrong-password-x", fmt.Sprintf("2001:db8:%x::1", i+1), now); failure != nil && baocun.ErrorCode(failure) == baocun.ETOOMANY {
				break
			}
		}
		if baocun.ErrorCode(success) != baocun.ETOOMANY || baocun.ErrorCode(failure) != baocun.ETOOMANY {
			t.Fatalf("not throttled: %v; %v", success, failure)
		}
		digits := regexp.MustCompile(`[0-9]+`)
		s, f := success.(*baocun.Error), failure.(*baocun.Error)
		if digits.ReplaceAllString(s.Message, "N") != digits.ReplaceAllString(f.Message, "N") || s.RetryAfter <= 0 || f.RetryAfter <= 0 {
			t.Fatalf("a success throttle says %q (%s), a failure throttle %q (%s)", s.Message, s.RetryAfter, f.Message, f.RetryAfter)
		}
	})
}
