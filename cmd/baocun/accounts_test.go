package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// `baocun users` does to an account what the API's admin routes do, audited as
// "system": disable, enable, reset the password, unlock, list and end sessions,
// confirm a move of department.
func TestUsersLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"BAOCUN_NEW_USER_PASSWORD": "a-long-enough-password"}
	users := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"baocun", "users"}, args...), func(k string) string { return env[k] }, &out, &out)
		return out.String(), err
	}
	if _, err := users("add", "--data-dir", dir, "--username", "alice", "--role", "auditor@*"); err != nil {
		t.Fatal(err)
	}
	db := sqldbtest.Open(t, "sqlite://"+filepath.Join(dir, "baocun.db"))
	u, _ := db.User(ctx, "alice")
	tok, _, _, err := db.CreateToken(ctx, u.ID, 0, "bearer", time.Hour) // a new account's credential epoch
	if err != nil {
		t.Fatal(err)
	}
	out, err := users("sessions", "--data-dir", dir, "--username", "alice")
	if err != nil || !strings.Contains(out, "1 live sessions") || !strings.Contains(out, "bearer") || strings.Contains(out, tok) {
		t.Fatalf("sessions: %v\n%s", err, out)
	}
	if out, err = users("disable", "--data-dir", dir, "--username", "alice"); err != nil || !strings.Contains(out, "sessions ended: 1") {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if _, err := db.UserByToken(ctx, tok, "bearer", time.Now()); baocun.ErrorCode(err) != baocun.EUNAUTHORIZED {
		t.Fatalf("a disabled account's token: %v", err)
	}
	if _, err = users("enable", "--data-dir", dir, "--username", "alice"); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		db.Login(ctx, baocun.LoginAttempt{Username: "alice", Password: "wrong-password", Source: "203.0.113.7", Now: time.Now().Add(time.Duration(i) * time.Millisecond)})
	}
	if _, err = users("unlock", "--data-dir", dir, "--username", "alice"); err != nil {
		t.Fatal(err)
	}
	if res, err := db.Login(ctx, baocun.LoginAttempt{Username: "alice", Password: "a-long-enough-password", Source: "203.0.113.7", Now: time.Now()}); err != nil || res.User == nil {
		t.Fatalf("after unlock: %v", err)
	}
	env["BAOCUN_NEW_USER_PASSWORD"] = "a-temporary-password"
	if out, err = users("reset-password", "--data-dir", dir, "--username", "alice"); err != nil || !strings.Contains(out, "must be changed") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if u, _ = db.User(ctx, "alice"); !u.MustChangePassword || u.Disabled {
		t.Fatalf("after the reset: %+v", u)
	}
	var epoch int64
	db.QueryRowContext(ctx, "SELECT credential_epoch FROM users WHERE id = ?", u.ID).Scan(&epoch)
	if _, _, _, err := db.CreateToken(ctx, u.ID, epoch, "session", time.Hour); err != nil {
		t.Fatal(err)
	}
	if out, err = users("sessions", "--data-dir", dir, "--username", "alice", "--end"); err != nil || !strings.Contains(out, "Ended 1 sessions") {
		t.Fatalf("end sessions: %v\n%s", err, out)
	}

	// A person's account and a move the directory made.
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A'), ('D2', '乙县交通局', '县直', '县B')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := users("add", "--data-dir", dir, "--username", "lead", "--person-id", "P1", "--role", "dept_lead@县A"); err != nil {
		t.Fatal(err)
	}
	if err := db.ImportPeople(ctx, []baocun.Person{{ID: "P1", Name: "张三", DepartmentCode: "D2"}}, []int{1}, "department_code", nil); err != nil {
		t.Fatal(err)
	}
	if _, err = users("confirm-department", "--data-dir", dir, "--username", "lead", "--department", "D1"); err == nil {
		t.Fatal("confirmed a department the directory does not say")
	}
	if out, err = users("confirm-department", "--data-dir", dir, "--username", "lead", "--department", "D2"); err != nil || !strings.Contains(out, "D2") {
		t.Fatalf("confirm: %v\n%s", err, out)
	}
	if u, _ = db.User(ctx, "lead"); u.Department != "D2" || u.PendingDepartment != "" {
		t.Fatalf("after confirming: %+v", u)
	}

	entries, _, err := sqldbtest.AuditLog(t, db).Query(ctx, baocun.AuditFilter{Actor: "system", Action: "user.update", Limit: 100})
	if err != nil || len(entries) != 6 {
		t.Fatalf("%d account changes audited, want 6: %v", len(entries), err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.UserAgent, "baocun users ") || !strings.Contains(e.Summary, `"before"`) || !strings.Contains(e.Summary, `"after"`) {
			t.Fatalf("entry %+v", e)
		}
	}

	// Mistakes: no name, no such account, and a data dir that holds no database
	// (which must not get an empty one).
	if _, err := users("disable", "--data-dir", dir); exitCode(err) != 2 {
		t.Fatalf("no --username: %v", err)
	}
	if _, err := users("unlock", "--data-dir", dir, "--username", "ghost"); baocun.ErrorCode(err) != baocun.ENOTFOUND {
		t.Fatalf("no such account: %v", err)
	}
	empty := t.TempDir()
	if _, err := users("disable", "--data-dir", empty, "--username", "alice"); err == nil || !strings.Contains(err.Error(), "No database") {
		t.Fatalf("a data dir without a database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "baocun.db")); !os.IsNotExist(err) {
		t.Fatalf("an empty database was created: %v", err)
	}
	if _, err := users("rename", "--username", "alice"); exitCode(err) != 2 {
		t.Fatalf("an unknown subcommand: %v", err)
	}
}
