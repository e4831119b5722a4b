package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
	"baocun/apiclient"
	"baocun/blob"
	"baocun/policy"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/temporalclient"
	"baocun/temporalserver"
	"baocun/web"
	"baocun/workflows"
)

// BenchmarkLaunch measures a cycle's launch on the embedded default (Temporal on
// SQLite, the application database on SQLite, one worker, the HTTP API): from POST
// /cycles until every pairing's first task is in the database. Beside it, on the same
// server in the same run, the floor: starting as many trivial workflows (each
// completes at once) from 32 concurrent clients and waiting until all completed.
// It reports both and their ratio (target ≤ 2; 1,766 pairings ready in ≤ 60 s).
//
//	go test -run '^$' -bench 'Launch/pairings=(595|1766)$' -benchtime 1x -timeout 30m ./cmd/baocun/
//	go test -run '^$' -bench 'Launch/pairings=20000$' -benchtime 1x -timeout 60m ./cmd/baocun/
func BenchmarkLaunch(b *testing.B) {
	for _, n := range []int{595, 1766, 20000} {
		b.Run(fmt.Sprintf("pairings=%d", n), func(b *testing.B) {
			env := newLaunchEnv(b, n, temporalserver.SyncFull)
			var launch, trivial time.Duration
			for i := 0; i < b.N; i++ {
				launch += env.launch(b, n)
				trivial += env.trivial(b, n)
			}
			b.ReportMetric(launch.Seconds()/float64(b.N), "launch-s")
			b.ReportMetric(trivial.Seconds()/float64(b.N), "trivial-s")
			b.ReportMetric(float64(launch)/float64(trivial), "ratio")
			b.ReportMetric(float64(n)/(launch.Seconds()/float64(b.N)), "pairings/s")
			b.ReportMetric(peakRSSMB(), "peak-rss-MB")
		})
	}
}

type launchEnv struct {
	db  *sqldb.DB
	tc  client.Client
	srv *httptest.Server
	// org is the organiser, signed in, on an *http.Client without a time limit: a
	// launch of 20,000 pairings is one long request.
	org    *apiclient.Client
	rounds int
}

// forEachSync runs bench under each of temporal.db's sync modes, as sub-benchmarks.
func forEachSync(b *testing.B, bench func(b *testing.B, syncMode string)) {
	for _, mode := range []string{temporalserver.SyncFull, temporalserver.SyncNormal} {
		b.Run("sync="+mode, func(b *testing.B) { bench(b, mode) })
	}
}

// newLaunchEnv starts the embedded stack with a directory of n villages, n/3
// departments of three people each, and an organiser; temporal.db syncs as sync says.
func newLaunchEnv(b *testing.B, n int, syncMode string) *launchEnv {
	ctx := context.Background()
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// What goes wrong is shown: the server's errors and the SDK's warnings (a failing
	// workflow task, say) go to the benchmark's output.
	warn := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// As serve sets it without --memory-limit: its default soft memory limit, unless
	// GOMEMLIMIT is set (GOMEMLIMIT=off runs without one), so the peak measured is the
	// one serve would have.
	limit, from, restore := setMemoryLimit(defaultMemoryLimit, false, os.Getenv)
	b.Cleanup(restore)
	b.Logf("soft memory limit %s (%s)", describeMemoryLimit(limit), from)
	// As serve wires it: mutual TLS to the frontend, steps signed and checked.
	certs, err := temporalserver.CreateCertificates(filepath.Join(dir, temporalserver.TLSDir))
	if err != nil {
		b.Fatal(err)
	}
	tlsConf, err := certs.ClientTLS(temporalserver.Service)
	if err != nil {
		b.Fatal(err)
	}
	key, err := workflows.CreateStepKey(filepath.Join(dir, workflows.StepKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	// BAOCUN_BENCH_HISTORY_CACHE sizes the embedded server's history cache as
	// serve's --history-cache does (default temporalserver.DefaultHistoryCache): a
	// launch of 20,000 pairings wants more than a city's 4,096.
	historyCache, _ := strconv.Atoi(os.Getenv("BAOCUN_BENCH_HISTORY_CACHE"))
	ts, err := temporalserver.Start(ctx, temporalserver.Config{DatabasePath: filepath.Join(dir, "temporal.db"), Sync: syncMode, Namespace: "default",
		Logger: warn, LogLevel: slog.LevelError, TLS: certs, HistoryCache: historyCache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ts.Stop() })
	tc, err := client.Dial(client.Options{HostPort: ts.Address(), Namespace: "default", Logger: sdklog.NewStructuredLogger(warn),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConf},
		Interceptors:      []interceptor.ClientInterceptor{workflows.SigningInterceptor(key)}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tc.Close)
	db := sqldbtest.Open(b, "sqlite://"+filepath.Join(dir, "baocun.db"))
	audit := sqldbtest.AuditLog(b, db)
	if _, err := db.SeedPolicy(ctx, policy.DefaultRows(), nil); err != nil {
		b.Fatal(err)
	}

	w := newWorker(tc, defaultWorkflowCache, worker.Options{}, &activities.Activities{Store: db}, key, func(r workflows.Refusal) {
		b.Errorf("step refused: %+v", r)
	})
	w.RegisterWorkflowWithOptions(trivialWorkflow, workflow.RegisterOptions{Name: "BenchTrivial"})
	w.RegisterWorkflowWithOptions(updateWorkflow, workflow.RegisterOptions{Name: "BenchUpdate"})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	en, err := policy.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(web.NewServer(web.Deps{Logger: log, Registry: prometheus.NewRegistry(), Store: db, Authorizer: en, Audit: audit, Engine: temporalclient.New(tc, db),
		Files: blob.Dir(filepath.Join(dir, "files"))}))
	b.Cleanup(srv.Close)
	return &launchEnv{db: db, tc: tc, srv: srv, org: seedDirectory(b, db, srv.URL, n)}
}

// seedDirectory creates the organiser's account in db (its policy seeded already) and imports,
// through the service at base, a directory of n villages and n/3 departments of three
// people each. It returns the organiser, signed in, on an *http.Client without a time
// limit: a launch of 20,000 pairings is one long request.
func seedDirectory(b *testing.B, db *sqldb.DB, base string, n int) *apiclient.Client {
	ctx := context.Background()
	var deps, vils, people strings.Builder
	deps.WriteString("code,name,level,county\n")
	vils.WriteString("code,name,county,township,class\n")
	people.WriteString("id,name,department_code\n")
	for d := 0; d < (n+2)/3; d++ {
		fmt.Fprintf(&deps, "D%04d,部门%d,市直,\n", d, d)
		for p := 0; p < 3; p++ {
			fmt.Fprintf(&people, "P%04d-%d,人员%d,D%04d\n", d, p, p, d)
		}
	}
	for v := 0; v < n; v++ {
		fmt.Fprintf(&vils, "V%05d,村%d,县%d,镇,2\n", v, v, v%7)
	}
	hash, _ := baocun.HashPassword("launch-bench-password")
	if _, err := db.CreateUser(ctx, baocun.NewUser{Username: "org", PasswordHash: hash, Roles: []baocun.Grant{{Role: baocun.RoleOrganiser, Jurisdiction: "*"}}}, nil); err != nil {
		b.Fatal(err)
	}
	org, err := apiclient.New(base, &http.Client{}).SignIn(ctx, "org", "launch-bench-password")
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct{ kind, body string }{{"departments", deps.String()}, {"villages", vils.String()}, {"people", people.String()}} {
		if _, err := org.ImportDirectory(ctx, f.kind, f.body); err != nil {
			b.Fatal(err)
		}
	}
	return org
}

// launch posts a cycle of n pairings and waits until all n first tasks are stored.
func (e *launchEnv) launch(b *testing.B, n int) time.Duration {
	e.rounds++
	ps := make([]baocun.PairingSpec, n)
	for i := range ps {
		ps[i] = baocun.PairingSpec{DepartmentCode: fmt.Sprintf("D%04d", i/3), VillageCode: fmt.Sprintf("V%05d", i), Kind: "support"}
	}
	start := time.Now()
	ctx := context.Background()
	id, err := e.org.Launch(ctx, apiclient.LaunchSpec{Name: fmt.Sprintf("bench %d", e.rounds), Jurisdiction: "*",
		CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01"}, Pairings: ps})
	if err != nil {
		b.Fatal(err)
	}
	for {
		var got int
		if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tasks WHERE cycle_id = ? AND kind = ?", id, baocun.TaskNominateTeam).Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got == n {
			return time.Since(start)
		}
		if time.Since(start) > 40*time.Minute {
			b.Fatalf("after 40 minutes %d of %d first tasks", got, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the database: the condition has no event to await
	}
}

// trivial starts n trivial workflows from 32 clients and waits for all to complete.
func (e *launchEnv) trivial(b *testing.B, n int) time.Duration {
	return trivialStarts(b, e.tc, baocun.TaskQueue, fmt.Sprintf("trivial-%d", e.rounds), n)
}

// trivialStarts starts n trivial workflows (BenchTrivial, which a worker of taskQueue
// runs) through tc from 32 clients, their IDs starting with prefix, and waits for all
// to complete.
func trivialStarts(b *testing.B, tc client.Client, taskQueue, prefix string, n int) time.Duration {
	start := time.Now()
	ctx := context.Background()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: taskQueue}, "BenchTrivial")
				if err == nil {
					err = run.Get(ctx, nil)
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	return time.Since(start)
}

func trivialWorkflow(ctx workflow.Context) error { return nil }

// peakRSSMB is the most memory this process has held, in MB (the embedded server,
// the worker and the API all run in it).
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
