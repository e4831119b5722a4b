package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	postgresv12 "go.temporal.io/server/schema/postgresql/v12"

	"baocun"
	"baocun/sqldb/sqldbtest"
	"baocun/temporalserver"
)

// `baocun temporal --database postgres://…`: the server creates its two schemas on a
// new database at the versions it needs, keeps a workflow and its visibility record
// there across a restart (which updates nothing), and refuses a second process on the
// same database while the first runs, and a start of its data dir without --database.
func TestTemporalOnPostgres(t *testing.T) {
	db := sqldbtest.PostgresDatabase(t)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--temporal-port", "0", "--database", db}
	tp := startTemporal(t, args...)
	banner := strings.Join(tp.banner, "\n")
	u, _ := url.Parse(db)
	if pw, _ := u.User.Password(); !strings.Contains(banner, "PostgreSQL postgres://") || (pw != "" && strings.Contains(banner, ":"+pw+"@")) {
		t.Fatalf("the banner does not name the database, or shows its password:\n%s", banner)
	}
	if !strings.Contains(tp.stderr.String(), "Temporal schema updated") {
		t.Errorf("a new database: no schema update logged:\n%s", tp.stderr)
	}

	// The schemas, at the versions this server's own schema tool brings them to.
	pg, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for schema, want := range map[string]string{temporalserver.MainSchema: postgresv12.Version, temporalserver.VisibilitySchema: postgresv12.VisibilityVersion} {
		var got string
		if err := pg.QueryRow("SELECT curr_version FROM " + schema + ".schema_version").Scan(&got); err != nil || got != want {
			t.Errorf("schema %s at version %q (%v), want %s", schema, got, err, want)
		}
	}

	// A second server on the same database is refused; the first keeps serving.
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"baocun", "temporal", "--data-dir", t.TempDir(), "--temporal-port", "0", "--database", db},
		func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--database") || !strings.Contains(err.Error(), "in use by another baocun temporal process") {
		t.Fatalf("a second server on the database: %v, want it refused as in use", err)
	}

	// A workflow on the server, and its record in the visibility store.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialTemporal(t, dir, tp.temporal)
	const queue = "pg-probe"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(trivialWorkflow, workflow.RegisterOptions{Name: "BenchTrivial"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "pg-probe", TaskQueue: queue}, "BenchTrivial")
	if err == nil {
		err = wr.Get(ctx, nil)
	}
	if err != nil {
		t.Fatalf("a workflow on the server: %v", err)
	}
	awaitListed(ctx, t, c, "pg-probe")
	w.Stop()
	c.Close()
	tp.stop(t)

	// Without --database, this data dir's server would start empty on SQLite: refused.
	err = run(context.Background(), []string{"baocun", "temporal", "--data-dir", dir, "--temporal-port", "0"},
		func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "give --database") {
		t.Fatalf("the data dir without --database: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "temporal.db")); err == nil {
		t.Fatal("the refused start created temporal.db")
	}

	// Restarted: the schemas are current (nothing updated), the workflow is there.
	tp = startTemporal(t, args...)
	if strings.Contains(tp.stderr.String(), "Temporal schema updated") {
		t.Errorf("a restart updated the schema:\n%s", tp.stderr)
	}
	c = dialTemporal(t, dir, tp.temporal)
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "pg-probe", "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetCloseTime() == nil {
		t.Fatalf("the workflow after a restart: %v, %v", desc, err)
	}
	awaitListed(ctx, t, c, "pg-probe")

	// The lock's session killed (a PostgreSQL restart, a proxy closing it): the lock is
	// gone, so another process could take the database; the server stops, and says why.
	if _, err := pg.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tp.done:
	case <-time.After(45 * time.Second):
		t.Fatal("the server kept running 45 s after its lock's session ended")
	}
	if tp.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(tp.stderr.String(), "lock is lost") {
		t.Fatalf("after its lock was lost: exit %d, stderr:\n%s", tp.cmd.ProcessState.ExitCode(), tp.stderr)
	}

	// This data dir's state is in db: started on another database it would begin empty.
	other := sqldbtest.PostgresDatabase(t)
	err = run(context.Background(), []string{"baocun", "temporal", "--data-dir", dir, "--temporal-port", "0", "--database", other},
		func(string) string { return "" }, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "keeps its state in") {
		t.Fatalf("the data dir on another database: %v, want a refusal", err)
	}
}

// A password given as a URL parameter is hidden like one in the user part.
func TestPostgresNameHidesThePassword(t *testing.T) {
	for _, raw := range []string{"postgres://u:s3cret@h/db", "postgres://u@h/db?password=s3cret&sslmode=disable"} {
		name, err := temporalserver.PostgresName(raw)
		if err != nil || strings.Contains(name, "s3cret") {
			t.Errorf("%s: %q, %v", raw, name, err)
		}
	}
}

// dialTemporal connects to the `baocun temporal` whose data dir is dir, with its service
// certificate, in Baocun's namespace.
func dialTemporal(t testing.TB, dir, address string) client.Client {
	t.Helper()
	certs, err := temporalserver.ReadCertificates(filepath.Join(dir, temporalserver.TLSDir))
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := certs.ClientTLS(temporalserver.Service)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: address, Namespace: baocun.DefaultNamespace,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConf}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awaitListed waits until the visibility store lists the workflow id: records are
// written after the workflow's own, by the server's visibility queue.
func awaitListed(ctx context.Context, t *testing.T, c client.Client, id string) {
	t.Helper()
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + id + "'"})
		if err == nil && len(resp.GetExecutions()) == 1 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("workflow %s not listed: %v, %v", id, resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A bad --database for `baocun temporal` is refused with one line naming the flag,
// never the password, and changes no file of the data dir.
func TestTemporalCommandBadDatabase(t *testing.T) {
	for _, tt := range []struct {
		name  string
		args  []string
		setup func(dir string)
		want  []string
		code  int
	}{
		{name: "not PostgreSQL", args: []string{"--database", "mysql://u:s3cret@db/temporal"},
			want: []string{"--database", "postgres://"}, code: 2},
		{name: "no database named", args: []string{"--database", "postgres://u:s3cret@db.example"},
			want: []string{"--database", "name the database"}, code: 2},
		{name: "a search_path of its own", args: []string{"--database", "postgres://u:s3cret@db/temporal?search_path=x"},
			want: []string{"--database", "search_path", temporalserver.MainSchema}, code: 2},
		{name: "with --temporal-sync", args: []string{"--database", "postgres://u:s3cret@db/temporal", "--temporal-sync", "normal"},
			want: []string{"--temporal-sync", "synchronous_commit"}, code: 2},
		{name: "PostgreSQL refuses", args: []string{"--database", "postgres://baocun:s3cret@127.0.0.1:1/temporal?connect_timeout=3"},
			want: []string{"--database postgres://baocun:xxxxx@127.0.0.1:1/temporal", "refused"}, code: 1},
		{name: "over a temporal.db", args: []string{"--database", "postgres://baocun:s3cret@127.0.0.1:1/temporal"},
			setup: func(dir string) { os.WriteFile(filepath.Join(dir, "temporal.db"), nil, 0o600) },
			want:  []string{"--database", "temporal.db", "would not move"}, code: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(dir)
			}
			before := snapshot(t, dir)
			err := run(context.Background(), append([]string{"baocun", "temporal", "--data-dir", dir, "--temporal-port", "0"}, tt.args...),
				func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("temporal started")
			}
			line := oneLine(err)
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not say %q", line, w)
				}
			}
			if strings.Contains(line, "s3cret") {
				t.Errorf("error leaks the password: %q", line)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("files changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
