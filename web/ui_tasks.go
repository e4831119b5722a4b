package web

import (
	"fmt"
	"strings"
	"time"

	"baocun"
)

// The inbox's day-to-day tools (issue 19): many reviews or team decisions taken at
// once with one comment (POST /bulk/decisions, answered item by item: tasks.js shows
// each item's outcome), a delegation while away (POST /delegations) with the
// caller's delegations and their revocation, and an organiser's reassignment, new
// due date, reminder and note on a task. As everywhere in the UI, the browser posts
// to the API itself, and a control is offered only where the API's own gate would
// let the user through (v.can); the API decides again on each item.

// bulkRoutes are the decision routes of the tasks decided in bulk, by kind: one
// item of a bulk decision is authorised as its own route.
var bulkRoutes = map[baocun.TaskKind]string{
	baocun.TaskReviewPlan:        "/pairings/:id/decisions",
	baocun.TaskReviewReport:      "/pairings/:id/decisions",
	baocun.TaskApproveTeam:       "/pairings/:id/team/decision",
	baocun.TaskApproveTeamChange: "/pairings/:id/team/decision",
}

// taskManage is what an organiser may do about one task from the inbox.
type taskManage struct {
	Reassign, Due, Remind, Note bool
}

// taskHolder is who holds an assigned task, as the inbox shows it: the user, someone
// the user is acting for, or someone else (an organiser sees every escalated task).
type taskHolder struct {
	Mine       bool
	For, Other string
}

// Any reports whether any of the actions is offered.
func (m *taskManage) Any() bool { return m.Reassign || m.Due || m.Remind || m.Note }

// inboxTools adds to the inbox page's data: which of its tasks the user may decide
// in bulk (Decide), what an organiser may do about each (Manage), who holds each
// task assigned (Held), and the user's delegations. The page's own reads are the
// user's API requests, as every page's are.
func (u *ui) inboxTools(v *view, d map[string]any, tasks []baocun.Task) error {
	me := v.User.Username
	var dl page[baocun.Delegation]
	if err := u.get(v.c, "/delegations", &dl); err != nil {
		return err
	}
	now := time.Now()
	delegatedToMe := func(holder, id string) bool { return actingFor(dl.Items, me, holder, id, now) }
	decide, manage, held := map[string]bool{}, map[string]*taskManage{}, map[string]*taskHolder{}
	asked := map[string]bool{} // "route|pairing" → allowed: one question per pairing, not per task
	can := func(method, pattern string, t baocun.Task) bool {
		key := fmt.Sprintf("%s %s|%d", method, pattern, t.PairingID)
		if t.PairingID == 0 {
			key += "|" + t.ID // a cycle's task: its department is its resource
		}
		ok, seen := asked[key]
		if !seen {
			param := fmt.Sprint(t.PairingID)
			if strings.HasPrefix(pattern, "/tasks/") {
				param = t.ID
			}
			ok = v.can(method, pattern, param)
			asked[key] = ok
		}
		return ok
	}
	organiser := v.User.HasRole(baocun.RoleOrganiser)
	bulk := false
	for _, t := range tasks {
		if t.Status != baocun.TaskOpen {
			continue
		}
		switch {
		case t.Assignee == me:
			held[t.ID] = &taskHolder{Mine: true}
		case t.Assignee != "" && delegatedToMe(t.Assignee, t.ID):
			held[t.ID] = &taskHolder{For: t.Assignee}
		case t.Assignee != "":
			held[t.ID] = &taskHolder{Other: t.Assignee}
		}
		mine := t.Assignee == "" || t.Assignee == me || delegatedToMe(t.Assignee, t.ID)
		if route, ok := bulkRoutes[t.Kind]; ok && t.PairingID != 0 && mine && v.User.HasRole(t.Role) && can("POST", route, t) {
			decide[t.ID], bulk = true, true
		}
		if organiser {
			m := &taskManage{
				Reassign: can("POST", "/tasks/:id/reassign", t),
				Due:      t.PairingID != 0 && can("POST", "/tasks/:id/due", t),
				Remind:   can("POST", "/tasks/:id/remind", t),
				Note:     can("POST", "/tasks/:id/notes", t),
			}
			if m.Any() {
				manage[t.ID] = m
			}
		}
	}
	d["Decide"], d["Bulk"], d["Manage"], d["Held"] = decide, bulk, manage, held
	d["Me"], d["Delegations"] = me, dl.Items
	d["CanDelegate"] = len(delegableRoles(v.User)) > 0
	d["Today"] = now.In(baocun.ChinaTime).Format(time.DateOnly)
	return nil
}

// actingFor reports whether one of delegations hands holder's task id to me at now.
func actingFor(delegations []baocun.Delegation, me, holder, id string, now time.Time) bool {
	for _, x := range delegations {
		if x.Delegator == holder && x.Delegate == me && !x.Revoked && !x.StartsAt.After(now) && x.Until.After(now) && (x.TaskID == "" || x.TaskID == id) {
			return true
		}
	}
	return false
}

// holding answers whether the user may take each of tasks as far as assignment
// goes: a task of its role's pool, or assigned to them, or to someone who has
// delegated it to them (the API refuses anyone else: a page offers no form for it).
// It reads the user's delegations only when some task is assigned to another.
func (u *ui) holding(v *view, tasks []baocun.Task) (func(baocun.Task) bool, error) {
	me := v.User.Username
	var dl page[baocun.Delegation]
	for _, t := range tasks {
		if t.Status == baocun.TaskOpen && t.Assignee != "" && t.Assignee != me {
			if err := u.get(v.c, "/delegations", &dl); err != nil {
				return nil, err
			}
			break
		}
	}
	now := time.Now()
	return func(t baocun.Task) bool {
		return t.Assignee == "" || t.Assignee == me || actingFor(dl.Items, me, t.Assignee, t.ID, now)
	}, nil
}
