package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

const usage = `baocun — 部门包村 department–village pairing programme

用法 Usage:
  baocun serve [flags]    运行服务 run the service (embedded Temporal + SQLite by default)
  baocun temporal [flags] 仅运行内嵌 Temporal 服务 only the embedded Temporal server, for several serve instances to share
                          (on <data-dir>/temporal.db, or PostgreSQL with --database postgres://…)
  baocun demo [flags]     演示 a whole compressed cycle, every role played through the HTTP API (--minutes 2)
  baocun users add ...    创建用户 create an account (password from BAOCUN_NEW_USER_PASSWORD)
  baocun users disable|enable|reset-password|unlock|sessions|confirm-department --username U
                          账户管理 an account's lifecycle, as the API's admin routes
  baocun audit verify     校验审计链 check the audit chain offline, read-only (--data-dir DIR)
  baocun audit pubkey     审计公钥 print the audit public key
  baocun backup --to PATH 在线备份 an online backup of the data dir, serve running or not (--data-dir DIR)
  baocun restore --from PATH --data-dir NEW  恢复 lay down a new data dir from a backup
  baocun audit anchor     重建审计锚定 write a lost audit anchor anew from a chain that verifies
  baocun runs             运行中的工作流 open workflow runs by the code changes they have taken, read-only (--data-dir DIR)
  baocun help             本说明 this text

"baocun serve -h" lists the flags; every flag also reads BAOCUN_<FLAG> from the environment.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// oneLine folds an error to a single line: a failed start says one thing, once.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// run is the whole program; main only supplies the process's context, arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return &usageError{"no command given"}
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "temporal":
		return temporalCommand(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return demoCommand(ctx, rest, getenv, stdout)
	case "users":
		return usersCommand(ctx, rest, getenv, stdout)
	case "audit":
		return auditCommand(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return backupCommand(ctx, rest, getenv, stdout)
	case "restore":
		return restoreCommand(ctx, rest, getenv, stdout)
	case "runs":
		return runsCommand(ctx, rest, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// parseFlags parses args into fs after filling each flag from its BAOCUN_ environment
// variable: the command line wins over the environment, which wins over the default.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := getenv(name); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = &usageError{fmt.Sprintf("%s=%q: %v", name, v, err)}
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, "Usage of baocun %s (each flag also reads BAOCUN_<FLAG>):\n", fs.Name())
			fs.PrintDefaults()
			return err
		}
		return &usageError{fmt.Sprintf("%s: %v (see baocun %s -h)", fs.Name(), err, fs.Name())}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// envName is the environment variable for a flag: data-dir → BAOCUN_DATA_DIR.
func envName(flagName string) string {
	return "BAOCUN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// since formats a start-up duration for the log.
func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
