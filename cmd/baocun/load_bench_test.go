package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/apiclient"
	"baocun/sqldb"
)

// BenchmarkAPILoad puts the API under the load of many officials at once on the
// embedded default: 50 clients, each taking a pairing, having its department lead
// read the inbox and nominate the team and the organiser decide (return) it, again
// and again. It reports p50 and p99 of each endpoint, the throughput of steps (each
// an Update through the API) and the errors (any answer but the expected one).
// Beside it, on the same server in the same run, the floor: as many bare Temporal
// Updates (a trivial handler) from 50 clients.
//
// It runs with temporal.db synchronous=FULL (the default) and NORMAL, each against a
// floor of its own, so the cost of FULL is the difference of the two ratios.
//
//	go test -run '^$' -bench APILoad -benchtime 1x -timeout 30m ./cmd/baocun/
func BenchmarkAPILoad(b *testing.B) {
	forEachSync(b, func(b *testing.B, syncMode string) { benchmarkAPILoad(b, syncMode, 200, 50, 2000) })
}

// BenchmarkStepAlone is one official on an idle server: a lead's nomination and an
// organiser's decision, one after another, 200 times over 20 pairings, against bare
// Updates sent one at a time (decide/update-p50 is the ratio to read).
//
//	go test -run '^$' -bench StepAlone -benchtime 1x -timeout 30m ./cmd/baocun/
func BenchmarkStepAlone(b *testing.B) {
	forEachSync(b, func(b *testing.B, syncMode string) { benchmarkAPILoad(b, syncMode, 20, 1, 200) })
}

func benchmarkAPILoad(b *testing.B, syncMode string, pairings, clients int, decisions int64) {
	env := newLaunchEnv(b, pairings, syncMode)
	id := env.launchCycle(b, pairings)
	cast := newLoadCast(b, env.db, env.srv.URL, id, pairings)
	for i := 0; i < b.N; i++ {
		load := cast.run(b, []string{env.srv.URL}, clients, decisions)
		floor := env.bareUpdates(b, pairings, clients, int(decisions))
		load.report(b, floor)
		b.ReportMetric(peakRSSMB(), "peak-rss-MB")
	}
}

// loadCast is the officials of the API load, signed in: the organiser and a lead for
// each department (its first person), with an account of their own; and the pairings
// of the cycle they work on.
type loadCast struct {
	org   *apiclient.Client
	leads map[string]*apiclient.Client
	ps    []baocun.Pairing
}

// newLoadCast creates the leads' accounts in db and signs everyone in through the
// service at base; sessions live in the database, so any instance on it takes them.
func newLoadCast(b *testing.B, db *sqldb.DB, base string, cycle int64, pairings int) *loadCast {
	ctx := context.Background()
	c := apiclient.New(base, apiclient.NewHTTPClient())
	org, err := c.SignIn(ctx, "org", "launch-bench-password")
	if err != nil {
		b.Fatal(err)
	}
	hash, _ := baocun.HashPassword("launch-bench-password")
	leads := map[string]*apiclient.Client{}
	for d := 0; d < (pairings+2)/3; d++ {
		code := fmt.Sprintf("D%04d", d)
		if _, err := db.CreateUser(ctx, baocun.NewUser{Username: "lead-" + code, PasswordHash: hash, PersonID: fmt.Sprintf("P%04d-0", d),
			Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "*"}}}, nil); err != nil {
			b.Fatal(err)
		}
		if leads[code], err = c.SignIn(ctx, "lead-"+code, "launch-bench-password"); err != nil {
			b.Fatal(err)
		}
	}
	ps, err := db.Pairings(ctx, baocun.PairingFilter{CycleID: cycle, Limit: pairings})
	if err != nil {
		b.Fatal(err)
	}
	return &loadCast{org: org, leads: leads, ps: ps}
}

// loadRun is one API load's measurements.
type loadRun struct {
	nominate, decide, inbox latencies
	errs                    int64
	elapsed                 time.Duration
}

// run is the load: clients goroutines, each taking a pairing, having its department
// lead read the inbox and nominate the team and the organiser decide (return) it, again
// and again, until decisions decisions are in. Client k sends every call to the
// instance at bases[k % len(bases)].
func (c *loadCast) run(b *testing.B, bases []string, clients int, decisions int64) *loadRun {
	ctx := context.Background()
	// timed is how long f took.
	timed := func(f func() error) (time.Duration, error) {
		start := time.Now()
		err := f()
		return time.Since(start), err
	}
	out := &loadRun{}
	var errs atomic.Int64
	queue := make(chan baocun.Pairing, len(c.ps))
	for _, p := range c.ps {
		queue <- p
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for k := range clients {
		base := bases[k%len(bases)]
		org := c.org.At(base)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < decisions {
				p := <-queue
				lead := c.leads[p.Department].At(base)
				// The lead looks at the inbox first, as an official would.
				d, err := timed(func() error {
					_, err := lead.Tasks(ctx, url.Values{"limit": {"50"}})
					return err
				})
				if err != nil {
					errs.Add(1)
					b.Logf("inbox: %v", err)
				} else {
					out.inbox.add(d)
				}
				team := []string{fmt.Sprintf("P%s-0", p.Department[1:]), fmt.Sprintf("P%s-1", p.Department[1:]), fmt.Sprintf("P%s-2", p.Department[1:])}
				var res baocun.StepResult
				d, err = timed(func() (err error) {
					res, err = lead.NominateTeam(ctx, p.ID, baocun.TeamInput{Leader: team[0], Members: team})
					return err
				})
				if err != nil || len(res.Opened) != 1 {
					errs.Add(1)
					b.Logf("nominate %d: %+v, %v", p.ID, res, err)
					queue <- p
					continue
				}
				out.nominate.add(d)
				d, err = timed(func() error {
					_, err := org.DecideTeam(ctx, p.ID, baocun.DecisionInput{TaskID: res.Opened[0], Outcome: baocun.OutcomeReturn, Comment: "再议 again"})
					return err
				})
				if err != nil {
					errs.Add(1)
					b.Logf("decide %d: %v", p.ID, err)
				} else {
					out.decide.add(d)
					done.Add(1)
				}
				queue <- p
			}
		}()
	}
	wg.Wait()
	out.elapsed, out.errs = time.Since(start), errs.Load()
	return out
}

// report reports the load's metrics and those of its floor, and their ratios.
func (r *loadRun) report(b *testing.B, floor floorRun) {
	steps := float64(r.decide.n()+r.nominate.n()) / r.elapsed.Seconds()
	updates := float64(floor.lat.n()) / floor.elapsed.Seconds()
	b.ReportMetric(r.decide.pct(50), "decide-p50-ms")
	b.ReportMetric(r.decide.pct(99), "decide-p99-ms")
	b.ReportMetric(r.nominate.pct(50), "nominate-p50-ms")
	b.ReportMetric(r.nominate.pct(99), "nominate-p99-ms")
	b.ReportMetric(r.inbox.pct(50), "inbox-p50-ms")
	b.ReportMetric(r.inbox.pct(99), "inbox-p99-ms")
	b.ReportMetric(float64(r.decide.n())/r.elapsed.Seconds(), "decisions/s")
	b.ReportMetric(steps, "steps/s")
	b.ReportMetric(float64(r.errs), "errors")
	b.ReportMetric(floor.lat.pct(50), "update-p50-ms")
	b.ReportMetric(floor.lat.pct(99), "update-p99-ms")
	b.ReportMetric(updates, "updates/s")
	b.ReportMetric(float64(floor.errs), "update-errors")
	b.ReportMetric(r.decide.pct(99)/floor.lat.pct(99), "decide/update-p99")
	b.ReportMetric(r.decide.pct(50)/floor.lat.pct(50), "decide/update-p50")
	b.ReportMetric(steps/updates, "steps/updates-throughput")
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	ds []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.ds = append(l.ds, d); l.mu.Unlock() }
func (l *latencies) n() int              { l.mu.Lock(); defer l.mu.Unlock(); return len(l.ds) }

// pct is the p-th percentile in milliseconds (nearest rank).
func (l *latencies) pct(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ds) == 0 {
		return 0
	}
	s := slices.Clone(l.ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return float64(s[min(max(i, 0), len(s)-1)]) / float64(time.Millisecond)
}

// launchCycle launches a cycle of n pairings and waits for its first tasks.
func (e *launchEnv) launchCycle(b *testing.B, n int) int64 {
	e.launch(b, n)
	var id int64
	if err := e.db.QueryRowContext(context.Background(), "SELECT MAX(id) FROM cycles").Scan(&id); err != nil {
		b.Fatal(err)
	}
	return id
}

type floorRun struct {
	lat     *latencies
	elapsed time.Duration
	errs    int
}

// bareUpdates is the floor on the embedded stack: bareUpdates on its server and worker.
func (e *launchEnv) bareUpdates(b *testing.B, workflows, clients, n int) floorRun {
	e.rounds++
	return bareUpdates(b, e.tc, baocun.TaskQueue, fmt.Sprintf("bench-update-%d", e.rounds), workflows, clients, n)
}

// bareUpdates is the floor: n Updates with a trivial handler, sent through tc by
// clients goroutines to as many workflows (BenchUpdate, which a worker of taskQueue
// runs) waiting for them, their IDs starting with prefix.
func bareUpdates(b *testing.B, tc client.Client, taskQueue, prefix string, workflows, clients, n int) floorRun {
	ctx := context.Background()
	ids := make([]string, workflows)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: taskQueue}, "BenchUpdate"); err != nil {
			b.Fatal(err)
		}
	}
	// Each workflow answers one Update first, so none is timed while its first
	// workflow task is still queued behind the starts.
	for _, id := range ids {
		h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: "bench", Args: []any{int64(0)},
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	out := floorRun{lat: &latencies{}}
	var next atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := next.Add(1); k <= int64(n); k = next.Add(1) {
				t := time.Now()
				h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: ids[k%int64(len(ids))], UpdateName: "bench",
					Args: []any{k}, WaitForStage: client.WorkflowUpdateStageCompleted})
				if err == nil {
					err = h.Get(ctx, nil)
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				out.lat.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	out.elapsed, out.errs = time.Since(start), int(errs.Load())
	for _, id := range ids {
		tc.TerminateWorkflow(ctx, id, "", "benchmark done")
	}
	return out
}

// updateWorkflow waits for ever, answering each "bench" Update at once.
func updateWorkflow(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandler(ctx, "bench", func(ctx workflow.Context, k int64) (int64, error) { return k, nil }); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}
