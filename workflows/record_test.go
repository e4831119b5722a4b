//go:build record

package workflows_test

import (
	"context"
	"os"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"baocun"
	"baocun/activities"
	"baocun/sqldb/sqldbtest"
	"baocun/workflows"
)

// TestRecord runs workflows on an in-memory Temporal server and saves their histories
// to testdata/ for TestReplay. It is behind the "record" build tag so the ordinary
// test binary does not embed a server. Record a new file whenever a workflow gains a
// new path; never re-record an old file to make a replay pass.
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
	record(t, c, run.GetID(), "", "testdata/probe_v1.json")
}

func record(t *testing.T, c client.Client, id, runID, file string) {
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

// TestRecordLifecycle runs a one-pairing cycle through every kind of step — returns
// and approvals, arrival, plan, a returned and resubmitted report, a team change,
// check-ins, reminders and escalations, the end of a period (continue-as-new) — then
// cancels the cycle, and records the cycle's, the batch's and both of the pairing's
// runs' histories.
func TestRecordLifecycle(t *testing.T) {
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	audit := sqldbtest.AuditLog(t, db)
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D1'), ('P3', '王五', 'D1'), ('P4', '赵六', 'D1')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// One year of two half-year periods in about six seconds.
	settings := baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 6, ClockScale: 5e6}
	settings.Defaults()
	launch := time.Now()
	cy := &baocun.Cycle{Name: "录制 recording", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: launch}
	id, err := db.CreateCycle(ctx, cy, []baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: baocun.KindSupport}},
		&baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
	if err != nil {
		t.Fatal(err)
	}

	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ts.NewWorker(baocun.TaskQueue, func(r worker.Registry) {
		workflows.Register(r)
		activities.Register(r, &activities.Activities{Audit: audit, Store: db})
	})
	c := ts.GetDefaultClient()
	cycleRun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.CycleWorkflowID(id), TaskQueue: baocun.TaskQueue},
		workflows.Cycle, workflows.CycleInput{CycleID: id, Pairings: 1, Settings: settings, Clock: cy.Clock()})
	if err != nil {
		t.Fatal(err)
	}
	pid := workflows.PairingWorkflowID(1)
	open := func(kind string) string {
		t.Helper()
		for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
			ts, err := db.Tasks(ctx, baocun.TaskFilter{PairingID: 1, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range ts {
				if task.Kind == kind {
					return task.ID
				}
			}
		}
		all, _ := db.Tasks(ctx, baocun.TaskFilter{PairingID: 1, Status: "all", Limit: 100})
		events, _ := db.Events(ctx, 1)
		t.Fatalf("no open %s task; tasks %+v; events %+v", kind, all, events)
		return ""
	}
	step := func(update string, st workflows.Step) {
		t.Helper()
		st.Actor = "recorder"
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: pid, UpdateName: update, Args: []any{st},
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", update, err)
		}
	}
	decide := func(update, kind, outcome string) {
		step(update, workflows.Step{Decision: &baocun.DecisionInput{TaskID: open(kind), Outcome: outcome, Comment: "录制 recorded"}})
	}
	team := &baocun.TeamInput{Leader: "P1", Members: []string{"P2", "P3"}}
	open(baocun.TaskNominateTeam)
	desc, err := c.DescribeWorkflowExecution(ctx, pid, "")
	if err != nil {
		t.Fatal(err)
	}
	firstRun := desc.WorkflowExecutionInfo.Execution.RunId
	step(workflows.UpdateNominateTeam, workflows.Step{Team: team})
	decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeam, baocun.OutcomeReturn)
	open(baocun.TaskNominateTeam)
	step(workflows.UpdateNominateTeam, workflows.Step{Team: team})
	decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeam, baocun.OutcomeApprove)
	open(baocun.TaskConfirmArrival)
	step(workflows.UpdateConfirmArrive, workflows.Step{Person: "P1"})
	plan := &baocun.PlanInput{Title: "规划", Summary: "发展集体经济 grow the collective economy"}
	open(baocun.TaskSubmitPlan)
	step(workflows.UpdateSubmitPlan, workflows.Step{Plan: plan})
	decide(workflows.UpdateDecideReview, baocun.TaskReviewPlan, baocun.OutcomeReturn)
	open(baocun.TaskSubmitPlan)
	step(workflows.UpdateSubmitPlan, workflows.Step{Plan: plan})
	decide(workflows.UpdateDecideReview, baocun.TaskReviewPlan, baocun.OutcomeApprove)
	report := &baocun.ReportInput{Period: 1, Summary: "修路一条 one road", FundsRaisedWan: "12.5", CollectiveIncomeWan: "3", Projects: map[string]int{"road": 1}}
	open(baocun.TaskSubmitReport)
	step(workflows.UpdateSubmitReport, workflows.Step{Report: report})
	decide(workflows.UpdateDecideReview, baocun.TaskReviewReport, baocun.OutcomeReturn)
	open(baocun.TaskSubmitReport)
	step(workflows.UpdateSubmitReport, workflows.Step{Report: report})
	decide(workflows.UpdateDecideReview, baocun.TaskReviewReport, baocun.OutcomeApprove)
	step(workflows.UpdateRequestChange, workflows.Step{Change: &baocun.TeamChangeInput{Remove: []string{"P3"}, Add: []string{"P4"}, Reason: "调岗 reassigned"}})
	decide(workflows.UpdateDecideTeam, baocun.TaskApproveTeamChange, baocun.OutcomeApprove)
	if _, err := db.AddCheckins(ctx, 1, "P1", []string{"2027-01-05", "2027-01-06"}, "recorder", &baocun.AuditEntry{Actor: "recorder", Action: "residency.record"}); err != nil {
		t.Fatal(err)
	}

	// The period ends: the pairing continues as new. Then the cycle is cancelled.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		desc, err := c.DescribeWorkflowExecution(ctx, pid, "")
		if err != nil {
			t.Fatal(err)
		}
		if desc.WorkflowExecutionInfo.Execution.RunId != firstRun {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("the pairing did not continue as new at the period's end")
		}
	}
	open(baocun.TaskSubmitReport)
	if err := c.CancelWorkflow(ctx, cycleRun.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	if err := cycleRun.Get(ctx, nil); !temporal.IsCanceledError(err) {
		t.Fatalf("cycle ended with %v, want cancelled", err)
	}
	desc, err = c.DescribeWorkflowExecution(ctx, pid, "")
	if err != nil {
		t.Fatal(err)
	}
	record(t, c, cycleRun.GetID(), "", "testdata/cycle_v1.json")
	record(t, c, workflows.BatchWorkflowID(id, 0), "", "testdata/batch_v1.json")
	record(t, c, pid, firstRun, "testdata/pairing_v1_run1.json")
	record(t, c, pid, desc.WorkflowExecutionInfo.Execution.RunId, "testdata/pairing_v1_run2.json")
}
