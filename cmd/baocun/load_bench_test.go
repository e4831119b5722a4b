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
	ctx := context.Background()
	id := env.launchCycle(b, pairings)
	base := apiclient.New(env.srv.URL, apiclient.NewHTTPClient())
	org, err := base.SignIn(ctx, "org", "launch-bench-password")
	if err != nil {
		b.Fatal(err)
	}
	// A lead for each department (its first person), with an account of their own.
	hash, _ := baocun.HashPassword("launch-bench-password")
	leads := map[string]*apiclient.Client{}
	for d := 0; d < (pairings+2)/3; d++ {
		code := fmt.Sprintf("D%04d", d)
		if _, err := env.db.CreateUser(ctx, baocun.NewUser{Username: "lead-" + code, PasswordHash: hash, PersonID: fmt.Sprintf("P%04d-0", d),
			Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "*"}}}, nil); err != nil {
			b.Fatal(err)
		}
		if leads[code], err = base.SignIn(ctx, "lead-"+code, "launch-bench-password"); err != nil {
			b.Fatal(err)
		}
	}
	ps, err := env.db.Pairings(ctx, baocun.PairingFilter{CycleID: id, Limit: pairings})
	if err != nil {
		b.Fatal(err)
	}
	// timed is how long f took.
	timed := func(f func() error) (time.Duration, error) {
		start := time.Now()
		err := f()
		return time.Since(start), err
	}
	for i := 0; i < b.N; i++ {
		var nominate, decide, inbox latencies
		var errs atomic.Int64
		queue := make(chan baocun.Pairing, pairings)
		for _, p := range ps {
			queue <- p
		}
		var done atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for done.Load() < decisions {
					p := <-queue
					lead := leads[p.Department]
					// The lead looks at the inbox first, as an official would.
					d, err := timed(func() error {
						_, err := lead.Tasks(ctx, url.Values{"limit": {"50"}})
						return err
					})
					if err != nil {
						errs.Add(1)
						b.Logf("inbox: %v", err)
					} else {
						inbox.add(d)
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
					nominate.add(d)
					d, err = timed(func() error {
						_, err := org.DecideTeam(ctx, p.ID, baocun.DecisionInput{TaskID: res.Opened[0], Outcome: baocun.OutcomeReturn, Comment: "再议 again"})
						return err
					})
					if err != nil {
						errs.Add(1)
						b.Logf("decide %d: %v", p.ID, err)
					} else {
						decide.add(d)
						done.Add(1)
					}
					queue <- p
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		floor := env.bareUpdates(b, pairings, clients, int(decisions))
		b.ReportMetric(decide.pct(50), "decide-p50-ms")
		b.ReportMetric(decide.pct(99), "decide-p99-ms")
		b.ReportMetric(nominate.pct(50), "nominate-p50-ms")
		b.ReportMetric(nominate.pct(99), "nominate-p99-ms")
		b.ReportMetric(inbox.pct(50), "inbox-p50-ms")
		b.ReportMetric(inbox.pct(99), "inbox-p99-ms")
		b.ReportMetric(float64(decide.n())/elapsed.Seconds(), "decisions/s")
		b.ReportMetric(float64(decide.n()+nominate.n())/elapsed.Seconds(), "steps/s")
		b.ReportMetric(float64(errs.Load()), "errors")
		b.ReportMetric(peakRSSMB(), "peak-rss-MB")
		b.ReportMetric(floor.lat.pct(50), "update-p50-ms")
		b.ReportMetric(floor.lat.pct(99), "update-p99-ms")
		b.ReportMetric(float64(floor.lat.n())/floor.elapsed.Seconds(), "updates/s")
		b.ReportMetric(float64(floor.errs), "update-errors")
		b.ReportMetric(decide.pct(99)/floor.lat.pct(99), "decide/update-p99")
		b.ReportMetric(decide.pct(50)/floor.lat.pct(50), "decide/update-p50")
		b.ReportMetric((float64(decide.n()+nominate.n())/elapsed.Seconds())/(float64(floor.lat.n())/floor.elapsed.Seconds()), "steps/updates-throughput")
	}
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

// bareUpdates is the floor: n Updates with a trivial handler, sent by clients
// goroutines to workflows waiting for them, on the same server and worker.
func (e *launchEnv) bareUpdates(b *testing.B, workflows, clients, n int) floorRun {
	ctx := context.Background()
	e.rounds++
	ids := make([]string, workflows)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-update-%d-%d", e.rounds, i)
		if _, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: baocun.TaskQueue}, "BenchUpdate"); err != nil {
			b.Fatal(err)
		}
	}
	// Each workflow answers one Update first, so none is timed while its first
	// workflow task is still queued behind the starts.
	for _, id := range ids {
		h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: "bench", Args: []any{int64(0)},
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
				h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: ids[k%int64(len(ids))], UpdateName: "bench",
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
		e.tc.TerminateWorkflow(ctx, id, "", "benchmark done")
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
