package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// A pairing's detail and the inbox.

// pairingDetail is GET /pairings/{id}: the pairing, its tasks and its timeline.
type pairingDetail struct {
	baocun.Pairing
	ProgrammeNow string           `json:"programme_now"`
	ProgrammeEnd string           `json:"programme_end"` // the day after the programme's last: no check-in from it on
	Tasks        []baocun.Task    `json:"tasks"`
	Timeline     []baocun.Event   `json:"timeline"`
	Objective    baocun.Objective `json:"objective"` // what acceptance raters are shown
	// Rubric is the standard the pairing is accepted against: the team names its
	// evidence by its indicators.
	Rubric *baocun.Rubric `json:"rubric,omitempty"`
}

func handleGetPairing(d Deps) gin.HandlerFunc {
	store := d.Store
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
		cy, err := store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		ledger, err := store.Projects(ctx, p.ID)
		if err != nil {
			Error(c, err)
			return
		}
		obj, err := baocun.ObjectiveOf(p, events, ledger)
		if err != nil {
			Error(c, err)
			return
		}
		// Spot checks are unannounced: their figures are for those who read them,
		// never the team checked (nor its village), who would learn of each one.
		if may, err := mayAlso(c, d, "spot_check", "read"); err != nil {
			Error(c, err)
			return
		} else if may {
			var checks, absences int
			if checks, absences, err = store.SpotCheckTally(ctx, p.ID); err != nil {
				Error(c, err)
				return
			}
			obj.SpotChecks, obj.SpotCheckAbsences = &checks, &absences
		}
		c.JSON(http.StatusOK, pairingDetail{Pairing: *p, ProgrammeNow: cy.Clock().Now(time.Now()).Format(time.DateOnly),
			ProgrammeEnd: cy.End().Format(time.DateOnly), Tasks: tasks, Timeline: events, Objective: obj, Rubric: cy.Settings.Rubric})
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
