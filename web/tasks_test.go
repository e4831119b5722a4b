package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// Running the programme day to day (issue 19) through the API, on both databases:
// a task reassigned is its holder's alone, and no one else's step on it reaches the
// engine; a delegate acts while the delegation runs and not after; the policy
// applies to whoever a task is given to (a reviewer of the pairing's department is
// refused as a holder or delegate); a bulk decision is one step per item, each
// authorised and audited alone, its failures item by item, repeated under its key
// without being taken twice; inspection teams score only their pairings, never a
// rater's own department, and a balanced assignment spreads the rest.
func TestTaskAssignment(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.openReviews(t)
		ctx := context.Background()
		g := func(r baocun.Role) baocun.Grant { return baocun.Grant{Role: r, Jurisdiction: "*"} }
		f.user("org", "", "", g(baocun.RoleOrganiser))
		f.user("rev1", "P3", "", g(baocun.RoleReviewer)) // of D3
		if _, err := f.db.ExecContext(ctx, "INSERT INTO people (id, name, department_code) VALUES ('P6', '孙八', 'D4'), ('P7', '周九', 'D3')"); err != nil {
			t.Fatal(err)
		}
		f.user("rev2", "P6", "", g(baocun.RoleReviewer))  // of D4
		f.user("revD2", "P2", "", g(baocun.RoleReviewer)) // of D2: never pairing 2's
		f.user("revD1", "P1", "", g(baocun.RoleReviewer)) // of D1: never pairing 1's
		f.user("member", "P1", "", baocun.Grant{Role: baocun.RoleTeamMember, Jurisdiction: "县A"})
		f.user("revA", "P7", "", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "县A"})
		tok := map[string]string{}
		for _, u := range []string{"org", "rev1", "rev2", "revD2", "revD1", "member"} {
			tok[u] = f.login(f.srv, u)
		}
		// The engine takes a decision as the workflow would: the task closes, and the
		// step's own audit entry is written with it.
		var mu sync.Mutex
		taken := map[string]int{}
		f.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
			mu.Lock()
			defer mu.Unlock()
			ch := baocun.Change{At: time.Now(), Audit: []baocun.AuditEntry{st.Audit}}
			id := ""
			switch {
			case st.Decision != nil:
				id = st.Decision.TaskID
				ch.Close = []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, Outcome: st.Decision.Outcome, By: st.Actor}}
			case st.Due != nil:
				id = "due:" + st.Due.TaskID
			case st.Score != nil:
				id = "score"
			}
			if err := f.db.ApplyChange(ctx, ch); err != nil {
				return baocun.StepResult{}, err
			}
			taken[id]++
			return baocun.StepResult{Stage: string(baocun.StageReviews), Closed: []string{id}}, nil
		}
		do := func(who, method, path string, body any) (int, string) {
			t.Helper()
			return call(t, f.srv, tok[who], method, "/api/v1"+path, body)
		}
		inbox := func(who string) []string {
			t.Helper()
			s, b := do(who, "GET", "/tasks", nil)
			var p struct{ Items []baocun.Task }
			if s != 200 || json.Unmarshal([]byte(b), &p) != nil {
				t.Fatalf("%s's inbox: %d %s", who, s, b)
			}
			var ids []string
			for _, t := range p.Items {
				ids = append(ids, t.ID)
			}
			return ids
		}
		want := func(what string, s int, b string, status int, has string) {
			t.Helper()
			if s != status || !strings.Contains(b, has) {
				t.Fatalf("%s: %d %s; want %d with %q", what, s, b, status, has)
			}
		}
		is := func(what string, status int, has string) func(int, string) {
			return func(s int, b string) {
				t.Helper()
				want(what, s, b, status, has)
			}
		}
		denials := func(action, rule string) int {
			t.Helper()
			es, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: action, Decision: baocun.DecisionDeny, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range es {
				if strings.Contains(e.Rule, rule) {
					n++
				}
			}
			return n
		}
		if got := inbox("rev2"); !slices.Equal(got, []string{"1-1", "2-1"}) {
			t.Fatalf("rev2's inbox before any assignment: %v; want both reviews (the pool)", got)
		}
		if got := inbox("revD2"); !slices.Equal(got, []string{"1-1"}) {
			t.Fatalf("revD2's inbox: %v; want 1-1 only (never their own department's)", got)
		}

		// Reassignment: only to someone the policy lets act on the task.
		is("reassigning to a reviewer of the pairing's department", 400, `"to"`)(do("org", "POST", "/tasks/2-1/reassign", map[string]string{"to": "revD2"}))
		is("reassigning to no account", 400, `"to"`)(do("org", "POST", "/tasks/2-1/reassign", map[string]string{"to": "nobody"}))
		is("reassigning to a team member", 400, `"to"`)(do("org", "POST", "/tasks/2-1/reassign", map[string]string{"to": "member"}))
		is("a reviewer reassigning", 403, "forbidden")(do("rev1", "POST", "/tasks/2-1/reassign", map[string]string{"to": "rev1"}))
		is("reassigning to rev1", 200, `"assignee":"rev1"`)(do("org", "POST", "/tasks/2-1/reassign", map[string]string{"to": "rev1", "reason": "熟悉该村 knows the village"}))
		if got := inbox("rev2"); !slices.Equal(got, []string{"1-1"}) {
			t.Fatalf("rev2's inbox once 2-1 is rev1's: %v", got)
		}
		if got := inbox("rev1"); !slices.Equal(got, []string{"1-1", "2-1"}) {
			t.Fatalf("rev1's inbox: %v", got)
		}
		// Someone else's step on rev1's task never reaches the engine, and is audited.
		is("rev2 deciding rev1's task", 403, "assigned to rev1")(do("rev2", "POST", "/pairings/2/decisions", map[string]string{"task_id": "2-1", "outcome": "approve"}))
		if taken["2-1"] != 0 || denials("stage.decide", "assigned to rev1") != 1 {
			t.Fatalf("the refused decision: taken %d, denials audited %d; want 0 and 1", taken["2-1"], denials("stage.decide", "assigned to rev1"))
		}

		// Delegation while away: bounds first.
		tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		for _, bad := range []struct {
			what  string
			body  map[string]string
			field string
		}{
			{"to oneself", map[string]string{"to": "rev1", "until": tomorrow}, `"to"`},
			{"to no one", map[string]string{"until": tomorrow}, `"to"`},
			{"to a team member", map[string]string{"to": "member", "until": tomorrow}, `"to"`},
			{"ending in the past", map[string]string{"to": "rev2", "until": "2020-01-01"}, `"until"`},
			{"running a year", map[string]string{"to": "rev2", "until": time.Now().AddDate(1, 0, 0).Format(time.DateOnly)}, `"until"`},
			{"a bad time", map[string]string{"to": "rev2", "until": "tomorrow"}, `"until"`},
		} {
			is("a delegation "+bad.what, 400, bad.field)(do("rev1", "POST", "/delegations", bad.body))
		}
		is("a team member delegating", 403, "forbidden")(do("member", "POST", "/delegations", map[string]string{"to": "rev2", "until": tomorrow}))
		if denials("delegation.create", "only organisers") != 1 {
			t.Fatal("the team member's delegation is not audited as a denial")
		}
		s, b := do("rev1", "POST", "/delegations", map[string]string{"to": "rev2", "until": tomorrow, "reason": "外出培训 away on training"})
		want("rev1 delegates while away", s, b, 201, `"delegate":"rev2"`)
		var dl baocun.Delegation
		json.Unmarshal([]byte(b), &dl)
		if got := inbox("rev2"); !slices.Equal(got, []string{"1-1", "2-1"}) {
			t.Fatalf("rev2's inbox while delegated: %v", got)
		}
		is("rev2 lists the delegation", 200, fmt.Sprintf(`"id":%d`, dl.ID))(do("rev2", "GET", "/delegations", nil))
		is("rev2 revoking rev1's delegation", 404, "not_found")(do("rev2", "DELETE", fmt.Sprintf("/delegations/%d", dl.ID), nil))
		is("rev2 decides for rev1", 200, "")(do("rev2", "POST", "/pairings/2/decisions", map[string]string{"task_id": "2-1", "outcome": "approve"}))
		if taken["2-1"] != 1 {
			t.Fatalf("the delegate's decision was taken %d times", taken["2-1"])
		}

		// One task delegated: the pool's task becomes the delegator's first, and the
		// delegate must be someone who may act on it.
		is("delegating 1-1 to a reviewer of D1", 400, `"to"`)(do("rev1", "POST", "/tasks/1-1/delegate", map[string]string{"to": "revD1", "until": tomorrow}))
		is("revD1 delegating their own department's task", 403, "forbidden")(do("revD1", "POST", "/tasks/1-1/delegate", map[string]string{"to": "rev2", "until": tomorrow}))
		is("rev1 delegating a task of the pool", 409, "pool")(do("rev1", "POST", "/tasks/1-1/delegate", map[string]string{"to": "revD2", "until": tomorrow}))
		is("reassigning 1-1 to rev1", 200, `"assignee":"rev1"`)(do("org", "POST", "/tasks/1-1/reassign", map[string]string{"to": "rev1"}))
		is("rev1 delegates 1-1 to revD2", 201, `"task_id":"1-1"`)(do("rev1", "POST", "/tasks/1-1/delegate", map[string]string{"to": "revD2", "until": tomorrow, "reason": "回避 recused"}))
		if got := inbox("revD2"); !slices.Equal(got, []string{"1-1"}) {
			t.Fatalf("revD2's inbox: %v", got)
		}
		// rev2 acts for rev1 while away, but hands on none of rev1's tasks.
		is("rev2 delegating rev1's task", 409, "only they delegate it")(do("rev2", "POST", "/tasks/1-1/delegate", map[string]string{"to": "revD2", "until": tomorrow}))
		is("rev1 revokes the delegation while away", 204, "")(do("rev1", "DELETE", fmt.Sprintf("/delegations/%d", dl.ID), nil))
		if got := inbox("rev2"); slices.Contains(got, "1-1") {
			t.Fatalf("rev2's inbox after the delegation ended: %v; 1-1 is rev1's (delegated to revD2)", got)
		}
		is("rev2 deciding after the delegation ended", 403, "assigned to rev1")(do("rev2", "POST", "/pairings/1/decisions", map[string]string{"task_id": "1-1", "outcome": "approve"}))

		// The organiser's other actions: a note, a reminder, a due date moved through
		// the workflow; the task's actions list them.
		is("a note", 200, "")(do("org", "POST", "/tasks/1-1/notes", map[string]string{"text": "请尽快审核 please review soon"}))
		is("an empty note", 400, `"text"`)(do("org", "POST", "/tasks/1-1/notes", map[string]string{"text": " "}))
		is("a reminder", 200, "")(do("org", "POST", "/tasks/1-1/remind", nil))
		is("a due date that is no date", 400, `"due_at"`)(do("org", "POST", "/tasks/1-1/due", map[string]string{"due_at": "soon", "reason": "x"}))
		is("a due date with no reason", 400, `"reason"`)(do("org", "POST", "/tasks/1-1/due", map[string]string{"due_at": "2027-05-01"}))
		is("another task's id in the body", 400, `"task_id"`)(do("org", "POST", "/tasks/1-1/due", map[string]string{"task_id": "2-1", "due_at": "2027-05-01", "reason": "x"}))
		is("a due date moved", 200, "")(do("org", "POST", "/tasks/1-1/due", map[string]string{"due_at": "2027-05-01", "reason": "村里防汛 flood season"}))
		if st := f.fake.Steps(); st[len(st)-1].Kind != baocun.StepExtendDue || st[len(st)-1].Due.TaskID != "1-1" || st[len(st)-1].Due.DueDate != "2027-05-01" {
			t.Fatalf("the due step sent: %+v", st[len(st)-1])
		}
		s, b = do("rev1", "GET", "/tasks/1-1", nil)
		var acts struct {
			Task    baocun.Task
			Actions []baocun.TaskAction
		}
		if s != 200 || json.Unmarshal([]byte(b), &acts) != nil {
			t.Fatalf("the task's actions: %d %s", s, b)
		}
		var kinds []string
		for _, a := range acts.Actions {
			kinds = append(kinds, a.Action)
		}
		if !slices.Equal(kinds, []string{"reassign", "delegate", "note", "remind"}) || acts.Task.Assignee != "rev1" {
			t.Fatalf("1-1's actions %v, assignee %q; want reassign, delegate, note, remind and rev1", kinds, acts.Task.Assignee)
		}
		is("reading another county's task as a county organiser", 403, "forbidden")(call(t, f.srv, loginAs(f, "org_a", baocun.Grant{Role: baocun.RoleOrganiser, Jurisdiction: "县A"}), "GET", "/api/v1/tasks/2-1", nil))

		// Bulk decisions: three more reviews, one of D3's (rev1's own department).
		now := time.Now()
		var open []baocun.Task
		for i, p := range []struct{ id, pairing int64 }{{3, 1}, {4, 1}, {5, 2}} {
			open = append(open, baocun.Task{ID: fmt.Sprintf("%d-%d", p.pairing, p.id), Kind: baocun.TaskReviewReport, PairingID: p.pairing, CycleID: 1,
				Role: baocun.RoleReviewer, Jurisdiction: map[int64]string{1: "县A", 2: "县B"}[p.pairing], Department: map[int64]string{1: "D1", 2: "D2"}[p.pairing],
				Village: map[int64]string{1: "V1", 2: "V2"}[p.pairing], Period: i + 2, DueAt: now.Add(time.Hour), DueDate: "2027-07-10", RemindAt: now})
		}
		if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Open: open}); err != nil {
			t.Fatal(err)
		}
		is("a bulk decision of nothing", 400, `"items"`)(do("rev2", "POST", "/bulk/decisions", map[string]any{"items": []any{}}))
		is("a bulk decision naming a task twice", 400, `items[1].task_id`)(do("rev2", "POST", "/bulk/decisions", map[string]any{"items": []map[string]any{
			{"pairing_id": 1, "task_id": "1-3", "outcome": "approve"}, {"pairing_id": 1, "task_id": "1-3", "outcome": "approve"}}}))
		is("a bulk decision with a bad outcome", 400, `items[0].outcome`)(do("rev2", "POST", "/bulk/decisions", map[string]any{"items": []map[string]any{
			{"pairing_id": 1, "task_id": "1-3", "outcome": "maybe"}}}))
		too := make([]map[string]any, baocun.MaxBulkItems+1)
		for i := range too {
			too[i] = map[string]any{"pairing_id": 1, "task_id": fmt.Sprintf("1-%d", 100+i), "outcome": "approve"}
		}
		is("a bulk decision of too many", 400, `"items"`)(do("rev2", "POST", "/bulk/decisions", map[string]any{"items": too}))
		bulk := map[string]any{"comment": "同意 agreed", "items": []map[string]any{
			{"pairing_id": 1, "task_id": "1-3", "outcome": "approve"},
			{"pairing_id": 2, "task_id": "2-5", "outcome": "return"},
			{"pairing_id": 2, "task_id": "1-4", "outcome": "approve"}, // not pairing 2's
			{"pairing_id": 1, "task_id": "1-1", "outcome": "approve"}, // rev1's, delegated to revD2
			{"pairing_id": 1, "task_id": "1-99", "outcome": "approve"},
		}}
		sendBulk := func(who, key string) []baocun.BulkItemResult {
			t.Helper()
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/bulk/decisions", strings.NewReader(mustJSON(bulk)))
			req.Header.Set("Authorization", "Bearer "+tok[who])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out baocun.BulkResult
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
				t.Fatalf("bulk: %d", resp.StatusCode)
			}
			return out.Items
		}
		statuses := func(items []baocun.BulkItemResult) []int {
			var out []int
			for _, it := range items {
				out = append(out, it.Status)
			}
			return out
		}
		items := sendBulk("rev2", "bulk-1")
		if got := statuses(items); !slices.Equal(got, []int{200, 200, 404, 403, 404}) {
			t.Fatalf("bulk statuses %v; want 200 200 404 403 404: %+v", got, items)
		}
		if taken["1-3"] != 1 || taken["2-5"] != 1 || taken["1-1"] != 0 {
			t.Fatalf("taken %v: %+v", taken, items)
		}
		for _, id := range []string{"1-3", "2-5"} {
			tk, err := f.db.Task(ctx, id)
			if err != nil || tk.Status != baocun.TaskDone || tk.ClosedBy != "rev2" {
				t.Fatalf("task %s after the bulk decision: %+v, %v", id, tk, err)
			}
		}
		// Each item its own entry in the trail, with the one comment.
		es, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Actor: "rev2", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]int{}
		for _, e := range es {
			if e.Decision == baocun.DecisionAllow && strings.Contains(e.Summary, "同意 agreed") {
				allowed[e.PairingID]++
			}
		}
		if allowed["1"] != 1 || allowed["2"] != 1 || denials("stage.decide", "assigned to rev1") != 3 {
			t.Fatalf("the bulk decision's trail: allowed by pairing %v, denials of rev1's task %d", allowed, denials("stage.decide", "assigned to rev1"))
		}
		// The same request again under its key is answered as the first, and nothing
		// is taken twice.
		again := sendBulk("rev2", "bulk-1")
		if got := statuses(again); !slices.Equal(got, []int{200, 200, 404, 403, 404}) || taken["1-3"] != 1 || taken["2-5"] != 1 {
			t.Fatalf("the repeat: %v, taken %v", got, taken)
		}
		// A reviewer of the department is refused the item, audited, as alone.
		is("revD1's bulk decision on D1's report", 200, `"status":403`)(do("revD1", "POST", "/bulk/decisions", map[string]any{"items": []map[string]any{
			{"pairing_id": 1, "task_id": "1-4", "outcome": "approve"}}}))
		if taken["1-4"] != 0 {
			t.Fatal("revD1's bulk decision reached the engine")
		}

		// Bulk reminders: all or none, each authorised.
		is("a bulk reminder by a reviewer", 403, "forbidden")(do("rev1", "POST", "/bulk/reminders", map[string]any{"task_ids": []string{"1-4"}}))
		is("a bulk reminder naming no task", 404, "task_ids[1]")(do("org", "POST", "/bulk/reminders", map[string]any{"task_ids": []string{"1-4", "9-9"}}))
		is("a second reminder of 1-1 within the hour", 409, "task_ids[1]")(do("org", "POST", "/bulk/reminders", map[string]any{"task_ids": []string{"1-4", "1-1"}}))
		is("a bulk reminder", 200, `"status":200`)(do("org", "POST", "/bulk/reminders", map[string]any{"task_ids": []string{"1-4"}, "note": "月底前 by the month's end"}))
		var outbox int
		if err := f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE kind = ? AND task_id = ? AND actor = 'org' AND data LIKE ?", baocun.NotifyTaskReminded, "1-4", "%月底前%").Scan(&outbox); err != nil || outbox != 1 {
			t.Fatalf("the reminder's outbox rows for 1-4: %d, %v; want one with its note", outbox, err)
		}

		// Inspection teams.
		is("a team of a non-rater", 400, "members[0]")(do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "一组", "members": []string{"org"}}))
		is("a team of no one", 400, `"members"`)(do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "一组", "members": []string{}}))
		is("a team of another cycle", 400, "cycle_id")(do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 99, "name": "一组", "members": []string{"rev1"}}))
		is("team one", 201, `"name":"第一检查验收组"`)(do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "第一检查验收组", "members": []string{"rev1"}}))
		is("the same name again", 409, "")(do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "第一检查验收组", "members": []string{"rev2"}}))
		s, b = do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "第二检查验收组", "members": []string{"revD2", "rev2"}})
		want("team two", s, b, 201, `"department_code":"D2"`)
		var two baocun.InspectionTeam
		json.Unmarshal([]byte(b), &two)
		is("a rater's own department", 400, "pairing_ids[1]")(do("org", "POST", fmt.Sprintf("/inspection-teams/%d/pairings", two.ID), map[string]any{"pairing_ids": []int64{1, 2}}))
		is("another cycle's pairing", 400, "pairing_ids[0]")(do("org", "POST", fmt.Sprintf("/inspection-teams/%d/pairings", two.ID), map[string]any{"pairing_ids": []int64{77}}))
		is("a pairing named twice", 400, "pairing_ids[1]")(do("org", "POST", fmt.Sprintf("/inspection-teams/%d/pairings", two.ID), map[string]any{"pairing_ids": []int64{1, 1}}))
		s, b = do("org", "POST", "/inspection-teams", map[string]any{"cycle_id": 1, "name": "甲县组", "members": []string{"revA"}})
		want("a county's team", s, b, 201, `"revA"`)
		var county baocun.InspectionTeam
		json.Unmarshal([]byte(b), &county)
		is("another county's pairing to a county's team", 400, "pairing_ids[0]")(do("org", "POST", fmt.Sprintf("/inspection-teams/%d/pairings", county.ID), map[string]any{"pairing_ids": []int64{2}}))
		is("pairing 1 to team two", 200, `"assigned":1`)(do("org", "POST", fmt.Sprintf("/inspection-teams/%d/pairings", two.ID), map[string]any{"pairing_ids": []int64{1}}))
		// Balanced: pairing 2 may go to team one only (team two has a rater of D2).
		is("the balanced assignment", 200, `"assigned":1,"left":[]`)(do("org", "POST", "/cycles/1/inspection-assignments", nil))
		s, b = do("org", "GET", "/inspection-teams?cycle=1", nil)
		var teams struct{ Items []baocun.InspectionTeam }
		if s != 200 || json.Unmarshal([]byte(b), &teams) != nil || len(teams.Items) != 3 ||
			!slices.Equal(teams.Items[0].Pairings, []int64{2}) || !slices.Equal(teams.Items[1].Pairings, []int64{1}) {
			t.Fatalf("the teams: %d %s", s, b)
		}
		// Scoring goes to the assigned team only: in the inbox and at the step.
		if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{{ID: "1-9", Kind: baocun.TaskScore, PairingID: 1, CycleID: 1,
			Role: baocun.RoleReviewer, Jurisdiction: "县A", Department: "D1", Village: "V1", DueAt: now.Add(time.Hour), DueDate: "2029-12-31", RemindAt: now}}}); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(inbox("rev1"), "1-9") || !slices.Contains(inbox("rev2"), "1-9") {
			t.Fatalf("the score task in rev1's inbox %v, rev2's %v; want rev2's (team two) only", inbox("rev1"), inbox("rev2"))
		}
		score := map[string]any{"scores": map[string]string{"a.b": "1"}}
		is("rev1 scoring team two's pairing", 403, "inspection team")(do("rev1", "POST", "/pairings/1/acceptance/scores", score))
		is("rev2 scoring it", 200, "")(do("rev2", "POST", "/pairings/1/acceptance/scores", score))
		is("reassigning a score task", 409, "not reassigned")(do("org", "POST", "/tasks/1-9/reassign", map[string]string{"to": "rev2"}))
		if taken["score"] != 1 {
			t.Fatalf("scores taken: %d", taken["score"])
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// loginAs creates an account with the grants and signs it in.
func loginAs(f *fixture, name string, roles ...baocun.Grant) string {
	f.user(name, "", "", roles...)
	return f.login(f.srv, name)
}
