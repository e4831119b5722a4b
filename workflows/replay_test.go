package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"

	"baocun/workflows"
)

// TestReplay replays every history recorded in testdata/ against today's workflow
// code: a change that would break a running workflow fails here. Histories are
// recorded by `go test -tags record -run TestRecord ./workflows/` (record_test.go).
func TestReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			// With the worker's guard, as serve runs them: it checks Updates as they
			// arrive and never on replay, so unsigned histories replay unchanged.
			key, err := workflows.NewStepKey(make([]byte, workflows.StepKeyBytes))
			if err != nil {
				t.Fatal(err)
			}
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				Interceptors: []interceptor.WorkerInterceptor{workflows.GuardInterceptor(key, func(r workflows.Refusal) { t.Errorf("refused on replay: %+v", r) })},
			})
			if err != nil {
				t.Fatal(err)
			}
			workflows.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
