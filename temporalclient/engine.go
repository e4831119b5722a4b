// Package temporalclient is the workflow engine the API uses (baocun.Engine) on a
// Temporal client: a cycle starts as the Cycle workflow, a human step is an Update
// of its pairing's or cycle's workflow.
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"baocun"
	"baocun/workflows"
)

// Engine is baocun.Engine on a Temporal client.
type Engine struct {
	c     client.Client
	store Store
}

// Store is where a step's committed changes are written: the application database.
type Store interface {
	// AppliedSeq is the number of the pairing's last change written.
	AppliedSeq(ctx context.Context, pairingID int64) (int64, error)
	// ApplyChanges writes changes in order in one transaction, each once.
	ApplyChanges(ctx context.Context, chs []baocun.Change) error
}

// New returns the engine on c (serve's client signs every step: cmd/baocun), writing
// the pairings' committed steps to store.
func New(c client.Client, store Store) *Engine { return &Engine{c: c, store: store} }

var _ baocun.Engine = (*Engine)(nil)

// StartCycle starts the Cycle workflow, its ID the cycle's, duplicates refused; a
// start whose answer was lost but which happened counts as started.
func (e *Engine) StartCycle(ctx context.Context, cy *baocun.Cycle, n int) (string, error) {
	wid := workflows.CycleWorkflowID(cy.ID)
	_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wid, TaskQueue: baocun.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Cycle, workflows.CycleInputOf(cy, n))
	if err == nil {
		return wid, nil
	}
	if _, derr := e.c.DescribeWorkflowExecution(ctx, wid, ""); derr == nil {
		return wid, nil
	}
	return "", err
}

// HasCycle describes the Cycle workflow.
func (e *Engine) HasCycle(ctx context.Context, cycle int64) (bool, error) {
	_, err := e.c.DescribeWorkflowExecution(ctx, workflows.CycleWorkflowID(cycle), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	return err == nil, err
}

// CancelCycle requests the Cycle workflow's cancellation (asking twice is harmless).
func (e *Engine) CancelCycle(ctx context.Context, cycle int64) error {
	if err := e.c.CancelWorkflow(ctx, workflows.CycleWorkflowID(cycle), ""); err != nil {
		return engineError(err)
	}
	return nil
}

// Step sends the step's Update and waits for it to complete, even if ctx's caller
// has gone: once sent, its outcome is recorded once, by the workflow.
//
// The step's keys are Update IDs, which a workflow run remembers with their
// outcomes: a repeat attaches to the first attempt, in flight or done; an attempt
// refused after its workflow accepted it (another step got there first) took
// nothing, so a repeat from another request goes on to the next key and tries again.
func (e *Engine) Step(ctx context.Context, st baocun.Step) (baocun.StepResult, error) {
	wid, update, arg, ok := workflows.Update(st)
	if !ok {
		return baocun.StepResult{}, fmt.Errorf("temporalclient: no Update takes a %q step", st.Kind)
	}
	if ps, ok := arg.(workflows.Step); ok {
		// The workflow forgets the changes the database holds.
		applied, err := e.store.AppliedSeq(ctx, st.Pairing)
		if err != nil {
			return baocun.StepResult{}, err
		}
		ps.Applied = applied
		arg = ps
	}
	keys := st.Keys
	if len(keys) == 0 {
		keys = []string{""} // Temporal picks an ID: a new step
	}
	var res workflows.StepResult
	var err error
	for _, id := range keys {
		var h client.WorkflowUpdateHandle
		h, err = e.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			UpdateID: id, WorkflowID: wid, UpdateName: update, Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, &res)
		}
		var app *temporal.ApplicationError
		var by string
		if err == nil || !errors.As(err, &app) || app.Details(&by) != nil || by == "" || by == st.Audit.RequestID {
			break // taken, refused for this request, or not a step's refusal at all
		}
		// An earlier request's attempt was refused: this one tries again.
	}
	if err != nil {
		return baocun.StepResult{}, engineError(err)
	}
	if err := e.write(ctx, res.Changes); err != nil {
		return baocun.StepResult{}, err
	}
	return res.Result(), nil
}

// writeTimeout bounds a step's write after its workflow committed it.
const writeTimeout = 30 * time.Second

// write writes a step's committed changes before the step is answered, so whoever
// is told it was taken reads it at once (read-your-writes), even if the caller has
// gone. A write that fails leaves the step committed and unanswered: the caller's
// repeat under its key writes it, and the workflow writes it itself after a quiet
// spell (workflows.FlushAfter).
func (e *Engine) write(ctx context.Context, chs []baocun.Change) error {
	if len(chs) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := e.store.ApplyChanges(wctx, chs)
	// A step on a pairing just launched can close its first task before the launch
	// batch's write opens it (that write comes once every pairing of the batch
	// runs): this write waits for it, a moment at most.
	for wait := 20 * time.Millisecond; errors.Is(err, baocun.ErrNotOpened) && wctx.Err() == nil; wait = min(2*wait, time.Second) {
		select {
		case <-wctx.Done():
		case <-time.After(wait):
			err = e.store.ApplyChanges(wctx, chs)
		}
	}
	if err == nil {
		return nil
	}
	var refused *baocun.Error
	if errors.As(err, &refused) && refused.Code != baocun.EUNAVAILABLE {
		// Refused, not failed: the database disagrees with the workflow (a row
		// changed under it), and no repeat writes it until that is mended.
		return &baocun.Error{Code: baocun.EINTERNAL, Message: "步骤已受理，但数据库拒绝写入，需运维处理 The step was taken but the database refused its write: an operator must look.", Err: fmt.Errorf("%w: %w", baocun.ErrUnwritten, err)}
	}
	return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "步骤已受理，但尚未写入数据库：请用同一 Idempotency-Key 重试 The step was taken but not yet written: send it again under the same Idempotency-Key.", Err: fmt.Errorf("%w: %w", baocun.ErrUnwritten, err)}
}

// engineError turns what Temporal said into the module's Error: a step refused by
// its workflow keeps the code the workflow gave it.
func engineError(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == workflows.StepRefused {
		// Our own step, refused by a worker: the instances do not share one key.
		return &baocun.Error{Code: baocun.EINTERNAL, Message: "工作流拒绝了步骤签名：各实例的 --step-key 是否相同？ A worker refused the step's signature: do all instances share one --step-key?", Err: err}
	}
	if errors.As(err, &app) && baocun.IsCode(app.Type()) {
		return &baocun.Error{Code: app.Type(), Message: app.Message(), Err: err}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return &baocun.Error{Code: baocun.ECONFLICT, Message: "该流程已结束或尚未就绪 The workflow is not running (closed, or not started yet).", Err: fmt.Errorf("%w: %w", baocun.ErrNoRun, err)}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎未及时响应 The workflow engine did not answer in time.", Err: err}
	}
	return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎不可用 The workflow engine is unavailable.", Err: err}
}
