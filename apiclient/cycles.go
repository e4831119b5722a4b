package apiclient

import (
	"context"
	"fmt"
	"net/url"

	"github.com/shopspring/decimal"

	"baocun"
)

// Cycles and their pairings, the inbox, the results and the commendation list.

// LaunchSpec is a cycle to launch (POST /cycles): its name, the jurisdiction it is
// launched in, its settings (zero fields take the defaults) and its pairings.
type LaunchSpec struct {
	Name         string `json:"name"`
	Jurisdiction string `json:"jurisdiction"`
	baocun.CycleSettings
	Pairings []baocun.PairingSpec `json:"pairings"`
}

// Launch launches a cycle and returns its id. A launch with a bad pairing stores
// nothing and is an *Error (422) whose Rows name each bad line.
func (c *Client) Launch(ctx context.Context, spec LaunchSpec) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	err := c.do(ctx, "POST", "api/v1/cycles", spec, &out)
	return out.ID, err
}

// Cycle is one cycle: its settings and its pairings by stage.
func (c *Client) Cycle(ctx context.Context, id int64) (*baocun.Cycle, error) {
	return get[baocun.Cycle](ctx, c, fmt.Sprintf("api/v1/cycles/%d", id))
}

// Cycles lists every cycle, every page.
func (c *Client) Cycles(ctx context.Context) ([]baocun.Cycle, error) {
	return list[baocun.Cycle](ctx, c, "api/v1/cycles", nil)
}

// CancelCycle cancels a cycle and every pairing of it (organiser); reason is
// required.
func (c *Client) CancelCycle(ctx context.Context, id int64, reason string) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/cancel", id), map[string]string{"reason": reason}, nil)
}

// Pairings lists a cycle's pairings, every page; q may filter by stage, county or
// department.
func (c *Client) Pairings(ctx context.Context, cycle int64, q url.Values) ([]baocun.Pairing, error) {
	return list[baocun.Pairing](ctx, c, fmt.Sprintf("api/v1/cycles/%d/pairings", cycle), q)
}

// PairingView is a pairing as GET /pairings/{id} shows it: the pairing, the
// programme's date now, every task and the timeline, and the objective inputs
// acceptance raters are shown.
type PairingView struct {
	baocun.Pairing
	ProgrammeNow string           `json:"programme_now"` // the cycle's programme date today
	Tasks        []baocun.Task    `json:"tasks"`
	Timeline     []baocun.Event   `json:"timeline"`
	Objective    baocun.Objective `json:"objective"`
}

// Pairing is one pairing with its tasks and timeline.
func (c *Client) Pairing(ctx context.Context, id int64) (*PairingView, error) {
	return get[PairingView](ctx, c, fmt.Sprintf("api/v1/pairings/%d", id))
}

// Inbox is the caller's open tasks, every page.
func (c *Client) Inbox(ctx context.Context) ([]baocun.Task, error) {
	return c.Tasks(ctx, url.Values{"limit": {"500"}})
}

// Tasks is the caller's tasks, every page: q may name a status (open, the
// default; done, cancelled, expired or all) and the page size (limit).
func (c *Client) Tasks(ctx context.Context, q url.Values) ([]baocun.Task, error) {
	return list[baocun.Task](ctx, c, "api/v1/tasks", q)
}

// Results is a cycle's confirmed acceptance results (GET /cycles/{id}/results):
// the pairings and the departments ranked, final scores once final.
type Results struct {
	Pairings    []baocun.Ranked         `json:"pairings"`
	Departments []baocun.DepartmentRank `json:"departments"`
	// AdvancedShare is the top share of departments that may be advanced.
	AdvancedShare decimal.Decimal `json:"advanced_share"`
}

// Results is a cycle's acceptance results and rankings.
func (c *Client) Results(ctx context.Context, cycle int64) (*Results, error) {
	return get[Results](ctx, c, fmt.Sprintf("api/v1/cycles/%d/results", cycle))
}

// Commendation is a cycle's commendation list: the rankings, the advanced
// departments and the excellent cadres, and whether it is published.
func (c *Client) Commendation(ctx context.Context, cycle int64) (*baocun.Commendation, error) {
	return get[baocun.Commendation](ctx, c, fmt.Sprintf("api/v1/cycles/%d/commendations", cycle))
}

// Publicity is what the programme publishes of a cycle (公示), which every
// signed-in account may read.
func (c *Client) Publicity(ctx context.Context, cycle int64) (*baocun.Publicity, error) {
	return get[baocun.Publicity](ctx, c, fmt.Sprintf("api/v1/cycles/%d/publicity", cycle))
}

// CommendationFile is the commendation list exported for Excel or WPS: format is
// "csv" (the list) or "xlsx" (the list, then the rankings).
func (c *Client) CommendationFile(ctx context.Context, cycle int64, format string) ([]byte, error) {
	return c.Download(ctx, fmt.Sprintf("api/v1/cycles/%d/commendations?format=%s", cycle, url.QueryEscape(format)))
}

// Candidates are the cadres a department may propose as excellent, and those it
// has proposed (GET /cycles/{id}/commendations/proposals/{department}).
type Candidates struct {
	Department string         `json:"department_code"`
	Eligible   []Candidate    `json:"eligible"`
	Proposed   []baocun.Cadre `json:"proposed"`
}

// Candidate is a cadre who may be proposed: a member of a team whose pairing's final
// grade is at least good and who met the residency rule every month, with that
// pairing, its village and its grade.
type Candidate struct {
	PersonID  string `json:"person_id"`
	Name      string `json:"name"`
	PairingID int64  `json:"pairing_id"`
	Village   string `json:"village_name"` // the village's name
	Grade     string `json:"grade"`        // the pairing's final grade
}

// Candidates is who the department may propose in the cycle, and whom it has.
func (c *Client) Candidates(ctx context.Context, cycle int64, dept string) (*Candidates, error) {
	return get[Candidates](ctx, c, proposalsPath(cycle, dept))
}

func proposalsPath(cycle int64, dept string) string {
	return fmt.Sprintf("api/v1/cycles/%d/commendations/proposals/%s", cycle, url.PathEscape(dept))
}
