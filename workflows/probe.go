package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Probe is a diagnostic workflow that exercises what every pairing relies on: a
// durable timer and a human step delivered as an Update. An operator can start one to
// prove the engine end to end (it survives a restart of the process); the restart
// tests use it for exactly that.
func Probe(ctx workflow.Context, in ProbeInput) (ProbeResult, error) {
	var res ProbeResult
	if err := workflow.SetQueryHandler(ctx, ProbeStateQuery, func() (ProbeResult, error) {
		return res, nil
	}); err != nil {
		return res, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ProbeAckUpdate,
		func(ctx workflow.Context, note string) (string, error) {
			res.Ack = note
			return "acknowledged", nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, note string) error {
			if note == "" {
				return errors.New("note: required")
			}
			if res.Ack != "" {
				return errors.New("already acknowledged")
			}
			return nil
		}},
	); err != nil {
		return res, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		if workflow.Sleep(ctx, in.Wait) == nil {
			res.TimerFired = true
		}
	})
	if err := workflow.Await(ctx, func() bool { return res.Ack != "" && res.TimerFired }); err != nil {
		return res, err
	}
	return res, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// Names of Probe's handlers.
const (
	ProbeAckUpdate  = "ack"
	ProbeStateQuery = "state"
)

// ProbeInput says how long Probe's timer runs.
type ProbeInput struct {
	Wait time.Duration `json:"wait"`
}

// ProbeResult is what Probe saw.
type ProbeResult struct {
	Ack        string `json:"ack"`
	TimerFired bool   `json:"timer_fired"`
}
