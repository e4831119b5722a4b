package apiclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	var res baocun.StepResult
	err := c.sendKeyed(ctx, path, in, &res)
	return res, err
}

// sendKeyed is sendStep for any request whose repeat under its key is answered as
// the first (a step, or a bulk decision's steps), its answer decoded into out.
func (c *Client) sendKeyed(ctx context.Context, path string, in, out any) error {
	k := c
	if k.key == "" {
		k = c.WithKey(newKey())
	}
	wait, began := stepRetryWait, time.Now()
	for attempt := 1; ; attempt++ {
		err := k.do(ctx, "POST", path, in, out)
		var lost noAnswer
		again := errors.As(err, &lost) || StatusOf(err) == http.StatusServiceUnavailable
		if !again || attempt == stepAttempts || ctx.Err() != nil || time.Since(began) > stepRetryFor {
			return err
		}
		select {
		case <-ctx.Done():
			return err
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

// CheckIn records the caller's day in the pairing's village: today unless in.Date
// names a day late (with in.Reason), located when in has a position. A day checked
// in before, here or elsewhere, is a 409.
func (c *Client) CheckIn(ctx context.Context, pairing int64, in baocun.CheckinInput) (baocun.Checkin, error) {
	var out baocun.Checkin
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins", pairing), in, &out)
	return out, err
}

// Checkins is a month (YYYY-MM; "" for this one) of the pairing's check-ins and leave.
func (c *Client) Checkins(ctx context.Context, pairing int64, month string) (*CheckinMonth, error) {
	var out CheckinMonth
	path := fmt.Sprintf("api/v1/pairings/%d/checkins", pairing)
	if month != "" {
		path += "?month=" + url.QueryEscape(month)
	}
	err := c.do(ctx, "GET", path, nil, &out)
	return &out, err
}

// CheckinMonth is a month of a pairing's check-ins as the API gives it.
type CheckinMonth struct {
	Month     string           `json:"month"`
	Today     string           `json:"today"`
	Confirmed bool             `json:"confirmed"`
	Items     []baocun.Checkin `json:"items"`
	Leave     []baocun.Leave   `json:"leave"`
}

// ReviewCheckin confirms or refuses a member's late check-in (the team leader).
func (c *Client) ReviewCheckin(ctx context.Context, pairing int64, in baocun.CheckinReview) (baocun.Checkin, error) {
	var out baocun.Checkin
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins/review", pairing), in, &out)
	return out, err
}

// ConfirmMonth is the village's word on a past month (YYYY-MM) of the team's
// check-ins; it returns how many days were disputed.
func (c *Client) ConfirmMonth(ctx context.Context, pairing int64, month string, in baocun.MonthConfirmation) (int, error) {
	var out struct {
		Disputed int `json:"disputed"`
	}
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins/months/%s", pairing, url.PathEscape(month)), in, &out)
	return out.Disputed, err
}

// AnswerDispute is the department lead's answer to the village's dispute of a
// month's check-ins: what was found and done (its task's id, outcome acknowledge).
func (c *Client) AnswerDispute(ctx context.Context, pairing int64, in baocun.DecisionInput) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins/disputes", pairing), in, nil)
}

// WithdrawLeave withdraws the caller's own leave, before it is decided or begins.
func (c *Client) WithdrawLeave(ctx context.Context, pairing, id int64) (baocun.Leave, error) {
	var out baocun.Leave
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/leave/%d/withdraw", pairing, id), nil, &out)
	return out, err
}

// RequestLeave asks leave for the caller.
func (c *Client) RequestLeave(ctx context.Context, pairing int64, in baocun.LeaveInput) (baocun.Leave, error) {
	var out baocun.Leave
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/leave", pairing), in, &out)
	return out, err
}

// Leaves lists the pairing's leave of a status ("" for all).
func (c *Client) Leaves(ctx context.Context, pairing int64, status string) ([]baocun.Leave, error) {
	var out struct {
		Items []baocun.Leave `json:"items"`
	}
	path := fmt.Sprintf("api/v1/pairings/%d/leave", pairing)
	if status != "" {
		path += "?status=" + url.QueryEscape(status)
	}
	err := c.do(ctx, "GET", path, nil, &out)
	return out.Items, err
}

// DecideLeave approves or refuses a member's leave.
func (c *Client) DecideLeave(ctx context.Context, pairing, leave int64, in baocun.LeaveDecision) (baocun.Leave, error) {
	var out baocun.Leave
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/leave/%d/decision", pairing, leave), in, &out)
	return out, err
}

// RecordSpotCheck records an unannounced check of the team (an organiser or a
// reviewer of another department).
func (c *Client) RecordSpotCheck(ctx context.Context, pairing int64, in baocun.SpotCheckInput) (baocun.SpotCheck, error) {
	var out baocun.SpotCheck
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/spot-checks", pairing), in, &out)
	return out, err
}

// SpotChecks lists the pairing's spot checks, newest first.
func (c *Client) SpotChecks(ctx context.Context, pairing int64) ([]baocun.SpotCheck, error) {
	var out struct {
		Items []baocun.SpotCheck `json:"items"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("api/v1/pairings/%d/spot-checks", pairing), nil, &out)
	return out.Items, err
}

// AddLog writes an entry in the team's work log.
func (c *Client) AddLog(ctx context.Context, pairing int64, in baocun.LogInput) (baocun.LogEntry, error) {
	var out baocun.LogEntry
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/log", pairing), in, &out)
	return out, err
}

// Log lists the team's work log, newest first: q may hold q, from, to and before.
func (c *Client) Log(ctx context.Context, pairing int64, q url.Values) ([]baocun.LogEntry, string, error) {
	var out struct {
		Items      []baocun.LogEntry `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	path := fmt.Sprintf("api/v1/pairings/%d/log", pairing)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, "GET", path, nil, &out)
	return out.Items, out.NextCursor, err
}

// RecordVisit records a leader's visit to the village.
func (c *Client) RecordVisit(ctx context.Context, pairing int64, in baocun.VisitInput) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/visits", pairing), in, nil)
}
