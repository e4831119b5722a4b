package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
	"baocun/sqldb/sqldbtest"
)

// A change the database refuses (a task closed meanwhile) fails the activity for
// good, with its code, and as a benign error: the workflow answers the step with it,
// so the SDK logs no "Activity error" at error level.
func TestApplyRefusalIsBenign(t *testing.T) {
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	a := &activities.Activities{Store: db}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	now := time.Now()
	for _, ch := range []baocun.Change{ // a task decided already
		{At: now, Open: []baocun.Task{{ID: "c9-1", Kind: baocun.TaskApproveCommend, CycleID: 9, Role: "organiser", DueAt: now.Add(time.Hour), RemindAt: now}}},
		{At: now, Close: []baocun.TaskClose{{ID: "c9-1", Status: baocun.TaskDone, By: "org"}}},
	} {
		if err := db.ApplyChange(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"c9-1", "9-9"} { // decided already; never opened
		_, err := env.ExecuteActivity(a.Apply, baocun.Change{At: now, Close: []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, By: "lead"}}})
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != baocun.ECONFLICT || !app.NonRetryable() || app.Category() != temporal.ApplicationErrorCategoryBenign {
			t.Errorf("refused change closing %s: %v (%T); want a benign, non-retryable conflict", id, err, err)
		}
	}
}

// A committed change closing a task the database lacks waits for the write that
// opens it (the activity is retried), but not for ever: by the eighth attempt the
// opening write is not coming (its batch was cancelled first), and it is refused for
// good, so the pairing's own writes are not held behind it.
func TestApplyChangesWaitsForAnOpeningWriteAWhile(t *testing.T) {
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	a := &activities.Activities{Store: db}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)
	write := func(ctx workflow.Context, chs []baocun.Change) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 30 * time.Second}}) // as the Pairing workflow's: no attempt limit
		return workflow.ExecuteActivity(ctx, a.ApplyChanges, chs).Get(ctx, nil)
	}
	env.RegisterWorkflowWithOptions(write, workflow.RegisterOptions{Name: "write"})
	attempts := 0
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { attempts++ })
	env.ExecuteWorkflow("write", []baocun.Change{{At: time.Now(), Key: "pairing-9/change-1", Close: []baocun.TaskClose{{ID: "9-9", Status: baocun.TaskDone, By: "lead"}}}})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != baocun.ECONFLICT || !app.NonRetryable() || attempts != 8 {
		t.Fatalf("after %d attempts: %v; want a non-retryable conflict at the eighth", attempts, err)
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
			`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3), ('V2', '乙村', '县A', '一镇', 2)`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		village := "V0"
		launch := func(rubric *baocun.Rubric) int64 {
			village = map[string]string{"V0": "V1", "V1": "V2"}[village] // a village is paired in one running cycle
			s := baocun.CycleSettings{StartDate: "2027-01-01", Years: 1, PeriodMonths: 12, Rubric: rubric}
			id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "细则 rubric", Jurisdiction: "*", Settings: s, LaunchedBy: "org", LaunchedAt: time.Now()},
				[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: village, Kind: baocun.KindSupport}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
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
