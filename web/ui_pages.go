package web

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"baocun"
)

// Each page reads what it shows from the API (v.ui.get, as the visitor) and asks
// v.can before it offers an action; the forms post to the API themselves.

// dashboard is the organiser's view of a cycle: progress by county and stage,
// overdue tasks, residency compliance, the ledger's funds and projects, coverage of
// the lagging villages — the cycle's statistics (database aggregates over every
// pairing, however many) — and its bulletins.
func (u *ui) dashboard(v *view) (string, any, error) {
	v.Title = [2]string{"概览", "Dashboard"}
	if !v.can("GET", "/cycles") {
		return v.redirect("/inbox") // roles that see no cycle work from their inbox
	}
	var cycles page[baocun.Cycle]
	if err := u.get(v.c, "/cycles?limit=100", &cycles); err != nil {
		return "", nil, err
	}
	d := &dashboardData{Cycles: cycles.Items, CanLaunch: v.canLaunch(),
		Filter: pairingFilter{Stage: baocun.Stage(v.c.Query("stage")), County: v.c.Query("county")}}
	if len(cycles.Items) == 0 {
		return "dashboard", d, nil
	}
	id := v.c.Query("cycle")
	if id == "" {
		id = strconv.FormatInt(cycles.Items[0].ID, 10)
	}
	d.Cycle = new(baocun.Cycle)
	if err := u.get(v.c, "/cycles/"+url.PathEscape(id), d.Cycle); err != nil {
		return "", nil, err
	}
	d.CanCancel = d.Cycle.Status == baocun.CycleRunning && v.can("POST", "/cycles/:id/cancel", id)
	if v.can("GET", "/cycles/:id/statistics", id) {
		var st baocun.Statistics
		if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/statistics?by=county", &st); err != nil {
			return "", nil, err
		}
		d.summarise(v.Lang, &st)
	}
	// The pairings the filter selects, a page of them.
	q := url.Values{"limit": {strconv.Itoa(maxPairingsListed)}}
	if d.Filter.Stage != "" {
		q.Set("stage", string(d.Filter.Stage))
	}
	if d.Filter.County != "" {
		q.Set("county", d.Filter.County)
	}
	var ps page[baocun.Pairing]
	if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/pairings?"+q.Encode(), &ps); err != nil {
		return "", nil, err
	}
	d.Pairings, d.More = ps.Items, ps.NextCursor != ""
	var inbox page[baocun.Task]
	if err := u.get(v.c, "/tasks?limit=500", &inbox); err != nil {
		return "", nil, err
	}
	for _, t := range inbox.Items {
		if t.CycleID == d.Cycle.ID && t.Status == baocun.TaskOpen && t.DueAt.Before(time.Now()) {
			d.Overdue = append(d.Overdue, t)
		}
	}
	if v.can("GET", "/cycles/:id/bulletins", id) {
		var bs page[baocun.BulletinSummary]
		if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/bulletins", &bs); err != nil {
			return "", nil, err
		}
		d.Bulletins = bs.Items
		d.CanPublish = v.can("POST", "/cycles/:id/bulletins", id)
		d.Period = programmeToday(d.Cycle).Format("2006-01")
	}
	return "dashboard", d, nil
}

// maxPairingsListed is how many of the pairings a filter selects the dashboard lists.
const maxPairingsListed = 200

type dashboardData struct {
	Cycles     []baocun.Cycle
	Cycle      *baocun.Cycle
	Filter     pairingFilter
	Counties   []countyRow
	Total      countyRow
	Pairings   []baocun.Pairing // those the filter selects, at most maxPairingsListed
	More       bool             // the filter selects more
	Overdue    []baocun.Task
	Objective  bool // the statistics were read (the user may read them)
	Charts     map[string]any
	CanLaunch  bool
	CanCancel  bool
	Bulletins  []baocun.BulletinSummary
	CanPublish bool
	Period     string // this programme month, the bulletin form's default
}

type pairingFilter struct {
	Stage  baocun.Stage
	County string
}

// countyRow is one county's progress and figures.
type countyRow struct {
	County string
	Stages []int // in baocun.Stages order
	baocun.StatisticGroup
}

// summarise lays the statistics out by county and stage, and builds the charts'
// options (ECharts), each beside a table of the same numbers.
func (d *dashboardData) summarise(lang string, st *baocun.Statistics) {
	d.Objective = true
	row := func(g baocun.StatisticGroup) countyRow {
		r := countyRow{County: g.Key, StatisticGroup: g, Stages: make([]int, len(baocun.Stages))}
		for i, s := range baocun.Stages {
			r.Stages[i] = g.Stages[s]
		}
		return r
	}
	for _, g := range st.Groups {
		d.Counties = append(d.Counties, row(g))
	}
	d.Total = row(st.Totals)
	counties := make([]string, len(d.Counties))
	for i, r := range d.Counties {
		counties[i] = r.County
	}
	var stages []any
	for i, s := range baocun.Stages {
		data := make([]int, len(d.Counties))
		for j, r := range d.Counties {
			data[j] = r.Stages[i]
		}
		if d.Total.Stages[i] > 0 {
			zh, en := split(baocun.StageNames[s])
			stages = append(stages, map[string]any{"name": plain(lang, zh, en), "type": "bar", "stack": "stage", "data": data})
		}
	}
	axis := map[string]any{"type": "category", "data": counties}
	funds, projects, compliance := make([]string, len(d.Counties)), make([]int, len(d.Counties)), make([]any, len(d.Counties))
	for i, r := range d.Counties {
		funds[i], projects[i] = r.FundsWan, r.ProjectsCompleted
		if r.ResidencyCompliance != nil {
			compliance[i] = r.ResidencyCompliance.String()
		}
	}
	d.Charts = map[string]any{
		"progress": map[string]any{
			"tooltip": map[string]any{"trigger": "axis"}, "legend": map[string]any{"type": "scroll", "top": 0},
			"grid":  map[string]any{"containLabel": true, "left": 8, "right": 8, "top": 40, "bottom": 8},
			"xAxis": axis, "yAxis": map[string]any{"type": "value", "minInterval": 1}, "series": stages,
		},
		"figures": map[string]any{
			"tooltip": map[string]any{"trigger": "axis"}, "legend": map[string]any{"top": 0},
			"grid":  map[string]any{"containLabel": true, "left": 8, "right": 8, "top": 40, "bottom": 8},
			"xAxis": axis,
			"yAxis": []any{map[string]any{"type": "value", "name": plain(lang, "万元", "10k yuan")}, map[string]any{"type": "value", "minInterval": 1}},
			"series": []any{
				map[string]any{"name": plain(lang, "筹集资金", "Funds raised"), "type": "bar", "data": funds},
				map[string]any{"name": plain(lang, "完成项目", "Projects done"), "type": "bar", "yAxisIndex": 1, "data": projects},
			},
		},
		"compliance": map[string]any{
			"tooltip": map[string]any{"trigger": "axis"},
			"grid":    map[string]any{"containLabel": true, "left": 8, "right": 8, "top": 24, "bottom": 8},
			"xAxis":   axis, "yAxis": map[string]any{"type": "value", "max": 100, "name": "%"},
			"series": []any{map[string]any{"name": plain(lang, "驻村达标率", "Residency compliance"), "type": "bar", "data": compliance}},
		},
	}
}

func pointers[T any](s []T) []*T {
	out := make([]*T, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// inbox is the signed-in user's tasks.
func (u *ui) inbox(v *view) (string, any, error) {
	v.Title = [2]string{"我的待办", "My tasks"}
	status := v.c.DefaultQuery("status", baocun.TaskOpen)
	q := url.Values{"status": {status}, "limit": {"100"}}
	if cur := v.c.Query("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var tasks page[baocun.Task]
	if err := u.get(v.c, "/tasks?"+q.Encode(), &tasks); err != nil {
		return "", nil, err
	}
	next := ""
	if tasks.NextCursor != "" {
		q.Set("cursor", tasks.NextCursor)
		q.Del("limit")
		next = "/inbox?" + q.Encode()
	}
	d := map[string]any{"Tasks": tasks.Items, "Status": status, "Next": next,
		"Statuses": []string{baocun.TaskOpen, baocun.TaskDone, baocun.TaskCancelled, baocun.TaskExpired, "all"}}
	if err := u.inboxTools(v, d, tasks.Items); err != nil {
		return "", nil, err
	}
	if !v.can("GET", "/cycles") {
		// Without the dashboard, a user reaches their pairings (to check in, say,
		// which is no task) through the tasks they have had.
		var all page[baocun.Task]
		if err := u.get(v.c, "/tasks?status=all&limit=500", &all); err != nil {
			return "", nil, err
		}
		var mine []baocun.Task
		for _, t := range all.Items {
			if t.PairingID != 0 && !slices.ContainsFunc(mine, func(m baocun.Task) bool { return m.PairingID == t.PairingID }) {
				mine = append(mine, t)
			}
		}
		d["Pairings"] = mine
	}
	return "inbox", d, nil
}

// launch is the form that launches a cycle from a pairings file.
func (u *ui) launch(v *view) (string, any, error) {
	v.Title = [2]string{"启动新一轮包村", "Launch a cycle"}
	if !v.canLaunch() {
		return "", nil, forbidden()
	}
	var jurisdictions []string
	for _, g := range v.User.Roles {
		if g.Role == baocun.RoleOrganiser && !slices.Contains(jurisdictions, g.Jurisdiction) {
			jurisdictions = append(jurisdictions, g.Jurisdiction)
		}
	}
	s := baocun.CycleSettings{StartDate: time.Now().In(baocun.ChinaTime).AddDate(0, 1, 0).Format("2006-01") + "-01"}
	s.Defaults()
	// The lagging villages each jurisdiction has left unpaired, which the launch
	// should take up (a launch refuses those paired in a running cycle).
	type unpaired struct {
		Jurisdiction string
		Villages     []baocun.Village
		More         bool
	}
	var left []unpaired
	for _, j := range jurisdictions {
		q := url.Values{"unpaired": {"1"}, "limit": {"500"}}
		if j != baocun.CityJurisdiction {
			q.Set("county", j)
		}
		var p page[baocun.Village]
		if err := u.get(v.c, "/villages?"+q.Encode(), &p); err != nil {
			return "", nil, err
		}
		left = append(left, unpaired{Jurisdiction: j, Villages: p.Items, More: p.NextCursor != ""})
	}
	return "launch", map[string]any{"Jurisdictions": jurisdictions, "Defaults": s, "Windows": windowNames, "Unpaired": left,
		"CanImport": v.can("POST", "/import/:kind", "departments")}, nil
}

// windowNames name the launch settings' windows, in programme days.
var windowNames = []struct{ Code, ZH, EN string }{
	{"nominate_days", "提名工作组（天）", "to nominate the team (days)"},
	{"decide_days", "审批（天）", "to decide (days)"},
	{"arrival_days", "进驻（天）", "to arrive (days)"},
	{"plan_days", "提交规划（天）", "to submit the plan (days)"},
	{"report_days", "期末汇报（天）", "to report after a period (days)"},
	{"rework_days", "退回修改（天）", "to rework (days)"},
	{"evaluation_days", "年度双评（天）", "for the evaluation (days)"},
	{"acceptance_days", "验收（天）", "for acceptance (days)"},
	{"remind_days", "提前提醒（天）", "remind before (days)"},
	{"publicity_days", "公示（天）", "publicity (days)"},
	{"appeal_days", "申诉（天）", "to appeal (days)"},
}

func forbidden() error {
	return &apiError{Status: 403, errorDetail: errorDetail{Code: baocun.EFORBIDDEN, Message: "无权访问此页 You may not use this page."}}
}

// pairingData is a pairing's page: the detail, the forms the user may use now, and
// the timeline sorted into its parts.
type pairingData struct {
	pairingDetail
	Cycle     *baocun.Cycle // nil when the user may not read it
	Forms     []taskForm
	Actions   map[string]bool // non-task actions offered: checkins, visit, change, appeal, cancel
	People    []baocun.Person // the department's, for nominations and changes
	Reports   []baocun.Event
	Scores    []baocun.Event
	Residency []baocun.Event
	Decisions []baocun.Event
	Timeline  []baocun.Event // newest first
	Stages    []stageStep
	Rubric    *baocun.Rubric
	// Field is this month's check-ins and leave, for those who may read them; Today
	// is the user's own check-in today, if any; Pending are the late check-ins the
	// user may confirm.
	Field   *checkinsPage
	Today   *baocun.Checkin
	Pending []baocun.Checkin
	// Files are the pairing's evidence files the user may read: the gallery, and
	// what a form may name as evidence. FileByID finds one.
	Files    []baocun.File
	FileByID map[string]baocun.File
	// Evidence is, for each indicator of the rubric, the files the team's
	// self-assessment named for it: raters see them beside it.
	Evidence map[string][]baocun.File
	// Projects is the ledger (nil: the user may not read it).
	Projects []baocun.Project
}

// selfAssessedEvidence is a self-assessment's evidence by indicator, each file as
// the gallery has it (one the user may not read is left out).
func selfAssessedEvidence(e baocun.Event, files map[string]baocun.File) map[string][]baocun.File {
	var in baocun.SelfAssessInput
	if json.Unmarshal(e.Data, &in) != nil {
		return nil
	}
	out := map[string][]baocun.File{}
	for k, ids := range in.Evidence {
		for _, id := range ids {
			if f, ok := files[id]; ok {
				out[k] = append(out[k], f)
			}
		}
	}
	return out
}

// taskForm is an open task the user may act on, with the form that does it.
type taskForm struct {
	Task baocun.Task
	Form string // the form's template: team, decision, arrival, plan, report, …
	API  string // where it posts
	// Ledger is what a report counts of the ledger, shown on its form.
	Ledger *ledgerFigures
}

// ledgerFigures are a report's figures as the ledger gives them.
type ledgerFigures struct {
	FundsWan string
	Projects map[string]int
	Count    int
}

type stageStep struct {
	Stage         baocun.Stage
	Done, Current bool
}

// taskForms says which form does each kind of task, and which route it posts to.
var taskForms = map[baocun.TaskKind]struct{ form, route string }{
	baocun.TaskNominateTeam:      {"team", "/pairings/:id/team"},
	baocun.TaskApproveTeam:       {"decision", "/pairings/:id/team/decision"},
	baocun.TaskApproveTeamChange: {"decision", "/pairings/:id/team/decision"},
	baocun.TaskConfirmArrival:    {"arrival", "/pairings/:id/arrival"},
	baocun.TaskSubmitPlan:        {"plan", "/pairings/:id/plan"},
	baocun.TaskReviewPlan:        {"decision", "/pairings/:id/decisions"},
	baocun.TaskSubmitReport:      {"report", "/pairings/:id/reports"},
	baocun.TaskReviewReport:      {"decision", "/pairings/:id/decisions"},
	baocun.TaskResidencyFlag:     {"acknowledge", "/pairings/:id/residency-flags"},
	baocun.TaskCheckinDispute:    {"acknowledge", "/pairings/:id/checkins/disputes"},
	baocun.TaskEvaluation:        {"evaluation", "/pairings/:id/evaluations"},
	baocun.TaskSelfAssess:        {"self_assess", "/pairings/:id/acceptance/self-assessment"},
	baocun.TaskScore:             {"score", "/pairings/:id/acceptance/scores"},
	baocun.TaskConfirm:           {"confirm", "/pairings/:id/acceptance/confirm"},
	baocun.TaskDecideAppeal:      {"appeal_decision", "/pairings/:id/appeal/decision"},
}

func (u *ui) pairing(v *view) (string, any, error) {
	id := v.c.Param("id")
	d := &pairingData{Actions: map[string]bool{}}
	if err := u.get(v.c, "/pairings/"+url.PathEscape(id), &d.pairingDetail); err != nil {
		return "", nil, err
	}
	p := d.Pairing
	v.Title = [2]string{fmt.Sprintf("结对 %d：%s — %s", p.ID, p.DepartmentName, p.VillageName),
		fmt.Sprintf("Pairing %d: %s — %s", p.ID, p.DepartmentName, p.VillageName)}
	cid := strconv.FormatInt(p.CycleID, 10)
	if v.can("GET", "/cycles/:id", cid) {
		d.Cycle = new(baocun.Cycle)
		if err := u.get(v.c, "/cycles/"+cid, d.Cycle); err != nil {
			return "", nil, err
		}
	}
	d.Rubric = d.pairingDetail.Rubric
	mayTake, err := u.holding(v, d.Tasks)
	if err != nil {
		return "", nil, err
	}
	for _, t := range d.Tasks {
		f, ok := taskForms[t.Kind]
		if t.Status != baocun.TaskOpen || !ok || !v.User.HasRole(t.Role) || !mayTake(t) || !v.can("POST", f.route, id) {
			continue
		}
		if f.form == "score" && d.Rubric == nil {
			continue
		}
		d.Forms = append(d.Forms, taskForm{Task: t, Form: f.form, API: "/api/v1/pairings/" + id + f.route[len("/pairings/:id"):]})
	}
	active := activeStages[p.Stage]
	open := p.Stage != baocun.StageClosed && p.Stage != baocun.StageCancelled
	// Check-ins count within the programme: past its end the form is gone (the API
	// refuses such a day too).
	d.Actions["checkins"] = active && d.ProgrammeNow < d.ProgrammeEnd && p.OnTeam(v.User.PersonID) && v.can("POST", "/pairings/:id/checkins", id)
	d.Actions["leave"] = active && p.OnTeam(v.User.PersonID) && v.can("POST", "/pairings/:id/leave", id)
	if v.can("GET", "/pairings/:id/checkins", id) {
		d.Field = new(checkinsPage)
		if err := u.get(v.c, "/pairings/"+url.PathEscape(id)+"/checkins", d.Field); err != nil {
			return "", nil, err
		}
		for i, c := range d.Field.Items {
			if c.PersonID == v.User.PersonID && c.Day == d.Field.Today {
				d.Today = &d.Field.Items[i]
			}
		}
		if v.can("POST", "/pairings/:id/checkins/review", id) {
			// Late check-ins wait from this month and the last (a day of its end sent
			// in the first days of this one).
			last := new(checkinsPage)
			if t, err := time.Parse("2006-01", d.Field.Month); err == nil {
				if err := u.get(v.c, "/pairings/"+url.PathEscape(id)+"/checkins?month="+t.AddDate(0, -1, 0).Format("2006-01"), last); err != nil {
					return "", nil, err
				}
			}
			for _, c := range append(last.Items, d.Field.Items...) {
				if c.Status == baocun.CheckinPending && c.PersonID != v.User.PersonID {
					d.Pending = append(d.Pending, c)
				}
			}
		}
	}
	d.Actions["upload"] = open && v.can("POST", "/files?pairing="+url.QueryEscape(id))
	if v.can("GET", "/pairings/:id/files", id) {
		var files page[baocun.File]
		if err := u.get(v.c, "/pairings/"+url.PathEscape(id)+"/files", &files); err != nil {
			return "", nil, err
		}
		d.Files = files.Items
	}
	d.FileByID = make(map[string]baocun.File, len(d.Files))
	for _, f := range d.Files {
		d.FileByID[f.ID] = f
	}
	if v.can("GET", "/pairings/:id/projects", id) {
		var ps page[baocun.Project]
		if err := u.get(v.c, "/pairings/"+url.PathEscape(id)+"/projects", &ps); err != nil {
			return "", nil, err
		}
		d.Projects = ps.Items
		for i, f := range d.Forms {
			if f.Form == "report" {
				funds, counts, ids := baocun.LedgerReport(ps.Items, f.Task.Period)
				d.Forms[i].Ledger = &ledgerFigures{FundsWan: funds, Projects: counts, Count: len(ids)}
			}
		}
	}
	d.Actions["project"] = ledgerStages[p.Stage] && v.can("POST", "/pairings/:id/projects", id)
	d.Actions["project_accept"] = ledgerStages[p.Stage] && v.can("POST", "/pairings/:id/projects/:project/acceptance", id, "0")
	d.Actions["visit"] = open && v.can("POST", "/pairings/:id/visits", id)
	d.Actions["change"] = active && v.can("POST", "/pairings/:id/team-changes", id)
	d.Actions["appeal"] = p.Stage == baocun.StagePublicity && v.can("POST", "/pairings/:id/appeal", id)
	d.Actions["cancel"] = open && v.can("POST", "/pairings/:id/cancel", id)
	needPeople := d.Actions["change"] || slices.ContainsFunc(d.Forms, func(f taskForm) bool { return f.Form == "team" })
	if needPeople && v.can("GET", "/departments/:code/people", p.Department) {
		var people page[baocun.Person]
		if err := u.get(v.c, "/departments/"+url.PathEscape(p.Department)+"/people?limit=500", &people); err != nil {
			return "", nil, err
		}
		d.People = people.Items
	}
	for _, e := range d.pairingDetail.Timeline {
		switch e.Kind {
		case "report.submitted", "plan.submitted", "evaluation.submitted", "acceptance.self_assessed":
			d.Reports = append(d.Reports, e)
			if e.Kind == "acceptance.self_assessed" {
				d.Evidence = selfAssessedEvidence(e, d.FileByID) // the last one's
			}
		case "acceptance.scored", "acceptance.combined", "acceptance.confirmed", "result.published", "result.final":
			d.Scores = append(d.Scores, e)
		case "period.ended", "residency.flagged", "residency.acknowledged":
			d.Residency = append(d.Residency, e)
		case "team.approved", "team.returned", "plan.approved", "plan.returned", "report.approved", "report.returned",
			"team_change.approved", "team_change.returned", "appeal.filed", "appeal.decided":
			d.Decisions = append(d.Decisions, e)
		}
	}
	d.Timeline = slices.Clone(d.pairingDetail.Timeline)
	slices.Reverse(d.Timeline)
	current := slices.Index(baocun.Stages, p.Stage)
	for i, s := range baocun.Stages[:len(baocun.Stages)-1] { // every stage but cancelled
		d.Stages = append(d.Stages, stageStep{Stage: s, Done: i < current || p.Stage == baocun.StageClosed, Current: s == p.Stage})
	}
	return "pairing", d, nil
}

// results is a cycle's ranked results and its commendation list.
func (u *ui) results(v *view) (string, any, error) {
	id := v.c.Param("id")
	v.Title = [2]string{"验收结果与表彰", "Results and commendation"}
	d := map[string]any{"ID": id}
	shown := false // anything this user may see here
	if v.can("GET", "/cycles/:id/results", id) {
		shown = true
		var r results
		if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/results", &r); err != nil {
			return "", nil, err
		}
		d["Results"] = r
	}
	if !shown {
		// Every signed-in account reads what is published (公示).
		shown = true
		var p baocun.Publicity
		if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/publicity", &p); err != nil {
			return "", nil, err
		}
		d["Publicity"] = p
	}
	if v.can("GET", "/cycles/:id/commendations", id) {
		shown = true
		var cm baocun.Commendation
		if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/commendations", &cm); err != nil {
			return "", nil, err
		}
		d["Commendation"] = cm
	}
	// The cycle's own tasks: a department lead's proposal, an organiser's approval.
	var inbox page[baocun.Task]
	if err := u.get(v.c, "/tasks?limit=500", &inbox); err != nil {
		return "", nil, err
	}
	for _, t := range inbox.Items {
		if strconv.FormatInt(t.CycleID, 10) != id {
			continue
		}
		switch {
		case t.Kind == baocun.TaskApproveCommend && v.can("POST", "/cycles/:id/commendations/approval", id):
			d["Approve"], shown = t, true
		case t.Kind == baocun.TaskProposeCadres && v.can("POST", "/cycles/:id/commendations/proposals/:department", id, t.Department):
			d["Propose"], shown = t, true
			var cs candidates
			if err := u.get(v.c, "/cycles/"+url.PathEscape(id)+"/commendations/proposals/"+url.PathEscape(t.Department), &cs); err != nil {
				return "", nil, err
			}
			d["Candidates"] = cs
		}
	}
	if !shown {
		return "", nil, forbidden()
	}
	return "results", d, nil
}

// bulletin is a published bulletin, to read and print on A4.
func (u *ui) bulletin(v *view) (string, any, error) {
	var a bulletinAnswer
	if err := u.get(v.c, "/cycles/"+url.PathEscape(v.c.Param("id"))+"/bulletins/"+url.PathEscape(v.c.Param("bulletin")), &a); err != nil {
		return "", nil, err
	}
	var b baocun.Bulletin
	if err := json.Unmarshal(a.Bulletin, &b); err != nil {
		return "", nil, err
	}
	v.Title = [2]string{"部门包村工作通报 " + b.Period, "Pairing programme bulletin " + b.Period}
	counties := make([]string, len(b.ByCounty))
	compliance, funds := make([]any, len(b.ByCounty)), make([]string, len(b.ByCounty))
	for i, g := range b.ByCounty {
		counties[i], funds[i] = g.Key, g.FundsWan
		if g.ResidencyCompliance != nil {
			compliance[i] = g.ResidencyCompliance.String()
		}
	}
	chart := map[string]any{
		"animation": false, // a printed page shows the bars drawn, not half-way
		"tooltip":   map[string]any{"trigger": "axis"}, "legend": map[string]any{"top": 0},
		"grid":  map[string]any{"containLabel": true, "left": 8, "right": 8, "top": 40, "bottom": 8},
		"xAxis": map[string]any{"type": "category", "data": counties},
		"yAxis": []any{map[string]any{"type": "value", "max": 100, "name": "%"}, map[string]any{"type": "value", "name": plain(v.Lang, "万元", "10k yuan")}},
		"series": []any{
			map[string]any{"name": plain(v.Lang, "驻村达标率", "Residency compliance"), "type": "bar", "data": compliance},
			map[string]any{"name": plain(v.Lang, "筹集资金", "Funds raised"), "type": "bar", "yAxisIndex": 1, "data": funds},
		},
	}
	return "bulletin", map[string]any{"Answer": a, "Bulletin": b, "Chart": chart}, nil
}

// auditFilters are the audit search's fields, as the API names them.
var auditFilters = []string{"actor", "action", "cycle", "pairing", "department", "village", "decision", "since", "until"}

// audit is the audit search: the API's filters, a page of entries, the export.
func (u *ui) audit(v *view) (string, any, error) {
	v.Title = [2]string{"审计查询", "Audit search"}
	if !v.can("GET", "/audit") {
		return "", nil, forbidden()
	}
	q := url.Values{}
	form := map[string]string{}
	for _, k := range auditFilters {
		if s := v.c.Query(k); s != "" {
			form[k] = s
			// The form's date-time inputs have no zone: they are China time.
			if (k == "since" || k == "until") && len(s) == len("2006-01-02T15:04") {
				s += ":00+08:00"
			}
			q.Set(k, s)
		}
	}
	export := "/api/v1/audit/export?" + q.Encode()
	if cur := v.c.Query("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	q.Set("limit", "50")
	var entries page[baocun.AuditEntry]
	err := u.get(v.c, "/audit?"+q.Encode(), &entries)
	var refusal *errorDetail
	if ae, ok := err.(*apiError); ok && ae.Status == 400 {
		refusal, err = &ae.errorDetail, nil // a bad filter is shown beside the form
	}
	if err != nil {
		return "", nil, err
	}
	next := ""
	if entries.NextCursor != "" {
		nq := url.Values{}
		for k, s := range form {
			nq.Set(k, s)
		}
		nq.Set("cursor", entries.NextCursor)
		next = "/audit?" + nq.Encode()
	}
	return "audit", map[string]any{"Form": form, "Entries": entries.Items, "Next": next, "Export": export, "Error": refusal}, nil
}

// users is the admin's list of accounts with their roles, and the policy.
func (u *ui) users(v *view) (string, any, error) {
	v.Title = [2]string{"用户与角色", "Users and roles"}
	if !v.can("GET", "/users") {
		return "", nil, forbidden()
	}
	q := url.Values{"limit": {"200"}}
	if cur := v.c.Query("cursor"); cur != "" {
		q.Set("cursor", cur)
	}
	var users page[baocun.User]
	if err := u.get(v.c, "/users?"+q.Encode(), &users); err != nil {
		return "", nil, err
	}
	// Accounts are city-wide resources: what the visitor may do to one they may do
	// to all, so each action is asked once, of a name that stands for any.
	d := map[string]any{"Users": users.Items, "CanCreate": v.can("POST", "/users"),
		"CanGrant": v.can("POST", "/policy/grants"), "CanRevoke": v.can("DELETE", "/policy/grants"),
		"CanUpdate": v.can("PATCH", "/users/:username", "any"), "CanReset": v.can("POST", "/users/:username/password", "any"),
		"CanUnlock": v.can("POST", "/users/:username/unlock", "any"), "CanSessions": v.can("GET", "/users/:username/sessions", "any"),
		"CanEndSessions": v.can("DELETE", "/users/:username/sessions", "any")}
	if users.NextCursor != "" {
		d["Next"] = "/users?cursor=" + url.QueryEscape(users.NextCursor)
	}
	if name := v.c.Query("sessions"); name != "" && d["CanSessions"] == true {
		var ss page[baocun.Session]
		if err := u.get(v.c, "/users/"+url.PathEscape(name)+"/sessions", &ss); err != nil {
			return "", nil, err
		}
		d["SessionsOf"], d["Sessions"] = name, ss.Items
	}
	if v.can("GET", "/policy") {
		var pol policyList
		if err := u.get(v.c, "/policy", &pol); err != nil {
			return "", nil, err
		}
		var perms []policyRule
		for _, r := range pol.Items {
			if r.Type == "p" {
				perms = append(perms, r)
			}
		}
		d["Policy"] = perms
	}
	return "users", d, nil
}

// password is where one changes one's own password, and where an account whose
// password an admin reset is sent until it has.
func (u *ui) password(v *view) (string, any, error) {
	v.Title = [2]string{"修改密码", "Change password"}
	return "password", map[string]any{"Must": v.User.MustChangePassword}, nil
}
