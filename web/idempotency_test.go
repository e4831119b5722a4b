package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// TestStepIdempotencyKey: a step sent again under its Idempotency-Key after its first
// attempt was refused is tried again and taken once; every later repeat gets that
// answer; a bad key changes nothing. The engine (in-process) refuses its first step
// and takes every later one, holding each key to its first answer as Temporal's
// Update IDs do (temporalclient's TestStepKeys shows that on a real server).
func TestStepIdempotencyKey(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	calls, taken := 0, 0
	f.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
		if calls++; calls == 1 {
			return baocun.StepResult{}, baocun.Errorf(baocun.ECONFLICT, "正在处理 being decided by someone else")
		}
		taken++
		return baocun.StepResult{Stage: string(baocun.StageReviews), Closed: []string{st.Decision.TaskID}}, nil
	}
	f.user("rev", "P3", "", g(baocun.RoleReviewer, "*"))
	token := f.login(f.srv, "rev")
	send := func(key string) (int, string, baocun.StepResult) {
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
		var res baocun.StepResult
		json.Unmarshal(body, &res)
		return resp.StatusCode, resp.Header.Get("X-Request-ID"), res
	}

	if status, _, _ := send("bad key"); status != http.StatusBadRequest || len(f.fake.Steps()) != 0 {
		t.Fatalf("a key with a space: %d, %d sent; want 400, none sent", status, len(f.fake.Steps()))
	}
	// The refusal is in the trail with what the request carried.
	refusals, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Limit: 10})
	if err != nil || len(refusals) != 1 || refusals[0].Status != http.StatusBadRequest || !strings.Contains(refusals[0].Summary, `"task_id":"1-7"`) {
		t.Fatalf("the bad key's audit entries: %+v, %v; want one 400 with the payload's summary", refusals, err)
	}
	if status, _, _ := send("decide-1"); status != http.StatusConflict {
		t.Fatalf("the first attempt: %d, want the workflow's 409", status)
	}
	status, second, res := send("decide-1")
	if status != http.StatusOK || res.Request != second || taken != 1 {
		t.Fatalf("sent again: %d answering %q (this request %q), %d taken; want 200 answering itself, 1 taken", status, res.Request, second, taken)
	}
	for range 3 {
		status, id, again := send("decide-1")
		if status != http.StatusOK || again.Request != second || id == second || taken != 1 {
			t.Fatalf("a repeat: %d answering %q; want 200 answering %q, still 1 taken (%d)", status, again.Request, second, taken)
		}
	}
	// The engine had the step from the session's user, under the key's chain: the
	// same chain for every repeat, none without a key.
	steps := f.fake.Steps()
	for i, st := range steps {
		if st.Actor != "rev" || st.Person != "P3" || st.Kind != baocun.StepDecideReview || st.Pairing != 1 {
			t.Fatalf("step %d: %+v", i, st)
		}
		if len(st.Keys) != 20 || !slices.Equal(st.Keys, steps[0].Keys) {
			t.Fatalf("step %d's keys %v, want the chain of %v", i, st.Keys, steps[0].Keys)
		}
	}
	// Without a key every request is a new step.
	if status, _, _ := send(""); status != http.StatusOK || taken != 2 {
		t.Fatalf("no key: %d, %d taken; want 200, 2", status, taken)
	}
	if last := f.fake.Steps(); len(last[len(last)-1].Keys) != 0 {
		t.Fatalf("a step without a key went with keys %v", last[len(last)-1].Keys)
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
	// The engine writes nothing, so only the gate's entries are here: of the answered
	// requests, the three repeats (the attempt taken and the keyless one are written
	// by a real workflow's step, with the step).
	if answered != 3 {
		t.Fatalf("%d allowed and answered entries, want the 3 repeats", answered)
	}
	// A step its workflow took whose write failed: 503, and no refusal from the gate —
	// the step's own entry, written with its change, records the request.
	f.fake.Take = func(baocun.Step) (baocun.StepResult, error) {
		return baocun.StepResult{}, &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "步骤已受理 taken, not yet written", Err: baocun.ErrUnwritten}
	}
	if status, _, _ := send("decide-2"); status != http.StatusServiceUnavailable {
		t.Fatalf("a taken step not written: %d, want 503", status)
	}
	if entries, _, err = f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Limit: 100}); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Status == http.StatusServiceUnavailable {
			t.Fatalf("the gate recorded a taken step as refused: %+v", e)
		}
	}
}
