package workflows_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/workflows"
)

// closedCycle stores three finished pairings of D1 as if their workflows had run:
// teams P1+P2 (final 92, excellent), P3+P4 (final 85, good) and P5 (final 55,
// fail), with one month of P2's under the residency rule. So P1, P3 and P4 may be
// proposed.
func closedCycle(t *testing.T) *fixture {
	f := newFixture(t, 3, nil)
	teams := [][]string{{"P1", "P2"}, {"P3", "P4"}, {"P5"}}
	totals := []string{"92", "85", "55"}
	r := baocun.DefaultRubric()
	for i, p := range f.pairings {
		var members []baocun.Member
		for j, id := range teams[i] {
			members = append(members, baocun.Member{PersonID: id, Leader: j == 0})
		}
		res := baocun.Result{Goods: map[string]decimal.Decimal{}, Total: decimal.RequireFromString(totals[i]), Grade: r.Grade(decimal.RequireFromString(totals[i])), Raters: 3}
		for _, g := range r.Goods {
			res.Goods[g.Code] = res.Total
		}
		ch := baocun.Change{At: launch, Team: &baocun.TeamChange{PairingID: p.ID, Members: members},
			Result: &baocun.AcceptanceResult{PairingID: p.ID, CycleID: f.cycleID, Result: res, NewClass: 2, ConfirmedBy: "org", ConfirmedAt: launch},
			Stages: []baocun.StageChange{{PairingID: p.ID, Stage: baocun.StageClosed}}}
		if i == 0 {
			short, _ := json.Marshal([]workflows.Shortfall{{PersonID: "P2", Month: "2027-03", Days: 4, Required: 20}})
			ch.Events = []baocun.Event{{PairingID: p.ID, Kind: "residency.flagged", ProgrammeAt: "2027-03-31", Actor: "system", Data: short}}
		}
		if err := f.db.ApplyChange(f.ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := f.db.ApplyChange(f.ctx, baocun.Change{At: launch, Final: &baocun.FinalResult{PairingID: p.ID, Result: res, At: launch}}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

type commendation struct {
	f   *fixture
	run *run
	in  workflows.CycleInput
}

// commendationRun runs the Commendation workflow of the fixture's cycle from
// 2030-01-01.
func commendationRun(f *fixture) *commendation {
	env := f.newEnv(date("2030-01-01"))
	env.RegisterWorkflow(workflows.Commendation)
	return &commendation{f: f, run: &run{f: f, env: env}, in: workflows.CycleInput{CycleID: f.cycleID, Pairings: 3, Settings: f.settings, Clock: f.clock}}
}

func (c *commendation) send(at time.Duration, name string, step func() workflows.CycleStep) *sent {
	r := c.run
	r.n++
	s := &sent{name: name, cb: &updateCallbacks{}, at: at}
	id := fmt.Sprintf("u%d", r.n)
	r.env.RegisterDelayedCallback(func() { r.env.UpdateWorkflow(name, id, s.cb, step()) }, at)
	return s
}

func propose(dept string, people ...string) func() workflows.CycleStep {
	return func() workflows.CycleStep {
		in := &baocun.ProposeInput{Cadres: []baocun.CadreProposal{}}
		for _, p := range people {
			in.Cadres = append(in.Cadres, baocun.CadreProposal{PersonID: p, Reason: "驻村三年成效显著 three good years in the village"})
		}
		return workflows.CycleStep{Actor: "lead", Department: dept, Propose: in, Audit: audit("lead", "commendation.propose")}
	}
}

func (c *commendation) openTask(kind baocun.TaskKind) string {
	c.f.t.Helper()
	ts, err := c.f.db.Tasks(c.f.ctx, baocun.TaskFilter{Limit: 100})
	if err != nil {
		c.f.t.Fatal(err)
	}
	for _, t := range ts {
		if t.Kind == kind && t.CycleID == c.f.cycleID {
			return t.ID
		}
	}
	c.f.t.Errorf("no open %s task", kind)
	return "none"
}

func (c *commendation) approve(exclude ...string) func() workflows.CycleStep {
	return func() workflows.CycleStep {
		return workflows.CycleStep{Actor: "org", Approve: &baocun.ApproveInput{TaskID: c.openTask(baocun.TaskApproveCommend), Exclude: exclude},
			Audit: audit("org", "commendation.approve")}
	}
}

// The department with eligible cadres proposes; ineligible people and a second
// proposal are refused and change nothing; the organiser approves, leaving one
// cadre off, and the list is published with the ranking and the cycle closed.
func TestCommendation(t *testing.T) {
	f := closedCycle(t)
	c := commendationRun(f)
	h := time.Hour
	var proposeTask baocun.Task
	c.run.at(h, func() {
		id := c.openTask(baocun.TaskProposeCadres)
		proposeTask = f.task(id)
	})
	other := c.send(2*h, workflows.UpdatePropose, propose("D2", "Q1"))
	notEligible := c.send(3*h, workflows.UpdatePropose, propose("D1", "P1", "P2"))
	stranger := c.send(4*h, workflows.UpdatePropose, propose("D1", "Q1"))
	ok := c.send(5*h, workflows.UpdatePropose, propose("D1", "P1", "P3"))
	twice := c.send(6*h, workflows.UpdatePropose, propose("D1", "P4"))
	badExclude := c.send(7*h, workflows.UpdateApprove, c.approve("P4"))
	published := c.send(8*h, workflows.UpdateApprove, c.approve("P3"))
	c.run.env.ExecuteWorkflow(workflows.Commendation, c.in)
	if !c.run.env.IsWorkflowCompleted() || c.run.env.GetWorkflowError() != nil {
		t.Fatalf("workflow: %v", c.run.env.GetWorkflowError())
	}

	if proposeTask.Department != "D1" || proposeTask.Jurisdiction != "县A" || proposeTask.Role != baocun.RoleDeptLead || proposeTask.PairingID != 0 {
		t.Errorf("proposal task %+v", proposeTask)
	}
	for name, s := range map[string]*sent{"another department": other, "a second proposal": twice} {
		if !s.cb.rejected || code(s.cb.err) != baocun.ECONFLICT {
			t.Errorf("%s: %v, want refused with conflict", name, s)
		}
	}
	for name, s := range map[string]*sent{"short of residency": notEligible, "not on a team": stranger, "excluding one not proposed": badExclude} {
		if s.cb.err == nil || code(s.cb.err) != baocun.EINVALID {
			t.Errorf("%s: %v, want refused as invalid", name, s)
		}
	}
	for name, s := range map[string]*sent{"the proposal": ok, "the approval": published} {
		if s.cb.err != nil || s.cb.rejected {
			t.Errorf("%s: %v", name, s)
		}
	}
	list, err := f.db.Commendation(f.ctx, f.cycleID)
	if err != nil {
		t.Fatal(err)
	}
	if list.Status != baocun.CommendationPublished || list.ApprovedBy != "org" || list.PublishedAt == nil {
		t.Fatalf("commendation %+v", list)
	}
	var cadres []string
	for _, cd := range list.Cadres {
		cadres = append(cadres, cd.PersonID+":"+cd.Status+":"+cd.Grade)
	}
	if fmt.Sprint(cadres) != "[P1:approved:excellent P3:excluded:good]" {
		t.Errorf("cadres %v", cadres)
	}
	// D1's mean (92 + 85 + 55) / 3 = 77.33 with a failing pairing: ranked, not advanced.
	if len(list.Departments) != 1 || !list.Departments[0].Mean.Equal(decimal.RequireFromString("77.33")) || list.Departments[0].Advanced ||
		len(list.Pairings) != 3 || list.Pairings[0].PairingID != f.pairings[0].ID {
		t.Errorf("ranking %+v %+v", list.Departments, list.Pairings)
	}
	if cy, _ := f.db.Cycle(f.ctx, f.cycleID); cy.Status != baocun.CycleClosed {
		t.Errorf("cycle %s, want closed", cy.Status)
	}
	if n := len(f.audits("commendation.propose")); n != 1 {
		t.Errorf("%d proposal audit entries, want 1: refused proposals write nothing", n)
	}
	if n := len(f.audits("commendation.publish")); n != 1 {
		t.Errorf("%d publish audit entries", n)
	}
}

// A proposal not made in its window is reminded of, then expires, and the approval
// opens without it; an approval left past its due date is reminded of and escalated.
func TestCommendationProposalExpires(t *testing.T) {
	f := closedCycle(t)
	c := commendationRun(f)
	var approvedAt time.Time
	c.run.at(since("2030-01-08", time.Hour)-since("2030-01-01", 0), func() {
		id := c.openTask(baocun.TaskApproveCommend)
		approvedAt = f.task(id).OpenedAt
	})
	c.send(since("2030-01-17", 0)-since("2030-01-01", 0), workflows.UpdateApprove, c.approve())
	c.run.env.ExecuteWorkflow(workflows.Commendation, c.in)
	if err := c.run.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if approvedAt.Before(date("2030-01-08")) {
		t.Errorf("approval opened at %v, before the proposals' window (7 days) ended", approvedAt)
	}
	ts, _ := f.db.Tasks(f.ctx, baocun.TaskFilter{Status: baocun.TaskExpired, Limit: 10})
	if len(ts) != 1 || ts[0].Kind != baocun.TaskProposeCadres || ts[0].RemindedAt == nil || ts[0].EscalatedAt != nil {
		t.Errorf("expired tasks %+v: want the proposal, reminded (three days before its due date), not escalated", ts)
	}
	// The approval, due 2030-01-15 and approved on the 17th: reminded, then escalated.
	done, _ := f.db.Tasks(f.ctx, baocun.TaskFilter{Status: baocun.TaskDone, Limit: 10})
	if len(done) != 1 || done[0].Kind != baocun.TaskApproveCommend || done[0].RemindedAt == nil || done[0].EscalatedAt == nil {
		t.Errorf("done tasks %+v: want the approval, reminded and escalated", done)
	}
	if r, e := len(f.audits("task.remind")), len(f.audits("task.escalate")); r != 2 || e != 1 {
		t.Errorf("%d reminders and %d escalations audited, want 2 and 1", r, e)
	}
	list, _ := f.db.Commendation(f.ctx, f.cycleID)
	if list.Status != baocun.CommendationPublished || len(list.Cadres) != 0 {
		t.Errorf("commendation %+v", list)
	}
}
