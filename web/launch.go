package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// Launching a cycle: its request read and checked, stored, its workflow started;
// and the workflows of cycles stored but never started.

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
	// Warnings are what the launch let through and the organiser should know: a
	// support pairing of a class 1 village, when the cycle's settings only warn of it.
	Warnings []baocun.RowError `json:"warnings,omitempty"`
}

// handleLaunch validates everything, stores the cycle and its pairings with the
// audit entry, then starts the Cycle workflow.
func handleLaunch(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, _ := c.Get(ctxLaunch)
		req := v.(*launchRequest)
		warnings, err := validateLaunch(c.Request.Context(), d.Store, req)
		if err != nil {
			Error(c, err)
			return
		}
		cy := &baocun.Cycle{Name: strings.TrimSpace(req.Name), Jurisdiction: req.Jurisdiction, Settings: req.CycleSettings,
			LaunchedBy: currentUser(c).Username, LaunchedAt: time.Now().UTC().Truncate(time.Microsecond)}
		detail := map[string]any{"name": cy.Name, "jurisdiction": cy.Jurisdiction, "settings": cy.Settings, "pairings": len(req.Pairings)}
		if len(warnings) > 0 {
			detail["warnings"] = warnings
		}
		e := auditEntry(c, http.StatusCreated, detail)
		ctx := c.Request.Context()
		id, err := d.Store.CreateCycle(ctx, cy, req.Pairings, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		cy.ID = id
		// The cycle is stored: its start must not hang on the caller staying connected.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
		defer cancel()
		run, err := d.Engine.StartCycle(sctx, cy, len(req.Pairings))
		if err != nil {
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
		c.JSON(http.StatusCreated, launchResult{ID: id, Pairings: len(req.Pairings), WorkflowID: run, Warnings: warnings})
	}
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
func ResumeCycles(ctx context.Context, store Store, engine baocun.Engine, launchedBefore time.Time) (started, lost []int64, err error) {
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
			has, err := engine.HasCycle(ctx, cs[i].ID)
			if err != nil {
				return started, lost, fmt.Errorf("cycle %d: %w", cs[i].ID, err)
			}
			if has {
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
			if _, err := engine.StartCycle(ctx, cy, cy.PairingsTotal); err != nil {
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

// LaunchGrace is how long after a cycle's launch its workflow's absence means
// nothing: the launch may still be starting it. Past it, a running cycle with no
// workflow is started (never ran) or may be cancelled in the record (ran and gone).
const LaunchGrace = 5 * time.Minute

// engineTimeout bounds how long a request waits for the workflow engine.
const engineTimeout = time.Minute

// validateLaunch checks the settings and every pairing against the directory, and
// returns what the launch only warns of.
func validateLaunch(ctx context.Context, store Store, req *launchRequest) ([]baocun.RowError, error) {
	if req.err != nil {
		return nil, req.err
	}
	if strings.TrimSpace(req.Name) == "" || len([]rune(req.Name)) > 200 {
		return nil, fieldError("name", "name: 须填写本轮名称（至多 200 字） a cycle needs a name (at most 200 characters)")
	}
	if req.Jurisdiction == "" {
		return nil, fieldError("jurisdiction", "jurisdiction: 须为 * 或县名 must be \"*\" (the city) or a county's name")
	}
	req.CycleSettings.Defaults()
	if err := req.CycleSettings.Validate(); err != nil {
		return nil, err
	}
	dir, err := store.LaunchDirectory(ctx)
	if err != nil {
		return nil, err
	}
	if req.Jurisdiction != baocun.CityJurisdiction {
		known := false
		for _, v := range dir.Villages {
			known = known || v.County == req.Jurisdiction
		}
		if !known {
			return nil, fieldError("jurisdiction", fmt.Sprintf("jurisdiction: 没有这个县 no county %q in the villages directory", req.Jurisdiction))
		}
	}
	return baocun.ValidatePairings(req.Pairings, req.lines, req.Jurisdiction, dir, req.Class1Support)
}
