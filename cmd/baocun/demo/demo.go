// Package demo is `baocun demo`'s cast and script: a sample directory of
// departments, villages and people, an account for every role, and players that
// poll their inboxes and act on their tasks through the HTTP API (apiclient) until
// a compressed cycle has run its whole course; then the outcome and the audit
// verification. The command (cmd/baocun) starts the service it plays against; the
// end-to-end, fault, backup and side-door tests use its sample directory and its cast.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/apiclient"
	"baocun/sheet"
)

// Time the demo gives itself around the cycle.
const (
	maxCycleTime = 90 * time.Second // three programme years at most this long
	minCycleTime = 20 * time.Second // any faster and the players cannot keep up
	// afterCycle is kept for the last evaluations, the summary and the shutdown.
	afterCycle = 15 * time.Second
	// stopTime is kept for stopping the service.
	stopTime = 5 * time.Second
)

// Run plays a whole cycle against the service anon talks to, whose admin signs in
// with password (as every account the demo creates does), writing what happens to
// out; by deadline the cycle must have closed with nothing left open.
func Run(ctx context.Context, out io.Writer, sample *Sample, anon *apiclient.Client, password string, deadline time.Time) error {
	return newDemo(out, sample, anon, password).run(ctx, deadline)
}

// demo is one run: the directory, every player's signed-in client, the cycle's
// clock and what has happened so far.
type demo struct {
	out      *console
	sample   *Sample
	anon     *apiclient.Client
	password string // of every demo account

	admin, org, auditor *apiclient.Client
	reviewers           []*apiclient.Client
	reviewerDept        map[string]string            // a reviewer's username → their department
	leads               map[string]*apiclient.Client // department → its lead
	members             map[string]*apiclient.Client // person → their team_member account
	villages            map[string]*apiclient.Client // village → its account

	cycleID   int64
	clock     baocun.Clock
	periods   []baocun.Period
	end       time.Time     // programme time the cycle ends
	poll      time.Duration // how often each player looks at its inbox
	roundSpan time.Duration // the programme time one poll spans
	// reportLead is how long before its period ends a team reports: six weeks, or
	// more on a fast clock, so the report is reviewed before the period ends.
	reportLead time.Duration

	mu        sync.Mutex // guards what follows and every demoPairing's state
	pairings  []*demoPairing
	byID      map[int64]*demoPairing
	claimed   map[string]bool // tasks a player has taken on
	escalated map[string]bool // escalated tasks already shown
	evaluated map[int]yearEvaluations
	bulk      bulkScript // the first period's reports approved in bulk
	away      awayScript // a review reassigned, and delegated while its holder is away
}

// yearEvaluations are the villages evaluated in a year so far.
type yearEvaluations struct {
	villages     int
	satisfaction float64 // sum of the villager satisfaction rates
}

func newDemo(out io.Writer, sample *Sample, anon *apiclient.Client, password string) *demo {
	return &demo{out: &console{w: out}, sample: sample, anon: anon, password: password,
		leads: map[string]*apiclient.Client{}, members: map[string]*apiclient.Client{}, villages: map[string]*apiclient.Client{},
		byID: map[int64]*demoPairing{}, claimed: map[string]bool{}, escalated: map[string]bool{}, evaluated: map[int]yearEvaluations{}}
}

// run is the whole demo once the service is up.
func (d *demo) run(ctx context.Context, deadline time.Time) error {
	if err := d.setUp(ctx); err != nil {
		return err
	}
	cycleTime := min(maxCycleTime, time.Until(deadline)-afterCycle-stopTime)
	if cycleTime < minCycleTime {
		return fmt.Errorf("demo: only %s left for the cycle after start-up; give more --minutes", cycleTime.Round(time.Second))
	}
	if err := d.launch(ctx, cycleTime); err != nil {
		return err
	}
	playErr := d.play(ctx, deadline.Add(-stopTime))
	if ctx.Err() != nil {
		return context.Cause(ctx) // interrupted: the service is stopping too
	}
	// The outcome is printed whatever happened, with a little time of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(playErr, d.summary(sctx))
}

// setUp imports the sample directory and creates and signs in the cast.
func (d *demo) setUp(ctx context.Context) error {
	cast, err := SetUp(ctx, d.anon, d.sample, d.password, d.out.line)
	if err != nil {
		return err
	}
	d.admin, d.org, d.auditor = cast.Admin, cast.Org, cast.Auditor
	d.leads, d.members, d.villages = cast.Leads, cast.Members, cast.Villages
	d.reviewerDept = map[string]string{}
	for dept, c := range cast.Reviewers {
		d.reviewers = append(d.reviewers, c)
		d.reviewerDept[c.Username()] = dept
	}
	slices.SortFunc(d.reviewers, func(a, b *apiclient.Client) int { return strings.Compare(a.Username(), b.Username()) })
	return nil
}

// The demo's cycle: three years from next New Year's Day, quarterly reports.
const (
	demoYears        = 3
	demoPeriodMonths = 3
)

// launch starts a cycle whose three years take cycleTime, with windows long
// enough in real time for the players to keep up, and learns its clock.
func (d *demo) launch(ctx context.Context, cycleTime time.Duration) error {
	start := time.Date(time.Now().Year()+1, 1, 1, 0, 0, 0, 0, baocun.ChinaTime)
	scale := float64(start.AddDate(demoYears, 0, 0).Sub(start)) / float64(cycleTime)
	// days is a window of at least least programme days that lasts at least real.
	days := func(least int, real time.Duration) int {
		return max(least, int(math.Ceil(real.Seconds()*scale/86400)))
	}
	settings := baocun.CycleSettings{StartDate: start.Format(time.DateOnly), Years: demoYears, PeriodMonths: demoPeriodMonths,
		ClockScale: scale, MinTeamSize: 3, ResidencyDays: demoResidencyDays, LateDays: min(31, days(3, time.Second)),
		Windows: baocun.Windows{
			NominateDays: days(30, 3*time.Second), DecideDays: days(7, 1500*time.Millisecond), ArrivalDays: days(15, 2*time.Second),
			PlanDays: days(30, 2*time.Second), ReportDays: days(10, 1500*time.Millisecond), ReworkDays: days(7, 1500*time.Millisecond),
			EvaluationDays: days(30, 3*time.Second), RemindDays: 3,
			PublicityDays: days(7, 2*time.Second), AppealDays: days(10, 3*time.Second),
		}}
	var specs []baocun.PairingSpec
	for _, v := range d.sample.Villages[:d.sample.Paired] {
		specs = append(specs, baocun.PairingSpec{DepartmentCode: v.Department, VillageCode: v.Code, Kind: v.Kind})
	}
	name := fmt.Sprintf("%d—%d 年部门包村（演示） Department–village pairing %d–%d (demo)", start.Year(), start.Year()+demoYears-1, start.Year(), start.Year()+demoYears-1)
	id, err := d.org.Launch(ctx, apiclient.LaunchSpec{Name: name, Jurisdiction: baocun.CityJurisdiction, CycleSettings: settings, Pairings: specs})
	if err != nil {
		return fmt.Errorf("demo: launch: %w", err)
	}
	cy, err := d.org.Cycle(ctx, id)
	if err != nil {
		return fmt.Errorf("demo: launch: %w", err)
	}
	d.cycleID, d.clock = id, cy.Clock()
	if d.periods, err = baocun.Periods(d.clock.Start, demoYears, demoPeriodMonths); err != nil {
		return err
	}
	d.end = d.periods[len(d.periods)-1].End
	d.poll = min(max(d.clock.Wait(2*24*time.Hour), 150*time.Millisecond), 500*time.Millisecond)
	d.roundSpan = time.Duration(float64(d.poll) * scale)
	d.reportLead = max(45*24*time.Hour, time.Duration(float64(2*time.Second)*scale))
	listed, err := d.org.Pairings(ctx, id, nil)
	if err != nil {
		return fmt.Errorf("demo: launch: %w", err)
	}
	d.addPairings(listed)
	d.planDaily()
	d.out.line("启动新一轮 Cycle %d launched: %d 个结对 pairings, %s 至 %s, 每季度汇报 quarterly reports; 三年压缩为 three years in %s（时钟倍率 clock ×%.0f，一天约 a day ≈ %s）",
		id, len(listed), start.Format(time.DateOnly), d.end.AddDate(0, 0, -1).Format(time.DateOnly), cycleTime.Round(time.Second),
		scale, d.clock.Wait(24*time.Hour).Round(time.Millisecond))
	return nil
}

// today is the cycle's programme date now.
func (d *demo) today() time.Time { return d.clock.Now(time.Now()) }

// periodAt is the period programme time t falls in, len(periods)+1 after the last.
func (d *demo) periodAt(t time.Time) int {
	for _, p := range d.periods {
		if t.Before(p.End) {
			return p.Index
		}
	}
	return len(d.periods) + 1
}

// errFinished ends the players when the cycle is done.
var errFinished = errors.New("the demo cycle is finished")

// play runs every player until the cycle is closed with nothing left to do, or a
// player fails, or the deadline passes.
func (d *demo) play(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range d.players() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.act(ctx, stop, p); err != nil && ctx.Err() == nil {
				cancel(err)
			}
		}()
	}
	err := d.watch(ctx, deadline)
	if err != nil {
		cancel(err)
	}
	// Done: each player finishes what it is doing (a step the service has already
	// recorded may still be on its way back) and stops.
	close(stop)
	wg.Wait()
	return err
}

// act is one player's loop: look at the inbox, act on what is due, do what the
// player does unprompted, wait, again — until stop.
func (d *demo) act(ctx context.Context, stop <-chan struct{}, p *player) error {
	// Players start at different moments so their polls spread out.
	select {
	case <-ctx.Done():
		return nil
	case <-stop:
		return nil
	case <-time.After(time.Duration(mathrand.Int64N(int64(d.poll)))):
	}
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	for {
		if c := p.client(); c != nil {
			tasks, err := c.Inbox(ctx)
			if err != nil {
				return fmt.Errorf("%s: inbox: %w", p.name, err)
			}
			for _, t := range tasks {
				if t.EscalatedAt != nil {
					d.noteEscalation(t)
				}
				if err := p.task(ctx, c, t); apiclient.StatusOf(err) == http.StatusConflict {
					// Closed meanwhile — expired at its stage's end, or decided by
					// someone else: as a person would, move on; the summary counts
					// what expired.
					d.out.say(d.today(), "待办已不在 Task no longer open: %s %s (%s): %s", p.name, t.ID, t.Kind, err)
				} else if err != nil {
					return fmt.Errorf("%s: task %s (%s): %w", p.name, t.ID, t.Kind, err)
				}
			}
		}
		if p.round != nil {
			if err := p.round(ctx); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}

// watch prints the progress — at each period's start, and when the pairings move
// between stages — and reports when the cycle is done: its end has passed, it is
// closed and no task is open.
func (d *demo) watch(ctx context.Context, deadline time.Time) error {
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	shown, shownStages, shownAt := 0, "", time.Time{}
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
		cy, err := d.org.Cycle(ctx, d.cycleID)
		if err != nil {
			return err
		}
		stages := stageCounts(cy)
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: 到期本轮仍未结束或仍有待办 by the deadline the cycle had not closed with its commendation published and nothing open: %s", stages)
		}
		today := d.today()
		switch k := d.periodAt(today); {
		case k != shown && k <= len(d.periods):
			shown, shownStages, shownAt = k, stages, today
			d.out.say(today, "第 %d/%d 期开始 period %d of %d begins · %s", k, len(d.periods), k, len(d.periods), stages)
		case stages != shownStages && today.Sub(shownAt) >= 10*24*time.Hour:
			shownStages, shownAt = stages, today
			d.out.say(today, "进度 progress · %s", stages)
		}
		if today.Before(d.end) {
			continue
		}
		done, err := d.finished(ctx)
		if err != nil || done {
			return err
		}
	}
}

// finished reports whether the cycle is closed — every pairing's result final and
// the commendation list published — with no task open.
func (d *demo) finished(ctx context.Context) (bool, error) {
	cy, err := d.org.Cycle(ctx, d.cycleID)
	if err != nil || cy.Status != baocun.CycleClosed {
		return false, err
	}
	for _, p := range d.pairings {
		v, err := d.org.Pairing(ctx, p.ID)
		if err != nil {
			return false, err
		}
		for _, t := range v.Tasks {
			if t.Status == baocun.TaskOpen {
				return false, nil
			}
		}
	}
	return true, nil
}

// stageCounts renders a cycle's pairings by stage, in lifecycle order.
func stageCounts(cy *baocun.Cycle) string {
	var parts []string
	for _, s := range baocun.Stages {
		if n := cy.Stages[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", baocun.StageNames[s], n))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " · ")
}

// record is what the service recorded of the cycle: the notable events counted
// from every pairing's tasks and timeline.
type record struct {
	returnedTeams, reapprovedTeams     int
	returnedReports, reworksApproved   int
	teamChanges, visits                int
	escalated, escalatedDone           int
	flags, flagsAcknowledged, expected int
	evaluations                        map[int]int // year → villages evaluated
	expired, open                      int
	// The objective inputs acceptance will show, summed over the pairings.
	funds                     decimal.Decimal
	projects, reportsApproved int
	memberMonths, monthsShort int
	appeals, appealsDecided   int
}

// record reads every pairing's tasks and timeline (as the organiser).
func (d *demo) record(ctx context.Context) (record, error) {
	r := record{evaluations: map[int]int{}}
	for _, p := range d.pairings {
		v, err := d.org.Pairing(ctx, p.ID)
		if err != nil {
			return r, err
		}
		for _, t := range v.Tasks {
			switch {
			case t.Status == baocun.TaskExpired:
				r.expired++
			case t.Status == baocun.TaskOpen:
				r.open++
			}
			if t.EscalatedAt != nil {
				r.escalated++
				if t.Status == baocun.TaskDone {
					r.escalatedDone++
				}
			}
			switch t.Kind {
			case baocun.TaskResidencyFlag:
				r.flags++
				if t.Outcome == baocun.OutcomeAcknowledge {
					r.flagsAcknowledged++
				}
			case baocun.TaskEvaluation:
				if t.Status == baocun.TaskDone {
					r.evaluations[t.Period]++
				}
			}
		}
		o := v.Objective
		r.funds = r.funds.Add(o.FundsRaisedWan)
		r.projects += o.ProjectsTotal
		r.reportsApproved += o.ReportsApproved
		r.memberMonths += o.ResidencyMemberMonths
		r.monthsShort += o.ResidencyShort
		returnedTeam, returnedReport := false, map[int]bool{}
		for _, e := range v.Timeline {
			switch e.Kind {
			case "team.returned":
				r.returnedTeams++
				returnedTeam = true
			case "team.approved":
				if returnedTeam {
					r.reapprovedTeams++
				}
			case "report.returned":
				r.returnedReports++
				returnedReport[e.Period] = true
			case "report.approved":
				if returnedReport[e.Period] {
					r.reworksApproved++
				}
			case "team_change.approved":
				r.teamChanges++
			case "visit.recorded":
				r.visits++
			case "appeal.filed":
				r.appeals++
			case "appeal.decided":
				r.appealsDecided++
			}
		}
		d.mu.Lock()
		skip := p.skip
		d.mu.Unlock()
		for _, s := range flagged(v.Timeline, "") {
			if s.PersonID == skip.person && s.Month == skip.month {
				r.expected++
			}
		}
	}
	return r, nil
}

// summary prints how the cycle ended as the service recorded it, the acceptance
// results and the audit verification, and fails when anything the demo set out to
// show did not happen.
func (d *demo) summary(ctx context.Context) error {
	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	d.out.line("")
	d.out.line("== 结果 Outcome ==")
	cy, err := d.org.Cycle(ctx, d.cycleID)
	if err != nil {
		return fmt.Errorf("demo: summary: %w", err)
	}
	if n := cy.Stages[baocun.StageClosed]; n == cy.PairingsTotal && cy.Status == baocun.CycleClosed {
		d.out.line("全部 %d 个结对验收结果经公示已成定论，本轮已结束 All %d pairings' results are final after publicity; the cycle is closed.", n, n)
	} else {
		problem("只有 %d/%d 个结对结果已定，本轮状态 %s only %d of %d pairings' results are final; the cycle is %s", n, cy.PairingsTotal, cy.Status, n, cy.PairingsTotal, cy.Status)
	}
	d.out.line("各阶段 Stages: %s", stageCounts(cy))
	r, err := d.record(ctx)
	if err != nil {
		return fmt.Errorf("demo: summary: %w", err)
	}
	n := cy.PairingsTotal
	d.out.line("工作组提名退回 Team nominations returned: %d, 重新提名后获批 approved when nominated again: %d", r.returnedTeams, r.reapprovedTeams)
	d.out.line("汇报退回 Reports returned: %d, 修改后通过 approved after rework: %d", r.returnedReports, r.reworksApproved)
	d.out.line("工作组调整 Team changes approved: %d", r.teamChanges)
	d.out.line("逾期升级 Tasks escalated to the organisers: %d, 升级后办结 done after escalation: %d", r.escalated, r.escalatedDone)
	d.out.line("驻村不足提示 Residency flags: %d, 已知悉 acknowledged: %d; 预期的跳过一个月 the expected skipped month flagged: %d", r.flags, r.flagsAcknowledged, r.expected)
	d.out.line("领导走访 Leaders' visits: %d", r.visits)
	d.out.line("客观指标 Objective inputs: 通过汇报 approved reports %d, 筹集资金 funds raised %s 万元, 完成项目 projects completed %d, 驻村达标 residency met in %d of %d member-months",
		r.reportsApproved, r.funds.StringFixed(2), r.projects, r.memberMonths-r.monthsShort, r.memberMonths)
	var years []string
	for y := 1; y <= demoYears; y++ {
		years = append(years, fmt.Sprintf("第 %d 年 year %d: %d/%d", y, y, r.evaluations[y], n))
	}
	d.out.line("年度双评 Yearly evaluations: %s", strings.Join(years, ", "))
	for _, p := range d.dailyProblems() {
		problem("%s", p)
	}
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{r.returnedTeams > 0 && r.reapprovedTeams > 0, "没有退回后重新提名获批的工作组 no returned nomination was approved when nominated again"},
		{r.returnedReports > 0 && r.reworksApproved > 0, "没有退回后修改通过的汇报 no returned report was approved after rework"},
		{r.teamChanges > 0, "没有工作组调整 no team change was approved"},
		{r.escalatedDone > 0, "没有升级后办结的待办 no task was done after its escalation"},
		{r.expected > 0, "预期的驻村不足提示未出现 the expected residency flag did not appear"},
		{r.flagsAcknowledged == r.flags, "有驻村不足提示未知悉 a residency flag was not acknowledged"},
		{r.visits > 0, "没有领导走访 no leader's visit was recorded"},
		{r.evaluations[1] == n && r.evaluations[2] == n && r.evaluations[3] == n, "年度双评不全 the yearly evaluations are incomplete"},
		{r.expired == 0, fmt.Sprintf("%d 项待办过期未办 %d tasks expired undone", r.expired, r.expired)},
		{r.open == 0, fmt.Sprintf("%d 项待办仍未办 %d tasks are still open", r.open, r.open)},
		{r.appeals == 1 && r.appealsDecided == 1, fmt.Sprintf("申诉 %d 件、已裁决 %d 件，应各 1 件 %d appeals filed and %d decided, want one of each", r.appeals, r.appealsDecided, r.appeals, r.appealsDecided)},
	} {
		if !c.ok {
			problem("%s", c.what)
		}
	}

	d.out.line("公示申诉 Appeals: %d 件申诉 filed, %d 件已裁决 decided", r.appeals, r.appealsDecided)
	if err := d.printAcceptance(ctx, cy); err != nil {
		return fmt.Errorf("demo: results: %w", err)
	}
	if err := d.printCommendation(ctx, cy); err != nil {
		problem("表彰名单 commendation list: %v", err)
	}
	if err := d.printBulletin(ctx, cy); err != nil {
		problem("通报 bulletin: %v", err)
	}

	v, err := d.auditor.VerifyAudit(ctx)
	switch {
	case err != nil:
		problem("审计校验失败 audit verification failed: %v", err)
	case v.OK:
		d.out.line("审计校验通过 Audit verification: ok — %d 条记录 entries, %d 个签名检查点 signed checkpoints", v.Entries, v.Checkpoints)
	default:
		seq := int64(0)
		if v.FirstBadSeq != nil {
			seq = *v.FirstBadSeq
		}
		problem("审计校验未通过 audit verification: NOT ok at entry %d: %s", seq, v.Reason)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			d.out.line("问题 Problem: %s", p)
		}
		return fmt.Errorf("demo: %s", strings.Join(problems, "; "))
	}
	return nil
}

// printAcceptance prints the cycle's final results, ranked, and the departments.
func (d *demo) printAcceptance(ctx context.Context, cy *baocun.Cycle) error {
	res, err := d.org.Results(ctx, cy.ID)
	if err != nil {
		return err
	}
	d.out.line("验收结果 Acceptance results（五个好加权总分，经公示申诉后的最终结果 Five Goods weighted totals, final after publicity and appeal）:")
	for _, p := range res.Pairings {
		dp := d.pairing(p.PairingID)
		d.out.line("  %2d. %s  %s  %s", p.Rank, d.where(dp), p.Total.StringFixed(2), baocun.GradeNames[p.Grade])
	}
	d.out.line("部门排名 Departments ranked (前 %s 且均值优秀、无不合格者为先进单位 advanced: in the top %s, mean excellent, none failing):",
		res.AdvancedShare.Shift(2).String()+"%", res.AdvancedShare.Shift(2).String()+"%")
	for _, dr := range res.Departments {
		mark := ""
		if dr.Advanced {
			mark = "  ★ 先进单位 advanced department"
		}
		d.out.line("  %2d. %s  均分 mean %s（%d 个结对 pairings）%s", dr.Rank, d.sample.department(dr.Department).Name, dr.Mean.StringFixed(2), dr.Pairings, mark)
	}
	return nil
}

// printCommendation prints the published commendation list and checks its CSV and
// XLSX exports read back with the same rows.
func (d *demo) printCommendation(ctx context.Context, cy *baocun.Cycle) error {
	cm, err := d.org.Commendation(ctx, cy.ID)
	if err != nil {
		return err
	}
	if cm.Status != baocun.CommendationPublished {
		return fmt.Errorf("未公布 not published: %s", cm.Status)
	}
	d.out.line("表彰名单 Commendation list（%s 审批 approved by %s）:", cm.PublishedAt.In(baocun.ChinaTime).Format(time.DateTime), cm.ApprovedBy)
	advanced, cadres := 0, 0
	for _, dr := range cm.Departments {
		if dr.Advanced {
			advanced++
			d.out.line("  先进单位 Advanced department: %s（均分 mean %s）", dr.Name, dr.Mean.StringFixed(2))
		}
	}
	if advanced == 0 {
		d.out.line("  先进单位 Advanced departments: 无 none met the bar (top %s%%, mean excellent, no failing pairing)", cm.AdvancedShare.Shift(2))
	}
	for _, c := range cm.Cadres {
		if c.Status == baocun.CadreApproved {
			cadres++
			d.out.line("  优秀包村干部 Excellent cadre: %s（%s）— %s", c.Name, d.sample.department(c.Department).Name, c.Reason)
		}
	}
	if cadres == 0 {
		return errors.New("没有优秀包村干部 no excellent cadre was commended")
	}
	csvFile, err := d.org.CommendationFile(ctx, cy.ID, "csv")
	if err != nil {
		return err
	}
	xlsxFile, err := d.org.CommendationFile(ctx, cy.ID, "xlsx")
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"CSV": csvFile, "XLSX": xlsxFile} {
		t, err := sheet.Read(data, "")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(t.Rows) != advanced+cadres {
			return fmt.Errorf("%s: %d rows, want %d", name, len(t.Rows), advanced+cadres)
		}
	}
	d.out.line("  导出 Exports: GET /api/v1/cycles/%d/commendations?format=csv (%d 字节 bytes), ?format=xlsx (%d 字节 bytes): %d 行 rows each", cy.ID, len(csvFile), len(xlsxFile), advanced+cadres)
	return d.checkPublicity(ctx, cy, cm)
}

// checkPublicity reads the publicity (公示) as a department lead, a village and,
// through serve --public-publicity, anyone: each sees every result and every
// commended cadre by name, and the public page shows them.
func (d *demo) checkPublicity(ctx context.Context, cy *baocun.Cycle, cm *baocun.Commendation) error {
	var named []string
	for _, c := range cm.Cadres {
		if c.Status == baocun.CadreApproved {
			named = append(named, c.Name)
		}
	}
	first := d.sample.Villages[0]
	for who, c := range map[string]*apiclient.Client{"部门负责人 a department lead": d.leads[first.Department], "村委 a village": d.villages[first.Code]} {
		p, err := c.Publicity(ctx, cy.ID)
		if err != nil {
			return fmt.Errorf("公示 publicity read by %s: %w", who, err)
		}
		if len(p.Pairings) != len(cm.Pairings) || len(p.Commended) != len(named) {
			return fmt.Errorf("公示 publicity read by %s: %d results and %d commended, want %d and %d", who, len(p.Pairings), len(p.Commended), len(cm.Pairings), len(named))
		}
	}
	page, err := d.anon.Download(ctx, fmt.Sprintf("publicity/%d", cy.ID))
	if err != nil {
		return fmt.Errorf("公示页 the public page: %w", err)
	}
	for _, n := range append(named, first.Name) {
		if !strings.Contains(string(page), n) {
			return fmt.Errorf("公示页 the public page does not show %s", n)
		}
	}
	d.out.line("公示 Publicity: %d 个结果、%d 名表彰干部，部门负责人、村委与公众均可查看 %d results and %d commended cadres, read by a department lead, a village and the public at /publicity/%d",
		len(cm.Pairings), len(named), len(cm.Pairings), len(named), cy.ID)
	return nil
}

// printBulletin publishes the quarter's bulletin (通报) from the cycle's
// figures — the ledger's funds and projects, residency, coverage — reads it back
// intact and prints its headline figures and hash.
func (d *demo) printBulletin(ctx context.Context, cy *baocun.Cycle) error {
	today := d.today()
	period := fmt.Sprintf("%d-Q%d", today.Year(), (int(today.Month())-1)/3+1)
	s, err := d.org.PublishBulletin(ctx, cy.ID, period)
	if err != nil {
		return err
	}
	b, err := d.auditor.Bulletin(ctx, cy.ID, s.ID)
	if err != nil {
		return err
	}
	if !b.Intact || b.SHA256 != s.SHA256 {
		return fmt.Errorf("bulletin %d reads back changed", s.ID)
	}
	t := b.Bulletin.Totals
	d.out.line("通报 Bulletin %s: 驻村达标率 residency compliance %s%%, 台账资金 ledger funds %s 万元, 完工项目 projects completed %d, 二三类村已结对 class 2/3 villages paired %d — SHA-256 %s…",
		period, formatPercent(t.ResidencyCompliance), t.FundsWan, t.ProjectsCompleted, t.Class23Paired, s.SHA256[:16])
	return nil
}

func formatPercent(d *decimal.Decimal) string {
	if d == nil {
		return "—"
	}
	return d.String()
}

// console prints the demo's progress, one line at a time, from every player.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

// line prints one line.
func (c *console) line(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format+"\n", args...)
}

// say prints one line of the cycle, dated with the programme date it happened on.
func (c *console) say(day time.Time, format string, args ...any) {
	c.line("[%s] "+format, append([]any{day.Format(time.DateOnly)}, args...)...)
}
