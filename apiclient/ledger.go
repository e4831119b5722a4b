package apiclient

import (
	"context"
	"fmt"
	"net/url"

	"baocun"
)

// Projects is a pairing's project ledger (台账), oldest first.
func (c *Client) Projects(ctx context.Context, pairing int64) ([]baocun.Project, error) {
	var out struct {
		Items []baocun.Project `json:"items"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("api/v1/pairings/%d/projects", pairing), nil, &out)
	return out.Items, err
}

// AddProject adds a planned project to a pairing's ledger.
func (c *Client) AddProject(ctx context.Context, pairing int64, in baocun.ProjectInput) (*baocun.Project, error) {
	var out baocun.Project
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/projects", pairing), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProgressProject moves a project on: under way, or completed with evidence.
func (c *Client) ProgressProject(ctx context.Context, pairing, project int64, in baocun.ProjectProgress) (*baocun.Project, error) {
	var out baocun.Project
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/projects/%d", pairing, project), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AcceptProject is an inspector's acceptance of a completed project.
func (c *Client) AcceptProject(ctx context.Context, pairing, project int64, in baocun.ProjectAcceptance) (*baocun.Project, error) {
	var out baocun.Project
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/projects/%d/acceptance", pairing, project), in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Statistics are a cycle's figures grouped by county, department, kind or class.
func (c *Client) Statistics(ctx context.Context, cycle int64, by string) (*baocun.Statistics, error) {
	return get[baocun.Statistics](ctx, c, fmt.Sprintf("api/v1/cycles/%d/statistics?%s", cycle, url.Values{"by": {by}}.Encode()))
}
