package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"baocun"
)

// statisticKeys are each grouping's key, as SQL over the pairings p.
var statisticKeys = map[string]string{
	"county":     "p.county",
	"department": "p.department_code",
	"kind":       "p.kind",
	"class":      "CAST(p.baseline_class AS TEXT)",
}

// incomeOf is a village v's collective income as a number, for its band.
const incomeOf = "CAST(v.collective_income_wan AS NUMERIC)"

// Statistics are a cycle's figures grouped by (baocun.StatisticsBy), each group a
// handful of aggregates over every pairing, with no cap; overdue tasks are those
// due before now.
func (db *DB) Statistics(ctx context.Context, cycleID int64, by string, now time.Time) (*baocun.Statistics, error) {
	key, ok := statisticKeys[by]
	if !ok {
		return nil, &baocun.Error{Code: baocun.EINVALID, Message: "by: 须为 must be one of " + strings.Join(baocun.StatisticsBy, ", "), Fields: map[string]string{"by": "unknown grouping"}}
	}
	var jurisdiction string
	if err := db.QueryRowContext(ctx, "SELECT jurisdiction FROM cycles WHERE id = ?", cycleID).Scan(&jurisdiction); errors.Is(err, sql.ErrNoRows) {
		return nil, baocun.Errorf(baocun.ENOTFOUND, "没有第 %d 轮 No cycle %d.", cycleID, cycleID)
	} else if err != nil {
		return nil, err
	}
	groups := map[string]*baocun.StatisticGroup{}
	group := func(k string) *baocun.StatisticGroup {
		g := groups[k]
		if g == nil {
			ng := baocun.NewStatisticGroup(k)
			g = &ng
			groups[k] = g
		}
		return g
	}
	live := fmt.Sprintf("p.cycle_id = ? AND p.stage <> '%s'", baocun.StageCancelled)
	each := func(q string, args []any, scan func(g *baocun.StatisticGroup, dest ...any) []any, apply func(g *baocun.StatisticGroup, vals []any)) error {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			vals := scan(nil)
			if err := rows.Scan(append([]any{&k}, vals...)...); err != nil {
				return err
			}
			apply(group(k), vals)
		}
		return rows.Err()
	}
	ints := func(n int) func(*baocun.StatisticGroup, ...any) []any {
		return func(*baocun.StatisticGroup, ...any) []any {
			out := make([]any, n)
			for i := range out {
				out[i] = new(int64)
			}
			return out
		}
	}
	iv := func(vals []any, i int) int { return int(*vals[i].(*int64)) }

	// The pairings, their class 2 and 3 villages at launch, their income bands.
	if err := each(`SELECT `+key+`, COUNT(*), SUM(CASE WHEN p.baseline_class IN (2, 3) THEN 1 ELSE 0 END),
		SUM(CASE WHEN `+incomeOf+` <= 0 THEN 1 ELSE 0 END),
		SUM(CASE WHEN `+incomeOf+` > 0 AND `+incomeOf+` < 1 THEN 1 ELSE 0 END),
		SUM(CASE WHEN `+incomeOf+` >= 1 AND `+incomeOf+` < 5 THEN 1 ELSE 0 END),
		SUM(CASE WHEN `+incomeOf+` >= 5 AND `+incomeOf+` < 10 THEN 1 ELSE 0 END),
		SUM(CASE WHEN `+incomeOf+` >= 10 THEN 1 ELSE 0 END)
		FROM pairings p JOIN villages v ON v.code = p.village_code WHERE `+live+` GROUP BY `+key, []any{cycleID}, ints(7),
		func(g *baocun.StatisticGroup, vals []any) {
			g.Pairings, g.Class23Paired = iv(vals, 0), iv(vals, 1)
			for i, b := range baocun.IncomeBands {
				g.IncomeBands[b] = iv(vals, 2+i)
			}
		}); err != nil {
		return nil, fmt.Errorf("statistics: pairings: %w", err)
	}
	// The pairings by stage.
	var stage string
	if err := each(`SELECT `+key+`, p.stage, COUNT(*) FROM pairings p WHERE `+live+` GROUP BY `+key+`, p.stage`, []any{cycleID},
		func(*baocun.StatisticGroup, ...any) []any { return []any{&stage, new(int64)} },
		func(g *baocun.StatisticGroup, vals []any) { g.Stages[baocun.Stage(*vals[0].(*string))] = iv(vals, 1) }); err != nil {
		return nil, fmt.Errorf("statistics: stages: %w", err)
	}
	// Residency, as each period's end judged it.
	if err := each(`SELECT `+key+`, SUM(r.member_months), SUM(r.short_months)
		FROM pairings p JOIN pairing_residency r ON r.pairing_id = p.id WHERE `+live+` GROUP BY `+key, []any{cycleID}, ints(2),
		func(g *baocun.StatisticGroup, vals []any) {
			g.ResidencyMemberMonths, g.ResidencyShort = iv(vals, 0), iv(vals, 1)
		}); err != nil {
		return nil, fmt.Errorf("statistics: residency: %w", err)
	}
	// Open tasks overdue and escalated.
	if err := each(`SELECT `+key+`, SUM(CASE WHEN t.due_at < ? THEN 1 ELSE 0 END), SUM(CASE WHEN t.escalated_at <> '' THEN 1 ELSE 0 END)
		FROM tasks t JOIN pairings p ON p.id = t.pairing_id WHERE t.cycle_id = ? AND t.status = ? AND p.stage <> ? GROUP BY `+key,
		[]any{FormatTime(now), cycleID, baocun.TaskOpen, baocun.StageCancelled}, ints(2),
		func(g *baocun.StatisticGroup, vals []any) {
			g.OverdueTasks, g.EscalatedTasks = iv(vals, 0), iv(vals, 1)
		}); err != nil {
		return nil, fmt.Errorf("statistics: tasks: %w", err)
	}
	// The ledger: projects by kind, the money of those begun by source.
	var kind string
	if err := each(`SELECT `+key+`, j.kind, COUNT(*), SUM(CASE WHEN j.status IN (?, ?) THEN 1 ELSE 0 END), SUM(CASE WHEN j.status <> ? THEN j.own_yuan ELSE 0 END),
		SUM(CASE WHEN j.status <> ? THEN j.higher_yuan ELSE 0 END), SUM(CASE WHEN j.status <> ? THEN j.social_yuan ELSE 0 END)
		FROM projects j JOIN pairings p ON p.id = j.pairing_id WHERE j.cycle_id = ? AND p.stage <> ? GROUP BY `+key+`, j.kind`,
		[]any{baocun.ProjectCompleted, baocun.ProjectAccepted, baocun.ProjectPlanned, baocun.ProjectPlanned, baocun.ProjectPlanned, cycleID, baocun.StageCancelled},
		func(*baocun.StatisticGroup, ...any) []any {
			return []any{&kind, new(int64), new(int64), new(int64), new(int64), new(int64)}
		},
		func(g *baocun.StatisticGroup, vals []any) {
			n := iv(vals, 1)
			g.Projects += n
			g.ProjectsByKind[*vals[0].(*string)] += n
			g.ProjectsCompleted += iv(vals, 2)
			g.AddFunds(*vals[3].(*int64), *vals[4].(*int64), *vals[5].(*int64))
		}); err != nil {
		return nil, fmt.Errorf("statistics: projects: %w", err)
	}
	// Acceptance: confirmed results, classes improved, villages out of class 2/3.
	if err := each(`SELECT `+key+`, COUNT(*), SUM(CASE WHEN a.new_class < p.baseline_class THEN 1 ELSE 0 END),
		SUM(CASE WHEN p.baseline_class IN (2, 3) AND a.new_class = 1 THEN 1 ELSE 0 END)
		FROM acceptance_results a JOIN pairings p ON p.id = a.pairing_id WHERE a.cycle_id = ? AND p.stage <> ? GROUP BY `+key,
		[]any{cycleID, baocun.StageCancelled}, ints(3),
		func(g *baocun.StatisticGroup, vals []any) {
			g.Accepted, g.ClassImproved, g.MovedOutOf23 = iv(vals, 0), iv(vals, 1), iv(vals, 2)
		}); err != nil {
		return nil, fmt.Errorf("statistics: results: %w", err)
	}
	// The directory's class 2 and 3 villages within the cycle's jurisdiction, by
	// county and class: the groups of a county or class include those with no
	// pairing, so what is left unpaired shows.
	total := 0
	rows, err := db.QueryContext(ctx, `SELECT county, class, COUNT(*) FROM villages WHERE class IN (2, 3) AND (? = ? OR county = ?) GROUP BY county, class`,
		jurisdiction, baocun.CityJurisdiction, jurisdiction)
	if err != nil {
		return nil, fmt.Errorf("statistics: villages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var county string
		var class, n int
		if err := rows.Scan(&county, &class, &n); err != nil {
			return nil, err
		}
		total += n
		switch by {
		case "county":
			group(county).SetClass23Villages(n)
		case "class":
			group(fmt.Sprint(class)).SetClass23Villages(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	st := &baocun.Statistics{CycleID: cycleID, By: by, At: now.UTC(), Groups: []baocun.StatisticGroup{}, Totals: baocun.NewStatisticGroup("")}
	for _, g := range groups {
		if (by == "county" || by == "class") && g.Class23Villages == nil {
			g.SetClass23Villages(0)
		}
		g.Finish()
		st.Totals.Add(*g)
		st.Groups = append(st.Groups, *g)
	}
	slices.SortFunc(st.Groups, func(a, b baocun.StatisticGroup) int { return strings.Compare(a.Key, b.Key) })
	st.Totals.SetClass23Villages(total)
	st.Totals.Finish()
	return st, nil
}
