package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Check-ins and visits are records, not steps: they go straight to the database
// (a member checks in most days; the workflow counts them at each period's end).

// activeStages are the stages a team is in the village.
var activeStages = map[baocun.Stage]bool{baocun.StageStationed: true, baocun.StagePlanning: true, baocun.StageReviews: true}

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
		if !readValid(c, &in) {
			return
		}
		p := loadedPairing(c)
		if p.Stage == baocun.StageCancelled || p.Stage == baocun.StageClosed {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对已%s The pairing is %s.", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.CycleRecord(c.Request.Context(), p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if err := checkPassedDate(cy, "date", in.Date); err != nil {
			Error(c, err)
			return
		}
		if err := checkEvidence(c, d, p.ID, in); err != nil {
			Error(c, err)
			return
		}
		data, _ := json.Marshal(in)
		now := time.Now()
		e := auditEntry(c, http.StatusCreated, in)
		if err := d.Store.ApplyChange(c.Request.Context(), baocun.Change{At: now,
			Events: []baocun.Event{{PairingID: p.ID, ProgrammeAt: in.Date, Actor: currentUser(c).Username, Kind: "visit.recorded", Period: p.Period, Data: data, Files: in.Files}},
			Audit:  []baocun.AuditEntry{*e}}); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, in)
	}
}
