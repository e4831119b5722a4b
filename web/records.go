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
		end := cy.End().Format(time.DateOnly)
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
