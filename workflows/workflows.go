// Package workflows holds Baocun's Temporal workflows: the programme's lifecycle as
// durable code. Workflows stay deterministic; everything that touches the world is an
// activity (package activities) called through a nil *activities.Activities pointer.
// Every change to a workflow keeps the replay tests over testdata/ passing, and a
// change in behaviour goes behind workflow.GetVersion.
package workflows

import (
	"go.temporal.io/sdk/worker"
)

// Register registers every workflow with the worker.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(Probe)
	r.RegisterWorkflow(Cycle)
	r.RegisterWorkflow(PairingBatch)
	r.RegisterWorkflow(Pairing)
}
