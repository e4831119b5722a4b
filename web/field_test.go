package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// fieldFixture is the web fixture ten programme days into its cycle, both pairings
// in reviews, V1's office at 28°N 113°E, pairing 1's team P1 (leader) and P4, and the
// accounts: member1 (P1), member4 (P4), lead (D1's lead, person P5), organiser.
func fieldFixture(t *testing.T, dsn string) (*fixture, map[string]string) {
	f := newFixture(t, dsn)
	ctx := context.Background()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE cycles SET launched_at = ? WHERE id = 1", []any{sqldb.FormatTime(time.Now().Add(-10*24*time.Hour - time.Hour))}},
		{"UPDATE villages SET lat = 28.0, lng = 113.0 WHERE code = 'V1'", nil},
		{"INSERT INTO people (id, name, department_code) VALUES ('P4', '赵六', 'D1'), ('P5', '钱七', 'D1')", nil},
	} {
		if _, err := f.db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(),
		Team:   &baocun.TeamChange{PairingID: 1, Members: []baocun.Member{{PersonID: "P1", Leader: true}, {PersonID: "P4"}}},
		Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageReviews, Period: 1}, {PairingID: 2, Stage: baocun.StageReviews, Period: 1}}}); err != nil {
		t.Fatal(err)
	}
	f.user("member1", "P1", "", baocun.Grant{Role: baocun.RoleTeamMember, Jurisdiction: "县A"})
	f.user("member4", "P4", "", baocun.Grant{Role: baocun.RoleTeamMember, Jurisdiction: "县A"})
	f.user("lead", "P5", "", baocun.Grant{Role: baocun.RoleDeptLead, Jurisdiction: "*"})
	f.user("org", "", "", baocun.Grant{Role: baocun.RoleOrganiser, Jurisdiction: "*"})
	tok := map[string]string{}
	for _, u := range []string{"member1", "member4", "lead", "org"} {
		tok[u] = f.login(f.srv, u)
	}
	return f, tok
}

// The field records' rules through the API, on both databases: a check-in is today's
// (server-stamped, in or out of range of the village's office), a second the same day
// is 409, one for another team's pairing is 403 and audited, a late one needs a reason
// and the leader's word and past the cycle's limit is 422 naming it; leave is the
// member's own, decided by the department lead up to the limit and an organiser
// beyond, never by the member, and not over a day checked in.
func TestFieldRecordsOverHTTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		post := func(who, path string, body any) (int, string) {
			t.Helper()
			return call(t, f.srv, tok[who], "POST", "/api/v1"+path, body)
		}
		checkin := func(body string) baocun.Checkin {
			t.Helper()
			var c baocun.Checkin
			if err := json.Unmarshal([]byte(body), &c); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			return c
		}
		// About 560 m north of the office: in range of the default 3 km.
		status, body := post("member4", "/pairings/1/checkins", map[string]any{"lat": 28.005, "lng": 113.0, "accuracy_m": 20})
		c := checkin(body)
		if status != 201 || c.Day != "2027-01-11" || c.Status != baocun.CheckinOK || c.InRange == nil || !*c.InRange ||
			c.DistanceM == nil || *c.DistanceM < 500 || *c.DistanceM > 600 || time.Since(c.RecordedAt) > time.Minute {
			t.Fatalf("today's check-in: %d %s", status, body)
		}
		if status, body := post("member4", "/pairings/1/checkins", map[string]any{}); status != 409 || !strings.Contains(body, "pairing 1") {
			t.Errorf("a second check-in today: %d %s, want 409 naming where the day stands", status, body)
		}
		if status, body := post("member4", "/pairings/2/checkins", map[string]any{}); status != 403 {
			t.Errorf("a check-in on another team's pairing: %d %s, want 403", status, body)
		}
		entries, _, err := f.audit.Query(context.Background(), baocun.AuditFilter{Decision: baocun.DecisionDeny, Actor: "member4", Limit: 10})
		if err != nil || len(entries) != 1 || entries[0].Action != "residency.record" || entries[0].Resource != "pairings/2" {
			t.Errorf("the refused check-in's audit: %+v, %v", entries, err)
		}
		// Late: a reason, then the leader's word.
		if status, body := post("member4", "/pairings/1/checkins", map[string]any{"date": "2027-01-09"}); status != 400 || !strings.Contains(body, `"reason"`) {
			t.Errorf("a late check-in without a reason: %d %s, want 400 naming reason", status, body)
		}
		status, body = post("member4", "/pairings/1/checkins", map[string]any{"date": "2027-01-09", "reason": "进城开会 a meeting in town", "lat": 29.0, "lng": 113.0})
		if c := checkin(body); status != 201 || c.Status != baocun.CheckinPending || !c.Late || c.InRange != nil {
			t.Errorf("a late check-in sent from 111 km away: %d %s, want 201, pending, no range (today's position says nothing of that day)", status, body)
		}
		for _, day := range []string{"2027-01-07", "2027-01-12", "2026-12-31"} {
			status, body := post("member4", "/pairings/1/checkins", map[string]any{"date": day, "reason": "补录 late"})
			if status != 422 || !strings.Contains(body, `"date"`) {
				t.Errorf("a check-in on %s: %d %s, want 422 naming date", day, status, body)
			}
		}
		if _, body := post("member4", "/pairings/1/checkins", map[string]any{"date": "2027-01-07", "reason": "补录 late"}); !strings.Contains(body, "3") {
			t.Errorf("the refusal of a check-in four days late does not name the limit: %s", body)
		}
		review := map[string]any{"person_id": "P4", "date": "2027-01-09", "accept": true}
		if status, body := post("member4", "/pairings/1/checkins/review", review); status != 403 {
			t.Errorf("a member confirming their own late check-in: %d %s, want 403", status, body)
		}
		if status, body := post("member1", "/pairings/1/checkins/review", review); status != 200 || checkin(body).Status != baocun.CheckinOK {
			t.Errorf("the leader confirming: %d %s", status, body)
		}
		var n int
		if err := f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM checkins WHERE person_id = 'P4'").Scan(&n); err != nil || n != 2 {
			t.Errorf("%d check-ins stored (%v), want today's and the confirmed late one", n, err)
		}

		// Leave.
		status, body = post("member4", "/pairings/1/leave", map[string]any{"from": "2027-01-20", "to": "2027-01-21", "kind": "sick", "reason": "发烧 fever"})
		var l baocun.Leave
		json.Unmarshal([]byte(body), &l)
		if status != 201 || l.PersonID != "P4" || l.Days != 2 || l.Status != baocun.LeaveRequested {
			t.Fatalf("requesting leave: %d %s", status, body)
		}
		decide := func(who string, id int64, outcome string) (int, string) {
			return post(who, fmt.Sprintf("/pairings/1/leave/%d/decision", id), map[string]string{"outcome": outcome})
		}
		if status, body := decide("member4", l.ID, "approve"); status != 403 {
			t.Errorf("a member approving their own leave: %d %s, want 403", status, body)
		}
		if status, body := decide("lead", l.ID, "approve"); status != 200 || !strings.Contains(body, `"approved"`) {
			t.Errorf("the lead approving two days: %d %s", status, body)
		}
		if status, body := post("member4", "/pairings/1/leave", map[string]any{"from": "2027-01-11", "to": "2027-01-12", "kind": "personal", "reason": "家事 family"}); status != 409 {
			t.Errorf("leave over today, checked in: %d %s, want 409", status, body)
		}
		_, body = post("member4", "/pairings/1/leave", map[string]any{"from": "2027-02-01", "to": "2027-02-05", "kind": "family", "reason": "探亲 family visit"})
		json.Unmarshal([]byte(body), &l)
		if status, body := decide("lead", l.ID, "approve"); status != 403 || !strings.Contains(body, "approve_long") {
			t.Errorf("the lead approving five days (the limit is 3): %d %s, want 403", status, body)
		}
		if status, body := decide("org", l.ID, "approve"); status != 200 {
			t.Errorf("an organiser approving five days: %d %s", status, body)
		}
		entries, _, err = f.audit.Query(context.Background(), baocun.AuditFilter{Decision: baocun.DecisionDeny, Actor: "lead", Limit: 10})
		if err != nil || len(entries) != 1 || entries[0].Action != "leave.approve_long" {
			t.Errorf("the lead's refusal's audit: %+v, %v", entries, err)
		}
		// Counted: today, the confirmed day, and the two days of approved January leave.
		days, err := f.db.CheckinDays(context.Background(), 1, "2027-01-01", "2027-02-01")
		if err != nil || days["P4"]["2027-01"] != 4 {
			t.Errorf("January's residency days %v (%v), want 4 for P4", days, err)
		}
		// The village confirms a month only once it has passed.
		f.user("v1", "", "V1", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "县A"})
		tok["v1"] = f.login(f.srv, "v1")
		if status, body := post("v1", "/pairings/1/checkins/months/2027-01", map[string]any{}); status != 400 || !strings.Contains(body, `"month"`) {
			t.Errorf("confirming the month still running: %d %s, want 400 naming month", status, body)
		}
		// The village reads the days, not the team's leave or its reasons.
		if status, body := call(t, f.srv, tok["v1"], "GET", "/api/v1/pairings/1/checkins?month=2027-01", nil); status != 200 || !strings.Contains(body, `"leave":[]`) || strings.Contains(body, "fever") {
			t.Errorf("the village's view of January: %d %s, want the days without the leave", status, body)
		}
		if status, body := call(t, f.srv, tok["lead"], "GET", "/api/v1/pairings/1/checkins?month=2027-01", nil); status != 200 || !strings.Contains(body, `"sick"`) || strings.Contains(body, "fever") {
			t.Errorf("the lead's view of January: %d %s, want the leave without its reason", status, body)
		}
	})
}

// One person, one active team: a nomination naming someone on another running
// pairing's team is refused, naming that pairing, and nothing is sent on.
func TestNominationOfSomeoneServingIsRefused(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		ctx := context.Background()
		settings := baocun.CycleSettings{StartDate: "2027-01-01"}
		settings.Defaults()
		if _, err := f.db.CreateCycle(ctx, &baocun.Cycle{Name: "第二轮", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()},
			[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V8", Kind: "support"}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"}); err != nil {
			t.Fatal(err)
		}
		status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/3/team", map[string]any{"leader": "P5", "members": []string{"P5", "P4"}})
		if status != 409 || !strings.Contains(body, "pairing 1") || !strings.Contains(body, "P4") {
			t.Fatalf("nominating P4, on pairing 1's team: %d %s, want 409 naming pairing 1", status, body)
		}
		if steps := f.fake.Steps(); len(steps) != 0 {
			t.Fatalf("the refused nomination reached the engine: %+v", steps)
		}
		// A nomination that got in (sent before P4 was approved for pairing 1, say)
		// is refused at its approval.
		if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(),
			Open: []baocun.Task{{ID: "3-2", Kind: baocun.TaskApproveTeam, PairingID: 3, CycleID: 2, Role: baocun.RoleOrganiser, Jurisdiction: "县B",
				Department: "D1", Village: "V2", DueAt: time.Now().Add(time.Hour), DueDate: "2027-02-01", RemindAt: time.Now()}},
			Events: []baocun.Event{{PairingID: 3, Kind: "team.nominated", Data: []byte(`[{"person_id":"P5","leader":true},{"person_id":"P4"}]`)}}}); err != nil {
			t.Fatal(err)
		}
		status, body = call(t, f.srv, tok["org"], "POST", "/api/v1/pairings/3/team/decision", map[string]any{"task_id": "3-2", "outcome": "approve"})
		if status != 409 || !strings.Contains(body, "pairing 1") {
			t.Fatalf("approving a team naming P4: %d %s, want 409 naming pairing 1", status, body)
		}
		if steps := f.fake.Steps(); len(steps) != 0 {
			t.Fatalf("the refused approval reached the engine: %+v", steps)
		}
	})
}

// Spot checks and the work log through the API, on both databases: a reviewer of
// another department records a check naming only the team's people; a reviewer of
// the pairing's own department may not; the team writes its log and anyone who
// oversees the pairing searches it.
func TestSpotChecksAndLogOverHTTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		f.user("rev2", "P2", "", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "*"})
		f.user("rev1", "P5", "", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "*"})
		tok["rev2"], tok["rev1"] = f.login(f.srv, "rev2"), f.login(f.srv, "rev1")
		post := func(who, path string, body any) (int, string) {
			t.Helper()
			return call(t, f.srv, tok[who], "POST", "/api/v1"+path, body)
		}
		check := map[string]any{"date": "2027-01-10", "present": []string{"P1"}, "absent": []string{"P4"}, "note": "上午十点到村，赵六不在 10 a.m., P4 away"}
		if status, body := post("rev1", "/pairings/1/spot-checks", check); status != 403 {
			t.Errorf("a reviewer of the pairing's own department: %d %s, want 403", status, body)
		}
		if status, body := post("rev2", "/pairings/1/spot-checks", map[string]any{"date": "2027-01-10", "absent": []string{"P2"}, "note": "x"}); status != 400 || !strings.Contains(body, `absent[0]`) {
			t.Errorf("naming someone not on the team: %d %s, want 400 naming absent[0]", status, body)
		}
		status, body := post("rev2", "/pairings/1/spot-checks", check)
		var sc baocun.SpotCheck
		json.Unmarshal([]byte(body), &sc)
		if status != 201 || sc.Unexcused() != 1 || sc.RecordedBy != "rev2" {
			t.Fatalf("the spot check: %d %s", status, body)
		}
		// An objective input to acceptance: the raters see the count beside the
		// residency figures, and a rubric's formula may fold it in.
		var detail struct{ Objective baocun.Objective }
		status, body = call(t, f.srv, tok["rev2"], "GET", "/api/v1/pairings/1", nil)
		if json.Unmarshal([]byte(body), &detail); status != 200 || detail.Objective.SpotChecks == nil || *detail.Objective.SpotChecks != 1 ||
			detail.Objective.SpotCheckAbsences == nil || *detail.Objective.SpotCheckAbsences != 1 {
			t.Errorf("the pairing's objective after the spot check: %d %+v, want 1 check, 1 unexcused absence", status, detail.Objective)
		}
		// The same absence recorded again by another inspector counts once.
		if status, body := post("rev2", "/pairings/1/spot-checks", check); status != 201 {
			t.Fatalf("the spot check again: %d %s", status, body)
		}
		status, body = call(t, f.srv, tok["rev2"], "GET", "/api/v1/pairings/1", nil)
		if json.Unmarshal([]byte(body), &detail); detail.Objective.SpotCheckAbsences == nil || *detail.Objective.SpotCheckAbsences != 1 {
			t.Errorf("after the same absence was recorded twice: %+v, want 1", detail.Objective.SpotCheckAbsences)
		}
		// The team checked never learns of the checks from its pairing's figures.
		status, body = call(t, f.srv, tok["member4"], "GET", "/api/v1/pairings/1", nil)
		if status != 200 || strings.Contains(body, "spot_check") {
			t.Errorf("the team's view of its pairing: %d, mentions spot checks: %s", status, body)
		}
		if in := detail.Objective.Inputs(); !in[baocun.InputSpotCheckAbsences].Equal(decimal.NewFromInt(1)) {
			t.Errorf("the objective inputs %v, want spot_check_absences 1", in)
		}

		if status, body := post("member4", "/pairings/1/log", map[string]any{"kind": "issue", "text": "村民反映自来水管破裂 a burst water main", "goal": "饮水安全"}); status != 201 || !strings.Contains(body, `"date":"2027-01-11"`) {
			t.Fatalf("a log entry for today: %d %s", status, body)
		}
		if status, body := post("member4", "/pairings/1/log", map[string]any{"kind": "gossip", "text": "x"}); status != 400 || !strings.Contains(body, `"kind"`) {
			t.Errorf("a log entry of no kind: %d %s, want 400 naming kind", status, body)
		}
		status, body = call(t, f.srv, tok["rev2"], "GET", "/api/v1/pairings/1/log?q="+url.QueryEscape("水管"), nil)
		if status != 200 || !strings.Contains(body, "burst water main") {
			t.Errorf("searching the log: %d %s", status, body)
		}
		if status, body := call(t, f.srv, tok["rev2"], "GET", "/api/v1/pairings/1/log?q=nothing-like-it", nil); status != 200 || strings.Contains(body, "water") {
			t.Errorf("searching for what is not there: %d %s", status, body)
		}
	})
}

// The village's dispute of a month's check-ins opens a task for the department lead
// (issue 17 part 1), on both databases: the lead answers it, saying what was found
// and done, once; a team member cannot; the answer closes the task.
func TestCheckinDisputeOverHTTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		ctx := context.Background()
		// The programme is in mid-February: January has passed.
		if _, err := f.db.ExecContext(ctx, "UPDATE cycles SET launched_at = ? WHERE id = 1", sqldb.FormatTime(time.Now().Add(-45*24*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := f.db.AddCheckin(ctx, baocun.Checkin{PairingID: 1, PersonID: "P4", Day: "2027-01-05", RecordedAt: time.Now(), RecordedBy: "member4", Status: baocun.CheckinOK}, nil); err != nil {
			t.Fatal(err)
		}
		f.user("v1", "", "V1", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "县A"})
		tok["v1"] = f.login(f.srv, "v1")
		dispute := map[string]any{"disputes": []map[string]any{{"person_id": "P4", "dates": []string{"2027-01-05"}, "reason": "当天未见其人 not seen that day"}}}
		if status, body := call(t, f.srv, tok["v1"], "POST", "/api/v1/pairings/1/checkins/months/2027-01", dispute); status != 200 || !strings.Contains(body, `"disputed":1`) {
			t.Fatalf("the village disputing a day of January: %d %s", status, body)
		}
		var inbox struct{ Items []baocun.Task }
		status, body := call(t, f.srv, tok["lead"], "GET", "/api/v1/tasks", nil)
		json.Unmarshal([]byte(body), &inbox)
		var task *baocun.Task
		for i, ta := range inbox.Items {
			if ta.Kind == baocun.TaskCheckinDispute {
				task = &inbox.Items[i]
			}
		}
		if status != 200 || task == nil || task.PairingID != 1 || task.Status != baocun.TaskOpen {
			t.Fatalf("the lead's inbox: %d %s, want the dispute's task", status, body)
		}
		answer := map[string]any{"task_id": task.ID, "outcome": "acknowledge", "comment": ""}
		if status, body := call(t, f.srv, tok["member1"], "POST", "/api/v1/pairings/1/checkins/disputes", answer); status != 403 {
			t.Errorf("a team member answering: %d %s, want 403", status, body)
		}
		if status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/1/checkins/disputes", answer); status != 400 || !strings.Contains(body, `"comment"`) {
			t.Errorf("an answer saying nothing: %d %s, want 400 naming comment", status, body)
		}
		answer["comment"] = "经核实当天在县里开会，已要求补办请假 he was at a county meeting; told to ask leave"
		// Not by the one whose days are disputed, whatever else they are.
		f.user("lead4", "P4", "", baocun.Grant{Role: baocun.RoleDeptLead, Jurisdiction: "*"})
		if status, body := call(t, f.srv, f.login(f.srv, "lead4"), "POST", "/api/v1/pairings/1/checkins/disputes", answer); status != 403 {
			t.Errorf("the disputed member, as a department lead, answering: %d %s, want 403", status, body)
		}
		if status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/1/checkins/disputes", answer); status != 200 {
			t.Fatalf("the lead's answer: %d %s", status, body)
		}
		if status, body := call(t, f.srv, tok["lead"], "POST", "/api/v1/pairings/1/checkins/disputes", answer); status != 409 {
			t.Errorf("answering twice: %d %s, want 409", status, body)
		}
		if got, err := f.db.Task(ctx, task.ID); err != nil || got.Status != baocun.TaskDone || got.ClosedBy != "lead" {
			t.Errorf("the task after the answer: %+v, %v", got, err)
		}
		entries, _, err := f.audit.Query(ctx, baocun.AuditFilter{Actor: "lead", Action: "residency.acknowledge", Limit: 10})
		if err != nil || !slices.ContainsFunc(entries, func(e baocun.AuditEntry) bool { return strings.Contains(e.Summary, "county meeting") }) {
			t.Errorf("the answer is not in the trail: %+v, %v", entries, err)
		}
	})
}

// Leave is withdrawn by the one who asked it, on both databases: asked and not yet
// decided, or approved and not yet begun; not by another member, not twice, not once
// it has begun. Withdrawn, it holds no day: the same days may be asked again.
func TestLeaveWithdrawnOverHTTP(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn) // the programme's today: 2027-01-11
		post := func(who, path string, body any) (int, string) {
			t.Helper()
			return call(t, f.srv, tok[who], "POST", "/api/v1"+path, body)
		}
		ask := func(from, to string) baocun.Leave {
			t.Helper()
			status, body := post("member4", "/pairings/1/leave", map[string]any{"from": from, "to": to, "kind": "personal", "reason": "家事 family"})
			var l baocun.Leave
			if json.Unmarshal([]byte(body), &l); status != 201 {
				t.Fatalf("asking leave %s to %s: %d %s", from, to, status, body)
			}
			return l
		}
		withdraw := func(who string, id int64) (int, string) {
			return post(who, fmt.Sprintf("/pairings/1/leave/%d/withdraw", id), nil)
		}
		l := ask("2027-01-20", "2027-01-21")
		// The page offers the withdrawal to the one who asked, and to no one else.
		form := fmt.Sprintf(`/api/v1/pairings/1/leave/%d/withdraw`, l.ID)
		if _, _, page := uiGet(t, f, sessionCookie(t, f, "member4"), "/pairings/1"); !strings.Contains(page, form) {
			t.Error("the member's page does not offer to withdraw their leave")
		}
		if _, _, page := uiGet(t, f, sessionCookie(t, f, "member1"), "/pairings/1"); strings.Contains(page, form) {
			t.Error("another member's page offers to withdraw it")
		}
		if status, body := withdraw("member1", l.ID); status != 403 {
			t.Errorf("another member withdrawing it: %d %s, want 403", status, body)
		}
		if status, body := withdraw("member4", l.ID); status != 200 || !strings.Contains(body, `"withdrawn"`) {
			t.Fatalf("withdrawing one's own leave: %d %s", status, body)
		}
		if status, body := withdraw("member4", l.ID); status != 409 {
			t.Errorf("withdrawing it twice: %d %s, want 409", status, body)
		}
		l = ask("2027-01-20", "2027-01-21") // the same days again: withdrawn leave holds none
		if status, body := post("lead", fmt.Sprintf("/pairings/1/leave/%d/decision", l.ID), map[string]string{"outcome": "approve"}); status != 200 {
			t.Fatalf("approving it: %d %s", status, body)
		}
		if status, body := withdraw("member4", l.ID); status != 200 {
			t.Errorf("withdrawing approved leave not yet begun: %d %s", status, body)
		}
		// Who approved it stays on its record; the trail names the withdrawal and the leave.
		if got, err := f.db.Leave(context.Background(), 1, l.ID); err != nil || got.Status != baocun.LeaveWithdrawn || got.DecidedBy != "lead" {
			t.Errorf("the withdrawn leave's record: %+v, %v; want withdrawn, decided by lead", got, err)
		}
		entries, _, err := f.audit.Query(context.Background(), baocun.AuditFilter{Action: "leave.withdraw", Actor: "member4", Limit: 10})
		if err != nil || len(entries) != 2 || entries[0].Resource != fmt.Sprintf("pairings/1/leave/%d", l.ID) || !strings.Contains(entries[0].Summary, `"was":"approved"`) {
			t.Errorf("the withdrawals' audit: %+v, %v; want two, the latest naming leave %d, approved", entries, err, l.ID)
		}
		begun := ask("2027-01-11", "2027-01-11")
		if status, body := post("lead", fmt.Sprintf("/pairings/1/leave/%d/decision", begun.ID), map[string]string{"outcome": "approve"}); status != 200 {
			t.Fatalf("approving today's leave: %d %s", status, body)
		}
		if status, body := withdraw("member4", begun.ID); status != 409 || !strings.Contains(body, "began") {
			t.Errorf("withdrawing leave that has begun: %d %s, want 409", status, body)
		}
	})
}
