package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"baocun/apiclient"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// BenchmarkScalePath runs the benchmarks of the embedded default on the scale path
// README describes for machines without a Temporal cluster: `baocun temporal
// --database postgres://…` (the Temporal server on PostgreSQL) and two `baocun serve`
// instances on one PostgreSQL application database, each a process of its own, as
// TestClusterSurvivesAnInstance starts them. Each sub-benchmark starts a cluster of
// its own.
//
// load is BenchmarkAPILoad's load — 200 pairings, 50 clients, 2,000 decisions, each a
// nomination and its return — with the clients alternating between the two instances.
// city is BenchmarkCityCycle's whole city cycle, each simulated official's calls going
// to one instance, the officials bound to the two in turn.
//
// Beside each, in the same run, its floor on the same Temporal server, answered by a
// worker in the benchmark's own process on a task queue of its own: as many bare
// Updates from 50 clients, and for city first as many bare workflow starts as
// pairings. Each reports its embedded counterpart's metrics, with each process's peak
// resident memory (VmHWM) in place of this process's, and the most PostgreSQL
// connections seen open to each database: temporal-pg-conns are the Temporal server's
// alone; app-pg-conns count every session of the application database's database
// (BAOCUN_TEST_POSTGRES's), this process's own too (its pool, used at set-up and by
// city's own queries, and the sampler's one).
//
//	BAOCUN_TEST_POSTGRES=postgres://baocun:baocun@127.0.0.1:5432/baocun_test?sslmode=disable \
//	  go test -run '^$' -bench 'ScalePath/load' -benchtime 1x -timeout 30m ./cmd/baocun/
//	BAOCUN_TEST_POSTGRES=postgres://baocun:baocun@127.0.0.1:5432/baocun_test?sslmode=disable \
//	  go test -run '^$' -bench 'ScalePath/city/quarter=20s' -benchtime 1x -timeout 90m -v ./cmd/baocun/
func BenchmarkScalePath(b *testing.B) {
	if os.Getenv(sqldbtest.EnvPostgres) == "" {
		b.Skipf("the scale path runs on PostgreSQL: set %s to a DSN whose user may create databases (CI's does)", sqldbtest.EnvPostgres)
	}
	b.Run("load", func(b *testing.B) { benchmarkScalePath(b, 200, 50, 2000) })
	b.Run("city", func(b *testing.B) {
		forEachQuarter(b, func(b *testing.B, quarter time.Duration) {
			benchmarkCityCycle(b, func(b *testing.B, n int) cityDeployment { return newScaleEnv(b, n) }, quarter)
		})
	})
}

// floorQueue is the task queue of the benchmark's own worker, which answers the
// floor's workflow starts and Updates: apart from Baocun's, whose workers are the
// instances'.
const floorQueue = "bench-floor"

// scaleEnv is the scale path running, with a directory of n villages and an organiser,
// and what the benchmark needs beside it.
type scaleEnv struct {
	*cluster
	app    *launchEnv    // db, the application database, and the organiser; no server or client of its own
	tc     client.Client // to the Temporal server, with its service certificate
	conns  *connSampler
	rounds int
}

// newScaleEnv starts the scale path: `baocun temporal` on a new PostgreSQL database,
// the two instances on a new schema of the application database, a directory of n
// villages imported through instance a, and in this process a client of the Temporal
// server and the floor's worker.
func newScaleEnv(b *testing.B, n int) *scaleEnv {
	temporalDB := sqldbtest.PostgresDatabase(b)
	c := startCluster(b, "--database", temporalDB)
	db := sqldbtest.Open(b, c.dsn)
	e := &scaleEnv{cluster: c, app: &launchEnv{db: db, org: seedDirectory(b, db, c.a.url, n)}}

	e.tc = dialTemporal(b, c.tdir, c.temporal.temporal)
	b.Cleanup(e.tc.Close)
	w := worker.New(e.tc, floorQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(trivialWorkflow, workflow.RegisterOptions{Name: "BenchTrivial"})
	w.RegisterWorkflowWithOptions(updateWorkflow, workflow.RegisterOptions{Name: "BenchUpdate"})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)

	e.conns = sampleConns(b, map[string]string{"temporal": temporalDB, "app": os.Getenv(sqldbtest.EnvPostgres)})
	return e
}

func benchmarkScalePath(b *testing.B, pairings, clients int, decisions int64) {
	e := newScaleEnv(b, pairings)
	id := e.app.launchCycle(b, pairings)
	cast := newLoadCast(b, e.app.db, e.a.url, id, pairings)
	for i := 0; i < b.N; i++ {
		load := cast.run(b, []string{e.a.url, e.b.url}, clients, decisions)
		floor := e.bareUpdates(b, pairings, clients, int(decisions))
		load.report(b, floor)
	}
	e.reportMemory(b)
}

// instances are the two instances' URLs, a's first.
func (e *scaleEnv) instances() []string { return []string{e.a.url, e.b.url} }

func (e *scaleEnv) appDB() *sqldb.DB             { return e.app.db }
func (e *scaleEnv) organiser() *apiclient.Client { return e.app.org }

// trivial starts n trivial workflows from 32 clients on the floor's task queue and
// waits for all to complete.
func (e *scaleEnv) trivial(b *testing.B, n int) time.Duration {
	return trivialStarts(b, e.tc, floorQueue, fmt.Sprintf("trivial-%d", e.rounds), n)
}

// bareUpdates is the floor on the scale path: bareUpdates through its Temporal server,
// answered by the floor's worker.
func (e *scaleEnv) bareUpdates(b *testing.B, workflows, clients, n int) floorRun {
	e.rounds++
	return bareUpdates(b, e.tc, floorQueue, fmt.Sprintf("bench-update-%d", e.rounds), workflows, clients, n)
}

// watchMemory does nothing: the kernel keeps each process's peak, and the sampler
// counts the connections on its own.
func (e *scaleEnv) watchMemory() {}

// heapProfile does nothing: BAOCUN_HEAP_PROFILE would profile this process, which
// holds none of the deployment.
func (e *scaleEnv) heapProfile(b *testing.B) {}

// reportMemory reports each process's peak resident memory, read while it runs, and
// ends the connections' sampling, reporting each database's most.
func (e *scaleEnv) reportMemory(b *testing.B) {
	for name, p := range map[string]*process{"temporal": e.temporal, "serve-a": e.a, "serve-b": e.b} {
		b.ReportMetric(vmHWM(b, p), name+"-rss-MB")
	}
	for db, n := range e.conns.stop() {
		b.ReportMetric(float64(n), db+"-pg-conns")
	}
}

// vmHWM is the most memory process p has held resident, in MB, by the kernel's
// count: read while p runs.
func vmHWM(b *testing.B, p *process) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Logf("peak memory of %d: %v", p.cmd.Process.Pid, err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// connSampler counts, four times a second, the PostgreSQL connections open to each
// database it watches, and keeps each one's most.
type connSampler struct {
	stopOnce sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	max      map[string]int
}

// sampleConns watches the databases dbs names (a name for the report → a URL of it).
func sampleConns(b *testing.B, dbs map[string]string) *connSampler {
	s := &connSampler{done: make(chan struct{}), max: map[string]int{}}
	admin, err := sql.Open("pgx", os.Getenv(sqldbtest.EnvPostgres))
	if err != nil {
		b.Fatal(err)
	}
	admin.SetMaxOpenConns(1)
	names := map[string]string{} // database name → report name
	for name, raw := range dbs {
		u, err := url.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		names[strings.TrimPrefix(u.Path, "/")] = name
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer admin.Close()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			rows, err := admin.QueryContext(context.Background(), "SELECT datname, count(*) FROM pg_stat_activity WHERE datname IS NOT NULL GROUP BY datname")
			if err == nil {
				for rows.Next() {
					var db string
					var n int
					if rows.Scan(&db, &n) == nil && names[db] != "" {
						s.mu.Lock()
						s.max[names[db]] = max(s.max[names[db]], n)
						s.mu.Unlock()
					}
				}
				rows.Close()
			}
			select {
			case <-s.done:
				return
			case <-tick.C:
			}
		}
	}()
	b.Cleanup(func() { s.stop() })
	return s
}

// stop ends the sampling and returns each database's most connections seen.
func (s *connSampler) stop() map[string]int {
	s.stopOnce.Do(func() { close(s.done) })
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}
