package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"baocun"
)

// taskKey and taskJoin group the open tasks: by the county and department each
// task carries, or by its pairing's kind or class.
var (
	taskKey  = map[string]string{"county": "t.jurisdiction", "department": "t.department_code", "kind": "p.kind", "class": "CAST(p.baseline_class AS TEXT)"}
	taskJoin = map[string]string{"kind": "JOIN pairings p ON p.id = t.pairing_id", "class": "JOIN pairings p ON p.id = t.pairing_id"}
)

// statQuery is one aggregate of the statistics and, once run, its rows: a key, then
// texts text columns, then ints integer ones; apply lays a row into its group.
type statQuery struct {
	name        string
	q           string
	args        []any
	texts, ints int
	apply       func(g *baocun.StatisticGroup, texts []string, ints []int64)
	rows        []statRow
	err         error
}

type statRow struct {
	key   string
	texts []string
	ints  []int64
}

func (q *statQuery) run(ctx context.Context, db *DB) {
	rows, err := db.QueryContext(ctx, q.q, q.args...)
	if err != nil {
		q.err = err
		return
	}
	defer rows.Close()
	for rows.Next() {
		r := statRow{texts: make([]string, q.texts), ints: make([]int64, q.ints)}
		dest := []any{&r.key}
		for i := range r.texts {
			dest = append(dest, &r.texts[i])
		}
		for i := range r.ints {
			dest = append(dest, &r.ints[i])
		}
		if q.err = rows.Scan(dest...); q.err != nil {
			return
		}
		q.rows = append(q.rows, r)
	}
	q.err = rows.Err()
}

// statisticKeys are each grouping's key, as SQL over the pairings p.
var statisticKeys = map[string]string{
	"county":     "p.county",
	"department": "p.department_code",
	"kind":       "p.kind",
	"class":      "CAST(p.baseline_class AS TEXT)",
}

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
	live := fmt.Sprintf("p.cycle_id = ? AND p.stage <> '%s'", baocun.StageCancelled)
	// Each figure's aggregate is one query; they run at once, each on its own
	// connection, and their rows are laid into the groups after.
	queries := []statQuery{
		{ // the pairings by stage, their class 2 and 3 villages at launch, their
			// residency counts, their villages by income band (as the directory holds
			// it now): one pass over the cycle's pairings
			name: "pairings",
			q: `SELECT ` + key + `, p.stage, v.income_band, COUNT(*), SUM(CASE WHEN p.baseline_class IN (2, 3) THEN 1 ELSE 0 END),
				SUM(p.residency_member_months), SUM(p.residency_short)
				FROM pairings p JOIN villages v ON v.code = p.village_code WHERE ` + live + ` GROUP BY ` + key + `, p.stage, v.income_band`,
			args: []any{cycleID}, texts: 1, ints: 5,
			apply: func(g *baocun.StatisticGroup, t []string, n []int64) {
				g.Stages[baocun.Stage(t[0])] += int(n[1])
				g.IncomeBands[baocun.IncomeBands[min(max(n[0], 0), 4)]] += int(n[1])
				g.Pairings += int(n[1])
				g.Class23Paired += int(n[2])
				g.ResidencyMemberMonths += int(n[3])
				g.ResidencyShort += int(n[4])
			},
		},
		{ // open tasks overdue and escalated (a cancelled pairing has none open: its
			// cancellation closed them); a task carries its county and department
			name: "tasks",
			q: `SELECT ` + taskKey[by] + `, SUM(CASE WHEN t.due_at < ? THEN 1 ELSE 0 END), SUM(CASE WHEN t.escalated_at <> '' THEN 1 ELSE 0 END)
				FROM tasks t ` + taskJoin[by] + ` WHERE t.cycle_id = ? AND t.status = ? AND t.pairing_id IS NOT NULL GROUP BY ` + taskKey[by],
			args: []any{FormatTime(now), cycleID, baocun.TaskOpen}, ints: 2,
			apply: func(g *baocun.StatisticGroup, _ []string, n []int64) {
				g.OverdueTasks, g.EscalatedTasks = int(n[0]), int(n[1])
			},
		},
		{ // the ledger: projects by kind, the money of those begun by source
			name: "projects",
			q: `SELECT ` + key + `, j.kind, COUNT(*), SUM(CASE WHEN j.status IN (?, ?) THEN 1 ELSE 0 END), SUM(CASE WHEN j.status <> ? THEN j.own_yuan ELSE 0 END),
				SUM(CASE WHEN j.status <> ? THEN j.higher_yuan ELSE 0 END), SUM(CASE WHEN j.status <> ? THEN j.social_yuan ELSE 0 END)
				FROM projects j JOIN pairings p ON p.id = j.pairing_id WHERE j.cycle_id = ? AND p.stage <> ? GROUP BY ` + key + `, j.kind`,
			args:  []any{baocun.ProjectCompleted, baocun.ProjectAccepted, baocun.ProjectPlanned, baocun.ProjectPlanned, baocun.ProjectPlanned, cycleID, baocun.StageCancelled},
			texts: 1, ints: 5,
			apply: func(g *baocun.StatisticGroup, t []string, n []int64) {
				g.Projects += int(n[0])
				g.ProjectsByKind[t[0]] += int(n[0])
				g.ProjectsCompleted += int(n[1])
				g.AddFunds(n[2], n[3], n[4])
			},
		},
		{ // acceptance: confirmed results, classes improved, villages out of class 2/3
			name: "results",
			q: `SELECT ` + key + `, COUNT(*), SUM(CASE WHEN a.new_class < p.baseline_class THEN 1 ELSE 0 END),
				SUM(CASE WHEN p.baseline_class IN (2, 3) AND a.new_class = 1 THEN 1 ELSE 0 END)
				FROM acceptance_results a JOIN pairings p ON p.id = a.pairing_id WHERE a.cycle_id = ? AND p.stage <> ? GROUP BY ` + key,
			args: []any{cycleID, baocun.StageCancelled}, ints: 3,
			apply: func(g *baocun.StatisticGroup, _ []string, n []int64) {
				g.Accepted, g.ClassImproved, g.MovedOutOf23 = int(n[0]), int(n[1]), int(n[2])
			},
		},
		{ // the directory's class 2 and 3 villages within the cycle's jurisdiction,
			// by county and class: the groups of a county or class include those with
			// no pairing, so what is left unpaired shows; the totals count them all
			name: "villages",
			q:    `SELECT county, CAST(class AS TEXT), COUNT(*) FROM villages WHERE class IN (2, 3) AND (? = ? OR county = ?) GROUP BY county, class`,
			args: []any{jurisdiction, baocun.CityJurisdiction, jurisdiction}, texts: 1, ints: 1,
		},
	}
	var wg sync.WaitGroup
	for i := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queries[i].run(ctx, db)
		}()
	}
	wg.Wait()
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
	total := 0
	for _, q := range queries {
		if q.err != nil {
			return nil, fmt.Errorf("statistics: %s: %w", q.name, q.err)
		}
		for _, r := range q.rows {
			if q.apply != nil {
				q.apply(group(r.key), r.texts, r.ints)
				continue
			}
			// The directory's villages: keyed by county, with the class.
			n := int(r.ints[0])
			total += n
			switch by {
			case "county":
				group(r.key).SetClass23Villages(n)
			case "class":
				group(r.texts[0]).SetClass23Villages(n)
			}
		}
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
