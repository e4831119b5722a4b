package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
	"baocun/sqldb/sqldbtest"
)

// A RecordAudit that Temporal retries — here its first attempt writes the entry and
// then "loses" the acknowledgement — writes the event once, on both databases;
// another activity's event is another entry.
func TestRecordAuditIsIdempotentUnderRetry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := sqldbtest.Open(t, dsn)
		log := sqldbtest.AuditLog(t, db)
		a := &activities.Activities{Audit: log}

		attempts := 0
		recordThenLoseAck := func(ctx context.Context, e baocun.AuditEntry) error {
			attempts++
			if err := a.RecordAudit(ctx, e); err != nil {
				return err
			}
			if activity.GetInfo(ctx).Attempt == 1 {
				return errors.New("acknowledgement lost")
			}
			return nil
		}
		wf := func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				StartToCloseTimeout: time.Minute,
				RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second},
			})
			if err := workflow.ExecuteActivity(ctx, "RecordThenLoseAck", baocun.AuditEntry{Action: "pairing.stage_opened", PairingID: "42"}).Get(ctx, nil); err != nil {
				return err
			}
			return workflow.ExecuteActivity(ctx, a.RecordAudit, baocun.AuditEntry{Action: "pairing.task_due", PairingID: "42"}).Get(ctx, nil)
		}

		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(wf)
		env.RegisterActivity(a)
		env.RegisterActivityWithOptions(recordThenLoseAck, activity.RegisterOptions{Name: "RecordThenLoseAck"})
		env.ExecuteWorkflow(wf)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		if attempts != 2 {
			t.Fatalf("%d attempts, want 2 (one retry)", attempts)
		}
		entries, _, err := log.Query(context.Background(), baocun.AuditFilter{PairingID: "42"})
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].Action != "pairing.task_due" || entries[1].Action != "pairing.stage_opened" {
			t.Fatalf("entries %+v, want one stage_opened (despite the retry) and one task_due", entries)
		}
		for _, e := range entries {
			if e.Actor != "system" || e.Key == "" {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

// A change the database refuses (a task closed meanwhile) fails the activity for
// good, with its code, and as a benign error: the workflow answers the step with it,
// so the SDK logs no "Activity error" at error level.
func TestApplyRefusalIsBenign(t *testing.T) {
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	a := &activities.Activities{Store: db, Audit: sqldbtest.AuditLog(t, db)}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.Apply, baocun.Change{At: time.Now(), Close: []baocun.TaskClose{{ID: "9-9", Status: baocun.TaskDone, By: "lead"}}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != baocun.ECONFLICT || !app.NonRetryable() || app.Category() != temporal.ApplicationErrorCategoryBenign {
		t.Fatalf("refused change: %v (%T); want a benign, non-retryable conflict", err, err)
	}
}

// Acceptance scores against the rubric frozen at launch; a cycle whose settings have
// lost it is refused with the cycle named, not scored against today's default, on
// both databases (and its commendation is not ranked either).
func TestRubricIsTheStoredOne(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		for _, q := range []string{
			`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
			`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		launch := func(rubric *baocun.Rubric) int64 {
			s := baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 12, Rubric: rubric}
			id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "细则 rubric", Jurisdiction: "*", Settings: s, LaunchedBy: "org", LaunchedAt: time.Now()},
				[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: baocun.KindSupport}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}
		frozen := baocun.DefaultRubric()
		frozen.MinRaters = 5 // not today's default
		a := &activities.Activities{Store: db}
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)

		v, err := env.ExecuteActivity(a.Rubric, launch(&frozen))
		if err != nil {
			t.Fatal(err)
		}
		var got baocun.Rubric
		if err := v.Get(&got); err != nil || got.MinRaters != 5 {
			t.Fatalf("stored rubric: min raters %d (%v), want 5", got.MinRaters, err)
		}
		lost := launch(nil)
		if _, err := env.ExecuteActivity(a.Rubric, lost); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("Cycle %d has no stored rubric", lost)) {
			t.Fatalf("a cycle without its rubric: %v", err)
		}
		if _, err := db.Commendation(ctx, lost); err == nil || !strings.Contains(err.Error(), "no stored rubric") {
			t.Fatalf("ranking a cycle without its rubric: %v", err)
		}
	})
}
