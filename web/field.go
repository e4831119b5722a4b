package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Field records (issue 17): a member's check-in as it happens, the team leader's
// word on a late one, the village's on each month, and leave. They are records, not
// steps: they go straight to the database, and the Pairing workflow counts them at
// each period's end.

// programmeToday is the cycle's programme date now.
func programmeToday(cy *baocun.Cycle) time.Time {
	t := cy.Clock().Now(time.Now())
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// checkFieldDay checks a day a member was (or will be) in the field against the
// programme's today (computed once by the caller: at a demonstration's clock speed a
// day passes in a fraction of a second): within the programme, and no more than the
// cycle's late days before today; a later one is refused too unless future is set
// (leave may be asked ahead).
func checkFieldDay(cy *baocun.Cycle, today time.Time, field, s string, future bool) (late int, err error) {
	day, err := baocun.ParseDate(field, s)
	if err != nil {
		return 0, err
	}
	_, lateDays, _ := cy.Settings.FieldRules()
	start, end := cy.Clock().Start.Format(time.DateOnly), cy.End().Format(time.DateOnly)
	broken := func(msg string) error {
		return &baocun.Error{Code: baocun.EUNPROCESSABLE, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
	}
	switch {
	case s < start || s >= end:
		return 0, broken(fmt.Sprintf("%s 不在本轮（%s 至 %s 前）之内 is outside the programme (%s until %s)", s, start, end, start, end))
	case day.After(today) && !future:
		return 0, broken(fmt.Sprintf("%s 晚于今天 %s is after today %s", s, today.Format(time.DateOnly), today.Format(time.DateOnly)))
	}
	late = int(today.Sub(day).Hours() / 24)
	if late > lateDays {
		return late, broken(fmt.Sprintf("%s 已超过补录期限 %d 天 is more than the cycle's limit of %d days late (late_days)", s, lateDays, lateDays))
	}
	return max(late, 0), nil
}

// checkinAudit is what the trail keeps of a check-in: not the position itself
// (personal data kept in the record, read by those who may), only how far it lay.
type checkinAudit struct {
	Day       string   `json:"date"`
	Late      bool     `json:"late,omitempty"`
	Status    string   `json:"status"`
	DistanceM *float64 `json:"distance_m,omitempty"`
	InRange   *bool    `json:"in_range,omitempty"`
}

func handleCheckin(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.CheckinInput
		if !readValid(c, &in) {
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if !p.OnTeam(u.PersonID) { // the policy's own_pairing says so too; a wider grant does not
			forbid(c, d, "residency.record", "check-ins are for the pairing's team members, each for themselves")
			return
		}
		if !activeStages[p.Stage] {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对处于%s阶段：工作组进驻后才能打卡 Check-ins are for a team stationed in the village (stage now %s).", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		today := programmeToday(cy)
		if in.Date == "" {
			in.Date = today.Format(time.DateOnly)
		}
		late, err := checkFieldDay(cy, today, "date", in.Date, false)
		if err != nil {
			Error(c, err)
			return
		}
		ci := baocun.Checkin{PairingID: p.ID, PersonID: u.PersonID, Day: in.Date, RecordedAt: time.Now().UTC().Truncate(time.Millisecond),
			RecordedBy: u.Username, Lat: in.Lat, Lng: in.Lng, AccuracyM: in.AccuracyM, Status: baocun.CheckinOK}
		if late > 0 {
			if strings.TrimSpace(in.Reason) == "" {
				Error(c, fieldError("reason", fmt.Sprintf("reason: 补录 %d 天前的打卡须说明理由 a check-in %d days late needs a reason", late, late)))
				return
			}
			ci.Late, ci.Reason, ci.Status = true, in.Reason, baocun.CheckinPending
		}
		radius, _, _ := cy.Settings.FieldRules()
		// Today's position says where the member is today: it marks a day late in
		// range of nothing; nor does a position vaguer than the radius.
		if in.Lat != nil && late == 0 && (in.AccuracyM == nil || *in.AccuracyM <= float64(radius)) {
			v, err := d.Store.Village(ctx, p.Village)
			if err != nil {
				Error(c, err)
				return
			}
			if v.Lat != nil {
				dist := math.Round(baocun.DistanceM(*in.Lat, *in.Lng, *v.Lat, *v.Lng))
				in := dist <= float64(radius)
				ci.DistanceM, ci.InRange = &dist, &in
			}
		}
		e := auditEntry(c, http.StatusCreated, checkinAudit{Day: ci.Day, Late: ci.Late, Status: ci.Status, DistanceM: ci.DistanceM, InRange: ci.InRange})
		if err := d.Store.AddCheckin(ctx, ci, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, ci)
	}
}

// checkinMonth is the month a list or a confirmation names: the query's or path's
// month, or this programme month.
func checkinMonth(cy *baocun.Cycle, s string) (string, error) {
	if s == "" {
		return programmeToday(cy).Format("2006-01"), nil
	}
	if _, err := time.Parse("2006-01", s); err != nil {
		return "", fieldError("month", fmt.Sprintf("month: 须为 YYYY-MM must be YYYY-MM, not %q", s))
	}
	return s, nil
}

// checkinsPage is a month of a pairing's check-ins and what is known of it.
type checkinsPage struct {
	Month     string           `json:"month"`
	Today     string           `json:"today"` // programme date
	Confirmed bool             `json:"confirmed"`
	Items     []baocun.Checkin `json:"items"`
	Leave     []baocun.Leave   `json:"leave"`
}

func handleCheckins(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, p := c.Request.Context(), loadedPairing(c)
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		month, err := checkinMonth(cy, c.Query("month"))
		if err != nil {
			Error(c, err)
			return
		}
		items, err := d.Store.Checkins(ctx, p.ID, month)
		if err != nil {
			Error(c, err)
			return
		}
		// Leave shows beside the days to those who may read leave, without its reasons.
		leave := []baocun.Leave{}
		if ok, err := mayAlso(c, d, "leave", "read"); err != nil {
			Error(c, err)
			return
		} else if ok {
			first, _ := time.Parse("2006-01", month)
			if leave, err = d.Store.Leaves(ctx, p.ID, "", month+"-01", first.AddDate(0, 1, 0).Format(time.DateOnly)); err != nil {
				Error(c, err)
				return
			}
			for i := range leave {
				leave[i].Reason, leave[i].Comment = "", ""
			}
		}
		confirmed, err := d.Store.MonthConfirmed(ctx, p.ID, month)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, checkinsPage{Month: month, Today: programmeToday(cy).Format(time.DateOnly), Confirmed: confirmed, Items: items, Leave: leave})
	}
}

// handleCheckinReview is the team leader's word on a member's late check-in (a
// leader's own goes to the department lead: nobody confirms their own).
func handleCheckinReview(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.CheckinReview
		if !readValid(c, &in) {
			return
		}
		u := currentUser(c)
		if in.PersonID == u.PersonID {
			forbid(c, d, "residency.confirm", "nobody confirms their own check-in")
			return
		}
		e := auditEntry(c, http.StatusOK, in)
		ci, err := d.Store.ReviewCheckin(c.Request.Context(), loadedPairing(c).ID, in, u.Username, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, ci)
	}
}

type monthResult struct {
	Month    string `json:"month"`
	Disputed int    `json:"disputed"`
}

// handleConfirmMonth is the village's word on a month of the team's check-ins, once
// the month has passed: every day confirmed but the disputed ones, which stop
// counting toward the residency rule.
func handleConfirmMonth(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.MonthConfirmation
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		ctx, p := c.Request.Context(), loadedPairing(c)
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		month, err := checkinMonth(cy, c.Param("month"))
		if err != nil {
			Error(c, err)
			return
		}
		if month >= programmeToday(cy).Format("2006-01") || month < cy.Clock().Start.Format("2006-01") {
			Error(c, fieldError("month", fmt.Sprintf("month: %s 不是本轮已过去的月份 is not a past month of the programme", month)))
			return
		}
		if err := in.Validate(month); err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusOK, in)
		n, err := d.Store.ConfirmMonth(ctx, p.ID, month, in, currentUser(c).Username, disputeChange(cy, p, month, in, currentUser(c).Username), e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, monthResult{Month: month, Disputed: n})
	}
}

// disputeChange is what a month's dispute writes: a task for the department lead,
// due in the cycle's days to decide, and the event that shows it on the timeline.
func disputeChange(cy *baocun.Cycle, p *baocun.Pairing, month string, in baocun.MonthConfirmation, by string) baocun.Change {
	now := time.Now()
	clock, today := cy.Clock(), programmeToday(cy)
	due := today.AddDate(0, 0, cy.Settings.Windows.DecideDays)
	t := baocun.Task{ID: fmt.Sprintf("%d-dispute-%s", p.ID, month), Kind: baocun.TaskCheckinDispute, PairingID: p.ID, CycleID: p.CycleID,
		Role: baocun.TaskRoles[baocun.TaskCheckinDispute], Jurisdiction: p.County, Department: p.Department, Village: p.Village, Period: p.Period,
		Subject: fmt.Sprintf("村委对 %s 的打卡有异议 The village disputes check-ins of %s", month, month),
		DueAt:   clock.Real(due), DueDate: due.Format(time.DateOnly), Status: baocun.TaskOpen, OpenedAt: now}
	if remind := due.AddDate(0, 0, -cy.Settings.Windows.RemindDays); remind.After(today) {
		t.RemindAt = clock.Real(remind)
	}
	data, _ := json.Marshal(map[string]any{"month": month, "disputes": in.Disputes})
	return baocun.Change{At: now, Open: []baocun.Task{t}, Events: []baocun.Event{{PairingID: p.ID, ProgrammeAt: today.Format(time.DateOnly),
		Actor: by, Kind: "checkins.disputed", TaskID: t.ID, Period: p.Period, Data: data}}}
}

// handleAnswerDispute is the department lead's answer to the village's dispute of a
// month's check-ins (what was found, what was done): it closes the dispute's task.
func handleAnswerDispute(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.DecisionInput
		if !readValid(c, &in) {
			return
		}
		if in.Outcome != baocun.OutcomeAcknowledge || strings.TrimSpace(in.Comment) == "" {
			Error(c, fieldError("comment", "comment: 须写明核实情况和处理结果 say what was found and done (outcome acknowledge)"))
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if _, month, ok := strings.Cut(in.TaskID, "-dispute-"); ok && u.PersonID != "" {
			people, err := d.Store.DisputedPeople(ctx, p.ID, month)
			if err != nil {
				Error(c, err)
				return
			}
			if slices.Contains(people, u.PersonID) {
				forbid(c, d, "residency.acknowledge", "nobody answers a dispute of their own check-ins")
				return
			}
		}
		e := auditEntry(c, http.StatusOK, in)
		if err := d.Store.AnswerDispute(ctx, p.ID, in, currentUser(c).Username, programmeToday(cy).Format(time.DateOnly), e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, in)
	}
}

func handleRequestLeave(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.LeaveInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		days, err := in.Validate()
		if err != nil {
			Error(c, err)
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if !activeStages[p.Stage] {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对处于%s阶段：工作组进驻后才能请假 Leave is for a team stationed in the village (stage now %s).", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		today := programmeToday(cy)
		for _, f := range []struct{ name, day string }{{"from", in.From}, {"to", in.To}} {
			if _, err := checkFieldDay(cy, today, f.name, f.day, true); err != nil {
				Error(c, err)
				return
			}
		}
		l := baocun.Leave{PairingID: p.ID, PersonID: u.PersonID, From: in.From, To: in.To, Days: days, Kind: in.Kind, Reason: in.Reason, RequestedBy: u.Username, Files: in.Files}
		e := auditEntry(c, http.StatusCreated, in)
		if l, err = d.Store.RequestLeave(ctx, l, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, l)
	}
}

func handleLeaves(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ls, err := d.Store.Leaves(c.Request.Context(), loadedPairing(c).ID, c.Query("status"), "", "")
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.Leave]{Items: ls})
	}
}

// handleDecideLeave approves or refuses a member's leave: a department lead up to
// the cycle's limit, an organiser beyond it; nobody decides their own.
func handleDecideLeave(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.LeaveDecision
		if !readValid(c, &in) {
			return
		}
		id, err := idParam(c, "leave")
		if err != nil {
			Error(c, err)
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		l, err := d.Store.Leave(ctx, p.ID, id)
		if err != nil {
			Error(c, err)
			return
		}
		if l.PersonID == u.PersonID {
			forbid(c, d, "leave.approve", "nobody decides their own leave")
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if _, _, limit := cy.Settings.FieldRules(); in.Outcome == "approve" {
			// The limit is on the run of leave this request joins (adjacent leave asked
			// or approved), so splitting a long absence into short requests gains nothing.
			run, err := d.Store.LeaveRun(ctx, l)
			if err != nil {
				Error(c, err)
				return
			}
			if run > limit {
				ok, err := mayAlso(c, d, "leave", "approve_long")
				if err != nil {
					Error(c, err)
					return
				}
				if !ok {
					forbid(c, d, "leave.approve_long", fmt.Sprintf("连续请假 %d 天，超过部门审批上限 %d 天，须组织部门审批 %d days of leave in a row is more than a department lead approves (%d): an organiser decides",
						run, limit, run, limit))
					return
				}
			}
		}
		e := auditEntry(c, http.StatusOK, in)
		if l, err = d.Store.DecideLeave(ctx, p.ID, id, in, u.Username, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, l)
	}
}

// handleWithdrawLeave withdraws leave at the word of the one who asked it, before
// it is decided or, approved, before it begins.
func handleWithdrawLeave(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength != 0 {
			var none struct{}
			if err := decodeJSON(c, &none); err != nil {
				Error(c, err)
				return
			}
		}
		id, err := idParam(c, "leave")
		if err != nil {
			Error(c, err)
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if p.Stage == baocun.StageCancelled || p.Stage == baocun.StageClosed {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对已%s The pairing is %s.", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		l, err := d.Store.Leave(ctx, p.ID, id)
		if err != nil {
			Error(c, err)
			return
		}
		if u.PersonID == "" || l.PersonID != u.PersonID {
			forbid(c, d, "leave.withdraw", "only the one who asked withdraws their leave")
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusOK, nil)
		today := func() string { return programmeToday(cy).Format(time.DateOnly) }
		if l, err = d.Store.WithdrawLeave(ctx, p.ID, id, u.Username, today, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, l)
	}
}

// readValid decodes the body into v and checks it, answering a bad one itself: it
// reports whether the handler goes on.
func readValid(c *gin.Context, v interface{ Validate() error }) bool {
	if err := decodeJSON(c, v); err != nil {
		Error(c, err)
		return false
	}
	if err := v.Validate(); err != nil {
		Error(c, err)
		return false
	}
	return true
}

// mayAlso asks the policy whether the caller may also take object's action on the
// resource the gate authorized.
func mayAlso(c *gin.Context, d Deps, object, action string) (bool, error) {
	res := c.MustGet(ctxResource).(Resource)
	dec, err := decide(c.Request.Context(), d.Authorizer, route{object: object, action: action}, currentUser(c), res)
	return dec.Allowed, err
}

// forbid refuses a request the policy allowed but a rule of the handler's does not,
// with an audited denial naming that rule.
func forbid(c *gin.Context, d Deps, action, rule string) {
	e := auditEntry(c, http.StatusForbidden, nil)
	e.Action = action
	c.Set(ctxAudited, true)
	deny(c, d.Audit, e, action, rule)
}

// handleSpotCheck records an organiser's or reviewer's unannounced check of the team:
// everyone named must be on it; an absence is excused when approved leave covers it.
func handleSpotCheck(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.SpotCheckInput
		if !readValid(c, &in) {
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if !activeStages[p.Stage] {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对处于%s阶段：工作组未在村 The team is not stationed in the village (stage now %s).", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if err := checkPassedDate(cy, "date", in.Date); err != nil {
			Error(c, err)
			return
		}
		sc := baocun.SpotCheck{PairingID: p.ID, Day: in.Date, Note: in.Note, RecordedBy: u.Username, Files: in.Files}
		for _, list := range []struct {
			field   string
			ids     []string
			present bool
		}{{"present", in.Present, true}, {"absent", in.Absent, false}} {
			for i, id := range list.ids {
				if !p.OnTeam(id) {
					Error(c, fieldError(fmt.Sprintf("%s[%d]", list.field, i), fmt.Sprintf("%s 不在本结对工作组 %s is not on this pairing's team", id, id)))
					return
				}
				sc.People = append(sc.People, baocun.SpotCheckEntry{PersonID: id, Present: list.present})
			}
		}
		e := auditEntry(c, http.StatusCreated, nil)
		if sc, err = d.Store.AddSpotCheck(ctx, sc, e); err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, sc)
	}
}

func handleSpotChecks(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		scs, err := d.Store.SpotChecks(c.Request.Context(), loadedPairing(c).ID)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, page[baocun.SpotCheck]{Items: scs})
	}
}

// handleAddLog records a team member's work log entry (民情日记), dated today unless
// it names an earlier day of the programme.
func handleAddLog(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.LogInput
		if !readValid(c, &in) {
			return
		}
		ctx, p, u := c.Request.Context(), loadedPairing(c), currentUser(c)
		if !activeStages[p.Stage] {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "结对处于%s阶段：工作组未在村 The team is not stationed in the village (stage now %s).", baocun.StageNames[p.Stage], p.Stage))
			return
		}
		cy, err := d.Store.CycleRecord(ctx, p.CycleID)
		if err != nil {
			Error(c, err)
			return
		}
		if in.Date == "" {
			in.Date = programmeToday(cy).Format(time.DateOnly)
		}
		if err := checkPassedDate(cy, "date", in.Date); err != nil {
			Error(c, err)
			return
		}
		e := auditEntry(c, http.StatusCreated, nil)
		entry, err := d.Store.AddLogEntry(ctx, baocun.LogEntry{PairingID: p.ID, Day: in.Date, Kind: in.Kind, Goal: in.Goal, Text: in.Text,
			Files: in.Files, PersonID: u.PersonID, RecordedBy: u.Username}, e)
		if err != nil {
			c.Set(ctxAudited, false)
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, entry)
	}
}

// handleLog lists the work log, newest first: ?q= words in it, ?from=&to= days,
// ?before= an entry id for the next page.
func handleLog(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		f := baocun.LogFilter{Q: c.Query("q"), From: c.Query("from"), To: c.Query("to"), Limit: 100}
		if len([]rune(f.Q)) > 100 {
			Error(c, fieldError("q", "q: 最多 100 字 at most 100 characters"))
			return
		}
		for name, v := range map[string]string{"from": f.From, "to": f.To} {
			if v != "" {
				if _, err := baocun.ParseDate(name, v); err != nil {
					Error(c, err)
					return
				}
			}
		}
		if s := c.Query("before"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				Error(c, fieldError("before", "before: 须为条目编号 must be an entry id"))
				return
			}
			f.Before = n
		}
		es, err := d.Store.LogEntries(c.Request.Context(), loadedPairing(c).ID, f)
		if err != nil {
			Error(c, err)
			return
		}
		next := ""
		if len(es) == f.Limit {
			next = strconv.FormatInt(es[len(es)-1].ID, 10)
		}
		c.JSON(http.StatusOK, page[baocun.LogEntry]{Items: es, NextCursor: next})
	}
}
