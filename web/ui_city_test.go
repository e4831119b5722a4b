package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// seedCity adds a city to db: n pairings in a running cycle, three villages a
// pairing in seven counties (the first ninety per cent of the paired ones lagging,
// class 2 or 3), a department for every three pairings, each pairing with periods
// of residency counts, an open task (overdue for every fifth) and a road in the
// ledger for every third. With n = 595 it is the seed's city: 1,785 villages, 199
// departments. It returns the cycle's id.
func seedCity(tb testing.TB, db *sqldb.DB, n, periods int) int64 {
	tb.Helper()
	ctx := context.Background()
	insert := func(head string, rows []string) {
		for from := 0; from < len(rows); from += 200 {
			q := head + strings.Join(rows[from:min(from+200, len(rows))], ", ")
			if _, err := db.ExecContext(ctx, q); err != nil {
				tb.Fatalf("%.80s…: %v", q, err)
			}
		}
	}
	counties := []string{"青山县", "白水县", "东岭县", "西河县", "南湖区", "北塘区", "中州区"}
	var depts, people []string
	var villages []baocun.Village
	for d := range (n + 2) / 3 {
		depts = append(depts, fmt.Sprintf("('C%05d', '市直部门%d', '市直', '')", d, d))
		people = append(people, fmt.Sprintf("('CP%05d', '干部%d', 'C%05d')", d, d, d))
	}
	for v := range 3 * n {
		class := 1
		if v < n*9/10 {
			class = 2 + v%2
		}
		villages = append(villages, baocun.Village{Code: fmt.Sprintf("CV%06d", v), Name: fmt.Sprintf("村%d", v), County: counties[v%7],
			Township: fmt.Sprintf("镇%d", v%40), Class: class, CollectiveIncomeWan: fmt.Sprintf("%d.%d", v%17, v%10)})
	}
	insert("INSERT INTO departments (code, name, level, county) VALUES ", depts)
	insert("INSERT INTO people (id, name, department_code) VALUES ", people)
	if err := db.ImportVillages(ctx, villages, nil); err != nil { // as an import writes them, each income's band kept
		tb.Fatal(err)
	}
	ps := make([]baocun.PairingSpec, n)
	for i := range ps {
		kind := baocun.KindSupport
		if i >= n*9/10 {
			kind = baocun.KindModel
		}
		ps[i] = baocun.PairingSpec{DepartmentCode: fmt.Sprintf("C%05d", i/3), VillageCode: fmt.Sprintf("CV%06d", i), Kind: kind}
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01"}
	settings.Defaults()
	id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "全市 2027—2029 city cycle", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()},
		ps, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
	if err != nil {
		tb.Fatal(err)
	}
	var first int64
	if err := db.QueryRowContext(ctx, "SELECT MIN(id) FROM pairings WHERE cycle_id = ?", id).Scan(&first); err != nil {
		tb.Fatal(err)
	}
	var residency, tasks, projects []string
	now := time.Now()
	for i := range int64(n) {
		pid := first + i
		for p := 1; p <= periods; p++ {
			residency = append(residency, fmt.Sprintf("(%d, %d, 9, %d)", pid, p, (i+int64(p))%4))
		}
		due := now.Add(time.Duration(24*(i%5)-12) * time.Hour) // every fifth is overdue
		tasks = append(tasks, fmt.Sprintf("('%d-1', 'submit_report', %d, %d, 'team_member', '%s', 'C%05d', 'CV%06d', '%s', '2027-04-10', '%s', 'open', '%s')",
			pid, pid, id, counties[i%7], i/3, i, sqldb.FormatTime(due), sqldb.FormatTime(due), sqldb.FormatTime(now)))
		if i%3 == 0 {
			projects = append(projects, fmt.Sprintf("(%d, %d, 'road', '村道', '2', 'km', %d, 50000, 0, 'completed', '2027-01-01', 'm', '%s', 'm', '%s')",
				pid, id, 10000*(i%7), sqldb.FormatTime(now), sqldb.FormatTime(now)))
		}
	}
	insert("INSERT INTO pairing_residency (pairing_id, period, member_months, short_months) VALUES ", residency)
	if _, err := db.ExecContext(ctx, `UPDATE pairings SET residency_member_months = (SELECT SUM(member_months) FROM pairing_residency r WHERE r.pairing_id = pairings.id),
		residency_short = (SELECT SUM(short_months) FROM pairing_residency r WHERE r.pairing_id = pairings.id) WHERE cycle_id = ?`, id); err != nil {
		tb.Fatal(err)
	}
	insert("INSERT INTO tasks (id, kind, pairing_id, cycle_id, role, jurisdiction, department_code, village_code, due_at, due_date, remind_at, status, opened_at) VALUES ", tasks)
	insert("INSERT INTO projects (pairing_id, cycle_id, kind, name, quantity, unit, own_yuan, higher_yuan, social_yuan, status, planned_on, created_by, created_at, updated_by, updated_at) VALUES ", projects)
	return id
}

// The dashboard of a city the size of the seed's — 595 pairings, 1,766 villages —
// shows every pairing's figures (the statistics, not a sample), and an organiser
// publishes the month's bulletin from it and prints it on A4.
func TestBrowserCityBulletin(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (Chromium): go test ./...")
	}
	exe := chromium(t)
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	cycle := seedCity(t, f.db, 595, 1)
	st, err := f.db.Statistics(context.Background(), cycle, "county", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, exe, f.srv.URL)
	f.user("org", "", "", g(baocun.RoleOrganiser, "*"))
	org := b.signIn(t, "org")
	org.do(t, "open the city's dashboard", chromedp.Navigate(fmt.Sprintf("%s/?cycle=%d", b.url, cycle)),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart=progress] svg`)), chromedp.WaitVisible(chromedp.CSS(`[data-chart=compliance] svg`)))
	for id, want := range map[string]string{
		"pairings-total":   "595",
		"total-compliance": st.Totals.ResidencyCompliance.String(),
		"total-funds":      st.Totals.FundsWan,
		"total-overdue":    fmt.Sprintf("%d / 0", st.Totals.OverdueTasks),
	} {
		if got := run(t, org, "read "+id, chromedp.Text(chromedp.ID(id))); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	// The city's seven counties, and the fixture's two, whose lagging villages this
	// cycle leaves unpaired: coverage shows them too.
	if n := run(t, org, "count the counties", chromedp.Evaluate[int](`document.querySelectorAll("#figures tbody tr").length`)); n != 9 {
		t.Errorf("%d counties on the dashboard, want 9", n)
	}
	org.submit(t, "publish the month's bulletin", "#bulletin-form")
	org.do(t, "open the bulletin", chromedp.Click(chromedp.CSS(`#bulletins li a`)), chromedp.WaitVisible(chromedp.CSS(`[data-chart=bulletin] svg`)))
	if intact := run(t, org, "read the bulletin", chromedp.Evaluate[string](`document.getElementById("bulletin").dataset.intact`)); intact != "true" {
		t.Errorf("the bulletin reads intact=%q", intact)
	}
	if n := run(t, org, "count its departments", chromedp.Evaluate[int](`document.querySelectorAll("#bulletin-departments tbody tr").length`)); n != 199 {
		t.Errorf("the bulletin lists %d departments, want 199", n)
	}
	if n := run(t, org, "count the departments overdue", chromedp.Evaluate[int](`document.querySelectorAll("#bulletin-overdue tbody tr").length`)); n == 0 {
		t.Error("the bulletin lists no department with overdue items")
	}
	// Printed, the page is the bulletin alone: no menu, no buttons, no forms.
	org.do(t, "emulate print", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if shown := run(t, org, "see what prints", chromedp.Evaluate[[]string](`["header.top", ".no-print", "#bulletin-totals"].map(s => getComputedStyle(document.querySelector(s)).display)`)); shown[0] != "none" || shown[1] != "none" || shown[2] == "none" {
		t.Errorf("printed, the menu, the buttons and the totals display as %v, want none, none and shown", shown)
	}
	pdf := run(t, org, "print to PDF", chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPreferCSSPageSize()))
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 10_000 {
		t.Fatalf("the printed bulletin is %d bytes, starting %q", len(pdf), pdf[:min(8, len(pdf))])
	}
	// A4 is 595 × 842 points (210 × 297 mm).
	if box := regexp.MustCompile(`/MediaBox \[0 0 (59[0-9](\.[0-9]+)?) (84[0-9](\.[0-9]+)?)\]`).Find(pdf); box == nil {
		t.Errorf("the printed bulletin's pages are not A4: %q", regexp.MustCompile(`/MediaBox \[[^\]]*\]`).Find(pdf))
	}
}

// BenchmarkStatistics measures GET /cycles/:id/statistics through the API (the
// authorization gate, the aggregates, the JSON) for a city of 20,000 pairings, each
// with twelve periods of residency counts (240,000 rows), an open task, and a road
// in the ledger for every third, on SQLite and, with BAOCUN_TEST_POSTGRES, on
// PostgreSQL: 40 requests of each grouping, one at a time, reported as p50 and p95
// in milliseconds (target p95 ≤ 200 ms).
//
//	BAOCUN_TEST_POSTGRES=… go test -run '^$' -bench Statistics -benchtime 1x -timeout 30m ./web/
func BenchmarkStatistics(b *testing.B) {
	for _, db := range []struct{ name, dsn string }{{"sqlite", ""}, {"postgres", os.Getenv(sqldbtest.EnvPostgres)}} {
		b.Run("db="+db.name, func(b *testing.B) {
			dsn := sqldbtest.SQLiteDSN(b)
			if db.name == "postgres" {
				if db.dsn == "" {
					b.Skip(sqldbtest.EnvPostgres + " is not set")
				}
				dsn = sqldbtest.PostgresDSN(b)
			}
			f := newFixture(b, dsn)
			cycle := seedCity(b, f.db, 20000, 12)
			f.user("org", "", "", g(baocun.RoleOrganiser, "*"))
			tok := f.login(f.srv, "org")
			b.ResetTimer()
			for range b.N {
				for _, by := range baocun.StatisticsBy {
					var took []time.Duration
					for range 40 {
						start := time.Now()
						if s, body := call(b, f.srv, tok, "GET", fmt.Sprintf("/api/v1/cycles/%d/statistics?by=%s", cycle, by), nil); s != 200 {
							b.Fatalf("statistics by %s: %d %s", by, s, body)
						}
						took = append(took, time.Since(start))
					}
					slices.Sort(took)
					b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms-"+by)
					b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms-"+by)
				}
			}
		})
	}
}
