package apiclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"baocun"
)

// The human steps of the programme. Each is taken by the workflow engine and
// answered with what it did (baocun.StepResult: the stage after it, the tasks it
// closed and opened). A step at the wrong stage or on a task closed meanwhile is an
// *Error with status 409; one by the wrong role, 403. Every step goes under an
// Idempotency-Key (the client's, from WithKey, or one of its own) and is sent again
// under it when no answer came or the engine was unavailable (sendStep).

// step posts one human step on a pairing.
func (c *Client) step(ctx context.Context, pairing int64, action string, in any) (baocun.StepResult, error) {
	return c.sendStep(ctx, fmt.Sprintf("api/v1/pairings/%d/%s", pairing, action), in)
}

// sendStep posts a step under an Idempotency-Key — the client's (WithKey), or a new
// one for this call — and sends it again under that key when no answer came (the
// connection failed or timed out) or the service answered 503 (the engine slow or
// away): a step the engine took meanwhile is answered with its first answer and not
// taken again. (Past the pairing's period the service no longer remembers the key:
// a repeat then is a new step, refused with 409 if the first was taken.) It stops at
// any other answer or error, after stepAttempts, after stepRetryFor, or when ctx
// ends.
func (c *Client) sendStep(ctx context.Context, path string, in any) (baocun.StepResult, error) {
	k := c
	if k.key == "" {
		k = c.WithKey(newKey())
	}
	var res baocun.StepResult
	wait, began := stepRetryWait, time.Now()
	for attempt := 1; ; attempt++ {
		err := k.do(ctx, "POST", path, in, &res)
		var lost noAnswer
		again := errors.As(err, &lost) || StatusOf(err) == http.StatusServiceUnavailable
		if !again || attempt == stepAttempts || ctx.Err() != nil || time.Since(began) > stepRetryFor {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// stepAttempts is how many times sendStep sends a step that got no answer or a
// 503, first waiting stepRetryWait and then twice as long each time (about 15 s).
const stepAttempts = 5

var stepRetryWait = time.Second

// stepRetryFor bounds how long sendStep goes on sending a step again (each attempt
// may wait for the *http.Client's own timeout).
const stepRetryFor = 2 * time.Minute

// newKey is a random Idempotency-Key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return "go-" + hex.EncodeToString(b[:])
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
	return c.sendStep(ctx, proposalsPath(cycle, dept), in)
}

// ApproveCommendation approves and publishes the cycle's commendation list
// (organiser).
func (c *Client) ApproveCommendation(ctx context.Context, cycle int64, in baocun.ApproveInput) (baocun.StepResult, error) {
	return c.sendStep(ctx, fmt.Sprintf("api/v1/cycles/%d/commendations/approval", cycle), in)
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
