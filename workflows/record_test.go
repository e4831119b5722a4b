//go:build record

package workflows_test

import (
	"context"
	"os"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"baocun"
	"baocun/workflows"
)

// TestRecord runs workflows on an in-memory Temporal server and saves their histories
// to testdata/ for TestReplay. It is behind the "record" build tag so the ordinary
// test binary does not embed a server. Record a new file whenever a workflow gains a
// new path; never re-record an old file to make a replay pass.
func TestRecord(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ts.NewWorker(baocun.TaskQueue, func(r worker.Registry) { workflows.Register(r) })
	c := ts.GetDefaultClient()
	ctx := context.Background()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "probe-1", TaskQueue: baocun.TaskQueue},
		workflows.Probe, workflows.ProbeInput{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), UpdateName: workflows.ProbeAckUpdate, Args: []any{"recorded"},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	record(t, c, run.GetID(), "testdata/probe_v1.json")
}

func record(t *testing.T, c client.Client, id, file string) {
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
