package baocun

import (
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Publicity and appeal (公示 / 申诉), then commendation (表彰): SPEC.md stages 6–7 and
// "Commendation".

// Appeal outcomes.
const (
	AppealUphold = "uphold" // 维持原结果
	AppealRevise = "revise" // 改判
)

// AppealInput is a department lead's appeal against the published result.
type AppealInput struct {
	Reasons string   `json:"reasons"`
	Files   []string `json:"files,omitempty"`
}

// Validate checks an appeal.
func (in AppealInput) Validate() error {
	if err := CheckFileIDs(in.Files); err != nil {
		return err
	}
	return requireText("reasons", in.Reasons, 5000)
}

// FileIDs are the evidence files the appeal names.
func (in AppealInput) FileIDs() []string { return in.Files }

// AppealDecisionInput is a reviewer's decision of an appeal: uphold the result, or
// revise some goods' scores (0–100), with reasons either way.
type AppealDecisionInput struct {
	TaskID  string                     `json:"task_id"`
	Outcome string                     `json:"outcome"` // uphold | revise
	Goods   map[string]decimal.Decimal `json:"goods,omitempty"`
	Reasons string                     `json:"reasons"`
}

// Validate checks what it can without the rubric.
func (in AppealDecisionInput) Validate() error {
	if in.TaskID == "" {
		return invalidField("task_id", "必填 required")
	}
	switch in.Outcome {
	case AppealUphold:
		if len(in.Goods) > 0 {
			return invalidField("goods", "维持原结果时不改分 an upheld result changes no score")
		}
	case AppealRevise:
		if len(in.Goods) == 0 {
			return invalidField("goods", "改判须给出改后的得分 a revision gives the revised scores")
		}
	default:
		return invalidField("outcome", fmt.Sprintf("须为 uphold（维持）或 revise（改判） must be uphold or revise, not %q", in.Outcome))
	}
	return requireText("reasons", in.Reasons, 5000)
}

// Appeal is a department's appeal against its published result and, once decided,
// the decision.
type Appeal struct {
	Reasons  string          `json:"reasons"`
	By       string          `json:"by"`
	FiledOn  string          `json:"filed_on"` // programme date
	Decision *AppealDecision `json:"decision,omitempty"`
}

// AppealDecision is how an appeal was decided.
type AppealDecision struct {
	Outcome   string                     `json:"outcome"`
	Goods     map[string]decimal.Decimal `json:"goods,omitempty"`
	Reasons   string                     `json:"reasons"`
	By        string                     `json:"by"`
	DecidedOn string                     `json:"decided_on"` // programme date
}

// FinalResult is a pairing's result once its publicity and any appeal are over.
type FinalResult struct {
	PairingID int64     `json:"pairing_id"`
	Result    Result    `json:"result"`
	Appeal    *Appeal   `json:"appeal,omitempty"`
	At        time.Time `json:"at"`
}

// Commendation statuses.
const (
	CommendationPending   = "pending"   // pairings are still running
	CommendationProposing = "proposing" // department leads propose cadres
	CommendationApproving = "approving" // an organiser approves the list
	CommendationPublished = "published"
	CommendationCancelled = "cancelled" // the cycle was cancelled before publication
)

// Cadre statuses.
const (
	CadreProposed = "proposed"
	CadreApproved = "approved"
	CadreExcluded = "excluded" // the organiser left them off the list
)

// Cadre is one proposed excellent cadre (优秀包村干部).
type Cadre struct {
	PersonID   string    `json:"person_id"`
	Name       string    `json:"name,omitempty"`
	Department string    `json:"department_code"`
	PairingID  int64     `json:"pairing_id"`
	Village    string    `json:"village_code,omitempty"`
	Grade      string    `json:"grade,omitempty"` // the pairing's final grade
	Reason     string    `json:"reason"`
	ProposedBy string    `json:"proposed_by"`
	ProposedAt time.Time `json:"proposed_at"`
	Status     string    `json:"status"`
}

// Eligible are a department's cadres who may be proposed: members of its teams
// whose pairings finished graded at least good, who met the residency rule every
// month they served, and whom the villagers never rated under MinCadreRating.
type Eligible struct {
	Department string           `json:"department_code"`
	County     string           `json:"county"`           // the department's jurisdiction
	People     map[string]int64 `json:"people,omitempty"` // person → their pairing
	Count      int              `json:"count"`
}

// ProposeInput is a department lead's proposal: the cadres, each with the reason.
// An empty list proposes nobody.
type ProposeInput struct {
	Cadres []CadreProposal `json:"cadres"`
}

// CadreProposal is one person proposed.
type CadreProposal struct {
	PersonID string `json:"person_id"`
	Reason   string `json:"reason"`
}

// Validate checks a proposal's shape; eligibility is the workflow's to check.
func (in ProposeInput) Validate() error {
	return checkCadres(in.Cadres, func(c CadreProposal) string { return c.PersonID }, func(f string, c CadreProposal) error {
		return requireText(f+".reason", c.Reason, 2000)
	})
}

// ApproveInput is an organiser's approval of the commendation list, leaving off any
// proposed cadres named in Exclude.
type ApproveInput struct {
	TaskID  string   `json:"task_id"`
	Exclude []string `json:"exclude,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

// Validate checks an approval.
func (in ApproveInput) Validate() error {
	if in.TaskID == "" {
		return invalidField("task_id", "必填 required")
	}
	if len(in.Exclude) > 10000 {
		return invalidField("exclude", "过多 too many")
	}
	return optionalText("comment", in.Comment, 2000)
}

// Commendation is a cycle's commendation list: the ranked pairings and departments
// (the advanced among them), and the cadres.
type Commendation struct {
	CycleID       int64            `json:"cycle_id"`
	Status        string           `json:"status"`
	AdvancedShare decimal.Decimal  `json:"advanced_share"`
	Pairings      []Ranked         `json:"pairings"`
	Departments   []DepartmentRank `json:"departments"`
	Cadres        []Cadre          `json:"cadres"`
	ApprovedBy    string           `json:"approved_by,omitempty"`
	PublishedAt   *time.Time       `json:"published_at,omitempty"`
}

// CommendationChange is a commendation's step written with a Change: its status,
// cadres proposed, and at publication who approved and who was left off (the list
// itself is built from the stored results as it is written).
type CommendationChange struct {
	CycleID    int64    `json:"cycle_id"`
	Status     string   `json:"status"`
	Cadres     []Cadre  `json:"cadres,omitempty"`
	Exclude    []string `json:"exclude,omitempty"`
	ApprovedBy string   `json:"approved_by,omitempty"`
}

// Rank ranks a cycle's results (each at its final score when it has one) and its
// departments, marking the advanced.
func (r *Rubric) Rank(results []AcceptanceResult) ([]Ranked, []DepartmentRank) {
	ranked := make([]Ranked, len(results))
	for i, a := range results {
		res := a.Result
		if a.Final != nil {
			res = *a.Final
		}
		ranked[i] = Ranked{PairingID: a.PairingID, Department: a.Department, Result: res}
	}
	ranked = r.RankPairings(ranked)
	return ranked, r.RankDepartments(ranked, r.Share())
}

// DefaultAdvancedShare is the share of ranked departments that may be advanced.
var DefaultAdvancedShare = decimal.RequireFromString("0.2")

// Share is the rubric's advanced share, or the default for a rubric frozen
// before it had one.
func (r *Rubric) Share() decimal.Decimal {
	if r.AdvancedShare.IsPositive() {
		return r.AdvancedShare
	}
	return DefaultAdvancedShare
}

// GradeAtLeast reports whether grade is g or better.
func GradeAtLeast(grade, g string) bool {
	order := []string{GradeExcellent, GradeGood, GradePass, GradeFail}
	i, j := slices.Index(order, grade), slices.Index(order, g)
	return i >= 0 && j >= 0 && i <= j
}

// Publicity is what the programme publishes of a cycle (公示), for every signed-in
// role and, when the operator enables it, the public: the confirmed results ranked
// (department, village, total, grade), the departments ranked, and once the
// commendation list is published, who is commended. Nothing else of a result — no
// indicator, rater, reason, appeal or person's id — is in it.
type Publicity struct {
	CycleID     int64              `json:"cycle_id"`
	Name        string             `json:"name"`
	Pairings    []PublicResult     `json:"pairings"`
	Departments []PublicDepartment `json:"departments"`
	// Commended is empty until the commendation list is published (PublishedAt).
	Commended   []PublicCadre `json:"commended"`
	PublishedAt *time.Time    `json:"published_at,omitempty"`
}

// PublicResult is one pairing's published result.
type PublicResult struct {
	Rank           int             `json:"rank"`
	DepartmentCode string          `json:"department_code"`
	DepartmentName string          `json:"department_name"`
	VillageCode    string          `json:"village_code"`
	VillageName    string          `json:"village_name"`
	Total          decimal.Decimal `json:"total"`
	Grade          string          `json:"grade"`
}

// PublicDepartment is one department's published ranking.
type PublicDepartment struct {
	Rank     int             `json:"rank"`
	Code     string          `json:"department_code"`
	Name     string          `json:"name"`
	Pairings int             `json:"pairings"`
	Mean     decimal.Decimal `json:"mean"`
	Advanced bool            `json:"advanced"`
}

// PublicCadre is one commended cadre, by name.
type PublicCadre struct {
	Name           string `json:"name"`
	DepartmentName string `json:"department_name"`
	VillageName    string `json:"village_name"`
	Grade          string `json:"grade"`
}

// PublicityOf is the published part of a cycle's commendation: the advanced
// departments are marked only once the list is published, as the cadres are listed.
func PublicityOf(cycle *Cycle, cm *Commendation) Publicity {
	p := Publicity{CycleID: cycle.ID, Name: cycle.Name, Pairings: []PublicResult{}, Departments: []PublicDepartment{}, Commended: []PublicCadre{}}
	published := cm.Status == CommendationPublished
	villages, departments := map[int64]string{}, map[string]string{}
	for _, r := range cm.Pairings {
		p.Pairings = append(p.Pairings, PublicResult{Rank: r.Rank, DepartmentCode: r.Department, DepartmentName: r.DepartmentName,
			VillageCode: r.Village, VillageName: r.VillageName, Total: r.Total, Grade: r.Grade})
		villages[r.PairingID] = r.VillageName
		departments[r.Department] = r.DepartmentName
	}
	for _, d := range cm.Departments {
		p.Departments = append(p.Departments, PublicDepartment{Rank: d.Rank, Code: d.Department, Name: d.Name, Pairings: d.Pairings, Mean: d.Mean,
			Advanced: published && d.Advanced})
	}
	if published {
		p.PublishedAt = cm.PublishedAt
		for _, c := range cm.Cadres {
			if c.Status == CadreApproved {
				p.Commended = append(p.Commended, PublicCadre{Name: c.Name, DepartmentName: departments[c.Department], VillageName: villages[c.PairingID], Grade: c.Grade})
			}
		}
	}
	return p
}

// checkCadres checks a list of cadres named by person: at most a team's worth,
// each named once, and each as check says (given its field, cadres[i]).
func checkCadres[T any](cs []T, person func(T) string, check func(field string, c T) error) error {
	if len(cs) > maxTeam {
		return invalidField("cadres", fmt.Sprintf("至多 %d 人 at most %d people", maxTeam, maxTeam))
	}
	seen := map[string]bool{}
	for i, c := range cs {
		f := fmt.Sprintf("cadres[%d]", i)
		id := person(c)
		if id == "" || seen[id] {
			return invalidField(f+".person_id", "须非空且不重复 required, once each")
		}
		seen[id] = true
		if err := check(f, c); err != nil {
			return err
		}
	}
	return nil
}
