package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/apiclient"
	"baocun/cmd/baocun/demo"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// The fault tests: a service killed mid-run loses nothing it acknowledged, and on a
// shared Temporal server and PostgreSQL one instance finishes what another, killed,
// left. Both drive the demo's sample directory from launch to reviews through the
// HTTP API — nominate, approve, arrive, plan, approve the plan: five steps a pairing.

const faultPassword = "fault-test-password"

// roles are an account for every role the fault tests play.
type roles struct {
	sample    *demo.Sample
	org       *apiclient.Client
	auditor   *apiclient.Client
	leads     map[string]*apiclient.Client // department → its lead
	reviewers map[string]*apiclient.Client // department → its reviewer
	members   map[string]*apiclient.Client // person → their team_member account
	next      int                          // the first sample village no launch has paired yet
}

// newRoles imports the sample directory of n villages and creates and signs in the
// accounts, through the service at base.
func newRoles(t *testing.T, base string, n int) *roles {
	t.Helper()
	s, err := demo.NewSample(n)
	if err != nil {
		t.Fatal(err)
	}
	cast, err := demo.SetUp(context.Background(), apiclient.New(base, apiclient.NewHTTPClient()), s, faultPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &roles{sample: s, org: cast.Org, auditor: cast.Auditor, leads: cast.Leads, reviewers: cast.Reviewers, members: cast.Members}
}

// teamOf is the team the department sends to village: three of its staff, by the
// village's place among the department's villages.
func (r *roles) teamOf(village string) []string {
	i := slices.IndexFunc(r.sample.Villages, func(v demo.SampleVillage) bool { return v.Code == village })
	dept := r.sample.Villages[i].Department
	j := 0
	for _, v := range r.sample.Villages[:i] {
		if v.Department == dept {
			j++
		}
	}
	return r.sample.Staff[dept][3*j : 3*j+3]
}

// at is the same roles on another instance of the service.
func (r *roles) at(base string) *roles {
	move := func(c *apiclient.Client) *apiclient.Client { return c.At(base) }
	out := &roles{sample: r.sample, org: move(r.org), auditor: move(r.auditor), leads: map[string]*apiclient.Client{}, reviewers: map[string]*apiclient.Client{}, members: map[string]*apiclient.Client{}}
	for k, c := range r.leads {
		out.leads[k] = move(c)
	}
	for k, c := range r.reviewers {
		out.reviewers[k] = move(c)
	}
	for k, c := range r.members {
		out.members[k] = move(c)
	}
	return out
}

// launch launches a cycle of the sample's next n villages (a village is paired in
// one running cycle) on the real clock (nothing falls due during a test) and returns
// its pairings.
func (r *roles) launch(t *testing.T, n int) []baocun.Pairing {
	t.Helper()
	ctx := context.Background()
	spec := apiclient.LaunchSpec{Name: "故障测试 fault test", Jurisdiction: baocun.CityJurisdiction, CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01", ClockScale: 1}}
	villages := r.sample.Villages[r.next : r.next+n]
	r.next += n
	for _, v := range villages {
		spec.Pairings = append(spec.Pairings, baocun.PairingSpec{DepartmentCode: v.Department, VillageCode: v.Code, Kind: v.Kind})
	}
	id, err := r.org.Launch(ctx, spec)
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	ps, err := r.org.Pairings(ctx, id, nil)
	if err != nil || len(ps) != n {
		t.Fatalf("pairings: %d, %v", len(ps), err)
	}
	return ps
}

// acked is a step the service acknowledged (answered 200).
type acked struct {
	pairing int64
	task    string
	kind    baocun.TaskKind
}

// advance takes a pairing's next step towards reviews. It reports the step the
// service acknowledged (nil when there was none to take yet), and done once the
// pairing is in reviews. A 409 — the step was taken already, by a request whose
// answer was lost — is not an error: the next call sees the state it left.
func (r *roles) advance(ctx context.Context, p baocun.Pairing) (*acked, bool, error) {
	v, err := r.org.Pairing(ctx, p.ID)
	if err != nil {
		return nil, false, err
	}
	if v.Stage == baocun.StageReviews {
		return nil, true, nil
	}
	i := slices.IndexFunc(v.Tasks, func(t baocun.Task) bool { return t.Status == baocun.TaskOpen })
	if i < 0 {
		return nil, false, nil // the first task is still being written
	}
	t := v.Tasks[i]
	team := r.teamOf(p.Village)
	leader := r.members[team[0]]
	approve := baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove}
	switch t.Kind {
	case baocun.TaskNominateTeam:
		_, err = r.leads[p.Department].NominateTeam(ctx, p.ID, baocun.TeamInput{Leader: team[0], Members: team})
	case baocun.TaskApproveTeam:
		_, err = r.org.DecideTeam(ctx, p.ID, approve)
	case baocun.TaskConfirmArrival:
		_, err = leader.ConfirmArrival(ctx, p.ID)
	case baocun.TaskSubmitPlan:
		_, err = leader.SubmitPlan(ctx, p.ID, baocun.PlanInput{Title: "三年规划 three-year plan", Summary: "修路、引水、发展合作社 roads, water, a co-operative"})
	case baocun.TaskReviewPlan:
		for dept, rev := range r.reviewers {
			if dept != p.Department {
				_, err = rev.DecideReview(ctx, p.ID, approve)
				break
			}
		}
	default:
		return nil, false, fmt.Errorf("pairing %d: unexpected task %s (%s)", p.ID, t.ID, t.Kind)
	}
	switch {
	case apiclient.StatusOf(err) == http.StatusConflict:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return &acked{pairing: p.ID, task: t.ID, kind: t.Kind}, false, nil
}

// drive advances every pairing, each in a goroutine of its own, through the
// instances in turn, until each is in reviews or a call fails other than with a 409;
// it passes each acknowledged step to onAck and returns the first failure.
func drive(ctx context.Context, instances []*roles, ps []baocun.Pairing, onAck func(acked)) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(ps))
	for i, p := range ps {
		r := instances[i%len(instances)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					errs <- ctx.Err()
					return
				}
				a, done, err := r.advance(ctx, p)
				if err != nil {
					errs <- fmt.Errorf("pairing %d: %w", p.ID, err)
					return
				}
				if done {
					return
				}
				if a != nil {
					onAck(*a)
				} else {
					time.Sleep(20 * time.Millisecond) // a task being written: look again
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// stepEvents are the timeline events each step writes, by its task's kind.
var stepEvents = map[baocun.TaskKind]string{
	baocun.TaskNominateTeam: "team.nominated", baocun.TaskApproveTeam: "team.approved", baocun.TaskConfirmArrival: "team.arrived",
	baocun.TaskSubmitPlan: "plan.submitted", baocun.TaskReviewPlan: "plan.approved",
}

// checkAcked fails the test for any acknowledged step that is not recorded: its task
// closed, its event on the timeline, exactly once, and its audit entry.
func checkAcked(t *testing.T, r *roles, steps []acked) {
	t.Helper()
	ctx := context.Background()
	by := map[int64][]acked{}
	for _, a := range steps {
		by[a.pairing] = append(by[a.pairing], a)
	}
	for pid, as := range by {
		v, err := r.org.Pairing(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		audit, err := r.auditor.Audit(ctx, url.Values{"pairing": {fmt.Sprint(pid)}, "decision": {baocun.DecisionAllow}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			i := slices.IndexFunc(v.Tasks, func(t baocun.Task) bool { return t.ID == a.task })
			if i < 0 || v.Tasks[i].Status != baocun.TaskDone {
				t.Errorf("acknowledged %s of pairing %d (%s): task not done: %+v", a.task, pid, a.kind, v.Tasks)
				continue
			}
			n := 0
			for _, e := range v.Timeline {
				if e.TaskID == a.task && e.Kind == stepEvents[a.kind] {
					n++
				}
			}
			if n != 1 {
				t.Errorf("acknowledged %s of pairing %d (%s): %d %s events, want 1", a.task, pid, a.kind, n, stepEvents[a.kind])
			}
			if !slices.ContainsFunc(audit, func(e baocun.AuditEntry) bool { return e.Status == http.StatusOK && e.Actor == v.Tasks[i].ClosedBy }) {
				t.Errorf("acknowledged %s of pairing %d (%s): no audit entry by %s", a.task, pid, a.kind, v.Tasks[i].ClosedBy)
			}
		}
	}
}

// checkFinished fails the test unless every pairing is in reviews with each step
// recorded once, and the audit chain verifies.
func checkFinished(t *testing.T, r *roles, ps []baocun.Pairing) {
	t.Helper()
	ctx := context.Background()
	for _, p := range ps {
		v, err := r.org.Pairing(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage != baocun.StageReviews {
			t.Errorf("pairing %d at %s, want reviews", p.ID, v.Stage)
		}
		for _, kind := range []string{"team.approved", "team.arrived", "plan.approved"} {
			n := 0
			for _, e := range v.Timeline {
				if e.Kind == kind {
					n++
				}
			}
			if n != 1 {
				t.Errorf("pairing %d: %d %s events, want 1", p.ID, n, kind)
			}
		}
	}
	v, err := r.auditor.VerifyAudit(ctx)
	if err != nil || !v.OK {
		t.Errorf("audit verification: %+v, %v", v, err)
	}
}

// ackLog collects acknowledged steps from the drivers.
type ackLog struct {
	mu    sync.Mutex
	steps []acked
	at    int           // close reached when this many are in
	reach chan struct{} // closed once at steps are in
}

func newAckLog(at int) *ackLog { return &ackLog{at: at, reach: make(chan struct{})} }

func (l *ackLog) add(a acked) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, a)
	if len(l.steps) == l.at {
		close(l.reach)
	}
}

func (l *ackLog) all() []acked {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.steps)
}

// SIGKILL in the middle of a run, with steps in flight: after a restart on the same
// data dir every step acknowledged before the kill is in the database, the
// timelines and the audit trail, exactly once, and the run then completes.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (serve killed mid-cycle): go test ./...")
	}
	const n = 20
	args := []string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0"}
	env := []string{EnvAdminPassword + "=" + faultPassword}
	p := startServeEnv(t, env, args...)
	p.waitReady(t)
	r := newRoles(t, p.url, n)
	ps := r.launch(t, n)

	log := newAckLog(2 * n) // kill once 40 of the 100 steps are acknowledged
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- drive(ctx, []*roles{r}, ps, log.add) }()
	select {
	case <-log.reach:
	case err := <-done:
		t.Fatalf("the run ended before the kill: %v", err)
	}
	p.kill()
	if err := <-done; err == nil {
		t.Log("every driver finished before the kill took effect")
	}
	before := log.all()
	t.Logf("killed with %d steps acknowledged", len(before))

	p = startServeEnv(t, env, args...)
	p.waitReady(t)
	r = r.at(p.url)
	checkAcked(t, r, before)
	if err := drive(ctx, []*roles{r}, ps, log.add); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	checkAcked(t, r, log.all())
	checkFinished(t, r, ps)
	p.stop(t)
}

// Two instances, each API and worker, on one Temporal server (a `baocun temporal`
// process of its own, on SQLite and on PostgreSQL) and one PostgreSQL database: steps
// go through both; one is killed mid-run; the other finishes every pairing, losing no
// acknowledged step.
func TestClusterSurvivesAnInstance(t *testing.T) {
	t.Run("temporal=sqlite", func(t *testing.T) { clusterSurvivesAnInstance(t) })
	t.Run("temporal=postgres", func(t *testing.T) {
		clusterSurvivesAnInstance(t, "--database", sqldbtest.PostgresDatabase(t))
	})
}

func clusterSurvivesAnInstance(t *testing.T, temporalArgs ...string) {
	const n = 20
	c := startCluster(t, temporalArgs...)
	ra := newRoles(t, c.a.url, n)
	rb := ra.at(c.b.url)
	ps := ra.launch(t, n)

	log := newAckLog(2 * n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- drive(ctx, []*roles{ra, rb}, ps, log.add) }()
	select {
	case <-log.reach:
	case err := <-done:
		t.Fatalf("the run ended before the kill: %v", err)
	}
	c.b.kill()
	<-done // the drivers on b fail; those on a may finish or fail with b's
	t.Logf("instance b killed with %d steps acknowledged", len(log.all()))
	if err := drive(ctx, []*roles{ra}, ps, log.add); err != nil {
		t.Fatalf("instance a alone: %v", err)
	}
	checkAcked(t, ra, log.all())
	checkFinished(t, ra, ps)
	c.a.stop(t)
	// a's anchor holds every checkpoint, b's as well as its own.
	out, err := runAudit("verify", "--data-dir", c.aDir, "--database", c.dsn, "--public-key", sqldb.PublicKeyPath(c.key), "--strict", "--json")
	var v baocun.AuditVerification
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Checkpoints < 2 || v.Anchored != v.Checkpoints {
		t.Fatalf("audit verify after the run: %v, %s", err, out)
	}
}

// cluster is README's scale path without a Temporal cluster: a `baocun temporal`
// process and two `baocun serve` instances on it, each API and worker, on one
// PostgreSQL application database, sharing the audit and step keys.
type cluster struct {
	temporal   *process
	tdir       string // the Temporal server's data dir, with its certificates
	dsn        string // the application database
	key        string // the audit key the instances share
	a, b       *process
	aDir, bDir string
}

// startCluster starts `baocun temporal` with temporalArgs besides its data dir and port
// (--database …, say), then instance a, then instance b, and waits until both are
// ready.
func startCluster(t testing.TB, temporalArgs ...string) *cluster {
	t.Helper()
	c := &cluster{dsn: sqldbtest.PostgresDSN(t), tdir: t.TempDir()}
	c.temporal = startTemporal(t, append([]string{"--data-dir", c.tdir, "--temporal-port", "0"}, temporalArgs...)...)
	keys := t.TempDir() // the keys the instances share: the first creates them
	env := []string{EnvAdminPassword + "=" + faultPassword}
	c.key = filepath.Join(keys, "audit-ed25519.key")
	instance := func(dir string) *process {
		p := startServeEnv(t, env, append([]string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-address", c.temporal.temporal,
			"--database", c.dsn, "--audit-key", c.key, "--step-key", filepath.Join(keys, "step-hmac.key")},
			joinFlags(c.tdir)...)...)
		p.waitReady(t)
		return p
	}
	c.aDir = t.TempDir()
	c.a = instance(c.aDir)
	// b joins a database a has signed checkpoints in: b's own audit anchor is written
	// first, deliberately, as README says; b catches up what a signs meanwhile.
	c.bDir = t.TempDir()
	if out, err := runAudit("anchor", "--data-dir", c.bDir, "--database", c.dsn, "--public-key", sqldb.PublicKeyPath(c.key)); err != nil {
		t.Fatalf("audit anchor for instance b: %v (%s)", err, out)
	}
	c.b = instance(c.bDir)
	return c
}

// startTemporal starts `baocun temporal` and waits until it prints its address.
func startTemporal(t testing.TB, args ...string) *process {
	t.Helper()
	return startCommand(t, "temporal", nil, args...)
}

// Concurrency on one instance: one decision sent at once by many clients applies
// exactly once; imports of two versions of one file at once leave one version whole;
// launches at once each get exactly their own pairings and first tasks.
func TestConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (racing clients on a running cycle): go test ./...")
	}
	const n = 10
	p := startServeEnv(t, []string{EnvAdminPassword + "=" + faultPassword}, "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	r := newRoles(t, p.url, n)
	ctx := context.Background()

	// awaitOpen waits for the pairing's first task.
	awaitOpen := func(pid int64) {
		for {
			v, err := r.org.Pairing(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range v.Tasks {
				if task.Status == baocun.TaskOpen {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// record is what a pairing shows of a step: the pairing, how many timeline events
	// of kind it has, and the audit trail's entries of action.
	record := func(pid int64, kind, action string) (*apiclient.PairingView, int, []baocun.AuditEntry) {
		v, err := r.org.Pairing(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		for _, e := range v.Timeline {
			if e.Kind == kind {
				events++
			}
		}
		audit, err := r.auditor.Audit(ctx, url.Values{"pairing": {fmt.Sprint(pid)}, "action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		return v, events, audit
	}

	t.Run("one decision from many clients at once", func(t *testing.T) {
		ps := r.launch(t, 1)
		pid := ps[0].ID
		team := r.teamOf(ps[0].Village)
		var res struct{ Opened []string }
		awaitOpen(pid)
		sr, err := r.leads[ps[0].Department].NominateTeam(ctx, pid, baocun.TeamInput{Leader: team[0], Members: team})
		if err != nil {
			t.Fatal(err)
		}
		res.Opened = sr.Opened
		const clients = 24
		var wg sync.WaitGroup
		statuses := make([]int, clients)
		start := make(chan struct{})
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := r.org.DecideTeam(ctx, pid, baocun.DecisionInput{TaskID: res.Opened[0], Outcome: baocun.OutcomeApprove, Comment: fmt.Sprint("client ", i)})
				statuses[i] = apiclient.StatusOf(err)
				if err == nil {
					statuses[i] = http.StatusOK
				}
			}()
		}
		close(start)
		wg.Wait()
		ok, conflict := 0, 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				conflict++
			}
		}
		if ok != 1 || conflict != clients-1 {
			t.Fatalf("statuses %v: want one 200 and %d × 409", statuses, clients-1)
		}
		v, events, audit := record(pid, "team.approved", "team.approve")
		allowed := 0
		for _, e := range audit {
			if e.Status == http.StatusOK {
				allowed++
			}
		}
		if events != 1 || allowed != 1 || v.Stage != baocun.StageStationed {
			t.Fatalf("%d team.approved events, %d audited approvals (of %d entries), stage %s; want 1, 1, stationed", events, allowed, len(audit), v.Stage)
		}
		// Its team is free again for the next launch of the same villages: one person
		// serves on one running team.
		if _, err := r.org.CancelPairing(ctx, pid, "测试结束 the test is done"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("one step repeated under its Idempotency-Key", func(t *testing.T) {
		ps := r.launch(t, 1)
		pid := ps[0].ID
		team := r.teamOf(ps[0].Village)
		lead := r.leads[ps[0].Department]
		nominate := func(c *apiclient.Client) (baocun.StepResult, error) {
			return c.NominateTeam(ctx, pid, baocun.TeamInput{Leader: team[0], Members: team})
		}
		awaitOpen(pid)
		if _, err := nominate(lead.WithKey("bad key")); apiclient.StatusOf(err) != http.StatusBadRequest {
			t.Fatalf("a key with a space: %v, want 400", err)
		}
		// Sent at once by clients that each think they may have lost the answer.
		const clients = 12
		results := make([]baocun.StepResult, clients)
		errs := make([]error, clients)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = nominate(lead.WithKey("nominate-1"))
			}()
		}
		close(start)
		wg.Wait()
		for i := range clients {
			if errs[i] != nil || results[i].Request == "" || !reflect.DeepEqual(results[i], results[0]) {
				t.Fatalf("client %d: %+v, %v; want client 0's answer %+v", i, results[i], errs[i], results[0])
			}
		}
		// Another key is another step: the task is decided already.
		if _, err := nominate(lead.WithKey("nominate-2")); apiclient.StatusOf(err) != http.StatusConflict {
			t.Fatalf("the same nomination under a new key: %v, want 409", err)
		}
		_, events, audit := record(pid, "team.nominated", "team.nominate")
		answered := map[string]bool{}
		for _, e := range audit {
			if e.Status == http.StatusOK && e.Decision == baocun.DecisionAllow {
				answered[e.RequestID] = true
			}
		}
		// Every request is in the trail: the first with the step it took, each repeat
		// as allowed and answered.
		if events != 1 || len(answered) != clients || !answered[results[0].Request] {
			t.Fatalf("%d team.nominated events, %d answered requests in the trail (the first's %v); want 1, %d, true",
				events, len(answered), answered[results[0].Request], clients)
		}
	})

	t.Run("imports of one file's two versions at once", func(t *testing.T) {
		// Every village renamed one way or the other: the result is one version whole.
		version := func(suffix string) string {
			var b strings.Builder
			b.WriteString("code,name,county,township,class\n")
			for _, v := range r.sample.Villages {
				fmt.Fprintf(&b, "%s,%s%s,%s,%s,%d\n", v.Code, v.Name, suffix, v.County, v.Township, v.Class)
			}
			return b.String()
		}
		a, b := version("甲"), version("乙")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := a
				if i%2 == 1 {
					f = b
				}
				_, err := r.org.ImportDirectory(ctx, "villages", f)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("import: %v", err)
			}
		}
		suffixes := map[string]int{}
		for _, v := range r.sample.Villages {
			got, err := r.org.Village(ctx, v.Code)
			if err != nil {
				t.Fatal(err)
			}
			suffixes[strings.TrimPrefix(got.Name, v.Name)]++
		}
		if len(suffixes) != 1 {
			t.Fatalf("villages after concurrent imports: %v; want every one from the same version", suffixes)
		}
	})

	t.Run("launches at once", func(t *testing.T) {
		// Six launches of two or three villages each, none of another's (a village is
		// paired in one running cycle).
		const launches = 6
		var wg sync.WaitGroup
		ids := make([]int64, launches)
		errs := make([]error, launches)
		of := make([][]demo.SampleVillage, launches)
		for i := range launches {
			of[i] = r.sample.Villages[r.next : r.next+2+i%2]
			r.next += len(of[i])
		}
		for i := range launches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				spec := apiclient.LaunchSpec{Name: fmt.Sprintf("并发 %d concurrent", i), Jurisdiction: baocun.CityJurisdiction,
					CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01", ClockScale: 1}}
				for _, v := range of[i] {
					spec.Pairings = append(spec.Pairings, baocun.PairingSpec{DepartmentCode: v.Department, VillageCode: v.Code, Kind: v.Kind})
				}
				ids[i], errs[i] = r.org.Launch(ctx, spec)
			}()
		}
		wg.Wait()
		for i, id := range ids {
			if errs[i] != nil {
				t.Fatalf("launch %d: %v", i, errs[i])
			}
			ps, err := r.org.Pairings(ctx, id, nil)
			if err != nil {
				t.Fatal(err)
			}
			var villages []string
			for _, p := range ps {
				if p.CycleID != id {
					t.Errorf("cycle %d lists pairing %d of cycle %d", id, p.ID, p.CycleID)
				}
				villages = append(villages, p.Village)
			}
			var want []string
			for _, v := range of[i] {
				want = append(want, v.Code)
			}
			slices.Sort(villages)
			slices.Sort(want)
			if !slices.Equal(villages, want) {
				t.Errorf("cycle %d: villages %v, want %v", id, villages, want)
			}
			for _, p := range ps {
				// What is asserted is one nomination, never two; the deadline only ends a
				// wait for one that never comes, and six launches' 27 first tasks (before each had its own villages) under
				// the race detector on a busy 2-core machine took over a minute.
				deadline := time.Now().Add(5 * time.Minute)
				for {
					v, err := r.org.Pairing(ctx, p.ID)
					if err != nil {
						t.Fatal(err)
					}
					if len(v.Tasks) == 1 && v.Tasks[0].Kind == baocun.TaskNominateTeam {
						break
					}
					if len(v.Tasks) > 1 || time.Now().After(deadline) {
						t.Fatalf("cycle %d pairing %d: tasks %+v, want its one nomination", id, p.ID, v.Tasks)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	})
}
