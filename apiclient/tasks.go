package apiclient

import (
	"context"
	"fmt"
	"net/url"

	"baocun"
)

// Running the programme day to day (issue 19): a task reassigned, delegated, its due
// date moved, reminded and noted; delegations while away; many decisions at once;
// inspection teams.

// TaskDetail is a task as GET /tasks/{id} shows it: the task, who holds it, and
// what was done about it besides deciding it.
type TaskDetail struct {
	Task    baocun.Task         `json:"task"`
	Actions []baocun.TaskAction `json:"actions"`
}

// Task is one task and what was done about it (who may read its pairing).
func (c *Client) Task(ctx context.Context, id string) (*TaskDetail, error) {
	return get[TaskDetail](ctx, c, "api/v1/tasks/"+url.PathEscape(id))
}

// taskAnswer is the answer of a route that acts on a task: the task after it.
type taskAnswer struct {
	Task baocun.Task `json:"task"`
}

func (c *Client) onTask(ctx context.Context, id, action string, in any) (*baocun.Task, error) {
	var out taskAnswer
	if err := c.do(ctx, "POST", "api/v1/tasks/"+url.PathEscape(id)+"/"+action, in, &out); err != nil {
		return nil, err
	}
	return &out.Task, nil
}

// Reassign gives a task to another account the policy lets act on it (an
// organiser): it leaves its role's pool and is that account's, and its delegate's
// while they are away. Someone who may not act on it is a 400 naming "to".
func (c *Client) Reassign(ctx context.Context, id string, in baocun.ReassignInput) (*baocun.Task, error) {
	return c.onTask(ctx, id, "reassign", in)
}

// DelegateTask hands one of the caller's tasks to another account until a time.
func (c *Client) DelegateTask(ctx context.Context, id string, in baocun.DelegateInput) (*baocun.Delegation, error) {
	var out baocun.Delegation
	if err := c.do(ctx, "POST", "api/v1/tasks/"+url.PathEscape(id)+"/delegate", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExtendDue moves an open task's due date (a programme date, with a reason; an
// organiser): a step through the pairing's workflow, sent as every step is.
func (c *Client) ExtendDue(ctx context.Context, id string, in baocun.DueInput) (baocun.StepResult, error) {
	return c.sendStep(ctx, "api/v1/tasks/"+url.PathEscape(id)+"/due", in)
}

// Remind reminds the task's holders now, with an optional note (an organiser).
func (c *Client) Remind(ctx context.Context, id, note string) (*baocun.Task, error) {
	return c.onTask(ctx, id, "remind", baocun.NoteInput{Text: note})
}

// NoteTask keeps a note with a task (an organiser).
func (c *Client) NoteTask(ctx context.Context, id, text string) (*baocun.Task, error) {
	return c.onTask(ctx, id, "notes", baocun.NoteInput{Text: text})
}

// Delegations are the caller's delegations, given and received, that have not ended.
func (c *Client) Delegations(ctx context.Context) ([]baocun.Delegation, error) {
	var out struct {
		Items []baocun.Delegation `json:"items"`
	}
	err := c.do(ctx, "GET", "api/v1/delegations", nil, &out)
	return out.Items, err
}

// Delegate hands every task assigned to the caller to another account for a while
// (外出期间代理): in.Until is an RFC 3339 time or a date (to the end of that day,
// China time).
func (c *Client) Delegate(ctx context.Context, in baocun.DelegationInput) (*baocun.Delegation, error) {
	var out baocun.Delegation
	if err := c.do(ctx, "POST", "api/v1/delegations", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeDelegation ends one of the caller's delegations.
func (c *Client) RevokeDelegation(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("api/v1/delegations/%d", id), nil, nil)
}

// BulkDecide approves or returns many nominations, plans or reports with one
// comment. Each item is its own step, authorised and audited alone: the answer is
// 200 whatever the items' fates, each item's status (and error) in the result. It
// goes under an Idempotency-Key, and again under it when no answer came: an item
// already taken is answered as it was, not taken twice.
func (c *Client) BulkDecide(ctx context.Context, in baocun.BulkDecisionInput) (*baocun.BulkResult, error) {
	var out baocun.BulkResult
	if err := c.sendKeyed(ctx, "api/v1/bulk/decisions", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BulkRemind reminds the holders of many tasks (an organiser): all of them or none.
func (c *Client) BulkRemind(ctx context.Context, in baocun.BulkRemindInput) (*baocun.BulkResult, error) {
	var out baocun.BulkResult
	if err := c.do(ctx, "POST", "api/v1/bulk/reminders", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// InspectionTeams are a cycle's inspection teams, their raters and pairings.
func (c *Client) InspectionTeams(ctx context.Context, cycle int64) ([]baocun.InspectionTeam, error) {
	var out struct {
		Items []baocun.InspectionTeam `json:"items"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("api/v1/inspection-teams?cycle=%d", cycle), nil, &out)
	return out.Items, err
}

// CreateInspectionTeam forms a named inspection team of raters (reviewers) for a
// cycle (an organiser).
func (c *Client) CreateInspectionTeam(ctx context.Context, in baocun.InspectionTeamInput) (*baocun.InspectionTeam, error) {
	var out baocun.InspectionTeam
	if err := c.do(ctx, "POST", "api/v1/inspection-teams", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Assignment is how many pairings an assignment to inspection teams placed, and
// those left that no team may score (every team has a rater of their department).
type Assignment struct {
	Assigned int     `json:"assigned"`
	Left     []int64 `json:"left"`
}

// AssignPairings assigns pairings to an inspection team, whose raters alone then
// score them (an organiser).
func (c *Client) AssignPairings(ctx context.Context, team int64, pairings []int64) (*Assignment, error) {
	var out Assignment
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/inspection-teams/%d/pairings", team), baocun.AssignInput{PairingIDs: pairings}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BalanceInspections spreads a cycle's pairings no team scores yet over its
// inspection teams, the fewest first (an organiser).
func (c *Client) BalanceInspections(ctx context.Context, cycle int64) (*Assignment, error) {
	var out Assignment
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/inspection-assignments", cycle), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
