package sqldb_test

import (
	"context"
	"fmt"
	"strings"
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
				if !strings.Contains(err.Error(), "Too many failed sign-ins") {
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
		u, _ := db.User(ctx, "owner")
		tok, _, err := db.CreateToken(ctx, u.ID, "bearer", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		db.CreateToken(ctx, u.ID, "session", time.Hour)
		ss, err := db.Sessions(ctx, "owner", time.Now())
		if err != nil || len(ss) != 2 {
			t.Fatalf("sessions %+v %v", ss, err)
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
		u, _ = db.User(ctx, "owner")
		tok, _, _ = db.CreateToken(ctx, u.ID, "bearer", time.Hour)
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
		keep, _, _ := db.CreateToken(ctx, u.ID, "session", time.Hour)
		db.CreateToken(ctx, u.ID, "bearer", time.Hour)
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
		rev, _ := db.User(ctx, "rev")
		tok, _, _ := db.CreateToken(ctx, rev.ID, "bearer", time.Hour)
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
