package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/temporalserver"
	"baocun/workflows"
)

// A workflow waiting for an update and a timer survives a SIGKILL of the whole
// service: after a restart on the same data dir the timer fires, the update is
// accepted and the workflow completes. Then SIGTERM shuts the service down cleanly.
func TestServeRestartKeepsWaitingWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (serve restarted): go test ./...")
	}
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}
	ctx := context.Background()

	p := startServe(t, args...)
	t.Logf("first start: ready %s after the process started", p.waitReady(t))
	c := dial(t, dir, p.temporal)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-restart", TaskQueue: baocun.TaskQueue},
		workflows.Probe, workflows.ProbeInput{Wait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The worker has run the first workflow task (the timer is scheduled) once the
	// query answers: the query is served by the same worker from the same history.
	awaitQuery(t, c, run.GetID())
	c.Close()
	p.kill()

	p = startServe(t, args...)
	t.Logf("restart: ready %s after the process started", p.waitReady(t))
	c = dial(t, dir, p.temporal)
	defer c.Close()
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), UpdateName: workflows.ProbeAckUpdate, Args: []any{"after restart"},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("update after restart: %v", err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var res workflows.ProbeResult
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.GetWorkflow(getCtx, run.GetID(), "").Get(getCtx, &res); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if res.Ack != "after restart" || !res.TimerFired {
		t.Fatalf("result = %+v, want the ack and the timer", res)
	}
	p.stop(t)
}

// dial connects to the Temporal frontend of the service whose data dir is dir as the
// service does: with its client certificate, signing steps with its key.
func dial(t testing.TB, dir, address string) client.Client {
	t.Helper()
	certs, err := temporalserver.ReadCertificates(filepath.Join(dir, temporalserver.TLSDir))
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := certs.ClientTLS(temporalserver.Service)
	if err != nil {
		t.Fatal(err)
	}
	key, err := workflows.ReadStepKey(filepath.Join(dir, workflows.StepKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: address, Namespace: baocun.DefaultNamespace,
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConf},
		Interceptors:      []interceptor.ClientInterceptor{workflows.SigningInterceptor(key)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// joinFlags are the flags with which an instance joins the Temporal server of the
// process whose data dir is dir (a `baocun temporal` or an embedded `serve`): its
// CA and its service certificate.
func joinFlags(dir string) []string {
	tls := filepath.Join(dir, temporalserver.TLSDir)
	return []string{"--temporal-tls-ca", filepath.Join(tls, "ca.pem"), "--temporal-tls-cert", filepath.Join(tls, "service.pem"),
		"--temporal-tls-key", filepath.Join(tls, "service-key.pem"), "--temporal-tls-server-name", temporalserver.ServerName}
}

func awaitQuery(t testing.TB, c client.Client, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.QueryWorkflow(ctx, id, "", workflows.ProbeStateQuery); err != nil {
		t.Fatalf("query: %v", err)
	}
}

// badInput is a start-up that must fail: its arguments, what to prepare, and what the
// error must say.
type badInput struct {
	name  string
	args  func(dir string) []string
	setup func(t *testing.T, dir string)
	want  []string // all must appear in the error
	code  int
	env   []string // KEY=VALUE, the only environment serve sees
}

// Each bad start-up input gives one line naming the problem, a non-zero exit and
// no new or changed file.
func TestServeBadInput(t *testing.T) {
	notSQLite := []byte("编号,名称\n这是一个表格,不是数据库\n")
	tests := []badInput{
		{
			name: "unknown flag",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--no-such-flag"} },
			want: []string{"no-such-flag"}, code: 2,
		},
		{
			name: "bad flag value from environment is named",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--temporal-port", "70000"} },
			want: []string{"--temporal-port", "70000"}, code: 2,
		},
		{
			name: "Temporal sync mode unknown",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--temporal-sync", "off"} },
			want: []string{"--temporal-sync", "off", "full or normal"}, code: 2,
		},
		{
			name: "--files of a scheme that is not S3's",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--files", "s3://evidence"} },
			want: []string{"--files", "s3://evidence", "http(s)://HOST[:PORT]/BUCKET"}, code: 2,
		},
		{
			name: "--files with its keys in the address, not shown",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--files", "s3://AKID:s3cret@evidence"} },
			want: []string{"--files", "…@evidence"}, code: 2,
		},
		{
			name: "--files a bucket without its keys",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--files", "https://oss.example.gov.cn/evidence"}
			},
			want: []string{"--files", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, code: 2,
		},
		{
			name: "--files a bucket over plain http to another host",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--files", "http://oss.example.gov.cn/evidence"}
			},
			env:  []string{"AWS_ACCESS_KEY_ID=k", "AWS_SECRET_ACCESS_KEY=s3cret"},
			want: []string{"--files", "plain http", "use https"}, code: 1,
		},
		{
			name: "--files-quota below one file",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--files-quota", "1MiB"} },
			want: []string{"--files-quota", "1MiB", "--max-file-size"}, code: 2,
		},
		{
			name: "--files-insecure with a directory",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--files-insecure"} },
			want: []string{"--files-insecure", "--files http://"}, code: 2,
		},
		{
			name: "HSTS of negative seconds",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--hsts", "-1"} },
			want: []string{"--hsts", "-1"}, code: 2,
		},
		{
			name: "metrics address not host:port",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--metrics-http", "metrics"} },
			want: []string{"--metrics-http", "host:port"}, code: 2,
		},
		{
			name: "workflow cache of none",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--workflow-cache", "0"} },
			want: []string{"--workflow-cache", "at least 1"}, code: 2,
		},
		{
			name: "memory limit not a size",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--memory-limit", "lots"} },
			want: []string{"--memory-limit", `"lots"`, "256MiB"}, code: 2,
		},
		{
			name: "memory limit in bytes, meant as MiB",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--memory-limit", "400"} },
			want: []string{"--memory-limit", `"400"`, "at least 64MiB"}, code: 2,
		},
		{
			name: "memory limit negative",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--memory-limit", "-1"} },
			want: []string{"--memory-limit", `"-1"`}, code: 2,
		},
		{
			name: "history cache too small to hold the runs in use",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--history-cache", "100"} },
			want: []string{"--history-cache 100", "at least 2048"}, code: 2,
		},
		{
			name: "history cache with an external cluster",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--temporal-address", "127.0.0.1:7233", "--history-cache", "8192"}
			},
			want: []string{"--history-cache", "--temporal-address"}, code: 2,
		},
		{
			name: "data dir not writable",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "afile"), []byte("x"), 0o600)
			},
			args: func(dir string) []string { return []string{"--data-dir", filepath.Join(dir, "afile", "data")} },
			want: []string{"data dir", "afile"}, code: 1,
		},
		{
			name: "application database not SQLite",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "baocun.db"), notSQLite, 0o600)
			},
			args: func(dir string) []string { return []string{"--data-dir", dir} },
			want: []string{"baocun.db", "not a SQLite database"}, code: 1,
		},
		{
			name: "Temporal database not SQLite",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, "temporal.db"), notSQLite, 0o600)
			},
			args: func(dir string) []string { return []string{"--data-dir", dir} },
			want: []string{"temporal.db", "not a SQLite database"}, code: 1,
		},
		{
			name: "PostgreSQL refuses",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--database", "postgres://baocun:s3cret@127.0.0.1:1/baocun?connect_timeout=3"}
			},
			want: []string{"postgres://baocun:xxxxx@127.0.0.1:1/baocun", "refused"}, code: 1,
		},
		{
			name: "Temporal unreachable",
			setup: func(t *testing.T, dir string) {
				// The application database is valid and already exists: the failed
				// start must leave it as it was.
				sqldbtest.Open(t, "sqlite://"+filepath.Join(dir, "baocun.db")).Close()
			},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--temporal-address", "127.0.0.1:1", "--connect-timeout", "2s"}
			},
			want: []string{"temporal 127.0.0.1:1", "cannot connect"}, code: 1,
		},
	}
	// A certificate set damaged, a step key unusable: one line, nothing created.
	certSet := func(t *testing.T, dir string) string {
		tls := filepath.Join(dir, temporalserver.TLSDir)
		if _, err := temporalserver.CreateCertificates(tls); err != nil {
			t.Fatal(err)
		}
		return tls
	}
	tests = append(tests,
		badInput{
			name:  "a certificate's key missing",
			setup: func(t *testing.T, dir string) { os.Remove(filepath.Join(certSet(t, dir), "service-key.pem")) },
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}
			},
			want: []string{"service"}, code: 1,
		},
		badInput{
			name: "a certificate of another authority",
			setup: func(t *testing.T, dir string) {
				tls := certSet(t, dir)
				other, err := temporalserver.CreateCertificates(filepath.Join(t.TempDir(), "other"))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{"operator.pem", "operator-key.pem"} {
					data, _ := os.ReadFile(filepath.Join(other.Dir, f))
					os.WriteFile(filepath.Join(tls, f), data, 0o600)
				}
			},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}
			},
			want: []string{"operator.pem", "authority"}, code: 1,
		},
		badInput{
			name: "step key not a key",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, workflows.StepKeyFile), []byte("secret\n"), 0o600)
			},
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}
			},
			want: []string{workflows.StepKeyFile, "not hex"}, code: 1,
		},
		badInput{
			name:  "step key unreadable",
			setup: func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "key-dir"), 0o700) },
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0", "--step-key", filepath.Join(dir, "key-dir")}
			},
			want: []string{"key-dir"}, code: 1,
		},
		badInput{
			name: "plain text to a Temporal cluster off this machine",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--temporal-address", "10.1.2.3:7233"} },
			want: []string{"10.1.2.3:7233", "--temporal-tls-ca", "--temporal-insecure"}, code: 2,
		},
	)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	tests = append(tests,
		badInput{
			name: "Temporal unreachable on a first start",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--temporal-address", "127.0.0.1:1", "--connect-timeout", "2s"}
			},
			want: []string{"temporal 127.0.0.1:1", "cannot connect"}, code: 1,
		},
		badInput{
			name: "HTTP port busy on a first start",
			args: func(dir string) []string { return []string{"--data-dir", dir, "--http", "127.0.0.1:" + busyPort} },
			want: []string{"--http 127.0.0.1:" + busyPort}, code: 1,
		},
		badInput{
			name: "metrics port busy on a first start",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--metrics-http", "127.0.0.1:" + busyPort}
			},
			want: []string{"--metrics-http 127.0.0.1:" + busyPort}, code: 1,
		},
		badInput{
			name: "Temporal port busy on a first start",
			args: func(dir string) []string {
				return []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", busyPort}
			},
			want: []string{"--temporal-port " + busyPort, "not free"}, code: 1,
		},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBadInput(t, tt) })
	}
}

// checkBadInput runs serve on a new data dir prepared by tt.setup and checks that it
// fails as tt says, with every file as it was.
func checkBadInput(t *testing.T, tt badInput) {
	t.Helper()
	dir := t.TempDir()
	if tt.setup != nil {
		tt.setup(t, dir)
	}
	before := snapshot(t, dir)
	var stdout, stderr bytes.Buffer
	// A start that should fail and serves instead is stopped, and fails the test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	getenv := func(k string) string {
		for _, kv := range tt.env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	}
	err := run(ctx, append([]string{"baocun", "serve"}, tt.args(dir)...), getenv, &stdout, &stderr)
	if err == nil {
		t.Fatal("serve succeeded")
	}
	line := oneLine(err)
	for _, w := range tt.want {
		if !strings.Contains(line, w) {
			t.Errorf("error %q does not mention %q", line, w)
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
}

// The environment fills every flag; the command line wins over it.
func TestFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"BAOCUN_HTTP": "127.0.0.1:9999", "BAOCUN_TEMPORAL_NAMESPACE": "city", "BAOCUN_LOG_LEVEL": "debug"}
	var cfg serveConfig
	fs := newServeFlags(&cfg)
	if err := parseFlags(fs, []string{"--log-level", "warn"}, func(k string) string { return env[k] }, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "127.0.0.1:9999" || cfg.TemporalNamespace != "city" || cfg.LogLevel != "warn" {
		t.Fatalf("cfg = %+v", cfg)
	}
	env["BAOCUN_TEMPORAL_PORT"] = "not-a-port"
	err := parseFlags(newServeFlags(&serveConfig{}), nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "BAOCUN_TEMPORAL_PORT") {
		t.Fatalf("bad env value: err = %v, want it to name BAOCUN_TEMPORAL_PORT", err)
	}
}

// With --metrics-http, /metrics is served on its own listener, which the banner
// names, and no longer on --http's.
func TestServeMetricsOnItsOwnListener(t *testing.T) {
	p := startServe(t, "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0", "--metrics-http", "127.0.0.1:0")
	p.waitReady(t)
	m := regexp.MustCompile(`Metrics: (http://\S+/metrics)`).FindStringSubmatch(strings.Join(p.banner, "\n"))
	if m == nil || strings.HasPrefix(m[1], p.url) {
		t.Fatalf("the banner does not name a listener of its own for metrics:\n%s", strings.Join(p.banner, "\n"))
	}
	for url, want := range map[string]int{m[1]: 200, p.url + "metrics": 404} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !strings.Contains(string(body), "baocun_http_requests_total")) {
			t.Errorf("GET %s: %d, want %d: %.200s", url, resp.StatusCode, want, body)
		}
	}
	p.stop(t)
}

// snapshot lists every file under dir with its size and modification time.
func snapshot(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || path == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		b.WriteString(rel + ":" + info.ModTime().String() + ":" + strconv.FormatInt(info.Size(), 10) + " ")
		return nil
	})
	return b.String()
}

// BenchmarkServeReady measures a cold start of `baocun serve` on a new data dir,
// from process start to /readyz 200 (issue target: within 10 s).
//
//	go test -run '^$' -bench ServeReady -benchtime 5x ./cmd/baocun/
func BenchmarkServeReady(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		p := startServe(b, "--data-dir", b.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0")
		total += p.waitReady(b)
		p.stop(b)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
}

// Two processes on one data dir would corrupt the embedded server's state: the second
// is refused with a line that says why, and the first keeps serving.
func TestServeRefusesSecondInstanceOnDataDir(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	err := run(context.Background(), []string{"baocun", "serve", "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"},
		func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "in use by another baocun process") {
		t.Fatalf("second serve: err = %v, want in use", err)
	}
	p.waitReady(t)
	p.stop(t)
}

// The application database on PostgreSQL: the service starts, migrates and reports
// the database ready.
func TestServeOnPostgres(t *testing.T) {
	dsn := sqldbtest.PostgresDSN(t)
	p := startServe(t, "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0", "--database", dsn)
	p.waitReady(t)
	db := sqldbtest.Open(t, dsn)
	var version int
	if err := db.QueryRowContext(context.Background(), "SELECT MAX(version) FROM schema_migrations").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != sqldb.SchemaVersion() {
		t.Fatalf("schema version %d, want %d", version, sqldb.SchemaVersion())
	}
	p.stop(t)
}

// The first start creates the admin account with the password BAOCUN_ADMIN_PASSWORD
// holds, says so in the banner, and the account signs in through the API; a start
// without it generates a password and prints it once.
func TestServeBootstrapsAdmin(t *testing.T) {
	p := startServeEnv(t, []string{"BAOCUN_ADMIN_PASSWORD=first-admin-password"},
		"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	if !strings.Contains(strings.Join(p.banner, "\n"), "sign in as admin, password from BAOCUN_ADMIN_PASSWORD") {
		t.Fatalf("banner does not say how to sign in:\n%s", strings.Join(p.banner, "\n"))
	}
	resp, err := http.Post(p.url+"api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"admin","password":"first-admin-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin sign-in: %d", resp.StatusCode)
	}
	p.stop(t)

	p = startServe(t, "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	banner := strings.Join(p.banner, "\n")
	i := strings.Index(banner, "shown only this once: ")
	if i < 0 {
		t.Fatalf("no generated password in the banner:\n%s", banner)
	}
	generated := strings.Fields(banner[i+len("shown only this once: "):])[0]
	generated = strings.TrimSuffix(generated, ")")
	resp, err = http.Post(p.url+"api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"admin","password":"`+generated+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in with the generated password %q: %d", generated, resp.StatusCode)
	}
	p.stop(t)
}

// `baocun users add` creates an account with its roles; the password comes from the
// environment, never the command line.
func TestUsersAdd(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BAOCUN_NEW_USER_PASSWORD": "a-long-enough-password"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"baocun", "users", "add", "--data-dir", dir, "--username", "auditor1", "--role", "auditor@*"},
		func(k string) string { return env[k] }, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	db := sqldbtest.Open(t, "sqlite://"+filepath.Join(dir, "baocun.db"))
	u, err := db.User(context.Background(), "auditor1")
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Roles) != 1 || u.Roles[0].Role != "auditor" || u.Roles[0].Jurisdiction != "*" {
		t.Fatalf("roles = %+v", u.Roles)
	}
	err = run(context.Background(), []string{"baocun", "users", "add", "--data-dir", dir, "--username", "someone", "--role", "mayor"},
		func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "mayor") {
		t.Fatalf("unknown role: err = %v", err)
	}
}

// The scale path: a second instance on an existing Temporal server (here the first
// instance's) and PostgreSQL starts no embedded server, becomes ready with its worker
// on the shared task queue, and a workflow on that server completes.
func TestServeOnExternalTemporalAndPostgres(t *testing.T) {
	dirA := t.TempDir()
	a := startServe(t, "--data-dir", dirA, "--http", "127.0.0.1:0", "--temporal-port", "0")
	a.waitReady(t)
	b := startServe(t, append([]string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0",
		"--temporal-address", a.temporal, "--database", sqldbtest.PostgresDSN(t),
		"--step-key", filepath.Join(dirA, workflows.StepKeyFile)}, joinFlags(dirA)...)...)
	b.waitReady(t)
	if strings.Contains(strings.Join(b.banner, "\n"), "embedded") {
		t.Fatalf("the external instance started an embedded server:\n%s", strings.Join(b.banner, "\n"))
	}
	c := dial(t, dirA, a.temporal)
	defer c.Close()
	ctx := context.Background()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-external", TaskQueue: baocun.TaskQueue},
		workflows.Probe, workflows.ProbeInput{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	awaitQuery(t, c, run.GetID())
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.ProbeAckUpdate,
		Args: []any{"external"}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	getCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res workflows.ProbeResult
	if err := run.Get(getCtx, &res); err != nil || !res.TimerFired {
		t.Fatalf("result %+v, %v", res, err)
	}
	b.stop(t)
	a.stop(t)
}
