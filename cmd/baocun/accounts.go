package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"baocun"
	"baocun/policy"
	"baocun/sqldb"
)

// EnvAdminPassword names the variable that sets the first admin's password.
const EnvAdminPassword = "BAOCUN_ADMIN_PASSWORD"

// preparePolicy stores the default permissions on a new database, and gives one
// seeded by an older release the rules added since.
func preparePolicy(ctx context.Context, db *sqldb.DB) error {
	_, err := db.SeedPolicy(ctx, policy.DefaultRows(), &baocun.AuditEntry{
		Actor: "system", Action: "policy.seed", Resource: "policy",
		Summary: fmt.Sprintf(`{"rules":%d}`, len(policy.DefaultRows())),
	})
	if err != nil {
		return err
	}
	for _, a := range policy.Additions {
		rows := make([][]string, len(a.Rules))
		for i, r := range a.Rules {
			rows[i] = r
		}
		if _, err := db.AddPolicyRules(ctx, a.Name, rows, &baocun.AuditEntry{Actor: "system", Action: "policy.add", Resource: "policy"}); err != nil {
			return err
		}
	}
	return nil
}

// bootstrapAdmin creates the first account, "admin", when there is none: with the
// password BAOCUN_ADMIN_PASSWORD holds, or a generated one printed once. It returns
// the sign-in hint for the banner.
func bootstrapAdmin(ctx context.Context, db *sqldb.DB, getenv func(string) string) (string, error) {
	users, err := db.Users(ctx, 0, 1)
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		return "登录 Sign in with your account (an admin creates accounts: baocun users add).", nil
	}
	password, from := getenv(EnvAdminPassword), "from "+EnvAdminPassword
	if password == "" {
		buf := make([]byte, 12)
		rand.Read(buf)
		password, from = base64.RawURLEncoding.EncodeToString(buf), "generated, shown only this once: "
	}
	hash, err := baocun.HashPassword(password)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvAdminPassword, err)
	}
	_, err = db.CreateUser(ctx, baocun.NewUser{
		Username: "admin", PasswordHash: hash, Roles: []baocun.Grant{{Role: baocun.RoleAdmin, Jurisdiction: baocun.CityJurisdiction}},
	}, &baocun.AuditEntry{Actor: "system", Action: "user.create", Resource: "users/admin", Summary: `{"username":"admin","roles":[{"role":"admin","jurisdiction":"*"}],"bootstrap":true}`})
	if baocun.ErrorCode(err) == baocun.ECONFLICT {
		// Another instance on the same database bootstrapped it first.
		return "登录 Sign in as admin.", nil
	}
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(from, "generated") {
		return "首次启动 First start: sign in as admin, password (" + from + password + ")", nil
	}
	return "首次启动 First start: sign in as admin, password " + from + ".", nil
}

// usersCommand is `baocun users …`: the account operations of the API, for an
// operator on the database's host (the first admin's lockout, say). Each writes its
// audit entry as actor "system" in the change's transaction, like the API's.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{usersUsage}
	}
	switch args[0] {
	case "add":
		return usersAdd(ctx, args[1:], getenv, stdout)
	case "disable", "enable", "reset-password", "unlock", "sessions", "confirm-department":
		return usersChange(ctx, args[0], args[1:], getenv, stdout)
	}
	return &usageError{usersUsage}
}

const usersUsage = `users: want one of
  baocun users add --username U --role ROLE[@JURISDICTION] …   (password from BAOCUN_NEW_USER_PASSWORD)
  baocun users disable|enable --username U
  baocun users reset-password --username U                      (password from BAOCUN_NEW_USER_PASSWORD; to be changed at the next sign-in)
  baocun users unlock --username U
  baocun users sessions --username U [--end]
  baocun users confirm-department --username U --department CODE`

// accountFlags are the flags every users subcommand takes.
type accountFlags struct {
	fs                          *flag.FlagSet
	dataDir, database, username *string
}

func newAccountFlags(name string) accountFlags {
	fs := flag.NewFlagSet("users "+name, flag.ContinueOnError)
	return accountFlags{fs: fs,
		dataDir:  fs.String("data-dir", "./data", "data directory"),
		database: fs.String("database", "", "application database (default sqlite://<data-dir>/baocun.db)"),
		username: fs.String("username", "", "the account's username"),
	}
}

// open opens the application database; create says whether a missing SQLite file may
// be created (only `users add` may: a change to an account in a mistyped data dir
// must not start an empty database there).
func (f accountFlags) open(ctx context.Context, create bool) (*sqldb.DB, error) {
	dsn := *f.database
	if dsn == "" {
		path := filepath.Join(*f.dataDir, "baocun.db")
		if err := checkSQLiteFile(path); err != nil {
			return nil, err
		}
		if _, err := os.Stat(path); !create && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("没有数据库 No database at %s: give --data-dir or --database", path)
		}
		dsn = "sqlite://" + path
	}
	return sqldb.Open(ctx, dsn)
}

// usersAdd is `baocun users add`: create an account from the command line.
func usersAdd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newAccountFlags("add")
	person := f.fs.String("person-id", "", "the directory person the account belongs to")
	village := f.fs.String("village-code", "", "the village the account speaks for")
	var roles roleFlags
	f.fs.Var(&roles, "role", "role@jurisdiction, repeatable (jurisdiction * = the whole city, the default)")
	if err := parseFlags(f.fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	password := getenv("BAOCUN_NEW_USER_PASSWORD")
	if password == "" {
		return &usageError{"users add: set the password in BAOCUN_NEW_USER_PASSWORD (never on the command line, where ps shows it)"}
	}
	db, err := f.open(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := preparePolicy(ctx, db); err != nil {
		return err
	}
	hash, err := baocun.HashPassword(password)
	if err != nil {
		return err
	}
	u, err := db.CreateUser(ctx, baocun.NewUser{Username: *f.username, PasswordHash: hash, PersonID: *person, VillageCode: *village, Roles: roles},
		&baocun.AuditEntry{Actor: "system", Action: "user.create", Resource: "users/" + *f.username,
			Summary: fmt.Sprintf(`{"username":%q,"via":"baocun users add"}`, *f.username)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "已创建用户 Created user %s with roles %v\n", u.Username, u.Roles)
	return nil
}

// usersChange is every other `baocun users` subcommand: one AccountChange, as the
// API's routes make it.
func usersChange(ctx context.Context, sub string, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newAccountFlags(sub)
	end := f.fs.Bool("end", false, "sessions: end every session of the account")
	department := f.fs.String("department", "", "confirm-department: the person's department in the directory now")
	if err := parseFlags(f.fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *f.username == "" {
		return &usageError{"users " + sub + ": --username is required"}
	}
	var ch baocun.AccountChange
	switch sub {
	case "disable", "enable":
		disabled := sub == "disable"
		ch.Disabled = &disabled
	case "reset-password":
		password := getenv("BAOCUN_NEW_USER_PASSWORD")
		if password == "" {
			return &usageError{"users reset-password: set the new password in BAOCUN_NEW_USER_PASSWORD (never on the command line, where ps shows it)"}
		}
		hash, err := baocun.HashPassword(password)
		if err != nil {
			return err
		}
		ch = baocun.AccountChange{PasswordHash: hash, MustChangePassword: true, Unlock: true}
	case "unlock":
		ch.Unlock = true
	case "sessions":
		ch.EndSessions = *end
	case "confirm-department":
		if *department == "" {
			return &usageError{"users confirm-department: --department is required"}
		}
		ch.Department = department
	}
	db, err := f.open(ctx, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "sessions" && !*end {
		// Every page, in one listing: an account keeps at most sqldb.MaxLiveTokens
		// live tokens, so this is short.
		var ss []baocun.Session
		now := time.Now()
		for cursor := ""; ; {
			page, next, err := db.Sessions(ctx, *f.username, now, cursor, 100)
			if err != nil {
				return err
			}
			ss = append(ss, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		fmt.Fprintf(stdout, "%s 有 %d 个有效会话 has %d live sessions\n", *f.username, len(ss), len(ss))
		for _, s := range ss {
			fmt.Fprintf(stdout, "  %s  %-8s 创建 created %s  到期 expires %s\n", s.ID, s.Kind,
				s.CreatedAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return nil
	}
	// The action the API's routes record (object.action); the summary says which change.
	u, ended, err := db.UpdateAccount(ctx, *f.username, ch, &baocun.AuditEntry{Actor: "system", Action: "user.update",
		Resource: "users/" + *f.username, UserAgent: "baocun users " + sub})
	if err != nil {
		return err
	}
	switch sub {
	case "disable":
		fmt.Fprintf(stdout, "已停用 Disabled %s; 结束会话 sessions ended: %d\n", u.Username, ended)
	case "enable":
		fmt.Fprintf(stdout, "已启用 Enabled %s\n", u.Username)
	case "reset-password":
		fmt.Fprintf(stdout, "已重置密码 Password of %s reset: it must be changed at the next sign-in; 结束会话 sessions ended: %d\n", u.Username, ended)
	case "unlock":
		fmt.Fprintf(stdout, "已解锁 Unlocked %s: its sign-in failures are forgotten\n", u.Username)
	case "sessions":
		fmt.Fprintf(stdout, "已结束 %s 的 %d 个会话 Ended %d sessions of %s\n", u.Username, ended, ended, u.Username)
	case "confirm-department":
		fmt.Fprintf(stdout, "已确认 Confirmed: %s now acts for department %s\n", u.Username, u.Department)
	}
	return nil
}

// roleFlags collects repeated --role role@jurisdiction values.
type roleFlags []baocun.Grant

func (r *roleFlags) String() string { return fmt.Sprint(*r) }

func (r *roleFlags) Set(v string) error {
	role, jur, found := strings.Cut(v, "@")
	if !found {
		jur = baocun.CityJurisdiction
	}
	*r = append(*r, baocun.Grant{Role: baocun.Role(role), Jurisdiction: jur})
	return nil
}
