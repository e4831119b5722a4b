package baocun

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// The bulletin (通报, issue 18): each month or quarter an organiser publishes the
// cycle's figures as they stand — by county and by department, the departments best
// and worst by residency compliance, the overdue items by department. A published
// bulletin is kept exactly as published, and its SHA-256 is in the audit trail.

// Bulletin kinds, by the period they report.
const (
	BulletinMonthly   = "monthly"   // "2027-03"
	BulletinQuarterly = "quarterly" // "2027-Q1"
)

var bulletinPeriod = regexp.MustCompile(`^(20[0-9]{2})-(0[1-9]|1[0-2]|Q[1-4])$`)

// BulletinInput asks for the bulletin of a month ("2027-03") or a quarter
// ("2027-Q1").
type BulletinInput struct {
	Period string `json:"period"`
}

// Validate checks the period's form.
func (in BulletinInput) Validate() error {
	if !bulletinPeriod.MatchString(in.Period) {
		return invalidField("period", fmt.Sprintf("须为月份 2027-03 或季度 2027-Q1 must be a month like 2027-03 or a quarter like 2027-Q1, not %q", in.Period))
	}
	return nil
}

// Kind is the bulletin's kind; Start is the first day of the period it reports.
func (in BulletinInput) Kind() string {
	if in.Period[5] == 'Q' {
		return BulletinQuarterly
	}
	return BulletinMonthly
}

// Start is the first day of the period (China time).
func (in BulletinInput) Start() time.Time {
	year, _ := strconv.Atoi(in.Period[:4])
	month := 1
	if in.Kind() == BulletinQuarterly {
		month = 3*int(in.Period[6]-'1') + 1
	} else {
		month, _ = strconv.Atoi(in.Period[5:])
	}
	return time.Date(year, time.Month(month), 1, 0, 0, 0, 0, ChinaTime)
}

// End is the first day after the period.
func (in BulletinInput) End() time.Time {
	if in.Kind() == BulletinQuarterly {
		return in.Start().AddDate(0, 3, 0)
	}
	return in.Start().AddDate(0, 1, 0)
}

// NextEnd is the end of the period after: until then the period is the one just
// ended.
func (in BulletinInput) NextEnd() time.Time {
	if in.Kind() == BulletinQuarterly {
		return in.End().AddDate(0, 3, 0)
	}
	return in.End().AddDate(0, 1, 0)
}

// Bulletin is one published bulletin's content: what was published, exactly.
type Bulletin struct {
	CycleID     int64             `json:"cycle_id"`
	CycleName   string            `json:"cycle_name"`
	Period      string            `json:"period"`
	Kind        string            `json:"kind"`
	ByCounty    []StatisticGroup  `json:"by_county"`
	ByDept      []StatisticGroup  `json:"by_department"`
	Totals      StatisticGroup    `json:"totals"`
	DeptNames   map[string]string `json:"department_names"`
	Best        []BulletinRank    `json:"best"`  // by residency compliance, best first
	Worst       []BulletinRank    `json:"worst"` // worst first
	Overdue     []BulletinOverdue `json:"overdue"`
	FiguresAt   time.Time         `json:"figures_at"`
	PublishedBy string            `json:"published_by"`
}

// BulletinRank is one department's place by residency compliance.
type BulletinRank struct {
	Department string          `json:"department_code"`
	Name       string          `json:"name"`
	Compliance decimal.Decimal `json:"residency_compliance"`
	Pairings   int             `json:"pairings"`
}

// BulletinOverdue is one department's overdue and escalated items.
type BulletinOverdue struct {
	Department string `json:"department_code"`
	Name       string `json:"name"`
	Overdue    int    `json:"overdue_tasks"`
	Escalated  int    `json:"escalated_tasks"`
}

// BulletinSummary is a published bulletin in a list, and its hash.
type BulletinSummary struct {
	ID          int64     `json:"id"`
	CycleID     int64     `json:"cycle_id"`
	Period      string    `json:"period"`
	Kind        string    `json:"kind"`
	SHA256      string    `json:"sha256"`
	PublishedBy string    `json:"published_by"`
	PublishedAt time.Time `json:"published_at"`
}

// BulletinRanked is how many departments a bulletin names best, and worst.
const BulletinRanked = 5

// NewBulletin lays out a bulletin from the cycle's figures by county and by
// department: the departments judged by the residency rule ranked by compliance
// (ties: more pairings first, then the code), the best and worst few, and every
// department with overdue or escalated items, most first.
func NewBulletin(cy *Cycle, in BulletinInput, byCounty, byDept *Statistics, names map[string]string, by string) Bulletin {
	b := Bulletin{CycleID: cy.ID, CycleName: cy.Name, Period: in.Period, Kind: in.Kind(), ByCounty: byCounty.Groups, ByDept: byDept.Groups,
		Totals: byCounty.Totals, DeptNames: names, FiguresAt: byCounty.At, PublishedBy: by, Best: []BulletinRank{}, Worst: []BulletinRank{}, Overdue: []BulletinOverdue{}}
	var judged []BulletinRank
	for _, g := range byDept.Groups {
		if g.ResidencyCompliance != nil {
			judged = append(judged, BulletinRank{Department: g.Key, Name: names[g.Key], Compliance: *g.ResidencyCompliance, Pairings: g.Pairings})
		}
		if g.OverdueTasks > 0 || g.EscalatedTasks > 0 {
			b.Overdue = append(b.Overdue, BulletinOverdue{Department: g.Key, Name: names[g.Key], Overdue: g.OverdueTasks, Escalated: g.EscalatedTasks})
		}
	}
	slices.SortFunc(judged, func(x, y BulletinRank) int {
		return cmp.Or(y.Compliance.Cmp(x.Compliance), cmp.Compare(y.Pairings, x.Pairings), cmp.Compare(x.Department, y.Department))
	})
	// The best few and the worst few, never one department in both lists: with
	// fewer than twice BulletinRanked judged, the better half is the best.
	best := min(BulletinRanked, (len(judged)+1)/2)
	worst := min(BulletinRanked, len(judged)-best)
	b.Best = append(b.Best, judged[:best]...)
	for i := len(judged) - 1; i >= len(judged)-worst; i-- {
		b.Worst = append(b.Worst, judged[i])
	}
	slices.SortFunc(b.Overdue, func(x, y BulletinOverdue) int {
		return cmp.Or(cmp.Compare(y.Overdue, x.Overdue), cmp.Compare(y.Escalated, x.Escalated), cmp.Compare(x.Department, y.Department))
	})
	return b
}
