package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/apiclient"
	"baocun/cmd/baocun/demo"
)

// lifecycleEnv is a real `baocun serve` with the demo's sample directory and an
// account for each role the lifecycle tests play.
type lifecycleEnv struct {
	p         *process
	sample    *demo.Sample
	org       *apiclient.Client
	leads     map[string]*apiclient.Client // department → its lead
	reviewers map[string]*apiclient.Client // the reviewer's department → the reviewer
	members   map[string]*apiclient.Client // person → team_member account
}

const lifecyclePassword = "lifecycle-test-password"

func newLifecycleEnv(t *testing.T) *lifecycleEnv {
	t.Helper()
	return newLifecycleEnvWith(t, nil)
}

// newLifecycleEnvWith is newLifecycleEnv with serve given more environment and flags.
func newLifecycleEnvWith(t *testing.T, env []string, args ...string) *lifecycleEnv {
	t.Helper()
	p := startServeEnv(t, append([]string{EnvAdminPassword + "=" + lifecyclePassword}, env...),
		append([]string{"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--temporal-port", "0"}, args...)...)
	p.waitReady(t)
	ctx := context.Background()
	s, err := demo.NewSample(demo.MinVillages)
	if err != nil {
		t.Fatal(err)
	}
	cast, err := demo.SetUp(ctx, apiclient.New(p.url, apiclient.NewHTTPClient()), s, lifecyclePassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &lifecycleEnv{p: p, sample: s, org: cast.Org, leads: cast.Leads, reviewers: cast.Reviewers, members: cast.Members}
	return e
}

// launch is a cycle on the real clock (nothing falls due during a test) of the
// pairings given as department→village.
func (e *lifecycleEnv) launch(pairs ...[2]string) apiclient.LaunchSpec {
	spec := apiclient.LaunchSpec{Name: "测试轮 test cycle", Jurisdiction: "*", CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01", ClockScale: 1}}
	for _, p := range pairs {
		spec.Pairings = append(spec.Pairings, baocun.PairingSpec{DepartmentCode: p[0], VillageCode: p[1], Kind: baocun.KindSupport})
	}
	return spec
}

// wantStatus fails the test unless err is a refusal with status.
func wantStatus(t *testing.T, what string, err error, status int) *apiclient.Error {
	t.Helper()
	if got := apiclient.StatusOf(err); got != status {
		t.Fatalf("%s: err = %v, want status %d", what, err, status)
	}
	return err.(*apiclient.Error)
}

// A cycle through the HTTP API of a real service: launch validation that stores
// nothing, the first tasks in the right inboxes only, a step by the wrong role or at
// the wrong stage refused, exactly one of two simultaneous decisions winning, and a
// cancelled pairing's tasks cancelled.
func TestLifecycle(t *testing.T) {
	e := newLifecycleEnv(t)
	ctx := context.Background()

	t.Run("launch validation stores nothing", func(t *testing.T) {
		_, err := e.org.Launch(ctx, e.launch([2]string{"SZ01", "QS-001"}, [2]string{"NOPE", "BS-001"}))
		ae := wantStatus(t, "unknown department", err, http.StatusUnprocessableEntity)
		if !slices.ContainsFunc(ae.Rows, func(r baocun.RowError) bool { return r.Line == 2 && r.Column == "department_code" }) {
			t.Errorf("unknown department: rows %+v, want line 2 column department_code", ae.Rows)
		}
		_, err = e.org.Launch(ctx, e.launch([2]string{"SZ01", "QS-001"}, [2]string{"SZ02", "QS-001"}))
		ae = wantStatus(t, "village paired twice", err, http.StatusUnprocessableEntity)
		if !slices.ContainsFunc(ae.Rows, func(r baocun.RowError) bool {
			return r.Line == 2 && r.Column == "village_code" && strings.Contains(r.Message, "line 1")
		}) {
			t.Errorf("village paired twice: rows %+v, want line 2 column village_code naming line 1", ae.Rows)
		}
		bad := e.launch([2]string{"SZ01", "QS-001"})
		bad.StartDate = "2027-13-01"
		_, err = e.org.Launch(ctx, bad)
		ae = wantStatus(t, "bad start_date", err, http.StatusBadRequest)
		if _, ok := ae.Fields["start_date"]; !ok {
			t.Errorf("bad start_date: fields %v, want start_date", ae.Fields)
		}
		cycles, err := e.org.Cycles(ctx)
		if err != nil || len(cycles) != 0 {
			t.Fatalf("after refused launches: cycles %v, %v; want none", cycles, err)
		}
	})

	// p1: SZ01 → QS-001, p2: SZ02 → BS-001, p3: SZ03 → QS-002; SZ04 has none.
	id, err := e.org.Launch(ctx, e.launch([2]string{"SZ01", "QS-001"}, [2]string{"SZ02", "BS-001"}, [2]string{"SZ03", "QS-002"}))
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	pairings, err := e.org.Pairings(ctx, id, nil)
	if err != nil || len(pairings) != 3 {
		t.Fatalf("pairings: %v, %v", pairings, err)
	}
	p1, p2, p3 := pairings[0].ID, pairings[1].ID, pairings[2].ID

	t.Run("first tasks and inboxes", func(t *testing.T) {
		tasks := awaitInbox(t, e.leads["SZ01"], func(ts []baocun.Task) bool { return len(ts) > 0 })
		if len(tasks) != 1 || tasks[0].PairingID != p1 || tasks[0].Kind != baocun.TaskNominateTeam || tasks[0].Department != "SZ01" {
			t.Errorf("SZ01's lead inbox: %+v, want p1's nominate_team only", tasks)
		}
		cy, err := e.org.Cycle(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cy.PairingsTotal != 3 || len(cy.Stages) != 1 || cy.Stages[baocun.StageDispatch] != 3 {
			t.Errorf("cycle: pairings_total %d, stages %v; want 3 and {dispatch: 3}", cy.PairingsTotal, cy.Stages)
		}
		// Every first task is written at once: the other leads see theirs and no one else's.
		tasks = awaitInbox(t, e.leads["SZ02"], func(ts []baocun.Task) bool { return len(ts) > 0 })
		if len(tasks) != 1 || tasks[0].PairingID != p2 {
			t.Errorf("SZ02's lead inbox: %+v, want p2's task only", tasks)
		}
		if tasks, err := e.leads["SZ04"].Inbox(ctx); err != nil || len(tasks) != 0 {
			t.Errorf("SZ04's lead (no pairing) inbox: %+v, %v; want empty", tasks, err)
		}
	})

	staff := e.sample.Staff["SZ03"][:3]
	leader := e.members[staff[0]]
	var reviewTask string
	t.Run("steps by the wrong role or at the wrong stage are refused", func(t *testing.T) {
		team := baocun.TeamInput{Leader: staff[0], Members: staff}
		_, err := e.leads["SZ01"].NominateTeam(ctx, p3, team)
		wantStatus(t, "another department's lead nominates", err, http.StatusForbidden)
		res, err := e.leads["SZ03"].NominateTeam(ctx, p3, team)
		if err != nil {
			t.Fatalf("nominate: %v", err)
		}
		_, err = e.leads["SZ03"].NominateTeam(ctx, p3, team)
		wantStatus(t, "a second nomination while one awaits approval", err, http.StatusConflict)
		_, err = e.leads["SZ03"].RequestTeamChange(ctx, p3, baocun.TeamChangeInput{Remove: []string{staff[2]}, Reason: "调整 change"})
		wantStatus(t, "a team change in dispatch", err, http.StatusConflict)
		approve := baocun.DecisionInput{TaskID: res.Opened[0], Outcome: baocun.OutcomeApprove}
		_, err = e.leads["SZ03"].DecideTeam(ctx, p3, approve)
		wantStatus(t, "the lead approves its own nomination", err, http.StatusForbidden)
		_, err = e.reviewers["SZ01"].DecideTeam(ctx, p3, approve)
		wantStatus(t, "a reviewer approves a team", err, http.StatusForbidden)
		if res, err = e.org.DecideTeam(ctx, p3, approve); err != nil {
			t.Fatalf("approve: %v", err)
		}
		if res.Stage != string(baocun.StageStationed) {
			t.Errorf("after approval: stage %s, want stationed", res.Stage)
		}
		_, err = leader.SubmitPlan(ctx, p3, baocun.PlanInput{Title: "规划", Summary: "先修路 roads first"})
		wantStatus(t, "a plan before arrival", err, http.StatusConflict)
		if _, err = leader.ConfirmArrival(ctx, p3); err != nil {
			t.Fatalf("arrival: %v", err)
		}
		if res, err = leader.SubmitPlan(ctx, p3, baocun.PlanInput{Title: "规划", Summary: "先修路 roads first"}); err != nil {
			t.Fatalf("plan: %v", err)
		}
		reviewTask = res.Opened[0]
	})

	t.Run("two reviewers decide one task at once: exactly one wins", func(t *testing.T) {
		if reviewTask == "" {
			t.Skip("no review task")
		}
		var wg sync.WaitGroup
		errs := make([]error, 0, 2)
		var mu sync.Mutex
		for _, r := range []*apiclient.Client{e.reviewers["SZ01"], e.reviewers["SZ02"]} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.DecideReview(ctx, p3, baocun.DecisionInput{TaskID: reviewTask, Outcome: baocun.OutcomeApprove})
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}()
		}
		wg.Wait()
		ok, conflicts := 0, 0
		for _, err := range errs {
			switch apiclient.StatusOf(err) {
			case 0:
				if err == nil {
					ok++
				}
			case http.StatusConflict:
				conflicts++
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("two decisions: %v; want one success and one 409", errs)
		}
		v, err := e.org.Pairing(ctx, p3)
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage != baocun.StageReviews {
			t.Errorf("after the plan's approval: stage %s, want reviews", v.Stage)
		}
		decided := 0
		for _, ev := range v.Timeline {
			if ev.Kind == "plan.approved" {
				decided++
			}
		}
		if decided != 1 {
			t.Errorf("%d plan.approved events, want 1", decided)
		}
	})

	t.Run("a reviewer never decides for their own department", func(t *testing.T) {
		res, err := e.leads["SZ01"].NominateTeam(ctx, p1, baocun.TeamInput{Leader: e.sample.Staff["SZ01"][0], Members: e.sample.Staff["SZ01"][:3]})
		if err != nil {
			t.Fatal(err)
		}
		// The approve_team task is the organiser's: a reviewer of SZ01 is refused by
		// the policy whatever the task.
		_, err = e.reviewers["SZ01"].DecideReview(ctx, p1, baocun.DecisionInput{TaskID: res.Opened[0], Outcome: baocun.OutcomeApprove})
		wantStatus(t, "SZ01's reviewer on SZ01's pairing", err, http.StatusForbidden)
	})

	t.Run("cancel a pairing", func(t *testing.T) {
		_, err := e.leads["SZ02"].CancelPairing(ctx, p2, "村庄合并 the village merged")
		wantStatus(t, "a lead cancels", err, http.StatusForbidden)
		res, err := e.org.CancelPairing(ctx, p2, "村庄合并 the village merged")
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if res.Stage != string(baocun.StageCancelled) {
			t.Errorf("cancel: stage %s, want cancelled", res.Stage)
		}
		v, err := e.org.Pairing(ctx, p2)
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage != baocun.StageCancelled {
			t.Errorf("stage %s, want cancelled", v.Stage)
		}
		if len(v.Tasks) == 0 {
			t.Fatal("the cancelled pairing has no tasks")
		}
		for _, task := range v.Tasks {
			if task.Status != baocun.TaskCancelled {
				t.Errorf("task %s (%s) is %s, want cancelled", task.ID, task.Kind, task.Status)
			}
		}
		if tasks, err := e.leads["SZ02"].Inbox(ctx); err != nil || len(tasks) != 0 {
			t.Errorf("SZ02's lead inbox after the cancellation: %+v, %v; want empty", tasks, err)
		}
		_, err = e.org.CancelPairing(ctx, p2, "再次 again")
		wantStatus(t, "cancel twice", err, http.StatusConflict)
		cy, err := e.org.Cycle(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cy.Stages[baocun.StageCancelled] != 1 {
			t.Errorf("cycle stages %v, want one cancelled", cy.Stages)
		}
	})

	t.Run("the team's inbox is its own pairing's", func(t *testing.T) {
		tasks, err := leader.Inbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.PairingID != p3 || task.Role != baocun.RoleTeamMember {
				t.Errorf("team member's inbox holds %+v", task)
			}
		}
		if !slices.ContainsFunc(tasks, func(task baocun.Task) bool { return task.Kind == baocun.TaskSubmitReport }) {
			t.Errorf("team member's inbox %+v lacks the period's report", tasks)
		}
		here := 0.0
		ci, err := leader.CheckIn(ctx, p3, baocun.CheckinInput{Lat: &here, Lng: &here})
		if err != nil || ci.Status != baocun.CheckinOK || ci.Late {
			t.Errorf("check-in for today: %+v, %v", ci, err)
		}
		_, err = leader.CheckIn(ctx, p3, baocun.CheckinInput{})
		wantStatus(t, "a second check-in today", err, http.StatusConflict)
		_, err = leader.CheckIn(ctx, p1, baocun.CheckinInput{})
		wantStatus(t, "check-in on another team's pairing", err, http.StatusForbidden)
		// A record of what happened is dated within the programme, up to its today.
		for day, status := range map[string]int{"2026-12-31": http.StatusUnprocessableEntity, "2099-01-01": http.StatusUnprocessableEntity, "2027-02-30": http.StatusBadRequest} {
			_, err = leader.CheckIn(ctx, p3, baocun.CheckinInput{Date: day, Reason: "补录 late"})
			if ae := (*apiclient.Error)(nil); !errors.As(err, &ae) || ae.Status != status || ae.Fields["date"] == "" {
				t.Errorf("check-in on %s: %v, want %d naming date", day, err, status)
			}
			err = leader.RecordVisit(ctx, p3, baocun.VisitInput{Date: day, Visitor: "张局长", Purpose: "调研 fact-finding"})
			wantField(t, "visit on "+day, err, "date")
		}
		if err := leader.RecordVisit(ctx, p3, baocun.VisitInput{Date: "2027-01-01", Visitor: "张局长", Purpose: "调研 fact-finding"}); err != nil {
			t.Errorf("visit on the start date: %v", err)
		}
	})
}

// wantField fails unless err is a 400 naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Fields[field] == "" {
		t.Errorf("%s: %v, want 400 naming %s", what, err, field)
	}
}

// awaitInbox polls c's inbox until cond holds (bounded) and returns it.
func awaitInbox(t *testing.T, c *apiclient.Client, cond func([]baocun.Task) bool) []baocun.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tasks, err := c.Inbox(ctx)
		if err != nil {
			t.Fatalf("inbox of %s: %v", c.Username(), err)
		}
		if cond(tasks) {
			return tasks
		}
		select {
		case <-ctx.Done():
			t.Fatalf("inbox of %s: condition not met within 30 s: %+v", c.Username(), tasks)
		case <-tick.C:
		}
	}
}
