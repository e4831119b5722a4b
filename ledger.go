package baocun

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The project ledger (台账, issue 18): each project a pairing brings to its village is
// a record of its own — its kind, quantity, the investment by source, and its status
// from planned to accepted, each step dated and, from completion on, evidenced. The
// plan's goals are ledger items ticked off with evidence (台账销号). Statistics count
// funds and projects from the ledger, never from figures typed into a report.

// Project statuses, in the order a project moves through them.
const (
	ProjectPlanned   = "planned"   // 计划
	ProjectUnderWay  = "under_way" // 在建
	ProjectCompleted = "completed" // 完工
	ProjectAccepted  = "accepted"  // 验收
)

// ProjectStatuses are the statuses in order; a project only moves forward.
var ProjectStatuses = []string{ProjectPlanned, ProjectUnderWay, ProjectCompleted, ProjectAccepted}

// ProjectUnits are the units a project's quantity may be given in.
var ProjectUnits = []string{"km", "m", "m²", "m³", "households", "people", "items", "mu", "kw", "t"}

// Funding sources of a project's investment.
const (
	SourceOwn    = "own"    // the department's own funds (部门自筹)
	SourceHigher = "higher" // won from higher levels (争取上级)
	SourceSocial = "social" // raised from society (社会筹措)
)

// Investment is a project's money by source, in 万元, exact decimals.
type Investment struct {
	OwnWan    string `json:"own_wan"`
	HigherWan string `json:"higher_wan"`
	SocialWan string `json:"social_wan"`
}

// Project is one item of a pairing's ledger.
type Project struct {
	ID         int64      `json:"id"`
	PairingID  int64      `json:"pairing_id"`
	CycleID    int64      `json:"cycle_id"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Quantity   string     `json:"quantity"`
	Unit       string     `json:"unit"`
	Investment Investment `json:"investment"`
	TotalWan   string     `json:"total_wan"`
	Status     string     `json:"status"`
	// The programme date of each status reached (YYYY-MM-DD), "" before it.
	PlannedOn   string `json:"planned_on"`
	StartedOn   string `json:"started_on,omitempty"`
	CompletedOn string `json:"completed_on,omitempty"`
	AcceptedOn  string `json:"accepted_on,omitempty"`
	// AcceptedBy accepted the project, with their opinion (验收意见).
	AcceptedBy     string `json:"accepted_by,omitempty"`
	AcceptanceNote string `json:"acceptance_note,omitempty"`
	// FromPlan: a goal of the pairing's plan, ticked off when completed (台账销号).
	FromPlan bool `json:"from_plan"`
	// ReportedPeriod is the period whose report counted the project (0: none yet).
	ReportedPeriod int       `json:"reported_period,omitempty"`
	Files          []string  `json:"files"`
	CreatedBy      string    `json:"created_by"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedBy      string    `json:"updated_by"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// ProjectInput is a new ledger item, planned today (programme time); it moves on
// by ProjectProgress.
type ProjectInput struct {
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Quantity   string     `json:"quantity"`
	Unit       string     `json:"unit"`
	Investment Investment `json:"investment"`
	FromPlan   bool       `json:"from_plan,omitempty"`
	Files      []string   `json:"files,omitempty"`
}

// ProjectProgress moves a project on to a later status (under_way or completed; an
// accepted project is the inspectors' word, ProjectAcceptance), on a date (default
// today, programme time), and may correct the quantity and investment as they stand.
// Completion needs evidence.
type ProjectProgress struct {
	Status     string      `json:"status"`
	On         string      `json:"on,omitempty"`
	Quantity   string      `json:"quantity,omitempty"`
	Investment *Investment `json:"investment,omitempty"`
	Note       string      `json:"note,omitempty"`
	Files      []string    `json:"files,omitempty"`
}

// ProjectAcceptance is an inspector's acceptance of a completed project.
type ProjectAcceptance struct {
	On    string   `json:"on,omitempty"`
	Note  string   `json:"note"`
	Files []string `json:"files,omitempty"`
}

// Validate checks a new project.
func (in ProjectInput) Validate() error {
	if !slices.Contains(ProjectKinds, in.Kind) {
		return invalidField("kind", "须为 must be one of "+strings.Join(ProjectKinds, ", "))
	}
	if err := requireText("name", in.Name, 200); err != nil {
		return err
	}
	if err := checkQuantity(in.Quantity, in.Unit); err != nil {
		return err
	}
	if err := in.Investment.Validate("investment"); err != nil {
		return err
	}
	return CheckFileIDs(in.Files)
}

func checkQuantity(q, unit string) error {
	if err := checkDecimal("quantity", q, 1e9); err != nil {
		return err
	}
	if !slices.Contains(ProjectUnits, unit) {
		return invalidField("unit", "须为 must be one of "+strings.Join(ProjectUnits, ", "))
	}
	return nil
}

// Validate checks the progress asked for (the move itself is checked against the
// project as stored).
func (in ProjectProgress) Validate() error {
	if in.Status != ProjectUnderWay && in.Status != ProjectCompleted {
		return invalidField("status", fmt.Sprintf("须为 %s 或 %s must be %s or %s (acceptance is the inspectors')", ProjectUnderWay, ProjectCompleted, ProjectUnderWay, ProjectCompleted))
	}
	if in.Quantity != "" {
		if err := checkDecimal("quantity", in.Quantity, 1e9); err != nil {
			return err
		}
	}
	if in.Investment != nil {
		if err := in.Investment.Validate("investment"); err != nil {
			return err
		}
	}
	if in.Status == ProjectCompleted && len(in.Files) == 0 {
		return invalidField("files", "完工须附佐证材料 completion needs evidence: name the files")
	}
	if err := optionalText("note", in.Note, 2000); err != nil {
		return err
	}
	return CheckFileIDs(in.Files)
}

// Validate checks an acceptance.
func (in ProjectAcceptance) Validate() error {
	if err := requireText("note", in.Note, 2000); err != nil {
		return err
	}
	return CheckFileIDs(in.Files)
}

// Validate checks each source's amount.
func (iv Investment) Validate(field string) error {
	for _, src := range []struct{ name, v string }{{"own_wan", iv.OwnWan}, {"higher_wan", iv.HigherWan}, {"social_wan", iv.SocialWan}} {
		if src.v == "" {
			continue // none from this source
		}
		if err := checkDecimal(field+"."+src.name, src.v, MaxProjectWan); err != nil {
			return err
		}
	}
	own, higher, social := iv.Yuan()
	if own+higher+social > MaxProjectWan*10000 {
		return invalidField(field, fmt.Sprintf("一个项目的投资合计不能超过 %d 万元 a project's investment is at most %d 万元 in all", int(MaxProjectWan), int(MaxProjectWan)))
	}
	return nil
}

// MaxProjects bounds one pairing's ledger: a village's projects over three years are
// tens, and a list read whole must stay small.
const MaxProjects = 500

// MaxProjectWan bounds one project's investment, all sources together (万元: 100
// 亿元, more than any village project), so a period's report of its projects stays
// within what a report takes.
const MaxProjectWan = 1e6

// Yuan is each source's amount in yuan (万元 × 10,000: 4 decimals of 万元 are exact).
func (iv Investment) Yuan() (own, higher, social int64) {
	y := func(s string) int64 {
		if s == "" {
			return 0
		}
		return decimal.RequireFromString(s).Shift(4).IntPart()
	}
	return y(iv.OwnWan), y(iv.HigherWan), y(iv.SocialWan)
}

// WanOf shows an amount in yuan as 万元, exactly, with no trailing zeros.
func WanOf(yuan int64) string { return decimal.New(yuan, -4).String() }

// InvestmentOf is the investment stored in yuan, in 万元.
func InvestmentOf(own, higher, social int64) Investment {
	return Investment{OwnWan: WanOf(own), HigherWan: WanOf(higher), SocialWan: WanOf(social)}
}

// ProjectStatusIndex is the place of a status in ProjectStatuses (-1: unknown).
func ProjectStatusIndex(s string) int { return slices.Index(ProjectStatuses, s) }

// FileIDs are the evidence files named.
func (in ProjectInput) FileIDs() []string { return in.Files }

// FileIDs are the evidence files named.
func (in ProjectProgress) FileIDs() []string { return in.Files }

// FileIDs are the evidence files named.
func (in ProjectAcceptance) FileIDs() []string { return in.Files }

// ProjectStep is a project's move as the store takes it: to under_way or completed
// (ProjectProgress), or accepted; On is the programme date it happened.
type ProjectStep struct {
	Status     string
	On         string
	Quantity   string      // "" leaves it
	Investment *Investment // nil leaves it
	Note       string      // the progress's note, or the acceptance's opinion
	Files      []string
	By         string
}

// LedgerReport is what a period's report counts of the ledger: every completed or
// accepted project that no other period's report counted — its funds (万元, all
// sources), its projects by kind, and their ids.
func LedgerReport(ps []Project, period int) (fundsWan string, counts map[string]int, ids []int64) {
	counts = map[string]int{}
	var yuan int64
	for _, p := range ps {
		if p.Status != ProjectCompleted && p.Status != ProjectAccepted || p.ReportedPeriod != 0 && p.ReportedPeriod != period {
			continue
		}
		own, higher, social := p.Investment.Yuan()
		yuan += own + higher + social
		counts[p.Kind]++
		ids = append(ids, p.ID)
	}
	return WanOf(yuan), counts, ids
}
