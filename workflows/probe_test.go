package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"baocun"
	"baocun/workflows"
)

// updateCallbacks records what an Update did in the test environment.
type updateCallbacks struct {
	accepted, rejected bool
	err                error
	result             any
	// write, if set, writes a completed step's committed changes, as the API does;
	// its failure is the step's error.
	write func([]baocun.Change) error
}

func (c *updateCallbacks) Accept()          { c.accepted = true }
func (c *updateCallbacks) Reject(err error) { c.rejected, c.err = true, err }
func (c *updateCallbacks) Complete(r any, e error) {
	c.result, c.err = r, e
	if res, ok := r.(workflows.StepResult); ok && e == nil && c.write != nil && len(res.Changes) > 0 {
		if err := c.write(res.Changes); err != nil {
			c.err = fmt.Errorf("the API's write: %w", err)
		}
	}
}

func TestProbeWaitsForTimerAndAck(t *testing.T) {
	tests := []struct {
		name    string
		ackAt   time.Duration // when the update arrives
		note    string
		wantErr bool // validator rejects
	}{
		{"ack before timer", time.Hour, "before", false},
		{"ack after timer", 30 * time.Hour, "after", false},
		{"empty note rejected", time.Hour, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			cb := &updateCallbacks{}
			env.RegisterDelayedCallback(func() {
				env.UpdateWorkflow(workflows.ProbeAckUpdate, "u1", cb, tt.note)
			}, tt.ackAt)
			if tt.wantErr {
				// Nothing else will ack: the workflow must still be waiting.
				env.RegisterDelayedCallback(func() {
					v, err := env.QueryWorkflow(workflows.ProbeStateQuery)
					if err != nil {
						t.Fatal(err)
					}
					var st workflows.ProbeResult
					v.Get(&st)
					if !st.TimerFired || st.Ack != "" {
						t.Errorf("state = %+v, want timer fired and no ack", st)
					}
					env.CancelWorkflow()
				}, 48*time.Hour)
			}
			env.ExecuteWorkflow(workflows.Probe, workflows.ProbeInput{Wait: 24 * time.Hour})
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if tt.wantErr {
				if !cb.rejected {
					t.Fatalf("update with note %q was not rejected", tt.note)
				}
				return
			}
			if !cb.accepted || cb.err != nil {
				t.Fatalf("update accepted=%v err=%v", cb.accepted, cb.err)
			}
			var res workflows.ProbeResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Ack != tt.note || !res.TimerFired {
				t.Fatalf("result = %+v", res)
			}
		})
	}
}
