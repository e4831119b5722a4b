package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/workflows"
)

// apiClient is a typed client of the HTTP API (/api/v1), signed in as one user or
// not at all. One method per call; the demo and the end-to-end tests play every
// role through it.
type apiClient struct {
	base  string // the service's URL, ending in "/"
	hc    *http.Client
	user  string // the signed-in username, for messages
	token string
	key   string // an Idempotency-Key sent with each request (withKey)
}

// withKey is this client sending every request under the Idempotency-Key k.
func (c *apiClient) withKey(k string) *apiClient {
	cp := *c
	cp.key = k
	return &cp
}

// newAPIClient is a client of the service at base (http://host:port/) that shares
// hc's connections with every client made from it.
func newAPIClient(base string, hc *http.Client) *apiClient {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &apiClient{base: base, hc: hc}
}

// newHTTPClient keeps enough idle connections for dozens of players polling at once.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// apiError is an answer other than 2xx, with the error body the API gives.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
	Fields       map[string]string
	Rows         []baocun.RowError
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// statusOf is the HTTP status of a refused call, 0 for any other error.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// do sends one request: in as JSON (a string is sent as CSV), out decoded from the
// JSON answer when not nil.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	data, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: answer: %w", method, path, err)
		}
	}
	return nil
}

// download is a GET of a file: the body as it came.
func (c *apiClient) download(ctx context.Context, path string) ([]byte, error) {
	return c.send(ctx, "GET", path, nil)
}

// send sends one request and returns the body of a 2xx answer; any other answer is
// an *apiError. A 429 (a sign-in throttle, the password slots busy) was not acted
// on: send waits the Retry-After it names and sends again, a few times at most, as
// a careful client does.
func (c *apiClient) send(ctx context.Context, method, path string, in any) ([]byte, error) {
	var payload []byte
	ct := ""
	switch v := in.(type) {
	case nil:
	case string:
		payload, ct = []byte(v), "text/csv"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		payload, ct = b, "application/json"
	}
	for attempt := 1; ; attempt++ {
		data, wait, err := c.sendOnce(ctx, method, path, payload, ct)
		if wait == 0 || attempt == maxTooMany {
			return data, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// maxTooMany is how many times send tries a request that hears 429.
const maxTooMany = 5

// sendOnce sends the request once; wait is the Retry-After of a 429, else 0.
func (c *apiClient) sendOnce(ctx context.Context, method, path string, payload []byte, ct string) (data []byte, wait time.Duration, err error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, 0, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		req.Header.Set("Idempotency-Key", c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Code    string            `json:"code"`
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
				Rows    []baocun.RowError `json:"rows"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil {
			e.Code, e.Message, e.Fields, e.Rows = eb.Error.Code, eb.Error.Message, eb.Error.Fields, eb.Error.Rows
		} else {
			e.Message = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
				wait = min(time.Duration(max(secs, 1))*time.Second, time.Minute)
			}
		}
		return nil, wait, e
	}
	return data, 0, nil
}

// ready reports whether /readyz answers 200.
func (c *apiClient) ready(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"readyz", nil)
	if err != nil {
		return false
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// signIn returns a client signed in as username.
func (c *apiClient) signIn(ctx context.Context, username, password string) (*apiClient, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, "POST", "api/v1/auth/login", map[string]string{"username": username, "password": password}, &out); err != nil {
		return nil, err
	}
	return &apiClient{base: c.base, hc: c.hc, user: username, token: out.Token}, nil
}

// importDirectory posts a directory file (departments, villages or people) as CSV.
func (c *apiClient) importDirectory(ctx context.Context, kind, csv string) (int, error) {
	var out struct {
		Imported int `json:"imported"`
	}
	err := c.do(ctx, "POST", "api/v1/import/"+kind, csv, &out)
	return out.Imported, err
}

// account is POST /users.
type account struct {
	Username    string         `json:"username"`
	Password    string         `json:"password"`
	PersonID    string         `json:"person_id,omitempty"`
	VillageCode string         `json:"village_code,omitempty"`
	Roles       []baocun.Grant `json:"roles"`
}

func (c *apiClient) createUser(ctx context.Context, a account) error {
	return c.do(ctx, "POST", "api/v1/users", a, nil)
}

// launchSpec is POST /cycles.
type launchSpec struct {
	Name         string `json:"name"`
	Jurisdiction string `json:"jurisdiction"`
	baocun.CycleSettings
	Pairings []baocun.PairingSpec `json:"pairings"`
}

// launch starts a cycle and returns its id.
func (c *apiClient) launch(ctx context.Context, spec launchSpec) (int64, error) {
	var out struct {
		ID int64 `json:"id"`
	}
	err := c.do(ctx, "POST", "api/v1/cycles", spec, &out)
	return out.ID, err
}

func (c *apiClient) cycle(ctx context.Context, id int64) (*baocun.Cycle, error) {
	var cy baocun.Cycle
	if err := c.do(ctx, "GET", fmt.Sprintf("api/v1/cycles/%d", id), nil, &cy); err != nil {
		return nil, err
	}
	return &cy, nil
}

func (c *apiClient) cycles(ctx context.Context) ([]baocun.Cycle, error) {
	return list[baocun.Cycle](ctx, c, "api/v1/cycles", nil)
}

func (c *apiClient) cancelCycle(ctx context.Context, id int64, reason string) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/cancel", id), map[string]string{"reason": reason}, nil)
}

// pairings lists a cycle's pairings; q may filter by stage, county or department.
func (c *apiClient) pairings(ctx context.Context, cycle int64, q url.Values) ([]baocun.Pairing, error) {
	return list[baocun.Pairing](ctx, c, fmt.Sprintf("api/v1/cycles/%d/pairings", cycle), q)
}

// pairingView is GET /pairings/{id}: the pairing, its tasks and its timeline.
type pairingView struct {
	baocun.Pairing
	ProgrammeNow string           `json:"programme_now"`
	Tasks        []baocun.Task    `json:"tasks"`
	Timeline     []baocun.Event   `json:"timeline"`
	Objective    baocun.Objective `json:"objective"`
}

func (c *apiClient) pairing(ctx context.Context, id int64) (*pairingView, error) {
	var v pairingView
	if err := c.do(ctx, "GET", fmt.Sprintf("api/v1/pairings/%d", id), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// inbox is the caller's open tasks, every page.
func (c *apiClient) inbox(ctx context.Context) ([]baocun.Task, error) {
	return list[baocun.Task](ctx, c, "api/v1/tasks", url.Values{"limit": {"500"}})
}

// list reads every page of a list endpoint.
func list[T any](ctx context.Context, c *apiClient, path string, q url.Values) ([]T, error) {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	var all []T
	for {
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		p := path
		if len(q2) > 0 {
			p += "?" + q2.Encode()
		}
		if err := c.do(ctx, "GET", p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		q2.Set("cursor", page.NextCursor)
	}
}

// step posts one human step on a pairing.
func (c *apiClient) step(ctx context.Context, pairing int64, action string, in any) (workflows.StepResult, error) {
	var res workflows.StepResult
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/%s", pairing, action), in, &res)
	return res, err
}

func (c *apiClient) nominateTeam(ctx context.Context, pairing int64, in baocun.TeamInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "team", in)
}

// decideTeam approves or returns a team nomination or a team change (organiser).
func (c *apiClient) decideTeam(ctx context.Context, pairing int64, in baocun.DecisionInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "team/decision", in)
}

func (c *apiClient) requestTeamChange(ctx context.Context, pairing int64, in baocun.TeamChangeInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "team-changes", in)
}

func (c *apiClient) confirmArrival(ctx context.Context, pairing int64) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "arrival", nil)
}

func (c *apiClient) submitPlan(ctx context.Context, pairing int64, in baocun.PlanInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "plan", in)
}

func (c *apiClient) submitReport(ctx context.Context, pairing int64, in baocun.ReportInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "reports", in)
}

// decideReview approves or returns a plan or a report (reviewer).
func (c *apiClient) decideReview(ctx context.Context, pairing int64, in baocun.DecisionInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "decisions", in)
}

func (c *apiClient) acknowledgeFlag(ctx context.Context, pairing int64, task string) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "residency-flags", baocun.DecisionInput{TaskID: task, Outcome: baocun.OutcomeAcknowledge})
}

func (c *apiClient) submitEvaluation(ctx context.Context, pairing int64, in baocun.EvaluationInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "evaluations", in)
}

func (c *apiClient) cancelPairing(ctx context.Context, pairing int64, reason string) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "cancel", map[string]string{"reason": reason})
}

// checkIn records the caller's check-in days and returns how many were new.
func (c *apiClient) checkIn(ctx context.Context, pairing int64, dates []string) (int, error) {
	var out struct {
		Recorded int `json:"recorded"`
	}
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/checkins", pairing), baocun.CheckinInput{Dates: dates}, &out)
	return out.Recorded, err
}

func (c *apiClient) recordVisit(ctx context.Context, pairing int64, in baocun.VisitInput) error {
	return c.do(ctx, "POST", fmt.Sprintf("api/v1/pairings/%d/visits", pairing), in, nil)
}

// verifyAudit is GET /audit/verify (auditor).
func (c *apiClient) verifyAudit(ctx context.Context) (baocun.AuditVerification, error) {
	var v baocun.AuditVerification
	err := c.do(ctx, "GET", "api/v1/audit/verify", nil, &v)
	return v, err
}

// acceptanceResults is GET /cycles/{id}/results.
type acceptanceResults struct {
	Pairings      []baocun.Ranked         `json:"pairings"`
	Departments   []baocun.DepartmentRank `json:"departments"`
	AdvancedShare decimal.Decimal         `json:"advanced_share"`
}

func (c *apiClient) results(ctx context.Context, cycle int64) (*acceptanceResults, error) {
	var v acceptanceResults
	if err := c.do(ctx, "GET", fmt.Sprintf("api/v1/cycles/%d/results", cycle), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (c *apiClient) selfAssess(ctx context.Context, pairing int64, in baocun.SelfAssessInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/self-assessment", in)
}

func (c *apiClient) score(ctx context.Context, pairing int64, in baocun.ScoreInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/scores", in)
}

func (c *apiClient) confirmAcceptance(ctx context.Context, pairing int64, in baocun.ConfirmInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "acceptance/confirm", in)
}

func (c *apiClient) appeal(ctx context.Context, pairing int64, in baocun.AppealInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "appeal", in)
}

func (c *apiClient) decideAppeal(ctx context.Context, pairing int64, in baocun.AppealDecisionInput) (workflows.StepResult, error) {
	return c.step(ctx, pairing, "appeal/decision", in)
}

// candidates is GET /cycles/{id}/commendations/proposals/{department}.
type candidates struct {
	Eligible []struct {
		PersonID  string `json:"person_id"`
		Name      string `json:"name"`
		PairingID int64  `json:"pairing_id"`
		Village   string `json:"village_name"`
		Grade     string `json:"grade"`
	} `json:"eligible"`
	Proposed []baocun.Cadre `json:"proposed"`
}

func (c *apiClient) candidates(ctx context.Context, cycle int64, dept string) (*candidates, error) {
	var v candidates
	if err := c.do(ctx, "GET", fmt.Sprintf("api/v1/cycles/%d/commendations/proposals/%s", cycle, url.PathEscape(dept)), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func (c *apiClient) propose(ctx context.Context, cycle int64, dept string, in baocun.ProposeInput) (workflows.StepResult, error) {
	var v workflows.StepResult
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/commendations/proposals/%s", cycle, url.PathEscape(dept)), in, &v)
	return v, err
}

func (c *apiClient) approveCommendation(ctx context.Context, cycle int64, in baocun.ApproveInput) (workflows.StepResult, error) {
	var v workflows.StepResult
	err := c.do(ctx, "POST", fmt.Sprintf("api/v1/cycles/%d/commendations/approval", cycle), in, &v)
	return v, err
}

func (c *apiClient) commendation(ctx context.Context, cycle int64) (*baocun.Commendation, error) {
	var v baocun.Commendation
	if err := c.do(ctx, "GET", fmt.Sprintf("api/v1/cycles/%d/commendations", cycle), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// commendationFile is the commendation list exported as csv or xlsx.
func (c *apiClient) commendationFile(ctx context.Context, cycle int64, format string) ([]byte, error) {
	return c.download(ctx, fmt.Sprintf("api/v1/cycles/%d/commendations?format=%s", cycle, format))
}
