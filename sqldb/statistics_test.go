package sqldb_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// statisticsCity seeds a cycle of 60 pairings over three counties and four
// departments, with every record the statistics read: residency periods, open,
// overdue, escalated and closed tasks, ledger projects at every status, confirmed
// results, some pairings cancelled, unpaired class 2/3 villages, and another cycle
// whose records must not count. It returns the cycle's id.
func statisticsCity(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(18, 2026))
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	counties := []string{"县A", "县B", "县C"}
	for d := 1; d <= 4; d++ {
		exec(`INSERT INTO departments (code, name, level, county) VALUES (?, ?, '市直', '')`, fmt.Sprintf("D%d", d), fmt.Sprintf("部门%d", d))
		exec(`INSERT INTO people (id, name, department_code) VALUES (?, ?, ?)`, fmt.Sprintf("P%d", d), fmt.Sprintf("人%d", d), fmt.Sprintf("D%d", d))
	}
	incomes := []string{"0", "0.5", "0.9999", "1", "4.99", "5", "9.5", "10", "23.75"}
	var vs []baocun.Village // through the directory's import, which keeps each income's band
	for v := 0; v < 90; v++ {
		vs = append(vs, baocun.Village{Code: fmt.Sprintf("V%02d", v), Name: fmt.Sprintf("村%d", v), County: counties[v%3], Township: "镇",
			Class: 1 + r.IntN(3), CollectiveIncomeWan: incomes[r.IntN(len(incomes))]})
	}
	if err := db.ImportVillages(ctx, vs, nil); err != nil {
		t.Fatal(err)
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01", Class1Support: baocun.Class1Warn}
	settings.Defaults()
	launch := func(from, to int) int64 {
		var ps []baocun.PairingSpec
		for v := from; v < to; v++ {
			kind := baocun.KindSupport
			if v%4 == 0 {
				kind = baocun.KindModel
			}
			ps = append(ps, baocun.PairingSpec{DepartmentCode: fmt.Sprintf("D%d", 1+v%4), VillageCode: fmt.Sprintf("V%02d", v), Kind: kind})
		}
		id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "统计", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()}, ps,
			&baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	other := launch(60, 70) // another cycle's records count in it only
	cycle := launch(0, 60)
	var pairings []baocun.Pairing
	for _, c := range []int64{other, cycle} {
		ps, err := db.Pairings(ctx, baocun.PairingFilter{CycleID: c, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		pairings = append(pairings, ps...)
	}
	now := time.Now().UTC()
	for i, p := range pairings {
		ch := baocun.Change{At: now}
		if i%3 == 1 {
			ch.Stages = []baocun.StageChange{{PairingID: p.ID, Stage: baocun.StageReviews, Period: 1}}
		}
		for period := 1; period <= r.IntN(4); period++ {
			mm := 2 + r.IntN(3)
			ch.Events = append(ch.Events, baocun.Event{PairingID: p.ID, Kind: "period.ended", Actor: "system", ProgrammeAt: "2027-03-31", Period: period,
				Data: fmt.Appendf(nil, `{"member_months":%d,"member_months_short":%d}`, mm, r.IntN(mm+1))})
		}
		for k := 0; k < r.IntN(4); k++ {
			due := now.Add(time.Duration(r.IntN(200)-100) * time.Hour)
			ch.Open = append(ch.Open, baocun.Task{ID: fmt.Sprintf("%d-%d", p.ID, k+1), Kind: baocun.TaskSubmitReport, PairingID: p.ID, CycleID: p.CycleID,
				Role: baocun.RoleTeamMember, Jurisdiction: p.County, Department: p.Department, Village: p.Village, DueAt: due, DueDate: "2027-04-10", RemindAt: due})
			switch r.IntN(3) {
			case 0:
				ch.Escalate = append(ch.Escalate, fmt.Sprintf("%d-%d", p.ID, k+1))
			}
		}
		if err := db.ApplyChange(ctx, ch); err != nil {
			t.Fatal(err)
		}
		// Some tasks are done: they count as neither overdue nor escalated.
		if len(ch.Open) > 0 && r.IntN(2) == 0 {
			if err := db.ApplyChange(ctx, baocun.Change{At: now, Close: []baocun.TaskClose{{ID: ch.Open[0].ID, Status: baocun.TaskDone, By: "u"}}}); err != nil {
				t.Fatal(err)
			}
		}
		for k := 0; k < r.IntN(4); k++ {
			inv := baocun.Investment{OwnWan: decimal.New(int64(r.IntN(100000)), -4).String(), HigherWan: decimal.New(int64(r.IntN(5000000)), -3).String()}
			if r.IntN(2) == 0 {
				inv.SocialWan = fmt.Sprint(r.IntN(50))
			}
			pr, err := db.AddProject(ctx, baocun.Project{PairingID: p.ID, CycleID: p.CycleID, Kind: baocun.ProjectKinds[r.IntN(len(baocun.ProjectKinds))],
				Name: "项目", Quantity: "1", Unit: "km", Investment: inv, PlannedOn: "2027-02-01", CreatedBy: "m"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range baocun.ProjectStatuses[1 : 1+r.IntN(3)] {
				if _, err := db.StepProject(ctx, p.ID, pr.ID, baocun.ProjectStep{Status: st, On: "2027-03-01", By: "m"}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if r.IntN(3) == 0 {
			res := baocun.Result{Total: decimal.NewFromInt(80), Grade: baocun.GradeGood}
			if err := db.ApplyChange(ctx, baocun.Change{At: now, Result: &baocun.AcceptanceResult{PairingID: p.ID, CycleID: p.CycleID, Result: res,
				NewClass: 1 + r.IntN(3), ConfirmedBy: "org", ConfirmedAt: now}}); err != nil {
				t.Fatal(err)
			}
		}
		if i%11 == 5 { // cancelled, as a cancellation is written (its open tasks closed): counts nowhere
			ch := baocun.Change{At: now, Stages: []baocun.StageChange{{PairingID: p.ID, Stage: baocun.StageCancelled}}}
			for k := range 4 {
				ch.Close = append(ch.Close, baocun.TaskClose{ID: fmt.Sprintf("%d-%d", p.ID, k+1), Status: baocun.TaskCancelled, By: "system", IfOpen: true})
			}
			if err := db.ApplyChange(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cycle
}

// Every statistic, for every grouping and the totals, is what an independent query
// of the same data says: each figure counted on its own, per pairing, with the income
// bands and the compliance rate worked out here. On both databases.
func TestStatistics(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		cycle := statisticsCity(t, db)
		now := time.Now().UTC()

		// Each live pairing of the cycle, as a row read here.
		type row struct {
			id                                 int64
			county, dept, kind, class, village string
			baseline                           int
			income                             decimal.Decimal
			stage                              baocun.Stage
		}
		var rows []row
		rs, err := db.QueryContext(ctx, `SELECT p.id, p.county, p.department_code, p.kind, p.baseline_class, v.code, v.collective_income_wan, p.stage
			FROM pairings p, villages v WHERE v.code = p.village_code AND p.cycle_id = ? AND p.stage <> 'cancelled'`, cycle)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var r row
			var income string
			if err := rs.Scan(&r.id, &r.county, &r.dept, &r.kind, &r.baseline, &r.village, &income, &r.stage); err != nil {
				t.Fatal(err)
			}
			r.class, r.income = fmt.Sprint(r.baseline), decimal.RequireFromString(income)
			rows = append(rows, r)
		}
		rs.Close()
		one := func(q string, args ...any) int64 {
			t.Helper()
			var n int64
			if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		band := func(x decimal.Decimal) string {
			switch {
			case x.Sign() <= 0:
				return "none"
			case x.LessThan(decimal.NewFromInt(1)):
				return "under_1"
			case x.LessThan(decimal.NewFromInt(5)):
				return "1_to_5"
			case x.LessThan(decimal.NewFromInt(10)):
				return "5_to_10"
			}
			return "10_plus"
		}
		// want computes a group's figures from the pairings in it, one query a figure
		// a pairing.
		want := func(key string, in []row) baocun.StatisticGroup {
			g := baocun.NewStatisticGroup(key)
			var own, higher, social int64
			for _, r := range in {
				g.Pairings++
				g.Stages[r.stage]++
				if r.baseline == 2 || r.baseline == 3 {
					g.Class23Paired++
				}
				g.IncomeBands[band(r.income)]++
				g.ResidencyMemberMonths += int(one("SELECT COALESCE(SUM(member_months), 0) FROM pairing_residency WHERE pairing_id = ?", r.id))
				g.ResidencyShort += int(one("SELECT COALESCE(SUM(short_months), 0) FROM pairing_residency WHERE pairing_id = ?", r.id))
				g.OverdueTasks += int(one("SELECT COUNT(*) FROM tasks WHERE pairing_id = ? AND status = 'open' AND due_at < ?", r.id, sqldb.FormatTime(now)))
				g.EscalatedTasks += int(one("SELECT COUNT(*) FROM tasks WHERE pairing_id = ? AND status = 'open' AND escalated_at <> ''", r.id))
				ps, err := db.Projects(ctx, r.id)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					g.Projects++
					g.ProjectsByKind[p.Kind]++ // only the kinds it has
					if p.Status == baocun.ProjectCompleted || p.Status == baocun.ProjectAccepted {
						g.ProjectsCompleted++
					}
					if p.Status != baocun.ProjectPlanned {
						o, h, s := p.Investment.Yuan()
						own, higher, social = own+o, higher+h, social+s
					}
				}
				if n := one("SELECT COUNT(*) FROM acceptance_results WHERE pairing_id = ?", r.id); n > 0 {
					g.Accepted++
					nc := int(one("SELECT new_class FROM acceptance_results WHERE pairing_id = ?", r.id))
					if nc < r.baseline {
						g.ClassImproved++
					}
					if nc == 1 && r.baseline > 1 {
						g.MovedOutOf23++
					}
				}
			}
			g.AddFunds(own, higher, social)
			g.Finish()
			return g
		}
		class23 := func(where string, args ...any) *int {
			n := int(one("SELECT COUNT(*) FROM villages WHERE class IN (2, 3) "+where, args...))
			return &n
		}
		same := func(t *testing.T, got, want baocun.StatisticGroup) {
			t.Helper()
			eq := func(name string, g, w any) {
				t.Helper()
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("group %q %s = %v, want %v", want.Key, name, g, w)
				}
			}
			eq("pairings", got.Pairings, want.Pairings)
			eq("stages", got.Stages, want.Stages)
			eq("residency_member_months", got.ResidencyMemberMonths, want.ResidencyMemberMonths)
			eq("residency_short", got.ResidencyShort, want.ResidencyShort)
			eq("residency_compliance", deref(got.ResidencyCompliance), deref(want.ResidencyCompliance))
			eq("overdue_tasks", got.OverdueTasks, want.OverdueTasks)
			eq("escalated_tasks", got.EscalatedTasks, want.EscalatedTasks)
			eq("funds_wan", got.FundsWan, want.FundsWan)
			eq("funds_by_source", got.FundsBySource, want.FundsBySource)
			eq("projects", got.Projects, want.Projects)
			eq("projects_completed", got.ProjectsCompleted, want.ProjectsCompleted)
			eq("projects_by_kind", got.ProjectsByKind, want.ProjectsByKind)
			eq("class23_villages", deref(got.Class23Villages), deref(want.Class23Villages))
			eq("class23_paired", got.Class23Paired, want.Class23Paired)
			eq("income_bands", got.IncomeBands, want.IncomeBands)
			eq("accepted", got.Accepted, want.Accepted)
			eq("class_improved", got.ClassImproved, want.ClassImproved)
			eq("moved_out_of_class23", got.MovedOutOf23, want.MovedOutOf23)
		}
		for _, by := range baocun.StatisticsBy {
			t.Run(by, func(t *testing.T) {
				st, err := db.Statistics(ctx, cycle, by, now)
				if err != nil {
					t.Fatal(err)
				}
				keyOf := func(r row) string {
					return map[string]string{"county": r.county, "department": r.dept, "kind": r.kind, "class": r.class}[by]
				}
				var keys []string
				for _, r := range rows {
					keys = append(keys, keyOf(r))
				}
				if by == "county" || by == "class" { // a county or class with unpaired lagging villages is a group too
					for _, c := range []string{"县A", "县B", "县C"} {
						if by == "county" {
							keys = append(keys, c)
						}
					}
					if by == "class" {
						keys = append(keys, "2", "3")
					}
				}
				slices.Sort(keys)
				keys = slices.Compact(keys)
				var got []string
				for _, g := range st.Groups {
					got = append(got, g.Key)
				}
				if !slices.Equal(got, keys) {
					t.Fatalf("groups %v, want %v", got, keys)
				}
				for _, g := range st.Groups {
					var in []row
					for _, r := range rows {
						if keyOf(r) == g.Key {
							in = append(in, r)
						}
					}
					w := want(g.Key, in)
					switch by {
					case "county":
						w.Class23Villages = class23("AND county = ?", g.Key)
					case "class":
						w.Class23Villages = class23("AND CAST(class AS TEXT) = ?", g.Key)
					}
					same(t, g, w)
				}
				total := want("", rows)
				total.Class23Villages = class23("")
				same(t, st.Totals, total)
				if total.Pairings >= 60 || total.Projects == 0 || total.OverdueTasks == 0 || total.EscalatedTasks == 0 || total.Accepted == 0 || total.ResidencyMemberMonths == 0 {
					t.Fatalf("the seed left a figure empty: %+v", total)
				}
			})
		}
		if _, err := db.Statistics(ctx, cycle, "township", now); baocun.ErrorCode(err) != baocun.EINVALID || !strings.Contains(err.Error(), "by") {
			t.Fatalf("by township: %v", err)
		}
		if _, err := db.Statistics(ctx, 999, "county", now); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("no cycle: %v", err)
		}
	})
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Upgrading a database whose pairings have ended periods already keeps their
// residency counts where the statistics sum them, as the period.ended events carry
// them; a period's end written after is kept once.
func TestUpgradeKeepsResidencyCounts(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		old := sqldb.OpenAt(t, dsn, 11)
		ctx := context.Background()
		for _, q := range []string{
			`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
			`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3)`,
			`INSERT INTO cycles (name, jurisdiction, settings, status, launched_by, launched_at) VALUES ('c', '*', '{}', 'running', 'org', '2027-01-01T00:00:00Z')`,
			`INSERT INTO pairings (cycle_id, ordinal, department_code, village_code, kind, county, baseline_class, baseline_income_wan, stage) VALUES (1, 0, 'D1', 'V1', 'support', '县A', 3, '0', 'reviews')`,
			`INSERT INTO pairing_events (pairing_id, at, programme_at, actor, kind, period, data) VALUES
				(1, '2027-04-01T00:00:00Z', '2027-03-31', 'system', 'period.ended', 1, '{"member_months":9,"member_months_short":2}'),
				(1, '2027-07-01T00:00:00Z', '2027-06-30', 'system', 'period.ended', 2, '{"member_months":9}'),
				(1, '2027-07-01T00:00:00Z', '2027-06-30', 'org', 'report.submitted', 2, '{"member_months":100}')`,
		} {
			if _, err := old.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		old.Close()
		db := sqldbtest.Open(t, dsn)
		if n := count(t, db, "SELECT SUM(member_months) FROM pairing_residency WHERE pairing_id = 1"); n != 18 {
			t.Errorf("member-months kept: %d, want 18", n)
		}
		if n := count(t, db, "SELECT SUM(short_months) FROM pairing_residency WHERE pairing_id = 1"); n != 2 {
			t.Errorf("short months kept: %d, want 2", n)
		}
		end := baocun.Change{At: time.Now(), Events: []baocun.Event{{PairingID: 1, Kind: "period.ended", Actor: "system", ProgrammeAt: "2027-09-30", Period: 3,
			Data: []byte(`{"member_months":9,"member_months_short":1}`)}}}
		for range 2 {
			if err := db.ApplyChange(ctx, end); err != nil {
				t.Fatal(err)
			}
		}
		st, err := db.Statistics(ctx, 1, "county", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if st.Totals.ResidencyMemberMonths != 27 || st.Totals.ResidencyShort != 3 || st.Totals.ResidencyCompliance.String() != "88.89" {
			t.Fatalf("after the upgrade and a period's end written twice: %+v", st.Totals)
		}
	})
}
