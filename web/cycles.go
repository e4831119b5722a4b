package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"baocun"
)

// Cycles: read, listed, cancelled, and their pairings.

func handleGetCycle(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		cy, err := store.Cycle(c.Request.Context(), loadedCycle(c).ID) // with its pairings counted by stage
		if err != nil {
			Error(c, err)
			return
		}
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
		if err := d.Engine.CancelCycle(c.Request.Context(), cy.ID); err != nil {
			if errors.Is(err, baocun.ErrNoRun) && time.Since(cy.LaunchedAt) > LaunchGrace {
				// No workflow to ask, and no launch still starting one: the cycle's
				// workflow ran and is gone (or never started). It is cancelled in the
				// record, so neither the reconciler nor anyone else takes it for running.
				e := auditEntry(c, http.StatusAccepted, req)
				if err := d.Store.ApplyChange(c.Request.Context(), baocun.Change{At: time.Now(),
					Cycle: &baocun.CycleStatus{ID: cy.ID, Status: baocun.CycleCancelled}, Audit: []baocun.AuditEntry{*e}}); err != nil {
					c.Set(ctxAudited, false)
					Error(c, err)
					return
				}
				c.JSON(http.StatusAccepted, gin.H{"id": cy.ID, "status": baocun.CycleCancelled})
				return
			}
			Error(c, err)
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
		var stage baocun.Stage
		if s := c.Query("stage"); s != "" {
			if stage, err = baocun.ParseStage("stage", s); err != nil {
				Error(c, err)
				return
			}
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
