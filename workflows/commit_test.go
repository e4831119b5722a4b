package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/workflows"
)

// Committing runs (issue 16): a person's step is committed by the workflow in its
// Update and written by the API after; what the API did not write, the workflow
// writes itself.

// unwritten sends a step whose API never writes it: its process died after the
// workflow answered.
func (r *run) unwritten(at time.Duration, name string, step func() workflows.Step) *sent {
	r.n++
	s := &sent{name: name, cb: &updateCallbacks{}, at: at}
	id := fmt.Sprintf("unwritten-%s-%d", name, r.n)
	r.env.RegisterDelayedCallback(func() {
		st := step()
		st.Applied = r.f.applied(r.p.ID)
		r.env.UpdateWorkflow(name, id, s.cb, st)
	}, at)
	r.ok = append(r.ok, s)
	return s
}

// count is how many events of kind the pairing's timeline holds.
func (f *fixture) count(pairing int64, kind string) int {
	n := 0
	for _, k := range f.eventKinds(pairing) {
		if k == kind {
			n++
		}
	}
	return n
}

// A step the API never wrote is in the database once the pairing has been quiet for
// a while, written by the workflow, once; the next step's answer carries it, before
// its own, for the API to write in order.
func TestCommittedStepIsWrittenWithoutItsAPI(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	var report1 string
	r.at(inReviews-time.Minute, func() { report1 = r.open(baocun.TaskSubmitReport, 1) })
	lost := r.unwritten(inReviews, workflows.UpdateSubmitReport, report(1, "1"))
	r.at(inReviews+time.Second, func() {
		if st := r.state(); len(st.Unwritten) != 1 || st.Unwritten[0].Seq != st.Changes {
			t.Errorf("unwritten %+v (changes %d), want the report's change", st.Unwritten, st.Changes)
		}
		if ta := f.task(report1); ta.Status != baocun.TaskOpen {
			t.Errorf("the report's task is %s in the database before anyone wrote it", ta.Status)
		}
	})
	r.at(inReviews+2*time.Minute, func() {
		if ta := f.task(report1); ta.Status != baocun.TaskDone {
			t.Errorf("two minutes after the step: its task is %s, want done (written by the workflow)", ta.Status)
		}
		if n := f.count(r.p.ID, "report.submitted"); n != 1 {
			t.Errorf("report.submitted %d times, want once", n)
		}
		if st := r.state(); len(st.Unwritten) != 0 {
			t.Errorf("unwritten after the workflow's write: %+v", st.Unwritten)
		}
		r.agrees()
	})
	// Two steps in a row, the first not written by its API: the second's answer
	// carries both, in order, and its API's write takes them both.
	r.unwritten(inReviews+3*time.Minute, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	// The database lacks the task (nobody's inbox shows it yet); its id is the workflow's.
	decided := r.must(inReviews+3*time.Minute+time.Second, workflows.UpdateDecideTeam, func() workflows.Step {
		i := slices.IndexFunc(r.state().Tasks, func(t baocun.Task) bool { return t.Kind == baocun.TaskApproveTeamChange })
		if i < 0 {
			t.Fatal("no team change task in the workflow")
		}
		return decision(r.state().Tasks[i].ID, baocun.OutcomeReturn, "再议")()
	})
	r.at(inReviews+3*time.Minute+2*time.Second, func() {
		chs := decided.result().Changes
		if len(chs) != 2 || chs[0].Seq+1 != chs[1].Seq || chs[1].Seq != r.state().Changes {
			t.Errorf("the second step's answer carries %d changes, want the unwritten one and its own, in order", len(chs))
		}
		r.agrees()
		if n := f.count(r.p.ID, "team_change.requested"); n != 1 {
			t.Errorf("team_change.requested %d times, want once", n)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v, want cancelled by the last check", err)
	}
	if lost.result().Changes[0].Key == "" {
		t.Error("a committed change has no key: a repeat would write it twice")
	}
}

// A step written by its API is forgotten by the workflow once the next step tells it
// the database holds it: answers carry only what the database may lack. The steps
// come seconds apart, well inside FlushAfter, so only the next step's word forgets.
func TestWrittenStepsAreForgotten(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.must(inReviews, workflows.UpdateSubmitReport, report(1, "1"))
	last := r.must(inReviews+10*time.Second, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	r.at(inReviews+11*time.Second, func() {
		st := r.state()
		if chs := last.result().Changes; len(chs) != 1 || chs[0].Seq != st.Changes {
			t.Errorf("the last step's answer carries %d changes, want its own only", len(chs))
		}
		if len(st.Unwritten) != 1 || st.Unwritten[0].Seq != st.Changes {
			t.Errorf("unwritten %d, want only the last step's (no later step has said it is written)", len(st.Unwritten))
		}
		if got, want := f.applied(r.p.ID), st.Changes; got != want {
			t.Errorf("the database holds changes up to %d, want %d", got, want)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v, want cancelled by the last check", err)
	}
}

// A person's step that arrives while the workflow writes a step of its own (a
// reminder, its write slowed to two hours) waits for it, so the database records the
// reminder before the decision, as the workflow took them.
func TestStepWaitsForTheWorkflowsReminder(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.must(inReviews, workflows.UpdateSubmitReport, report(1, "1"))
	reminder := func(chs []baocun.Change) bool {
		return slices.ContainsFunc(chs, func(ch baocun.Change) bool { return len(ch.Remind) > 0 })
	}
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.MatchedBy(reminder)).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) }).After(2 * time.Hour)
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) })
	var review string
	r.at(since("2027-01-10", 0), func() { review = r.open(baocun.TaskReviewReport, 1) })
	// The review's reminder is due 2027-01-11 00:00 (three days before its due date).
	r.must(since("2027-01-11", time.Hour), workflows.UpdateDecideReview, func() workflows.Step { return decision(review, baocun.OutcomeApprove, "")() })
	r.at(since("2027-01-12", 0), func() {
		kinds := f.eventKinds(r.p.ID)
		if i, j := slices.Index(kinds, "task.reminded"), slices.Index(kinds, "report.approved"); i < 0 || j < i {
			t.Errorf("timeline %v: want the reminder, then the approval sent while it was written", kinds)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
}

// The sheet that completes the scoring reads the pairing's records: a village's
// evaluation committed seconds before, never written by its API, is written first
// and counted.
func TestFinalScoreReadsUnwrittenSteps(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.lastReportIn(1)
	as := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	r.must(since("2028-01-02", 0), workflows.UpdateSelfAssess, as("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "完成 done"}}))
	for i := range 2 {
		r.must(since("2028-01-03", time.Duration(i)*time.Hour), workflows.UpdateScore, as(fmt.Sprintf("r%d", i+1), workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf("1")}}))
	}
	r.unwritten(since("2028-01-03", 3*time.Hour), workflows.UpdateEvaluate, evaluation(1))
	r.must(since("2028-01-03", 3*time.Hour+5*time.Second), workflows.UpdateScore, as("r3", workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf("1")}}))
	var res *baocun.Result
	r.at(since("2028-01-04", 0), func() {
		res = r.state().Acceptance.Result
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
	if res == nil {
		t.Fatal("no combined result")
	}
	if !res.Computed["feedback.satisfaction"].Equal(decimal.RequireFromString("25")) {
		t.Fatalf("satisfaction %v, want the unwritten evaluation counted (25)", res.Computed["feedback.satisfaction"])
	}
}

// The workflow's own write (a reminder) writes the unwritten steps first, in order:
// a team change asked for seconds before, never written by its API, is in the
// database with the reminder, well before the flusher would write it.
func TestOwnWriteWritesUnwrittenStepsFirst(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.must(inReviews, workflows.UpdateSubmitReport, report(1, "1"))
	// The review's reminder is due 2027-01-11 00:00.
	r.unwritten(since("2027-01-10", 24*time.Hour-10*time.Second), workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	r.at(since("2027-01-11", 5*time.Second), func() {
		kinds := f.eventKinds(r.p.ID)
		if i, j := slices.Index(kinds, "team_change.requested"), slices.Index(kinds, "task.reminded"); i < 0 || j < i {
			t.Errorf("timeline %v: want the unwritten team change, then the reminder", kinds)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
}

// A period's end, a write of the workflow's own that opens tasks, writes the steps
// still unwritten first: the report filed just before it, never written by its API,
// is done in the database, before the period's end on the timeline.
func TestPeriodEndWritesUnwrittenStepsFirst(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	end := since("2027-04-01", 0)
	var report1 string
	r.at(end-time.Hour, func() { report1 = r.open(baocun.TaskSubmitReport, 1) })
	r.unwritten(end-10*time.Second, workflows.UpdateSubmitReport, report(1, "1"))
	var can *workflow.ContinueAsNewError
	if err := r.exec(s0); !errors.As(err, &can) {
		t.Fatalf("workflow: %v, want it to continue as new at the period's end", err)
	}
	if ta := f.task(report1); ta.Status != baocun.TaskDone {
		t.Errorf("the report's task is %s after the period's end, want done", ta.Status)
	}
	if p := f.pairing(r.p.ID); p.Period != 2 {
		t.Errorf("period %d, want 2", p.Period)
	}
	kinds := f.eventKinds(r.p.ID)
	if i, j := slices.Index(kinds, "report.submitted"), slices.Index(kinds, "period.ended"); i < 0 || j < i {
		t.Errorf("timeline %v: want the report before the period's end", kinds)
	}
}

// A person's step that arrives while the workflow writes a step of its own (a
// period's end, its write slowed to two hours) waits for it and is decided on what
// it wrote: the report lands after the period's end, on the timeline and in the
// state, never ahead of a write that could close its task under it.
func TestStepWaitsForThePeriodsEnd(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	end := since("2027-04-01", 0)
	periodEnd := func(chs []baocun.Change) bool {
		return slices.ContainsFunc(chs, func(ch baocun.Change) bool { return ch.Key == fmt.Sprintf("pairing-%d/period-1", r.p.ID) })
	}
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.MatchedBy(periodEnd)).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) }).After(2 * time.Hour)
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) })
	during := r.must(end+time.Hour, workflows.UpdateSubmitReport, report(1, "1"))
	var can *workflow.ContinueAsNewError
	if err := r.exec(s0); !errors.As(err, &can) {
		t.Fatalf("workflow: %v, want it to continue as new at the period's end", err)
	}
	if p := during.result().Period; p != 2 {
		t.Errorf("the report sent during the period's write was taken in period %d, want 2 (after the write)", p)
	}
	kinds := f.eventKinds(r.p.ID)
	if i, j := slices.Index(kinds, "report.submitted"), slices.Index(kinds, "period.ended"); i < j {
		t.Errorf("timeline %v: want the period's end before the report sent during its write", kinds)
	}
}

// teamChangeTask is the open team change's task id, in the workflow's state.
func (r *run) teamChangeTask() string {
	r.f.t.Helper()
	i := slices.IndexFunc(r.state().Tasks, func(t baocun.Task) bool { return t.Kind == baocun.TaskApproveTeamChange })
	if i < 0 {
		r.f.t.Fatal("no team change task in the workflow")
	}
	return r.state().Tasks[i].ID
}

// A busy pairing, whose steps its API writes, costs its history no write of the
// flusher's while the steps keep coming less than FlushAfter apart; once it falls
// quiet, one write, a quiet minute after the last step.
func TestFlusherWaitsForAQuietSpell(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	var writes []time.Duration // when the workflow wrote, from inReviews
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, chs []baocun.Change) error {
			writes = append(writes, r.env.Now().Sub(launch)-inReviews)
			return f.acts.ApplyChanges(ctx, chs)
		})
	const gap = 40 * time.Second
	for i := range 6 {
		at := inReviews + time.Duration(i)*gap
		if i%2 == 0 {
			r.must(at, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
		} else {
			r.must(at, workflows.UpdateDecideTeam, func() workflows.Step { return decision(r.teamChangeTask(), baocun.OutcomeReturn, "再议")() })
		}
	}
	last := 5 * gap
	r.at(inReviews-time.Second, func() { writes = nil }) // the flush after the plan's approval
	r.at(inReviews+last+workflows.FlushAfter+time.Minute, func() {
		if len(writes) != 1 || writes[0] < last+workflows.FlushAfter || writes[0] > last+workflows.FlushAfter+time.Second {
			t.Errorf("the workflow wrote at %v after the first step; want once, a quiet minute after the last (%v)", writes, last+workflows.FlushAfter)
		}
		if st := r.state(); len(st.Unwritten) != 0 {
			t.Errorf("unwritten after the flush: %+v", st.Unwritten)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v, want cancelled by the last check", err)
	}
}

// A person's step is not held by the flusher's write in flight (here stalled for an
// hour): it changes no state, and the step's own write carries the same changes.
func TestStepIsNotHeldByTheFlusher(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.unwritten(inReviews, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	var flushing time.Duration // when the stalled write began, from inReviews
	flushed := func(chs []baocun.Change) bool {
		if slices.ContainsFunc(chs, func(ch baocun.Change) bool { return ch.Seq == 0 }) {
			return false // a write of the workflow's own
		}
		if at := r.env.Now().Sub(launch) - inReviews; at >= 0 {
			flushing = at
		}
		return true
	}
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.MatchedBy(flushed)).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) }).After(time.Hour)
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, chs []baocun.Change) error { return f.acts.ApplyChanges(ctx, chs) })
	decided := r.must(inReviews+workflows.FlushAfter+time.Minute, workflows.UpdateDecideTeam, func() workflows.Step { return decision(r.teamChangeTask(), baocun.OutcomeReturn, "再议")() })
	r.at(inReviews+workflows.FlushAfter+time.Minute+time.Second, func() {
		if flushing != workflows.FlushAfter {
			t.Errorf("the flusher's write began at %v, want %v: the decision must come while it is in flight", flushing, workflows.FlushAfter)
		}
		if decided.cb.result == nil || decided.cb.err != nil {
			t.Errorf("the decision a second after it was sent, the flusher's write in flight: %v; want answered and written", decided)
		}
		if n := f.count(r.p.ID, "team_change.returned"); n != 1 {
			t.Errorf("team_change.returned %d times, want once (its API wrote it, with the unwritten request)", n)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v, want cancelled by the last check", err)
	}
}

// Steps that keep coming while their API's writes fail (the database refuses them)
// postpone the flusher no further than five quiet spells after the oldest change
// unwritten: the workflow tries to write it itself then.
func TestFlusherIsNotPostponedForEver(t *testing.T) {
	f := newFixture(t, 1, nil)
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	var writes []time.Duration
	r.env.OnActivity(f.acts.ApplyChanges, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, chs []baocun.Change) error {
			writes = append(writes, r.env.Now().Sub(launch)-inReviews)
			return f.acts.ApplyChanges(ctx, chs)
		})
	const gap = 40 * time.Second
	for i := range 9 { // over five minutes of steps, none written by its API
		at := inReviews + time.Duration(i)*gap
		if i%2 == 0 {
			r.unwritten(at, workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
		} else {
			r.unwritten(at, workflows.UpdateDecideTeam, func() workflows.Step { return decision(r.teamChangeTask(), baocun.OutcomeReturn, "再议")() })
		}
	}
	r.at(inReviews-time.Second, func() { writes = nil })
	r.at(inReviews+6*time.Minute, func() {
		if len(writes) == 0 || writes[0] > 5*workflows.FlushAfter+time.Second {
			t.Errorf("the workflow wrote at %v; want a write by five minutes after the first unwritten step", writes)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v, want cancelled by the last check", err)
	}
}
