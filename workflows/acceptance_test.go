package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"

	"baocun"
	"baocun/workflows"
)

// sheetOf scores every indicator of the default rubric at share of its points.
func sheetOf(share string) baocun.Scores {
	s := baocun.Scores{}
	for _, g := range baocun.DefaultRubric().Goods {
		for _, in := range g.Indicators {
			s[g.Code+"."+in.Code] = in.Points.Mul(decimal.RequireFromString(share)).Round(2)
		}
	}
	return s
}

// Acceptance opens with the team's self-assessment once the last period ends; the
// raters' sheets are checked against the cycle's rubric (one each, every indicator,
// in range); the sheet that reaches the minimum combines them; an organiser confirms
// the result and the village's new class, which is stored, and the pairing moves to
// publicity.
func TestPairingAcceptance(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	pid := r.p.ID
	r.toStage(baocun.StageReviews)
	after := func(day string, h int) time.Duration { return since(day, time.Duration(h)*time.Hour) }
	step := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	score := func(share string) workflows.Step {
		return workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf(share)}}
	}

	early := r.send(after("2027-12-01", 0), workflows.UpdateScore, step("r1", score("1")))
	r.must(after("2028-01-02", 0), workflows.UpdateSelfAssess, step("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "三年来修路三条 three roads in three years"}}))
	r.must(after("2028-01-03", 0), workflows.UpdateScore, step("r1", score("1")))
	twice := r.send(after("2028-01-03", 1), workflows.UpdateScore, step("r1", score("0.5")))
	bad := sheetOf("1")
	bad["prosperity.economy"] = decimal.RequireFromString("41") // of 40 points
	outOfRange := r.send(after("2028-01-03", 2), workflows.UpdateScore, step("r2", workflows.Step{Score: &baocun.ScoreInput{Scores: bad}}))
	r.must(after("2028-01-03", 3), workflows.UpdateScore, step("r2", score("1")))
	r.at(after("2028-01-03", 4), func() {
		if st := r.state(); st.Acceptance == nil || len(st.Acceptance.Sheets) != 2 || st.Acceptance.Result != nil {
			t.Errorf("after two sheets: %+v", st.Acceptance)
		}
	})
	third := r.must(after("2028-01-03", 5), workflows.UpdateScore, step("r3", score("0.5")))
	badClass := r.send(after("2028-01-04", 0), workflows.UpdateConfirm, func() workflows.Step {
		return workflows.Step{Actor: "org", Confirm: &baocun.ConfirmInput{TaskID: r.open(baocun.TaskConfirm, 0), NewClass: 4}}
	})
	r.must(after("2028-01-04", 1), workflows.UpdateConfirm, func() workflows.Step {
		return workflows.Step{Actor: "org", Confirm: &baocun.ConfirmInput{TaskID: r.open(baocun.TaskConfirm, 0), NewClass: 2}}
	})
	r.at(after("2028-01-05", 0), func() {
		if st := r.state(); st.Stage != baocun.StagePublicity || st.Acceptance.NewClass != 2 {
			t.Errorf("state %s class %d", st.Stage, st.Acceptance.NewClass)
		}
		if p := f.pairing(pid); p.Stage != baocun.StagePublicity {
			t.Errorf("pairing at %s, want publicity", p.Stage)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}

	for name, c := range map[string]struct {
		s    *sent
		code string
	}{"scoring before the self-assessment": {early, baocun.ECONFLICT}, "a second sheet from one rater": {twice, baocun.ECONFLICT},
		"a score above its points": {outOfRange, baocun.EINVALID}, "a village class of 4": {badClass, baocun.EINVALID}} {
		if !c.s.cb.rejected || code(c.s.cb.err) != c.code {
			t.Errorf("%s: %v, want refused with %s", name, c.s, c.code)
		}
	}
	// (1 + 1 + 0.5) / 3 of every indicator: 83.33, good.
	if res := third.result(); res.Stage != baocun.StageAcceptance || len(res.Opened) != 1 {
		t.Errorf("the third sheet: %+v", res)
	}
	results, err := f.db.AcceptanceResults(f.ctx, f.cycleID)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].Result.Total.Equal(decimal.RequireFromString("83.33")) || results[0].Result.Grade != baocun.GradeGood ||
		results[0].NewClass != 2 || results[0].ConfirmedBy != "org" || results[0].Result.Raters != 3 || results[0].Department != r.p.Department {
		t.Fatalf("stored results %+v", results)
	}
	var kinds []string
	for _, e := range f.events(pid) {
		switch e.Kind {
		case "acceptance.opened", "acceptance.self_assessed", "acceptance.scored", "acceptance.combined", "acceptance.confirmed":
			kinds = append(kinds, e.Kind)
		}
	}
	want := "[acceptance.opened acceptance.self_assessed acceptance.scored acceptance.scored acceptance.scored acceptance.combined acceptance.confirmed]"
	if got := fmt.Sprint(kinds); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
}
