package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/apiclient"
	"baocun/workflows"
)

// The players of the demo. Each polls its inbox and acts on its tasks the way a
// person in that role would; a few pairings carry a scripted event so the demo shows
// the lifecycle's other paths: a return, a rework, a team change, an escalation, a
// residency flag.

// player is one role played in the demo.
type player struct {
	name string
	// inbox is whose inbox the player works through: nil for a player without one,
	// or returning nil while nobody plays the role (a team before its approval).
	inbox func() *apiclient.Client
	// task acts on one task of the inbox, or leaves it for later.
	task func(ctx context.Context, c *apiclient.Client, t baocun.Task) error
	// round is what the player does unprompted, once a round; may be nil.
	round func(ctx context.Context) error
}

// client is whose inbox the player works through now, nil for none.
func (p *player) client() *apiclient.Client {
	if p.inbox == nil {
		return nil
	}
	return p.inbox()
}

// scripted is the notable event the demo plays on a pairing.
type scripted int

const (
	scriptNone         scripted = iota
	scriptReturnTeam            // the organiser returns the first team nomination
	scriptReturnReport          // the reviewer returns a report once (period 2 or later)
	scriptChangeTeam            // in year 2 the department replaces a member
	scriptEscalate              // a report's review (period 3 or later) is left until escalated
	scriptSkipMonth             // a member skips a whole month of residency
)

// demoPairing is what the players know of one pairing. Its fields after script
// are guarded by demo.mu.
type demoPairing struct {
	baocun.Pairing
	village SampleVillage
	staff   []string // the three people the department sends
	spare   string   // who joins in the team change
	script  scripted

	stage     baocun.Stage    // as the last step left it
	team      []baocun.Member // the approved team, as the service has it
	nominated int             // nominations sent
	// residents are the members living in the village, each with the first day
	// they check in for (arrival, or joining).
	residents map[string]string
	checkins  map[string]int                 // "person YYYY-MM" → days checked in
	posted    map[string]bool                // "person YYYY-MM-DD" → checked in
	late      int                            // late check-ins sent for the leader to confirm
	leave     int64                          // the scripted leave request, waiting for the lead
	field     bool                           // the first pairing's leave and evidence asked for
	skip      struct{ person, month string } // scriptSkipMonth: who skips which month
	returned  map[int]bool                   // periods whose report was returned
	scriptRun bool                           // the scripted event has been played
	appealed  bool                           // scriptEscalate's department appealed its result
}

// addPairings records the launched pairings and gives each its team and script.
func (d *demo) addPairings(listed []baocun.Pairing) {
	d.mu.Lock()
	defer d.mu.Unlock()
	villages := map[string]SampleVillage{}
	for _, v := range d.sample.Villages {
		villages[v.Code] = v
	}
	next := map[string]int{} // department → pairings given a team so far
	order := []scripted{scriptReturnTeam, scriptReturnReport, scriptChangeTeam, scriptEscalate, scriptSkipMonth}
	for i, lp := range listed {
		staff := d.sample.Staff[lp.Department]
		j := next[lp.Department]
		next[lp.Department]++
		p := &demoPairing{Pairing: lp, village: villages[lp.Village], staff: staff[3*j : 3*j+3], spare: staff[len(staff)-1],
			residents: map[string]string{}, checkins: map[string]int{}, posted: map[string]bool{}, returned: map[int]bool{}, stage: lp.Stage}
		if i < len(order) {
			p.script = order[i]
		}
		d.pairings = append(d.pairings, p)
		d.byID[p.ID] = p
	}
}

// pairing is the demo's record of a pairing. byID does not change after the launch.
func (d *demo) pairing(id int64) *demoPairing { return d.byID[id] }

// where names a pairing for people: county, village, department.
func (d *demo) where(p *demoPairing) string {
	return fmt.Sprintf("%s%s（%s）", p.village.County, p.village.Name, d.sample.department(p.Department).Name)
}

// claim takes a task on; false when another player already has.
func (d *demo) claim(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.claimed[id] {
		return false
	}
	d.claimed[id] = true
	return true
}

// players is every role of the demo.
func (d *demo) players() []*player {
	fixed := func(c *apiclient.Client) func() *apiclient.Client { return func() *apiclient.Client { return c } }
	ps := []*player{{name: "组织者 organiser", inbox: fixed(d.org), task: d.organiserTask, round: d.organiserRound}}
	for _, r := range d.reviewers {
		rp := &player{name: "审核人 reviewer " + r.Username(), inbox: fixed(r), task: d.reviewerTask}
		if r == d.bulk.reviewer {
			rp.round = d.bulkRound
		}
		ps = append(ps, rp)
	}
	for _, dp := range d.sample.Departments {
		ps = append(ps, &player{name: "部门负责人 lead of " + dp.Code, inbox: fixed(d.leads[dp.Code]), task: d.leadTask, round: d.leadRound(dp.Code)})
	}
	for _, p := range d.pairings {
		ps = append(ps, &player{name: fmt.Sprintf("工作组 team of pairing %d", p.ID), inbox: d.leaderOf(p), task: d.teamTask})
	}
	for person := range d.members {
		ps = append(ps, &player{name: "驻村干部 resident " + person, round: d.checkIns(person)})
	}
	for _, v := range d.sample.Villages[:d.sample.Paired] {
		ps = append(ps, &player{name: "村 village " + v.Code, inbox: fixed(d.villages[v.Code]), task: d.villageTask})
	}
	return ps
}

// noteEscalation prints an escalated task once, whoever sees it first.
func (d *demo) noteEscalation(t baocun.Task) {
	d.mu.Lock()
	seen := d.escalated[t.ID]
	d.escalated[t.ID] = true
	d.mu.Unlock()
	if p := d.pairing(t.PairingID); !seen && p != nil {
		d.out.say(d.today(), "逾期升级 Escalated to the organisers: 待办 task %s「%s」 of %s, 到期 due %s", t.ID, t.Subject, d.where(p), t.DueDate)
	}
}

// syncTeam reads the pairing's team back from the service after an approval.
func (d *demo) syncTeam(ctx context.Context, p *demoPairing) error {
	v, err := d.org.Pairing(ctx, p.ID)
	if err != nil {
		return err
	}
	d.mu.Lock()
	p.team = v.Team
	d.mu.Unlock()
	return nil
}

// organiserTask approves team nominations and team changes; the scripted pairing's
// first nomination is returned.
func (d *demo) organiserTask(ctx context.Context, c *apiclient.Client, t baocun.Task) error {
	if t.Role != baocun.RoleOrganiser || !d.claim(t.ID) {
		return nil // another role's task, shown here because it is escalated
	}
	if t.Kind == baocun.TaskApproveCommend {
		cm, err := c.Commendation(ctx, d.cycleID)
		if err != nil {
			return err
		}
		if _, err := c.ApproveCommendation(ctx, d.cycleID, baocun.ApproveInput{TaskID: t.ID, Comment: "同意公布 approved for publication"}); err != nil {
			return err
		}
		d.out.say(d.today(), "表彰名单审批通过并公布 Commendation list approved and published: %d 名优秀包村干部 excellent cadres proposed", len(cm.Cadres))
		return nil
	}
	p := d.pairing(t.PairingID)
	d.mu.Lock()
	scripted := t.Kind == baocun.TaskApproveTeam && p.script == scriptReturnTeam
	returnIt, renominated := scripted && !p.scriptRun, scripted && p.scriptRun
	p.scriptRun = p.scriptRun || returnIt
	d.mu.Unlock()
	switch t.Kind {
	case baocun.TaskApproveTeam:
		if returnIt {
			comment := "组长人选缺少农村工作经历，请另行提名 the nominated leader lacks rural experience; nominate another"
			if _, err := c.DecideTeam(ctx, p.ID, baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeReturn, Comment: comment}); err != nil {
				return err
			}
			d.out.say(d.today(), "退回工作组提名 Team nomination returned: %s —「%s」", d.where(p), comment)
			return nil
		}
		res, err := c.DecideTeam(ctx, p.ID, baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove})
		if err != nil {
			return err
		}
		if err := d.syncTeam(ctx, p); err != nil {
			return err
		}
		d.mu.Lock()
		p.stage = baocun.Stage(res.Stage)
		leader := p.leader()
		d.mu.Unlock()
		if renominated {
			d.out.say(d.today(), "重新提名后获批 Team approved when nominated again: %s, 组长 leader %s", d.where(p), d.sample.name(leader))
		}
	case baocun.TaskConfirm:
		// The village moves up a class when the pairing did well.
		v, err := c.Pairing(ctx, p.ID)
		if err != nil {
			return err
		}
		class := v.BaselineClass
		if strings.Contains(t.Subject, baocun.GradeNames[baocun.GradeExcellent]) || strings.Contains(t.Subject, baocun.GradeNames[baocun.GradeGood]) {
			class = max(1, class-1)
		}
		if _, err := c.ConfirmAcceptance(ctx, p.ID, baocun.ConfirmInput{TaskID: t.ID, NewClass: class}); err != nil {
			return err
		}
	case baocun.TaskApproveTeamChange:
		if _, err := c.DecideTeam(ctx, p.ID, baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove}); err != nil {
			return err
		}
		if err := d.syncTeam(ctx, p); err != nil {
			return err
		}
		today := d.today()
		d.mu.Lock()
		p.residents[p.spare] = today.Format(time.DateOnly) // the new member moves in
		d.mu.Unlock()
		d.out.say(today, "工作组调整获批 Team change approved: %s, %s 加入 joins", d.where(p), d.sample.name(p.spare))
	}
	return nil
}

// reviewerTask approves plans and reports. On the scripted pairings one report is
// returned and resubmitted, and one review is left until it is escalated.
func (d *demo) reviewerTask(ctx context.Context, c *apiclient.Client, t baocun.Task) error {
	p := d.pairing(t.PairingID)
	switch t.Kind {
	case baocun.TaskScore:
		return d.scoreTask(ctx, c, p, t)
	case baocun.TaskDecideAppeal:
		if d.claim(t.ID) {
			return d.decideAppeal(ctx, c, p, t)
		}
		return nil
	}
	if mine, err := d.dailyTask(ctx, c, p, t); mine {
		return err
	}
	d.mu.Lock()
	report := t.Kind == baocun.TaskReviewReport
	leave := report && p.script == scriptEscalate && !p.scriptRun && t.Period >= 3
	returnIt := report && p.script == scriptReturnReport && !p.scriptRun && t.Period >= 2
	rework := report && p.returned[t.Period]
	d.mu.Unlock()
	if leave && t.EscalatedAt == nil {
		return nil // deliberately left: it falls due and is escalated
	}
	if !d.claim(t.ID) {
		return nil // the other reviewer has it
	}
	decision := baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove, Comment: "同意 approved"}
	if returnIt {
		decision = baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeReturn,
			Comment: "筹集资金未附明细，请补充后重报 the funds raised lack a breakdown; add it and resubmit"}
	}
	res, err := c.DecideReview(ctx, p.ID, decision)
	if err != nil {
		return err
	}
	d.mu.Lock()
	p.stage = baocun.Stage(res.Stage)
	if returnIt || leave {
		p.scriptRun = true
	}
	if returnIt {
		p.returned[t.Period] = true
	}
	d.mu.Unlock()
	switch {
	case returnIt:
		d.out.say(d.today(), "汇报退回 Report returned: %s 第 %d 期 period %d —「%s」", d.where(p), t.Period, t.Period, decision.Comment)
	case leave:
		d.out.say(d.today(), "升级后办结 Done after escalation: %s 第 %d 期汇报审核通过 period %d report approved", d.where(p), t.Period, t.Period)
	case rework:
		d.out.say(d.today(), "修改后通过 Reworked report approved: %s 第 %d 期 period %d", d.where(p), t.Period, t.Period)
	}
	return nil
}

// leadTask nominates teams and acknowledges residency flags.
func (d *demo) leadTask(ctx context.Context, c *apiclient.Client, t baocun.Task) error {
	if !d.claim(t.ID) {
		return nil
	}
	if t.Kind == baocun.TaskProposeCadres {
		return d.proposeCadres(ctx, c, t.Department)
	}
	p := d.pairing(t.PairingID)
	switch t.Kind {
	case baocun.TaskNominateTeam:
		d.mu.Lock()
		team := p.nomination()
		p.nominated++
		d.mu.Unlock()
		_, err := c.NominateTeam(ctx, p.ID, team)
		return err
	case baocun.TaskResidencyFlag:
		v, err := c.Pairing(ctx, p.ID)
		if err != nil {
			return err
		}
		if _, err := c.AcknowledgeFlag(ctx, p.ID, t.ID); err != nil {
			return err
		}
		for _, s := range flagged(v.Timeline, t.ID) {
			d.out.say(d.today(), "驻村不足提示 Residency flag: %s %s %s 月驻村 %d 天（须 %d 天） checked in %d of %d days in %s → 部门负责人已知悉 acknowledged by the department lead",
				d.where(p), s.Name, s.Month, s.Days, s.Required, s.Days, s.Required, s.Month)
		}
	}
	return nil
}

// flagged is what a residency flag's timeline event says: who was short, when.
func flagged(timeline []baocun.Event, task string) []workflows.Shortfall {
	var short []workflows.Shortfall
	for _, e := range timeline {
		if e.Kind == "residency.flagged" && (task == "" || e.TaskID == task) {
			var s []workflows.Shortfall
			json.Unmarshal(e.Data, &s)
			short = append(short, s...)
		}
	}
	return short
}

// nomination is the team a department nominates: the scripted pairing's first
// nomination names a junior leader, which the organiser returns.
func (p *demoPairing) nomination() baocun.TeamInput {
	if p.script == scriptReturnTeam && p.nominated == 0 {
		return baocun.TeamInput{Leader: p.staff[2], Members: p.staff}
	}
	return baocun.TeamInput{Leader: p.staff[0], Members: p.staff}
}

// leader is the approved team's leader, "" before approval.
func (p *demoPairing) leader() string {
	for _, m := range p.team {
		if m.Leader {
			return m.PersonID
		}
	}
	return ""
}

// leadRound is what a department lead does unprompted: visit a village of the
// department once its team reports, and, on the scripted pairing, recall a member in
// year 2 and ask for a replacement.
func (d *demo) leadRound(dept string) func(ctx context.Context) error {
	visited := false
	return func(ctx context.Context) error {
		c, today := d.leads[dept], d.today()
		for _, p := range d.pairings {
			if p.Department != dept {
				continue
			}
			d.mu.Lock()
			reviewing := p.stage == baocun.StageReviews && today.Before(d.end)
			change := p.script == scriptChangeTeam && !p.scriptRun && reviewing && !today.Before(d.periods[4].Start.AddDate(0, 0, 10))
			recalled := p.staff[2]
			if change {
				delete(p.residents, recalled) // recalled: no longer lives in the village
				p.scriptRun = true
			}
			d.mu.Unlock()
			if change {
				reason := fmt.Sprintf("%s 调回单位另有任用，由 %s 接替 %s is recalled for other duties; %s replaces them",
					d.sample.name(recalled), d.sample.name(p.spare), d.sample.name(recalled), d.sample.name(p.spare))
				if _, err := c.RequestTeamChange(ctx, p.ID, baocun.TeamChangeInput{Remove: []string{recalled}, Add: []string{p.spare}, Reason: reason}); err != nil {
					return fmt.Errorf("team change: %w", err)
				}
				d.out.say(today, "申请调整工作组 Team change requested: %s —「%s」", d.where(p), reason)
			}
			if p.script == scriptEscalate && !p.appealed && !today.Before(d.end) {
				if err := d.appeal(ctx, c, p); err != nil {
					return fmt.Errorf("appeal: %w", err)
				}
			}
			d.mu.Lock()
			leave := p.leave
			p.leave = 0
			d.mu.Unlock()
			if leave != 0 {
				l, err := c.DecideLeave(ctx, p.ID, leave, baocun.LeaveDecision{Outcome: "approve", Comment: "同意，注意安排好工作 approved; hand over your work"})
				switch {
				case apiclient.StatusOf(err) == http.StatusConflict:
					d.out.say(today, "请假未批 Leave not approved: %s: %v", d.where(p), err)
				case err != nil:
					return fmt.Errorf("leave %d: %w", leave, err)
				default:
					d.out.say(today, "请假获批 Leave approved by the department lead: %s %s–%s", d.where(p), l.From, l.To)
				}
			}
			if !visited && reviewing && !today.Before(d.periods[1].Start) {
				lead := d.sample.Person(d.sample.Leads[dept])
				in := baocun.VisitInput{Date: today.Format(time.DateOnly), Visitor: lead.Name, Title: lead.Title,
					Purpose: "调研村集体经济发展和工作组驻村情况 survey the village economy and the team's residency"}
				if err := c.RecordVisit(ctx, p.ID, in); err != nil {
					return fmt.Errorf("visit: %w", err)
				}
				visited = true
				d.out.say(today, "领导走访 Leader's visit: %s%s 走访 visits %s", d.sample.department(dept).Name, lead.Title+lead.Name, d.where(p))
			}
		}
		return nil
	}
}

// leaderOf is the client of the pairing's team: its leader's, once approved.
func (d *demo) leaderOf(p *demoPairing) func() *apiclient.Client {
	return func() *apiclient.Client {
		d.mu.Lock()
		defer d.mu.Unlock()
		if l := p.leader(); l != "" {
			return d.members[l]
		}
		return nil
	}
}

// teamTask is the team leader's work: arrive, plan, report each period.
func (d *demo) teamTask(ctx context.Context, c *apiclient.Client, t baocun.Task) error {
	if t.Kind == baocun.TaskSubmitReport && d.today().Before(d.periods[t.Period-1].End.Add(-d.reportLead)) {
		return nil // reported near the period's end
	}
	if !d.claim(t.ID) {
		return nil
	}
	p := d.pairing(t.PairingID)
	switch t.Kind {
	case baocun.TaskConfirmArrival:
		res, err := c.ConfirmArrival(ctx, p.ID)
		if err != nil {
			return err
		}
		d.arrived(p, baocun.Stage(res.Stage))
	case baocun.TaskSubmitPlan:
		v := p.village
		in := baocun.PlanInput{Title: fmt.Sprintf("%s三年发展规划 %s development plan", v.Name, v.Code),
			Summary: "以发展村集体经济为重点，修通村组道路，解决安全饮水，完善村级组织建设。 Grow the collective economy, pave the roads, bring safe water, strengthen the village organisation.",
			Goals:   []string{"村集体年收入达到 10 万元 collective income 100,000 yuan a year", "村组道路硬化率 100% every road paved", "安全饮水全覆盖 safe water for every household"}}
		res, err := c.SubmitPlan(ctx, p.ID, in)
		if err != nil {
			return err
		}
		d.mu.Lock()
		p.stage = baocun.Stage(res.Stage)
		d.mu.Unlock()
	case baocun.TaskSelfAssess:
		in := baocun.SelfAssessInput{Summary: fmt.Sprintf("%s：三年驻村，完成规划目标，集体经济稳步增长。 Three years in the village: the plan's goals met, the collective economy growing.", p.village.Name)}
		if _, err := c.SelfAssess(ctx, p.ID, in); err != nil {
			return err
		}
	case baocun.TaskSubmitReport:
		d.mu.Lock()
		rework := p.returned[t.Period]
		d.mu.Unlock()
		if !rework {
			if err := p.completeProject(ctx, c, t.Period); err != nil {
				return err
			}
		}
		if _, err := c.SubmitReport(ctx, p.ID, p.report(t.Period, rework)); err != nil {
			return err
		}
		if rework {
			d.out.say(d.today(), "修改后重新提交 Report resubmitted: %s 第 %d 期 period %d", d.where(p), t.Period, t.Period)
		}
	}
	return nil
}

// arrived starts the team's residency: every member checks in from today. On the
// scripted pairing a member will skip the first whole month six weeks on.
func (d *demo) arrived(p *demoPairing, stage baocun.Stage) {
	today := d.today()
	d.mu.Lock()
	defer d.mu.Unlock()
	p.stage = stage
	for _, m := range p.team {
		p.residents[m.PersonID] = today.Format(time.DateOnly)
	}
	if p.script == scriptSkipMonth {
		m := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, today.Location()).AddDate(0, 1, 0)
		for m.Before(today.AddDate(0, 0, 42)) {
			m = m.AddDate(0, 1, 0)
		}
		for _, mem := range p.team {
			if !mem.Leader {
				p.skip.person, p.skip.month = mem.PersonID, m.Format("2006-01")
				break
			}
		}
	}
}

// report is the team's report of a period, its figures made up from the village
// and the period; a rework adds what the reviewer asked for.
func (p *demoPairing) report(period int, rework bool) baocun.ReportInput {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", p.Village, period)
	n := int(h.Sum32() % 1000)
	summary := fmt.Sprintf("第 %d 期：走访农户 %d 户，召开村民代表会议 %d 次，争取项目资金，推进道路和饮水工程。 Period %d: visited %d households, held %d villagers' meetings, raised project funds, built roads and water supply.",
		period, 30+n%60, 1+n%3, period, 30+n%60, 1+n%3)
	if rework {
		summary += " 附资金明细：财政专项、部门帮扶、社会捐助。 With the funds' breakdown: special grants, department support, donations."
	}
	// Its funds and projects are the ledger's (completeProject): the API counts them.
	return baocun.ReportInput{Period: period, Summary: summary, CollectiveIncomeWan: fmt.Sprintf("%d.%d", 1+period+n%5, n%10)}
}

// completeProject is the period's work in the ledger (台账): a project added and
// completed with its acceptance sheet as evidence, which the period's report counts.
func (p *demoPairing) completeProject(ctx context.Context, c *apiclient.Client, period int) error {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d/project", p.Village, period)
	n := int(h.Sum32() % 1000)
	kind := baocun.ProjectKinds[n%len(baocun.ProjectKinds)]
	pr, err := c.AddProject(ctx, p.ID, baocun.ProjectInput{Kind: kind, Name: fmt.Sprintf("第 %d 期%s项目 period %d %s project", period, kind, period, kind),
		Quantity: fmt.Sprint(1 + n%5), Unit: "items", FromPlan: n%3 == 0,
		Investment: baocun.Investment{OwnWan: fmt.Sprintf("%d.%d", 1+n%9, n%10), HigherWan: fmt.Sprint(n % 30), SocialWan: fmt.Sprint(n % 4)}})
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	sheet, err := c.UploadFile(ctx, p.ID, fmt.Sprintf("完工验收单-%d.txt", pr.ID), fmt.Appendf(nil, "%s 完工验收单 completion sheet: %s, %s %s\n", p.Village, pr.Name, pr.Quantity, pr.Unit))
	if err != nil {
		return fmt.Errorf("ledger evidence: %w", err)
	}
	if _, err := c.ProgressProject(ctx, p.ID, pr.ID, baocun.ProjectProgress{Status: baocun.ProjectCompleted, Files: []string{sheet.ID}}); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// Residency check-ins (issue 17): a member checks in for today, one call a day, as
// the phone page does, from near the village's office. Three programme years pass in
// about a minute here, a month in a second or so, so the demo samples days rather
// than checking in on every one: the demo cycle's rule asks demoResidencyDays days a
// month, which each member checks in for in the month's first round; a member who is
// not the leader also sends the day before, a day late with a reason, once a month,
// which the team leader confirms in their next round. Just before the cycle ends they
// stop (a check-in after it would be refused). The scripted member skips a month and
// is flagged.
const (
	demoResidencyDays = 1
	checkinStop       = 4 // days before the cycle's end
)

// checkIns is a team member's round: check in while this month still wants days;
// as the team's leader, confirm the members' late check-ins.
func (d *demo) checkIns(person string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		today := d.today()
		if !today.Before(d.end.AddDate(0, 0, -checkinStop)) {
			return nil
		}
		month := today.Format("2006-01")
		d.mu.Lock()
		var p *demoPairing
		var days []baocun.CheckinInput
		leader := false
		for _, q := range d.pairings {
			since, ok := q.residents[person]
			if !ok {
				continue
			}
			p = q
			leader = slices.ContainsFunc(q.team, func(m baocun.Member) bool { return m.PersonID == person && m.Leader })
			if person == q.skip.person && month == q.skip.month {
				break
			}
			// About a hundred metres from the office, as a phone reports it.
			lat, lng, acc := *q.village.Lat+0.0009, *q.village.Lng-0.0004, 25.0
			if q.checkins[person+" "+month] < demoResidencyDays && !q.posted[person+" "+today.Format(time.DateOnly)] {
				days = append(days, baocun.CheckinInput{Lat: &lat, Lng: &lng, AccuracyM: &acc})
			}
			// A member (not the leader, whose own would go to the department lead)
			// also sends the day before, late, once a month, for the leader to confirm.
			if y := today.AddDate(0, 0, -1); !leader && y.Format("2006-01") == month && y.Format(time.DateOnly) >= since &&
				!q.posted[person+" late "+month] && !q.posted[person+" "+y.Format(time.DateOnly)] {
				q.posted[person+" late "+month] = true
				days = append(days, baocun.CheckinInput{Date: y.Format(time.DateOnly), Reason: "入户走访至深夜，次日补录 visiting households late into the night"})
			}
			break
		}
		// The first pairing shows the rest of the field records once, in its second
		// period: a member asks two days' leave, which the lead approves; the leader
		// writes the work log with a photograph as its evidence.
		field := p != nil && p == d.pairings[0] && !p.field && p.stage == baocun.StageReviews && !today.Before(d.periods[1].Start) && len(p.team) > 1
		if field {
			p.field = true
		}
		d.mu.Unlock()
		if p == nil {
			return nil
		}
		c := d.members[person]
		if field {
			if err := d.fieldRecords(ctx, p, today); err != nil {
				return err
			}
		}
		for _, in := range days {
			ci, err := c.CheckIn(ctx, p.ID, in)
			switch status := apiclient.StatusOf(err); {
			case err == nil:
				d.mu.Lock()
				p.checkins[person+" "+ci.Day[:7]]++
				p.posted[person+" "+ci.Day] = true
				if ci.Late {
					p.late++
				}
				d.mu.Unlock()
			case status == http.StatusConflict || status == http.StatusUnprocessableEntity:
				// Recalled meanwhile, the day in already, or the day passed out of
				// reach while the round ran: the next round tries the next.
			default:
				return fmt.Errorf("check-in: %w", err)
			}
		}
		d.mu.Lock()
		late := p.late
		if leader {
			p.late = 0
		}
		d.mu.Unlock()
		if !leader || late == 0 {
			return nil
		}
		// The leader confirms the late check-ins waiting, this month's and last's.
		for _, m := range []string{month, today.AddDate(0, -1, 0).Format("2006-01")} {
			page, err := c.Checkins(ctx, p.ID, m)
			if err != nil {
				return fmt.Errorf("check-ins of %s: %w", m, err)
			}
			for _, ci := range page.Items {
				if ci.Status != baocun.CheckinPending || ci.PersonID == person {
					continue
				}
				if _, err := c.ReviewCheckin(ctx, p.ID, baocun.CheckinReview{PersonID: ci.PersonID, Date: ci.Day, Accept: true}); err != nil &&
					apiclient.StatusOf(err) != http.StatusConflict {
					return fmt.Errorf("confirming %s's check-in of %s: %w", ci.PersonID, ci.Day, err)
				}
			}
		}
		return nil
	}
}

// fieldRecords plays the first pairing's leave and evidence: a member who is not the
// leader asks two days' leave a week ahead (the lead approves it in their round); the
// leader uploads a photograph and writes the work log naming it.
func (d *demo) fieldRecords(ctx context.Context, p *demoPairing, today time.Time) error {
	d.mu.Lock()
	var leader, member string
	for _, m := range p.team {
		if _, resident := p.residents[m.PersonID]; !resident {
			continue
		}
		if m.Leader {
			leader = m.PersonID
		} else if member == "" {
			member = m.PersonID
		}
	}
	d.mu.Unlock()
	if leader == "" || member == "" {
		return nil
	}
	// The middle of next month: members check in in a month's first days.
	from := time.Date(today.Year(), today.Month(), 15, 0, 0, 0, 0, today.Location()).AddDate(0, 1, 0)
	l, err := d.members[member].RequestLeave(ctx, p.ID, baocun.LeaveInput{From: from.Format(time.DateOnly), To: from.AddDate(0, 0, 1).Format(time.DateOnly),
		Kind: "family", Reason: "家中老人住院 a parent in hospital"})
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	d.mu.Lock()
	p.leave = l.ID
	d.mu.Unlock()
	d.out.say(today, "请假 Leave asked: %s %s %s–%s（%d 天 days）", d.where(p), d.sample.name(member), l.From, l.To, l.Days)
	var img bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for x := range 640 {
		for y := range 480 {
			pic.Set(x, y, color.RGBA{uint8(90 + y/8), uint8(140 + x/16), 80, 255}) // fields under a sky
		}
	}
	if err := png.Encode(&img, pic); err != nil {
		return err
	}
	f, err := d.members[leader].UploadFile(ctx, p.ID, "村道硬化现场.png", img.Bytes())
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	e, err := d.members[leader].AddLog(ctx, p.ID, baocun.LogInput{Kind: "action", Goal: "道路硬化",
		Text: "与村两委查看村道硬化进度，完成约六成 inspected the village road's paving with the village committee: about 60 % done", Files: []string{f.ID}})
	if err != nil {
		return fmt.Errorf("work log: %w", err)
	}
	d.out.say(today, "民情日记 Work log: %s %s — 附照片 with a photograph (%s, SHA-256 %s…)", d.where(p), e.Text, f.ContentType, f.SHA256[:12])
	return nil
}

// villageTask is the village's yearly evaluation (双评).
func (d *demo) villageTask(ctx context.Context, c *apiclient.Client, t baocun.Task) error {
	if t.Kind != baocun.TaskEvaluation || !d.claim(t.ID) {
		return nil
	}
	p := d.pairing(t.PairingID)
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/year %d", p.Village, t.Period)
	n := int(h.Sum32() % 100)
	villagers := 86 + float64(n)/10 // 86.0–95.9 %
	in := baocun.EvaluationInput{Year: t.Period, Respondents: max(30, p.village.Households/4),
		VillagerSatisfaction: fmt.Sprintf("%.1f", villagers), GrassrootsSatisfaction: fmt.Sprintf("%.1f", 84+float64(n*7%100)/10),
		GrassrootsRespondent: p.village.Township + "人民政府 township government"}
	// The villagers rate each cadre of the team as it stands, by name (群众评议干部).
	v, err := c.Pairing(ctx, p.ID)
	if err != nil {
		return err
	}
	for i, m := range v.Team {
		in.Cadres = append(in.Cadres, baocun.CadreRating{PersonID: m.PersonID, Satisfaction: fmt.Sprint(80 + (n+7*i)%19)})
	}
	if _, err := c.SubmitEvaluation(ctx, p.ID, in); err != nil {
		return err
	}
	d.mu.Lock()
	e := d.evaluated[t.Period]
	e.villages++
	e.satisfaction += villagers
	d.evaluated[t.Period] = e
	total := len(d.pairings)
	d.mu.Unlock()
	if e.villages == total {
		d.out.say(d.today(), "第 %d 年双评完成 Year %d evaluations done: %d/%d 村 villages, 群众满意度平均 average villager satisfaction %.1f%%",
			t.Period, t.Period, e.villages, total, e.satisfaction/float64(e.villages))
	}
	return nil
}

// scoreTask has each reviewer (none of the pairing's department: the inbox shows them
// no other) score the pairing once. Sheets are written one at a time, and the
// scoring closes at the rubric's minimum: a sheet refused for either reason is
// simply tried again on a later round, or not needed.
func (d *demo) scoreTask(ctx context.Context, c *apiclient.Client, p *demoPairing, t baocun.Task) error {
	key := t.ID + "/" + c.Username()
	if !d.claim(key) {
		return nil
	}
	_, err := c.Score(ctx, p.ID, baocun.ScoreInput{Scores: d.sheet(p, c.Username())})
	if apiclient.StatusOf(err) == http.StatusConflict {
		d.mu.Lock()
		delete(d.claimed, key) // try again next round, if the scoring is still open
		d.mu.Unlock()
		return nil
	}
	return err
}

// sheet is a rater's scores of a pairing: each pairing has its own level (so the
// grades differ), each rater a small leaning of their own.
func (d *demo) sheet(p *demoPairing, rater string) baocun.Scores {
	level := 70 + (p.ID*7)%29 // 70–98 %
	lean := int64(len(rater) % 3)
	s := baocun.Scores{}
	r := baocun.DefaultRubric()
	for k, points := range r.Rated() {
		pct := min(100, level+lean)
		s[k] = points.Mul(decimal.NewFromInt(pct)).Div(decimal.NewFromInt(100)).Round(2)
	}
	return s
}

// appeal has the department appeal the scripted pairing's result once it is
// published.
func (d *demo) appeal(ctx context.Context, c *apiclient.Client, p *demoPairing) error {
	v, err := c.Pairing(ctx, p.ID)
	if err != nil || v.Stage != baocun.StagePublicity || !slices.ContainsFunc(v.Timeline, func(e baocun.Event) bool { return e.Kind == "result.published" }) {
		return err
	}
	reasons := "第 12 期汇报的村集体经济收入未计入验收，请复核 the collective income of the last report was left out; please review"
	if _, err := c.Appeal(ctx, p.ID, baocun.AppealInput{Reasons: reasons}); err != nil {
		if apiclient.StatusOf(err) == http.StatusConflict {
			return nil // not open yet (or any more): looked at again next round
		}
		return err
	}
	d.mu.Lock()
	p.appealed = true
	d.mu.Unlock()
	d.out.say(d.today(), "申诉 Appeal: %s —「%s」", d.where(p), reasons)
	return nil
}

// decideAppeal has a reviewer of another department revise the appealed
// prosperity score upward by five points.
func (d *demo) decideAppeal(ctx context.Context, c *apiclient.Client, p *demoPairing, t baocun.Task) error {
	res, err := c.Results(ctx, d.cycleID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(res.Pairings, func(r baocun.Ranked) bool { return r.PairingID == p.ID })
	if i < 0 {
		return fmt.Errorf("pairing %d has no result", p.ID)
	}
	before := res.Pairings[i]
	revised := decimal.Min(decimal.NewFromInt(100), before.Goods["prosperity"].Add(decimal.NewFromInt(5)))
	in := baocun.AppealDecisionInput{TaskID: t.ID, Outcome: baocun.AppealRevise, Goods: map[string]decimal.Decimal{"prosperity": revised},
		Reasons: "经核对台账，集体收入增长属实，小康建设业绩得分上调 the ledger confirms the income growth: prosperity raised"}
	if _, err := c.DecideAppeal(ctx, p.ID, in); err != nil {
		return err
	}
	d.out.say(d.today(), "申诉裁决：改判 Appeal decided, revised: %s 小康建设业绩 prosperity %s → %s（%s）", d.where(p),
		before.Goods["prosperity"].StringFixed(2), revised.StringFixed(2), c.Username())
	return nil
}

// proposeCadres has a department lead propose the leaders of its teams that may be
// proposed (the service lists who may).
func (d *demo) proposeCadres(ctx context.Context, c *apiclient.Client, dept string) error {
	cand, err := c.Candidates(ctx, d.cycleID, dept)
	if err != nil {
		return err
	}
	in := baocun.ProposeInput{Cadres: []baocun.CadreProposal{}}
	var names []string
	for _, e := range cand.Eligible {
		p := d.pairing(e.PairingID)
		d.mu.Lock()
		leader := p.leader()
		d.mu.Unlock()
		if e.PersonID == leader {
			in.Cadres = append(in.Cadres, baocun.CadreProposal{PersonID: e.PersonID,
				Reason: fmt.Sprintf("带领工作组驻村三年，%s验收%s led the team in %s for three years, graded %s", e.Village, baocun.GradeNames[e.Grade], e.Village, e.Grade)})
			names = append(names, e.Name)
		}
	}
	if _, err := c.Propose(ctx, d.cycleID, dept, in); err != nil {
		return err
	}
	d.out.say(d.today(), "推荐优秀包村干部 Excellent cadres proposed: %s — %s（%d 人符合条件 eligible）", d.sample.department(dept).Name,
		strings.Join(names, "、"), len(cand.Eligible))
	return nil
}
