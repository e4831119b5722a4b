// Package activities holds the Temporal activities: the only place workflow code
// touches the world (the application database, the audit trail). Activities are
// methods on Activities, which carries the dependencies; workflows call them through
// a nil *Activities so the method names, not strings, tie the two together.
package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"baocun"
)

// Activities carries what the activities need.
type Activities struct {
	Store Store
}

// Register registers every exported method of a as an activity.
func Register(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivity(a)
}

// Store is what the lifecycle's activities need of the application database.
type Store interface {
	ApplyChange(ctx context.Context, ch baocun.Change) error
	ApplyChanges(ctx context.Context, chs []baocun.Change) error
	CheckinDays(ctx context.Context, pairingID int64, from, to string) (map[string]map[string]int, error)
	PairingRange(ctx context.Context, cycleID int64, from, to int) ([]baocun.Pairing, error)
	Cycle(ctx context.Context, id int64) (*baocun.Cycle, error)
	Pairing(ctx context.Context, id int64) (*baocun.Pairing, error)
	Events(ctx context.Context, pairingID int64) ([]baocun.Event, error)
	Projects(ctx context.Context, pairingID int64) ([]baocun.Project, error)
	SpotCheckTally(ctx context.Context, pairingID int64) (checks, unexcused int, err error)
	Eligible(ctx context.Context, cycleID int64, dept string) ([]baocun.Eligible, error)
}

// Objective gathers a pairing's objective inputs from its records, for the
// rubric's formulas.
func (a *Activities) Objective(ctx context.Context, pairingID int64) (baocun.Inputs, error) {
	p, err := a.Store.Pairing(ctx, pairingID)
	if err != nil {
		return nil, nonRetryable(err)
	}
	events, err := a.Store.Events(ctx, pairingID)
	if err != nil {
		return nil, nonRetryable(err)
	}
	ledger, err := a.Store.Projects(ctx, pairingID)
	if err != nil {
		return nil, err
	}
	o, err := baocun.ObjectiveOf(p, events, ledger)
	if err != nil {
		return nil, nonRetryable(&baocun.Error{Code: baocun.EINTERNAL, Message: err.Error()})
	}
	checks, absences, err := a.Store.SpotCheckTally(ctx, pairingID)
	if err != nil {
		return nil, err
	}
	o.SpotChecks, o.SpotCheckAbsences = &checks, &absences
	return o.Inputs(), nil
}

// CommendationPlan is what a cycle's commendation starts from: whose the approval
// is, and each department's cadres who may be proposed.
type CommendationPlan struct {
	Jurisdiction string            `json:"jurisdiction"`
	Eligible     []baocun.Eligible `json:"eligible"`
}

// PlanCommendation reads a cycle's commendation plan.
func (a *Activities) PlanCommendation(ctx context.Context, cycleID int64) (CommendationPlan, error) {
	c, err := a.Store.Cycle(ctx, cycleID)
	if err != nil {
		return CommendationPlan{}, nonRetryable(err)
	}
	el, err := a.Store.Eligible(ctx, cycleID, "")
	if err != nil {
		return CommendationPlan{}, nonRetryable(err)
	}
	for i := range el {
		el[i].People = nil // the store checks each proposal; a city's names stay out of history
	}
	return CommendationPlan{Jurisdiction: c.Jurisdiction, Eligible: el}, nil
}

// Rubric returns the acceptance rubric frozen in the cycle's settings.
func (a *Activities) Rubric(ctx context.Context, cycleID int64) (baocun.Rubric, error) {
	c, err := a.Store.Cycle(ctx, cycleID)
	if err != nil {
		return baocun.Rubric{}, nonRetryable(err)
	}
	// Without a stored rubric the activity fails and is retried: the pairing waits at
	// the start of acceptance, its activity's error naming the cycle, until the data
	// is mended.
	return c.Settings.StoredRubric(cycleID)
}

// Apply writes one workflow step (baocun.Change) in one transaction. A change with
// no key is keyed by its workflow run and activity, so a retry writes nothing twice;
// a refused change (a task decided already) fails without retrying.
func (a *Activities) Apply(ctx context.Context, ch baocun.Change) error {
	if ch.Key == "" {
		info := activity.GetInfo(ctx)
		ch.Key = fmt.Sprintf("wf:%s/%s/%s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	}
	for i := range ch.Audit {
		if ch.Audit[i].Key == "" {
			ch.Audit[i].Key = fmt.Sprintf("%s#%d", ch.Key, i)
		}
	}
	// A step of a write-first run (v0.1.0) closing a task the database lacks is
	// refused, as it always was: no committed step waits on it.
	return nonRetryable(opened(a.Store.ApplyChange(ctx, ch)))
}

// notOpenedAttempts bounds the wait of a write closing a task the database does not
// hold yet for the write that opens it (a launch batch's, seconds away): about two
// minutes of the activity's retries. After that it never comes (the batch was
// cancelled before it wrote), and the write is refused.
const notOpenedAttempts = 8

// opened turns baocun.ErrNotOpened into the conflict it is when the opening write is
// not to come.
func opened(err error) error {
	if !errors.Is(err, baocun.ErrNotOpened) {
		return err
	}
	return &baocun.Error{Code: baocun.ECONFLICT, Message: baocun.ErrorMessage(err), Err: err}
}

// ApplyChanges writes changes in order in one transaction (sqldb's ApplyChanges): the
// Pairing workflow's steps it committed and has not seen written, then, last, a step
// of its own. A change with no key is keyed by its workflow run, activity and place.
func (a *Activities) ApplyChanges(ctx context.Context, chs []baocun.Change) error {
	info := activity.GetInfo(ctx)
	for i := range chs {
		if chs[i].Key == "" {
			chs[i].Key = fmt.Sprintf("wf:%s/%s/%s#%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, i)
		}
		for j := range chs[i].Audit {
			if chs[i].Audit[j].Key == "" {
				chs[i].Audit[j].Key = fmt.Sprintf("%s#%d", chs[i].Key, j)
			}
		}
	}
	err := a.Store.ApplyChanges(ctx, chs)
	if info.Attempt >= notOpenedAttempts {
		err = opened(err)
	}
	return nonRetryable(err)
}

// CheckinDays counts a pairing's check-in days in [from, to) by member and month.
func (a *Activities) CheckinDays(ctx context.Context, pairingID int64, from, to string) (map[string]map[string]int, error) {
	m, err := a.Store.CheckinDays(ctx, pairingID, from, to)
	return m, nonRetryable(err)
}

// LoadPairings returns the pairings of a cycle with ordinals [from, to).
func (a *Activities) LoadPairings(ctx context.Context, cycleID int64, from, to int) ([]baocun.Pairing, error) {
	ps, err := a.Store.PairingRange(ctx, cycleID, from, to)
	return ps, nonRetryable(err)
}

// nonRetryable makes the errors retrying cannot fix (bad input, a conflict, a
// missing record) final, keeping their code as the error's type; anything else (the
// database is down) is retried. Such a refusal is benign in Temporal's terms: the
// workflow answers the step with it (a 409 or 400), so the SDK logs it at debug and
// counts no failure, instead of alarming an operator with an "Activity error".
func nonRetryable(err error) error {
	switch code := baocun.ErrorCode(err); code {
	case "", baocun.EINTERNAL, baocun.EUNAVAILABLE:
		return err
	default:
		return temporal.NewApplicationErrorWithOptions(baocun.ErrorMessage(err), code, temporal.ApplicationErrorOptions{
			NonRetryable: true, Cause: err, Category: temporal.ApplicationErrorCategoryBenign,
		})
	}
}
