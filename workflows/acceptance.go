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
}

// Sheet is one rater's scores.
type Sheet struct {
	Rater  string        `json:"rater"`
	Scores baocun.Scores `json:"scores"`
}

// beginAcceptance loads the cycle's rubric and opens the team's self-assessment.
func (r *pairingRun) beginAcceptance(ctx workflow.Context) error {
	var rubric baocun.Rubric
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	if err := workflow.ExecuteActivity(actx, (*activities.Activities).Rubric, r.s.Pairing.CycleID).Get(ctx, &rubric); err != nil {
		return err
	}
	real, prog := r.now(ctx)
	t := r.s.newTask(baocun.TaskSelfAssess, 0, "验收自评 the team's self-assessment", real, r.s.Settings.Windows.AcceptanceDays)
	ch := baocun.Change{At: real, Key: fmt.Sprintf("pairing-%d/acceptance", r.s.Pairing.ID), Open: []baocun.Task{t},
		Events: []baocun.Event{r.event("acceptance.opened", "system", t.ID, 0, prog, map[string]int{"min_raters": rubric.MinRaters})}}
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
	return nil
}

func (r *pairingRun) selfAssess(ctx workflow.Context, st Step) (StepResult, error) {
	t := r.s.openOf(baocun.TaskSelfAssess)
	a := r.s.Acceptance
	return r.step(ctx, st, []string{t.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("acceptance.self_assessed", st.Actor, t.ID, 0, prog, st.SelfAssess))
		ch.Open = append(ch.Open, r.s.newTask(baocun.TaskScore, 0,
			fmt.Sprintf("验收评分（至少 %d 人，本部门除外） acceptance scoring: at least %d raters, none of the department", a.Rubric.MinRaters, a.Rubric.MinRaters),
			real, r.s.Settings.Windows.AcceptanceDays))
		return func() { a.SelfAssessed = true }
	})
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
	if final {
		all := make([]baocun.Scores, len(sheets))
		for i, s := range sheets {
			all[i] = s.Scores
		}
		var err error
		if result, err = a.Rubric.Combine(all); err != nil {
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
				a.Result = &result
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
