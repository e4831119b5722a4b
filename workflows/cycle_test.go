package workflows_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/workflows"
)

// TestCycleFanOutAndCancel runs Cycle → PairingBatch → Pairing as child workflows in
// the test environment: every pairing's first task is written by its batch, the
// pairings take steps, and cancelling the cycle cancels everything.
func TestCycleFanOutAndCancel(t *testing.T) {
	tests := []struct {
		name      string
		pairings  int
		batchSize int
		batches   []string // "from-to"
	}{
		{"batches of two", 5, 2, []string{"0-2", "2-4", "4-5"}},
		{"the default batch size", 3, 0, []string{"0-3"}},
		{"one batch exactly", 4, 4, []string{"0-4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.pairings, nil)
			env := newTestEnv()
			env.SetStartTime(launch)
			env.SetTestTimeout(time.Minute)
			env.RegisterActivity(f.acts)
			env.RegisterWorkflow(workflows.Cycle)
			env.RegisterWorkflow(workflows.PairingBatch)
			env.RegisterWorkflow(workflows.Pairing)
			started := map[string][]string{}
			env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
				started[info.WorkflowType.Name] = append(started[info.WorkflowType.Name], info.WorkflowExecution.ID)
			})
			first := f.pairings[0]
			nom := f.api()
			env.RegisterDelayedCallback(func() {
				// A pairing's workflow takes its steps under its own id.
				if err := env.UpdateWorkflowByID(workflows.PairingWorkflowID(first.ID), workflows.UpdateNominateTeam, "nominate", nom,
					nominate("P1", "P2", "P3")()); err != nil {
					t.Error(err)
				}
			}, 12*time.Hour)
			env.RegisterDelayedCallback(func() {
				for _, p := range f.pairings {
					ts := f.tasks(p.ID)
					want := []string{"nominate_team:open"}
					if p.ID == first.ID {
						want = []string{"nominate_team:done:submitted", "approve_team:open"}
					}
					if got := f.taskKinds(p.ID); !slices.Equal(got, want) {
						t.Errorf("pairing %d tasks %v, want %v", p.ID, got, want)
					}
					if ts[0].Kind == baocun.TaskNominateTeam && (ts[0].DueDate != "2027-01-31" || ts[0].ID != fmt.Sprintf("%d-1", p.ID) || !ts[0].OpenedAt.Equal(launch)) {
						t.Errorf("pairing %d nomination %+v", p.ID, ts[0])
					}
				}
				var got []string
				for _, e := range f.audits("cycle.batch_started") {
					var from, to int
					fmt.Sscanf(e.Summary[strings.Index(e.Summary, `"from"`):], `"from":%d,"to":%d`, &from, &to)
					got = append(got, fmt.Sprintf("%d-%d", from, to))
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.batches) {
					t.Errorf("batches started %v, want %v", got, tt.batches)
				}
				if n := len(started["PairingBatch"]); n != len(tt.batches) {
					t.Errorf("%d PairingBatch workflows started %v, want %d", n, started["PairingBatch"], len(tt.batches))
				}
				var want []string
				for _, p := range f.pairings {
					want = append(want, workflows.PairingWorkflowID(p.ID))
				}
				ids := slices.Sorted(slices.Values(started["Pairing"]))
				if !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
					t.Errorf("Pairing workflows %v, want %v", ids, want)
				}
				env.CancelWorkflow()
			}, day)
			env.ExecuteWorkflow(workflows.Cycle, workflows.CycleInput{CycleID: f.cycleID, Pairings: tt.pairings, Settings: f.settings,
				Clock: f.clock, BatchSize: tt.batchSize})
			if !env.IsWorkflowCompleted() {
				t.Fatal("cycle did not complete")
			}
			if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
				t.Fatalf("cycle ended with %v, want cancelled", err)
			}
			if !nom.accepted || nom.err != nil {
				t.Errorf("nomination in a child: accepted %v err %v", nom.accepted, nom.err)
			}
			c, err := f.db.Cycle(f.ctx, f.cycleID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != baocun.CycleCancelled || c.Stages[baocun.StageCancelled] != tt.pairings || c.PairingsTotal != tt.pairings {
				t.Errorf("cycle status %s stages %v, want cancelled with every pairing cancelled", c.Status, c.Stages)
			}
			for _, p := range f.pairings {
				for _, ta := range f.tasks(p.ID) {
					if ta.Status == baocun.TaskOpen {
						t.Errorf("pairing %d task %s %s still open", p.ID, ta.ID, ta.Kind)
					}
				}
				if n := count(f.eventKinds(p.ID), hasKind("pairing.cancelled")); n != 1 {
					t.Errorf("pairing %d: %d pairing.cancelled events", p.ID, n)
				}
			}
			if n := len(f.audits("pairing.cancel")); n != tt.pairings {
				t.Errorf("%d pairing.cancel audit entries, want %d", n, tt.pairings)
			}
			if es := f.audits("cycle.cancelled"); len(es) != 1 || es[0].CycleID != fmt.Sprint(f.cycleID) {
				t.Errorf("cycle.cancelled audit %+v", es)
			}
		})
	}
}
