package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"baocun"
	"baocun/sheet"
	"baocun/workflows"
)

// Context keys of the lifecycle's loaders.
const (
	ctxPairing = "baocun.pairing" // *baocun.Pairing loaded by pairingResource
	ctxCycle   = "baocun.cycle"   // *baocun.Cycle loaded by cycleResource
	ctxLaunch  = "baocun.launch"  // *launchRequest read by launchResource
	ctxRecord  = "baocun.record"  // the directory record a loader found
	// ctxPairingFilter is the baocun.PairingFilter the list's loader authorised.
	ctxPairingFilter = "baocun.pairing_filter"
)

// launchRequest is POST /cycles: the cycle's settings and its pairings, inline or
// as a pairings file (multipart fields "settings" and "file").
type launchRequest struct {
	Name         string `json:"name"`
	Jurisdiction string `json:"jurisdiction"`
	baocun.CycleSettings
	Pairings pairingList `json:"pairings"`

	lines []int // where each pairing came from
	err   error // the body could not be read; reported after authorization
}

// launchResource reads the launch request: its jurisdiction is what the organiser
// must hold. The gate runs it only for a caller who may launch somewhere
// (loaderReadsBody), and the body is read under the route's limit. A body that
// cannot be read is reported by the handler, once the caller is authorised in the
// jurisdiction the gate found them holding the permission in.
func launchResource(c *gin.Context) (Resource, error) {
	req := readLaunch(c)
	c.Set(ctxLaunch, req)
	j := req.Jurisdiction
	if req.err != nil || j == "" {
		j = c.GetString(ctxHeldIn)
	}
	if j == "" {
		j = baocun.CityJurisdiction
	}
	return Resource{Name: "cycles", Jurisdiction: j}, nil
}

func readLaunch(c *gin.Context) *launchRequest {
	req := &launchRequest{}
	body, err := readBody(c)
	if err != nil {
		req.err = err
		return req
	}
	if c.ContentType() == "multipart/form-data" {
		form, err := readForm(c, body)
		if err != nil {
			req.err = err
			return req
		}
		defer form.RemoveAll()
		settings := ""
		if v := form.Value["settings"]; len(v) > 0 {
			settings = v[0]
		}
		if err := strictJSON([]byte(settings), req); err != nil {
			req.err = fieldError("settings", "表单字段 settings 须为 JSON 对象 The form field \"settings\" must be a JSON object: "+err.Error())
			return req
		}
		if len(req.Pairings) > 0 {
			req.err = fieldError("pairings", "结对请用文件或 JSON 之一 Give the pairings either as the file or in settings, not both.")
			return req
		}
		data, ct, err := formFile(form)
		if err != nil {
			req.err = err
			return req
		}
		t, err := sheet.Read(data, ct)
		if err != nil {
			req.err = err
			return req
		}
		req.Pairings, req.lines, req.err = baocun.ParsePairings(t)
		return req
	}
	if err := strictJSON(body, req); err != nil {
		req.err = &baocun.Error{Code: baocun.EINVALID, Message: "请求体须为 JSON 对象 The request body must be a JSON object: " + err.Error()}
		return req
	}
	req.lines = make([]int, len(req.Pairings))
	for i := range req.Pairings {
		req.lines[i] = i + 1 // pairings[i] is "line" i+1
		if k, ok := baocun.ParseKind(req.Pairings[i].Kind); ok {
			req.Pairings[i].Kind = k
		}
	}
	return req
}

// pairingList is a launch's inline pairings. It is decoded one pairing at a time, so
// that a body of empty objects cannot make more of them than a pairings file may have
// rows: 8 MiB of "{}," would otherwise be nearly three million pairings in memory.
type pairingList []baocun.PairingSpec

func (l *pairingList) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err // null: no pairings
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("pairings: 须为数组 must be an array")
	}
	for dec.More() {
		if len(*l) >= sheet.MaxRows {
			return fmt.Errorf("pairings: 至多 %d 个 at most %d, as many as a pairings file may have rows", sheet.MaxRows, sheet.MaxRows)
		}
		var p baocun.PairingSpec
		if err := dec.Decode(&p); err != nil {
			return err
		}
		*l = append(*l, p)
	}
	_, err = dec.Token()
	return err
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

func fieldError(field, msg string) error {
	return &baocun.Error{Code: baocun.EINVALID, Message: msg, Fields: map[string]string{field: msg}}
}

type launchResult struct {
	ID         int64  `json:"id"`
	Pairings   int    `json:"pairings"`
	WorkflowID string `json:"workflow_id"`
}

// handleLaunch validates everything, stores the cycle and its pairings with the
// audit entry, then starts the Cycle workflow.
func handleLaunch(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, _ := c.Get(ctxLaunch)
		req := v.(*launchRequest)
		if err := validateLaunch(c.Request.Context(), d.Store, req); err != nil {
			Error(c, err)
			return
		}
		cy := &baocun.Cycle{Name: strings.TrimSpace(req.Name), Jurisdiction: req.Jurisdiction, Settings: req.CycleSettings,
			LaunchedBy: currentUser(c).Username, LaunchedAt: time.Now().UTC().Truncate(time.Microsecond)}
		e := auditEntry(c, http.StatusCreated, map[string]any{"name": cy.Name, "jurisdiction": cy.Jurisdiction, "settings": cy.Settings, "pairings": len(req.Pairings)})
		ctx := c.Request.Context()
		id, err := d.Store.CreateCycle(ctx, cy, req.Pairings, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		cy.ID = id
		in := cycleInput(cy, len(req.Pairings))
		wid := workflows.CycleWorkflowID(id)
		// The cycle is stored: its start must not hang on the caller staying connected.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
		defer cancel()
		if err := startCycle(sctx, d.Engine, wid, in); err != nil {
			// The cycle is stored but not running: record that, so it is not mistaken
			// for a running one, and say so.
			ch := baocun.Change{At: time.Now(), Cycle: &baocun.CycleStatus{ID: id, Status: baocun.CycleFailed},
				Audit: []baocun.AuditEntry{{Actor: "system", Action: "cycle.start_failed", Resource: fmt.Sprintf("cycles/%d", id), CycleID: fmt.Sprint(id), Summary: summary(map[string]string{"error": err.Error()})}}}
			if aerr := d.Store.ApplyChange(context.WithoutCancel(ctx), ch); aerr != nil {
				c.Error(aerr)
			}
			Error(c, &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎不可用，本轮未启动 The workflow engine did not start the cycle; it is marked failed. Launch it again.", Err: err})
			return
		}
		c.JSON(http.StatusCreated, launchResult{ID: id, Pairings: len(req.Pairings), WorkflowID: wid})
	}
}

// cycleInput is the Cycle workflow's input for a stored cycle of n pairings.
func cycleInput(cy *baocun.Cycle, n int) workflows.CycleInput {
	return workflows.CycleInput{CycleID: cy.ID, Pairings: n, Settings: cy.Settings.WithoutRubric(), Clock: cy.Clock(),
		BatchSize: workflows.LaunchBatchSize}
}

// ResumeCycles starts the Cycle workflow of every running cycle launched before
// launchedBefore that has none. A launch stores the cycle before it starts the
// workflow, so a crash between the two (of this instance or another), or a backup cut
// between them, leaves a stored cycle and nothing running; serve calls this at start
// and then periodically (for cycles launched minutes before, so a launch still
// starting its workflow is left to finish). Starting is idempotent (the workflow
// ID is the cycle's, duplicates refused), so instances at once, or a launch still in
// flight on another instance, start each cycle once. A cycle whose workflow ran once
// and is gone (failed or terminated, then removed by the engine's retention) is not
// started again, which would replay its programme over its records: it is returned
// in lost, for an operator. It returns the cycles started.
func ResumeCycles(ctx context.Context, store Store, engine client.Client, launchedBefore time.Time) (started, lost []int64, err error) {
	var before int64
	for {
		cs, err := store.Cycles(ctx, before, 100)
		if err != nil {
			return started, lost, err
		}
		for i := range cs {
			if cs[i].Status != baocun.CycleRunning || !cs[i].LaunchedAt.Before(launchedBefore) {
				continue
			}
			wid := workflows.CycleWorkflowID(cs[i].ID)
			_, err := engine.DescribeWorkflowExecution(ctx, wid, "")
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				if err != nil {
					return started, lost, fmt.Errorf("cycle %d: %w", cs[i].ID, err)
				}
				continue
			}
			ran, err := store.CycleRan(ctx, cs[i].ID)
			if err != nil {
				return started, lost, err
			}
			if ran {
				lost = append(lost, cs[i].ID)
				continue
			}
			cy, err := store.Cycle(ctx, cs[i].ID)
			if err != nil {
				return started, lost, err
			}
			if err := startCycle(ctx, engine, wid, cycleInput(cy, cy.PairingsTotal)); err != nil {
				return started, lost, fmt.Errorf("cycle %d: start its workflow: %w", cy.ID, err)
			}
			started = append(started, cy.ID)
		}
		if len(cs) < 100 {
			return started, lost, nil
		}
		before = cs[len(cs)-1].ID
	}
}

// engineTimeout bounds how long a request waits for the workflow engine.
const engineTimeout = time.Minute

// startCycle starts the Cycle workflow; a start whose answer was lost but which
// happened counts as started.
func startCycle(ctx context.Context, engine client.Client, wid string, in workflows.CycleInput) error {
	_, err := engine.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: wid, TaskQueue: baocun.TaskQueue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.Cycle, in)
	if err == nil {
		return nil
	}
	if _, derr := engine.DescribeWorkflowExecution(ctx, wid, ""); derr == nil {
		return nil
	}
	return err
}

// validateLaunch checks the settings and every pairing against the directory.
func validateLaunch(ctx context.Context, store Store, req *launchRequest) error {
	if req.err != nil {
		return req.err
	}
	if strings.TrimSpace(req.Name) == "" || len([]rune(req.Name)) > 200 {
		return fieldError("name", "name: 须填写本轮名称（至多 200 字） a cycle needs a name (at most 200 characters)")
	}
	if req.Jurisdiction == "" {
		return fieldError("jurisdiction", "jurisdiction: 须为 * 或县名 must be \"*\" (the city) or a county's name")
	}
	req.CycleSettings.Defaults()
	if err := req.CycleSettings.Validate(); err != nil {
		return err
	}
	dir, err := store.LaunchDirectory(ctx)
	if err != nil {
		return err
	}
	if req.Jurisdiction != baocun.CityJurisdiction {
		known := false
		for _, county := range dir.Villages {
			known = known || county == req.Jurisdiction
		}
		if !known {
			return fieldError("jurisdiction", fmt.Sprintf("jurisdiction: 没有这个县 no county %q in the villages directory", req.Jurisdiction))
		}
	}
	return baocun.ValidatePairings(req.Pairings, req.lines, req.Jurisdiction, dir)
}

// cycleResource loads the cycle in the path.
func cycleResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		id, err := idParam(c, "id")
		if err != nil {
			return Resource{}, err
		}
		cy, err := store.Cycle(c.Request.Context(), id)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxCycle, cy)
		return Resource{Name: fmt.Sprintf("cycles/%d", id), Jurisdiction: cy.Jurisdiction, CycleID: fmt.Sprint(id)}, nil
	}
}

// cyclePairingsResource is a cycle's pairing list: of one county (?county=) or one
// department (?department=) where asked, so a county's roles and a department's lead
// may read their part of it.
func cyclePairingsResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		r, err := cycleResource(store)(c)
		if err != nil {
			return r, err
		}
		r.Name += "/pairings"
		f := baocun.PairingFilter{County: c.Query("county")}
		if f.County != "" && r.Jurisdiction == baocun.CityJurisdiction {
			r.Jurisdiction = f.County
		}
		if dept := c.Query("department"); dept != "" {
			dp, err := store.Department(c.Request.Context(), dept)
			if err != nil {
				return r, err
			}
			r.Department, f.Department = dp.Code, dp.Code
			if r.Jurisdiction == baocun.CityJurisdiction && dp.County != "" {
				// A county department's pairings as its county's roles see them: only
				// those in its county.
				r.Jurisdiction, f.County = dp.County, dp.County
			}
		}
		c.Set(ctxPairingFilter, f)
		return r, nil
	}
}

// pairingResource loads the pairing in the path: its village's county, department,
// village and team decide who may act on it.
func pairingResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		id, err := idParam(c, "id")
		if err != nil {
			return Resource{}, err
		}
		p, err := store.Pairing(c.Request.Context(), id)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxPairing, p)
		r := Resource{Name: fmt.Sprintf("pairings/%d", id), Jurisdiction: p.County, Department: p.Department, Village: p.Village,
			PairingID: fmt.Sprint(id), CycleID: fmt.Sprint(p.CycleID)}
		for _, m := range p.Team {
			r.TeamPeople = append(r.TeamPeople, m.PersonID)
		}
		return r, nil
	}
}

func idParam(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		return 0, &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("编号无效 No such %s: %q", name, c.Param(name))}
	}
	return id, nil
}

func loadedPairing(c *gin.Context) *baocun.Pairing {
	v, _ := c.Get(ctxPairing)
	return v.(*baocun.Pairing)
}

func loadedCycle(c *gin.Context) *baocun.Cycle {
	v, _ := c.Get(ctxCycle)
	return v.(*baocun.Cycle)
}

func handleGetCycle() gin.HandlerFunc {
	return func(c *gin.Context) {
		cy := loadedCycle(c)
		cy.ProgrammeNow = cy.Clock().Now(time.Now()).Format(time.DateOnly)
		c.JSON(http.StatusOK, cy)
	}
}

func handleListCycles(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		var before int64
		if s := c.Query("cursor"); s != "" {
			if before, err = strconv.ParseInt(s, 10, 64); err != nil {
				Error(c, fieldError("cursor", "cursor 无效 bad cursor"))
				return
			}
		}
		cs, err := store.Cycles(c.Request.Context(), before, limit+1)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(cs, limit, func(cy baocun.Cycle) string { return fmt.Sprint(cy.ID) }))
	}
}

type cancelRequest struct {
	Reason string `json:"reason"`
}

// handleCancelCycle records the request and asks the Cycle workflow to cancel; the
// workflow cancels every pairing and marks the cycle cancelled.
func handleCancelCycle(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req cancelRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		if n := len([]rune(strings.TrimSpace(req.Reason))); n < 2 || n > 500 {
			Error(c, fieldError("reason", "reason: 撤销须说明理由 a cancellation needs a reason (2–500 characters)"))
			return
		}
		cy := loadedCycle(c)
		if cy.Status != baocun.CycleRunning {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "本轮状态为 %s，不能撤销 The cycle is %s: it cannot be cancelled.", cy.Status, cy.Status))
			return
		}
		// Ask first (asking twice is harmless), then record: the trail never shows a
		// cancellation that was not requested.
		if err := d.Engine.CancelWorkflow(c.Request.Context(), workflows.CycleWorkflowID(cy.ID), ""); err != nil {
			Error(c, engineError(err))
			return
		}
		e := auditEntry(c, http.StatusAccepted, req)
		if err := d.Store.ApplyChange(c.Request.Context(), baocun.Change{At: time.Now(), Audit: []baocun.AuditEntry{*e}}); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"id": cy.ID, "status": "cancelling"})
	}
}

func handleCyclePairings(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		stage := c.Query("stage")
		if _, ok := baocun.StageNames[stage]; stage != "" && !ok {
			Error(c, fieldError("stage", fmt.Sprintf("stage: 没有这个阶段 no stage %q (%s)", stage, strings.Join(baocun.Stages, ", "))))
			return
		}
		var after int64
		if s := c.Query("cursor"); s != "" {
			if after, err = strconv.ParseInt(s, 10, 64); err != nil {
				Error(c, fieldError("cursor", "cursor 无效 bad cursor"))
				return
			}
		}
		v, _ := c.Get(ctxPairingFilter)
		f := v.(baocun.PairingFilter)
		f.CycleID, f.Stage, f.After, f.Limit = loadedCycle(c).ID, stage, after, limit+1
		ps, err := store.Pairings(c.Request.Context(), f)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(ps, limit, func(p baocun.Pairing) string { return fmt.Sprint(p.ID) }))
	}
}

// pairingDetail is GET /pairings/{id}: the pairing, its tasks and its timeline.
type pairingDetail struct {
	baocun.Pairing
	ProgrammeNow string           `json:"programme_now"`
	Tasks        []baocun.Task    `json:"tasks"`
	Timeline     []baocun.Event   `json:"timeline"`
	Objective    baocun.Objective `json:"objective"` // what acceptance raters are shown
}

func handleGetPairing(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := loadedPairing(c)
		ctx := c.Request.Context()
		tasks, err := store.Tasks(ctx, baocun.TaskFilter{PairingID: p.ID, Status: "all", Limit: 10000})
		if err != nil {
			Error(c, err)
			return
		}
		events, err := store.Events(ctx, p.ID)
		if err != nil {
			Error(c, err)
			return
		}
		cy, err := store.Cycle(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		obj, err := baocun.ObjectiveOf(p, events)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pairingDetail{Pairing: *p, ProgrammeNow: cy.Clock().Now(time.Now()).Format(time.DateOnly), Tasks: tasks, Timeline: events, Objective: obj})
	}
}

// handleInbox is GET /tasks: the signed-in user's open tasks (?status= for others).
func handleInbox(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		limit, err := limitParam(c)
		if err != nil {
			Error(c, err)
			return
		}
		status := c.Query("status")
		switch status {
		case "", "all", baocun.TaskOpen, baocun.TaskDone, baocun.TaskCancelled, baocun.TaskExpired:
		default:
			Error(c, fieldError("status", "status: 须为 open、done、cancelled、expired 或 all"))
			return
		}
		ts, err := store.Tasks(c.Request.Context(), baocun.TaskFilter{For: currentUser(c), Status: status, After: c.Query("cursor"), Limit: limit + 1})
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, pageOf(ts, limit, baocun.Task.Cursor))
	}
}

// stepRoute is a human step on a pairing: it reads the body into the Step, checks
// what only the database knows (people of the department), and sends the Update.
func stepRoute(d Deps, update string, read func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := loadedPairing(c)
		u := currentUser(c)
		st := workflows.Step{Actor: u.Username, Person: u.PersonID}
		payload, err := read(c, p, &st)
		if err != nil {
			Error(c, err)
			return
		}
		st.Audit = *auditEntry(c, http.StatusOK, payload)
		sendStep(c, d, workflows.PairingWorkflowID(p.ID), update, st, payload)
	}
}

// sendStep sends a step's Update to a workflow and answers with what it did. Once
// sent, a step is waited for even if the caller goes away: its outcome is recorded
// once, by the workflow or (refused) by the gate.
//
// A client that may send a step again (it timed out, say) names it with an
// Idempotency-Key header: the same user sending the same body to the same path
// under the same key gets the first answer, and the step is taken once. The key
// names a chain of Temporal Update IDs, which a workflow run remembers with their
// outcomes: a repeat attaches to the first attempt, in flight or done; an attempt
// refused after its workflow accepted it (another step got there first) took
// nothing, so a repeat goes on to the chain's next ID and tries again. A step
// repeated after its pairing's period has ended is answered as a new one (409:
// decided already).
func sendStep(c *gin.Context, d Deps, workflowID, update string, arg, payload any) {
	ids, err := updateIDs(c, payload)
	if err != nil {
		c.Set(ctxAudited, false)
		Error(c, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), engineTimeout)
	defer cancel()
	var res workflows.StepResult
	for _, id := range ids {
		var h client.WorkflowUpdateHandle
		h, err = d.Engine.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			UpdateID: id, WorkflowID: workflowID, UpdateName: update, Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, &res)
		}
		var app *temporal.ApplicationError
		var by string
		if err == nil || !errors.As(err, &app) || app.Details(&by) != nil || by == "" || by == c.GetString(ctxReqID) {
			break // taken, refused for this request, or not a step's refusal at all
		}
		// An earlier request's attempt was refused: this one tries again.
	}
	if err != nil {
		c.Set(ctxAudited, false) // nothing was written: the gate records the refusal
		Error(c, engineError(err))
		return
	}
	if res.Request != "" && res.Request != c.GetString(ctxReqID) {
		// A repeat, answered from the first request: this one wrote nothing, so the
		// gate records it (allowed, and how it ended). (A worker older than
		// workflows.Answered names no request: its answer is this request's own.)
		c.Set(ctxAudited, false)
	}
	c.JSON(http.StatusOK, res)
}

// idempotencyKey is the header a client names a step with (IETF draft
// "The Idempotency-Key HTTP Header Field").
const idempotencyKey = "Idempotency-Key"

// maxAttempts bounds the Update IDs one Idempotency-Key names.
const maxAttempts = 20

// updateIDs are the step's Update IDs: one empty ID (Temporal picks one) without an
// Idempotency-Key, else a chain derived from the user, the path, the key and the
// body, so a key reused for a different step names different Updates.
func updateIDs(c *gin.Context, payload any) ([]string, error) {
	key := c.GetHeader(idempotencyKey)
	if key == "" {
		return []string{""}, nil
	}
	if len(key) > 255 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return nil, fieldError(idempotencyKey, idempotencyKey+": 须为 1–255 个可见 ASCII 字符 must be 1 to 255 visible ASCII characters")
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	for _, part := range []string{currentUser(c).Username, c.Request.Method, c.Request.URL.Path, key} {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	sum.Write(body)
	base := "step-" + hex.EncodeToString(sum.Sum(nil))
	ids := []string{base}
	for n := 2; n <= maxAttempts; n++ {
		ids = append(ids, fmt.Sprintf("%s/%d", base, n))
	}
	return ids, nil
}

// engineError turns what Temporal said into the module's Error: a step refused by
// its workflow keeps the code the workflow gave it.
func engineError(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == workflows.StepRefused {
		// Our own step, refused by a worker: the instances do not share one key.
		return &baocun.Error{Code: baocun.EINTERNAL, Message: "工作流拒绝了步骤签名：各实例的 --step-key 是否相同？ A worker refused the step's signature: do all instances share one --step-key?", Err: err}
	}
	if errors.As(err, &app) && app.Type() != "" {
		if _, known := statusOf[app.Type()]; known {
			return &baocun.Error{Code: app.Type(), Message: app.Message(), Err: err}
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return &baocun.Error{Code: baocun.ECONFLICT, Message: "该流程已结束或尚未就绪 The workflow is not running (closed, or not started yet).", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎未及时响应 The workflow engine did not answer in time.", Err: err}
	}
	return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎不可用 The workflow engine is unavailable.", Err: err}
}

// departmentPeople checks that every person is of the pairing's department and
// returns their names.
func departmentPeople(c *gin.Context, store Store, dept string, field string, ids ...string) (map[string]string, error) {
	people, err := store.People(c.Request.Context(), dept)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, p := range people {
		names[p.ID] = p.Name
	}
	out := map[string]string{}
	for _, id := range ids {
		name, ok := names[id]
		if !ok {
			return nil, fieldError(field, fmt.Sprintf("%s: %q 不是本部门（%s）人员 %q is not a person of department %s", field, id, dept, id, dept))
		}
		out[id] = name
	}
	return out, nil
}

func readTeam(store Store) func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
		var in baocun.TeamInput
		if err := decodeJSON(c, &in); err != nil {
			return nil, err
		}
		ids := []string{}
		for _, m := range in.Team() {
			ids = append(ids, m.PersonID)
		}
		names, err := departmentPeople(c, store, p.Department, "members", ids...)
		if err != nil {
			return nil, err
		}
		st.Team, st.Names = &in, names
		return in, nil
	}
}

func readChange(store Store) func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
		var in baocun.TeamChangeInput
		if err := decodeJSON(c, &in); err != nil {
			return nil, err
		}
		ids := append([]string{}, in.Add...)
		if in.Leader != "" {
			ids = append(ids, in.Leader)
		}
		names, err := departmentPeople(c, store, p.Department, "add", ids...)
		if err != nil {
			return nil, err
		}
		st.Change, st.Names = &in, names
		return in, nil
	}
}

// readInto decodes the body into a new T and sets it on the Step.
func readInto[T any](set func(st *workflows.Step, v *T)) func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
	return func(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
		v := new(T)
		if err := decodeJSON(c, v); err != nil {
			return nil, err
		}
		// Checked here too, so the error names its field; the workflow checks again.
		if val, ok := any(v).(interface{ Validate() error }); ok {
			if err := val.Validate(); err != nil {
				return nil, err
			}
		}
		set(st, v)
		return v, nil
	}
}

// readArrival takes an empty body (or {}).
func readArrival(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
	if c.Request.ContentLength == 0 {
		return nil, nil
	}
	var v struct{}
	return nil, decodeJSON(c, &v)
}

func readCancel(c *gin.Context, p *baocun.Pairing, st *workflows.Step) (any, error) {
	var req cancelRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	st.Reason = strings.TrimSpace(req.Reason)
	return req, nil
}

// Check-ins and visits are records, not steps: they go straight to the database
// (a member checks in most days; the workflow counts them at each period's end).

// activeStages are the stages a team is in the village.
var activeStages = map[string]bool{baocun.StageStationed: true, baocun.StagePlanning: true, baocun.StageReviews: true}

type checkinResult struct {
	Recorded int `json:"recorded"` // new days
	Already  int `json:"already"`  // days recorded before
}

func handleCheckins(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.CheckinInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		p := loadedPairing(c)
		u := currentUser(c)
		if in.PersonID == "" {
			in.PersonID = u.PersonID
		}
		if in.PersonID != u.PersonID {
			Error(c, &baocun.Error{Code: baocun.EFORBIDDEN, Message: "只能为本人打卡 Members check in for themselves only.", Fields: map[string]string{"person_id": "not yours"}})
			return
		}
		if !activeStages[p.Stage] || !p.OnTeam(in.PersonID) {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对处于 %s 阶段或您不在工作组：不能打卡 Check-ins are for team members while the team is stationed (stage now %s).", p.Stage, p.Stage))
			return
		}
		if len(in.Dates) == 0 || len(in.Dates) > 62 {
			Error(c, fieldError("dates", "dates: 每次 1–62 天 give 1 to 62 dates"))
			return
		}
		cy, err := d.Store.Cycle(c.Request.Context(), p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		// Residency is counted within the programme: a day after its end counts for
		// nothing (the pairing may wait for its last report past it).
		end := cy.Clock().Start.AddDate(cy.Settings.Years, 0, 0).Format(time.DateOnly)
		for i, s := range in.Dates {
			field := fmt.Sprintf("dates[%d]", i)
			if err := checkPassedDate(cy, field, s); err != nil {
				Error(c, err)
				return
			}
			if s >= end {
				Error(c, fieldError(field, fmt.Sprintf("%s: %s 在本轮结束（%s）之后 is on or after the programme's end %s", field, s, end, end)))
				return
			}
		}
		e := auditEntry(c, http.StatusOK, in)
		n, err := d.Store.AddCheckins(c.Request.Context(), p.ID, in.PersonID, in.Dates, u.Username, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, checkinResult{Recorded: n, Already: len(in.Dates) - n})
	}
}

// checkPassedDate refuses a programme date (field) before the cycle's start or after
// its today: a record of what happened happened in the programme, and has happened.
func checkPassedDate(cy *baocun.Cycle, field, s string) error {
	clock := cy.Clock()
	today := clock.Now(time.Now()).Format(time.DateOnly)
	day, err := baocun.ParseDate(field, s)
	if err != nil {
		return err
	}
	if day.Before(clock.Start) || day.Format(time.DateOnly) > today {
		return fieldError(field, fmt.Sprintf("%s: %s 不在本轮开始（%s）与今天（%s）之间 is not between the cycle's start %s and today %s",
			field, s, clock.Start.Format(time.DateOnly), today, clock.Start.Format(time.DateOnly), today))
	}
	return nil
}

func handleVisit(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.VisitInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		if err := in.Validate(); err != nil {
			Error(c, err)
			return
		}
		p := loadedPairing(c)
		if p.Stage == baocun.StageCancelled || p.Stage == baocun.StageClosed {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对已%s The pairing is %s.", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.Cycle(c.Request.Context(), p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if err := checkPassedDate(cy, "date", in.Date); err != nil {
			Error(c, err)
			return
		}
		data, _ := json.Marshal(in)
		now := time.Now()
		e := auditEntry(c, http.StatusCreated, in)
		if err := d.Store.ApplyChange(c.Request.Context(), baocun.Change{At: now,
			Events: []baocun.Event{{PairingID: p.ID, ProgrammeAt: in.Date, Actor: currentUser(c).Username, Kind: "visit.recorded", Period: p.Period, Data: data}},
			Audit:  []baocun.AuditEntry{*e}}); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, in)
	}
}

// results is GET /cycles/{id}/results: the confirmed results ranked, pairings and
// departments, by the rubric's documented tie-break (baocun.TieBreak), each at its
// final score once it has one.
type results struct {
	Pairings    []baocun.Ranked         `json:"pairings"`
	Departments []baocun.DepartmentRank `json:"departments"`
	// AdvancedShare is the top share of departments that may be advanced.
	AdvancedShare decimal.Decimal `json:"advanced_share"`
}

func handleResults(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		cm, err := store.Commendation(c.Request.Context(), loadedCycle(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, results{Pairings: cm.Pairings, Departments: cm.Departments, AdvancedShare: cm.AdvancedShare})
	}
}
