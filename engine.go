package baocun

import (
	"context"
	"errors"
)

// Engine is what the API asks of the workflow engine that runs the programme: start
// a launched cycle, tell whether it has a cycle's run, cancel one, and take a human
// step. The Temporal implementation is package temporalclient; baocuntest has an
// in-process fake for handler tests.
type Engine interface {
	// StartCycle starts the programme of a stored cycle of n pairings and returns
	// the name of its run. Starting a cycle the engine has started already changes
	// nothing and is not an error, so a start whose answer was lost can be repeated.
	StartCycle(ctx context.Context, cy *Cycle, n int) (run string, err error)
	// HasCycle reports whether the engine has the cycle's run (running, or closed and
	// not yet removed by its retention).
	HasCycle(ctx context.Context, cycle int64) (bool, error)
	// CancelCycle asks the cycle's run to cancel: it cancels every pairing and marks
	// the cycle cancelled. ErrNoRun: the engine has no run of the cycle.
	CancelCycle(ctx context.Context, cycle int64) error
	// Step takes a human step and answers with what it did. A step the workflow
	// refuses is an *Error with the workflow's code; ErrNoRun (wrapped in an *Error
	// with code ECONFLICT) when the pairing or cycle is not running; EUNAVAILABLE when
	// ctx ends first. A step once sent is taken or refused whatever becomes of its
	// caller: pass a ctx the caller's going away does not cancel (the web layer
	// bounds it by a timeout of its own).
	Step(ctx context.Context, st Step) (StepResult, error)
}

// ErrNoRun is the engine's answer for a cycle or pairing it has no run of: never
// started, closed, or removed.
var ErrNoRun = errors.New("no run")

// ErrUnwritten is a step its workflow took whose write to the database failed: it
// was not answered as taken, and is written by a repeat under its Idempotency-Key
// or by its workflow shortly (docs/DESIGN.md "A step's write"), with its audit entry.
var ErrUnwritten = errors.New("step taken, not yet written")

// ErrNotOpened is a write that closes a task the database does not hold yet: the
// write that opens it (a launch batch's, which opens every first task once all its
// pairings run) has not landed. It is written when tried again after that one.
var ErrNotOpened = errors.New("task not yet opened in the database")

// StepKind names a human step: what a route asks of a pairing's or a cycle's run.
type StepKind string

// Steps of a pairing.
const (
	StepNominateTeam   StepKind = "nominate_team"       // dept_lead: the work team
	StepDecideTeam     StepKind = "decide_team"         // organiser: approve_team, approve_team_change
	StepDecideReview   StepKind = "decide_review"       // reviewer: review_plan, review_report
	StepAcknowledge    StepKind = "acknowledge"         // dept_lead: residency_flag
	StepConfirmArrival StepKind = "confirm_arrival"     // team_member
	StepSubmitPlan     StepKind = "submit_plan"         // team_member
	StepSubmitReport   StepKind = "submit_report"       // team_member
	StepRequestChange  StepKind = "request_team_change" // dept_lead
	StepEvaluate       StepKind = "submit_evaluation"   // village
	StepCancel         StepKind = "cancel"              // organiser: cancel the pairing
	StepSelfAssess     StepKind = "self_assess"         // team_member
	StepScore          StepKind = "score"               // reviewer
	StepConfirm        StepKind = "confirm_acceptance"  // organiser
	StepAppeal         StepKind = "appeal"              // dept_lead
	StepDecideAppeal   StepKind = "decide_appeal"       // reviewer
	StepExtendDue      StepKind = "extend_due"          // organiser: move an open task's due date
)

// Steps of a cycle (its commendation).
const (
	StepPropose StepKind = "propose_cadres"       // dept_lead: the department's excellent cadres
	StepApprove StepKind = "approve_commendation" // organiser: the commendation list
)

// StepKinds lists every step kind.
var StepKinds = []StepKind{StepNominateTeam, StepDecideTeam, StepDecideReview, StepAcknowledge, StepConfirmArrival,
	StepSubmitPlan, StepSubmitReport, StepRequestChange, StepEvaluate, StepCancel, StepSelfAssess, StepScore,
	StepConfirm, StepAppeal, StepDecideAppeal, StepExtendDue, StepPropose, StepApprove}

// CycleStep reports whether the step is a cycle's rather than a pairing's.
func (k StepKind) CycleStep() bool { return k == StepPropose || k == StepApprove }

// Step is one human step as the API hands it to the engine: who takes it (from the
// session, never from the body), its audit entry, and its input (one of the inputs,
// by Kind).
type Step struct {
	Kind    StepKind
	Pairing int64 // a pairing's step: the pairing
	Cycle   int64 // a cycle's step: the cycle
	Actor   string
	Person  string // the actor's person id
	Audit   AuditEntry
	// Keys name the step for the engine when the client may send it again (its
	// Idempotency-Key), tried in order: a key whose step was taken answers with that
	// step's outcome; a key whose step was refused for another request moves on to
	// the next. None: a new step.
	Keys []string

	Team           *TeamInput
	Change         *TeamChangeInput
	Plan           *PlanInput
	Report         *ReportInput
	Evaluation     *EvaluationInput
	Decision       *DecisionInput
	SelfAssess     *SelfAssessInput
	Score          *ScoreInput
	Confirm        *ConfirmInput
	Appeal         *AppealInput
	AppealDecision *AppealDecisionInput
	Reason         string // cancel
	Due            *DueInput
	// Names of the people the input names, from the directory, for the timeline.
	Names map[string]string

	Department string // propose: whose cadres
	Propose    *ProposeInput
	Approve    *ApproveInput
}

// StepResult is what a step did: the API's answer to it.
type StepResult struct {
	Stage  string   `json:"stage"` // the pairing's stage, or the cycle's commendation status
	Period int      `json:"period,omitempty"`
	Closed []string `json:"closed,omitempty"` // task ids
	Opened []string `json:"opened,omitempty"` // task ids
	// Request is the ID of the HTTP request whose step this is: a request repeated
	// under its Idempotency-Key gets the first one's answer, and this tells them apart.
	Request string `json:"request_id,omitempty"`
}
