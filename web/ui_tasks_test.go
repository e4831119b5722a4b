package web_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// decideAsTheWorkflow makes the fixture's in-process engine take a decision as the
// pairing's workflow does: the task closes with its outcome, by its actor, and the
// step's own audit entry is written with the change. Other steps are only counted.
func decideAsTheWorkflow(f *fixture) func() map[string]int {
	var mu sync.Mutex
	taken := map[string]int{}
	f.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
		mu.Lock()
		defer mu.Unlock()
		ch := baocun.Change{At: time.Now(), Audit: []baocun.AuditEntry{st.Audit}}
		id := string(st.Kind)
		if st.Decision != nil {
			id = st.Decision.TaskID
			ch.Close = []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, Outcome: st.Decision.Outcome, By: st.Actor}}
		}
		if err := f.db.ApplyChange(context.Background(), ch); err != nil {
			return baocun.StepResult{}, err
		}
		taken[id]++
		return baocun.StepResult{Stage: string(baocun.StageReviews), Closed: []string{id}}, nil
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(taken)
	}
}

// On the inbox page an official who both organises and reviews ticks all twenty
// report reviews of a city's pairings and approves them with one comment: the page
// shows each item's outcome, every review is done with the outcome approve, each
// was its own step, and each has its own stage.decide entry in the audit trail.
func TestBrowserBulkDecisions(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (Chromium): go test ./...")
	}
	exe := chromium(t)
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	cycle := seedCity(t, f.db, 20, 1)
	ps, err := f.db.Pairings(ctx, baocun.PairingFilter{CycleID: cycle, Limit: 100})
	if err != nil || len(ps) != 20 {
		t.Fatalf("the city's pairings: %d, %v", len(ps), err)
	}
	now := time.Now()
	var open []baocun.Task
	want := map[string]int64{} // review → its pairing
	for _, p := range ps {
		id := fmt.Sprintf("%d-2", p.ID)
		want[id] = p.ID
		open = append(open, baocun.Task{ID: id, Kind: baocun.TaskReviewReport, PairingID: p.ID, CycleID: cycle, Role: baocun.RoleReviewer,
			Jurisdiction: p.County, Department: p.Department, Village: p.Village, Period: 1, Subject: "第 1 期汇报 period 1's report",
			DueAt: now.Add(7 * 24 * time.Hour), DueDate: "2027-04-20", RemindAt: now.Add(5 * 24 * time.Hour)})
	}
	if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Open: open}); err != nil {
		t.Fatal(err)
	}
	taken := decideAsTheWorkflow(f)
	// Organisers approve teams and reviewers approve reports (policy.csv): the
	// programme office's official who does both holds both roles.
	f.user("office", "P3", "", g(baocun.RoleOrganiser, "*"), g(baocun.RoleReviewer, "*")) // of D3, none of the city's departments
	b := newBrowser(t, exe, f.srv.URL)
	office := b.signIn(t, "office")
	office.do(t, "open the inbox", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.ID("bulk-form")))
	office.checkLabels(t)
	offered := run(t, office, "read the tasks offered", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#tasks input[name="bulk-task"]'), b => b.value)`))
	if len(offered) != 20 {
		t.Fatalf("the inbox offers %d tasks to decide in bulk, want 20: %v", len(offered), offered)
	}
	// A return without a comment is refused on the page, before any request.
	office.do(t, "return without a comment",
		chromedp.Click(chromedp.ID("bulk-all")),
		chromedp.Click(chromedp.CSS(`#bulk-form button[value=return]`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-form .form-error:not([hidden])`)))
	if n := len(f.fake.Steps()); n != 0 {
		t.Fatalf("a return without a comment sent %d steps", n)
	}
	if picked := run(t, office, "count the ticked tasks", chromedp.Text(chromedp.ID("bulk-count"))); !strings.Contains(picked, "20") {
		t.Errorf("the count of ticked tasks reads %q, want 20", picked)
	}
	office.do(t, "approve all twenty with one comment",
		chromedp.SendKeys(chromedp.ID("bulk-comment"), "第 1 期汇报均符合要求 every period 1 report is in order"),
		chromedp.Click(chromedp.CSS(`#bulk-form button[value=approve]`)),
		chromedp.WaitVisible(chromedp.ID("bulk-results")))
	rows := run(t, office, "read the outcomes", chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#bulk-table tbody tr"), tr => [tr.dataset.task, tr.dataset.status])`))
	if len(rows) != 20 {
		t.Fatalf("the page shows %d outcomes, want 20: %v", len(rows), rows)
	}
	for _, r := range rows {
		if _, ok := want[r[0]]; !ok || r[1] != "200" {
			t.Errorf("outcome %v, want one of the reviews with 200", r)
		}
	}
	if decided := run(t, office, "count the rows marked decided", chromedp.Evaluate[int](`document.querySelectorAll("#tasks tr[data-decided=approve]").length`)); decided != 20 {
		t.Errorf("%d rows of the list marked approved, want 20", decided)
	}

	// In the database: every review done, approved by the official, each one step.
	steps := taken()
	for id := range want {
		task, err := f.db.Task(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status != baocun.TaskDone || task.Outcome != baocun.OutcomeApprove || task.ClosedBy != "office" {
			t.Errorf("review %s: %s, outcome %q, by %q; want done, approve, by office", id, task.Status, task.Outcome, task.ClosedBy)
		}
		if steps[id] != 1 {
			t.Errorf("review %s was taken %d times, want once", id, steps[id])
		}
	}
	for _, st := range f.fake.Steps() {
		if st.Kind != baocun.StepDecideReview || st.Decision == nil || st.Decision.Comment != "第 1 期汇报均符合要求 every period 1 report is in order" {
			t.Errorf("step %s %+v: want a review decision with the one comment", st.Kind, st.Decision)
		}
	}
	entries, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range entries {
		if e.Actor != "office" || e.Decision != baocun.DecisionAllow {
			t.Errorf("audit entry %s by %s: %s, want allowed, by office", e.Action, e.Actor, e.Decision)
		}
		seen[e.PairingID]++
	}
	if len(entries) != 20 || len(seen) != 20 {
		t.Errorf("%d stage.decide entries for %d pairings, want twenty entries, one for each pairing", len(entries), len(seen))
	}
	for id, p := range want {
		if seen[fmt.Sprint(p)] != 1 {
			t.Errorf("review %s's pairing %d has %d stage.decide entries, want 1", id, p, seen[fmt.Sprint(p)])
		}
	}
}

// An overdue review is escalated; an organiser reassigns it from the inbox page to
// a reviewer, who is going away and delegates their tasks to another reviewer on
// the same page; the other reviewer, who did not see the task while it was the
// first reviewer's alone, now finds it in their inbox, opens it and approves it;
// the first reviewer, back, revokes the delegation.
func TestBrowserDelegation(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (Chromium): go test ./...")
	}
	exe := chromium(t)
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.openReviews(t) // 1-1 of pairing 1, 2-1 of pairing 2
	ctx := context.Background()
	// 1-1 fell due an hour ago, and its workflow escalated it.
	if _, err := f.db.ExecContext(ctx, "UPDATE tasks SET due_at = ? WHERE id = '1-1'", sqldb.FormatTime(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(), Escalate: []string{"1-1"}}); err != nil {
		t.Fatal(err)
	}
	taken := decideAsTheWorkflow(f)
	f.user("org", "", "", g(baocun.RoleOrganiser, "*"))
	if _, err := f.db.ExecContext(ctx, `INSERT INTO people (id, name, department_code) VALUES ('P40', '周八', 'D4')`); err != nil {
		t.Fatal(err)
	}
	f.user("rev1", "P3", "", g(baocun.RoleReviewer, "*"))  // of D3
	f.user("rev2", "P40", "", g(baocun.RoleReviewer, "*")) // of D4
	b := newBrowser(t, exe, f.srv.URL)
	row := func(id string) string { return fmt.Sprintf(`#tasks tr[data-task=%q]`, id) }
	listed := func(s *session, what string) []string {
		return run(t, s, what, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#tasks tbody tr"), tr => tr.dataset.task)`))
	}

	org := b.signIn(t, "org")
	org.do(t, "open the inbox", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.CSS(row("1-1"))))
	org.checkLabels(t)
	org.submit(t, "reassign the escalated review to rev1", row("1-1")+` form[data-action=reassign]`,
		chromedp.Click(chromedp.CSS(row("1-1")+` details.task-manage summary`)),
		chromedp.SendKeys(chromedp.CSS(row("1-1")+` form[data-action=reassign] input[name=to]`), "rev1"),
		chromedp.SendKeys(chromedp.CSS(row("1-1")+` form[data-action=reassign] input[name=reason]`), "熟悉该村 knows the village"))
	if task, err := f.db.Task(ctx, "1-1"); err != nil || task.Assignee != "rev1" {
		t.Fatalf("after the reassignment: %+v, %v; want 1-1 assigned to rev1", task, err)
	}
	if holder := run(t, org, "read the holder", chromedp.Text(chromedp.CSS(row("1-1")+` .holder`))); !strings.Contains(holder, "rev1") {
		t.Errorf("the organiser's list says %q of 1-1, want it assigned to rev1", holder)
	}

	rev2 := b.signIn(t, "rev2")
	rev2.do(t, "open the inbox", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.ID("delegate-form")))
	if got := listed(rev2, "read the inbox"); !slices.Equal(got, []string{"2-1"}) {
		t.Errorf("rev2's inbox while 1-1 is rev1's alone: %v, want 2-1 only", got)
	}
	// Nor does the pairing's page offer rev2 a form for rev1's task.
	rev2.do(t, "open pairing 1", chromedp.Navigate(b.url+"/pairings/1"), chromedp.WaitVisible(chromedp.ID("no-forms")))

	rev1 := b.signIn(t, "rev1")
	rev1.do(t, "open the inbox", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.ID("delegate-form")))
	rev1.checkLabels(t)
	if holder := run(t, rev1, "read the holder", chromedp.Text(chromedp.CSS(row("1-1")+` .holder`))); !strings.Contains(holder, "指派给我") {
		t.Errorf("rev1's list says %q of 1-1, want it assigned to them", holder)
	}
	until := time.Now().In(baocun.ChinaTime).AddDate(0, 0, 3).Format(time.DateOnly)
	rev1.submit(t, "delegate while away", "#delegate-form",
		chromedp.SendKeys(chromedp.ID("d-to"), "rev2"),
		chromedp.SetValue(chromedp.ID("d-until"), until),
		chromedp.SendKeys(chromedp.ID("d-reason"), "外出学习 away on a course"))
	got := run(t, rev1, "read the delegations", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#delegations tbody tr"), tr => tr.dataset.delegator + ">" + tr.dataset.delegate)`))
	if !slices.Equal(got, []string{"rev1>rev2"}) {
		t.Fatalf("rev1's delegations: %v, want rev1>rev2", got)
	}

	rev2.do(t, "open the inbox again", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.CSS(row("1-1"))))
	if got := listed(rev2, "read the inbox"); !slices.Contains(got, "1-1") {
		t.Fatalf("rev2's inbox during the delegation: %v, want 1-1 in it", got)
	}
	if holder := run(t, rev2, "read the holder", chromedp.Text(chromedp.CSS(row("1-1")+` .holder`))); !strings.Contains(holder, "rev1") {
		t.Errorf("rev2's list says %q of 1-1, want acting for rev1", holder)
	}
	if got := run(t, rev2, "read the delegations", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#delegations tbody tr"), tr => tr.dataset.delegator + ">" + tr.dataset.delegate)`)); !slices.Equal(got, []string{"rev1>rev2"}) {
		t.Errorf("rev2's delegations: %v, want the one received from rev1", got)
	}
	rev2.do(t, "open the task", chromedp.Click(chromedp.CSS(row("1-1")+` a[href$="#task-1-1"]`)), chromedp.WaitVisible(chromedp.ID("task-1-1")))
	rev2.submit(t, "approve the review for rev1", "#task-1-1", chromedp.Click(chromedp.CSS(`#task-1-1 input[name=outcome][value=approve]`)))
	task, err := f.db.Task(ctx, "1-1")
	if err != nil || task.Status != baocun.TaskDone || task.Outcome != baocun.OutcomeApprove || task.ClosedBy != "rev2" {
		t.Fatalf("1-1 after rev2's approval: %+v, %v; want done, approve, by rev2", task, err)
	}
	if n := taken()["1-1"]; n != 1 {
		t.Errorf("1-1 taken %d times, want once", n)
	}
	entries, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "stage.decide", Actor: "rev2", Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].PairingID != "1" || entries[0].Decision != baocun.DecisionAllow {
		t.Errorf("rev2's stage.decide entries: %+v, %v; want one, allowed, of pairing 1", entries, err)
	}

	// Back: rev1 revokes the delegation.
	rev1.do(t, "open the inbox again", chromedp.Navigate(b.url+"/inbox"), chromedp.WaitVisible(chromedp.ID("delegations")),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	rev1.submit(t, "revoke the delegation", "#delegations form.revoke-delegation")
	rev1.do(t, "see no delegation", chromedp.WaitVisible(chromedp.ID("no-delegations")))
	var revoked string
	if err := f.db.QueryRowContext(ctx, "SELECT revoked_at FROM delegations WHERE delegator = 'rev1'").Scan(&revoked); err != nil || revoked == "" {
		t.Errorf("the delegation after its revocation: revoked_at %q, %v", revoked, err)
	}
}
