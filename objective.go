package baocun

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Objective is what a pairing's records say, gathered during the cycle and shown to
// acceptance raters: residency compliance, the approved reports' funds, projects and
// collective income, and the yearly evaluations. Money is in 万元, rates in percent,
// all exact decimals.
type Objective struct {
	// ResidencyMemberMonths were judged by the residency rule; ResidencyShort of
	// them fell under it. ResidencyCompliance is the share that met it (nil when
	// none was judged yet).
	ResidencyMemberMonths int              `json:"residency_member_months"`
	ResidencyShort        int              `json:"residency_short"`
	ResidencyCompliance   *decimal.Decimal `json:"residency_compliance"`
	// ShortMonths are each member's months under the rule (members with none are
	// absent): a cadre with any is not proposed for commendation.
	ShortMonths map[string]int `json:"short_months,omitempty"`
	// From the approved version of each period's report.
	ReportsApproved int             `json:"reports_approved"`
	FundsRaisedWan  decimal.Decimal `json:"funds_raised_wan"`
	Projects        map[string]int  `json:"projects"`
	ProjectsTotal   int             `json:"projects_total"`
	// BaselineIncomeWan is the village's collective income at launch; LatestIncomeWan
	// the latest approved report's; growth their difference (nil before a report).
	BaselineIncomeWan decimal.Decimal  `json:"baseline_income_wan"`
	LatestIncomeWan   *decimal.Decimal `json:"latest_income_wan"`
	IncomeGrowthWan   *decimal.Decimal `json:"income_growth_wan"`
	BaselineClass     int              `json:"baseline_class"`
	// The yearly 双评 rounds: their number and mean rates (nil before the first).
	Evaluations            int              `json:"evaluations"`
	VillagerSatisfaction   *decimal.Decimal `json:"villager_satisfaction"`
	GrassrootsSatisfaction *decimal.Decimal `json:"grassroots_satisfaction"`
	// SpotChecks (暗访) of the pairing, and the absences they found that no approved
	// leave excused: the inspectors' own count, not the team's.
	// Nil where the reader may not know of them (the team checked).
	SpotChecks        *int `json:"spot_checks,omitempty"`
	SpotCheckAbsences *int `json:"spot_check_absences,omitempty"`
}

// ObjectiveOf gathers a pairing's objective inputs from its timeline (oldest first)
// and its project ledger. A report counts in the version that was approved: the last
// one submitted for its period before the approval. A report that counted the
// ledger (issue 18: it names its projects) counts the projects it names that the
// ledger holds as its period's — each project is one period's, so none counts twice
// however reports raced — and a report from before the ledger its typed figures.
func ObjectiveOf(p *Pairing, events []Event, ledger []Project) (Objective, error) {
	o := Objective{Projects: map[string]int{}, BaselineClass: p.BaselineClass}
	var err error
	if o.BaselineIncomeWan, err = decimal.NewFromString(p.BaselineIncomeWan); err != nil {
		return o, fmt.Errorf("pairing %d baseline income %q: %w", p.ID, p.BaselineIncomeWan, err)
	}
	submitted := map[int]ReportInput{} // period → the latest version submitted
	approved := map[int]ReportInput{}  // period → the version approved
	latest := 0                        // the highest period approved
	var villager, grassroots decimal.Decimal
	for _, e := range events {
		switch e.Kind {
		case "period.ended":
			var c struct {
				MemberMonths int `json:"member_months"`
				Short        int `json:"member_months_short"`
			}
			if err := decodeEvent(e, &c); err != nil {
				return o, err
			}
			o.ResidencyMemberMonths += c.MemberMonths
			o.ResidencyShort += c.Short
		case "residency.flagged":
			if o.ShortMonths, err = addShortMonths(o.ShortMonths, e); err != nil {
				return o, err
			}
		case "report.submitted":
			var r struct {
				Report ReportInput `json:"report"`
			}
			if err := decodeEvent(e, &r); err != nil {
				return o, err
			}
			submitted[e.Period] = r.Report
		case "report.approved":
			approved[e.Period] = submitted[e.Period]
			latest = max(latest, e.Period)
		case "evaluation.submitted":
			var ev EvaluationInput
			if err := decodeEvent(e, &ev); err != nil {
				return o, err
			}
			v, err1 := decimal.NewFromString(ev.VillagerSatisfaction)
			g, err2 := decimal.NewFromString(ev.GrassrootsSatisfaction)
			if err1 != nil || err2 != nil {
				return o, fmt.Errorf("event %d: bad satisfaction rates", e.ID)
			}
			o.Evaluations++
			villager, grassroots = villager.Add(v), grassroots.Add(g)
		}
	}
	for period, r := range approved {
		o.ReportsApproved++
		if r.ProjectIDs != nil {
			var yuan int64
			for _, pr := range ledger {
				if pr.ReportedPeriod == period && slices.Contains(r.ProjectIDs, pr.ID) {
					own, higher, social := pr.Investment.Yuan()
					yuan += own + higher + social
					o.Projects[pr.Kind]++
					o.ProjectsTotal++
				}
			}
			o.FundsRaisedWan = o.FundsRaisedWan.Add(decimal.New(yuan, -4))
			continue
		}
		funds, err := decimal.NewFromString(r.FundsRaisedWan)
		if err != nil {
			return o, fmt.Errorf("period %d report funds %q: %w", period, r.FundsRaisedWan, err)
		}
		o.FundsRaisedWan = o.FundsRaisedWan.Add(funds)
		for k, n := range r.Projects {
			o.Projects[k] += n
			o.ProjectsTotal += n
		}
	}
	if latest > 0 {
		income, err := decimal.NewFromString(approved[latest].CollectiveIncomeWan)
		if err != nil {
			return o, fmt.Errorf("period %d report income: %w", latest, err)
		}
		growth := income.Sub(o.BaselineIncomeWan)
		o.LatestIncomeWan, o.IncomeGrowthWan = &income, &growth
	}
	if o.ResidencyMemberMonths > 0 {
		met := decimal.NewFromInt(int64(o.ResidencyMemberMonths - o.ResidencyShort))
		rate := met.Mul(decimal.NewFromInt(100)).DivRound(decimal.NewFromInt(int64(o.ResidencyMemberMonths)), 2)
		o.ResidencyCompliance = &rate
	}
	if o.Evaluations > 0 {
		n := decimal.NewFromInt(int64(o.Evaluations))
		v, g := villager.DivRound(n, 2), grassroots.DivRound(n, 2)
		o.VillagerSatisfaction, o.GrassrootsSatisfaction = &v, &g
	}
	return o, nil
}

func decodeEvent(e Event, v any) error {
	if len(e.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("event %d (%s): %w", e.ID, e.Kind, err)
	}
	return nil
}

// Inputs are the objective inputs a rubric's formulas read; what has not been
// gathered yet is absent.
func (o *Objective) Inputs() Inputs {
	in := Inputs{InputFundsRaisedWan: o.FundsRaisedWan, InputProjects: decimal.NewFromInt(int64(o.ProjectsTotal))}
	if o.SpotCheckAbsences != nil {
		in[InputSpotCheckAbsences] = decimal.NewFromInt(int64(*o.SpotCheckAbsences))
	}
	for k, v := range map[string]*decimal.Decimal{InputResidencyCompliance: o.ResidencyCompliance, InputIncomeGrowthWan: o.IncomeGrowthWan,
		InputVillagerSatisfaction: o.VillagerSatisfaction, InputGrassrootsSatisfaction: o.GrassrootsSatisfaction} {
		if v != nil {
			in[k] = *v
		}
	}
	return in
}

// ShortMonths counts each member's months under the residency rule in the
// "residency.flagged" events among events.
func ShortMonths(events []Event) (map[string]int, error) {
	var out map[string]int
	var err error
	for _, e := range events {
		if e.Kind == "residency.flagged" {
			if out, err = addShortMonths(out, e); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func addShortMonths(m map[string]int, e Event) (map[string]int, error) {
	var short []struct {
		PersonID string `json:"person_id"`
	}
	if err := decodeEvent(e, &short); err != nil {
		return m, err
	}
	for _, s := range short {
		if m == nil {
			m = map[string]int{}
		}
		m[s.PersonID]++
	}
	return m, nil
}
