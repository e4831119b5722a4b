package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
)

// AcceptanceState is a pairing's acceptance (检查验收) so far: the cycle's frozen
// rubric, the team's self-assessment, the raters' sheets, the combined result.
type AcceptanceState struct {
	Rubric       baocun.Rubric  `json:"rubric"`
	SelfAssessed bool           `json:"self_assessed"`
	Sheets       []Sheet        `json:"sheets,omitempty"`
	Result       *baocun.Result `json:"result,omitempty"`
	NewClass     int            `json:"new_class,omitempty"`
	// Inputs are the pairing's objective inputs for the rubric's formulas, gathered
	// as the sheets are combined.
	Inputs baocun.Inputs `json:"inputs,omitempty"`
	// Publicity: the programme dates it was published, its publicity ends and the
	// appeal window closes; AppealClosed once no appeal may be filed.
	PublishedOn   string         `json:"published_on,omitempty"`
	PublicityEnds string         `json:"publicity_ends,omitempty"`
	AppealBy      string         `json:"appeal_by,omitempty"`
	AppealClosed  bool           `json:"appeal_closed,omitempty"`
	Appeal        *baocun.Appeal `json:"appeal,omitempty"`
	Final         *baocun.Result `json:"final,omitempty"`
}

// Sheet is one rater's scores.
type Sheet struct {
	Rater  string        `json:"rater"`
	Scores baocun.Scores `json:"scores"`
}

// readRubric reads the cycle's rubric, frozen at launch. It is not a step of its own:
// while a damaged cycle's read is retried (its activity's error names the cycle) the
// pairing can still be cancelled, and a cancel ends the wait (false).
func (r *pairingRun) readRubric(ctx workflow.Context) (baocun.Rubric, bool, error) {
	var rubric baocun.Rubric
	var err error
	done := false
	actx, cancel := workflow.WithCancel(ctx)
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, activityOptions), (*activities.Activities).Rubric, r.s.Pairing.CycleID)
	workflow.Go(ctx, func(ctx workflow.Context) {
		err = f.Get(ctx, &rubric)
		done = true
	})
	if werr := workflow.Await(ctx, func() bool { return done || r.s.Stage != baocun.StageAcceptance }); werr != nil {
		cancel()
		return rubric, false, werr
	}
	if !done {
		cancel()
		return rubric, false, nil
	}
	return rubric, true, err
}

// beginAcceptance opens the team's self-assessment under the cycle's rubric. A
// pairing whose team was never approved (its cycle ended before) has nobody to assess
// it: scoring opens at once, so raters score what the department did not do.
func (r *pairingRun) beginAcceptance(ctx workflow.Context, rubric baocun.Rubric) error {
	real, prog := r.now(ctx)
	var t baocun.Task
	opened := map[string]any{"min_raters": rubric.MinRaters}
	if len(r.s.Team) == 0 {
		t = r.scoreTask(rubric, real)
		opened["note"] = "未派驻工作组，无自评 no team was dispatched: no self-assessment"
	} else {
		t = r.s.newTask(baocun.TaskSelfAssess, 0, "验收自评 the team's self-assessment", real, r.s.Settings.Windows.AcceptanceDays)
	}
	ch := baocun.Change{At: real, Key: fmt.Sprintf("pairing-%d/acceptance", r.s.Pairing.ID), Open: []baocun.Task{t},
		Events: []baocun.Event{r.event("acceptance.opened", "system", t.ID, 0, prog, opened)}}
	// Set before the write: the task reaches inboxes during it, and a step on it
	// (validated now, run once the write commits) needs the rubric.
	r.s.Acceptance = &AcceptanceState{Rubric: rubric}
	if err := r.applyOpening(ctx, ch); err != nil {
		r.s.Acceptance = nil
		return err
	}
	r.open(ctx, t)
	return nil
}

func (r *pairingRun) validateSelfAssess(st Step) error {
	if st.SelfAssess == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "self_assess: 必填 required"))
	}
	if _, err := r.checkTask(baocun.TaskSelfAssess, "提交自评 self-assess"); err != nil {
		return err
	}
	if r.s.Acceptance == nil {
		return errNotYet
	}
	if err := st.SelfAssess.Validate(); err != nil {
		return invalid(err)
	}
	if len(st.SelfAssess.Scores) > 0 {
		if err := r.s.Acceptance.Rubric.CheckScores(st.SelfAssess.Scores); err != nil {
			return invalidFields(err)
		}
	}
	if err := r.s.Acceptance.Rubric.CheckEvidence(st.SelfAssess.Evidence); err != nil {
		return invalidFields(err)
	}
	return nil
}

func (r *pairingRun) selfAssess(ctx workflow.Context, st Step) (StepResult, error) {
	t := r.s.openOf(baocun.TaskSelfAssess)
	a := r.s.Acceptance
	return r.step(ctx, st, []string{t.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("acceptance.self_assessed", st.Actor, t.ID, 0, prog, st.SelfAssess))
		ch.Open = append(ch.Open, r.scoreTask(a.Rubric, real))
		return func() { a.SelfAssessed = true }
	})
}

// scoreTask is the raters' task: open until the minimum of sheets is in.
func (r *pairingRun) scoreTask(rubric baocun.Rubric, real time.Time) baocun.Task {
	return r.s.newTask(baocun.TaskScore, 0,
		fmt.Sprintf("验收评分（至少 %d 人，本部门除外） acceptance scoring: at least %d raters, none of the department", rubric.MinRaters, rubric.MinRaters),
		real, r.s.Settings.Windows.AcceptanceDays)
}

func (r *pairingRun) validateScore(st Step) error {
	if st.Score == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "score: 必填 required"))
	}
	if _, err := r.checkTask(baocun.TaskScore, "评分 score"); err != nil {
		return err
	}
	if r.s.Acceptance == nil {
		return errNotYet
	}
	if slices.ContainsFunc(r.s.Acceptance.Sheets, func(s Sheet) bool { return s.Rater == st.Actor }) {
		return conflict("%s 已评过分 %s has scored this pairing already.", st.Actor, st.Actor)
	}
	if err := st.Score.Validate(); err != nil {
		return invalid(err)
	}
	if err := r.s.Acceptance.Rubric.CheckScores(st.Score.Scores); err != nil {
		return invalidFields(err)
	}
	return nil
}

// score records one rater's sheet; the sheet that reaches the rubric's minimum
// closes the scoring, combines the sheets and asks an organiser to confirm.
func (r *pairingRun) score(ctx workflow.Context, st Step) (StepResult, error) {
	if err := r.validateScore(st); err != nil {
		return StepResult{}, err
	}
	t := r.s.openOf(baocun.TaskScore)
	a := r.s.Acceptance
	sheets := append(slices.Clone(a.Sheets), Sheet{Rater: st.Actor, Scores: st.Score.Scores})
	final := len(sheets) >= a.Rubric.MinRaters
	var closes []string
	if final {
		closes = []string{t.ID}
	} else {
		// Sheets are written one at a time: a second sent now is refused (409).
		r.busy[t.ID] = true
		defer delete(r.busy, t.ID)
	}
	var result baocun.Result
	var inputs baocun.Inputs
	if final {
		// The records as they stand now, the last year's evaluation and report
		// included; the sheet's task is held while they are read.
		r.busy[t.ID] = true
		err := r.writeUnwritten(ctx) // the records read are the database's
		if err == nil {
			actx := workflow.WithActivityOptions(ctx, activityOptions)
			err = workflow.ExecuteActivity(actx, (*activities.Activities).Objective, r.s.Pairing.ID).Get(ctx, &inputs)
		}
		delete(r.busy, t.ID)
		if err != nil {
			return StepResult{}, err
		}
		all := make([]baocun.Scores, len(sheets))
		for i, s := range sheets {
			all[i] = s.Scores
		}
		if result, err = a.Rubric.Combine(all, inputs); err != nil {
			return StepResult{}, invalidFields(err)
		}
	}
	return r.step(ctx, st, closes, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("acceptance.scored", st.Actor, t.ID, 0, prog, st.Score))
		if final {
			ch.Events = append(ch.Events, r.event("acceptance.combined", "system", t.ID, 0, prog, result))
			ch.Open = append(ch.Open, r.s.newTask(baocun.TaskConfirm, 0,
				fmt.Sprintf("确认验收结果 confirm the result: %s, %s", result.Total.StringFixed(2), baocun.GradeNames[result.Grade]),
				real, r.s.Settings.Windows.DecideDays))
		}
		return func() {
			a.Sheets = sheets
			if final {
				a.Result, a.Inputs = &result, inputs
			}
		}
	})
}

func (r *pairingRun) validateConfirm(st Step) error {
	c := st.Confirm
	if c == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "confirm: 必填 required"))
	}
	if err := c.Validate(); err != nil {
		return invalid(err)
	}
	_, err := r.claim(c.TaskID, baocun.TaskConfirm)
	return err
}

// confirm stores the result and the village's new class, and publishes it.
func (r *pairingRun) confirm(ctx workflow.Context, st Step) (StepResult, error) {
	a := r.s.Acceptance
	c := st.Confirm
	return r.step(ctx, st, []string{c.TaskID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Result = &baocun.AcceptanceResult{PairingID: r.s.Pairing.ID, CycleID: r.s.Pairing.CycleID, Department: r.s.Pairing.Department,
			Result: *a.Result, NewClass: c.NewClass, ConfirmedBy: st.Actor, ConfirmedAt: real}
		ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StagePublicity, Period: r.s.Period}}
		ch.Events = append(ch.Events, r.event("acceptance.confirmed", st.Actor, c.TaskID, 0, prog,
			map[string]any{"total": a.Result.Total, "grade": a.Result.Grade, "new_class": c.NewClass, "baseline_class": r.s.Pairing.BaselineClass, "comment": c.Comment}))
		return func() { a.NewClass, r.s.Stage = c.NewClass, baocun.StagePublicity }
	})
}

// errNotYet refuses a step on acceptance while it is still being opened.
var errNotYet = temporal.NewNonRetryableApplicationError("验收正在开启，请稍后再试 Acceptance is opening; try again in a moment.", baocun.ECONFLICT, nil)

// invalidFields refuses a step for bad input, keeping the field it names in the
// message.
func invalidFields(err error) error {
	return temporal.NewNonRetryableApplicationError(baocun.ErrorMessage(err), baocun.ErrorCode(err), nil)
}

// appealing is the busy key of an appeal being written: the window's close waits
// for it, and a second appeal sent at the same moment is refused.
const appealing = "appeal"

// publicity publishes the confirmed result, takes an appeal while its window is
// open and waits for its decision, and once publicity is over makes the result final
// and closes the pairing. It reports false when a cancel came first.
func (r *pairingRun) publicity(ctx workflow.Context) (bool, error) {
	s, a := r.s, r.s.Acceptance
	if a.PublishedOn == "" {
		ran, err := r.systemStep(ctx, func() error { return r.publish(ctx) })
		if err != nil || !ran {
			return false, err
		}
	}
	day := func(d string) time.Time {
		t, _ := time.ParseInLocation(time.DateOnly, d, s.Clock.Start.Location())
		return t
	}
	over := func() bool { return s.Stage != baocun.StagePublicity }
	if !a.AppealClosed {
		// The window closes at the end of its last day, or when an appeal is filed.
		if err := r.awaitUntil(ctx, day(a.AppealBy).AddDate(0, 0, 1), func() bool { return over() || a.Appeal != nil }); err != nil {
			return false, err
		}
		if err := workflow.Await(ctx, func() bool { return !r.busy[appealing] }); err != nil {
			return false, err
		}
		a.AppealClosed = true
	}
	if a.Appeal != nil {
		if err := workflow.Await(ctx, func() bool { return over() || a.Appeal.Decision != nil }); err != nil {
			return false, err
		}
	}
	if err := r.awaitUntil(ctx, day(a.PublicityEnds).AddDate(0, 0, 1), over); err != nil {
		return false, err
	}
	if over() {
		return false, nil
	}
	ran, err := r.systemStep(ctx, func() error { return r.finalize(ctx) })
	if err != nil || !ran {
		return false, err
	}
	return true, r.finish(ctx)
}

// publish records the result's publication and the dates its publicity ends and
// its appeal window closes (the last days of each).
func (r *pairingRun) publish(ctx workflow.Context) error {
	a, w := r.s.Acceptance, r.s.Settings.Windows
	real, prog := r.now(ctx)
	on := prog.Format(time.DateOnly)
	ends := prog.AddDate(0, 0, w.PublicityDays).Format(time.DateOnly)
	by := prog.AddDate(0, 0, w.AppealDays).Format(time.DateOnly)
	data := map[string]any{"total": a.Result.Total, "grade": a.Result.Grade, "publicity_ends": ends, "appeal_by": by}
	ch := baocun.Change{At: real, Key: fmt.Sprintf("pairing-%d/published", r.s.Pairing.ID),
		Events: []baocun.Event{r.event("result.published", "system", "", 0, prog, data)},
		Audit: []baocun.AuditEntry{r.systemAudit("acceptance.publish",
			fmt.Sprintf(`{"total":%q,"grade":%q,"publicity_ends":%q,"appeal_by":%q}`, a.Result.Total.StringFixed(2), a.Result.Grade, ends, by))}}
	if err := r.apply(ctx, ch); err != nil {
		return err
	}
	a.PublishedOn, a.PublicityEnds, a.AppealBy = on, ends, by
	return nil
}

// validateAppeal checks an appeal at workflow time now (a validator has no clock
// of its own to read, and writes nothing).
func (r *pairingRun) validateAppeal(now time.Time, st Step) error {
	if st.Appeal == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "appeal: 必填 required"))
	}
	if err := st.Appeal.Validate(); err != nil {
		return invalid(err)
	}
	a := r.s.Acceptance
	switch {
	case r.cancelling || r.s.Stage != baocun.StagePublicity:
		return conflict("当前阶段（%s）不能申诉 The pairing is at stage %s: no appeal is open.", baocun.StageNames[r.s.Stage], r.s.Stage)
	case a == nil || a.PublishedOn == "":
		return conflict("结果尚未公示 The result is not published yet.")
	case a.Appeal != nil || r.busy[appealing]:
		return conflict("已申诉过，每个结果只能申诉一次 An appeal was filed already: a result is appealed once.")
	case a.AppealClosed || r.s.Clock.Now(now).Format(time.DateOnly) > a.AppealBy:
		// The date too: the window's timer may fire in the same workflow task.
		return conflict("申诉期已于 %s 结束 The appeal window closed on %s.", a.AppealBy, a.AppealBy)
	}
	return nil
}

// appeal files the department's appeal and asks a reviewer of another department
// to decide it.
func (r *pairingRun) appeal(ctx workflow.Context, st Step) (StepResult, error) {
	if err := r.validateAppeal(workflow.Now(ctx), st); err != nil {
		return StepResult{}, err
	}
	r.busy[appealing] = true
	defer delete(r.busy, appealing)
	a := r.s.Acceptance
	return r.step(ctx, st, nil, func(real, prog time.Time, ch *baocun.Change) func() {
		t := r.s.newTask(baocun.TaskDecideAppeal, 0, "裁决申诉（本部门除外） decide the appeal: a reviewer of another department", real, r.s.Settings.Windows.DecideDays)
		ch.Open = append(ch.Open, t)
		ch.Events = append(ch.Events, r.event("appeal.filed", st.Actor, t.ID, 0, prog, st.Appeal))
		appeal := &baocun.Appeal{Reasons: st.Appeal.Reasons, By: st.Actor, FiledOn: prog.Format(time.DateOnly)}
		return func() { a.Appeal = appeal }
	})
}

func (r *pairingRun) validateAppealDecision(st Step) error {
	d := st.AppealDecision
	if d == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "appeal_decision: 必填 required"))
	}
	if err := d.Validate(); err != nil {
		return invalid(err)
	}
	if _, err := r.claim(d.TaskID, baocun.TaskDecideAppeal); err != nil {
		return err
	}
	if d.Outcome == baocun.AppealRevise {
		if _, err := r.s.Acceptance.Rubric.Revise(*r.s.Acceptance.Result, d.Goods); err != nil {
			return invalidFields(err)
		}
	}
	return nil
}

// decideAppeal upholds the published result or revises it; either way the decision
// is final.
func (r *pairingRun) decideAppeal(ctx workflow.Context, st Step) (StepResult, error) {
	d := st.AppealDecision
	a := r.s.Acceptance
	final := *a.Result
	if d.Outcome == baocun.AppealRevise {
		var err error
		if final, err = a.Rubric.Revise(*a.Result, d.Goods); err != nil {
			return StepResult{}, invalidFields(err)
		}
	}
	return r.step(ctx, st, []string{d.TaskID}, func(real, prog time.Time, ch *baocun.Change) func() {
		dec := &baocun.AppealDecision{Outcome: d.Outcome, Goods: d.Goods, Reasons: d.Reasons, By: st.Actor, DecidedOn: prog.Format(time.DateOnly)}
		ch.Close[0].Outcome = d.Outcome
		ch.Events = append(ch.Events, r.event("appeal.decided", st.Actor, d.TaskID, 0, prog,
			map[string]any{"outcome": d.Outcome, "goods": d.Goods, "reasons": d.Reasons, "total": final.Total, "grade": final.Grade}))
		return func() { a.Appeal.Decision, a.Final = dec, &final }
	})
}

// finalize makes the result final and closes the pairing; tasks still open (a
// yearly evaluation never returned) expire.
func (r *pairingRun) finalize(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return len(r.busy) == 0 }); err != nil {
		return err
	}
	a := r.s.Acceptance
	final := *a.Result
	if a.Final != nil {
		final = *a.Final
	}
	real, prog := r.now(ctx)
	ch := baocun.Change{At: real, Key: fmt.Sprintf("pairing-%d/final", r.s.Pairing.ID),
		Final:  &baocun.FinalResult{PairingID: r.s.Pairing.ID, Result: final, Appeal: a.Appeal, At: real},
		Stages: []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageClosed, Period: r.s.Period}}}
	for _, t := range r.s.Tasks {
		ch.Close = append(ch.Close, baocun.TaskClose{ID: t.ID, Status: baocun.TaskExpired, By: "system", IfOpen: true})
	}
	ch.Events = []baocun.Event{r.event("result.final", "system", "", 0, prog, map[string]any{"total": final.Total, "grade": final.Grade, "appealed": a.Appeal != nil})}
	ch.Audit = []baocun.AuditEntry{r.systemAudit("acceptance.finalize", fmt.Sprintf(`{"total":%q,"grade":%q,"appealed":%v}`, final.Total.StringFixed(2), final.Grade, a.Appeal != nil))}
	if err := r.apply(ctx, ch); err != nil {
		return err
	}
	for _, t := range slices.Clone(r.s.Tasks) {
		r.close(t.ID)
	}
	a.Final, r.s.Stage = &final, baocun.StageClosed
	return nil
}
