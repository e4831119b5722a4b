package baocun_test

import (
	"encoding/json"
	"testing"

	"baocun"
)

func ev(kind string, period int, data any) baocun.Event {
	b, _ := json.Marshal(data)
	return baocun.Event{Kind: kind, Period: period, Data: b}
}

func rep(period int, funds, income string, projects map[string]int) map[string]any {
	return map[string]any{"version": 1, "report": baocun.ReportInput{Period: period, Summary: "s", FundsRaisedWan: funds, CollectiveIncomeWan: income, Projects: projects}}
}

// The objective inputs count only each period's approved report version, sum money
// exactly, and rate residency and satisfaction over what was recorded.
func TestObjectiveOf(t *testing.T) {
	p := &baocun.Pairing{ID: 1, BaselineClass: 3, BaselineIncomeWan: "2.5"}
	events := []baocun.Event{
		ev("report.submitted", 1, rep(1, "10.1", "3", map[string]int{"road": 1})),
		ev("report.returned", 1, map[string]string{"comment": "redo"}),
		ev("report.submitted", 1, rep(1, "10.2", "3.1", map[string]int{"road": 1, "water": 2})), // the approved version
		ev("report.approved", 1, nil),
		ev("residency.flagged", 1, []map[string]any{{"person_id": "P1", "month": "2026-02", "days": 3, "required": 10}}),
		ev("period.ended", 1, map[string]int{"member_months": 9, "member_months_short": 1}),
		ev("report.submitted", 2, rep(2, "0.1", "4.35", nil)),
		ev("report.approved", 2, nil),
		ev("residency.flagged", 2, []map[string]any{{"person_id": "P1", "month": "2026-05"}, {"person_id": "P2", "month": "2026-05"}}),
		ev("period.ended", 2, map[string]int{"member_months": 9, "member_months_short": 2}),
		ev("report.submitted", 3, rep(3, "999", "99", nil)), // never approved: does not count
		ev("evaluation.submitted", 0, baocun.EvaluationInput{Year: 1, Respondents: 100, VillagerSatisfaction: "90.5", GrassrootsSatisfaction: "88"}),
		ev("evaluation.submitted", 0, baocun.EvaluationInput{Year: 2, Respondents: 100, VillagerSatisfaction: "91", GrassrootsSatisfaction: "87.25"}),
	}
	o, err := baocun.ObjectiveOf(p, events, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name, got, want string
	}{
		{"funds", o.FundsRaisedWan.String(), "10.3"}, // 10.2 + 0.1, no float drift
		{"reports", itoa(o.ReportsApproved), "2"},
		{"projects", itoa(o.ProjectsTotal), "3"},
		{"water", itoa(o.Projects["water"]), "2"},
		{"latest income", o.LatestIncomeWan.String(), "4.35"},
		{"income growth", o.IncomeGrowthWan.String(), "1.85"},
		{"residency", o.ResidencyCompliance.String(), "83.33"}, // 15 of 18
		{"villager", o.VillagerSatisfaction.String(), "90.75"},
		{"grassroots", o.GrassrootsSatisfaction.String(), "87.63"}, // 87.625 rounded half away from zero
		{"class", itoa(o.BaselineClass), "3"},
		{"P1 short", itoa(o.ShortMonths["P1"]), "2"},
		{"P2 short", itoa(o.ShortMonths["P2"]), "1"},
		{"P3 short", itoa(o.ShortMonths["P3"]), "0"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}

	in := o.Inputs()
	for k, want := range map[string]string{baocun.InputFundsRaisedWan: "10.3", baocun.InputProjects: "3", baocun.InputIncomeGrowthWan: "1.85",
		baocun.InputResidencyCompliance: "83.33", baocun.InputVillagerSatisfaction: "90.75", baocun.InputGrassrootsSatisfaction: "87.63"} {
		if got := in[k]; got.String() != want {
			t.Errorf("input %s: %s, want %s", k, got, want)
		}
	}

	empty, err := baocun.ObjectiveOf(p, nil, nil)
	if _, ok := empty.Inputs()[baocun.InputVillagerSatisfaction]; ok {
		t.Error("an input not gathered yet is present")
	}
	if err != nil || empty.ResidencyCompliance != nil || empty.LatestIncomeWan != nil || empty.VillagerSatisfaction != nil || !empty.FundsRaisedWan.IsZero() {
		t.Fatalf("no records: %+v %v", empty, err)
	}
	if _, err := baocun.ObjectiveOf(&baocun.Pairing{BaselineIncomeWan: "x"}, nil, nil); err == nil {
		t.Fatal("a bad baseline was accepted")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A report that counted the ledger counts the projects it names that the ledger
// holds as its period's: two reports that both named a project (sent at once) count
// it once, in the period that claimed it; a report from before the ledger counts its
// typed figures.
func TestObjectiveCountsTheLedgerOnce(t *testing.T) {
	p := &baocun.Pairing{ID: 1, BaselineIncomeWan: "1"}
	ledger := []baocun.Project{
		{ID: 1, Kind: "road", Status: baocun.ProjectCompleted, ReportedPeriod: 2, Investment: baocun.Investment{OwnWan: "10", HigherWan: "0.5"}},
		{ID: 2, Kind: "water", Status: baocun.ProjectAccepted, ReportedPeriod: 3, Investment: baocun.Investment{SocialWan: "2"}},
		{ID: 3, Kind: "school", Status: baocun.ProjectCompleted, ReportedPeriod: 0, Investment: baocun.Investment{OwnWan: "100"}},
	}
	withLedger := func(period int, funds string, counts map[string]int, ids ...int64) map[string]any {
		return map[string]any{"version": 1, "report": baocun.ReportInput{Period: period, Summary: "s", FundsRaisedWan: funds, CollectiveIncomeWan: "2", Projects: counts, ProjectIDs: ids}}
	}
	events := []baocun.Event{
		ev("report.submitted", 1, rep(1, "7", "2", map[string]int{"other": 1})), // before the ledger
		ev("report.approved", 1, nil),
		ev("report.submitted", 2, withLedger(2, "12.5", map[string]int{"road": 1, "water": 1}, 1, 2)), // named 2, which period 3 claimed
		ev("report.approved", 2, nil),
		ev("report.submitted", 3, withLedger(3, "2", map[string]int{"water": 1}, 2)),
		ev("report.approved", 3, nil),
	}
	o, err := baocun.ObjectiveOf(p, events, ledger)
	if err != nil {
		t.Fatal(err)
	}
	if o.FundsRaisedWan.String() != "19.5" || o.ProjectsTotal != 3 || o.Projects["road"] != 1 || o.Projects["water"] != 1 || o.Projects["other"] != 1 || o.Projects["school"] != 0 {
		t.Fatalf("funds %s, projects %v (%d); want 7 + 10.5 + 2 = 19.5 and other, road, water once each", o.FundsRaisedWan, o.Projects, o.ProjectsTotal)
	}
}
