package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// Running the programme day to day (issue 19): tasks reassigned, delegated, their
// due dates moved, reminded and noted; many decided at once; inspection teams.

// ctxTask is the *baocun.Task taskResource loaded.
const ctxTask = "baocun.task"

// taskResource loads the task in the path: a pairing's task is its pairing as the
// policy sees it; a cycle's own task is its county and department.
func taskResource(store Store) loader {
	return func(c *gin.Context) (Resource, error) {
		id := c.Param("id")
		if id == "" || len(id) > 64 {
			return Resource{}, &baocun.Error{Code: baocun.ENOTFOUND, Message: "没有这个待办 No such task"}
		}
		t, err := store.Task(c.Request.Context(), id)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxTask, t)
		if t.PairingID == 0 {
			return Resource{Name: "tasks/" + id, Jurisdiction: baocun.CityJurisdiction, Department: t.Department, CycleID: fmt.Sprint(t.CycleID)}, nil
		}
		p, err := store.Pairing(c.Request.Context(), t.PairingID)
		if err != nil {
			return Resource{}, err
		}
		c.Set(ctxPairing, p)
		r := pairingAsResource(p)
		r.Name = "tasks/" + id
		return r, nil
	}
}

func loadedTask(c *gin.Context) *baocun.Task {
	v, _ := c.Get(ctxTask)
	return v.(*baocun.Task)
}

// stepTasks are the task kinds a step without a task id acts on.
var stepTasks = map[baocun.StepKind]baocun.TaskKind{
	baocun.StepNominateTeam: baocun.TaskNominateTeam, baocun.StepConfirmArrival: baocun.TaskConfirmArrival,
	baocun.StepSubmitPlan: baocun.TaskSubmitPlan, baocun.StepSubmitReport: baocun.TaskSubmitReport,
	baocun.StepEvaluate: baocun.TaskEvaluation, baocun.StepSelfAssess: baocun.TaskSelfAssess,
	baocun.StepScore: baocun.TaskScore,
}

// assignable are the task kinds whose steps heed who holds them (stepRoute and the
// bulk decisions check HeldBy): only these are reassigned or delegated.
var assignable = map[baocun.TaskKind]bool{
	baocun.TaskApproveTeam: true, baocun.TaskApproveTeamChange: true, baocun.TaskReviewPlan: true, baocun.TaskReviewReport: true,
	baocun.TaskResidencyFlag: true, baocun.TaskConfirm: true, baocun.TaskDecideAppeal: true, baocun.TaskNominateTeam: true,
	baocun.TaskScore: false, // an inspection team's, by assignment of the pairing
}

// checkAssignable refuses to give or hand on a task whose step does not heed it.
func checkAssignable(t *baocun.Task) error {
	if !assignable[t.Kind] || t.PairingID == 0 {
		return baocun.Errorf(baocun.ECONFLICT, "%s 待办不能改派或委托 A %s task is not reassigned or delegated.", t.Kind, t.Kind)
	}
	return nil
}

// storeFailed answers a store's refusal and leaves the gate to record it: the
// handler's own entry was never written.
func storeFailed(c *gin.Context, err error) {
	c.Set(ctxAudited, false)
	Error(c, err)
}

// heldElsewhere refuses a step on a task assigned to someone else who has not
// delegated it to the caller, or a score of a pairing another inspection team
// scores: the policy let the caller's role act, the assignment does not.
func heldElsewhere(ctx context.Context, d Deps, u *baocun.User, pairingID int64, st baocun.Step) error {
	var id string
	switch {
	case st.Decision != nil:
		id = st.Decision.TaskID
	case st.AppealDecision != nil:
		id = st.AppealDecision.TaskID
	case st.Confirm != nil:
		id = st.Confirm.TaskID
	}
	kind := stepTasks[st.Kind]
	if id == "" && kind == "" {
		return nil
	}
	holder, err := d.Store.HeldBy(ctx, u.Username, pairingID, id, kind, time.Now())
	if err != nil || holder == "" {
		return err
	}
	return &denial{"", "the task is assigned to " + holder}
}

// routeAction is the action the gate authorised this request as.
func routeAction(c *gin.Context) string {
	v, _ := c.Get(ctxAudit)
	if e, ok := v.(*baocun.AuditEntry); ok {
		return e.Action
	}
	return "unknown"
}

type reassignAnswer struct {
	Task baocun.Task `json:"task"`
}

// handleReassign gives a task to another account the policy lets act on it.
func handleReassign(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := loadedTask(c)
		var in baocun.ReassignInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		if err := checkAssignable(t); err != nil {
			Error(c, err)
			return
		}
		if err := mayHold(c, d, in.To, t.ID); err != nil {
			Error(c, err)
			return
		}
		if len(in.Reason) > 500 {
			Error(c, fieldError("reason", "reason: 至多 500 字 at most 500 characters"))
			return
		}
		if err := d.Store.Reassign(c.Request.Context(), t.ID, in.To, currentUser(c).Username, in.Reason, auditEntry(c, http.StatusOK, in)); err != nil {
			storeFailed(c, err)
			return
		}
		answerTask(c, d, t.ID)
	}
}

// mayHold refuses to as a holder of task id: no such account, or one whose roles in
// their scope do not let them act on it (a reviewer of the pairing's own department,
// say): the policy applies to whoever a task is given to.
func mayHold(c *gin.Context, d Deps, to, id string) error {
	if to == "" || len(to) > 64 {
		return fieldError("to", "to: 必填，须为用户名 required: a username")
	}
	ok, err := d.Store.CouldTake(c.Request.Context(), to, id)
	if baocun.ErrorCode(err) == baocun.ENOTFOUND {
		return fieldError("to", fmt.Sprintf("to: 没有用户 %s No such account %s", to, to))
	}
	if err != nil {
		return err
	}
	if !ok {
		return fieldError("to", fmt.Sprintf("to: %s 无权办理此待办（角色、辖区或本部门回避） %s may not act on this task: role, jurisdiction, or their own department", to, to))
	}
	return nil
}

func answerTask(c *gin.Context, d Deps, id string) {
	t, err := d.Store.Task(c.Request.Context(), id)
	if err != nil {
		Error(c, err)
		return
	}
	c.JSON(http.StatusOK, reassignAnswer{Task: *t})
}

// handleDelegateTask hands one of the caller's tasks to another account until a
// time: a task of its role's pool becomes the caller's first.
func handleDelegateTask(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, u := loadedTask(c), currentUser(c)
		var in baocun.DelegateInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		now := time.Now()
		until, err := baocun.ParseUntil("until", in.Until)
		if err == nil {
			err = baocun.CheckWindow(now, until, now)
		}
		if err == nil && len(in.Reason) > 500 {
			err = fieldError("reason", "reason: 至多 500 字 at most 500 characters")
		}
		if err == nil && in.To == u.Username {
			err = fieldError("to", "to: 不能委托给自己 not to oneself")
		}
		if err == nil {
			err = checkAssignable(t)
		}
		if err != nil {
			Error(c, err)
			return
		}
		// Only a task the caller may act on now is theirs to hand on.
		mine, err := d.Store.CouldTake(c.Request.Context(), u.Username, t.ID)
		if err != nil {
			Error(c, err)
			return
		}
		holder := ""
		if mine && t.PairingID != 0 {
			holder, err = d.Store.HeldBy(c.Request.Context(), u.Username, t.PairingID, t.ID, "", now)
		} else if mine && t.Assignee != "" && t.Assignee != u.Username {
			holder = t.Assignee
		}
		if err != nil {
			Error(c, err)
			return
		}
		if !mine || holder != "" {
			rule := "only who may act on a task delegates it"
			if holder != "" {
				rule = "the task is assigned to " + holder
			}
			forbid(c, d, routeAction(c), rule)
			return
		}
		if err := mayHold(c, d, in.To, t.ID); err != nil {
			Error(c, err)
			return
		}
		dl, err := d.Store.DelegateTask(c.Request.Context(), t.ID, u.Username, in.To, until, in.Reason, auditEntry(c, http.StatusCreated, in))
		if err != nil {
			storeFailed(c, err)
			return
		}
		c.JSON(http.StatusCreated, dl)
	}
}

// handleExtendDue moves an open task's due date, through its workflow, which
// re-times the task's escalation.
func handleExtendDue(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := loadedTask(c)
		var in baocun.DueInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		if in.TaskID != "" && in.TaskID != t.ID {
			Error(c, fieldError("task_id", "task_id: 与地址中的待办不符 not the task in the path"))
			return
		}
		in.TaskID = t.ID
		if err := in.Validate(); err != nil {
			Error(c, err)
			return
		}
		if t.PairingID == 0 {
			Error(c, baocun.Errorf(baocun.ECONFLICT, "表彰待办的期限随表彰日程，不能单独延期 A commendation task's due date follows the commendation's timetable: it is not moved alone."))
			return
		}
		u := currentUser(c)
		sendStep(c, d, baocun.Step{Kind: baocun.StepExtendDue, Pairing: t.PairingID, Actor: u.Username, Person: u.PersonID, Due: &in}, in)
	}
}

type taskActions struct {
	Task    baocun.Task         `json:"task"`
	Actions []baocun.TaskAction `json:"actions"`
}

// handleTaskActions is a task and what was done about it.
func handleTaskActions(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := loadedTask(c)
		acts, err := d.Store.TaskActions(c.Request.Context(), t.ID)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, taskActions{Task: *t, Actions: acts})
	}
}

// handleTaskNote keeps a note (or, remind, a reminder sent by hand) with the task.
func handleTaskNote(d Deps, action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t := loadedTask(c)
		var in baocun.NoteInput
		if c.Request.ContentLength != 0 || action == "note" {
			if err := decodeJSON(c, &in); err != nil {
				Error(c, err)
				return
			}
		}
		max, required := 2000, action == "note"
		if strings.TrimSpace(in.Text) == "" && required {
			Error(c, fieldError("text", "text: 必填 required"))
			return
		}
		if len(in.Text) > max {
			Error(c, fieldError("text", fmt.Sprintf("text: 至多 %d 字节 at most %d bytes", max, max)))
			return
		}
		if err := d.Store.NoteTask(c.Request.Context(), []string{t.ID}, currentUser(c).Username, action, map[string]string{"text": in.Text},
			auditEntry(c, http.StatusOK, in)); err != nil {
			storeFailed(c, err)
			return
		}
		answerTask(c, d, t.ID)
	}
}

// handleDelegate hands all the caller's assigned tasks to another account for a
// while (外出期间代理): someone who holds one of the caller's task roles.
func handleDelegate(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		u := currentUser(c)
		roles := delegableRoles(u)
		if len(roles) == 0 { // before the body is read
			c.Set(ctxAudit, baseEntry(c, "delegation.create"))
			forbid(c, d, "delegation.create", "only organisers, reviewers and department leads delegate their tasks")
			return
		}
		var in baocun.DelegationInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		now := time.Now().UTC()
		from := now
		var err error
		if in.From != "" {
			if from, err = baocun.ParseUntil("from", in.From); err == nil && len(in.From) == len(time.DateOnly) {
				from = from.AddDate(0, 0, -1) // a date is from the start of that day
			}
		}
		var until time.Time
		if err == nil {
			until, err = baocun.ParseUntil("until", in.Until)
		}
		if err == nil {
			err = baocun.CheckWindow(from, until, now)
		}
		if err == nil && len(in.Reason) > 500 {
			err = fieldError("reason", "reason: 至多 500 字 at most 500 characters")
		}
		if err == nil {
			err = mayDelegateTo(c, d, u, in.To, roles)
		}
		if err != nil {
			Error(c, err)
			return
		}
		e := baseEntry(c, "delegation.create")
		e.Decision, e.Status, e.Summary = baocun.DecisionAllow, http.StatusCreated, summary(in)
		e.Resource = "delegations"
		c.Set(ctxAudited, true)
		dl, err := d.Store.Delegate(c.Request.Context(), baocun.Delegation{Delegator: u.Username, Delegate: in.To, StartsAt: from, Until: until,
			Reason: in.Reason, CreatedAt: now}, e)
		if err != nil {
			recordFailure(c, d, e, err)
			return
		}
		c.JSON(http.StatusCreated, dl)
	}
}

// delegableRoles are the roles of u's whose tasks can be assigned, and so delegated.
func delegableRoles(u *baocun.User) []baocun.Role {
	var out []baocun.Role
	for _, r := range []baocun.Role{baocun.RoleOrganiser, baocun.RoleReviewer, baocun.RoleDeptLead} {
		if u.HasRole(r) {
			out = append(out, r)
		}
	}
	return out
}

// mayDelegateTo refuses a delegate who is no account, the caller, or holds none of
// the roles the caller delegates (each task is checked again when they act on it).
func mayDelegateTo(c *gin.Context, d Deps, u *baocun.User, to string, roles []baocun.Role) error {
	if to == "" || len(to) > 64 {
		return fieldError("to", "to: 必填，须为用户名 required: a username")
	}
	if to == u.Username {
		return fieldError("to", "to: 不能委托给自己 not to oneself")
	}
	other, err := d.Store.User(c.Request.Context(), to)
	if baocun.ErrorCode(err) == baocun.ENOTFOUND {
		return fieldError("to", fmt.Sprintf("to: 没有用户 %s No such account %s", to, to))
	}
	if err != nil {
		return err
	}
	if other.Disabled {
		return fieldError("to", fmt.Sprintf("to: 账户 %s 已停用 %s is disabled", to, to))
	}
	for _, r := range roles {
		if other.HasRole(r) {
			return nil
		}
	}
	return fieldError("to", fmt.Sprintf("to: %s 没有可代为办理的角色 %s holds none of the roles whose tasks are delegated", to, to))
}

type delegationList struct {
	Items []baocun.Delegation `json:"items"`
}

func handleDelegations(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ds, err := d.Store.Delegations(c.Request.Context(), currentUser(c).Username, time.Now())
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, delegationList{Items: ds})
	}
}

func handleRevokeDelegation(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := idParam(c, "id")
		if err != nil {
			Error(c, err)
			return
		}
		e := baseEntry(c, "delegation.revoke")
		e.Decision, e.Status, e.Resource = baocun.DecisionAllow, http.StatusNoContent, fmt.Sprintf("delegations/%d", id)
		c.Set(ctxAudited, true)
		if err := d.Store.RevokeDelegation(c.Request.Context(), id, currentUser(c).Username, e); err != nil {
			recordFailure(c, d, e, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// bulkKinds are the tasks decided in bulk: the route each is decided by alone, as
// the policy names it, and its step.
var bulkKinds = map[baocun.TaskKind]struct {
	object, action string
	step           baocun.StepKind
}{
	baocun.TaskApproveTeam:       {"team", "approve", baocun.StepDecideTeam},
	baocun.TaskApproveTeamChange: {"team", "approve", baocun.StepDecideTeam},
	baocun.TaskReviewPlan:        {"stage", "decide", baocun.StepDecideReview},
	baocun.TaskReviewReport:      {"stage", "decide", baocun.StepDecideReview},
}

// handleBulkDecisions decides many nominations, plans or reports with one comment:
// each item is authorised as its own route would be, taken as its own step with its
// own audit entry (and, under the request's Idempotency-Key, its own key), and
// answered item by item.
func handleBulkDecisions(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Before the body is read: the caller may decide something somewhere.
		if !heldAnywhere(c, d, "stage.decide", route2("stage", "decide"), route2("team", "approve")) {
			return
		}
		var in baocun.BulkDecisionInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		if len(in.Items) == 0 || len(in.Items) > baocun.MaxBulkItems {
			Error(c, fieldError("items", fmt.Sprintf("items: 须有 1–%d 项 1 to %d items", baocun.MaxBulkItems, baocun.MaxBulkItems)))
			return
		}
		if len(in.Comment) > 2000 {
			Error(c, fieldError("comment", "comment: 至多 2000 字节 at most 2000 bytes"))
			return
		}
		seen := map[string]bool{}
		for i, it := range in.Items {
			if it.TaskID == "" || len(it.TaskID) > 64 || seen[it.TaskID] {
				Error(c, fieldError(fmt.Sprintf("items[%d].task_id", i), fmt.Sprintf("items[%d].task_id: 必填且不重复 required, each task once", i)))
				return
			}
			seen[it.TaskID] = true
			if it.Outcome != baocun.OutcomeApprove && it.Outcome != baocun.OutcomeReturn {
				Error(c, fieldError(fmt.Sprintf("items[%d].outcome", i), fmt.Sprintf("items[%d].outcome: 须为 approve 或 return must be approve or return", i)))
				return
			}
		}
		key := c.GetHeader(idempotencyKey)
		if len(key) > 255 || strings.IndexFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			Error(c, fieldError(idempotencyKey, idempotencyKey+": 须为 1–255 个可见 ASCII 字符 must be 1 to 255 visible ASCII characters"))
			return
		}
		// Each item is a step of up to engineTimeout: the answer gets the time the
		// batch may take, and items not begun within bulkBudget (or after the caller
		// has gone) are answered 503, to be sent again.
		if err := http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(bulkBudget + engineTimeout + time.Minute)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			c.Error(err)
		}
		start := time.Now()
		out := baocun.BulkResult{Items: make([]baocun.BulkItemResult, 0, len(in.Items))}
		for _, it := range in.Items {
			if time.Since(start) > bulkBudget || c.Request.Context().Err() != nil {
				out.Items = append(out.Items, baocun.BulkItemResult{TaskID: it.TaskID, Status: http.StatusServiceUnavailable, Code: baocun.EUNAVAILABLE,
					Error: "未处理：本批用时已满，请重新提交此项 Not attempted: the batch ran out of time; send this item again."})
				continue
			}
			out.Items = append(out.Items, bulkDecide(c, d, it, in.Comment, key))
		}
		c.JSON(http.StatusOK, out)
	}
}

// bulkBudget is how long a bulk decision goes on beginning items.
const bulkBudget = 3 * time.Minute

// bulkDecide takes one item of a bulk decision as its own route would. Once begun,
// an item is finished even if the caller goes away.
func bulkDecide(c *gin.Context, d Deps, it baocun.BulkItem, comment, key string) baocun.BulkItemResult {
	ctx, u := context.WithoutCancel(c.Request.Context()), currentUser(c)
	r := baocun.BulkItemResult{TaskID: it.TaskID}
	fail := func(err error) baocun.BulkItemResult {
		code := baocun.ErrorCode(err)
		r.Status, r.Code, r.Error = statusOf[code], code, baocun.ErrorMessage(err)
		if r.Status == 0 {
			r.Status = http.StatusInternalServerError
		}
		return r
	}
	t, err := d.Store.Task(ctx, it.TaskID)
	if err == nil && t.PairingID != it.PairingID {
		err = &baocun.Error{Code: baocun.ENOTFOUND, Message: fmt.Sprintf("结对 %d 没有待办 %s Pairing %d has no task %s", it.PairingID, it.TaskID, it.PairingID, it.TaskID)}
	}
	if err != nil {
		return fail(err)
	}
	route, ok := bulkKinds[t.Kind]
	if !ok {
		return fail(baocun.Errorf(baocun.ECONFLICT, "待办 %s 是 %s，不能批量决定 Task %s is a %s task: not decided in bulk.", t.ID, t.Kind, t.ID, t.Kind))
	}
	p, err := d.Store.Pairing(ctx, t.PairingID)
	if err != nil {
		return fail(err)
	}
	res := pairingAsResource(p)
	e := baseEntry(c, route.object+"."+route.action)
	e.Resource, e.Jurisdiction, e.Department, e.Village = res.Name+"/bulk", res.Jurisdiction, res.Department, res.Village
	e.PairingID, e.CycleID = res.PairingID, res.CycleID
	refuse := func(rule string) baocun.BulkItemResult {
		e.Rule, e.Decision, e.Status = rule, baocun.DecisionDeny, http.StatusForbidden
		if err := d.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
			return fail(err)
		}
		return fail(&baocun.Error{Code: baocun.EFORBIDDEN, Message: "无权执行此操作 Not allowed: " + e.Action + " (" + rule + ")"})
	}
	dec, err := decide(ctx, d.Authorizer, route2(route.object, route.action), u, res)
	if err != nil {
		return fail(err)
	}
	e.Role = ruleRole(dec.Rule)
	if !dec.Allowed {
		return refuse(dec.Rule)
	}
	in := baocun.DecisionInput{TaskID: t.ID, Outcome: it.Outcome, Comment: comment}
	st := baocun.Step{Kind: route.step, Pairing: p.ID, Actor: u.Username, Person: u.PersonID, Decision: &in}
	if err := heldElsewhere(ctx, d, u, p.ID, st); err != nil {
		var no *denial
		if errors.As(err, &no) {
			return refuse(no.rule)
		}
		return fail(err)
	}
	e.Rule, e.Decision, e.Status, e.Summary = dec.Rule, baocun.DecisionAllow, http.StatusOK, summary(in)
	record := func(status int) {
		e.Status = status
		if err := d.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
			c.Error(err)
		}
	}
	if t.Kind == baocun.TaskApproveTeam || t.Kind == baocun.TaskApproveTeamChange {
		if err := approvableTeam(c, d.Store, p, it.Outcome); err != nil {
			r = fail(err)
			record(r.Status)
			return r
		}
	}
	st.Audit = *e
	if key != "" {
		sum := sha256.New()
		for _, part := range []string{u.Username, "bulk/decisions", key, strconv.FormatInt(p.ID, 10), t.ID, it.Outcome, comment} {
			sum.Write([]byte(part))
			sum.Write([]byte{0})
		}
		base := "step-" + hex.EncodeToString(sum.Sum(nil))
		st.Keys = []string{base}
		for n := 2; n <= maxAttempts; n++ {
			st.Keys = append(st.Keys, fmt.Sprintf("%s/%d", base, n))
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
	defer cancel()
	taken, err := d.Engine.Step(sctx, st)
	if err != nil {
		r = fail(err)
		if !errors.Is(err, baocun.ErrUnwritten) {
			record(r.Status) // nothing written: the refusal is recorded here
		}
		return r
	}
	if taken.Request != "" && taken.Request != e.RequestID {
		record(http.StatusOK) // a repeat under its key, answered from the first: this request wrote nothing
	}
	r.Status = http.StatusOK
	return r
}

// recordFailure answers a store's refusal on a route the gate does not record (a
// signed-in one), recording the request and how it ended.
func recordFailure(c *gin.Context, d Deps, e *baocun.AuditEntry, err error) {
	Error(c, err)
	e.Status = c.Writer.Status()
	if aerr := d.Audit.Append(context.WithoutCancel(c.Request.Context()), e); aerr != nil {
		c.Error(aerr)
	}
}

// heldAnywhere answers, before a bulk request's body is read, whether the caller
// holds one of the routes' permissions in some jurisdiction; if not, it refuses
// (403, audited as action) and reports false. Each item is authorised after.
func heldAnywhere(c *gin.Context, d Deps, action string, rts ...route) bool {
	u := currentUser(c)
	rule := "no role held"
	for _, rt := range rts {
		j, r, err := heldIn(c.Request.Context(), d.Authorizer, rt, u)
		if err != nil {
			Error(c, err)
			return false
		}
		if j != "" {
			return true
		}
		rule = r
	}
	e := baseEntry(c, action)
	e.Resource = strings.TrimPrefix(c.FullPath(), "/api/v1/")
	c.Set(ctxAudited, true)
	deny(c, d.Audit, e, action, "body not read: the permission is held in no jurisdiction ("+rule+")")
	return false
}

func route2(object, action string) route { return route{object: object, action: action} }

// handleBulkRemind reminds many tasks at once, each authorised as a reminder of its
// own: all or none.
func handleBulkRemind(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !heldAnywhere(c, d, "task.remind", route2("task", "remind")) { // before the body is read
			return
		}
		var in baocun.BulkRemindInput
		if err := decodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		if len(in.TaskIDs) == 0 || len(in.TaskIDs) > baocun.MaxBulkItems {
			Error(c, fieldError("task_ids", fmt.Sprintf("task_ids: 须有 1–%d 项 1 to %d tasks", baocun.MaxBulkItems, baocun.MaxBulkItems)))
			return
		}
		if len(in.Note) > 2000 {
			Error(c, fieldError("note", "note: 至多 2000 字节 at most 2000 bytes"))
			return
		}
		ctx, u := c.Request.Context(), currentUser(c)
		for i, id := range in.TaskIDs {
			field := fmt.Sprintf("task_ids[%d]", i)
			if id == "" || len(id) > 64 || slices.Index(in.TaskIDs, id) < i {
				Error(c, fieldError(field, field+": 须为待办编号 a task id"))
				return
			}
			t, err := d.Store.Task(ctx, id)
			if err != nil {
				if e, ok := err.(*baocun.Error); ok {
					e.Fields = map[string]string{field: id}
				}
				Error(c, err)
				return
			}
			res := Resource{Name: "tasks/" + id, Jurisdiction: baocun.CityJurisdiction, Department: t.Department, CycleID: fmt.Sprint(t.CycleID)}
			if t.PairingID != 0 {
				p, err := d.Store.Pairing(ctx, t.PairingID)
				if err != nil {
					Error(c, err)
					return
				}
				res = pairingAsResource(p)
				res.Name = "tasks/" + id
			}
			dec, err := decide(ctx, d.Authorizer, route2("task", "remind"), u, res)
			if err != nil {
				Error(c, err)
				return
			}
			if !dec.Allowed {
				e := baseEntry(c, "task.remind")
				e.Resource, e.Jurisdiction, e.Department, e.PairingID, e.CycleID = res.Name, res.Jurisdiction, res.Department, res.PairingID, res.CycleID
				deny(c, d.Audit, e, "task.remind", dec.Rule+" ("+field+")")
				return
			}
		}
		e := baseEntry(c, "task.remind")
		e.Resource, e.Decision, e.Status, e.Summary = "bulk/reminders", baocun.DecisionAllow, http.StatusOK, summary(in)
		if err := d.Store.NoteTask(ctx, in.TaskIDs, u.Username, "remind", map[string]string{"text": in.Note}, e); err != nil {
			recordFailure(c, d, e, err)
			return
		}
		c.JSON(http.StatusOK, baocun.BulkResult{Items: bulkOK(in.TaskIDs)})
	}
}

func bulkOK(ids []string) []baocun.BulkItemResult {
	out := make([]baocun.BulkItemResult, len(ids))
	for i, id := range ids {
		out[i] = baocun.BulkItemResult{TaskID: id, Status: http.StatusOK}
	}
	return out
}

type inspectionTeams struct {
	Items []baocun.InspectionTeam `json:"items"`
}

// handleInspectionTeams lists a cycle's inspection teams (?cycle=).
func handleInspectionTeams(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Query("cycle"), 10, 64)
		if err != nil || id < 1 {
			Error(c, fieldError("cycle", "cycle: 必填，须为一轮的编号 required: a cycle id"))
			return
		}
		ts, err := d.Store.InspectionTeams(c.Request.Context(), id)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, inspectionTeams{Items: ts})
	}
}

// handleCreateInspectionTeam forms a named team of raters: accounts that hold the
// reviewer role.
func handleCreateInspectionTeam(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.InspectionTeamInput
		if !readValid(c, &in) {
			return
		}
		for i, m := range in.Members {
			u, err := d.Store.User(c.Request.Context(), m)
			field := fmt.Sprintf("members[%d]", i)
			if baocun.ErrorCode(err) == baocun.ENOTFOUND {
				Error(c, fieldError(field, fmt.Sprintf("%s: 没有用户 %s No such account %s", field, m, m)))
				return
			}
			if err != nil {
				Error(c, err)
				return
			}
			if u.Disabled || !u.HasRole(baocun.RoleReviewer) {
				Error(c, fieldError(field, fmt.Sprintf("%s: %s 不是可用的评分人员（须有审核人员角色） %s is not a rater: an enabled account with the reviewer role", field, m, m)))
				return
			}
		}
		t, err := d.Store.CreateInspectionTeam(c.Request.Context(), in, currentUser(c).Username, auditEntry(c, http.StatusCreated, in))
		if err != nil {
			storeFailed(c, err)
			return
		}
		c.JSON(http.StatusCreated, t)
	}
}

type assignAnswer struct {
	Assigned int     `json:"assigned"`
	Left     []int64 `json:"left"` // pairings no team may score: every team has a rater of its department
}

// handleAssignPairings assigns named pairings to a team (POST
// /inspection-teams/:id/pairings), or spreads a cycle's unassigned pairings over its
// teams (POST /cycles/:id/inspection-assignments).
func handleAssignPairings(d Deps, balance bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var in baocun.AssignInput
		if c.Request.ContentLength != 0 {
			if err := decodeJSON(c, &in); err != nil {
				Error(c, err)
				return
			}
		}
		var cycle, team int64
		var err error
		if balance {
			cycle = loadedCycle(c).ID
			if len(in.PairingIDs) > 0 {
				Error(c, fieldError("pairing_ids", "pairing_ids: 均衡分配不指定结对 a balanced assignment names no pairings"))
				return
			}
		} else {
			if team, err = idParam(c, "id"); err == nil {
				cycle, err = d.Store.InspectionTeamCycle(c.Request.Context(), team)
			}
			if err == nil && (len(in.PairingIDs) == 0 || len(in.PairingIDs) > 5000) {
				err = fieldError("pairing_ids", "pairing_ids: 须有 1–5000 个结对 1 to 5000 pairings")
			}
			if err != nil {
				Error(c, err)
				return
			}
		}
		n, left, err := d.Store.AssignPairings(c.Request.Context(), cycle, team, in.PairingIDs, auditEntry(c, http.StatusOK, in))
		if err != nil {
			storeFailed(c, err)
			return
		}
		if left == nil {
			left = []int64{}
		}
		c.JSON(http.StatusOK, assignAnswer{Assigned: n, Left: left})
	}
}
