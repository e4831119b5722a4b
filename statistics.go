package baocun

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// City-wide statistics (issue 18): a cycle's figures grouped by county, department,
// pairing kind or village class, each a database aggregate over every pairing.

// StatisticsBy are the groupings a cycle's statistics may be asked for.
var StatisticsBy = []string{"county", "department", "kind", "class"}

// IncomeBands name the bands of a village's collective income (万元): none, under
// 1, 1 to under 5, 5 to under 10, 10 and more.
var IncomeBands = []string{"none", "under_1", "1_to_5", "5_to_10", "10_plus"}

// IncomeBandOf is the band (an index of IncomeBands) of a collective income in 万元,
// an exact decimal; one that does not read as a number is "none".
func IncomeBandOf(wan string) int {
	d, err := decimal.NewFromString(wan)
	switch {
	case err != nil || d.Sign() <= 0:
		return 0
	case d.LessThan(decimal.NewFromInt(1)):
		return 1
	case d.LessThan(decimal.NewFromInt(5)):
		return 2
	case d.LessThan(decimal.NewFromInt(10)):
		return 3
	}
	return 4
}

// Statistics are a cycle's figures by group, and their totals.
type Statistics struct {
	CycleID int64            `json:"cycle_id"`
	By      string           `json:"by"`
	At      time.Time        `json:"at"` // the time overdue tasks were counted at
	Groups  []StatisticGroup `json:"groups"`
	Totals  StatisticGroup   `json:"totals"`
}

// StatisticGroup is one group's figures. Every pairing counts in the group of its
// county, department, kind, or its village's class at launch; a cancelled pairing
// counts nowhere.
type StatisticGroup struct {
	Key      string `json:"key"`
	Pairings int    `json:"pairings"`
	// Stages counts the group's pairings by stage.
	Stages map[Stage]int `json:"stages"`
	// Residency: member-months judged by the rule at each period's end, those under
	// it, and the share that met it in percent (null before any was judged).
	ResidencyMemberMonths int              `json:"residency_member_months"`
	ResidencyShort        int              `json:"residency_short"`
	ResidencyCompliance   *decimal.Decimal `json:"residency_compliance"`
	// Open tasks past their due date, and open tasks escalated to the organisers.
	OverdueTasks   int `json:"overdue_tasks"`
	EscalatedTasks int `json:"escalated_tasks"`
	// From the project ledger: the investment (万元) of the projects under way,
	// completed or accepted (a planned project's money is not raised yet), by
	// source; every project by kind, and how many are completed or accepted.
	FundsWan          string            `json:"funds_wan"`
	FundsBySource     map[string]string `json:"funds_by_source"`
	Projects          int               `json:"projects"`
	ProjectsCompleted int               `json:"projects_completed"`
	ProjectsByKind    map[string]int    `json:"projects_by_kind"` // kinds with none are left out
	// Coverage: the directory's class 2 and 3 villages today within the group
	// (county, class; null by department or kind), and the group's pairings of a
	// village that was class 2 or 3 at launch.
	Class23Villages *int `json:"class23_villages"`
	Class23Paired   int  `json:"class23_paired"`
	// The paired villages by collective income band, as the directory holds it.
	IncomeBands map[string]int `json:"income_bands"`
	// Acceptance: pairings with a confirmed result, those whose village's class
	// improved, and those moved out of class 2 or 3 to class 1.
	Accepted      int `json:"accepted"`
	ClassImproved int `json:"class_improved"`
	MovedOutOf23  int `json:"moved_out_of_class23"`
	fundsYuan     [3]int64
}

// NewStatisticGroup is an empty group of key.
func NewStatisticGroup(key string) StatisticGroup {
	g := StatisticGroup{Key: key, Stages: map[Stage]int{}, ProjectsByKind: map[string]int{}, IncomeBands: map[string]int{}}
	for _, b := range IncomeBands {
		g.IncomeBands[b] = 0
	}
	return g
}

// AddFunds adds investment in yuan, by source (own, higher, social).
func (g *StatisticGroup) AddFunds(own, higher, social int64) {
	g.fundsYuan[0] += own
	g.fundsYuan[1] += higher
	g.fundsYuan[2] += social
}

// SetClass23Villages sets the group's count of class 2 and 3 villages.
func (g *StatisticGroup) SetClass23Villages(n int) {
	if g.Class23Villages == nil {
		g.Class23Villages = new(int)
	}
	*g.Class23Villages += n
}

// Finish computes the group's derived figures: money in 万元, the compliance rate.
func (g *StatisticGroup) Finish() {
	g.FundsWan = WanOf(g.fundsYuan[0] + g.fundsYuan[1] + g.fundsYuan[2])
	g.FundsBySource = map[string]string{SourceOwn: WanOf(g.fundsYuan[0]), SourceHigher: WanOf(g.fundsYuan[1]), SourceSocial: WanOf(g.fundsYuan[2])}
	g.ResidencyCompliance = nil
	if g.ResidencyMemberMonths > 0 {
		met := decimal.NewFromInt(int64(g.ResidencyMemberMonths - g.ResidencyShort))
		c := met.Mul(decimal.NewFromInt(100)).DivRound(decimal.NewFromInt(int64(g.ResidencyMemberMonths)), 2)
		g.ResidencyCompliance = &c
	}
}

// Add adds o's counts to g (for totals).
func (g *StatisticGroup) Add(o StatisticGroup) {
	g.Pairings += o.Pairings
	for k, n := range o.Stages {
		g.Stages[k] += n
	}
	g.ResidencyMemberMonths += o.ResidencyMemberMonths
	g.ResidencyShort += o.ResidencyShort
	g.OverdueTasks += o.OverdueTasks
	g.EscalatedTasks += o.EscalatedTasks
	g.AddFunds(o.fundsYuan[0], o.fundsYuan[1], o.fundsYuan[2])
	g.Projects += o.Projects
	g.ProjectsCompleted += o.ProjectsCompleted
	for k, n := range o.ProjectsByKind {
		g.ProjectsByKind[k] += n
	}
	g.Class23Paired += o.Class23Paired
	for k, n := range o.IncomeBands {
		g.IncomeBands[k] += n
	}
	g.Accepted += o.Accepted
	g.ClassImproved += o.ClassImproved
	g.MovedOutOf23 += o.MovedOutOf23
}

// ValidStatisticsBy reports whether by is a grouping StatisticsBy names.
func ValidStatisticsBy(by string) bool { return slices.Contains(StatisticsBy, by) }
