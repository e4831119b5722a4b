package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"baocun/workflows"
)

// groupRuns counts runs by type and the changes they took, in any order and with a
// change recorded twice (a continued run carries its predecessor's attribute), and
// names each group's oldest start.
func TestGroupRuns(t *testing.T) {
	at := func(min int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(2027, 1, 1, 0, min, 0, 0, time.UTC))
	}
	run := func(typ string, start int, changes ...string) *workflowpb.WorkflowExecutionInfo {
		info := &workflowpb.WorkflowExecutionInfo{Type: &commonpb.WorkflowType{Name: typ}, StartTime: at(start),
			Execution: &commonpb.WorkflowExecution{WorkflowId: typ}}
		if changes != nil {
			p, err := converter.GetDefaultDataConverter().ToPayload(changes)
			if err != nil {
				t.Fatal(err)
			}
			info.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{changeVersionAttribute: p}}
		}
		return info
	}
	groups, err := groupRuns([]*workflowpb.WorkflowExecutionInfo{
		run("Pairing", 5), run("Pairing", 3),
		run("Pairing", 9, "report-window-1", "acceptance-wait-1"), run("Pairing", 7, "acceptance-wait-1", "report-window-1", "report-window-1"),
		run("Cycle", 1),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []runGroup{
		{Type: "Cycle", Runs: 1, Earliest: at(1).AsTime()},
		{Type: "Pairing", Runs: 2, Earliest: at(3).AsTime()},
		{Type: "Pairing", Changes: []string{"acceptance-wait-1", "report-window-1"}, Runs: 2, Earliest: at(7).AsTime()},
	}
	if len(groups) != len(want) {
		t.Fatalf("groups %+v, want %+v", groups, want)
	}
	for i := range want {
		g, w := groups[i], want[i]
		if g.Type != w.Type || strings.Join(g.Changes, ",") != strings.Join(w.Changes, ",") || g.Runs != w.Runs || !g.Earliest.Equal(w.Earliest) {
			t.Errorf("group %d: %+v, want %+v", i, g, w)
		}
	}
	// A value that is not a list of keywords is named, not guessed at.
	bad := run("Pairing", 1)
	bad.SearchAttributes = &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{changeVersionAttribute: {Data: []byte("{")}}}
	if _, err := groupRuns([]*workflowpb.WorkflowExecutionInfo{bad}); err == nil || !strings.Contains(err.Error(), changeVersionAttribute) {
		t.Fatalf("a malformed attribute: %v", err)
	}
}

// checkRuns runs `baocun runs` against a live deployment with the operator's
// certificate and wants each workflow type of a launched cycle listed with the
// changes its new runs take: the Pairing's commit-first, the others none (v0.1.0).
func checkRuns(t *testing.T, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"baocun", "runs"}, args...), noEnv, &out, &out); err != nil {
		t.Fatalf("baocun runs: %v\n%s", err, out.String())
	}
	for _, want := range []struct{ typ, changes string }{{"Cycle", baseline}, {"PairingBatch", baseline}, {"Pairing", workflows.CommitFirst + "-1"}} {
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == want.typ && strings.Contains(line, want.changes) {
				found = true
			}
		}
		if !found {
			t.Errorf("baocun runs lists no open %s run on %s:\n%s", want.typ, want.changes, out.String())
		}
	}
}
