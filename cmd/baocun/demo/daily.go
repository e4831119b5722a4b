package demo

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"baocun"
	"baocun/apiclient"
)

// Running the programme day to day (issue 19), as the demo shows it: one reviewer
// approves the first period's reports of every pairing they may decide in one bulk
// request (POST /bulk/decisions), each its own step, answered item by item; and in
// the second period an organiser reassigns one pairing's review to a reviewer who,
// going away, delegates their tasks to another (POST /delegations), who approves it
// in their stead; back, the first reviewer revokes the delegation.

const (
	bulkPeriod = 1 // the period whose reports are approved in bulk
	awayPeriod = 2 // the period whose review is reassigned and delegated
)

// bulkScript is the bulk approval: who sends it, the pairings it is for, and how it
// went. Guarded by demo.mu.
type bulkScript struct {
	reviewer *apiclient.Client
	dept     string // the reviewer's department, whose pairings they may not decide
	expected int    // the pairings of other departments
	sent     bool
	items    int // items sent
	approved int // items approved (200)
}

// awayScript is the reassignment and delegation. Guarded by demo.mu.
type awayScript struct {
	pairing    *demoPairing
	from, to   *apiclient.Client // the reviewer going away, and their delegate
	task       string            // the review reassigned
	delegation int64
	done       bool // the delegate approved it
	revoked    bool
	failed     string // why it could not be played
}

// planDaily picks who plays the day-to-day events: the last reviewer sends the bulk
// approval; the first goes away and the second acts for them, on a pairing of
// neither's department whose second-period review no script touches.
func (d *demo) planDaily() {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.reviewers)
	if n < 3 {
		return
	}
	bulk := d.reviewers[n-1]
	d.bulk = bulkScript{reviewer: bulk, dept: d.reviewerDept[bulk.Username()]}
	for _, p := range d.pairings {
		if p.Department != d.bulk.dept {
			d.bulk.expected++
		}
	}
	from, to := d.reviewers[0], d.reviewers[1]
	d.away = awayScript{from: from, to: to}
	for i := len(d.pairings) - 1; i >= 0; i-- {
		p := d.pairings[i]
		touched := p.script == scriptReturnReport || p.script == scriptEscalate
		if !touched && p.Department != d.reviewerDept[from.Username()] && p.Department != d.reviewerDept[to.Username()] {
			d.away.pairing = p
			break
		}
	}
}

// dailyTask is a reviewer's part in the day-to-day events: it reports whether the
// task is one of theirs (left for the bulk approval or for the reassignment, left
// alone by the reviewer who is away, or approved by their delegate), and the error
// of acting on it.
func (d *demo) dailyTask(ctx context.Context, c *apiclient.Client, p *demoPairing, t baocun.Task) (bool, error) {
	if t.Kind != baocun.TaskReviewReport || p == nil {
		return false, nil
	}
	d.mu.Lock()
	bulkWaits := d.bulk.reviewer != nil && !d.bulk.sent && t.Period == bulkPeriod && p.Department != d.bulk.dept
	away := d.away
	d.mu.Unlock()
	if bulkWaits {
		return true, nil // the bulk approval takes it
	}
	if away.pairing != p || t.Period != awayPeriod || away.failed != "" {
		return false, nil
	}
	if away.task != t.ID || c != away.to || away.done {
		return true, nil // the organiser has yet to reassign it, or its holder is away
	}
	if !d.claim(t.ID) {
		return true, nil
	}
	res, err := c.DecideReview(ctx, p.ID, baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove,
		Comment: fmt.Sprintf("代 %s 审核：同意 approved for %s", away.from.Username(), away.from.Username())})
	if err != nil {
		return true, err
	}
	d.mu.Lock()
	p.stage = baocun.Stage(res.Stage)
	d.away.done = true
	d.mu.Unlock()
	d.out.say(d.today(), "代理办结 Done by the delegate: %s 代 %s 审核通过 approved for %s %s 第 %d 期汇报 period %d's report (待办 task %s)",
		c.Username(), away.from.Username(), away.from.Username(), d.where(p), t.Period, t.Period, t.ID)
	// Back at work: the reviewer who was away ends the delegation.
	if err := away.from.RevokeDelegation(ctx, away.delegation); err != nil {
		return true, fmt.Errorf("revoke delegation %d: %w", away.delegation, err)
	}
	d.mu.Lock()
	d.away.revoked = true
	d.mu.Unlock()
	d.out.say(d.today(), "撤销代理 Delegation revoked: %s 返岗，结束对 %s 的代理 is back and ends %s's delegation", away.from.Username(), away.to.Username(), away.to.Username())
	return true, nil
}

// organiserRound reassigns the second period's review of the chosen pairing to the
// reviewer about to go away, who then delegates their tasks to another reviewer
// until they are back.
func (d *demo) organiserRound(ctx context.Context) error {
	d.mu.Lock()
	away := d.away
	d.mu.Unlock()
	if away.pairing == nil || away.task != "" || away.failed != "" || d.periodAt(d.today()) < awayPeriod {
		return nil
	}
	p := away.pairing
	v, err := d.org.Pairing(ctx, p.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(v.Tasks, func(t baocun.Task) bool {
		return t.Kind == baocun.TaskReviewReport && t.Period == awayPeriod && t.Status == baocun.TaskOpen
	})
	if i < 0 {
		return nil
	}
	t := v.Tasks[i]
	reason := "该村产业项目由其跟踪，请其审核 they follow the village's industry projects"
	if _, err := d.org.Reassign(ctx, t.ID, baocun.ReassignInput{To: away.from.Username(), Reason: reason}); err != nil {
		if apiclient.StatusOf(err) == http.StatusConflict {
			d.mu.Lock()
			d.away.failed = err.Error()
			d.mu.Unlock()
			return nil
		}
		return fmt.Errorf("reassign %s: %w", t.ID, err)
	}
	d.out.say(d.today(), "改派 Reassigned: 组织者将 %s 第 %d 期汇报审核（待办 %s）改派给 %s the organiser gives the review of period %d's report (task %s) to %s —「%s」",
		d.where(p), t.Period, t.ID, away.from.Username(), t.Period, t.ID, away.from.Username(), reason)
	// Real time, not the programme's: a day of the programme passes in a second.
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	why := "外出参加培训 away on a training course"
	dl, err := away.from.Delegate(ctx, baocun.DelegationInput{To: away.to.Username(), Until: until, Reason: why})
	if err != nil {
		return fmt.Errorf("delegate: %w", err)
	}
	d.mu.Lock()
	d.away.task, d.away.delegation = t.ID, dl.ID
	d.mu.Unlock()
	d.out.say(d.today(), "外出代理 Delegation while away: %s 外出期间，指派给其的待办由 %s 代理 is away; the tasks assigned to them are %s's too until they are back —「%s」",
		away.from.Username(), away.to.Username(), away.to.Username(), why)
	return nil
}

// bulkRound is the bulk reviewer's: once the first period's reviews of every
// pairing they may decide are in their inbox (or the first has waited long enough),
// approve them all in one request and print each item's outcome.
func (d *demo) bulkRound(ctx context.Context) error {
	d.mu.Lock()
	b := d.bulk
	d.mu.Unlock()
	if b.reviewer == nil || b.sent {
		return nil
	}
	inbox, err := b.reviewer.Inbox(ctx)
	if err != nil {
		return err
	}
	var tasks []baocun.Task
	for _, t := range inbox {
		if p := d.pairing(t.PairingID); p != nil && t.Kind == baocun.TaskReviewReport && t.Period == bulkPeriod && p.Department != b.dept {
			tasks = append(tasks, t)
		}
	}
	if len(tasks) == 0 {
		if d.periodAt(d.today()) > bulkPeriod+1 { // nothing came: the summary says so
			d.mu.Lock()
			d.bulk.sent = true
			d.mu.Unlock()
		}
		return nil
	}
	// All of them, or as many as came before the first has used two thirds of its
	// window: the reports of a period come in over some days.
	first := slices.MinFunc(tasks, func(a, b baocun.Task) int { return a.DueAt.Compare(b.DueAt) })
	if len(tasks) < b.expected && time.Until(first.DueAt) > max(first.DueAt.Sub(first.OpenedAt)/3, 2*d.poll) {
		return nil
	}
	in := baocun.BulkDecisionInput{Comment: "第 1 期汇报均符合要求，同意 every period 1 report is in order: approved"}
	for _, t := range tasks {
		if d.claim(t.ID) {
			in.Items = append(in.Items, baocun.BulkItem{PairingID: t.PairingID, TaskID: t.ID, Outcome: baocun.OutcomeApprove})
		}
	}
	d.mu.Lock()
	d.bulk.sent = true // from now on the other reviewers take whatever is left
	d.mu.Unlock()
	if len(in.Items) == 0 {
		return nil
	}
	res, err := b.reviewer.BulkDecide(ctx, in)
	if err != nil {
		return fmt.Errorf("bulk decisions: %w", err)
	}
	approved := 0
	for _, it := range res.Items {
		if it.Status == http.StatusOK {
			approved++
		}
	}
	d.mu.Lock()
	d.bulk.items, d.bulk.approved = len(res.Items), approved
	d.mu.Unlock()
	d.out.say(d.today(), "批量审批 Bulk decisions: %s 一次提交第 %d 期 %d 份汇报审核 sends %d of period %d's report reviews at once (POST /api/v1/bulk/decisions)，每项单独办理、单独审计 each its own step and audit entry —「%s」:",
		b.reviewer.Username(), bulkPeriod, len(res.Items), len(res.Items), bulkPeriod, in.Comment)
	for _, it := range res.Items {
		t := tasks[slices.IndexFunc(tasks, func(t baocun.Task) bool { return t.ID == it.TaskID })]
		p := d.pairing(t.PairingID)
		outcome := "已通过 approved"
		if it.Status != http.StatusOK {
			outcome = fmt.Sprintf("未办理 not taken: %s", it.Error)
		} else {
			d.mu.Lock()
			p.stage = baocun.StageReviews
			d.mu.Unlock()
		}
		d.out.line("  待办 task %s %s: %d %s", it.TaskID, d.where(p), it.Status, outcome)
	}
	return nil
}

// dailyProblems are what the day-to-day events failed to show, for the summary.
func (d *demo) dailyProblems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	switch {
	case d.bulk.reviewer == nil:
	case d.bulk.items == 0:
		out = append(out, "没有批量审批 no bulk decision was sent")
	case d.bulk.approved != d.bulk.items:
		out = append(out, fmt.Sprintf("批量审批 %d 项中只有 %d 项通过 only %d of the bulk decision's %d items were approved", d.bulk.items, d.bulk.approved, d.bulk.approved, d.bulk.items))
	}
	switch {
	case d.away.pairing == nil:
	case d.away.failed != "":
		out = append(out, "改派未成 the reassignment failed: "+d.away.failed)
	case !d.away.done || !d.away.revoked:
		out = append(out, "代理人未办结被改派的审核或代理未撤销 the delegate did not approve the reassigned review, or the delegation was not revoked")
	}
	return out
}
