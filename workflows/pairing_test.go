package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/workflows"
)

// The tests run the workflows in the SDK's time-skipping test environment with the
// real activities on a real SQLite database, and check what the database says.
// Programme time equals real time: the cycle starts 2027-01-01 in China time, the
// clock's launch is that instant and its scale 1.

const day = 24 * time.Hour

var launch = time.Date(2027, 1, 1, 0, 0, 0, 0, baocun.ChinaTime)

// date is midnight of a programme date, China time.
func date(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, baocun.ChinaTime)
	if err != nil {
		panic(err)
	}
	return t
}

// since is how long after the launch programme date s (plus extra) is.
func since(s string, extra time.Duration) time.Duration { return date(s).Sub(launch) + extra }

type fixture struct {
	t        *testing.T
	ctx      context.Context
	db       *sqldb.DB
	log      *sqldb.AuditLog
	acts     *activities.Activities
	cycleID  int64
	pairings []baocun.Pairing
	settings baocun.CycleSettings
	clock    baocun.Clock
}

// names are the directory's people: P1–P5 of department D1, Q1 of D2.
var names = map[string]string{"P1": "张一", "P2": "张二", "P3": "张三", "P4": "张四", "P5": "张五", "Q1": "李一"}

// newFixture stores a directory, a cycle of n pairings of D1 with villages V1…Vn
// (settings tweaked by tweak after the defaults) and the audit log the activities use.
func newFixture(t *testing.T, n int, tweak func(*baocun.CycleSettings)) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	qs := []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A'), ('D2', '市财政局', '市直', '')`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张一', 'D1'), ('P2', '张二', 'D1'), ('P3', '张三', 'D1'),
			('P4', '张四', 'D1'), ('P5', '张五', 'D1'), ('Q1', '李一', 'D2')`,
	}
	var specs []baocun.PairingSpec
	for i := 1; i <= n; i++ {
		qs = append(qs, fmt.Sprintf(`INSERT INTO villages (code, name, county, township, class) VALUES ('V%d', '村%d', '县A', '一镇', 3)`, i, i))
		specs = append(specs, baocun.PairingSpec{DepartmentCode: "D1", VillageCode: fmt.Sprintf("V%d", i), Kind: "support"})
	}
	for _, q := range qs {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01", ClockScale: 1}
	settings.Defaults()
	if tweak != nil {
		tweak(&settings)
	}
	if err := settings.Validate(); err != nil {
		t.Fatal(err)
	}
	id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "第一轮", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: launch},
		specs, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := db.Pairings(ctx, baocun.PairingFilter{CycleID: id, Limit: 100})
	if err != nil || len(ps) != n {
		t.Fatalf("pairings: %d, %v", len(ps), err)
	}
	log := sqldbtest.AuditLog(t, db)
	clock := settings.Clock(launch)
	if !clock.Launch.Equal(clock.Start) {
		t.Fatalf("clock %+v: programme time should equal real time", clock)
	}
	return &fixture{t: t, ctx: ctx, db: db, log: log, acts: &activities.Activities{Store: db},
		cycleID: id, pairings: ps, settings: settings, clock: clock}
}

// api is an Update's callbacks that write its committed changes as the API does
// (temporalclient) before the step counts as answered.
func (f *fixture) api() *updateCallbacks {
	return &updateCallbacks{write: func(chs []baocun.Change) error { return f.db.ApplyChanges(f.ctx, chs) }}
}

// applied is the number of the pairing's last change written, as the API reads it
// before it sends a step.
func (f *fixture) applied(pairing int64) int64 {
	n, err := f.db.AppliedSeq(f.ctx, pairing)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// newTestEnv is a test environment that logs nothing: refused steps and failed
// writes are what these tests are about, and they are checked, not logged.
func newTestEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	return s.NewTestWorkflowEnvironment()
}

func (f *fixture) newEnv(start time.Time) *testsuite.TestWorkflowEnvironment {
	env := newTestEnv()
	env.SetStartTime(start)
	env.SetTestTimeout(time.Minute)
	env.RegisterActivity(f.acts)
	env.RegisterWorkflow(workflows.Pairing)
	return env
}

// run drives one run of a Pairing workflow.
type run struct {
	f   *fixture
	env *testsuite.TestWorkflowEnvironment
	p   baocun.Pairing
	n   int
	ok  []*sent // updates that must succeed
}

// sent is one update sent and what came of it.
type sent struct {
	name string
	cb   *updateCallbacks
	at   time.Duration
}

// code is the error type of a refused step: a baocun error code.
func code(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func (s *sent) result() workflows.StepResult {
	r, _ := s.cb.result.(workflows.StepResult)
	return r
}

func (s *sent) String() string {
	return fmt.Sprintf("%s at %v: accepted=%v rejected=%v err=%v result=%+v", s.name, s.at, s.cb.accepted, s.cb.rejected, s.cb.err, s.cb.result)
}

// startRun stores the pairing's first task as PairingBatch does and returns a run
// of a fresh workflow from the launch.
func (f *fixture) startRun(i int) (*run, workflows.PairingState) {
	p := f.pairings[i]
	s := workflows.NewPairingState(p, f.settings, f.clock, launch)
	if err := f.db.ApplyChange(f.ctx, baocun.Change{At: launch, Open: s.Tasks}); err != nil {
		f.t.Fatal(err)
	}
	return &run{f: f, env: f.newEnv(launch), p: p}, s
}

// send sends update name at offset at (from the run's start), building its step
// then, so it can name tasks opened by earlier steps.
func (r *run) send(at time.Duration, name string, step func() workflows.Step) *sent {
	r.n++
	id := fmt.Sprintf("u%d", r.n)
	s := &sent{name: name, cb: r.f.api(), at: at}
	r.env.RegisterDelayedCallback(func() {
		st := step()
		st.Applied = r.f.applied(r.p.ID)
		r.env.UpdateWorkflow(name, id, s.cb, st)
	}, at)
	return s
}

// must sends an update that must succeed (checked by check).
func (r *run) must(at time.Duration, name string, step func() workflows.Step) *sent {
	s := r.send(at, name, step)
	r.ok = append(r.ok, s)
	return s
}

func (r *run) at(at time.Duration, fn func()) { r.env.RegisterDelayedCallback(fn, at) }

// released runs the workflow as v0.1.0 released it, as its runs started before
// issue 16 replay until they continue as new: a person's step is written through an
// activity by its handler before it commits.
func (r *run) released() {
	r.env.OnGetVersion(workflows.CommitFirst, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
}

func (r *run) exec(s workflows.PairingState) error {
	r.env.ExecuteWorkflow(workflows.Pairing, s)
	if !r.env.IsWorkflowCompleted() {
		r.f.t.Fatal("workflow did not complete")
	}
	r.check()
	return r.env.GetWorkflowError()
}

// check fails the test for every update that had to succeed and did not.
func (r *run) check() {
	r.f.t.Helper()
	for _, s := range r.ok {
		if !s.cb.accepted || s.cb.rejected || s.cb.err != nil {
			r.f.t.Errorf("update %v: want success", s)
		}
	}
}

// open is the id of the pairing's open task of kind in the database (and of period
// when period > 0), failing the test when there is not exactly one.
func (r *run) open(kind baocun.TaskKind, period int) string {
	r.f.t.Helper()
	var ids []string
	for _, t := range r.f.tasks(r.p.ID) {
		if t.Kind == kind && t.Status == baocun.TaskOpen && (period == 0 || t.Period == period) {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) != 1 {
		r.f.t.Errorf("open %s tasks (period %d): %v, want one", kind, period, ids)
		return "none"
	}
	return ids[0]
}

func (r *run) state() workflows.PairingState {
	r.f.t.Helper()
	v, err := r.env.QueryWorkflow(workflows.QueryState)
	if err != nil {
		r.f.t.Fatal(err)
	}
	var s workflows.PairingState
	if err := v.Get(&s); err != nil {
		r.f.t.Fatal(err)
	}
	return s
}

// agrees checks that the workflow's open tasks are the database's, kind for kind
// (but for the tasks ignored).
func (r *run) agrees(ignore ...string) {
	r.f.t.Helper()
	var inState, inDB []string
	for _, ta := range r.state().Tasks {
		if !slices.Contains(ignore, ta.ID) {
			inState = append(inState, ta.ID+" "+string(ta.Kind))
		}
	}
	for _, ta := range r.f.tasks(r.p.ID) {
		if ta.Status == baocun.TaskOpen {
			inDB = append(inDB, ta.ID+" "+string(ta.Kind))
		}
	}
	slices.Sort(inState)
	slices.Sort(inDB)
	if !slices.Equal(inState, inDB) {
		r.f.t.Errorf("open tasks: workflow %v, database %v", inState, inDB)
	}
}

// Steps.

func audit(actor, action string) baocun.AuditEntry {
	return baocun.AuditEntry{Actor: actor, Action: action, Resource: "pairings"}
}

func nominate(leader string, members ...string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "lead", Audit: audit("lead", "pairing.nominate"), Team: &baocun.TeamInput{Leader: leader, Members: members}, Names: names}
	}
}

func (r *run) decide(kind baocun.TaskKind, outcome, comment string) func() workflows.Step {
	return r.decidePeriod(kind, 0, outcome, comment)
}

func (r *run) decidePeriod(kind baocun.TaskKind, period int, outcome, comment string) func() workflows.Step {
	return func() workflows.Step {
		return decision(r.open(kind, period), outcome, comment)()
	}
}

func decision(task, outcome, comment string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "decider", Audit: audit("decider", "task.decide"), Decision: &baocun.DecisionInput{TaskID: task, Outcome: outcome, Comment: comment}}
	}
}

func arrive(person string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "member", Person: person, Audit: audit("member", "pairing.arrive")}
	}
}

func plan(title string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "member", Audit: audit("member", "pairing.plan"), Plan: &baocun.PlanInput{Title: title, Summary: "修路、引水", Goals: []string{"路"}}}
	}
}

func report(period int, funds string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "member", Audit: audit("member", "pairing.report"), Report: &baocun.ReportInput{
			Period: period, Summary: "本期完成", FundsRaisedWan: funds, CollectiveIncomeWan: "3", Projects: map[string]int{"road": 1}}}
	}
}

// lastReportIn files a one-year cycle's period report in December 2027 — moving no
// objective input: no funds, income or projects — and has it approved, so acceptance
// begins as the period ends.
func (r *run) lastReportIn(period int) {
	r.must(since("2027-12-20", 0), workflows.UpdateSubmitReport, func() workflows.Step {
		return workflows.Step{Actor: "member", Audit: audit("member", "pairing.report"), Report: &baocun.ReportInput{
			Period: period, Summary: "本期完成", FundsRaisedWan: "0", CollectiveIncomeWan: "0"}}
	})
	r.must(since("2027-12-21", 0), workflows.UpdateDecideReview, r.decidePeriod(baocun.TaskReviewReport, period, baocun.OutcomeApprove, ""))
}

func teamChange(remove, add []string, leader string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "lead", Audit: audit("lead", "pairing.team_change"), Names: names,
			Change: &baocun.TeamChangeInput{Remove: remove, Add: add, Leader: leader, Reason: "工作调动"}}
	}
}

func evaluation(year int) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "village", Audit: audit("village", "pairing.evaluate"), Evaluation: &baocun.EvaluationInput{
			Year: year, Respondents: 50, VillagerSatisfaction: "95.5", GrassrootsSatisfaction: "90"}}
	}
}

func cancelStep(reason string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "org", Audit: audit("org", "pairing.cancel"), Reason: reason}
	}
}

// The happy path's timing: each step on its own day, the plan approved in the
// afternoon (a due date must not depend on the hour of the step that opens it).
var (
	atNominate    = 1 * day
	atApproveTeam = 2 * day
	atArrive      = 3 * day
	atPlan        = 4 * day
	atApprovePlan = 5*day + 15*time.Hour
	inReviews     = 6 * day
)

// toStage sends the happy path's steps up to stage (dispatch: none).
func (r *run) toStage(stage baocun.Stage) {
	steps := []struct {
		at    time.Duration
		name  string
		step  func() workflows.Step
		after baocun.Stage // the stage reached
	}{
		{atNominate, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"), baocun.StageDispatch},
		{atApproveTeam, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, ""), baocun.StageStationed},
		{atArrive, workflows.UpdateConfirmArrive, arrive("P2"), baocun.StagePlanning},
		{atPlan, workflows.UpdateSubmitPlan, plan("村级发展规划"), baocun.StagePlanning},
		{atApprovePlan, workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, ""), baocun.StageReviews},
	}
	if stage == baocun.StageDispatch {
		return
	}
	for _, s := range steps {
		r.must(s.at, s.name, s.step)
		if s.after == stage {
			return
		}
	}
}

// Database reads.

func (f *fixture) tasks(pairing int64) []baocun.Task {
	f.t.Helper()
	ts, err := f.db.Tasks(f.ctx, baocun.TaskFilter{PairingID: pairing, Status: "all", Limit: 10000})
	if err != nil {
		f.t.Fatal(err)
	}
	return ts
}

func (f *fixture) task(id string) baocun.Task {
	f.t.Helper()
	t, err := f.db.Task(f.ctx, id)
	if err != nil {
		f.t.Fatalf("task %s: %v", id, err)
	}
	return *t
}

// taskKinds lists the pairing's tasks as "kind:status[:outcome]" in id order.
func (f *fixture) taskKinds(pairing int64) []string {
	ts := f.tasks(pairing)
	slices.SortFunc(ts, func(a, b baocun.Task) int { return taskSeq(a.ID) - taskSeq(b.ID) })
	var out []string
	for _, t := range ts {
		s := string(t.Kind) + ":" + t.Status
		if t.Outcome != "" {
			s += ":" + t.Outcome
		}
		out = append(out, s)
	}
	return out
}

func taskSeq(id string) int {
	var p, s int
	fmt.Sscanf(id, "%d-%d", &p, &s)
	return s
}

func (f *fixture) events(pairing int64) []baocun.Event {
	f.t.Helper()
	es, err := f.db.Events(f.ctx, pairing)
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

func (f *fixture) eventKinds(pairing int64) []string {
	var out []string
	for _, e := range f.events(pairing) {
		out = append(out, e.Kind)
	}
	return out
}

func (f *fixture) audits(action string) []baocun.AuditEntry {
	f.t.Helper()
	es, _, err := f.log.Query(f.ctx, baocun.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

func (f *fixture) pairing(id int64) *baocun.Pairing {
	f.t.Helper()
	p, err := f.db.Pairing(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func teamIDs(ms []baocun.Member) []string {
	var out []string
	for _, m := range ms {
		id := m.PersonID
		if m.Leader {
			id += "*"
		}
		out = append(out, id)
	}
	return out
}

// snapshot is everything a step can change in the database for the pairing.
func (f *fixture) snapshot(pairing int64) string {
	f.t.Helper()
	var b strings.Builder
	p := f.pairing(pairing)
	fmt.Fprintf(&b, "stage=%s period=%d team=%v\n", p.Stage, p.Period, teamIDs(p.Team))
	for _, t := range f.tasks(pairing) {
		fmt.Fprintf(&b, "task %s %s %s %s %v %v\n", t.ID, t.Kind, t.Status, t.Outcome, t.RemindedAt, t.EscalatedAt)
	}
	fmt.Fprintf(&b, "events=%v\n", f.eventKinds(pairing))
	var n int
	if err := f.db.QueryRowContext(f.ctx, "SELECT COUNT(*) FROM audit_entries").Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	fmt.Fprintf(&b, "audit=%d\n", n)
	return b.String()
}

func count[T any](xs []T, pred func(T) bool) int {
	n := 0
	for _, x := range xs {
		if pred(x) {
			n++
		}
	}
	return n
}

func hasKind(kind string) func(string) bool { return func(k string) bool { return k == kind } }

// continued checks that err is a continue-as-new and returns the state it carries.
func continued(t *testing.T, err error) workflows.PairingState {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var s workflows.PairingState
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// nextRun is a run of the carried state s in a fresh environment from real time
// start. The workflow id differs per run: the activities key their writes by
// workflow, run and activity id, and the test environment's run id is fixed.
func (f *fixture) nextRun(p baocun.Pairing, start time.Time, runs int) *run {
	env := f.newEnv(start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("%s-run-%d", workflows.PairingWorkflowID(p.ID), runs)})
	return &run{f: f, env: env, p: p}
}

// --- 1. The happy path ----------------------------------------------------------

func TestPairingHappyPathToReviews(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	nom := r.must(atNominate, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
	r.at(atNominate+time.Hour, func() {
		if got := nom.result(); got.Stage != string(baocun.StageDispatch) || len(got.Closed) != 1 || len(got.Opened) != 1 {
			t.Errorf("nominate result %+v", got)
		}
		if p := f.pairing(pid); p.Stage != baocun.StageDispatch || len(p.Team) != 0 {
			t.Errorf("after nomination: stage %s team %v; want dispatch, no team yet", p.Stage, p.Team)
		}
		if st := r.state(); len(st.Proposed) != 3 || st.Proposed[0].PersonID != "P1" || !st.Proposed[0].Leader || st.Proposed[1].Name != "张二" {
			t.Errorf("proposed %+v", st.Proposed)
		}
	})
	r.must(atApproveTeam, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, ""))
	r.at(atApproveTeam+time.Hour, func() {
		p := f.pairing(pid)
		if p.Stage != baocun.StageStationed || !slices.Equal(teamIDs(p.Team), []string{"P1*", "P2", "P3"}) {
			t.Errorf("after team approval: stage %s team %v", p.Stage, teamIDs(p.Team))
		}
		id := r.open(baocun.TaskConfirmArrival, 0)
		if ta := f.task(id); ta.DueDate != "2027-01-18" || ta.Role != baocun.RoleTeamMember { // approved 01-03 + 15 days
			t.Errorf("confirm_arrival %+v", ta)
		}
	})
	r.must(atArrive, workflows.UpdateConfirmArrive, arrive("P2"))
	r.must(atPlan, workflows.UpdateSubmitPlan, plan("村级发展规划"))
	r.at(atPlan+time.Hour, func() {
		if p := f.pairing(pid); p.Stage != baocun.StagePlanning {
			t.Errorf("stage %s, want planning", p.Stage)
		}
		r.open(baocun.TaskReviewPlan, 0)
	})
	approve := r.must(atApprovePlan, workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, "好"))
	r.at(inReviews, func() {
		if got := approve.result(); got.Stage != string(baocun.StageReviews) || got.Period != 1 {
			t.Errorf("plan approval result %+v", got)
		}
		p := f.pairing(pid)
		if p.Stage != baocun.StageReviews || p.Period != 1 {
			t.Errorf("pairing stage %s period %d, want reviews 1", p.Stage, p.Period)
		}
		rep := f.task(r.open(baocun.TaskSubmitReport, 1))
		// Period 1 ends 2027-04-01; its report is due report_days (10) later.
		wantDue := date("2027-04-01").AddDate(0, 0, f.settings.Windows.ReportDays)
		if rep.DueDate != "2027-04-11" || !rep.DueAt.Equal(wantDue) || !rep.RemindAt.Equal(wantDue.AddDate(0, 0, -3)) {
			t.Errorf("report task due %s at %v remind %v, want 2027-04-11 at %v", rep.DueDate, rep.DueAt, rep.RemindAt, wantDue)
		}
		if rep.Role != baocun.RoleTeamMember || rep.Department != "D1" || rep.Village != "V1" || rep.Jurisdiction != "县A" || rep.CycleID != f.cycleID {
			t.Errorf("report task scope %+v", rep)
		}
		want := []string{"nominate_team:done:submitted", "approve_team:done:approve", "confirm_arrival:done:submitted",
			"submit_plan:done:submitted", "review_plan:done:approve", "submit_report:open"}
		if got := f.taskKinds(pid); !slices.Equal(got, want) {
			t.Errorf("tasks %v\nwant %v", got, want)
		}
		wantEv := []string{"team.nominated", "team.approved", "team.arrived", "plan.submitted", "plan.approved"}
		if got := f.eventKinds(pid); !slices.Equal(got, wantEv) {
			t.Errorf("events %v, want %v", got, wantEv)
		}
		for _, a := range []string{"pairing.nominate", "task.decide", "pairing.arrive", "pairing.plan"} {
			if n := len(f.audits(a)); n == 0 {
				t.Errorf("no audit entry %s", a)
			}
		}
		if n := len(f.audits("task.decide")); n != 2 {
			t.Errorf("task.decide audit entries: %d, want 2", n)
		}
		r.agrees()
		st := r.state()
		if st.ArrivedOn != "2027-01-04" || st.Joined["P3"] != "2027-01-03" || st.Stage != baocun.StageReviews || len(st.Tasks) != 1 {
			t.Errorf("state %+v", st)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow error %v, want cancelled", err)
	}
}

// --- 2. Return loops -------------------------------------------------------------

func TestPairingReturnLoops(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	h := time.Hour
	r.must(1*day, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
	noComment := r.send(2*day, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeReturn, " "))
	r.must(2*day+h, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeReturn, "人数不对"))
	r.at(2*day+2*h, func() {
		id := r.open(baocun.TaskNominateTeam, 0)
		// A returned team is nominated again within rework_days (7) of the return.
		if ta := f.task(id); ta.DueDate != "2027-01-10" {
			t.Errorf("renomination due %s, want 2027-01-10", ta.DueDate)
		}
		if st := r.state(); st.Proposed != nil || st.Stage != baocun.StageDispatch {
			t.Errorf("after return: proposed %v stage %s", st.Proposed, st.Stage)
		}
	})
	r.must(3*day, workflows.UpdateNominateTeam, nominate("P1", "P2", "P4"))
	r.must(4*day, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, ""))
	r.must(5*day, workflows.UpdateConfirmArrive, arrive("P4"))
	r.must(6*day, workflows.UpdateSubmitPlan, plan("初稿"))
	r.must(7*day, workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeReturn, "目标不清"))
	r.at(7*day+h, func() {
		if p := f.pairing(pid); p.Stage != baocun.StagePlanning {
			t.Errorf("stage %s after plan return, want planning", p.Stage)
		}
		if ta := f.task(r.open(baocun.TaskSubmitPlan, 0)); ta.DueDate != "2027-01-15" {
			t.Errorf("resubmission due %s, want 2027-01-15", ta.DueDate)
		}
	})
	// The second plan and the first report name evidence files of the pairing: their
	// events carry them, linked in the database.
	const minutes, ledger = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	r.at(7*day, func() {
		for _, id := range []string{minutes, ledger} {
			if err := f.db.AddFile(f.ctx, baocun.File{ID: id, SHA256: strings.Repeat("a", 64), Size: 1, ContentType: "image/png",
				PairingID: pid, UploadedBy: "member", UploadedAt: time.Now()}, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	r.must(8*day, workflows.UpdateSubmitPlan, func() workflows.Step {
		st := plan("修改稿")()
		st.Plan.Files = []string{minutes}
		return st
	})
	r.must(9*day, workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, ""))
	r.must(10*day, workflows.UpdateSubmitReport, func() workflows.Step {
		st := report(1, "12.5")()
		st.Report.Files = []string{ledger, minutes}
		return st
	})
	r.must(11*day, workflows.UpdateDecideReview, r.decide(baocun.TaskReviewReport, baocun.OutcomeReturn, "数据有误"))
	r.at(11*day+h, func() {
		if ta := f.task(r.open(baocun.TaskSubmitReport, 1)); ta.DueDate != "2027-01-19" || ta.Period != 1 {
			t.Errorf("returned report task %+v, want period 1 due 2027-01-19", ta)
		}
	})
	r.must(12*day, workflows.UpdateSubmitReport, report(1, "12.75"))
	r.at(12*day+h, func() {
		if ta := f.task(r.open(baocun.TaskReviewReport, 1)); !strings.Contains(ta.Subject, "v2") {
			t.Errorf("second review subject %q, want v2", ta.Subject)
		}
	})
	r.must(13*day, workflows.UpdateDecideReview, r.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeApprove, ""))
	closed := r.send(14*day, workflows.UpdateSubmitReport, report(1, "1"))
	r.at(15*day, func() {
		want := []string{"nominate_team:done:submitted", "approve_team:done:return", "nominate_team:done:submitted", "approve_team:done:approve",
			"confirm_arrival:done:submitted", "submit_plan:done:submitted", "review_plan:done:return", "submit_plan:done:submitted",
			"review_plan:done:approve", "submit_report:done:submitted", "review_report:done:return", "submit_report:done:submitted",
			"review_report:done:approve"}
		if got := f.taskKinds(pid); !slices.Equal(got, want) {
			t.Errorf("tasks\n got %v\nwant %v", got, want)
		}
		wantEv := []string{"team.nominated", "team.returned", "team.nominated", "team.approved", "team.arrived", "plan.submitted",
			"plan.returned", "plan.submitted", "plan.approved", "report.submitted", "report.returned", "report.submitted", "report.approved"}
		if got := f.eventKinds(pid); !slices.Equal(got, wantEv) {
			t.Errorf("events\n got %v\nwant %v", got, wantEv)
		}
		// The second submission is version 2 on the timeline.
		var versions []int
		for _, e := range f.events(pid) {
			if e.Kind == "report.submitted" {
				var d struct{ Version int }
				json.Unmarshal(e.Data, &d)
				versions = append(versions, d.Version)
			}
		}
		if !slices.Equal(versions, []int{1, 2}) {
			t.Errorf("report versions %v, want [1 2]", versions)
		}
		var files [][]string
		for _, e := range f.events(pid) {
			if e.Kind == "plan.submitted" || e.Kind == "report.submitted" {
				files = append(files, e.Files)
			}
		}
		// Linked files come back in upload order.
		if want := [][]string{nil, {minutes}, {minutes, ledger}, nil}; !reflect.DeepEqual(files, want) {
			t.Errorf("the submissions' files %q, want %q", files, want)
		}
		if p := f.pairing(pid); !slices.Equal(teamIDs(p.Team), []string{"P1*", "P2", "P4"}) {
			t.Errorf("team %v, want the second nomination", teamIDs(p.Team))
		}
		r.agrees()
		if st := r.state(); !slices.Equal(st.Approved, []int{1}) || st.Versions[1] != 2 {
			t.Errorf("state approved %v versions %v", st.Approved, st.Versions)
		}
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	if !noComment.cb.rejected || code(noComment.cb.err) != baocun.EINVALID {
		t.Errorf("return without comment: %v, want rejected %s", noComment, baocun.EINVALID)
	}
	if !closed.cb.rejected || code(closed.cb.err) != baocun.ECONFLICT || !strings.Contains(closed.cb.err.Error(), "closed") {
		t.Errorf("report for an approved period: %v, want rejected %s (closed period)", closed, baocun.ECONFLICT)
	}
}

// --- 3. Validators -------------------------------------------------------------

func TestPairingValidatorsRefuseWithoutWriting(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	type refusal struct {
		name   string
		update string
		step   func() workflows.Step
		want   string
	}
	badReport := func(mod func(*baocun.ReportInput)) func() workflows.Step {
		return func() workflows.Step {
			st := report(1, "1")()
			mod(st.Report)
			return st
		}
	}
	noDecision := func() workflows.Step { return workflows.Step{Actor: "x"} }
	points := []struct {
		at       time.Duration
		stage    baocun.Stage
		refusals []refusal
	}{
		{12 * time.Hour, baocun.StageDispatch, []refusal{
			{"plan in dispatch", workflows.UpdateSubmitPlan, plan("规划"), baocun.ECONFLICT},
			{"arrival in dispatch", workflows.UpdateConfirmArrive, arrive("P1"), baocun.ECONFLICT},
			{"report in dispatch", workflows.UpdateSubmitReport, report(1, "1"), baocun.ECONFLICT},
			{"team change in dispatch", workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""), baocun.ECONFLICT},
			{"evaluation not open", workflows.UpdateEvaluate, evaluation(1), baocun.ECONFLICT},
			{"team of two", workflows.UpdateNominateTeam, nominate("P1", "P2"), baocun.EINVALID},
			{"team of two, leader repeated", workflows.UpdateNominateTeam, nominate("P1", "P1", "P2"), baocun.EINVALID},
			{"no leader", workflows.UpdateNominateTeam, nominate("", "P1", "P2", "P3"), baocun.EINVALID},
			{"no team", workflows.UpdateNominateTeam, noDecision, baocun.EINVALID},
			{"decision without input", workflows.UpdateDecideTeam, noDecision, baocun.EINVALID},
			{"unknown task", workflows.UpdateDecideTeam, decision("999-1", baocun.OutcomeApprove, ""), baocun.ECONFLICT},
			{"nomination decided as a team", workflows.UpdateDecideTeam, r.decide(baocun.TaskNominateTeam, baocun.OutcomeApprove, ""), baocun.ECONFLICT},
			{"cancel without reason", workflows.UpdateCancel, cancelStep(""), baocun.EINVALID},
		}},
		{atNominate + 12*time.Hour, baocun.StageDispatch, []refusal{
			{"second nomination", workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"), baocun.ECONFLICT},
			{"team decided as a review", workflows.UpdateDecideReview, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, ""), baocun.ECONFLICT},
			{"team acknowledged", workflows.UpdateAcknowledge, r.decide(baocun.TaskApproveTeam, baocun.OutcomeAcknowledge, ""), baocun.ECONFLICT},
			{"acknowledge outcome on a team", workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeAcknowledge, ""), baocun.EINVALID},
			{"unknown outcome", workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, "maybe", ""), baocun.EINVALID},
			{"return without comment", workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeReturn, ""), baocun.EINVALID},
		}},
		{atApproveTeam + 12*time.Hour, baocun.StageStationed, []refusal{
			{"team decided twice", workflows.UpdateDecideTeam, func() workflows.Step {
				return decision(fmt.Sprintf("%d-2", pid), baocun.OutcomeApprove, "")()
			}, baocun.ECONFLICT},
			{"arrival by a non-member", workflows.UpdateConfirmArrive, arrive("P5"), baocun.EFORBIDDEN},
			{"arrival by another department", workflows.UpdateConfirmArrive, arrive("Q1"), baocun.EFORBIDDEN},
			{"arrival by nobody", workflows.UpdateConfirmArrive, arrive(""), baocun.EFORBIDDEN},
			{"plan before arrival", workflows.UpdateSubmitPlan, plan("规划"), baocun.ECONFLICT},
		}},
		{atArrive + 12*time.Hour, baocun.StagePlanning, []refusal{
			{"plan without title", workflows.UpdateSubmitPlan, plan(" "), baocun.EINVALID},
			{"plan missing", workflows.UpdateSubmitPlan, noDecision, baocun.EINVALID},
			{"second arrival", workflows.UpdateConfirmArrive, arrive("P1"), baocun.ECONFLICT},
			{"team change removing the leader", workflows.UpdateRequestChange, teamChange([]string{"P1"}, []string{"P4"}, ""), baocun.EINVALID},
			{"team change below the minimum", workflows.UpdateRequestChange, teamChange([]string{"P3"}, nil, ""), baocun.EINVALID},
			{"team change removing a stranger", workflows.UpdateRequestChange, teamChange([]string{"P5"}, []string{"P4"}, ""), baocun.EINVALID},
			{"team change adding a member", workflows.UpdateRequestChange, teamChange(nil, []string{"P2"}, ""), baocun.EINVALID},
		}},
		{inReviews, baocun.StageReviews, []refusal{
			{"report with a bad decimal", workflows.UpdateSubmitReport, report(1, "1.2.3"), baocun.EINVALID},
			{"report with a negative amount", workflows.UpdateSubmitReport, report(1, "-1"), baocun.EINVALID},
			{"report with an unknown project", workflows.UpdateSubmitReport, badReport(func(in *baocun.ReportInput) { in.Projects = map[string]int{"bridge": 1} }), baocun.EINVALID},
			{"report of period 0", workflows.UpdateSubmitReport, report(0, "1"), baocun.EINVALID},
			{"report of a period not begun", workflows.UpdateSubmitReport, report(2, "1"), baocun.ECONFLICT},
			{"report of no period", workflows.UpdateSubmitReport, report(13, "1"), baocun.ECONFLICT},
			{"plan decided twice", workflows.UpdateDecideReview, func() workflows.Step {
				return decision(fmt.Sprintf("%d-5", pid), baocun.OutcomeApprove, "")()
			}, baocun.ECONFLICT},
			{"report task decided", workflows.UpdateDecideReview, r.decide(baocun.TaskSubmitReport, baocun.OutcomeApprove, ""), baocun.ECONFLICT},
		}},
	}
	r.toStage(baocun.StageReviews)
	type outcome struct {
		refusal
		s *sent
	}
	var outcomes []outcome
	for _, pt := range points {
		var before string
		r.at(pt.at-time.Minute, func() {
			if p := f.pairing(pid); p.Stage != pt.stage {
				t.Errorf("at %v the pairing is at %s, want %s", pt.at, p.Stage, pt.stage)
			}
			before = f.snapshot(pid)
		})
		for _, rf := range pt.refusals {
			outcomes = append(outcomes, outcome{rf, r.send(pt.at, rf.update, rf.step)})
		}
		r.at(pt.at+time.Minute, func() {
			if after := f.snapshot(pid); after != before {
				t.Errorf("refused steps at %s changed the database:\nbefore %s\nafter  %s", pt.stage, before, after)
			}
		})
	}
	r.at(inReviews+day, func() { r.env.CancelWorkflow() })
	r.exec(s0)
	for _, o := range outcomes {
		t.Run(o.name, func(t *testing.T) {
			if !o.s.cb.rejected || o.s.cb.accepted {
				t.Fatalf("%v: want rejected by the validator", o.s)
			}
			if got := code(o.s.cb.err); got != o.want {
				t.Errorf("error type %q (%v), want %q", got, o.s.cb.err, o.want)
			}
		})
	}
}

// --- 4. Exactly one decision ------------------------------------------------------

func TestPairingExactlyOneDecision(t *testing.T) {
	tests := []struct {
		name   string
		stage  baocun.Stage // the stage the two steps are sent in
		update string
		a, b   func(r *run) func() workflows.Step
		closes baocun.TaskKind // the task kind both close
		events []string
	}{
		{"team approved and returned", baocun.StageDispatch, workflows.UpdateDecideTeam,
			func(r *run) func() workflows.Step { return r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, "") },
			func(r *run) func() workflows.Step {
				return r.decide(baocun.TaskApproveTeam, baocun.OutcomeReturn, "不行")
			},
			baocun.TaskApproveTeam, []string{"team.approved", "team.returned"}},
		{"plan approved twice", baocun.StagePlanning, workflows.UpdateDecideReview,
			func(r *run) func() workflows.Step { return r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, "") },
			func(r *run) func() workflows.Step { return r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, "") },
			baocun.TaskReviewPlan, []string{"plan.approved", "plan.returned"}},
		{"report submitted twice", baocun.StageReviews, workflows.UpdateSubmitReport,
			func(r *run) func() workflows.Step { return report(1, "1") },
			func(r *run) func() workflows.Step { return report(1, "2") },
			baocun.TaskSubmitReport, []string{"report.submitted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1, nil)
			r, s0 := f.startRun(0)
			pid := r.p.ID
			at := map[baocun.Stage]time.Duration{baocun.StageDispatch: atNominate + time.Hour, baocun.StagePlanning: atPlan + time.Hour, baocun.StageReviews: inReviews}[tt.stage]
			switch tt.stage {
			case baocun.StageDispatch:
				r.must(atNominate, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
			case baocun.StagePlanning:
				r.toStage(baocun.StagePlanning)
				r.must(atPlan, workflows.UpdateSubmitPlan, plan("规划"))
			default:
				r.toStage(tt.stage)
			}
			var a, b *sent
			r.at(at, func() {
				// Both in one callback: delivered together, as two requests racing.
				sa, sb := tt.a(r)(), tt.b(r)()
				a = &sent{name: "a", cb: f.api(), at: at}
				b = &sent{name: "b", cb: f.api(), at: at}
				r.env.UpdateWorkflow(tt.update, "race-a", a.cb, sa)
				r.env.UpdateWorkflow(tt.update, "race-b", b.cb, sb)
			})
			r.at(at+time.Hour, func() {
				var closed []baocun.Task
				for _, ta := range f.tasks(pid) {
					if ta.Kind == tt.closes && ta.Status == baocun.TaskDone {
						closed = append(closed, ta)
					}
				}
				if len(closed) != 1 {
					t.Errorf("%d %s tasks closed, want 1", len(closed), tt.closes)
				}
				n := 0
				for _, k := range f.eventKinds(pid) {
					if slices.Contains(tt.events, k) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d decision events %v, want 1: %v", n, tt.events, f.eventKinds(pid))
				}
				r.env.CancelWorkflow()
			})
			r.exec(s0)
			ok := func(s *sent) bool { return s.cb.accepted && !s.cb.rejected && s.cb.err == nil }
			if ok(a) == ok(b) {
				t.Fatalf("want exactly one success:\n%v\n%v", a, b)
			}
			loser := a
			if ok(a) {
				loser = b
			}
			if code(loser.cb.err) != baocun.ECONFLICT {
				t.Errorf("the second step: %v, want %s", loser, baocun.ECONFLICT)
			}
		})
	}
}

// --- 5. Deadlines ----------------------------------------------------------------

func TestPairingDeadlines(t *testing.T) {
	// The nomination opens at the launch, due 30 days later (2027-01-31), reminded
	// remind_days (3) before (2027-01-28).
	due, remind := date("2027-01-31"), date("2027-01-28")
	tests := []struct {
		name      string
		decideAt  time.Duration // 0: never
		reminded  bool
		escalated bool
	}{
		{"decided before its reminder", 2 * day, false, false},
		{"decided after its reminder", since("2027-01-29", 0), true, false},
		{"decided after its due date", since("2027-02-02", 0), true, true},
		{"never decided", 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1, nil)
			r, s0 := f.startRun(0)
			pid := r.p.ID
			id := s0.Tasks[0].ID
			if tt.decideAt > 0 {
				r.must(tt.decideAt, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
			}
			r.at(since("2027-02-10", 0), func() {
				ta := f.task(id)
				if got := ta.RemindedAt != nil; got != tt.reminded {
					t.Errorf("reminded_at %v, want reminded=%v", ta.RemindedAt, tt.reminded)
				} else if got && !ta.RemindedAt.Equal(remind) {
					t.Errorf("reminded at %v, want %v", ta.RemindedAt, remind)
				}
				if got := ta.EscalatedAt != nil; got != tt.escalated {
					t.Errorf("escalated_at %v, want escalated=%v", ta.EscalatedAt, tt.escalated)
				} else if got && !ta.EscalatedAt.Equal(due) {
					t.Errorf("escalated at %v, want %v", ta.EscalatedAt, due)
				}
				if want := map[bool]string{true: baocun.TaskDone, false: baocun.TaskOpen}[tt.decideAt > 0]; ta.Status != want {
					t.Errorf("status %s, want %s", ta.Status, want)
				}
				ev := f.events(pid)
				for kind, want := range map[string]bool{"task.reminded": tt.reminded, "task.escalated": tt.escalated} {
					n := count(ev, func(e baocun.Event) bool { return e.Kind == kind && e.TaskID == id })
					if n != map[bool]int{true: 1, false: 0}[want] {
						t.Errorf("%d %s events, want %v", n, kind, want)
					}
				}
				for action, want := range map[string]bool{"task.remind": tt.reminded, "task.escalate": tt.escalated} {
					var es []baocun.AuditEntry
					for _, e := range f.audits(action) {
						if strings.Contains(e.Summary, fmt.Sprintf("%q", id)) {
							es = append(es, e)
						}
					}
					if len(es) != map[bool]int{true: 1, false: 0}[want] {
						t.Errorf("%d %s audit entries, want %v", len(es), action, want)
						continue
					}
					for _, e := range es {
						if e.Actor != "system" || e.PairingID != fmt.Sprint(pid) || !strings.Contains(e.Summary, id) {
							t.Errorf("audit %+v", e)
						}
					}
				}
				// The approve_team task opened by a nomination on day 2 is decided by
				// no one here: it gets its own reminder and escalation.
				if tt.decideAt == 2*day {
					next := f.task(r.open(baocun.TaskApproveTeam, 0))
					if next.RemindedAt == nil || !next.RemindedAt.Equal(date("2027-01-07")) || next.EscalatedAt == nil || !next.EscalatedAt.Equal(date("2027-01-10")) {
						t.Errorf("approve_team reminded %v escalated %v, want 2027-01-07 and 2027-01-10", next.RemindedAt, next.EscalatedAt)
					}
				}
				r.env.CancelWorkflow()
			})
			r.exec(s0)
		})
	}
}

// TestPairingNoReminderWithoutWindow: remind_days 0 records no reminder, only the
// escalation.
func TestPairingNoReminderWithoutWindow(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Windows.RemindDays = 0 })
	r, s0 := f.startRun(0)
	id := s0.Tasks[0].ID
	r.at(40*day, func() {
		ta := f.task(id)
		if ta.RemindedAt != nil || ta.EscalatedAt == nil {
			t.Errorf("reminded %v escalated %v, want no reminder and an escalation", ta.RemindedAt, ta.EscalatedAt)
		}
		r.env.CancelWorkflow()
	})
	r.exec(s0)
}

// --- 6. Period end -----------------------------------------------------------------

// days are n programme dates of month from its first day.
func days(month string, n int) []string {
	var out []string
	for d := date(month + "-01"); len(out) < n; d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

func TestPairingPeriodEndResidencyAndContinueAsNew(t *testing.T) {
	// The team (P1, P2, P3) arrives 2027-01-04: January is not a whole month of
	// service; February and March are. Period 1 ends 2027-04-01.
	full := func(string) int { return 20 }
	tests := []struct {
		name     string
		checkins map[string]func(month string) int // person → days in month
		change   bool                              // P3 replaced by P4 on 2027-02-10
		short    []string                          // "person month days"
	}{
		{"everyone meets the rule", map[string]func(string) int{"P1": full, "P2": full, "P3": full}, false, nil},
		{"January does not count", map[string]func(string) int{"P1": full, "P2": full, "P3": func(m string) int {
			return map[string]int{"2027-01": 0, "2027-02": 25, "2027-03": 20}[m]
		}}, false, nil},
		{"one short month", map[string]func(string) int{"P1": full, "P2": full, "P3": func(m string) int {
			return map[string]int{"2027-01": 20, "2027-02": 20, "2027-03": 19}[m]
		}}, false, []string{"P3 2027-03 19"}},
		{"no check-ins at all", nil, false, []string{"P1 2027-02 0", "P2 2027-02 0", "P3 2027-02 0", "P1 2027-03 0", "P2 2027-03 0", "P3 2027-03 0"}},
		{"a member who joined in February owes March only", map[string]func(string) int{"P1": full, "P2": full, "P3": full,
			"P4": func(m string) int { return map[string]int{"2027-02": 0, "2027-03": 5}[m] }}, true, []string{"P4 2027-03 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1, nil)
			pid := f.pairings[0].ID
			for person, n := range tt.checkins {
				for _, m := range []string{"2027-01", "2027-02", "2027-03", "2027-04"} {
					sqldbtest.Checkins(t, f.db, pid, person, days(m, n(m))...)
				}
			}
			r, s0 := f.startRun(0)
			r.toStage(baocun.StageReviews)
			if tt.change {
				r.must(since("2027-02-10", 0), workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
				r.must(since("2027-02-10", time.Hour), workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeamChange, baocun.OutcomeApprove, ""))
			}
			err := r.exec(s0)
			s := continued(t, err)
			if s.Runs != 1 || s.Period != 2 || s.Stage != baocun.StageReviews {
				t.Errorf("carried runs %d period %d stage %s, want 1, 2, reviews", s.Runs, s.Period, s.Stage)
			}
			if now := r.env.Now(); !now.Equal(date("2027-04-01")) {
				t.Errorf("continued as new at %v, want the period's end", now)
			}
			// Carried: period 1's report (still open), period 2's, the flag if any.
			var carried []string
			for _, ta := range s.Tasks {
				carried = append(carried, fmt.Sprintf("%s/%d", ta.Kind, ta.Period))
			}
			want := []string{"submit_report/1"}
			if tt.short != nil {
				want = append(want, "residency_flag/1")
			}
			want = append(want, "submit_report/2")
			if !slices.Equal(carried, want) {
				t.Errorf("carried tasks %v, want %v", carried, want)
			}
			var open []string
			for _, ta := range f.tasks(pid) {
				if ta.Status == baocun.TaskOpen {
					open = append(open, fmt.Sprintf("%s/%d", ta.Kind, ta.Period))
				}
			}
			slices.Sort(open)
			slices.Sort(want)
			if !slices.Equal(open, want) {
				t.Errorf("open tasks in the database %v, want %v", open, want)
			}
			if p := f.pairing(pid); p.Stage != baocun.StageReviews || p.Period != 2 {
				t.Errorf("pairing at %s period %d, want reviews 2", p.Stage, p.Period)
			}
			rep2 := f.task(s.Tasks[len(s.Tasks)-1].ID)
			if rep2.Kind != baocun.TaskSubmitReport || rep2.DueDate != "2027-07-11" {
				t.Errorf("period 2 report %s due %s, want 2027-07-11", rep2.Kind, rep2.DueDate)
			}
			var got []string
			flagged := 0
			for _, e := range f.events(pid) {
				if e.Kind != "residency.flagged" {
					continue
				}
				flagged++
				var sh []workflows.Shortfall
				if err := json.Unmarshal(e.Data, &sh); err != nil {
					t.Fatal(err)
				}
				for _, x := range sh {
					if x.Required != 20 {
						t.Errorf("shortfall %+v: required %d", x, x.Required)
					}
					got = append(got, fmt.Sprintf("%s %s %d", x.PersonID, x.Month, x.Days))
				}
			}
			slices.Sort(got)
			wantShort := slices.Sorted(slices.Values(tt.short))
			if !slices.Equal(got, wantShort) {
				t.Errorf("shortfalls %v, want %v", got, wantShort)
			}
			if wantN := min(len(tt.short), 1); flagged != wantN || len(f.audits("residency.flag")) != wantN {
				t.Errorf("%d residency.flagged events, %d audit entries, want %d", flagged, len(f.audits("residency.flag")), wantN)
			}
			if n := count(f.eventKinds(pid), hasKind("period.ended")); n != 1 {
				t.Errorf("%d period.ended events, want 1", n)
			}
			if tt.change {
				if p := f.pairing(pid); !slices.Equal(teamIDs(p.Team), []string{"P1*", "P2", "P4"}) {
					t.Errorf("team %v", teamIDs(p.Team))
				}
			}
		})
	}
}

// TestPairingSecondRun runs the state carried by a continue-as-new: its open tasks'
// reminders and escalations still come, the flag is acknowledged, and reports go on.
func TestPairingSecondRun(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	s1 := continued(t, r.exec(s0)) // no check-ins: a residency flag
	rep1 := s1.Tasks[0]
	if rep1.Kind != baocun.TaskSubmitReport || rep1.Period != 1 {
		t.Fatalf("first carried task %+v", rep1)
	}
	// The next residency check starts after the months this one covered.
	if s1.ResidencyFrom != "2027-04-01" {
		t.Errorf("residency checked up to %q, want 2027-04-01", s1.ResidencyFrom)
	}
	r2 := f.nextRun(r.p, date("2027-04-01"), 2)
	r2.at(time.Hour, func() {
		if st := r2.state(); st.Runs != 1 || st.Period != 2 || len(st.Tasks) != 3 {
			t.Errorf("second run state: runs %d period %d tasks %d", st.Runs, st.Period, len(st.Tasks))
		}
	})
	notBegun := r2.send(2*day, workflows.UpdateSubmitReport, report(3, "1"))
	wrongOutcome := r2.send(2*day, workflows.UpdateAcknowledge, r2.decide(baocun.TaskResidencyFlag, baocun.OutcomeApprove, ""))
	r2.must(3*day, workflows.UpdateAcknowledge, r2.decide(baocun.TaskResidencyFlag, baocun.OutcomeAcknowledge, "已约谈"))
	// Period 1's report, overdue, is submitted late and approved; period 2's on time.
	r2.must(since("2027-04-12", 0)-since("2027-04-01", 0), workflows.UpdateSubmitReport, report(1, "5"))
	r2.must(since("2027-04-13", 0)-since("2027-04-01", 0), workflows.UpdateDecideReview, r2.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeApprove, ""))
	r2.must(since("2027-04-14", 0)-since("2027-04-01", 0), workflows.UpdateSubmitReport, report(2, "6"))
	r2.at(since("2027-04-20", 0)-since("2027-04-01", 0), func() {
		ta := f.task(rep1.ID)
		if ta.Status != baocun.TaskDone || ta.RemindedAt == nil || !ta.RemindedAt.Equal(date("2027-04-08")) ||
			ta.EscalatedAt == nil || !ta.EscalatedAt.Equal(date("2027-04-11")) {
			t.Errorf("period 1 report in the second run: %s reminded %v escalated %v", ta.Status, ta.RemindedAt, ta.EscalatedAt)
		}
		flag := f.tasks(pid)
		for _, x := range flag {
			if x.Kind == baocun.TaskResidencyFlag && (x.Status != baocun.TaskDone || x.Outcome != baocun.OutcomeAcknowledge) {
				t.Errorf("residency flag %s %s, want done acknowledge", x.Status, x.Outcome)
			}
		}
		if st := r2.state(); !slices.Equal(st.Approved, []int{1}) {
			t.Errorf("approved %v", st.Approved)
		}
		if n := count(f.eventKinds(pid), hasKind("residency.acknowledged")); n != 1 {
			t.Errorf("%d residency.acknowledged events", n)
		}
		r2.open(baocun.TaskReviewReport, 2)
		r2.agrees()
		r2.env.CancelWorkflow()
	})
	if err := r2.exec(s1); !temporal.IsCanceledError(err) {
		t.Fatalf("second run: %v", err)
	}
	if !notBegun.cb.rejected || code(notBegun.cb.err) != baocun.ECONFLICT {
		t.Errorf("report of period 3 in period 2: %v", notBegun)
	}
	if !wrongOutcome.cb.rejected || code(wrongOutcome.cb.err) != baocun.EINVALID {
		t.Errorf("flag approved: %v", wrongOutcome)
	}
}

func TestPairingYearEndEvaluation(t *testing.T) {
	// Two years of one-year periods: period 1 ends with year 1.
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths, s.ResidencyDays = 2, 12, 0 })
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	r.must(10*day, workflows.UpdateSubmitReport, report(1, "1"))
	r.must(11*day, workflows.UpdateDecideReview, r.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeApprove, ""))
	s1 := continued(t, r.exec(s0))
	var kinds []string
	for _, ta := range s1.Tasks {
		kinds = append(kinds, fmt.Sprintf("%s/%d", ta.Kind, ta.Period))
	}
	if !slices.Equal(kinds, []string{"evaluation/1", "submit_report/2"}) {
		t.Fatalf("carried %v, want the year 1 evaluation and period 2's report", kinds)
	}
	ev := f.task(s1.Tasks[0].ID)
	if ev.Role != baocun.RoleVillage || ev.Status != baocun.TaskOpen || ev.DueDate != "2028-01-31" {
		t.Errorf("evaluation task %+v", ev)
	}
	if len(f.audits("residency.flag")) != 0 {
		t.Error("residency_days 0 flagged someone")
	}
	r2 := f.nextRun(r.p, date("2028-01-01"), 2)
	wrongYear := r2.send(day, workflows.UpdateEvaluate, evaluation(2))
	badRate := r2.send(day, workflows.UpdateEvaluate, func() workflows.Step {
		st := evaluation(1)()
		st.Evaluation.VillagerSatisfaction = "101"
		return st
	})
	r2.must(2*day, workflows.UpdateEvaluate, evaluation(1))
	again := r2.send(3*day, workflows.UpdateEvaluate, evaluation(1))
	r2.at(4*day, func() {
		if x := f.task(ev.ID); x.Status != baocun.TaskDone || x.Outcome != baocun.OutcomeSubmitted {
			t.Errorf("evaluation %s %s", x.Status, x.Outcome)
		}
		if n := count(f.eventKinds(pid), hasKind("evaluation.submitted")); n != 1 {
			t.Errorf("%d evaluation.submitted events", n)
		}
		r2.env.CancelWorkflow()
	})
	r2.exec(s1)
	for _, c := range []struct {
		s    *sent
		want string
	}{{wrongYear, baocun.ECONFLICT}, {badRate, baocun.EINVALID}, {again, baocun.ECONFLICT}} {
		if !c.s.cb.rejected || code(c.s.cb.err) != c.want {
			t.Errorf("%v, want %s", c.s, c.want)
		}
	}
}

// --- 7. Team change --------------------------------------------------------------------

func TestPairingTeamChange(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	base := inReviews
	// Returned first: the team stays.
	r.must(base, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P5"}, ""))
	pending := r.send(base+time.Hour, workflows.UpdateRequestChange, teamChange([]string{"P2"}, []string{"P4"}, ""))
	r.must(base+2*time.Hour, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeamChange, baocun.OutcomeReturn, "人选不妥"))
	r.at(base+3*time.Hour, func() {
		if p := f.pairing(pid); !slices.Equal(teamIDs(p.Team), []string{"P1*", "P2", "P3"}) {
			t.Errorf("team after a returned change %v", teamIDs(p.Team))
		}
	})
	// Then a new leader and a new member, approved.
	r.must(base+day, workflows.UpdateRequestChange, teamChange([]string{"P1"}, []string{"P4"}, "P2"))
	r.must(base+day+time.Hour, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeamChange, baocun.OutcomeApprove, ""))
	// Two requests at once: one waits for approval, the other is refused.
	var a, b *sent
	r.at(base+2*day, func() {
		a = &sent{name: "a", cb: f.api()}
		b = &sent{name: "b", cb: f.api()}
		r.env.UpdateWorkflow(workflows.UpdateRequestChange, "both-a", a.cb, teamChange([]string{"P3"}, []string{"P5"}, "")())
		r.env.UpdateWorkflow(workflows.UpdateRequestChange, "both-b", b.cb, teamChange([]string{"P4"}, []string{"P5"}, "")())
	})
	r.at(base+3*day, func() {
		p := f.pairing(pid)
		if !slices.Equal(teamIDs(p.Team), []string{"P2*", "P3", "P4"}) {
			t.Errorf("team after the approved change %v, want P2 leading P3 and P4", teamIDs(p.Team))
		}
		if st := r.state(); st.Joined["P4"] != "2027-01-08" || st.Joined["P2"] != "2027-01-03" {
			t.Errorf("joined %v", st.Joined)
		}
		n := count(f.tasks(pid), func(ta baocun.Task) bool {
			return ta.Kind == baocun.TaskApproveTeamChange && ta.Status == baocun.TaskOpen
		})
		if n != 1 {
			t.Errorf("%d open approve_team_change tasks after two simultaneous requests, want 1", n)
		}
		want := []string{"team_change.requested", "team_change.returned", "team_change.requested", "team_change.approved", "team_change.requested"}
		var got []string
		for _, k := range f.eventKinds(pid) {
			if strings.HasPrefix(k, "team_change.") {
				got = append(got, k)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("team change events %v, want %v", got, want)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	if !pending.cb.rejected || code(pending.cb.err) != baocun.ECONFLICT {
		t.Errorf("request while one is pending: %v, want %s", pending, baocun.ECONFLICT)
	}
	ok := func(s *sent) bool { return s.cb.accepted && s.cb.err == nil }
	if ok(a) == ok(b) {
		t.Errorf("simultaneous requests: want exactly one accepted:\n%v\n%v", a, b)
	} else if loser := map[bool]*sent{true: b, false: a}[ok(a)]; code(loser.cb.err) != baocun.ECONFLICT {
		t.Errorf("the second request: %v, want %s", loser, baocun.ECONFLICT)
	}
}

// TestPairingFailedStepKeepsTaskIDsUnique: a step whose write fails while another
// step is being written must not hand out a task id twice (a second task with an id
// already stored is silently not stored).
func TestPairingFailedStepKeepsTaskIDsUnique(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.released() // a committing run commits before it writes: no step of it fails in its write
	r.toStage(baocun.StageReviews)
	var failed, change *sent
	var lost string
	r.at(inReviews, func() {
		// The report task is closed under the workflow (a write it lost): the
		// submission's write fails, while a team change request is written.
		lost = r.open(baocun.TaskSubmitReport, 1)
		if _, err := f.db.ExecContext(f.ctx, "UPDATE tasks SET status = 'done' WHERE id = ?", lost); err != nil {
			t.Fatal(err)
		}
		failed = &sent{name: "report", cb: f.api(), at: inReviews}
		change = &sent{name: "change", cb: f.api(), at: inReviews}
		r.env.UpdateWorkflow(workflows.UpdateSubmitReport, "lost", failed.cb, report(1, "1")())
		r.env.UpdateWorkflow(workflows.UpdateRequestChange, "change", change.cb, teamChange([]string{"P3"}, []string{"P4"}, "")())
	})
	r.must(inReviews+1*time.Hour, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeamChange, baocun.OutcomeReturn, "再议"))
	r.must(inReviews+2*time.Hour, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P5"}, ""))
	r.must(inReviews+3*time.Hour, workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeamChange, baocun.OutcomeReturn, "再议"))
	r.must(inReviews+4*time.Hour, workflows.UpdateRequestChange, teamChange([]string{"P2"}, []string{"P5"}, ""))
	r.at(inReviews+5*time.Hour, func() {
		r.agrees(lost)
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	if !failed.cb.accepted || code(failed.cb.err) != baocun.ECONFLICT {
		t.Errorf("report on a task closed under the workflow: %v, want %s", failed, baocun.ECONFLICT)
	}
	if !change.cb.accepted || change.cb.err != nil {
		t.Errorf("change: %v", change)
	}
}

// --- 8. Cancellation -----------------------------------------------------------------

func TestPairingCancelUpdate(t *testing.T) {
	tests := []struct {
		stage baocun.Stage
		at    time.Duration
		open  []baocun.TaskKind // task kinds open when cancelled
	}{
		{baocun.StageDispatch, 12 * time.Hour, []baocun.TaskKind{"nominate_team"}},
		{baocun.StageStationed, atApproveTeam + time.Hour, []baocun.TaskKind{"confirm_arrival"}},
		{baocun.StagePlanning, atArrive + time.Hour, []baocun.TaskKind{"submit_plan"}},
		{baocun.StageReviews, inReviews, []baocun.TaskKind{"submit_report"}},
		{baocun.StageAcceptance, since("2028-01-02", 0), []baocun.TaskKind{"self_assess"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.stage), func(t *testing.T) {
			f := newFixture(t, 1, func(s *baocun.CycleSettings) {
				if tt.stage == baocun.StageAcceptance { // the cycle ends 2028-01-01
					s.Years, s.PeriodMonths = 1, 12
				}
			})
			r, s0 := f.startRun(0)
			pid := r.p.ID
			stage := tt.stage
			if stage == baocun.StageAcceptance {
				// Left in planning: the cycle's end hands it to acceptance.
				r.toStage(baocun.StagePlanning)
			} else {
				r.toStage(stage)
			}
			if stage == baocun.StageReviews {
				r.must(inReviews-time.Hour, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
				tt.open = append(tt.open, "approve_team_change")
			}
			var before []string
			r.at(tt.at-time.Minute, func() {
				if p := f.pairing(pid); p.Stage != stage {
					t.Errorf("stage %s before the cancel, want %s", p.Stage, stage)
				}
				for _, ta := range f.tasks(pid) {
					if ta.Status == baocun.TaskOpen {
						before = append(before, ta.ID)
					}
				}
			})
			// Two cancels at once: one cancels, the other is refused.
			var a, b *sent
			r.at(tt.at, func() {
				a = &sent{name: "cancel a", cb: f.api(), at: tt.at}
				b = &sent{name: "cancel b", cb: f.api(), at: tt.at}
				r.env.UpdateWorkflow(workflows.UpdateCancel, "cancel-a", a.cb, cancelStep("村庄合并")())
				r.env.UpdateWorkflow(workflows.UpdateCancel, "cancel-b", b.cb, cancelStep("村庄撤并")())
			})
			err := r.exec(s0)
			if err != nil {
				t.Fatalf("workflow ended with %v, want completed", err)
			}
			ok := func(s *sent) bool { return s.cb.accepted && s.cb.err == nil }
			if ok(a) == ok(b) {
				t.Errorf("two cancels: want exactly one success:\n%v\n%v", a, b)
			} else if loser := map[bool]*sent{true: b, false: a}[ok(a)]; code(loser.cb.err) != baocun.ECONFLICT {
				t.Errorf("the second cancel: %v, want %s", loser, baocun.ECONFLICT)
			}
			var kinds []baocun.TaskKind
			for _, id := range before {
				ta := f.task(id)
				kinds = append(kinds, ta.Kind)
				if ta.Status != baocun.TaskCancelled || ta.ClosedBy != "org" {
					t.Errorf("task %s %s: %s by %s, want cancelled by org", id, ta.Kind, ta.Status, ta.ClosedBy)
				}
			}
			slices.Sort(kinds)
			slices.Sort(tt.open)
			if !slices.Equal(kinds, tt.open) {
				t.Errorf("tasks open at the cancel %v, want %v", kinds, tt.open)
			}
			if n := count(f.tasks(pid), func(ta baocun.Task) bool { return ta.Status == baocun.TaskOpen }); n != 0 {
				t.Errorf("%d tasks still open", n)
			}
			if p := f.pairing(pid); p.Stage != baocun.StageCancelled {
				t.Errorf("stage %s, want cancelled", p.Stage)
			}
			if n := count(f.eventKinds(pid), hasKind("pairing.cancelled")); n != 1 {
				t.Errorf("%d pairing.cancelled events", n)
			}
			if n := len(f.audits("pairing.cancel")); n != 1 {
				t.Errorf("%d pairing.cancel audit entries", n)
			}
		})
	}
}

// TestPairingCancelRefusesStepsAtTheSameTime: steps sent together with a cancel,
// after it, are refused rather than racing it to the database.
func TestPairingCancelRefusesStepsAtTheSameTime(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	steps := []struct {
		name string
		step func() workflows.Step
	}{
		{workflows.UpdateCancel, cancelStep("村庄合并")},
		{workflows.UpdateSubmitReport, report(1, "1")},
		{workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, "")},
	}
	var sents []*sent
	r.at(inReviews, func() {
		for i, st := range steps {
			s := &sent{name: st.name, cb: f.api(), at: inReviews}
			sents = append(sents, s)
			r.env.UpdateWorkflow(st.name, fmt.Sprint("together-", i), s.cb, st.step())
		}
	})
	if err := r.exec(s0); err != nil {
		t.Fatalf("workflow ended with %v", err)
	}
	if s := sents[0]; !s.cb.accepted || s.cb.err != nil {
		t.Errorf("cancel: %v", s)
	}
	for _, s := range sents[1:] {
		if !s.cb.rejected || code(s.cb.err) != baocun.ECONFLICT {
			t.Errorf("%v, want refused with %s", s, baocun.ECONFLICT)
		}
	}
	want := []string{"nominate_team:done:submitted", "approve_team:done:approve", "confirm_arrival:done:submitted",
		"submit_plan:done:submitted", "review_plan:done:approve", "submit_report:cancelled"}
	if got := f.taskKinds(pid); !slices.Equal(got, want) {
		t.Errorf("tasks %v, want %v", got, want)
	}
	if got := f.eventKinds(pid); got[len(got)-1] != "pairing.cancelled" || slices.Contains(got, "report.submitted") || slices.Contains(got, "team_change.requested") {
		t.Errorf("events %v", got)
	}
}

func TestPairingCancelledWorkflow(t *testing.T) {
	tests := []struct {
		stage baocun.Stage
		at    time.Duration
	}{
		{baocun.StageDispatch, atNominate + time.Hour},
		{baocun.StagePlanning, atArrive + time.Hour},
		{baocun.StageReviews, inReviews},
		{baocun.StageAcceptance, since("2028-01-12", 0)}, // one year, one period, its report's window past
	}
	for _, tt := range tests {
		t.Run(string(tt.stage), func(t *testing.T) {
			var tweak func(*baocun.CycleSettings)
			stage := tt.stage
			if stage == baocun.StageAcceptance {
				tweak = func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 }
				stage = baocun.StageReviews
			}
			f := newFixture(t, 1, tweak)
			r, s0 := f.startRun(0)
			pid := r.p.ID
			r.toStage(stage)
			var open []string
			r.at(tt.at, func() {
				if p := f.pairing(pid); p.Stage != tt.stage {
					t.Errorf("stage %s before the cancellation, want %s", p.Stage, tt.stage)
				}
				for _, ta := range f.tasks(pid) {
					if ta.Status == baocun.TaskOpen {
						open = append(open, ta.ID)
					}
				}
				r.env.CancelWorkflow()
			})
			if err := r.exec(s0); !temporal.IsCanceledError(err) {
				t.Fatalf("workflow ended with %v, want cancelled", err)
			}
			if len(open) == 0 {
				t.Fatal("no open task before the cancellation")
			}
			for _, id := range open {
				if ta := f.task(id); ta.Status != baocun.TaskCancelled || ta.ClosedBy != "system" {
					t.Errorf("task %s %s: %s by %s", id, ta.Kind, ta.Status, ta.ClosedBy)
				}
			}
			if p := f.pairing(pid); p.Stage != baocun.StageCancelled {
				t.Errorf("stage %s, want cancelled", p.Stage)
			}
			if n := count(f.eventKinds(pid), hasKind("pairing.cancelled")); n != 1 {
				t.Errorf("%d pairing.cancelled events", n)
			}
			if es := f.audits("pairing.cancel"); len(es) != 1 || es[0].Actor != "system" || es[0].PairingID != fmt.Sprint(pid) {
				t.Errorf("pairing.cancel audit %+v", es)
			}
		})
	}
}

// --- 9. The last period ------------------------------------------------------------------

func TestPairingLastPeriodToAcceptance(t *testing.T) {
	// The report's window ends ten days after the period (2028-01-11); a review
	// left open past its own window does not hold acceptance back.
	tests := []struct {
		name    string
		submit  bool            // period 1's report submitted (and left in review)
		expired baocun.TaskKind // the task kind that expires
		late    string          // a report sent then is refused: acceptance has begun
	}{
		{"report never submitted", false, baocun.TaskSubmitReport, "2028-01-12"},
		{"report awaiting review", true, baocun.TaskReviewReport, "2028-01-02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One year, one period: it ends 2028-01-01, with year 1.
			f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
			r, s0 := f.startRun(0)
			pid := r.p.ID
			r.toStage(baocun.StageReviews)
			if tt.submit {
				r.must(10*day, workflows.UpdateSubmitReport, report(1, "1"))
			}
			late := r.send(since(tt.late, 0), workflows.UpdateSubmitReport, report(1, "1"))
			r.at(since(tt.late, day), func() {
				p := f.pairing(pid)
				if p.Stage != baocun.StageAcceptance {
					t.Errorf("stage %s after the last period, want acceptance", p.Stage)
				}
				var open, expired []baocun.TaskKind
				for _, ta := range f.tasks(pid) {
					switch ta.Status {
					case baocun.TaskOpen:
						open = append(open, ta.Kind)
					case baocun.TaskExpired:
						expired = append(expired, ta.Kind)
						if ta.ClosedBy != "system" {
							t.Errorf("expired by %q", ta.ClosedBy)
						}
					}
				}
				slices.Sort(open)
				// Acceptance opens with the team's self-assessment.
				if !slices.Equal(expired, []baocun.TaskKind{tt.expired}) || !slices.Equal(open, []baocun.TaskKind{baocun.TaskEvaluation, baocun.TaskResidencyFlag, baocun.TaskSelfAssess}) {
					t.Errorf("expired %v open %v; want %s expired, the evaluation, the flag and the self-assessment open", expired, open, tt.expired)
				}
				if n := count(f.events(pid), func(e baocun.Event) bool {
					return e.Kind == "stage.entered" && strings.Contains(string(e.Data), string(baocun.StageAcceptance))
				}); n != 1 {
					t.Errorf("%d stage.entered acceptance events", n)
				}
				if n := len(f.audits("pairing.stage")); n != 1 {
					t.Errorf("%d pairing.stage audit entries", n)
				}
				if st := r.state(); st.Stage != baocun.StageAcceptance || st.Runs != 0 || len(st.Tasks) != 3 {
					t.Errorf("state stage %s runs %d tasks %v", st.Stage, st.Runs, st.Tasks)
				}
				r.agrees()
			})
			r.must(since(tt.late, 2*day), workflows.UpdateCancel, cancelStep("提前结束"))
			if err := r.exec(s0); err != nil {
				t.Fatalf("workflow ended with %v", err)
			}
			if !late.cb.rejected || code(late.cb.err) != baocun.ECONFLICT {
				t.Errorf("report after the cycle: %v, want %s", late, baocun.ECONFLICT)
			}
			if p := f.pairing(pid); p.Stage != baocun.StageCancelled {
				t.Errorf("stage %s", p.Stage)
			}
		})
	}
}

// TestPairingPlanApprovedInALaterPeriod: reviews begin with the period the plan is
// approved in; earlier periods owe no report.
func TestPairingPlanApprovedInALaterPeriod(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StagePlanning)
	r.must(atPlan, workflows.UpdateSubmitPlan, plan("规划"))
	r.must(since("2027-04-15", 10*time.Hour), workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, ""))
	early := r.send(since("2027-04-16", 0), workflows.UpdateSubmitReport, report(1, "1"))
	r.at(since("2027-04-17", 0), func() {
		if p := f.pairing(pid); p.Stage != baocun.StageReviews || p.Period != 2 {
			t.Errorf("pairing at %s period %d, want reviews 2", p.Stage, p.Period)
		}
		if ta := f.task(r.open(baocun.TaskSubmitReport, 2)); ta.DueDate != "2027-07-11" {
			t.Errorf("period 2 report due %s, want 2027-07-11", ta.DueDate)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	if !early.cb.rejected || code(early.cb.err) != baocun.ECONFLICT {
		t.Errorf("report of the period before reviews: %v, want %s", early, baocun.ECONFLICT)
	}
}

// TestPairingCycleEndsBeforeReviews: a pairing that never reaches its reviews is
// handed to acceptance at the cycle's end, its open task expired.
func TestPairingCycleEndsBeforeReviews(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	pid := r.p.ID
	id := s0.Tasks[0].ID
	r.at(since("2028-01-02", 0), func() {
		if ta := f.task(id); ta.Status != baocun.TaskExpired {
			t.Errorf("nomination %s, want expired", ta.Status)
		}
		if p := f.pairing(pid); p.Stage != baocun.StageAcceptance {
			t.Errorf("stage %s, want acceptance", p.Stage)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("%v", err)
	}
}

// A cancel sent while the workflow writes a period's end of its own waits for that
// write, then cancels everything it opened: the pairing ends cancelled, with no task
// left open (found by review: the period end used to overwrite the cancel).
func TestPairingCancelDuringPeriodEnd(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	// The period end's residency count takes an hour: the cancel arrives within it.
	r.env.OnActivity("CheckinDays", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(map[string]map[string]int{}, nil).After(time.Hour)
	end := since("2028-01-01", 0)
	c := r.send(end+30*time.Minute, workflows.UpdateCancel, cancelStep("村庄撤并 the village merged"))
	r.env.ExecuteWorkflow(workflows.Pairing, s0)
	if err := r.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if c.cb.rejected || c.cb.err != nil {
		t.Fatalf("cancel: %+v", c.cb)
	}
	if p := f.pairing(pid); p.Stage != baocun.StageCancelled {
		t.Errorf("pairing at %s, want cancelled", p.Stage)
	}
	for _, ta := range f.tasks(pid) {
		if ta.Status == baocun.TaskOpen {
			t.Errorf("task %s (%s) left open on a cancelled pairing", ta.ID, ta.Kind)
		}
	}
}

// A decision on a task that is already in the database but whose step has not yet
// committed it to the workflow's state (a reviewer quick off their inbox) waits for
// the commit and succeeds, rather than being refused.
func TestPairingDecisionOnATaskBeingOpened(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageStationed)
	r.must(atArrive, workflows.UpdateConfirmArrive, arrive("P2"))
	submit, decide := f.api(), f.api()
	r.at(atPlan, func() {
		review := fmt.Sprintf("%d-%d", r.p.ID, r.state().Seq+1) // the review task the plan opens
		r.env.UpdateWorkflow(workflows.UpdateSubmitPlan, "plan", submit, plan("村级发展规划")())
		r.env.UpdateWorkflow(workflows.UpdateDecideReview, "review", decide, decision(review, baocun.OutcomeApprove, "")())
	})
	r.at(atApprovePlan, func() { r.env.CancelWorkflow() })
	r.env.ExecuteWorkflow(workflows.Pairing, s0)
	if submit.err != nil || decide.rejected || decide.err != nil {
		t.Fatalf("plan: %+v; decision: %+v", submit, decide)
	}
	if got := decide.result.(workflows.StepResult).Stage; got != string(baocun.StageReviews) {
		t.Fatalf("after the decision the stage is %s, want reviews", got)
	}
}

// An arrival confirmed while the team's approval is still being written (the
// arrival task is in the database, the approved team not yet in the state) waits
// for the commit and succeeds; it is not refused as if the member were not on the
// team (found by CI: a second instance's driver read the task before the commit).
// A non-member's arrival sent at that moment is still refused, after the commit,
// and writes nothing.
func TestPairingArrivalWhileTheTeamIsBeingApproved(t *testing.T) {
	for _, tt := range []struct {
		person string
		code   string
	}{{"P2", ""}, {"P5", baocun.EFORBIDDEN}} {
		t.Run(tt.person, func(t *testing.T) {
			f := newFixture(t, 1, nil)
			r, s0 := f.startRun(0)
			pid := r.p.ID
			r.must(atNominate, workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
			approve, arrival := f.api(), f.api()
			r.at(atApproveTeam, func() {
				r.env.UpdateWorkflow(workflows.UpdateDecideTeam, "approve", approve, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, "")())
				r.env.UpdateWorkflow(workflows.UpdateConfirmArrive, "arrive", arrival, arrive(tt.person)())
			})
			want := baocun.StagePlanning
			if tt.code != "" {
				want = baocun.StageStationed
			}
			r.at(atArrive, func() {
				if p := f.pairing(pid); p.Stage != want {
					t.Errorf("after the arrival the pairing is at %s, want %s", p.Stage, want)
				}
				r.env.CancelWorkflow()
			})
			r.env.ExecuteWorkflow(workflows.Pairing, s0)
			if approve.rejected || approve.err != nil {
				t.Fatalf("approval: %+v", approve)
			}
			if tt.code != "" {
				if got := code(arrival.err); got != tt.code {
					t.Fatalf("arrival by %s: %+v (%s), want %s", tt.person, arrival, got, tt.code)
				}
			} else if arrival.rejected || arrival.err != nil {
				t.Fatalf("arrival: %+v", arrival)
			}
		})
	}
}

// TestPairingDueExtended: an organiser moves an escalated task's due date; its
// escalation is withdrawn, and comes again at the new date if the task is still
// open. A date not after the task's, or already past, is refused and moves nothing.
func TestPairingDueExtended(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	id := s0.Tasks[0].ID // the nomination, due 2027-01-31
	extend := func(to string) func() workflows.Step {
		return func() workflows.Step {
			return workflows.Step{Actor: "org", Audit: audit("org", "task.extend"), Due: &baocun.DueInput{TaskID: id, DueDate: to, Reason: "春节 the Spring Festival"}}
		}
	}
	r.at(since("2027-02-02", 0), func() {
		if ta := f.task(id); ta.EscalatedAt == nil {
			t.Errorf("not escalated at its due date: %+v", ta)
		}
	})
	early := r.send(since("2027-02-02", time.Hour), workflows.UpdateExtendDue, extend("2027-01-31"))
	past := r.send(since("2027-02-02", time.Hour), workflows.UpdateExtendDue, extend("2027-02-01"))
	r.must(since("2027-02-02", 2*time.Hour), workflows.UpdateExtendDue, extend("2027-02-20"))
	r.at(since("2027-02-05", 0), func() {
		ta := f.task(id)
		if ta.EscalatedAt != nil || ta.DueDate != "2027-02-20" || ta.FirstDueDate != "2027-01-31" || !ta.DueAt.Equal(date("2027-02-20")) {
			t.Errorf("after the extension: due %s (first %s) at %v, escalated %v", ta.DueDate, ta.FirstDueDate, ta.DueAt, ta.EscalatedAt)
		}
		if n := count(f.events(r.p.ID), func(e baocun.Event) bool { return e.Kind == "task.due_extended" && e.TaskID == id && e.Actor == "org" }); n != 1 {
			t.Errorf("%d task.due_extended events, want 1", n)
		}
		acts, err := f.db.TaskActions(f.ctx, id)
		if err != nil || len(acts) != 1 || acts[0].Action != "due" || acts[0].Detail["from"] != "2027-01-31" || acts[0].Detail["to"] != "2027-02-20" {
			t.Errorf("the task's actions: %+v, %v", acts, err)
		}
	})
	r.at(since("2027-02-25", 0), func() {
		ta := f.task(id)
		if ta.EscalatedAt == nil || !ta.EscalatedAt.Equal(date("2027-02-20")) {
			t.Errorf("escalated %v, want again at the new due date", ta.EscalatedAt)
		}
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	for _, s := range []*sent{early, past} {
		if code(s.cb.err) != baocun.EINVALID {
			t.Errorf("%v: want %s", s, baocun.EINVALID)
		}
	}
}
