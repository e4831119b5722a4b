package apiclient_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"baocun"
	"baocun/apiclient"
)

// The day-to-day calls (issue 19) against the real handlers: an organiser reassigns
// a review, notes and reminds a task and moves its due date (a step); the reviewer
// it is given to delegates while away; the delegate decides both reviews in one
// bulk request, item by item, and sending it again under its key takes nothing
// twice; the delegation is revoked; inspection teams are formed and given pairings.
func TestClientBulkAndDelegations(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	// The engine takes a decision as the workflow would: the task closes, with the
	// step's audit entry.
	taken := map[string]int{}
	s.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
		ch := baocun.Change{At: time.Now(), Audit: []baocun.AuditEntry{st.Audit}}
		id := string(st.Kind)
		if st.Decision != nil {
			id = st.Decision.TaskID
			ch.Close = []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, Outcome: st.Decision.Outcome, By: st.Actor}}
		}
		if st.Due != nil {
			id = "due " + st.Due.TaskID
		}
		if err := s.db.ApplyChange(ctx, ch); err != nil {
			return baocun.StepResult{}, err
		}
		taken[id]++
		return baocun.StepResult{Stage: string(baocun.StageReviews), Closed: []string{id}}, nil
	}
	anon := apiclient.New(s.srv.URL, nil)
	admin, err := anon.SignIn(ctx, "admin", password)
	if err != nil {
		t.Fatal(err)
	}
	city := func(role baocun.Role) baocun.Grant {
		return baocun.Grant{Role: role, Jurisdiction: baocun.CityJurisdiction}
	}
	account := func(username, person string, roles ...baocun.Grant) *apiclient.Client {
		t.Helper()
		if _, err := admin.CreateUser(ctx, apiclient.Account{Username: username, Password: password, PersonID: person, Roles: roles}); err != nil {
			t.Fatalf("create %s: %v", username, err)
		}
		c, err := anon.SignIn(ctx, username, password)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	org := account("organiser", "", city(baocun.RoleOrganiser))
	for _, f := range []struct{ kind, csv string }{
		{"departments", "code,name,level,county\nD1,甲县农业局,县直,县A\nD2,乙县交通局,县直,县B\nD3,市财政局,市直,\n"},
		{"villages", "code,name,county,township,class\nV1,甲村,县A,一镇,3\nV2,乙村,县B,二镇,2\n"},
		{"people", "id,name,department_code\nP1,张三,D1\nP2,李四,D2\nP3,王五,D3\nP4,赵六,D3\n"},
	} {
		if _, err := org.ImportDirectory(ctx, f.kind, f.csv); err != nil {
			t.Fatalf("import %s: %v", f.kind, err)
		}
	}
	rev1 := account("rev1", "P3", city(baocun.RoleReviewer))
	rev2 := account("rev2", "P4", city(baocun.RoleReviewer))
	cycle, err := org.Launch(ctx, apiclient.LaunchSpec{Name: "第一轮 first", Jurisdiction: baocun.CityJurisdiction, CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01"},
		Pairings: []baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: baocun.KindSupport}, {DepartmentCode: "D2", VillageCode: "V2", Kind: baocun.KindSupport}}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := org.Pairings(ctx, cycle, nil)
	if err != nil || len(ps) != 2 {
		t.Fatalf("pairings: %v, %v", ps, err)
	}
	now := time.Now()
	var open []baocun.Task
	var ids []string
	for _, p := range ps {
		id := fmt.Sprintf("%d-9", p.ID)
		ids = append(ids, id)
		open = append(open, baocun.Task{ID: id, Kind: baocun.TaskReviewReport, PairingID: p.ID, CycleID: cycle, Role: baocun.RoleReviewer,
			Jurisdiction: p.County, Department: p.Department, Village: p.Village, Period: 1, Subject: "第 1 期汇报",
			DueAt: now.Add(7 * 24 * time.Hour), DueDate: "2027-04-10", RemindAt: now.Add(5 * 24 * time.Hour)})
	}
	if err := s.db.ApplyChange(ctx, baocun.Change{At: now, Open: open}); err != nil {
		t.Fatal(err)
	}

	// The organiser's tools.
	if _, err := org.Reassign(ctx, ids[0], baocun.ReassignInput{To: "rev9"}); apiclient.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("reassigning to no account: %v, want 400", err)
	}
	task, err := org.Reassign(ctx, ids[0], baocun.ReassignInput{To: "rev1", Reason: "熟悉该村 knows the village"})
	if err != nil || task.Assignee != "rev1" {
		t.Fatalf("reassign: %+v, %v", task, err)
	}
	if _, err := org.NoteTask(ctx, ids[1], "已电话提醒 phoned"); err != nil {
		t.Errorf("note: %v", err)
	}
	if _, err := org.Remind(ctx, ids[1], ""); err != nil {
		t.Errorf("remind: %v", err)
	}
	// One reminder by hand a task an hour.
	if _, err := org.BulkRemind(ctx, baocun.BulkRemindInput{TaskIDs: ids[1:]}); apiclient.StatusOf(err) != http.StatusConflict {
		t.Errorf("a second reminder within the hour: %v, want 409", err)
	}
	if r, err := org.BulkRemind(ctx, baocun.BulkRemindInput{TaskIDs: ids[:1]}); err != nil || len(r.Items) != 1 || r.Items[0].Status != 200 {
		t.Errorf("bulk remind: %+v, %v", r, err)
	}
	if _, err := org.ExtendDue(ctx, ids[1], baocun.DueInput{DueDate: "2027-04-20", Reason: "汛期 the flood season"}); err != nil || taken["due "+ids[1]] != 1 {
		t.Errorf("extend the due date: %v (taken %d)", err, taken["due "+ids[1]])
	}
	detail, err := org.Task(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range detail.Actions {
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"note", "remind"}) {
		t.Errorf("%s's actions: %v, want note, remind", ids[1], actions)
	}

	// rev1 is away: rev2 acts for them.
	if in, err := rev2.Inbox(ctx); err != nil || len(in) != 1 || in[0].ID != ids[1] {
		t.Errorf("rev2's inbox while %s is rev1's: %+v, %v", ids[0], in, err)
	}
	dl, err := rev1.Delegate(ctx, baocun.DelegationInput{To: "rev2", Until: now.Add(48 * time.Hour).UTC().Format(time.RFC3339), Reason: "外出学习 away on a course"})
	if err != nil || dl.Delegate != "rev2" {
		t.Fatalf("delegate: %+v, %v", dl, err)
	}
	if got, err := rev2.Delegations(ctx); err != nil || len(got) != 1 || got[0].Delegator != "rev1" {
		t.Errorf("rev2's delegations: %+v, %v", got, err)
	}
	if in, err := rev2.Inbox(ctx); err != nil || len(in) != 2 {
		t.Errorf("rev2's inbox during the delegation: %+v, %v; want both reviews", in, err)
	}
	bulk := baocun.BulkDecisionInput{Comment: "同意 approved", Items: []baocun.BulkItem{
		{PairingID: ps[0].ID, TaskID: ids[0], Outcome: baocun.OutcomeApprove},
		{PairingID: ps[1].ID, TaskID: ids[1], Outcome: baocun.OutcomeApprove},
		{PairingID: ps[1].ID, TaskID: "no-such-task", Outcome: baocun.OutcomeApprove},
	}}
	keyed := rev2.WithKey("bulk-1")
	for range 2 { // again under its key: answered as before, nothing taken twice
		res, err := keyed.BulkDecide(ctx, bulk)
		if err != nil || len(res.Items) != 3 || res.Items[0].Status != 200 || res.Items[1].Status != 200 || res.Items[2].Status != 404 {
			t.Fatalf("bulk decisions: %+v, %v; want 200, 200, 404", res, err)
		}
	}
	for _, id := range ids {
		d, err := org.Task(ctx, id)
		if err != nil || d.Task.Status != baocun.TaskDone || d.Task.ClosedBy != "rev2" || taken[id] != 1 {
			t.Errorf("%s after the bulk decision: %+v, %v (taken %d); want done by rev2, once", id, d, err, taken[id])
		}
	}
	if err := rev2.RevokeDelegation(ctx, dl.ID); apiclient.StatusOf(err) != http.StatusNotFound {
		t.Errorf("the delegate revoking: %v, want 404 (not theirs)", err)
	}
	if err := rev1.RevokeDelegation(ctx, dl.ID); err != nil {
		t.Errorf("revoke: %v", err)
	}
	if got, err := rev1.Delegations(ctx); err != nil || len(got) != 0 {
		t.Errorf("rev1's delegations after the revocation: %+v, %v", got, err)
	}

	// Inspection teams.
	team, err := org.CreateInspectionTeam(ctx, baocun.InspectionTeamInput{CycleID: cycle, Name: "第一检查组 team one", Members: []string{"rev1"}})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := org.AssignPairings(ctx, team.ID, []int64{ps[0].ID}); err != nil || a.Assigned != 1 {
		t.Errorf("assign: %+v, %v", a, err)
	}
	if a, err := org.BalanceInspections(ctx, cycle); err != nil || a.Assigned != 1 || len(a.Left) != 0 {
		t.Errorf("balance: %+v, %v; want the other pairing assigned", a, err)
	}
	if ts, err := org.InspectionTeams(ctx, cycle); err != nil || len(ts) != 1 || len(ts[0].Pairings) != 2 {
		t.Errorf("inspection teams: %+v, %v", ts, err)
	}
}
