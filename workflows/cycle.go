package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
)

// BatchSize is how many pairings one PairingBatch starts: a batch's history holds
// about three events a pairing, so 500 keep it near 2,000 events, well under the
// 10,240-event warning, and a 20,000-pairing cycle needs only 40 batches.
const BatchSize = 500

// LaunchBatchSize is the batch size a launch asks for (it is kept in the cycle's
// input, so a running cycle never changes batches). A parent's history is written
// one event at a time, so smaller batches start their children in parallel; 100
// keeps a 20,000-pairing cycle at 200 batches, about 600 events in its history.
const LaunchBatchSize = 100

// CycleInput starts a cycle's workflow; the pairings themselves are in the database.
type CycleInput struct {
	CycleID   int64                `json:"cycle_id"`
	Pairings  int                  `json:"pairings"`
	Settings  baocun.CycleSettings `json:"settings"`
	Clock     baocun.Clock         `json:"clock"`
	BatchSize int                  `json:"batch_size,omitempty"` // default BatchSize
}

// BatchInput starts one batch: the pairings of the cycle with ordinals [From, To).
type BatchInput struct {
	CycleID  int64                `json:"cycle_id"`
	Index    int                  `json:"index"`
	From     int                  `json:"from"`
	To       int                  `json:"to"`
	Settings baocun.CycleSettings `json:"settings"`
	Clock    baocun.Clock         `json:"clock"`
}

// CycleWorkflowID and the others name each workflow after its record, so a retried
// launch or a replayed start never starts a second one.
func CycleWorkflowID(id int64) string           { return fmt.Sprintf("cycle-%d", id) }
func BatchWorkflowID(cycle int64, i int) string { return fmt.Sprintf("cycle-%d-batch-%d", cycle, i) }
func PairingWorkflowID(id int64) string         { return fmt.Sprintf("pairing-%d", id) }

// childOptions make a cancelled parent ask its children to cancel and wait for them
// to record it, rather than terminating them mid-step.
func childOptions(ctx workflow.Context, id string) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          id,
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
	})
}

// Cycle runs one cycle: it fans its pairings out in batches (Cycle → PairingBatch →
// Pairing), waits for every batch, then runs the commendation. Cancelling it cancels
// every pairing.
func Cycle(ctx workflow.Context, in CycleInput) error {
	// The commendation's Updates and query answer from the start (a step sent early
	// is refused as not begun); registering them writes nothing to history.
	c := newCommendRun(in)
	if err := c.register(ctx); err != nil {
		return err
	}
	size := in.BatchSize
	if size <= 0 {
		size = BatchSize
	}
	var batches []workflow.ChildWorkflowFuture
	for i, from := 0, 0; from < in.Pairings; i, from = i+1, from+size {
		b := BatchInput{CycleID: in.CycleID, Index: i, From: from, To: min(from+size, in.Pairings), Settings: in.Settings, Clock: in.Clock}
		batches = append(batches, workflow.ExecuteChildWorkflow(childOptions(ctx, BatchWorkflowID(in.CycleID, i)), PairingBatch, b))
	}
	var failed error
	for _, f := range batches {
		if err := f.Get(ctx, nil); err != nil && failed == nil {
			failed = err
		}
	}
	if ctx.Err() != nil {
		return cycleCancelled(ctx, in)
	}
	if failed != nil {
		return failed
	}
	if err := c.run(ctx); err != nil {
		if ctx.Err() != nil {
			return cycleCancelled(ctx, in)
		}
		return err
	}
	return nil
}

// cycleCancelled records a cancelled cycle's status.
func cycleCancelled(ctx workflow.Context, in CycleInput) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	ch := baocun.Change{At: workflow.Now(dctx), Key: fmt.Sprintf("cycle-%d/cancelled", in.CycleID),
		Cycle: &baocun.CycleStatus{ID: in.CycleID, Status: baocun.CycleCancelled},
		Audit: []baocun.AuditEntry{{Actor: "system", Action: "cycle.cancelled", Resource: fmt.Sprintf("cycles/%d", in.CycleID),
			CycleID: fmt.Sprint(in.CycleID), Summary: fmt.Sprintf(`{"pairings":%d}`, in.Pairings)}}}
	if err := applyChange(dctx, ch); err != nil {
		return err
	}
	return temporal.NewCanceledError()
}

// PairingBatch starts one Pairing workflow per pairing of its range, opens their
// first tasks in one write once every one is running, and waits for them all.
func PairingBatch(ctx workflow.Context, in BatchInput) error {
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	var ps []baocun.Pairing
	if err := workflow.ExecuteActivity(actx, (*activities.Activities).LoadPairings, in.CycleID, in.From, in.To).Get(ctx, &ps); err != nil {
		return err
	}
	now := workflow.Now(ctx)
	futures := make([]workflow.ChildWorkflowFuture, len(ps))
	ch := baocun.Change{At: now, Key: fmt.Sprintf("cycle-%d/batch-%d/open", in.CycleID, in.Index)}
	for i, p := range ps {
		s := NewPairingState(p, in.Settings, in.Clock, now)
		ch.Open = append(ch.Open, s.Tasks...)
		futures[i] = workflow.ExecuteChildWorkflow(childOptions(ctx, PairingWorkflowID(p.ID)), Pairing, s)
	}
	for _, f := range futures {
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return err
		}
	}
	ch.Audit = []baocun.AuditEntry{{Actor: "system", Action: "cycle.batch_started", Resource: fmt.Sprintf("cycles/%d", in.CycleID),
		CycleID: fmt.Sprint(in.CycleID), Summary: fmt.Sprintf(`{"batch":%d,"from":%d,"to":%d,"pairings":%d}`, in.Index, in.From, in.To, len(ps))}}
	if err := applyChange(ctx, ch); err != nil {
		return err
	}
	var failed error
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil && failed == nil && !temporal.IsCanceledError(err) {
			failed = err
		}
	}
	if ctx.Err() != nil {
		return temporal.NewCanceledError()
	}
	return failed
}

// applyChange writes a step through the Apply activity. It is a regular activity,
// not a local one, on purpose: the Update that asked for it is accepted in history
// before the write, so a crash between the write and the workflow's next task ends
// with the activity retried (and, by its key, writing nothing twice), never with the
// database ahead of a workflow that forgot the step (TestCrashLosesNothingAcknowledged
// caught exactly that with local activities).
func applyChange(ctx workflow.Context, ch baocun.Change) error {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	return workflow.ExecuteActivity(ctx, (*activities.Activities).Apply, ch).Get(ctx, nil)
}
