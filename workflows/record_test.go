//go:build record

package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"baocun"
	"baocun/activities"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/workflows"
)

// TestRecord runs workflows on an in-memory Temporal server and saves their histories
// to testdata/ for TestReplay. It is behind the "record" build tag so the ordinary
// test binary does not embed a server. The files without a change in their name are
// v0.1.0's; a change that alters a workflow's commands goes behind
// workflow.GetVersion and records a new file named after its change ID
// (docs/DESIGN.md, "Versions"). Never re-record an old file to make a replay pass.
func TestRecord(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ts.NewWorker(baocun.TaskQueue, func(r worker.Registry) { workflows.Register(r) })
	c := ts.GetDefaultClient()
	ctx := context.Background()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-1", TaskQueue: baocun.TaskQueue},
		workflows.Probe, workflows.ProbeInput{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), UpdateName: workflows.ProbeAckUpdate, Args: []any{"recorded"},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	record(t, c, run.GetID(), "", "testdata/probe.json")
}

// recording is a one-pairing cycle on an in-memory server, driven step by step.
type recording struct {
	t        *testing.T
	ctx      context.Context
	db       *sqldb.DB
	c        client.Client
	cycleID  int64
	cycleRun client.WorkflowRun
	pid      string
}

// newRecording launches a cycle of one pairing (D1 with V1) with settings.
func newRecording(t *testing.T, settings baocun.CycleSettings) *recording {
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	sqldbtest.AuditLog(t, db) // the audit chain the recording writes is verified after it
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D1'), ('P3', '王五', 'D1'), ('P4', '赵六', 'D1')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	settings.Defaults()
	cy := &baocun.Cycle{Name: "录制 recording", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()}
	id, err := db.CreateCycle(ctx, cy, []baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: baocun.KindSupport}},
		&baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
	if err != nil {
		t.Fatal(err)
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ts.NewWorker(baocun.TaskQueue, func(r worker.Registry) {
		workflows.Register(r)
		activities.Register(r, &activities.Activities{Store: db})
	})
	c := ts.GetDefaultClient()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.CycleWorkflowID(id), TaskQueue: baocun.TaskQueue},
		workflows.Cycle, workflows.CycleInput{CycleID: id, Pairings: 1, Settings: settings.WithoutRubric(), Clock: cy.Clock()})
	if err != nil {
		t.Fatal(err)
	}
	return &recording{t: t, ctx: ctx, db: db, c: c, cycleID: id, cycleRun: run, pid: workflows.PairingWorkflowID(1)}
}

// open waits for an open task of kind and returns its id.
func (r *recording) open(kind baocun.TaskKind) string {
	r.t.Helper()
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(10 * time.Millisecond) {
		ts, err := r.db.Tasks(r.ctx, baocun.TaskFilter{PairingID: 1, Limit: 100})
		if err != nil {
			r.t.Fatal(err)
		}
		for _, task := range ts {
			if task.Kind == kind {
				return task.ID
			}
		}
	}
	all, _ := r.db.Tasks(r.ctx, baocun.TaskFilter{PairingID: 1, Status: "all", Limit: 100})
	r.t.Fatalf("no open %s task; tasks %+v", kind, all)
	return ""
}

// step sends an update (as "recorder" unless the step names its actor).
func (r *recording) step(update string, st workflows.Step) {
	r.t.Helper()
	if err := r.try(update, st); err != nil {
		r.t.Fatalf("%s: %v", update, err)
	}
}

// try sends an update and returns its error.
func (r *recording) try(update string, st workflows.Step) error {
	if st.Actor == "" {
		st.Actor = "recorder"
	}
	applied, err := r.db.AppliedSeq(r.ctx, 1)
	if err != nil {
		return err
	}
	st.Applied = applied
	h, err := r.c.UpdateWorkflow(r.ctx, client.UpdateWorkflowOptions{WorkflowID: r.pid, UpdateName: update, Args: []any{st},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	var res workflows.StepResult
	if err == nil {
		err = h.Get(r.ctx, &res)
	}
	if err == nil {
		err = r.db.ApplyChanges(r.ctx, res.Changes) // as the API does
	}
	return err
}

func (r *recording) decide(update string, kind baocun.TaskKind, outcome string) {
	r.step(update, workflows.Step{Decision: &baocun.DecisionInput{TaskID: r.open(kind), Outcome: outcome, Comment: "录制 recorded"}})
}

// toReviews takes the pairing from dispatch to reviews, with a return at each stage.
func (r *recording) toReviews() {
	team := &baocun.TeamInput{Leader: "P1", Members: []string{"P2", "P3"}}
	r.open(baocun.TaskNominateTeam)
	r.step(workflows.UpdateNominateTeam, workflows.Step{Team: team})
	r.decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeam, baocun.OutcomeReturn)
	r.open(baocun.TaskNominateTeam)
	r.step(workflows.UpdateNominateTeam, workflows.Step{Team: team})
	r.decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeam, baocun.OutcomeApprove)
	r.open(baocun.TaskConfirmArrival)
	r.step(workflows.UpdateConfirmArrive, workflows.Step{Person: "P1"})
	plan := &baocun.PlanInput{Title: "规划", Summary: "发展集体经济 grow the collective economy"}
	r.open(baocun.TaskSubmitPlan)
	r.step(workflows.UpdateSubmitPlan, workflows.Step{Plan: plan})
	r.decide(workflows.UpdateDecideReview, baocun.TaskReviewPlan, baocun.OutcomeReturn)
	r.open(baocun.TaskSubmitPlan)
	r.step(workflows.UpdateSubmitPlan, workflows.Step{Plan: plan})
	r.decide(workflows.UpdateDecideReview, baocun.TaskReviewPlan, baocun.OutcomeApprove)
}

// firstPeriodSteps files period 1's report, has it returned and filed again and
// approved, then requests a team change and has it approved.
func (r *recording) firstPeriodSteps() {
	report := &baocun.ReportInput{Period: 1, Summary: "修路一条 one road", FundsRaisedWan: "12.5", CollectiveIncomeWan: "3", Projects: map[string]int{"road": 1}}
	r.open(baocun.TaskSubmitReport)
	r.step(workflows.UpdateSubmitReport, workflows.Step{Report: report})
	r.decide(workflows.UpdateDecideReview, baocun.TaskReviewReport, baocun.OutcomeReturn)
	r.open(baocun.TaskSubmitReport)
	r.step(workflows.UpdateSubmitReport, workflows.Step{Report: report})
	r.decide(workflows.UpdateDecideReview, baocun.TaskReviewReport, baocun.OutcomeApprove)
	r.step(workflows.UpdateRequestChange, workflows.Step{Change: &baocun.TeamChangeInput{Remove: []string{"P3"}, Add: []string{"P4"}, Reason: "调岗 reassigned"}})
	r.decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeamChange, baocun.OutcomeApprove)
}

func (r *recording) runID() string {
	desc, err := r.c.DescribeWorkflowExecution(r.ctx, r.pid, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return desc.WorkflowExecutionInfo.Execution.RunId
}

// cancel cancels the cycle and waits for it to end cancelled.
func (r *recording) cancel() {
	if err := r.c.CancelWorkflow(r.ctx, r.cycleRun.GetID(), ""); err != nil {
		r.t.Fatal(err)
	}
	if err := r.cycleRun.Get(r.ctx, nil); !temporal.IsCanceledError(err) {
		r.t.Fatalf("cycle ended with %v, want cancelled", err)
	}
}

// TestRecordLifecycle runs a one-pairing cycle through every kind of step of the
// stages before acceptance — returns and approvals, arrival, plan, a returned and
// resubmitted report, a team change, check-ins, reminders and escalations, the end of
// a period (continue-as-new) — then cancels the cycle, and records the cycle's, the
// batch's and both of the pairing's runs' histories.
func TestRecordLifecycle(t *testing.T) {
	// One year of two half-year periods in about six seconds.
	r := newRecording(t, baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 6, ClockScale: 5e6})
	r.open(baocun.TaskNominateTeam)
	firstRun := r.runID()
	r.toReviews()
	r.firstPeriodSteps()
	sqldbtest.Checkins(t, r.db, 1, "P1", "2027-01-05", "2027-01-06")
	// The period ends: the pairing continues as new. Then the cycle is cancelled.
	for start := time.Now(); r.runID() == firstRun; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the pairing did not continue as new at the period's end")
		}
	}
	r.open(baocun.TaskSubmitReport)
	r.cancel()
	record(t, r.c, r.cycleRun.GetID(), "", "testdata/cycle_cancelled.json")
	record(t, r.c, workflows.BatchWorkflowID(r.cycleID, 0), "", "testdata/batch_cancelled.json")
	record(t, r.c, r.pid, firstRun, "testdata/pairing_run1.json")
	record(t, r.c, r.pid, r.runID(), "testdata/pairing_run2_cancelled.json")
}

// TestRecordAcceptance runs a one-period cycle to acceptance: the self-assessment,
// three raters, the organiser's confirmation, then publicity, where the cycle is
// cancelled; it records the pairing's history.
func TestRecordAcceptance(t *testing.T) {
	// One year, one period, in about six seconds.
	r := newRecording(t, baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 12, ClockScale: 5e6})
	r.toReviews()
	r.open(baocun.TaskSelfAssess) // the period, and so the cycle, ends
	r.step(workflows.UpdateSelfAssess, workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "完成规划 the plan met"}})
	r.scoreAndConfirm(2)
	r.cancel()
	record(t, r.c, r.pid, "", "testdata/pairing_publicity_cancelled.json")
}

// TestRecordNoTeam runs a one-period cycle whose team is never nominated: at the
// cycle's end the pairing enters acceptance with scoring open and no self-assessment;
// three raters and the organiser's confirmation take it to publicity, where the cycle
// is cancelled.
func TestRecordNoTeam(t *testing.T) {
	r := newRecording(t, baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 12, ClockScale: 5e6})
	r.scoreAndConfirm(3)
	r.cancel()
	record(t, r.c, r.pid, "", "testdata/pairing_no_team.json")
}

// TestRecordOnePeriod runs a one-period cycle to its end: acceptance, publication,
// an appeal revised by a reviewer, the final result, then the cycle's commendation —
// a proposal and the organiser's approval. It records the pairing's and the cycle's
// histories.
func TestRecordOnePeriod(t *testing.T) {
	recordWholeCycle(t, 12, "testdata/pairing_one_period.json", "", "testdata/cycle_one_period.json", "")
}

// TestRecordWholeCycle records a whole cycle of two periods (a continue-as-new
// between them).
func TestRecordWholeCycle(t *testing.T) {
	recordWholeCycle(t, 6, "testdata/pairing_whole_run2.json", "testdata/pairing_whole_run1.json",
		"testdata/cycle_whole.json", "testdata/batch_whole.json")
}

// recordWholeCycle runs a one-year cycle of periods of the given months from
// dispatch to the published commendation — a report returned and approved, a team
// change, acceptance, an appeal revised, the proposal and the approval — and records
// the pairing's last run and first run, the cycle and the batch, each when named.
func recordWholeCycle(t *testing.T, periodMonths int, pairingFile, firstRunFile, cycleFile, batchFile string) {
	// One year in about six seconds; the windows a recorder acts in are a year (about
	// six seconds) long.
	w := baocun.Windows{DecideDays: 365, AppealDays: 365, AcceptanceDays: 365, ReportDays: 365}
	r := newRecording(t, baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: periodMonths, ClockScale: 5e6, Windows: w})
	r.open(baocun.TaskNominateTeam)
	firstRun := r.runID()
	r.toReviews()
	if periodMonths < 12 {
		r.firstPeriodSteps()
	}
	// P1 lives in the village every day of the year, so may be commended.
	var days []string
	for d := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 2027; d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	sqldbtest.Checkins(t, r.db, 1, "P1", days...)
	// The last period's report, filed and approved: acceptance begins once it is.
	last := 12 / periodMonths
	r.open(baocun.TaskSubmitReport)
	r.step(workflows.UpdateSubmitReport, workflows.Step{Report: &baocun.ReportInput{Period: last, Summary: "全年完成 the year done",
		FundsRaisedWan: "20", CollectiveIncomeWan: "5", Projects: map[string]int{"water": 1}}})
	r.decide(workflows.UpdateDecideReview, baocun.TaskReviewReport, baocun.OutcomeApprove)
	r.open(baocun.TaskSelfAssess)
	r.step(workflows.UpdateSelfAssess, workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "完成规划 the plan met"}})
	r.scoreAndConfirm(2)
	r.await("the result's publication", func() bool {
		es, err := r.db.Events(r.ctx, 1)
		return err == nil && slices.ContainsFunc(es, func(e baocun.Event) bool { return e.Kind == "result.published" })
	})
	// The publication's event is stored a moment before the workflow commits it: the
	// appeal is sent until the workflow takes it.
	r.await("the appeal taken", func() bool {
		return r.try(workflows.UpdateAppeal, workflows.Step{Actor: "lead", Appeal: &baocun.AppealInput{Reasons: "漏计项目 projects left out"}}) == nil
	})
	r.step(workflows.UpdateDecideAppeal, workflows.Step{Actor: "rev", AppealDecision: &baocun.AppealDecisionInput{TaskID: r.open(baocun.TaskDecideAppeal),
		Outcome: baocun.AppealRevise, Goods: map[string]decimal.Decimal{"prosperity": decimal.NewFromInt(100), "feedback": decimal.NewFromInt(100)}, Reasons: "属实 confirmed"}})
	if err := r.c.GetWorkflow(r.ctx, r.pid, "").Get(r.ctx, nil); err != nil {
		t.Fatalf("pairing: %v", err)
	}
	cycleTask := func(kind baocun.TaskKind) string {
		var id string
		r.await("a "+string(kind)+" task", func() bool {
			ts, err := r.db.Tasks(r.ctx, baocun.TaskFilter{Limit: 100})
			for _, task := range ts {
				if task.Kind == kind && err == nil {
					id = task.ID
				}
			}
			return id != ""
		})
		return id
	}
	cycleStep := func(update string, st workflows.CycleStep) {
		h, err := r.c.UpdateWorkflow(r.ctx, client.UpdateWorkflowOptions{WorkflowID: r.cycleRun.GetID(), UpdateName: update, Args: []any{st},
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(r.ctx, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", update, err)
		}
	}
	cycleTask(baocun.TaskProposeCadres)
	cycleStep(workflows.UpdatePropose, workflows.CycleStep{Actor: "lead", Department: "D1",
		Propose: &baocun.ProposeInput{Cadres: []baocun.CadreProposal{{PersonID: "P1", Reason: "成效显著 good work"}}}})
	cycleStep(workflows.UpdateApprove, workflows.CycleStep{Actor: "org", Approve: &baocun.ApproveInput{TaskID: cycleTask(baocun.TaskApproveCommend)}})
	if err := r.cycleRun.Get(r.ctx, nil); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	if pairingFile != "" {
		record(t, r.c, r.pid, "", pairingFile)
	}
	if firstRunFile != "" {
		record(t, r.c, r.pid, firstRun, firstRunFile)
	}
	record(t, r.c, r.cycleRun.GetID(), "", cycleFile)
	if batchFile != "" {
		record(t, r.c, workflows.BatchWorkflowID(r.cycleID, 0), "", batchFile)
	}
}

// scoreAndConfirm has three raters score every indicator in full, one after another,
// and the organiser confirm the result with the village's new class.
func (r *recording) scoreAndConfirm(newClass int) {
	rubric := baocun.DefaultRubric()
	sheet := baocun.Scores(rubric.Rated())
	for _, rater := range []string{"r1", "r2", "r3"} {
		r.open(baocun.TaskScore)
		r.step(workflows.UpdateScore, workflows.Step{Actor: rater, Score: &baocun.ScoreInput{Scores: sheet}})
	}
	r.step(workflows.UpdateConfirm, workflows.Step{Confirm: &baocun.ConfirmInput{TaskID: r.open(baocun.TaskConfirm), NewClass: newClass}})
}

// await waits for cond, failing the recording after 30 seconds.
func (r *recording) await(what string, cond func() bool) {
	r.t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			r.t.Fatalf("waited 30s for %s", what)
		}
	}
}

// recordVersion is the directory of testdata the recordings go to: the version
// whose histories they are. Each release's histories stay, and replay, for ever.
const recordVersion = "v0.2.0-dev"

// record writes a workflow's history to file; an existing file is never replaced
// (a replay that fails wants a workflow.GetVersion, not a new recording).
func record(t *testing.T, c client.Client, id, runID, file string) {
	file = filepath.Join(filepath.Dir(file), recordVersion, filepath.Base(file))
	if _, err := os.Stat(file); err == nil {
		t.Logf("%s exists: kept", file)
		return
	}
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
