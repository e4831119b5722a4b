package temporalclient_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"baocun"
	"baocun/temporalclient"
	"baocun/workflows"
)

// stepStub stands in for a pairing's workflow: its decision handler, answering
// through workflows.Answered as every step handler does, refuses its first step
// after accepting it (as a step that another got to first is refused) and takes
// every later one, answering with its committed changes numbered as they were taken
// that the step says the database lacks, as a pairing's workflow does.
// The "applied" query is what the last step said the database held.
func stepStub(ctx workflow.Context) error {
	calls, taken := 0, 0
	var applied int64 = -1
	var committed []baocun.Change
	if err := workflow.SetQueryHandler(ctx, "taken", func() (int, error) { return taken, nil }); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, "applied", func() (int64, error) { return applied, nil }); err != nil {
		return err
	}
	handle := func(ctx workflow.Context, st workflows.Step) (workflows.StepResult, error) {
		applied = st.Applied
		if calls++; calls == 1 {
			return workflows.StepResult{}, temporal.NewNonRetryableApplicationError("正在处理 being decided by someone else", baocun.ECONFLICT, nil)
		}
		taken++
		committed = append(committed, baocun.Change{PairingID: 1, Seq: int64(taken), Key: fmt.Sprintf("c%d", taken)})
		var unwritten []baocun.Change
		for _, ch := range committed {
			if ch.Seq > st.Applied {
				unwritten = append(unwritten, ch)
			}
		}
		return workflows.StepResult{Stage: string(baocun.StageReviews), Closed: []string{st.Decision.TaskID}, Changes: unwritten}, nil
	}
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdateDecideReview, workflows.Answered(handle, func(st workflows.Step) string { return st.Audit.RequestID })); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

// store is the application database as the engine sees it: what was written, in
// order, and a failure to give.
type store struct {
	mu      sync.Mutex
	applied int64
	written []string
	fail    error
	// notOpened is how many writes to refuse as closing a task not yet opened.
	notOpened int
}

func (s *store) AppliedSeq(context.Context, int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied, nil
}

func (s *store) ApplyChanges(_ context.Context, chs []baocun.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.notOpened > 0 {
		s.notOpened--
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "not opened yet", Err: baocun.ErrNotOpened}
	}
	applied, written := s.applied, slices.Clone(s.written)
	for _, ch := range chs {
		if slices.Contains(written, ch.Key) {
			continue
		}
		if ch.Seq != applied+1 {
			return fmt.Errorf("change %d written after %d", ch.Seq, applied)
		}
		applied, written = ch.Seq, append(written, ch.Key)
	}
	s.applied, s.written = applied, written
	return nil
}

func (s *store) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.written)
}

// A step's keys are Update IDs: an attempt refused for one request is tried again
// by a repeat from another, which is taken once; every later repeat, from any
// request, gets that answer; a step without keys is a new step each time; the
// workflow's refusal keeps its code, and a pairing with no workflow is ErrNoRun.
func TestStepKeys(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const queue = "step-keys-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(stepStub, workflow.RegisterOptions{Name: "StepStub"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.PairingWorkflowID(1), TaskQueue: queue}, "StepStub"); err != nil {
		t.Fatal(err)
	}
	taken := func() int {
		t.Helper()
		v, err := c.QueryWorkflow(ctx, workflows.PairingWorkflowID(1), "", "taken")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := v.Get(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	db := &store{}
	e := temporalclient.New(c, db)
	step := func(request string, keys ...string) baocun.Step {
		return baocun.Step{Kind: baocun.StepDecideReview, Pairing: 1, Actor: "rev", Keys: keys,
			Audit: baocun.AuditEntry{RequestID: request}, Decision: &baocun.DecisionInput{TaskID: "1-7", Outcome: baocun.OutcomeApprove}}
	}
	keys := []string{"k", "k/2", "k/3"}

	_, err := e.Step(ctx, step("r1", keys...))
	if baocun.ErrorCode(err) != baocun.ECONFLICT || errors.Is(err, baocun.ErrNoRun) || taken() != 0 {
		t.Fatalf("the first attempt: %v, %d taken; want the workflow's conflict, none taken", err, taken())
	}
	// The same request again (its answer was lost): the same refusal, nothing taken.
	if _, err := e.Step(ctx, step("r1", keys...)); baocun.ErrorCode(err) != baocun.ECONFLICT || taken() != 0 {
		t.Fatalf("r1 again: %v, %d taken", err, taken())
	}
	res, err := e.Step(ctx, step("r2", keys...))
	if err != nil || res.Request != "r2" || res.Stage != string(baocun.StageReviews) || taken() != 1 {
		t.Fatalf("r2: %+v, %v, %d taken; want taken for r2, once", res, err, taken())
	}
	for _, r := range []string{"r2", "r3"} {
		if again, err := e.Step(ctx, step(r, keys...)); err != nil || again.Request != "r2" || taken() != 1 {
			t.Fatalf("a repeat from %s: %+v, %v, %d taken; want r2's answer, still 1 taken", r, again, err, taken())
		}
	}
	if got := db.keys(); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("written %v, want the taken step's change once", got)
	}
	if res, err := e.Step(ctx, step("r4")); err != nil || res.Request != "r4" || taken() != 2 {
		t.Fatalf("no keys: %+v, %v, %d taken; want a new step", res, err, taken())
	}
	if got, n := db.keys(), queryInt(t, c, "applied"); !slices.Equal(got, []string{"c1", "c2"}) || n != 1 {
		t.Fatalf("written %v, the step told the database held %d; want c1 c2 and 1", got, n)
	}
	// A step whose write fails was taken but is not answered as taken; its repeat
	// under the same key writes it, and takes nothing more.
	db.mu.Lock()
	db.fail = errors.New("database is locked")
	db.mu.Unlock()
	if _, err := e.Step(ctx, step("r6", "w")); baocun.ErrorCode(err) != baocun.EUNAVAILABLE || !errors.Is(err, baocun.ErrUnwritten) || taken() != 3 || len(db.keys()) != 2 {
		t.Fatalf("a failed write: %v, %d taken, written %v; want unavailable, taken, not written", err, taken(), db.keys())
	}
	db.mu.Lock()
	db.fail = nil
	db.mu.Unlock()
	// The next step carries the unwritten one before its own, and the engine writes
	// both in order; the repeat then finds its change written.
	if _, err := e.Step(ctx, step("r7")); err != nil || taken() != 4 || !slices.Equal(db.keys(), []string{"c1", "c2", "c3", "c4"}) {
		t.Fatalf("the next step: %v, %d taken, written %v; want c3 written before c4", err, taken(), db.keys())
	}
	if res, err := e.Step(ctx, step("r6", "w")); err != nil || res.Request != "r6" || taken() != 4 || len(db.keys()) != 4 {
		t.Fatalf("its repeat: %+v, %v, %d taken, written %v; want its answer, nothing more taken or written", res, err, taken(), db.keys())
	}
	// A step closing a task whose opening write is still to come (a launch batch's)
	// waits for it, and is answered as taken once written.
	db.mu.Lock()
	db.notOpened = 3
	db.mu.Unlock()
	if res, err := e.Step(ctx, step("r8")); err != nil || res.Request != "r8" || taken() != 5 || len(db.keys()) != 5 {
		t.Fatalf("a step ahead of its task's opening: %+v, %v, %d taken, written %v; want it written once the task opens", res, err, taken(), db.keys())
	}
	st := step("r5")
	st.Pairing = 2
	if _, err := e.Step(ctx, st); baocun.ErrorCode(err) != baocun.ECONFLICT || !errors.Is(err, baocun.ErrNoRun) {
		t.Fatalf("a pairing with no workflow: %v, want ErrNoRun as a conflict", err)
	}
	if err := e.CancelCycle(ctx, 9); !errors.Is(err, baocun.ErrNoRun) {
		t.Fatalf("cancel a cycle with no workflow: %v, want ErrNoRun", err)
	}
}

func queryInt(t *testing.T, c client.Client, name string) int64 {
	t.Helper()
	v, err := c.QueryWorkflow(context.Background(), workflows.PairingWorkflowID(1), "", name)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := v.Get(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// StartCycle starts the Cycle workflow once: a second start, as by another instance
// or a resumed launch, changes nothing and is not an error; HasCycle tells.
func TestStartCycle(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := temporalclient.New(c, &store{})
	if has, err := e.HasCycle(ctx, 7); err != nil || has {
		t.Fatalf("before the start: %v, %v", has, err)
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01"}
	settings.Defaults()
	cy := &baocun.Cycle{ID: 7, Name: "第一轮", Jurisdiction: "*", Settings: settings, LaunchedAt: time.Now()}
	run, err := e.StartCycle(ctx, cy, 3)
	if err != nil || run != workflows.CycleWorkflowID(7) {
		t.Fatalf("start: %q, %v", run, err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetType().GetName(); got != "Cycle" {
		t.Fatalf("workflow type %q", got)
	}
	if again, err := e.StartCycle(ctx, cy, 3); err != nil || again != run {
		t.Fatalf("a second start: %q, %v", again, err)
	}
	if has, err := e.HasCycle(ctx, 7); err != nil || !has {
		t.Fatalf("after the start: %v, %v", has, err)
	}
	if err := e.CancelCycle(ctx, 7); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}
