package baocun

import (
	"encoding/json"
	"fmt"
	"github.com/shopspring/decimal"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Stage is where a pairing stands in its lifecycle.
type Stage string

// Stages of a pairing (SPEC.md "The lifecycle").
const (
	StageDispatch   Stage = "dispatch"   // 派驻: the department nominates the team, an organiser approves it
	StageStationed  Stage = "stationed"  // 驻村: the team confirms its arrival
	StagePlanning   Stage = "planning"   // 规划: the team's plan, approved by a reviewer
	StageReviews    Stage = "reviews"    // 汇报: a report each period, the yearly evaluation round
	StageAcceptance Stage = "acceptance" // 验收: final acceptance (issue 6)
	StagePublicity  Stage = "publicity"  // 公示
	StageClosed     Stage = "closed"
	StageCancelled  Stage = "cancelled"
)

// Stages lists the stages in lifecycle order.
var Stages = []Stage{StageDispatch, StageStationed, StagePlanning, StageReviews, StageAcceptance, StagePublicity, StageClosed, StageCancelled}

// StageNames are the stages' names for people.
var StageNames = map[Stage]string{
	StageDispatch: "派驻工作组 dispatch", StageStationed: "进驻 stationed", StagePlanning: "制定规划 planning",
	StageReviews: "定期汇报 reviews", StageAcceptance: "检查验收 acceptance", StagePublicity: "公示申诉 publicity",
	StageClosed: "已结束 closed", StageCancelled: "已撤销 cancelled",
}

// TaskKind is what a task asks of its role.
type TaskKind string

// Task kinds: the human steps of a pairing. Each open one is a Task in the database.
const (
	TaskNominateTeam      TaskKind = "nominate_team"        // dept_lead: name the work team
	TaskApproveTeam       TaskKind = "approve_team"         // organiser: approve or return the nomination
	TaskConfirmArrival    TaskKind = "confirm_arrival"      // team_member: the team has arrived in the village
	TaskSubmitPlan        TaskKind = "submit_plan"          // team_member: the village development plan
	TaskReviewPlan        TaskKind = "review_plan"          // reviewer: approve or return the plan
	TaskSubmitReport      TaskKind = "submit_report"        // team_member: the period's report
	TaskReviewReport      TaskKind = "review_report"        // reviewer: approve or return the report
	TaskApproveTeamChange TaskKind = "approve_team_change"  // organiser: approve or return a team change
	TaskResidencyFlag     TaskKind = "residency_flag"       // dept_lead: a member was under the residency rule
	TaskEvaluation        TaskKind = "evaluation"           // village: the yearly villager and grass-roots evaluation
	TaskSelfAssess        TaskKind = "self_assess"          // team_member: the team's self-assessment at acceptance
	TaskScore             TaskKind = "score_acceptance"     // reviewer (never of the department): score every indicator
	TaskConfirm           TaskKind = "confirm_acceptance"   // organiser: confirm the result and the village's new class
	TaskDecideAppeal      TaskKind = "decide_appeal"        // reviewer (never of the department): uphold or revise an appealed result
	TaskProposeCadres     TaskKind = "propose_cadres"       // dept_lead: propose excellent cadres (a cycle's task, not a pairing's)
	TaskApproveCommend    TaskKind = "approve_commendation" // organiser: approve the commendation list (a cycle's task)
	TaskCheckinDispute    TaskKind = "checkin_dispute"      // dept_lead: answer the village's dispute of a month's check-ins
)

// TaskKinds lists the task kinds, in lifecycle order.
var TaskKinds = []TaskKind{TaskNominateTeam, TaskApproveTeam, TaskConfirmArrival, TaskSubmitPlan, TaskReviewPlan,
	TaskSubmitReport, TaskReviewReport, TaskApproveTeamChange, TaskResidencyFlag, TaskEvaluation, TaskSelfAssess,
	TaskScore, TaskConfirm, TaskDecideAppeal, TaskProposeCadres, TaskApproveCommend, TaskCheckinDispute}

// TaskKindNames name each kind of task for people: Chinese, English.
var TaskKindNames = map[TaskKind][2]string{
	TaskNominateTeam:      {"提名工作组", "Nominate the team"},
	TaskApproveTeam:       {"审批工作组", "Approve the team"},
	TaskConfirmArrival:    {"确认进驻", "Confirm arrival"},
	TaskSubmitPlan:        {"提交村级发展规划", "Submit the plan"},
	TaskReviewPlan:        {"审核规划", "Review the plan"},
	TaskSubmitReport:      {"提交定期汇报", "Submit the report"},
	TaskReviewReport:      {"审核汇报", "Review the report"},
	TaskApproveTeamChange: {"审批工作组调整", "Approve a team change"},
	TaskResidencyFlag:     {"驻村不足提示", "Residency flag"},
	TaskEvaluation:        {"年度双评", "Yearly evaluation"},
	TaskSelfAssess:        {"验收自评", "Self-assessment"},
	TaskScore:             {"验收评分", "Score acceptance"},
	TaskConfirm:           {"确认验收结果", "Confirm acceptance"},
	TaskDecideAppeal:      {"裁决申诉", "Decide the appeal"},
	TaskProposeCadres:     {"推荐优秀包村干部", "Propose excellent cadres"},
	TaskApproveCommend:    {"审批表彰名单", "Approve the commendation list"},
	TaskCheckinDispute:    {"答复村委对打卡的异议", "Answer the village's dispute of check-ins"},
}

// TaskRoles is the role that acts on each kind of task.
var TaskRoles = map[TaskKind]Role{
	TaskNominateTeam: RoleDeptLead, TaskApproveTeam: RoleOrganiser, TaskConfirmArrival: RoleTeamMember,
	TaskSubmitPlan: RoleTeamMember, TaskReviewPlan: RoleReviewer, TaskSubmitReport: RoleTeamMember,
	TaskReviewReport: RoleReviewer, TaskApproveTeamChange: RoleOrganiser, TaskResidencyFlag: RoleDeptLead,
	TaskEvaluation: RoleVillage, TaskSelfAssess: RoleTeamMember, TaskScore: RoleReviewer, TaskConfirm: RoleOrganiser,
	TaskDecideAppeal: RoleReviewer, TaskProposeCadres: RoleDeptLead, TaskApproveCommend: RoleOrganiser,
	TaskCheckinDispute: RoleDeptLead,
}

// Task statuses.
const (
	TaskOpen      = "open"
	TaskDone      = "done"
	TaskCancelled = "cancelled" // the pairing or cycle was cancelled
	TaskExpired   = "expired"   // the stage it belonged to ended without it
)

// Decision outcomes.
const (
	OutcomeApprove     = "approve"     // 通过
	OutcomeReturn      = "return"      // 退回
	OutcomeAcknowledge = "acknowledge" // 已知悉 (a residency flag)
	OutcomeSubmitted   = "submitted"   // a submission closed the task
)

// Task is one open or finished human step: who must act (role, and the pairing's
// department, village and county as the owner scope), by when, and how it ended.
type Task struct {
	ID           string     `json:"id"` // "<pairing id>-<sequence>"
	Kind         TaskKind   `json:"kind"`
	PairingID    int64      `json:"pairing_id"`
	CycleID      int64      `json:"cycle_id"`
	Role         Role       `json:"role"`
	Jurisdiction string     `json:"jurisdiction"` // the village's county
	Department   string     `json:"department_code"`
	Village      string     `json:"village_code"`
	Period       int        `json:"period,omitempty"`
	Subject      string     `json:"subject,omitempty"` // what the task is about, e.g. "P3 报告 report v2"
	DueAt        time.Time  `json:"due_at"`            // real time
	DueDate      string     `json:"due_date"`          // programme date, YYYY-MM-DD
	RemindAt     time.Time  `json:"remind_at"`         // real time of the reminder
	Status       string     `json:"status"`
	OpenedAt     time.Time  `json:"opened_at"`
	RemindedAt   *time.Time `json:"reminded_at,omitempty"`
	EscalatedAt  *time.Time `json:"escalated_at,omitempty"` // overdue: now also in the organisers' inbox
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
	ClosedBy     string     `json:"closed_by,omitempty"`
	Outcome      string     `json:"outcome,omitempty"`
	// Assignee holds the task when it is not its role's pool's (issue 19): an
	// organiser reassigned it, or its holder delegated it.
	Assignee string `json:"assignee,omitempty"`
	// FirstDueDate is the due date as first set, when an organiser has moved it.
	FirstDueDate string `json:"first_due_date,omitempty"`
}

// Member is one person of a work team.
type Member struct {
	PersonID string `json:"person_id"`
	Name     string `json:"name,omitempty"`
	Leader   bool   `json:"leader,omitempty"`
}

// Windows are the programme days each step is given, and how long before a due
// date its reminder is recorded.
type Windows struct {
	NominateDays   int `json:"nominate_days"`   // to nominate a team after launch
	DecideDays     int `json:"decide_days"`     // to approve or return a submission
	ArrivalDays    int `json:"arrival_days"`    // to arrive after the team is approved
	PlanDays       int `json:"plan_days"`       // to submit the plan after arrival
	ReportDays     int `json:"report_days"`     // after a period ends, to submit its report
	ReworkDays     int `json:"rework_days"`     // to resubmit a returned plan or report
	EvaluationDays int `json:"evaluation_days"` // for the yearly evaluation
	AcceptanceDays int `json:"acceptance_days"` // for the self-assessment, and again for the scoring
	RemindDays     int `json:"remind_days"`     // a reminder this many days before a due date
	PublicityDays  int `json:"publicity_days"`  // issue 6
	AppealDays     int `json:"appeal_days"`     // issue 6
}

// What a launch does with a support pairing of a class 1 village.
const (
	Class1Refuse = "refuse"
	Class1Warn   = "warn"
)

// CycleSettings are a cycle's rules, fixed when it launches.
type CycleSettings struct {
	StartDate     string  `json:"start_date"` // YYYY-MM-DD, programme time, in China time
	Years         int     `json:"years"`
	PeriodMonths  int     `json:"period_months"`
	ClockScale    float64 `json:"clock_scale"`
	MinTeamSize   int     `json:"min_team_size"`
	ResidencyDays int     `json:"residency_days"` // check-in days a member owes each month
	// Field rules (issue 17): how far from the village's point a check-in is in
	// range, how many days late a check-in may come, and how many days of leave a
	// department lead approves (an organiser beyond).
	CheckinRadiusM int `json:"checkin_radius_m,omitempty"`
	LateDays       int `json:"late_days,omitempty"`
	LeaveLeadDays  int `json:"leave_lead_days,omitempty"`
	// Class1Support is what a launch does with a support pairing of a class 1
	// village: refuse it ("" or "refuse", the default) or warn of it ("warn").
	Class1Support string  `json:"class1_support,omitempty"`
	Windows       Windows `json:"windows"`
	// Rubric is the acceptance rubric, frozen with the settings at launch: a later
	// edit of a default never changes a running cycle's rules. Workflows are given
	// settings without it and read it from the cycle when acceptance begins.
	Rubric *Rubric `json:"rubric,omitempty"`
}

// Defaults fills the zero fields of s with SPEC.md's defaults.
func (s *CycleSettings) Defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&s.Years, 3)
	def(&s.PeriodMonths, 3)
	def(&s.MinTeamSize, 3)
	def(&s.ResidencyDays, 20)
	def(&s.CheckinRadiusM, DefaultCheckinRadiusM)
	def(&s.LateDays, DefaultLateDays)
	def(&s.LeaveLeadDays, DefaultLeaveLeadDays)
	if s.ClockScale == 0 {
		s.ClockScale = 1
	}
	w := &s.Windows
	def(&w.NominateDays, 30)
	def(&w.DecideDays, 7)
	def(&w.ArrivalDays, 15)
	def(&w.PlanDays, 30)
	def(&w.ReportDays, 10)
	def(&w.ReworkDays, 7)
	def(&w.EvaluationDays, 30)
	def(&w.AcceptanceDays, 30)
	def(&w.RemindDays, 3)
	def(&w.PublicityDays, 7)
	def(&w.AppealDays, 10)
	if s.Rubric == nil {
		r := DefaultRubric()
		s.Rubric = &r
	}
}

// StoredRubric is the rubric frozen in the cycle's settings at launch. Launch always
// stores one (Defaults); a cycle without it is damaged data, refused rather than
// scored against whatever rubric the code holds today.
func (s *CycleSettings) StoredRubric(cycleID int64) (Rubric, error) {
	if s.Rubric == nil {
		return Rubric{}, &Error{Code: EINTERNAL, Message: fmt.Sprintf("第 %d 轮没有保存评分细则，不能评分或排名 Cycle %d has no stored rubric (settings.rubric): it cannot be scored or ranked.", cycleID, cycleID)}
	}
	return *s.Rubric, nil
}

// Start is the cycle's first moment in programme time: midnight, China time.
func (s *CycleSettings) Start() (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s.StartDate, ChinaTime)
	if err != nil {
		return time.Time{}, &Error{Code: EINVALID, Message: fmt.Sprintf("开始日期须为 YYYY-MM-DD start_date must be a date YYYY-MM-DD, not %q", s.StartDate),
			Fields: map[string]string{"start_date": "invalid"}}
	}
	if t.Year() < 2000 || t.Year() > 2100 {
		return time.Time{}, &Error{Code: EINVALID, Message: fmt.Sprintf("开始日期超出范围 start_date %s is out of range (2000–2100)", s.StartDate),
			Fields: map[string]string{"start_date": "out of range"}}
	}
	return t, nil
}

// Validate checks every setting, naming the field at fault.
func (s *CycleSettings) Validate() error {
	if _, err := s.Start(); err != nil {
		return err
	}
	if _, err := Periods(time.Now(), s.Years, s.PeriodMonths); err != nil {
		return err
	}
	if err := (Clock{Scale: s.ClockScale}).Validate(); err != nil {
		return err
	}
	bad := func(field, msg string) error {
		return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{field: "out of range"}}
	}
	if s.MinTeamSize < 1 || s.MinTeamSize > 50 {
		return bad("min_team_size", "工作组最少人数须在 1–50 之间 min_team_size must be 1–50")
	}
	if s.ResidencyDays < 0 || s.ResidencyDays > 28 {
		return bad("residency_days", "每月驻村天数须在 0–28 之间 residency_days must be 0–28")
	}
	if s.CheckinRadiusM < 50 || s.CheckinRadiusM > 50000 {
		return bad("checkin_radius_m", "打卡范围须在 50–50000 米之间 checkin_radius_m must be 50–50000 metres")
	}
	if s.LateDays < 1 || s.LateDays > 31 {
		return bad("late_days", "补卡期限须在 1–31 天之间 late_days must be 1–31")
	}
	if s.LeaveLeadDays < 1 || s.LeaveLeadDays > MaxLeaveDays {
		return bad("leave_lead_days", fmt.Sprintf("部门审批请假天数须在 1–%d 之间 leave_lead_days must be 1–%d", MaxLeaveDays, MaxLeaveDays))
	}
	if s.Class1Support != "" && s.Class1Support != Class1Refuse && s.Class1Support != Class1Warn {
		return bad("class1_support", "一类村包扶须为 refuse 或 warn class1_support must be \"refuse\" or \"warn\"")
	}
	w := s.Windows
	for name, v := range map[string]int{"nominate_days": w.NominateDays, "decide_days": w.DecideDays, "arrival_days": w.ArrivalDays,
		"plan_days": w.PlanDays, "report_days": w.ReportDays, "rework_days": w.ReworkDays, "evaluation_days": w.EvaluationDays, "acceptance_days": w.AcceptanceDays,
		"publicity_days": w.PublicityDays, "appeal_days": w.AppealDays} {
		if v < 1 || v > 365 {
			return bad("windows."+name, fmt.Sprintf("期限 %s 须在 1–365 天之间 windows.%s must be 1–365 days", name, name))
		}
	}
	if w.RemindDays < 0 || w.RemindDays > 30 {
		return bad("windows.remind_days", "提醒提前天数须在 0–30 之间 windows.remind_days must be 0–30")
	}
	if s.Rubric != nil {
		return s.Rubric.Validate()
	}
	return nil
}

// FieldRules are the cycle's field rules, each at its default where the cycle was
// launched before it existed.
func (s CycleSettings) FieldRules() (radiusM, lateDays, leaveLeadDays int) {
	or := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return or(s.CheckinRadiusM, DefaultCheckinRadiusM), or(s.LateDays, DefaultLateDays), or(s.LeaveLeadDays, DefaultLeaveLeadDays)
}

// WithoutRubric is the settings as workflows carry them: the rubric stays in the
// cycle's record, out of every pairing's history.
func (s CycleSettings) WithoutRubric() CycleSettings {
	s.Rubric = nil
	return s
}

// Clock is the cycle's programme clock for a launch at real time launch.
func (s *CycleSettings) Clock(launch time.Time) Clock {
	start, _ := s.Start()
	return Clock{Start: start, Launch: launch, Scale: s.ClockScale}
}

// Cycle statuses.
const (
	CycleRunning   = "running"
	CycleCancelled = "cancelled"
	CycleClosed    = "closed"
	CycleFailed    = "failed" // stored, but the engine refused to start it
)

// Cycle is one run of the programme (一轮包村).
type Cycle struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"`
	Jurisdiction  string        `json:"jurisdiction"`
	Settings      CycleSettings `json:"settings"`
	Status        string        `json:"status"`
	LaunchedBy    string        `json:"launched_by"`
	LaunchedAt    time.Time     `json:"launched_at"` // real time; the clock's Launch
	PairingsTotal int           `json:"pairings_total"`
	Stages        map[Stage]int `json:"stages"`
	ProgrammeNow  string        `json:"programme_now,omitempty"` // the cycle's programme date now
}

// Clock is the cycle's programme clock.
func (c *Cycle) Clock() Clock { return c.Settings.Clock(c.LaunchedAt) }

// End is the programme's end: the day after its last, years after its start.
func (c *Cycle) End() time.Time { return AddMonths(c.Clock().Start, 12*c.Settings.Years) }

// Pairing is one department–village pairing of a cycle.
type Pairing struct {
	ID         int64    `json:"id"`
	CycleID    int64    `json:"cycle_id"`
	Department string   `json:"department_code"`
	Village    string   `json:"village_code"`
	Kind       string   `json:"kind"`
	County     string   `json:"county"`
	Stage      Stage    `json:"stage"`
	Team       []Member `json:"team"`
	Period     int      `json:"period,omitempty"` // the reporting period now running
	// The village at launch: acceptance records its new class and the income growth.
	BaselineClass     int    `json:"baseline_class"`
	BaselineIncomeWan string `json:"baseline_income_wan"`
	DepartmentName    string `json:"department_name,omitempty"`
	VillageName       string `json:"village_name,omitempty"`
	Jurisdiction      string `json:"-"` // the cycle's
}

// OnTeam reports whether person serves on the pairing's team.
func (p *Pairing) OnTeam(person string) bool {
	for _, m := range p.Team {
		if person != "" && m.PersonID == person {
			return true
		}
	}
	return false
}

// Event is one entry of a pairing's timeline: a submission, a decision, a stage
// change, a check-in summary, a visit, a reminder or an escalation.
type Event struct {
	ID          int64           `json:"id"`
	PairingID   int64           `json:"pairing_id"`
	At          time.Time       `json:"at"`           // real time
	ProgrammeAt string          `json:"programme_at"` // programme date
	Actor       string          `json:"actor"`        // username or "system"
	Kind        string          `json:"kind"`         // e.g. "report.submitted", "stage.entered"
	TaskID      string          `json:"task_id,omitempty"`
	Period      int             `json:"period,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	// Files are the evidence files the step's input names: linked to the event as it
	// is written, and shown beside it.
	Files []string `json:"files,omitempty"`
}

// TeamInput nominates a team or changes it.
type TeamInput struct {
	Leader  string   `json:"leader"`  // person id
	Members []string `json:"members"` // person ids, the leader included or not
	Reason  string   `json:"reason,omitempty"`
}

// Team is the nomination as members, leader first, without repeats.
func (in TeamInput) Team() []Member {
	out := []Member{{PersonID: in.Leader, Leader: true}}
	seen := map[string]bool{in.Leader: true}
	for _, m := range in.Members {
		if !seen[m] {
			seen[m] = true
			out = append(out, Member{PersonID: m})
		}
	}
	return out
}

// TeamChangeInput asks to recall and replace members of an approved team.
type TeamChangeInput struct {
	Remove []string `json:"remove"` // person ids leaving
	Add    []string `json:"add"`    // person ids joining
	Leader string   `json:"leader,omitempty"`
	Reason string   `json:"reason"`
}

// PlanInput is the village development plan (村级发展规划).
type PlanInput struct {
	Title   string   `json:"title"`
	Summary string   `json:"summary"`
	Goals   []string `json:"goals"`
	Files   []string `json:"files,omitempty"` // evidence files of the pairing (POST /files)
}

// ReportInput is one period's report (定期汇报). Money is in 万元 as exact decimals.
type ReportInput struct {
	Period              int            `json:"period"`
	Summary             string         `json:"summary"`
	FundsRaisedWan      string         `json:"funds_raised_wan"`
	CollectiveIncomeWan string         `json:"collective_income_wan"`
	Projects            map[string]int `json:"projects"` // road, water, school, power, clinic, industry, other → completed
	Files               []string       `json:"files,omitempty"`
	// ProjectIDs are the ledger's projects the report counts (issue 18): its funds
	// and projects are theirs, filled in by the API from the ledger.
	ProjectIDs []int64 `json:"project_ids,omitempty"`
}

// ProjectKinds are the project kinds a report counts.
var ProjectKinds = []string{"road", "water", "school", "power", "clinic", "industry", "other"}

// EvaluationInput is the yearly 双评 round of a village: satisfaction rates in
// percent, exact decimals.
type EvaluationInput struct {
	Year                   int    `json:"year"`
	Respondents            int    `json:"respondents"`
	VillagerSatisfaction   string `json:"villager_satisfaction"`   // 群众评议干部, %
	GrassrootsSatisfaction string `json:"grassroots_satisfaction"` // 基层评议机关, %
	// GrassrootsRespondent is who gave the grass-roots rating: the village committee
	// or the township government, by name (issue 18).
	GrassrootsRespondent string `json:"grassroots_respondent,omitempty"`
	// Cadres are the villagers' ratings of each cadre of the team by name (群众评议
	// 干部, issue 18): a cadre rated under MinCadreRating in any year is not
	// proposed as an excellent cadre.
	Cadres  []CadreRating `json:"cadres,omitempty"`
	Comment string        `json:"comment,omitempty"`
}

// CadreRating is the villagers' satisfaction with one cadre of the team, in %.
type CadreRating struct {
	PersonID     string `json:"person_id"`
	Satisfaction string `json:"satisfaction"`
}

// MinCadreRating is the villagers' rating (%) under which a cadre may not be
// proposed as an excellent cadre.
const MinCadreRating = 60

// DecisionInput approves or returns the submission a task is about.
type DecisionInput struct {
	TaskID  string `json:"task_id"`
	Outcome string `json:"outcome"` // approve | return (acknowledge for a residency flag)
	Comment string `json:"comment,omitempty"`
}

// VisitInput records a leader's visit (领导联系点走访).
type VisitInput struct {
	Date    string   `json:"date"` // programme date
	Visitor string   `json:"visitor"`
	Title   string   `json:"title,omitempty"`
	Purpose string   `json:"purpose"`
	Files   []string `json:"files,omitempty"`
}

var decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,4})?$`)

// checkDecimal reports a field that is not a non-negative exact decimal ≤ max.
func checkDecimal(field, v string, max float64) error {
	if !decimalRE.MatchString(v) {
		return invalidField(field, fmt.Sprintf("须为非负十进制数 must be a non-negative decimal like 12.5, not %q", v))
	}
	var f float64
	fmt.Sscan(v, &f)
	if max > 0 && f > max {
		return invalidField(field, fmt.Sprintf("不能大于 %g must be at most %g", max, max))
	}
	return nil
}

func invalidField(field, msg string) error {
	return &Error{Code: EINVALID, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}

func requireText(field, v string, max int) error {
	v = strings.TrimSpace(v)
	if v == "" {
		return invalidField(field, "必填 required")
	}
	if len([]rune(v)) > max {
		return invalidField(field, fmt.Sprintf("过长 at most %d characters", max))
	}
	return nil
}

// maxTeam bounds a team and a change.
const maxTeam = 50

// optionalText reports a field longer than max characters.
func optionalText(field, v string, max int) error {
	if len([]rune(v)) > max {
		return invalidField(field, fmt.Sprintf("过长 at most %d characters", max))
	}
	return nil
}

// Validate checks a team nomination's shape; membership of the department is the
// caller's to check against the directory.
func (in TeamInput) Validate(minSize int) error {
	if in.Leader == "" {
		return invalidField("leader", "须指定组长 a leader is required")
	}
	if n := len(in.Team()); n < minSize {
		return invalidField("members", fmt.Sprintf("工作组至少 %d 人 a team needs at least %d people, this has %d", minSize, minSize, n))
	}
	if len(in.Members) > maxTeam {
		return invalidField("members", fmt.Sprintf("工作组至多 %d 人 a team has at most %d people", maxTeam, maxTeam))
	}
	return optionalText("reason", in.Reason, 500)
}

// Validate checks a team change's shape.
func (in TeamChangeInput) Validate() error {
	if len(in.Remove) == 0 && len(in.Add) == 0 && in.Leader == "" {
		return invalidField("remove", "须至少调整一人 a change removes, adds or names a leader")
	}
	if len(in.Remove) > maxTeam || len(in.Add) > maxTeam {
		return invalidField("add", fmt.Sprintf("一次至多调整 %d 人 at most %d people a change", maxTeam, maxTeam))
	}
	for _, list := range []struct {
		field string
		ids   []string
	}{{"remove", in.Remove}, {"add", in.Add}} {
		seen := map[string]bool{}
		for _, id := range list.ids {
			if seen[id] {
				return invalidField(list.field, fmt.Sprintf("%s 重复 is listed twice", id))
			}
			seen[id] = true
		}
	}
	return requireText("reason", in.Reason, 500)
}

// Validate checks a plan.
func (in PlanInput) Validate() error {
	if err := requireText("title", in.Title, 200); err != nil {
		return err
	}
	if len(in.Goals) > 50 {
		return invalidField("goals", "目标至多 50 项 at most 50 goals")
	}
	for i, g := range in.Goals {
		if err := requireText(fmt.Sprintf("goals[%d]", i), g, 500); err != nil {
			return err
		}
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return requireText("summary", in.Summary, 20000)
}

// FileIDs are the evidence files the plan names.
func (in PlanInput) FileIDs() []string { return in.Files }

// Validate checks a report's fields (its period is the workflow's to check).
func (in ReportInput) Validate() error {
	if in.Period < 1 {
		return invalidField("period", "须为正整数 must be a period number ≥ 1")
	}
	if err := requireText("summary", in.Summary, 20000); err != nil {
		return err
	}
	if err := checkDecimal("funds_raised_wan", in.FundsRaisedWan, MaxProjects*MaxProjectWan); err != nil { // a report of every project a ledger holds
		return err
	}
	if err := checkDecimal("collective_income_wan", in.CollectiveIncomeWan, 1e7); err != nil {
		return err
	}
	for k, n := range in.Projects {
		known := false
		for _, p := range ProjectKinds {
			known = known || p == k
		}
		if !known {
			return invalidField("projects."+k, "未知项目类型 unknown project kind; use "+strings.Join(ProjectKinds, ", "))
		}
		if n < 0 || n > 10000 {
			return invalidField("projects."+k, "须在 0–10000 之间 must be 0–10000")
		}
	}
	return CheckFileIDs(in.Files)
}

// FileIDs are the evidence files the report names.
func (in ReportInput) FileIDs() []string { return in.Files }

// Validate checks an evaluation's fields.
func (in EvaluationInput) Validate() error {
	if in.Respondents < 1 || in.Respondents > 100000 {
		return invalidField("respondents", "参评人数须在 1–100000 之间 must be 1–100000")
	}
	if err := checkDecimal("villager_satisfaction", in.VillagerSatisfaction, 100); err != nil {
		return err
	}
	if err := checkDecimal("grassroots_satisfaction", in.GrassrootsSatisfaction, 100); err != nil {
		return err
	}
	if err := optionalText("grassroots_respondent", in.GrassrootsRespondent, 200); err != nil {
		return err
	}
	if err := checkCadres(in.Cadres, func(c CadreRating) string { return c.PersonID }, func(f string, c CadreRating) error {
		return checkDecimal(f+".satisfaction", c.Satisfaction, 100)
	}); err != nil {
		return err
	}
	return optionalText("comment", in.Comment, 2000)
}

// LowRated are the cadres this evaluation rated under MinCadreRating.
func (in EvaluationInput) LowRated() []string {
	var out []string
	for _, c := range in.Cadres {
		if d, err := decimal.NewFromString(c.Satisfaction); err == nil && d.LessThan(decimal.NewFromInt(MinCadreRating)) {
			out = append(out, c.PersonID)
		}
	}
	return out
}

// Validate checks a decision's fields.
func (in DecisionInput) Validate() error {
	if in.TaskID == "" {
		return invalidField("task_id", "必填 required")
	}
	switch in.Outcome {
	case OutcomeApprove, OutcomeAcknowledge:
	case OutcomeReturn:
		if strings.TrimSpace(in.Comment) == "" {
			return invalidField("comment", "退回须说明理由 a return needs a comment saying why")
		}
	default:
		return invalidField("outcome", fmt.Sprintf("须为 approve 或 return outcome must be approve or return, not %q", in.Outcome))
	}
	return optionalText("comment", in.Comment, 2000)
}

// Validate checks a visit.
func (in VisitInput) Validate() error {
	if _, err := ParseDate("date", in.Date); err != nil {
		return err
	}
	if err := requireText("visitor", in.Visitor, 100); err != nil {
		return err
	}
	if err := optionalText("title", in.Title, 100); err != nil {
		return err
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return requireText("purpose", in.Purpose, 2000)
}

// FileIDs are the evidence files the visit names.
func (in VisitInput) FileIDs() []string { return in.Files }

// ParseDate reads a programme date (YYYY-MM-DD, China time), naming the field.
func ParseDate(field, s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, ChinaTime)
	if err != nil {
		return time.Time{}, invalidField(field, fmt.Sprintf("须为日期 YYYY-MM-DD must be a date YYYY-MM-DD, not %q", s))
	}
	return t, nil
}

// Change is one step of a workflow written to the application database in one
// transaction: stage and team updates, tasks opened and closed, reminders and
// escalations, timeline events, and the audit entries that record it. A non-empty
// Key makes it idempotent: a change whose key was applied before writes nothing.
type Change struct {
	Key      string            `json:"key,omitempty"`
	Stages   []StageChange     `json:"stages,omitempty"`
	Team     *TeamChange       `json:"team,omitempty"`
	Open     []Task            `json:"open,omitempty"`
	Close    []TaskClose       `json:"close,omitempty"`
	Remind   []string          `json:"remind,omitempty"`   // task ids reminded at At
	Escalate []string          `json:"escalate,omitempty"` // task ids escalated at At
	Due      []TaskDue         `json:"due,omitempty"`      // tasks whose due date moved (issue 19)
	Events   []Event           `json:"events,omitempty"`
	Audit    []AuditEntry      `json:"audit,omitempty"`
	Cycle    *CycleStatus      `json:"cycle,omitempty"`
	Result   *AcceptanceResult `json:"result,omitempty"` // a confirmed acceptance, stored (issue 6)
	Final    *FinalResult      `json:"final,omitempty"`  // its result after publicity and appeal
	// Commendation is a step of the cycle's commendation.
	Commendation *CommendationChange `json:"commendation,omitempty"`
	At           time.Time           `json:"at"` // real time of the change
	// PairingID and Seq number a step the Pairing workflow committed before it was
	// written (issue 16): the store writes a pairing's numbered changes in order,
	// each once, and keeps the highest number written (see Projection).
	PairingID int64 `json:"pairing_id,omitempty"`
	Seq       int64 `json:"seq,omitempty"`
}

// StageChange moves a pairing to a stage (and period).
type StageChange struct {
	PairingID int64 `json:"pairing_id"`
	Stage     Stage `json:"stage"`
	Period    int   `json:"period"`
}

// TeamChange replaces a pairing's team.
type TeamChange struct {
	PairingID int64    `json:"pairing_id"`
	Members   []Member `json:"members"`
}

// TaskClose ends a task. Only an open task closes: closing one that is not open
// fails the whole change with ECONFLICT, so exactly one decision wins — unless
// IfOpen, for what the system ends (a cancellation, an expiry), which passes over a
// task that is closed or not stored yet.
type TaskClose struct {
	ID      string `json:"id"`
	Status  string `json:"status"` // done | cancelled | expired
	Outcome string `json:"outcome,omitempty"`
	By      string `json:"by"`
	IfOpen  bool   `json:"if_open,omitempty"`
}

// CycleStatus sets a cycle's status.
type CycleStatus struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
}

// PairingFilter selects pairings of a cycle; zero fields match everything.
type PairingFilter struct {
	CycleID        int64
	Stage          Stage
	County         string
	Department     string
	After          int64 // cursor: the last id of the previous page
	Limit          int
	FromOrd, ToOrd int // ordinal range [FromOrd, ToOrd) when ToOrd > 0
}

// TaskFilter selects tasks. With For set it is that user's inbox: the tasks their
// roles act on, in the jurisdictions they hold them, within their scope (a department
// lead's own department, a team member's own pairings, a village's own village, a
// reviewer never their own department), and for organisers every escalated task too.
type TaskFilter struct {
	For       *User
	PairingID int64
	Status    string // default open; "all" for every status
	After     string // cursor from the previous page
	Limit     int
}

// TimeLayout is how the application database stores timestamps: UTC, fixed width,
// so text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Cursor is the inbox cursor of the page after t: its due time and id.
func (t Task) Cursor() string { return t.DueAt.UTC().Format(TimeLayout) + "|" + t.ID }

// SelfAssessInput is the team's self-assessment (自评) at acceptance.
type SelfAssessInput struct {
	Summary string `json:"summary"`
	Scores  Scores `json:"scores,omitempty"` // the team's own scores, optional, shown beside the raters'
	// Evidence names, for an indicator of the rubric ("good.indicator", as Scores
	// are keyed), the files that prove it: the raters see them beside it.
	Evidence map[string][]string `json:"evidence,omitempty"`
	Files    []string            `json:"files,omitempty"` // evidence of the whole
}

// MaxEvidenceFiles bounds the files one self-assessment names, all indicators together.
const MaxEvidenceFiles = 200

// Validate checks a self-assessment (its scores and evidence, if any, against the
// rubric: the workflow's to check).
func (in SelfAssessInput) Validate() error {
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	if len(in.Evidence) > 100 {
		return invalidField("evidence", "至多 100 项指标 at most 100 indicators")
	}
	n := len(in.Files)
	for _, k := range slices.Sorted(maps.Keys(in.Evidence)) {
		field := "evidence." + k
		if len(k) > 64 || !strings.Contains(k, ".") {
			return invalidField(field, fmt.Sprintf("须为指标编号 good.indicator, not %q", k))
		}
		if err := checkFileIDs(field, in.Evidence[k]); err != nil {
			return err
		}
		n += len(in.Evidence[k])
	}
	if n > MaxEvidenceFiles {
		return invalidField("evidence", fmt.Sprintf("至多 %d 个文件 at most %d files in all", MaxEvidenceFiles, MaxEvidenceFiles))
	}
	return requireText("summary", in.Summary, 20000)
}

// FileIDs are every file the self-assessment names, each once: its own, then each
// indicator's in the indicators' order.
func (in SelfAssessInput) FileIDs() []string {
	out := slices.Clone(in.Files)
	for _, k := range slices.Sorted(maps.Keys(in.Evidence)) {
		for _, id := range in.Evidence[k] {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// FileField names where the self-assessment names file id: files[i], or
// evidence.<indicator>[i].
func (in SelfAssessInput) FileField(id string) string {
	if i := slices.Index(in.Files, id); i >= 0 {
		return fmt.Sprintf("files[%d]", i)
	}
	for _, k := range slices.Sorted(maps.Keys(in.Evidence)) {
		if i := slices.Index(in.Evidence[k], id); i >= 0 {
			return fmt.Sprintf("evidence.%s[%d]", k, i)
		}
	}
	return "evidence"
}

// ScoreInput is one rater's score sheet.
type ScoreInput struct {
	Scores  Scores   `json:"scores"`
	Comment string   `json:"comment,omitempty"`
	Files   []string `json:"files,omitempty"` // the inspection's own evidence: photographs on site, say
}

// FileIDs are the evidence files the score sheet names.
func (in ScoreInput) FileIDs() []string { return in.Files }

// Validate checks what it can without the rubric.
func (in ScoreInput) Validate() error {
	if len(in.Scores) == 0 {
		return invalidField("scores", "必填 required: a score for every indicator")
	}
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return optionalText("comment", in.Comment, 2000)
}

// ConfirmInput is the organiser's confirmation of a pairing's acceptance result.
type ConfirmInput struct {
	TaskID   string `json:"task_id"`
	NewClass int    `json:"new_class"` // the village's class after the cycle: 1, 2 or 3
	Comment  string `json:"comment,omitempty"`
}

// Validate checks a confirmation.
func (in ConfirmInput) Validate() error {
	if in.TaskID == "" {
		return invalidField("task_id", "必填 required")
	}
	if in.NewClass < 1 || in.NewClass > 3 {
		return invalidField("new_class", "村类别须为 1、2 或 3 new_class must be 1, 2 or 3")
	}
	return optionalText("comment", in.Comment, 2000)
}

// AcceptanceResult is a pairing's confirmed acceptance, kept in the application
// database: the combined scores, the grade and the village's new class.
type AcceptanceResult struct {
	PairingID   int64     `json:"pairing_id"`
	CycleID     int64     `json:"cycle_id"`
	Department  string    `json:"department_code"`
	Result      Result    `json:"result"`
	NewClass    int       `json:"new_class"`
	ConfirmedBy string    `json:"confirmed_by"`
	ConfirmedAt time.Time `json:"confirmed_at"`
	// After publicity and appeal: the appeal if there was one, and the final result
	// (nil until then).
	Appeal      *Appeal    `json:"appeal,omitempty"`
	Final       *Result    `json:"final,omitempty"`
	FinalizedAt *time.Time `json:"finalized_at,omitempty"`
}
