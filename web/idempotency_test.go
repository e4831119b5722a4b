package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/sqldb/sqldbtest"
	"baocun/workflows"
)

// stepStub stands in for a pairing's workflow: its decision handler, answering
// through workflows.Answered as every step handler does, refuses its first step
// after accepting it (as a step that another got to first is refused) and takes
// every later one.
func stepStub(ctx workflow.Context) error {
	calls, taken := 0, 0
	if err := workflow.SetQueryHandler(ctx, "taken", func() (int, error) { return taken, nil }); err != nil {
		return err
	}
	handle := func(ctx workflow.Context, st workflows.Step) (workflows.StepResult, error) {
		if calls++; calls == 1 {
			return workflows.StepResult{}, temporal.NewNonRetryableApplicationError("正在处理 being decided by someone else", baocun.ECONFLICT, nil)
		}
		taken++
		return workflows.StepResult{Stage: baocun.StageReviews, Closed: []string{st.Decision.TaskID}}, nil
	}
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdateDecideReview, workflows.Answered(handle, func(st workflows.Step) string { return st.Audit.RequestID })); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

// TestStepIdempotencyKey: a step sent again under its Idempotency-Key after its first
// attempt was refused is tried again and taken once; every later repeat gets that
// answer; a bad key changes nothing.
func TestStepIdempotencyKey(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	const queue = "idempotency-test"
	w := worker.New(f.engine, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(stepStub, workflow.RegisterOptions{Name: "StepStub"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if _, err := f.engine.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.PairingWorkflowID(1), TaskQueue: queue}, "StepStub"); err != nil {
		t.Fatal(err)
	}
	f.user("rev", "P3", "", g(baocun.RoleReviewer, "*"))
	token := f.login(f.srv, "rev")
	send := func(key string) (int, string, workflows.StepResult) {
		t.Helper()
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/pairings/1/decisions", strings.NewReader(`{"task_id":"1-7","outcome":"approve"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var res workflows.StepResult
		json.Unmarshal(body, &res)
		return resp.StatusCode, resp.Header.Get("X-Request-ID"), res
	}
	taken := func() int {
		t.Helper()
		v, err := f.engine.QueryWorkflow(ctx, workflows.PairingWorkflowID(1), "", "taken")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := v.Get(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if status, _, _ := send("bad key"); status != http.StatusBadRequest || taken() != 0 {
		t.Fatalf("a key with a space: %d, %d taken; want 400, none", status, taken())
	}
	if status, _, _ := send("decide-1"); status != http.StatusConflict {
		t.Fatalf("the first attempt: %d, want the workflow's 409", status)
	}
	status, second, res := send("decide-1")
	if status != http.StatusOK || res.Request != second || taken() != 1 {
		t.Fatalf("sent again: %d answering %q (this request %q), %d taken; want 200 answering itself, 1 taken", status, res.Request, second, taken())
	}
	for range 3 {
		status, id, again := send("decide-1")
		if status != http.StatusOK || again.Request != second || id == second || taken() != 1 {
			t.Fatalf("a repeat: %d answering %q; want 200 answering %q, still 1 taken (%d)", status, again.Request, second, taken())
		}
	}
	// Without a key every request is a new step.
	if status, _, _ := send(""); status != http.StatusOK || taken() != 2 {
		t.Fatalf("no key: %d, %d taken; want 200, 2", status, taken())
	}
	// Each repeat is in the trail as an allowed request that was answered.
	entries, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, e := range entries {
		if e.Decision == baocun.DecisionAllow && e.Status == http.StatusOK {
			answered++
		}
	}
	// The stub writes nothing, so only the gate's entries are here: of the answered
	// requests, the three repeats (the attempt taken and the keyless one are written
	// by a real workflow's step, with the step).
	if answered != 3 {
		t.Fatalf("%d allowed and answered entries, want the 3 repeats", answered)
	}
}
