package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

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

// usersCommand is `baocun users add`: create an account from the command line.
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return &usageError{"users: want \"baocun users add --username U --role ROLE[@JURISDICTION] …\""}
	}
	fs := flag.NewFlagSet("users add", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "data directory")
	database := fs.String("database", "", "application database (default sqlite://<data-dir>/baocun.db)")
	username := fs.String("username", "", "the new account's username")
	person := fs.String("person-id", "", "the directory person the account belongs to")
	village := fs.String("village-code", "", "the village the account speaks for")
	var roles roleFlags
	fs.Var(&roles, "role", "role@jurisdiction, repeatable (jurisdiction * = the whole city, the default)")
	if err := parseFlags(fs, args[1:], getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	password := getenv("BAOCUN_NEW_USER_PASSWORD")
	if password == "" {
		return &usageError{"users add: set the password in BAOCUN_NEW_USER_PASSWORD (never on the command line, where ps shows it)"}
	}
	dsn := *database
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(*dataDir, "baocun.db")
		if err := checkSQLiteFile(strings.TrimPrefix(dsn, "sqlite://")); err != nil {
			return err
		}
	}
	db, err := sqldb.Open(ctx, dsn)
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
	u, err := db.CreateUser(ctx, baocun.NewUser{Username: *username, PasswordHash: hash, PersonID: *person, VillageCode: *village, Roles: roles},
		&baocun.AuditEntry{Actor: "system", Action: "user.create", Resource: "users/" + *username,
			Summary: fmt.Sprintf(`{"username":%q,"via":"baocun users add"}`, *username)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "已创建用户 Created user %s with roles %v\n", u.Username, u.Roles)
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
	*r = append(*r, baocun.Grant{Role: role, Jurisdiction: jur})
	return nil
}
