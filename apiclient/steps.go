package apiclient

import (
	"context"
	"fmt"

	"baocun"
)

// The human steps of the programme. Each is taken by the workflow engine and
// answered with what it did (baocun.StepResult: the stage after it, the tasks it
// closed and opened). A step at the wrong stage or on a task closed meanwhile is an
// *Error with status 409; one by the wrong role, 403. Sent through a client made
// WithKey, a step sent again under the same key is taken once and answered as the
// first was.

// step posts one human step on a pairing.
func (c *Client) step(ctx context.Context, pairing int64, action string, in any) (baocun.StepResult, error) {
	var res baocun.StepResult
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/%s", pairing, action), in, &res)
	return res, err
}

// NominateTeam nominates the pairing's work team (the department's lead).
func (c *Client) NominateTeam(ctx context.Context, pairing int64, in baocun.TeamInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "team", in)
}

// DecideTeam approves or returns a team nomination or a team change (organiser).
func (c *Client) DecideTeam(ctx context.Context, pairing int64, in baocun.DecisionInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "team/decision", in)
}

// RequestTeamChange asks to recall or replace members of the team (the
// department's lead).
func (c *Client) RequestTeamChange(ctx context.Context, pairing int64, in baocun.TeamChangeInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "team-changes", in)
}

// ConfirmArrival confirms the team has arrived in the village (team member).
func (c *Client) ConfirmArrival(ctx context.Context, pairing int64) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "arrival", nil)
}

// SubmitPlan submits the village's development plan (team member).
func (c *Client) SubmitPlan(ctx context.Context, pairing int64, in baocun.PlanInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "plan", in)
}

// SubmitReport submits a period's report (team member).
func (c *Client) SubmitReport(ctx context.Context, pairing int64, in baocun.ReportInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "reports", in)
}

// DecideReview approves or returns a plan or a report (reviewer, never of the
// pairing's department).
func (c *Client) DecideReview(ctx context.Context, pairing int64, in baocun.DecisionInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "decisions", in)
}

// AcknowledgeFlag acknowledges the residency flag of task (the department's lead).
func (c *Client) AcknowledgeFlag(ctx context.Context, pairing int64, task string) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "residency-flags", baocun.DecisionInput{TaskID: task, Outcome: baocun.OutcomeAcknowledge})
}

// SubmitEvaluation submits the village's yearly evaluation of its team (the
// village's account).
func (c *Client) SubmitEvaluation(ctx context.Context, pairing int64, in baocun.EvaluationInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "evaluations", in)
}

// CancelPairing cancels one pairing and its open tasks (organiser); reason is
// required.
func (c *Client) CancelPairing(ctx context.Context, pairing int64, reason string) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "cancel", map[string]string{"reason": reason})
}

// SelfAssess submits the team's self-assessment for acceptance (team member).
func (c *Client) SelfAssess(ctx context.Context, pairing int64, in baocun.SelfAssessInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/self-assessment", in)
}

// Score submits the caller's scores of every rated indicator (reviewer, never of
// the pairing's department).
func (c *Client) Score(ctx context.Context, pairing int64, in baocun.ScoreInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/scores", in)
}

// ConfirmAcceptance confirms the acceptance result and the village's new class
// (organiser).
func (c *Client) ConfirmAcceptance(ctx context.Context, pairing int64, in baocun.ConfirmInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/confirm", in)
}

// Appeal appeals the published result, within the appeal window (the
// department's lead).
func (c *Client) Appeal(ctx context.Context, pairing int64, in baocun.AppealInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "appeal", in)
}

// DecideAppeal upholds or revises an appealed result (reviewer, never of the
// department).
func (c *Client) DecideAppeal(ctx context.Context, pairing int64, in baocun.AppealDecisionInput) (baocun.StepResult, error) {
	return c.step(ctx, pairing, "appeal/decision", in)
}

// Propose proposes the department's excellent cadres for the cycle's
// commendation (the department's lead).
func (c *Client) Propose(ctx context.Context, cycle int64, dept string, in baocun.ProposeInput) (baocun.StepResult, error) {
	var v baocun.StepResult
	err := c.do(ctx, "POST", proposalsPath(cycle, dept), in, &v)
	return v, err
}

// ApproveCommendation approves and publishes the cycle's commendation list
// (organiser).
func (c *Client) ApproveCommendation(ctx context.Context, cycle int64, in baocun.ApproveInput) (baocun.StepResult, error) {
	var v baocun.StepResult
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/commendations/approval", cycle), in, &v)
	return v, err
}

// CheckIn records the caller's days of residency in the pairing's village
// (programme dates, YYYY-MM-DD) and returns how many were new: a day recorded
// before is no error.
func (c *Client) CheckIn(ctx context.Context, pairing int64, dates []string) (int, error) {
	var out struct {
		Recorded int `json:"recorded"`
	}
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins", pairing), baocun.CheckinInput{Dates: dates}, &out)
	return out.Recorded, err
}

// RecordVisit records a leader's visit to the village.
func (c *Client) RecordVisit(ctx context.Context, pairing int64, in baocun.VisitInput) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/visits", pairing), in, nil)
}
