package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"baocun"
	"baocun/workflows"
)

// sheetOf scores every indicator of the default rubric at share of its points.
func sheetOf(share string) baocun.Scores {
	s := baocun.Scores{}
	r := baocun.DefaultRubric()
	for k, points := range r.Rated() {
		s[k] = points.Mul(decimal.RequireFromString(share)).Round(2)
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
	r.lastReportIn(1)
	after := func(day string, h int) time.Duration { return since(day, time.Duration(h)*time.Hour) }
	step := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	score := func(share string) workflows.Step {
		return workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf(share)}}
	}

	early := r.send(after("2027-12-01", 0), workflows.UpdateScore, step("r1", score("1")))
	// Evidence for an indicator the rubric does not have is refused, naming it.
	unknown := r.send(after("2028-01-02", 0), workflows.UpdateSelfAssess, step("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "三年来修路三条",
		Evidence: map[string][]string{"leadership.policy": {"0123456789abcdef0123456789abcdef"}, "leadership.nepotism": {"fedcba9876543210fedcba9876543210"}}}}))
	r.must(after("2028-01-02", 1), workflows.UpdateSelfAssess, step("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "三年来修路三条 three roads in three years"}}))
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
	var results []baocun.AcceptanceResult
	var err error
	r.at(after("2028-01-05", 0), func() {
		if st := r.state(); st.Stage != baocun.StagePublicity || st.Acceptance.NewClass != 2 {
			t.Errorf("state %s class %d", st.Stage, st.Acceptance.NewClass)
		}
		if p := f.pairing(pid); p.Stage != baocun.StagePublicity {
			t.Errorf("pairing at %s, want publicity", p.Stage)
		}
		r.agrees()
		// Read now: a cancelled pairing's result is not listed.
		results, err = f.db.AcceptanceResults(f.ctx, f.cycleID)
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}

	for name, c := range map[string]struct {
		s    *sent
		code string
	}{"scoring before the self-assessment": {early, baocun.ECONFLICT}, "a second sheet from one rater": {twice, baocun.ECONFLICT},
		"a score above its points": {outOfRange, baocun.EINVALID}, "a village class of 4": {badClass, baocun.EINVALID},
		"evidence for an indicator the rubric has not": {unknown, baocun.EINVALID}} {
		if !c.s.cb.rejected || code(c.s.cb.err) != c.code {
			t.Errorf("%s: %v, want refused with %s", name, c.s, c.code)
		}
	}
	if !strings.Contains(unknown.cb.err.Error(), "leadership.nepotism") {
		t.Errorf("the refusal of unknown evidence does not name the indicator: %v", unknown.cb.err)
	}
	// (1 + 1 + 0.5) / 3 of every rated indicator: 83.33…%. The pairing has no
	// approved report or evaluation, so the four indicators the records decide earn
	// nothing: prosperity (25 + 30)·0.8333… = 45.83, feedback (30 + 30)·0.8333… = 50;
	// total (83.333…·50 + 45.833…·35 + 50·15) / 100 = 65.2083… → 65.21, pass.
	if res := third.result(); res.Stage != string(baocun.StageAcceptance) || len(res.Opened) != 1 {
		t.Errorf("the third sheet: %+v", res)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || !results[0].Result.Total.Equal(decimal.RequireFromString("65.21")) || results[0].Result.Grade != baocun.GradePass ||
		!results[0].Result.Goods["prosperity"].Equal(decimal.RequireFromString("45.83")) || !results[0].Result.Computed["feedback.satisfaction"].IsZero() ||
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

// publicityRun is a one-year pairing brought to publicity: acceptance opens on
// 2028-01-01, the result (83.33…% of every rated indicator, 65.21, pass) is
// confirmed on 2028-01-04 at 01:00 and published at once.
func publicityRun(t *testing.T, tweak func(*baocun.CycleSettings)) (*fixture, *run, workflows.PairingState) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) {
		s.Years, s.PeriodMonths = 1, 12
		if tweak != nil {
			tweak(s)
		}
	})
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.lastReportIn(1)
	as := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	r.must(since("2028-01-02", 0), workflows.UpdateSelfAssess, as("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "三年来修路三条 three roads"}}))
	for i, share := range []string{"1", "1", "0.5"} {
		r.must(since("2028-01-03", time.Duration(i)*time.Hour), workflows.UpdateScore, as(fmt.Sprintf("r%d", i+1), workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf(share)}}))
	}
	r.must(since("2028-01-04", time.Hour), workflows.UpdateConfirm, func() workflows.Step {
		return workflows.Step{Actor: "org", Confirm: &baocun.ConfirmInput{TaskID: r.open(baocun.TaskConfirm, 0), NewClass: 2}}
	})
	return f, r, s0
}

func appealStep(reasons string) func() workflows.Step {
	return func() workflows.Step {
		return workflows.Step{Actor: "lead", Appeal: &baocun.AppealInput{Reasons: reasons}, Audit: audit("lead", "appeal.file")}
	}
}

func (r *run) decideAppeal(outcome string, goods map[string]string) func() workflows.Step {
	return func() workflows.Step {
		d := &baocun.AppealDecisionInput{TaskID: r.open(baocun.TaskDecideAppeal, 0), Outcome: outcome, Reasons: "复核了台账 the ledgers were checked"}
		for k, v := range goods {
			if d.Goods == nil {
				d.Goods = map[string]decimal.Decimal{}
			}
			d.Goods[k] = decimal.RequireFromString(v)
		}
		return workflows.Step{Actor: "rev", AppealDecision: d, Audit: audit("rev", "appeal.decide")}
	}
}

// Without an appeal the result is published for 7 days and may be appealed for 10:
// it becomes final, and the pairing closes, when the later window ends (the end of
// 2028-01-14), unchanged.
func TestPublicityWithoutAppeal(t *testing.T) {
	f, r, s0 := publicityRun(t, nil)
	pid := r.p.ID
	r.at(since("2028-01-04", 2*time.Hour), func() {
		a := r.state().Acceptance
		if a.PublishedOn != "2028-01-04" || a.PublicityEnds != "2028-01-11" || a.AppealBy != "2028-01-14" {
			t.Errorf("published %s, publicity ends %s, appeal by %s", a.PublishedOn, a.PublicityEnds, a.AppealBy)
		}
	})
	r.at(since("2028-01-14", 23*time.Hour), func() {
		if p := f.pairing(pid); p.Stage != baocun.StagePublicity {
			t.Errorf("on the appeal window's last day the pairing is %s", p.Stage)
		}
	})
	if err := r.exec(s0); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if r.env.Now().Before(date("2028-01-15")) {
		t.Errorf("closed at %v, before the appeal window's end", r.env.Now())
	}
	if p := f.pairing(pid); p.Stage != baocun.StageClosed {
		t.Errorf("pairing %s, want closed", p.Stage)
	}
	results, _ := f.db.AcceptanceResults(f.ctx, f.cycleID)
	if len(results) != 1 || results[0].Final == nil || !results[0].Final.Total.Equal(results[0].Result.Total) || results[0].Appeal != nil || results[0].FinalizedAt == nil {
		t.Fatalf("results %+v", results)
	}
	kinds := f.eventKinds(pid)
	if !slices.Contains(kinds, "result.published") || kinds[len(kinds)-1] != "result.final" {
		t.Errorf("events %v", kinds)
	}
	if n := len(f.audits("acceptance.finalize")); n != 1 {
		t.Errorf("%d finalize audit entries", n)
	}
}

// An appeal filed in its window opens a reviewer's decision; a second appeal, a
// revision of an unknown good, and an appeal decision on no open task are refused.
// The revision is final, and the pairing closes once publicity is over (the end of
// 2028-01-11): the appeal window closed when the appeal was filed.
func TestPublicityAppealRevised(t *testing.T) {
	f, r, s0 := publicityRun(t, nil)
	pid := r.p.ID
	short := r.send(since("2028-01-05", 0), workflows.UpdateAppeal, appealStep(""))
	r.must(since("2028-01-05", time.Hour), workflows.UpdateAppeal, appealStep("台账漏计两个项目 two projects were left out of the ledger"))
	second := r.send(since("2028-01-05", 2*time.Hour), workflows.UpdateAppeal, appealStep("再次申诉 again"))
	unknown := r.send(since("2028-01-06", 0), workflows.UpdateDecideAppeal, r.decideAppeal(baocun.AppealRevise, map[string]string{"luck": "100"}))
	upholdWithScores := r.send(since("2028-01-06", time.Hour), workflows.UpdateDecideAppeal, r.decideAppeal(baocun.AppealUphold, map[string]string{"prosperity": "90"}))
	// prosperity 45.83 → 88.69: the total rises by 0.35 · 42.86 = 15.001 → 80.21, good.
	r.must(since("2028-01-06", 2*time.Hour), workflows.UpdateDecideAppeal, r.decideAppeal(baocun.AppealRevise, map[string]string{"prosperity": "88.69"}))
	again := r.send(since("2028-01-06", 3*time.Hour), workflows.UpdateDecideAppeal, func() workflows.Step {
		return workflows.Step{Actor: "rev", AppealDecision: &baocun.AppealDecisionInput{TaskID: fmt.Sprintf("%d-99", pid), Outcome: baocun.AppealUphold, Reasons: "再裁 again"}}
	})
	r.at(since("2028-01-11", 23*time.Hour), func() {
		if p := f.pairing(pid); p.Stage != baocun.StagePublicity {
			t.Errorf("on publicity's last day the pairing is %s", p.Stage)
		}
	})
	if err := r.exec(s0); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if end := r.env.Now(); end.Before(date("2028-01-12")) || !end.Before(date("2028-01-13")) {
		t.Errorf("closed at %v, want once publicity ended (2028-01-12)", end)
	}
	for name, c := range map[string]struct {
		s    *sent
		code string
	}{"no reasons": {short, baocun.EINVALID}, "a second appeal": {second, baocun.ECONFLICT}, "an unknown good": {unknown, baocun.EINVALID},
		"upheld with scores": {upholdWithScores, baocun.EINVALID}, "no such task": {again, baocun.ECONFLICT}} {
		if !c.s.cb.rejected || code(c.s.cb.err) != c.code {
			t.Errorf("%s: %v, want refused with %s", name, c.s, c.code)
		}
	}
	results, _ := f.db.AcceptanceResults(f.ctx, f.cycleID)
	if len(results) != 1 || results[0].Final == nil || results[0].Appeal == nil || results[0].Appeal.Decision == nil {
		t.Fatalf("results %+v", results)
	}
	res := results[0]
	if !res.Result.Total.Equal(decimal.RequireFromString("65.21")) || !res.Final.Total.Equal(decimal.RequireFromString("80.21")) ||
		res.Final.Grade != baocun.GradeGood || res.Appeal.Decision.Outcome != baocun.AppealRevise || res.Appeal.By != "lead" || res.Appeal.Decision.By != "rev" {
		t.Errorf("published %s, final %s %s, appeal %+v", res.Result.Total, res.Final.Total, res.Final.Grade, res.Appeal)
	}
	if n := len(f.audits("appeal.file")); n != 1 {
		t.Errorf("%d appeal audit entries, want 1 (refused appeals write nothing)", n)
	}
}

// When publicity outlasts the appeal window, an appeal after the window is refused;
// an appeal still undecided when publicity ends keeps the pairing open until it is
// decided (here upheld, on a later day).
func TestPublicityAppealWindowAndLateDecision(t *testing.T) {
	t.Run("after the window", func(t *testing.T) {
		f, r, s0 := publicityRun(t, func(s *baocun.CycleSettings) { s.Windows.PublicityDays, s.Windows.AppealDays = 20, 5 })
		late := r.send(since("2028-01-10", 0), workflows.UpdateAppeal, appealStep("迟到的申诉 a late appeal"))
		if err := r.exec(s0); err != nil {
			t.Fatalf("workflow: %v", err)
		}
		if !late.cb.rejected || code(late.cb.err) != baocun.ECONFLICT || !strings.Contains(late.cb.err.Error(), "2028-01-09") {
			t.Errorf("late appeal: %v", late)
		}
		if r.env.Now().Before(date("2028-01-25")) {
			t.Errorf("closed at %v, before publicity's end", r.env.Now())
		}
		if p := f.pairing(r.p.ID); p.Stage != baocun.StageClosed {
			t.Errorf("pairing %s", p.Stage)
		}
	})
	t.Run("decided after publicity", func(t *testing.T) {
		f, r, s0 := publicityRun(t, func(s *baocun.CycleSettings) { s.Windows.DecideDays = 30 })
		r.must(since("2028-01-13", 0), workflows.UpdateAppeal, appealStep("评分有误 the scoring was wrong"))
		r.at(since("2028-01-20", 0), func() {
			if p := f.pairing(r.p.ID); p.Stage != baocun.StagePublicity {
				t.Errorf("with an appeal pending the pairing is %s", p.Stage)
			}
		})
		r.must(since("2028-01-21", 0), workflows.UpdateDecideAppeal, r.decideAppeal(baocun.AppealUphold, nil))
		if err := r.exec(s0); err != nil {
			t.Fatalf("workflow: %v", err)
		}
		if end := r.env.Now(); end.Before(date("2028-01-21")) || !end.Before(date("2028-01-22")) {
			t.Errorf("closed at %v, want on the decision", end)
		}
		results, _ := f.db.AcceptanceResults(f.ctx, f.cycleID)
		if len(results) != 1 || results[0].Final == nil || !results[0].Final.Total.Equal(results[0].Result.Total) || results[0].Appeal.Decision.Outcome != baocun.AppealUphold {
			t.Fatalf("results %+v", results)
		}
	})
}

// The objective inputs are read as the sheets are combined, so the last year's
// evaluation, returned during acceptance, counts: villagers 95.5% (full at 95) earn
// all 25 points, grass-roots 90% earns (90 − 60) / 35 of 15 = 12.857… points.
func TestAcceptanceCountsTheLastEvaluation(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.lastReportIn(1)
	as := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	r.must(since("2028-01-02", 0), workflows.UpdateSelfAssess, as("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "完成 done"}}))
	r.must(since("2028-01-02", time.Hour), workflows.UpdateEvaluate, evaluation(1))
	for i := range 3 {
		r.must(since("2028-01-03", time.Duration(i)*time.Hour), workflows.UpdateScore, as(fmt.Sprintf("r%d", i+1), workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf("1")}}))
	}
	var res *baocun.Result
	r.at(since("2028-01-04", 0), func() {
		res = r.state().Acceptance.Result
		r.env.CancelWorkflow()
	})
	r.exec(s0)
	if res == nil {
		t.Fatal("no combined result")
	}
	if !res.Computed["feedback.satisfaction"].Equal(decimal.RequireFromString("25")) || !res.Computed["feedback.grassroots"].Equal(decimal.RequireFromString("12.86")) {
		t.Fatalf("computed %v", res.Computed)
	}
}

// A pairing whose team was never approved reaches acceptance when its cycle ends with
// nobody to assess it: scoring opens at once (no self-assessment, which nobody could
// send), the timeline says why, and raters and the organiser finish it as any other.
func TestAcceptanceWithoutATeam(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	as := func(actor string, st workflows.Step) func() workflows.Step {
		return func() workflows.Step { st.Actor = actor; return st }
	}
	r.at(since("2028-01-02", 0), func() {
		if st := r.state(); st.Stage != baocun.StageAcceptance || len(st.Team) != 0 {
			t.Errorf("at the cycle's end: stage %s, team %v", st.Stage, st.Team)
		}
		var open []baocun.TaskKind
		for _, task := range f.tasks(r.p.ID) {
			switch {
			case task.Status == baocun.TaskOpen:
				open = append(open, task.Kind)
			case task.Kind == baocun.TaskNominateTeam && task.Status != baocun.TaskExpired:
				t.Errorf("the nomination is %s, want expired", task.Status)
			}
		}
		if !slices.Equal(open, []baocun.TaskKind{baocun.TaskScore}) {
			t.Errorf("open tasks %v, want only scoring", open)
		}
		r.agrees()
		var note string
		for _, e := range f.events(r.p.ID) {
			if e.Kind == "acceptance.opened" {
				note = string(e.Data)
			}
		}
		if !strings.Contains(note, "no team") {
			t.Errorf("acceptance.opened says %q, want why there is no self-assessment", note)
		}
	})
	selfAssess := r.send(since("2028-01-02", time.Hour), workflows.UpdateSelfAssess, as("member", workflows.Step{SelfAssess: &baocun.SelfAssessInput{Summary: "无 none"}}))
	for i := range 3 {
		r.must(since("2028-01-03", time.Duration(i)*time.Hour), workflows.UpdateScore, as(fmt.Sprintf("r%d", i+1), workflows.Step{Score: &baocun.ScoreInput{Scores: sheetOf("0.2")}}))
	}
	r.must(since("2028-01-04", 0), workflows.UpdateConfirm, func() workflows.Step {
		return workflows.Step{Actor: "org", Confirm: &baocun.ConfirmInput{TaskID: r.open(baocun.TaskConfirm, 0), NewClass: 3}}
	})
	r.at(since("2028-01-05", 0), func() {
		if st := r.state(); st.Stage != baocun.StagePublicity || st.Acceptance.SelfAssessed {
			t.Errorf("after confirmation: stage %s, self-assessed %v", st.Stage, st.Acceptance.SelfAssessed)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
	if !selfAssess.cb.rejected || code(selfAssess.cb.err) != baocun.ECONFLICT {
		t.Errorf("a self-assessment with no team: %v, want refused (%s)", selfAssess, baocun.ECONFLICT)
	}
}

// The last period's report counts as every other's: when the last period ends with
// its report still to file (or in review, or returned), acceptance waits for it —
// here filed, returned, filed again and approved after the end, when acceptance
// begins at once — or, for a team that files nothing, for its window (ten days after
// the period), when the report expires.
func TestAcceptanceWaitsForTheLastReport(t *testing.T) {
	oneYear := func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 }
	f := newFixture(t, 1, oneYear)
	stageAt := func(r *run, day string, h int, want baocun.Stage, open ...baocun.TaskKind) {
		r.at(since(day, time.Duration(h)*time.Hour), func() {
			if st := r.state(); st.Stage != want {
				t.Errorf("%s %02d:00: stage %s, want %s", day, h, st.Stage, want)
			}
			var kinds []baocun.TaskKind
			for _, task := range f.tasks(r.p.ID) {
				if task.Status == baocun.TaskOpen && task.Kind != baocun.TaskEvaluation && task.Kind != baocun.TaskResidencyFlag {
					kinds = append(kinds, task.Kind)
				}
			}
			if !slices.Equal(kinds, open) {
				t.Errorf("%s %02d:00: open tasks %v, want %v", day, h, kinds, open)
			}
		})
	}

	late, s0 := f.startRun(0)
	late.toStage(baocun.StageReviews)
	stageAt(late, "2028-01-02", 0, baocun.StageReviews, baocun.TaskSubmitReport)
	late.must(since("2028-01-03", 0), workflows.UpdateSubmitReport, report(1, "5"))
	late.must(since("2028-01-04", 0), workflows.UpdateDecideReview, late.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeReturn, "补充台账 add the ledgers"))
	stageAt(late, "2028-01-04", 1, baocun.StageReviews, baocun.TaskSubmitReport)
	// The periods are over: the team stays as it is while its last report is awaited.
	change := late.send(since("2028-01-04", 2), workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	late.at(since("2028-01-04", 3), func() {
		if !change.cb.rejected || code(change.cb.err) != baocun.ECONFLICT {
			t.Errorf("a team change while the last report is awaited: %v, want refused as a conflict", change)
		}
	})
	late.must(since("2028-01-05", 0), workflows.UpdateSubmitReport, report(1, "5"))
	late.must(since("2028-01-06", 0), workflows.UpdateDecideReview, late.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeApprove, ""))
	stageAt(late, "2028-01-06", 1, baocun.StageAcceptance, baocun.TaskSelfAssess)
	late.at(since("2028-01-07", 0), func() {
		if st := late.state(); !slices.Contains(st.Approved, 1) {
			t.Errorf("approved periods %v, want the last", st.Approved)
		}
		late.env.CancelWorkflow()
	})
	if err := late.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}

	f = newFixture(t, 1, oneYear)
	silent, s1 := f.startRun(0)
	silent.toStage(baocun.StageReviews)
	stageAt(silent, "2028-01-10", 23, baocun.StageReviews, baocun.TaskSubmitReport)
	stageAt(silent, "2028-01-11", 1, baocun.StageAcceptance, baocun.TaskSelfAssess)
	silent.at(since("2028-01-12", 0), func() { silent.env.CancelWorkflow() })
	if err := silent.exec(s1); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
	for _, task := range f.tasks(silent.p.ID) {
		if task.Kind == baocun.TaskSubmitReport && task.Status != baocun.TaskExpired {
			t.Errorf("the unfiled report is %s, want expired", task.Status)
		}
	}
}

// openKinds is the kinds of the pairing's open tasks in the database, sorted.
func openKinds(f *fixture, pid int64) []baocun.TaskKind {
	var kinds []baocun.TaskKind
	for _, task := range f.tasks(pid) {
		if task.Status == baocun.TaskOpen {
			kinds = append(kinds, task.Kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// slowApply makes the Apply of the changes match selects take two hours (a write in
// flight across a deadline), and every other Apply the real one. Only a released
// run writes a person's step before committing it, so it pins the run to that.
func slowApply(r *run, match func(baocun.Change) bool) {
	r.released()
	r.env.OnActivity(r.f.acts.Apply, mock.Anything, mock.MatchedBy(match)).
		Return(func(ctx context.Context, ch baocun.Change) error { return r.f.acts.Apply(ctx, ch) }).After(2 * time.Hour)
	r.env.OnActivity(r.f.acts.Apply, mock.Anything, mock.Anything).
		Return(func(ctx context.Context, ch baocun.Change) error { return r.f.acts.Apply(ctx, ch) })
}

// A cycle cancelled while a pairing waits for its last report cancels the pairing
// and closes its tasks.
func TestCycleCancelledDuringTheLastReportWait(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.at(since("2028-01-03", 0), func() {
		if st := r.state(); st.Stage != baocun.StageReviews || !st.Ended {
			t.Errorf("before the cancel: stage %s, ended %v", st.Stage, st.Ended)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
	if p := f.pairing(r.p.ID); p.Stage != baocun.StageCancelled {
		t.Errorf("pairing at %s, want cancelled", p.Stage)
	}
	if k := openKinds(f, r.p.ID); len(k) != 0 {
		t.Errorf("open tasks left on a cancelled pairing: %v", k)
	}
}

// However often the last report is returned, acceptance begins report_days plus
// decide_days (10 + 7) after the period's end: 2028-01-18. The report task then
// open expires.
func TestLastReportWaitIsBounded(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	at := since("2028-01-02", 0)
	for range 6 {
		r.send(at, workflows.UpdateSubmitReport, report(1, "5"))
		r.send(at+day, workflows.UpdateDecideReview, r.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeReturn, "再改 again"))
		at += 2 * day
	}
	r.at(since("2028-01-17", 23*time.Hour), func() {
		if st := r.state(); st.Stage != baocun.StageReviews {
			t.Errorf("on the wait's last day: stage %s, want reviews", st.Stage)
		}
	})
	r.at(since("2028-01-18", time.Hour), func() {
		if st := r.state(); st.Stage != baocun.StageAcceptance {
			t.Errorf("after the wait's bound: stage %s, want acceptance", st.Stage)
		}
		r.env.CancelWorkflow()
	})
	if err := r.exec(s0); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow: %v", err)
	}
}

// A return of the last report whose write is in flight when the wait ends finishes
// first; the report task it opens expires with the rest, so no report is filed or
// reviewed while the pairing is scored. Meanwhile only the earlier stages' steps are
// refused: the village's evaluation is taken.
func TestReturnInFlightAsTheLastReportWaitEnds(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.must(since("2028-01-05", 0), workflows.UpdateSubmitReport, report(1, "5")) // its review is due 2028-01-12
	slowApply(r, func(ch baocun.Change) bool { return len(ch.Close) == 1 && ch.Close[0].Outcome == baocun.OutcomeReturn })
	ret := r.send(since("2028-01-11", 23*time.Hour), workflows.UpdateDecideReview, r.decidePeriod(baocun.TaskReviewReport, 1, baocun.OutcomeReturn, "补充 add"))
	// While the move to acceptance waits for the return, the village's evaluation (which
	// stays open into acceptance) is still taken.
	r.must(since("2028-01-12", 30*time.Minute), workflows.UpdateEvaluate, evaluation(1))
	change := r.send(since("2028-01-12", 40*time.Minute), workflows.UpdateRequestChange, teamChange([]string{"P3"}, []string{"P4"}, ""))
	late := r.send(since("2028-01-12", 3*time.Hour), workflows.UpdateSubmitReport, report(1, "5"))
	r.at(since("2028-01-12", 4*time.Hour), func() {
		if st := r.state(); st.Stage != baocun.StageAcceptance {
			t.Errorf("stage %s, want acceptance", st.Stage)
		}
		if k := openKinds(f, r.p.ID); slices.Contains(k, baocun.TaskSubmitReport) || slices.Contains(k, baocun.TaskReviewReport) {
			t.Errorf("report tasks open in acceptance: %v", k)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	_ = r.exec(s0)
	if ret.cb.err != nil || ret.cb.rejected {
		t.Errorf("the return in flight: %v, want it to stand", ret)
	}
	if !late.cb.rejected && late.cb.err == nil {
		t.Errorf("a report filed during acceptance: %v, want refused", late)
	}
	if !change.cb.rejected || code(change.cb.err) != baocun.ECONFLICT || !strings.Contains(change.cb.err.Error(), "entering acceptance") {
		t.Errorf("a team change asked for while the pairing enters acceptance: %v, want refused (entering acceptance)", change)
	}
}

// A plan approved at the cycle's last moment, its write in flight as the cycle ends,
// takes the pairing to reviews: the last period then closes as any does (the year's
// evaluation opens) and acceptance waits for its report, rather than the pairing
// skipping straight to acceptance.
func TestPlanApprovalInFlightAtTheCycleEnd(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StagePlanning)
	r.must(since("2027-12-30", 0), workflows.UpdateSubmitPlan, plan("村级发展规划"))
	slowApply(r, func(ch baocun.Change) bool { return len(ch.Stages) == 1 && ch.Stages[0].Stage == baocun.StageReviews })
	r.must(since("2027-12-31", 23*time.Hour), workflows.UpdateDecideReview, r.decide(baocun.TaskReviewPlan, baocun.OutcomeApprove, ""))
	r.at(since("2028-01-02", 0), func() {
		if st := r.state(); st.Stage != baocun.StageReviews || !st.Ended {
			t.Errorf("stage %s, ended %v; want reviews, the last period ended", st.Stage, st.Ended)
		}
		if k := openKinds(f, r.p.ID); !slices.Contains(k, baocun.TaskSubmitReport) || !slices.Contains(k, baocun.TaskEvaluation) {
			t.Errorf("open tasks %v, want the report and the year's evaluation", k)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	_ = r.exec(s0)
}

// The team's approval in flight when the cycle ends finishes first: the pairing then
// enters acceptance with its team, and its self-assessment open — not with scoring
// opened and expired again, and no acceptance task left.
func TestTeamApprovalInFlightAtTheCycleEnd(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.must(since("2027-12-20", 0), workflows.UpdateNominateTeam, nominate("P1", "P2", "P3"))
	slowApply(r, func(ch baocun.Change) bool {
		return ch.Team != nil && len(ch.Stages) == 1 && ch.Stages[0].Stage == baocun.StageStationed
	})
	r.must(since("2027-12-31", 23*time.Hour), workflows.UpdateDecideTeam, r.decide(baocun.TaskApproveTeam, baocun.OutcomeApprove, ""))
	r.at(since("2028-01-02", 0), func() {
		st := r.state()
		if st.Stage != baocun.StageAcceptance || len(st.Team) == 0 {
			t.Errorf("stage %s, team %v; want acceptance with the approved team", st.Stage, st.Team)
		}
		if k := openKinds(f, r.p.ID); !slices.Equal(k, []baocun.TaskKind{baocun.TaskSelfAssess}) {
			t.Errorf("open tasks %v, want the self-assessment", k)
		}
		r.agrees()
		r.env.CancelWorkflow()
	})
	_ = r.exec(s0)
}

// A cycle whose stored rubric is lost: acceptance waits (its read retried), and an
// organiser's cancel is still taken and answered.
func TestLostRubricDoesNotBlockCancel(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	if _, err := f.db.ExecContext(f.ctx, `UPDATE cycles SET settings = json_remove(settings, '$.rubric')`); err != nil {
		t.Fatal(err)
	}
	r, s0 := f.startRun(0)
	// In production the failing read is retried for ever; one long attempt stands in.
	r.env.OnActivity(f.acts.Rubric, mock.Anything, mock.Anything).After(60*day).Return(baocun.Rubric{}, temporal.NewApplicationError("no rubric", baocun.EINTERNAL))
	r.env.OnActivity(f.acts.Apply, mock.Anything, mock.Anything).Return(func(ctx context.Context, ch baocun.Change) error { return f.acts.Apply(ctx, ch) })
	r.toStage(baocun.StageReviews)
	r.lastReportIn(1)
	c := r.must(since("2028-01-03", 0), workflows.UpdateCancel, cancelStep("撤销 cancelled"))
	if err := r.exec(s0); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if c.cb.result == nil {
		t.Errorf("the cancel: %v, want answered", c)
	}
	if p := f.pairing(r.p.ID); p.Stage != baocun.StageCancelled {
		t.Errorf("pairing at %s, want cancelled", p.Stage)
	}
}

// A team that files nothing: its last report expires as its window closes, and is not
// escalated to the organisers at that same moment.
func TestSilentLastReportExpiresUnescalated(t *testing.T) {
	f := newFixture(t, 1, func(s *baocun.CycleSettings) { s.Years, s.PeriodMonths = 1, 12 })
	r, s0 := f.startRun(0)
	r.toStage(baocun.StageReviews)
	r.at(since("2028-01-12", 0), func() { r.env.CancelWorkflow() })
	_ = r.exec(s0)
	var last *baocun.Task
	for _, task := range f.tasks(r.p.ID) {
		if task.Kind == baocun.TaskSubmitReport {
			last = &task
		}
	}
	if last == nil || last.Status != baocun.TaskExpired || last.EscalatedAt != nil {
		t.Fatalf("the unfiled last report: %+v, want expired and never escalated", last)
	}
}
