package apiclient

import (
	"context"
	"encoding/json"
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

// Bulletins lists a cycle's published bulletins, the latest first.
func (c *Client) Bulletins(ctx context.Context, cycle int64) ([]baocun.BulletinSummary, error) {
	var out struct {
		Items []baocun.BulletinSummary `json:"items"`
	}
	err := c.do(ctx, "GET", fmt.Sprintf("api/v1/cycles/%d/bulletins", cycle), nil, &out)
	return out.Items, err
}

// PublishBulletin publishes the bulletin of a month ("2027-03") or a quarter
// ("2027-Q1") from the cycle's figures as they stand.
func (c *Client) PublishBulletin(ctx context.Context, cycle int64, period string) (*baocun.BulletinSummary, error) {
	var out baocun.BulletinSummary
	if err := c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/bulletins", cycle), baocun.BulletinInput{Period: period}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PublishedBulletin is one bulletin as kept: its record, whether its content still
// hashes to what was published, and the content's bytes (Raw) and meaning.
type PublishedBulletin struct {
	baocun.BulletinSummary
	Intact   bool            `json:"intact"`
	Raw      json.RawMessage `json:"bulletin"`
	Bulletin baocun.Bulletin `json:"-"`
}

// Bulletin is one of a cycle's bulletins.
func (c *Client) Bulletin(ctx context.Context, cycle, id int64) (*PublishedBulletin, error) {
	b, err := get[PublishedBulletin](ctx, c, fmt.Sprintf("api/v1/cycles/%d/bulletins/%d", cycle, id))
	if err != nil {
		return nil, err
	}
	if len(b.Raw) == 0 {
		return nil, fmt.Errorf("bulletin %d of cycle %d: the answer has no content", id, cycle)
	}
	return b, json.Unmarshal(b.Raw, &b.Bulletin)
}
