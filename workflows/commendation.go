package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
)

// Update and query names of a cycle's commendation (表彰), run by the Cycle workflow
// once every pairing has closed.
const (
	UpdatePropose     = "propose_cadres"
	UpdateApprove     = "approve_commendation"
	QueryCommendation = "commendation"
)

// CycleStep is the argument of the commendation's Updates.
type CycleStep struct {
	Actor      string               `json:"actor"`
	Audit      baocun.AuditEntry    `json:"audit"`
	Department string               `json:"department_code,omitempty"` // propose: whose cadres
	Propose    *baocun.ProposeInput `json:"propose,omitempty"`
	Approve    *baocun.ApproveInput `json:"approve,omitempty"`
}

// CommendationState is where a cycle's commendation stands.
type CommendationState struct {
	Status string        `json:"status"`
	Tasks  []baocun.Task `json:"tasks"` // open
	// Proposed are the cadres proposed so far, by person.
	Proposed map[string]string `json:"proposed,omitempty"` // person → department
	Seq      int               `json:"seq"`
}

type commendRun struct {
	in   CycleInput
	s    *CommendationState
	busy map[string]bool // tasks whose step is being written
	// watchers remind of open tasks and escalate an overdue approval.
	watchers *watchers
	// opening is set while the workflow writes tasks it opens: they are in inboxes
	// a moment before the write returns, so they are in the state already (for the
	// validators), and handlers wait for the write.
	opening bool
}

// openTasks writes ch, whose tasks are the state's from the start.
func (c *commendRun) openTasks(ctx workflow.Context, ch baocun.Change, status string) error {
	c.s.Tasks, c.s.Status, c.opening = ch.Open, status, true
	defer func() { c.opening = false }()
	return applyChange(ctx, ch)
}

// Commendation runs a cycle's commendation, as the last part of the Cycle workflow
// (a function it calls, so its history is the cycle's; registered on its own for
// tests): each department with cadres who may be
// proposed gets a task to propose them; when every proposal is in, or their window
// has passed, an organiser approves the list, and it is published. Rankings and the
// advanced departments come from the stored final results as the list is published.
func Commendation(ctx workflow.Context, in CycleInput) error {
	c := newCommendRun(in)
	if err := c.register(ctx); err != nil {
		return err
	}
	return c.run(ctx)
}

// newCommendRun is a commendation not begun: its steps are refused until it is.
func newCommendRun(in CycleInput) *commendRun {
	return &commendRun{in: in, s: &CommendationState{Status: baocun.CommendationPending, Proposed: map[string]string{}},
		busy: map[string]bool{}, watchers: newWatchers(applyChange)}
}

func (c *commendRun) run(ctx workflow.Context) error {
	in := c.in
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	var plan activities.CommendationPlan
	if err := workflow.ExecuteActivity(actx, (*activities.Activities).PlanCommendation, in.CycleID).Get(ctx, &plan); err != nil {
		return err
	}
	real := workflow.Now(ctx)
	prog := in.Clock.Now(real)
	due := prog.AddDate(0, 0, in.Settings.Windows.DecideDays)
	ch := baocun.Change{At: real, Key: fmt.Sprintf("cycle-%d/commendation/open", in.CycleID),
		Commendation: &baocun.CommendationChange{CycleID: in.CycleID, Status: baocun.CommendationProposing},
		Audit:        []baocun.AuditEntry{c.audit("commendation.open", fmt.Sprintf(`{"departments":%d}`, len(plan.Eligible)))}}
	for _, e := range plan.Eligible {
		ch.Open = append(ch.Open, c.task(baocun.TaskProposeCadres, e.Department, e.County,
			fmt.Sprintf("推荐优秀包村干部（%d 人符合条件） propose excellent cadres: %d eligible", e.Count, e.Count), real, due))
	}
	if err := c.openTasks(ctx, ch, baocun.CommendationProposing); err != nil {
		return err
	}
	for _, t := range c.s.Tasks {
		c.watch(ctx, t) // a proposal is reminded of; at its due date it expires
	}
	// Proposals until every one is in or their window passes; those not in expire.
	if len(c.s.Tasks) > 0 {
		if _, err := workflow.AwaitWithTimeout(ctx, in.Clock.Real(due).Sub(workflow.Now(ctx)), func() bool { return len(c.s.Tasks) == 0 }); err != nil {
			return err
		}
	}
	if err := workflow.Await(ctx, func() bool { return len(c.busy) == 0 }); err != nil {
		return err
	}
	real = workflow.Now(ctx)
	prog = in.Clock.Now(real)
	approve := c.task(baocun.TaskApproveCommend, "", plan.Jurisdiction, "审批表彰名单 approve the commendation list", real, prog.AddDate(0, 0, in.Settings.Windows.DecideDays))
	ch = baocun.Change{At: real, Key: fmt.Sprintf("cycle-%d/commendation/approving", in.CycleID), Open: []baocun.Task{approve},
		Commendation: &baocun.CommendationChange{CycleID: in.CycleID, Status: baocun.CommendationApproving},
		Audit:        []baocun.AuditEntry{c.audit("commendation.approving", fmt.Sprintf(`{"proposed":%d,"expired":%d}`, len(c.s.Proposed), len(c.s.Tasks)))}}
	for _, t := range c.s.Tasks {
		ch.Close = append(ch.Close, baocun.TaskClose{ID: t.ID, Status: baocun.TaskExpired, By: "system", IfOpen: true})
	}
	c.watchers.stopAll()
	if err := c.openTasks(ctx, ch, baocun.CommendationApproving); err != nil {
		return err
	}
	c.watch(ctx, approve)
	if err := workflow.Await(ctx, func() bool { return c.s.Status == baocun.CommendationPublished }); err != nil {
		return err
	}
	c.watchers.stopAll()
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && c.watchers.idle() })
}

// watch records a reminder remind_days before a task is due and, for the approval
// (a proposal expires instead), an escalation once it is overdue; neither once the
// task has closed.
func (c *commendRun) watch(ctx workflow.Context, t baocun.Task) {
	c.watchers.watch(ctx, t, t.Kind == baocun.TaskApproveCommend,
		func() bool { return slices.ContainsFunc(c.s.Tasks, func(o baocun.Task) bool { return o.ID == t.ID }) },
		func(ctx workflow.Context, w watchStep) baocun.Change {
			return baocun.Change{At: workflow.Now(ctx), Audit: []baocun.AuditEntry{c.audit(w.action, watchSummary(t, ""))}}
		}, nil)
}

// task is a commendation task, of the cycle rather than a pairing.
func (c *commendRun) task(kind baocun.TaskKind, dept, jurisdiction, subject string, real, due time.Time) baocun.Task {
	c.s.Seq++
	return timedTask(baocun.Task{ID: fmt.Sprintf("c%d-%d", c.in.CycleID, c.s.Seq), Kind: kind, CycleID: c.in.CycleID,
		Jurisdiction: jurisdiction, Department: dept, Subject: subject}, c.in.Clock, c.in.Settings.Windows.RemindDays, real, due)
}

func (c *commendRun) audit(action, summary string) baocun.AuditEntry {
	return baocun.AuditEntry{Actor: "system", Action: action, Resource: fmt.Sprintf("cycles/%d/commendations", c.in.CycleID),
		CycleID: fmt.Sprint(c.in.CycleID), Summary: summary}
}

func (st CycleStep) request() string { return st.Audit.RequestID }

func (c *commendRun) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryCommendation, func() (CommendationState, error) { return *c.s, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdatePropose, Answered(c.propose, CycleStep.request),
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, st CycleStep) error { return c.validatePropose(st) }}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove, Answered(c.approve, CycleStep.request),
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, st CycleStep) error { return c.validateApprove(st) }})
}

// open is the open task of kind (and department, for a proposal).
func (c *commendRun) open(kind baocun.TaskKind, dept string) *baocun.Task {
	for i, t := range c.s.Tasks {
		if t.Kind == kind && (dept == "" || t.Department == dept) {
			return &c.s.Tasks[i]
		}
	}
	return nil
}

func (c *commendRun) validatePropose(st CycleStep) error {
	if st.Propose == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "propose: 必填 required"))
	}
	if err := st.Propose.Validate(); err != nil {
		return invalid(err)
	}
	t := c.open(baocun.TaskProposeCadres, st.Department)
	if c.s.Status == baocun.CommendationPending {
		return errNotBegun
	}
	if c.s.Status != baocun.CommendationProposing || t == nil {
		return conflict("%s 没有待推荐的优秀干部（已推荐、已过期或无人符合条件） Department %s has no proposal open: made already, expired, or nobody eligible.", st.Department, st.Department)
	}
	if c.busy[t.ID] {
		return conflict("%s 的推荐正在提交 Department %s's proposal is being written now.", st.Department, st.Department)
	}
	return nil
}

// propose records a department's proposal; the store checks each person may be
// proposed, and refuses the whole proposal otherwise.
func (c *commendRun) propose(ctx workflow.Context, st CycleStep) (StepResult, error) {
	if err := c.validatePropose(st); err != nil {
		return StepResult{}, err
	}
	id := c.open(baocun.TaskProposeCadres, st.Department).ID
	c.busy[id] = true
	defer delete(c.busy, id)
	if err := workflow.Await(ctx, func() bool { return !c.opening }); err != nil {
		return StepResult{}, err
	}
	real := workflow.Now(ctx)
	cc := &baocun.CommendationChange{CycleID: c.in.CycleID, Status: baocun.CommendationProposing}
	for _, p := range st.Propose.Cadres {
		cc.Cadres = append(cc.Cadres, baocun.Cadre{PersonID: p.PersonID, Department: st.Department, Reason: p.Reason, ProposedBy: st.Actor})
	}
	ch := baocun.Change{At: real, Commendation: cc,
		Close: []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, Outcome: baocun.OutcomeSubmitted, By: st.Actor}}}
	if st.Audit.Action != "" {
		a := st.Audit
		a.At = real
		ch.Audit = append(ch.Audit, a)
	}
	if err := applyChange(ctx, ch); err != nil {
		return StepResult{}, err
	}
	for _, p := range st.Propose.Cadres {
		c.s.Proposed[p.PersonID] = st.Department
	}
	c.s.Tasks = slices.DeleteFunc(c.s.Tasks, func(t baocun.Task) bool { return t.ID == id })
	c.watchers.stop(id)
	return StepResult{Stage: c.s.Status, Closed: []string{id}}, nil
}

func (c *commendRun) validateApprove(st CycleStep) error {
	a := st.Approve
	if a == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "approve: 必填 required"))
	}
	if err := a.Validate(); err != nil {
		return invalid(err)
	}
	t := c.open(baocun.TaskApproveCommend, "")
	if c.s.Status == baocun.CommendationPending {
		return errNotBegun
	}
	if c.s.Status != baocun.CommendationApproving || t == nil || t.ID != a.TaskID || c.busy[t.ID] {
		return conflict("待办 %s 不在待办中 Task %s is not open: the list is not awaiting approval, or it was approved already.", a.TaskID, a.TaskID)
	}
	for i, p := range a.Exclude {
		if _, ok := c.s.Proposed[p]; !ok {
			return invalid(&baocun.Error{Code: baocun.EINVALID, Message: p + " 未被推荐 was not proposed.",
				Fields: map[string]string{fmt.Sprintf("exclude[%d]", i): "须为已推荐的人员 must be a proposed cadre"}})
		}
	}
	return nil
}

// approve publishes the list and closes the cycle.
func (c *commendRun) approve(ctx workflow.Context, st CycleStep) (StepResult, error) {
	if err := c.validateApprove(st); err != nil {
		return StepResult{}, err
	}
	a := st.Approve
	c.busy[a.TaskID] = true
	defer delete(c.busy, a.TaskID)
	if err := workflow.Await(ctx, func() bool { return !c.opening }); err != nil {
		return StepResult{}, err
	}
	real := workflow.Now(ctx)
	ch := baocun.Change{At: real, Key: fmt.Sprintf("cycle-%d/commendation/published", c.in.CycleID),
		Close:        []baocun.TaskClose{{ID: a.TaskID, Status: baocun.TaskDone, Outcome: baocun.OutcomeApprove, By: st.Actor}},
		Commendation: &baocun.CommendationChange{CycleID: c.in.CycleID, Status: baocun.CommendationPublished, Exclude: a.Exclude, ApprovedBy: st.Actor},
		Cycle:        &baocun.CycleStatus{ID: c.in.CycleID, Status: baocun.CycleClosed}}
	if st.Audit.Action != "" {
		au := st.Audit
		au.At = real
		ch.Audit = append(ch.Audit, au)
	}
	ch.Audit = append(ch.Audit, c.audit("commendation.publish", fmt.Sprintf(`{"approved_by":%q,"excluded":%d}`, st.Actor, len(a.Exclude))))
	if err := applyChange(ctx, ch); err != nil {
		return StepResult{}, err
	}
	c.s.Tasks, c.s.Status = nil, baocun.CommendationPublished
	return StepResult{Stage: c.s.Status, Closed: []string{a.TaskID}}, nil
}

// errNotBegun refuses a commendation step while the cycle's pairings still run.
var errNotBegun = conflict("表彰尚未开始：本轮仍有结对未结束 The commendation has not begun: the cycle's pairings are still running.")
