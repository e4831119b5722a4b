package web_test

import (
	"context"
	"fmt"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"go.temporal.io/sdk/worker"

	"baocun"
	"baocun/activities"
	"baocun/sqldb/sqldbtest"
	"baocun/workflows"
)

// The web UI in a real Chromium against a real service: the fixture's database and
// Temporal server with real workers. One walk-through, as the issue lists it: each
// role signs in and sees only its own menu; an organiser launches a cycle from a
// CSV, after a bad file is refused row by row; a department lead nominates the team
// and an organiser approves it; the team arrives and plans; a member reports, a
// reviewer returns the report and then approves it; an auditor finds those
// decisions and exports them; an action a role may not take is absent from its page
// and refused when posted anyway. A failing step saves a screenshot and names it.
func TestBrowserWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (Chromium through a whole walk-through): go test ./...")
	}
	exe := chromium(t)
	f := newTemporalFixture(t, sqldbtest.SQLiteDSN(t))
	w := worker.New(f.temporal, baocun.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, &activities.Activities{Store: f.db})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO people (id, name, department_code) VALUES ('P30', '赵局长', 'D3'), ('P31', '钱六', 'D3'), ('P32', '孙七', 'D3')`,
	} {
		if _, err := f.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	users := []struct {
		name, person, village string
		role                  baocun.Role
		nav                   []string // the menu this role sees
	}{
		{"admin", "", "", baocun.RoleAdmin, []string{"/inbox", "/users"}},
		{"org", "", "", baocun.RoleOrganiser, []string{"/", "/inbox", "/launch"}},
		{"reviewer", "P1", "", baocun.RoleReviewer, []string{"/", "/inbox"}}, // of D1: may decide D3's pairing
		{"lead", "P30", "", baocun.RoleDeptLead, []string{"/inbox"}},
		{"member", "P3", "", baocun.RoleTeamMember, []string{"/inbox"}},
		{"village", "", "V1", baocun.RoleVillage, []string{"/inbox"}},
		{"auditor", "", "", baocun.RoleAuditor, []string{"/", "/inbox", "/audit", "/users"}},
	}
	b := newBrowser(t, exe, f.srv.URL)
	as := map[string]*session{}
	t.Run("each role signs in and sees its own menu", func(t *testing.T) {
		for _, u := range users {
			f.user(u.name, u.person, u.village, g(u.role, "*"))
			s := b.signIn(t, u.name)
			as[u.name] = s
			nav := run(t, s, "read the menu", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("header nav a"), a => a.getAttribute("href"))`))
			if !slices.Equal(nav, u.nav) {
				t.Errorf("%s's menu: %v, want %v", u.name, nav, u.nav)
			}
		}
	})
	if t.Failed() {
		return
	}
	org, lead, member, reviewer, auditor := as["org"], as["lead"], as["member"], as["reviewer"], as["auditor"]

	var pairing int64
	t.Run("an organiser imports a village, then launches a cycle from a CSV, a bad file refused row by row first", func(t *testing.T) {
		before := countCycles(t, f)
		dir := t.TempDir()
		villages, bad, good := filepath.Join(dir, "villages.csv"), filepath.Join(dir, "bad.csv"), filepath.Join(dir, "pairings.csv")
		os.WriteFile(villages, []byte("code,name,county,township,class,collective_income_wan,population,households,纬度,经度\nV3,丙村,县A,一镇,3,12.5,1200,380,28.2,112.9\nV4,丁村,县A,一镇,2,3,900,300,,\n"), 0o644)
		os.WriteFile(bad, []byte("department_code,village_code,kind\nD3,V3,包扶\nD404,V4,共建\n"), 0o644)
		os.WriteFile(good, []byte("部门编码,村编码,类型\nD3,V3,包扶\n"), 0o644)
		org.do(t, "open the launch form", chromedp.Navigate(b.url+"/launch"), chromedp.WaitVisible(chromedp.ID("launch-form")))
		org.checkLabels(t)
		org.submit(t, "import a village", "#import-form",
			chromedp.SetValue(chromedp.ID("import-kind"), "villages"),
			chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{villages}))
		if v, err := f.db.Village(ctx, "V3"); err != nil || v.Name != "丙村" || v.Lat == nil || *v.Lat != 28.2 {
			t.Fatalf("imported village V3: %+v, %v", v, err)
		}
		unpaired := func(step string) []string {
			return run(t, org, step, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#unpaired tbody tr td:first-child"), td => td.textContent)`))
		}
		// The launch page lists the lagging villages no running cycle pairs: the new
		// ones, not V1 and V2 (the fixture's running cycle has them).
		if got := unpaired("read the unpaired villages"); !slices.Contains(got, "V3") || !slices.Contains(got, "V4") || slices.Contains(got, "V1") || slices.Contains(got, "V2") {
			t.Errorf("unpaired villages after the import: %v, want V3 and V4, not V1 or V2", got)
		}
		org.do(t, "submit a bad file",
			chromedp.SendKeys(chromedp.ID("name"), "测试轮 browser test"),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{bad}),
			chromedp.Click(chromedp.CSS("#launch-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#launch-form .row-errors")))
		rows := run(t, org, "read the row errors", chromedp.Evaluate[[][]string](
			`Array.from(document.querySelectorAll("#launch-form .row-errors tbody tr"), tr => Array.from(tr.cells, td => td.textContent))`))
		if len(rows) != 1 || rows[0][0] != "3" || rows[0][1] != "department_code" {
			t.Errorf("row errors %v, want line 3, column department_code", rows)
		}
		if n := countCycles(t, f); n != before {
			t.Fatalf("a refused launch stored %d cycles", n-before)
		}
		org.submit(t, "launch from a good file", "#launch-form",
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{good}))
		id := run(t, org, "read the new cycle", chromedp.Evaluate[string](`document.getElementById("cycle-facts").dataset.cycle`))
		ps, err := f.db.Pairings(ctx, baocun.PairingFilter{CycleID: atoi(t, id), Limit: 10})
		if err != nil || len(ps) != 1 {
			t.Fatalf("the launched cycle %s's pairings: %v, %v", id, ps, err)
		}
		pairing = ps[0].ID
		org.do(t, "draw the dashboard's charts", chromedp.WaitVisible(chromedp.CSS(`[data-chart=progress] svg`)))
		if total := run(t, org, "read the dashboard", chromedp.Text(chromedp.ID("pairings-total"))); total != "1" {
			t.Errorf("dashboard pairings_total %q, want 1", total)
		}
		org.do(t, "open the launch form again", chromedp.Navigate(b.url+"/launch"), chromedp.WaitVisible(chromedp.ID("unpaired")))
		if got := unpaired("read the unpaired villages after the launch"); slices.Contains(got, "V3") || !slices.Contains(got, "V4") {
			t.Errorf("unpaired villages after V3's launch: %v, want V4 and not V3", got)
		}
	})
	if t.Failed() {
		return
	}
	page := fmt.Sprintf("%s/pairings/%d", b.url, pairing)
	form := func(kind string) string { return fmt.Sprintf(`form[data-form=%q]`, kind) }

	t.Run("a department lead nominates the team; an organiser approves it", func(t *testing.T) {
		awaitTask(t, f, pairing, baocun.TaskNominateTeam)
		lead.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("team"))))
		lead.checkLabels(t)
		lead.submit(t, "nominate", form("team"),
			chromedp.SetValue(chromedp.CSS(form("team")+" select[name=leader]"), "P3"),
			chromedp.Click(chromedp.CSS(`input[name=members][value=P31]`)),
			chromedp.Click(chromedp.CSS(`input[name=members][value=P32]`)))
		// The lead may not approve their own nomination: no form, and the API refuses.
		lead.do(t, "reload", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("no-forms")))
		approve := awaitTask(t, f, pairing, baocun.TaskApproveTeam)
		if n := run(t, lead, "count decision forms", chromedp.Evaluate[int](`document.querySelectorAll("form[data-form=decision]").length`)); n != 0 {
			t.Errorf("the lead's page shows %d decision forms", n)
		}
		if status := lead.post(t, fmt.Sprintf("/api/v1/pairings/%d/team/decision", pairing), fmt.Sprintf(`{"task_id":%q,"outcome":"approve"}`, approve)); status != 403 {
			t.Errorf("the lead approving anyway: status %d, want 403", status)
		}
		org.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("decision"))))
		org.submit(t, "approve the team", form("decision"), chromedp.Click(chromedp.CSS(`input[name=outcome][value=approve]`)))
		if stage := run(t, org, "read the stage", chromedp.Evaluate[string](`document.getElementById("stage").dataset.stage`)); stage != string(baocun.StageStationed) {
			t.Errorf("after approval the stage is %q, want stationed", stage)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("the team arrives and plans; the reviewer approves the plan", func(t *testing.T) {
		member.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("arrival"))))
		member.submit(t, "confirm arrival", form("arrival"))
		member.checkLabels(t)
		member.submit(t, "submit the plan", form("plan"),
			chromedp.SendKeys(chromedp.CSS(form("plan")+` input[name=title]`), "丙村发展规划"),
			chromedp.SendKeys(chromedp.CSS(form("plan")+` textarea[name=summary]`), "先修路，再兴产业 roads first, then industry"),
			chromedp.SendKeys(chromedp.CSS(form("plan")+` textarea[name=goals]`), "硬化道路 5 公里\n建设饮水工程"))
		reviewer.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("decision"))))
		reviewer.submit(t, "approve the plan", form("decision"), chromedp.Click(chromedp.CSS(`input[name=outcome][value=approve]`)))
	})
	if t.Failed() {
		return
	}

	t.Run("a member keeps the ledger and reports from it; a reviewer returns the report, then approves it", func(t *testing.T) {
		report := func(what string) {
			member.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("report"))))
			member.submit(t, what, form("report"),
				chromedp.SendKeys(chromedp.CSS(form("report")+` textarea[name=summary]`), "本期修路 2 公里 two km of road"),
				chromedp.SendKeys(chromedp.CSS(form("report")+` input[name=collective_income_wan]`), "30"))
		}
		// The ledger: a road added, then completed with a photo as its evidence.
		road := filepath.Join(t.TempDir(), "通组公路.png")
		if err := os.WriteFile(road, photo(400, 300), 0o644); err != nil {
			t.Fatal(err)
		}
		member.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("ledger")))
		member.submit(t, "upload the road's photo", "#upload-form", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{road}))
		member.submit(t, "add a road to the ledger", "#project-form",
			chromedp.Evaluate[chromedp.Void](`document.getElementById("project-form").closest("details").open = true`),
			chromedp.SendKeys(chromedp.ID("project-name"), "通组公路硬化 village road"),
			chromedp.SendKeys(chromedp.ID("project-quantity"), "2"),
			chromedp.SendKeys(chromedp.ID("project-own"), "2.5"),
			chromedp.SendKeys(chromedp.ID("project-higher"), "10"))
		member.submit(t, "complete the road with its photo", ".project-progress",
			chromedp.Evaluate[chromedp.Void](`document.querySelector(".project-progress").closest("details").open = true`),
			chromedp.SetValue(chromedp.CSS(".project-progress select[name=status]"), "completed"),
			chromedp.Click(chromedp.CSS(".project-progress input[name=files]")))
		if got := run(t, member, "read the ledger", chromedp.Evaluate[string](`document.querySelector("#projects tr[data-project]").dataset.status`)); got != baocun.ProjectCompleted {
			t.Fatalf("the road's status on the page: %q, want completed", got)
		}
		// The report's figures are the ledger's: shown, not typed.
		member.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("report"))))
		if funds := run(t, member, "read the report's figures", chromedp.Evaluate[string](`document.querySelector(".ledger-figures").dataset.funds`)); funds != "12.5" {
			t.Errorf("the report form's funds from the ledger: %q, want 12.5", funds)
		}
		// A bad amount is refused by the API, its field named beside the form.
		member.do(t, "submit a bad amount",
			chromedp.SetAttributeValue(chromedp.CSS(form("report")+` input[name=collective_income_wan]`), "pattern", ".*"),
			chromedp.SendKeys(chromedp.CSS(form("report")+` textarea[name=summary]`), "x"),
			chromedp.SendKeys(chromedp.CSS(form("report")+` input[name=collective_income_wan]`), "12,5"),
			chromedp.Click(chromedp.CSS(form("report")+` button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(form("report")+` [aria-invalid=true][name=collective_income_wan]`)))
		member.checkLabels(t)
		report("submit the report")
		reviewer.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("decision"))))
		reviewer.submit(t, "return the report", form("decision"),
			chromedp.Click(chromedp.CSS(`input[name=outcome][value=return]`)),
			chromedp.SendKeys(chromedp.CSS(form("decision")+` textarea[name=comment]`), "请补充资金来源 say where the funds came from"))
		report("resubmit the report")
		reviewer.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(form("decision"))))
		reviewer.submit(t, "approve the report", form("decision"), chromedp.Click(chromedp.CSS(`input[name=outcome][value=approve]`)))
		kinds := run(t, reviewer, "read the decisions", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#decisions li"), li => li.dataset.kind)`))
		if want := []string{"team.approved", "plan.approved", "report.returned", "report.approved"}; !slices.Equal(kinds, want) {
			t.Errorf("decisions on the pairing's page: %v, want %v", kinds, want)
		}
		var period int
		if err := f.db.QueryRowContext(ctx, "SELECT reported_period FROM projects WHERE pairing_id = ?", pairing).Scan(&period); err != nil || period != 1 {
			t.Errorf("the road's report: period %d (%v), want the first period's", period, err)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("an auditor finds the decisions and exports them; changes nothing", func(t *testing.T) {
		auditor.do(t, "search the trail",
			chromedp.Navigate(b.url+"/audit"),
			chromedp.SendKeys(chromedp.ID("a-action"), "stage.decide"),
			chromedp.SendKeys(chromedp.ID("a-pairing"), fmt.Sprint(pairing)),
			chromedp.Click(chromedp.CSS("#audit-form button[type=submit]")),
			// htmx swaps the results in place: wait for them to be the filter's only.
			chromedp.Poll[chromedp.Void](`document.querySelectorAll("#audit-table tbody tr").length > 0 &&
				document.querySelectorAll('#audit-table tbody tr:not([data-action="stage.decide"])').length === 0`))
		auditor.checkLabels(t)
		actors := run(t, auditor, "read the results", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#audit-table tbody tr"), tr => tr.dataset.actor + " " + tr.dataset.action)`))
		if want := slices.Repeat([]string{"reviewer stage.decide"}, 3); !slices.Equal(actors, want) {
			t.Errorf("audit search: %v, want %v (plan approved, report returned and approved)", actors, want)
		}
		csv := run(t, auditor, "export", chromedp.Evaluate[string](`fetch(document.getElementById("audit-export").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
		if n := strings.Count(csv, "stage.decide"); n != 3 {
			t.Errorf("the CSV export has %d stage.decide entries, want 3:\n%s", n, csv)
		}
		auditor.do(t, "open the pairing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("no-forms")))
		if n := run(t, auditor, "count forms", chromedp.Evaluate[int](`document.querySelectorAll("main form[data-api]").length`)); n != 0 {
			t.Errorf("the auditor's pairing page offers %d forms", n)
		}
		if status := auditor.post(t, fmt.Sprintf("/api/v1/pairings/%d/cancel", pairing), `{"reason":"审计不应能撤销 not allowed"}`); status != 403 {
			t.Errorf("the auditor cancelling anyway: status %d, want 403", status)
		}
		lead.do(t, "open the audit page", chromedp.Navigate(b.url+"/audit"), chromedp.WaitVisible(chromedp.CSS(".error-page")))
	})

	t.Run("the admin creates an account and grants and revokes a role", func(t *testing.T) {
		admin := as["admin"]
		admin.do(t, "open users", chromedp.Navigate(b.url+"/users"), chromedp.WaitVisible(chromedp.ID("create-user")))
		admin.checkLabels(t)
		admin.submit(t, "create an account", "#create-user",
			chromedp.SendKeys(chromedp.ID("u-name"), "clerk"),
			chromedp.SendKeys(chromedp.ID("u-pass"), "clerk-password-1"),
			chromedp.SetValue(chromedp.ID("u-role"), string(baocun.RoleAuditor)))
		admin.submit(t, "grant a role", "#grant-form",
			chromedp.SendKeys(chromedp.ID("g-user"), "clerk"),
			chromedp.SetValue(chromedp.ID("g-role"), string(baocun.RoleOrganiser)))
		roles := func() string {
			return run(t, admin, "read clerk's roles", chromedp.Text(chromedp.CSS(`tr[data-user="clerk"] td:nth-child(4)`)))
		}
		if r := roles(); !strings.Contains(r, "auditor") || !strings.Contains(r, "organiser") {
			t.Errorf("clerk's roles after the grant: %q, want auditor and organiser", r)
		}
		admin.press(t, "revoke the role", `#grant-form button[data-method=DELETE]`,
			chromedp.SendKeys(chromedp.ID("g-user"), "clerk"),
			chromedp.SetValue(chromedp.ID("g-role"), string(baocun.RoleOrganiser)))
		if r := roles(); strings.Contains(r, "organiser") || !strings.Contains(r, "auditor") {
			t.Errorf("clerk's roles after the revocation: %q, want auditor alone", r)
		}
	})

	t.Run("usable on a phone", func(t *testing.T) {
		// A member with nothing to do reaches the pairing from the inbox, to check in.
		member.do(t, "open the pairing on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(b.url+"/inbox"), chromedp.Click(chromedp.CSS(fmt.Sprintf(`#my-pairings a[href="/pairings/%d"]`, pairing))),
			chromedp.WaitVisible(chromedp.ID("checkins-form")))
		// The phone is 111 m north of the village's office, and lets the page ask.
		member.do(t, "allow and set the phone's position", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: "geolocation"}, Setting: cdpbrowser.PermissionSettingGranted,
				Origin: b.url, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
				return err
			}
			lat, lng, acc := 28.201, 112.9, 15.0
			_, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lng, Accuracy: &acc})
			return err
		}))
		member.submit(t, "check in for today", "#checkins-form")
		if got := run(t, member, "read today's check-in", chromedp.Text(chromedp.ID("checked-in"))); !strings.Contains(got, "在范围内") {
			t.Errorf("after checking in the page says %q, want checked in, in range", got)
		}
		var lat, dist float64
		if err := f.db.QueryRowContext(ctx, "SELECT lat, distance_m FROM checkins WHERE pairing_id = ?", pairing).Scan(&lat, &dist); err != nil || lat != 28.201 || dist < 100 || dist > 120 {
			t.Errorf("the stored check-in: lat %v, %v m from the office (%v); want the phone's position, 111 m", lat, dist, err)
		}
		// A photo from the phone, uploaded with its progress shown, then in the gallery.
		shot := filepath.Join(t.TempDir(), "村道.png")
		if err := os.WriteFile(shot, photo(800, 600), 0o644); err != nil {
			t.Fatal(err)
		}
		member.submit(t, "upload a photo", "#upload-form", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{shot}))
		member.do(t, "see it in the gallery", chromedp.WaitVisible(chromedp.CSS(`#gallery img[alt="村道.png"]`)))
		if w := run(t, member, "measure its thumbnail", chromedp.Evaluate[int](`new Promise(done => {
			// WaitVisible sees the element, not its pixels: wait for the image to load (or fail, -1).
			const img = document.querySelector('#gallery img');
			if (img.complete) { done(img.naturalWidth); return; }
			img.addEventListener('load', () => done(img.naturalWidth));
			img.addEventListener('error', () => done(-1));
		})`, chromedp.EvalAwaitPromise)); w != 320 {
			t.Errorf("the gallery's thumbnail is %d px wide, want 320", w)
		}
		if wide := run(t, member, "measure the page", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)); wide {
			t.Error("on a 390 px screen the page scrolls sideways")
		}
		member.do(t, "back to a desktop", chromedp.EmulateViewport(1280, 900))
	})

	t.Run("English by the switch, Chinese by default", func(t *testing.T) {
		lang := run(t, member, "read the language", chromedp.Evaluate[string](`document.documentElement.lang`))
		member.do(t, "switch to English by the keyboard", chromedp.Focus(chromedp.ID("lang-switch")), chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`html[lang=en] #whoami`)))
		if lang != "zh-CN" {
			t.Errorf("default language %q, want zh-CN", lang)
		}
	})
}

// chromium is Debian's Chromium. Without it the browser tests skip, unless
// BAOCUN_REQUIRE_CHROMIUM=1 (as in CI), when they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("BAOCUN_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BAOCUN_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("BAOCUN_REQUIRE_CHROMIUM=1 but no Chromium: apt-get install chromium, or set BAOCUN_CHROMIUM")
	}
	t.Skip("no Chromium (apt-get install chromium); set BAOCUN_REQUIRE_CHROMIUM=1 to fail instead")
	return ""
}

// browser is one headless Chromium; each signed-in user gets a browser context
// of their own (their own cookies), as separate people would.
type browser struct {
	top   *testing.T // the test the browser and its contexts live as long as
	root  context.Context
	url   string
	shots string // where a failing step's screenshot goes; kept after the test
}

func newBrowser(t *testing.T, exe, url string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The machine has no network: without these Chromium stalls on start.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		// A Chinese official's browser: the pages' default language is tested with it.
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("accept-lang", "zh-CN,zh"),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	root, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(root); err != nil { // starts the browser: no timeout on this first call
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	shots, err := os.MkdirTemp("", "baocun-ui-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(shots)
		}
	})
	return &browser{top: t, root: root, url: url, shots: shots}
}

type session struct {
	b    *browser
	name string
	ctx  context.Context
}

// signIn opens a fresh browser context and signs name in with the keyboard alone.
func (b *browser) signIn(t *testing.T, name string) *session {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.top.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab: no timeout on this first call
		t.Fatal(err)
	}
	s := &session{b: b, name: name, ctx: ctx}
	s.do(t, "sign in",
		chromedp.Navigate(b.url+"/inbox"), // not signed in: sent to the sign-in page
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), name+kb.Tab),
		chromedp.SendKeys(chromedp.ID("password"), password+kb.Enter),
		chromedp.WaitVisible(chromedp.ID("whoami")))
	if who := run(t, s, "read who is signed in", chromedp.Text(chromedp.ID("whoami"))); who != name {
		t.Fatalf("signed in as %q, want %q", who, name)
	}
	return s
}

// do runs steps, each bounded, and on failure saves a screenshot and fails.
func (s *session) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s, as %s: %v%s", what, s.name, err, s.screenshot(what))
	}
}

// run is do for one action that returns a value.
func run[T any](t *testing.T, s *session, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s, as %s: %v%s", what, s.name, err, s.screenshot(what))
	}
	return v
}

// submit fills and submits the form at sel, then waits for the page the API's
// success reloads — or fails with the API's refusal shown beside the form.
func (s *session) submit(t *testing.T, what, sel string, fill ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	s.press(t, what, sel+" button[type=submit]", fill...)
}

// press is submit by a given button of the form.
func (s *session) press(t *testing.T, what, button string, fill ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	steps := append(fill,
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitVisible(chromedp.CSS(`#flash:not([hidden]), .form-error:not([hidden])`)))
	s.do(t, what, steps...)
	if msg := run(t, s, what, chromedp.Evaluate[string](`Array.from(document.querySelectorAll(".form-error:not([hidden])"), e => e.textContent).join(" | ")`)); msg != "" {
		t.Fatalf("%s, as %s: refused: %s%s", what, s.name, msg, s.screenshot(what))
	}
}

// checkLabels fails when a control of the page has no label to name it.
func (s *session) checkLabels(t *testing.T) {
	t.Helper()
	unlabelled := run(t, s, "check the labels", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input, select, textarea"))
		.filter(el => el.type !== "hidden" && el.labels.length === 0 && !el.getAttribute("aria-label"))
		.map(el => el.name || el.id)`))
	if len(unlabelled) > 0 {
		t.Errorf("as %s, controls without a label: %v%s", s.name, unlabelled, s.screenshot("labels"))
	}
}

// post sends a JSON POST from the page, as a hand-made request would, and returns
// the status.
func (s *session) post(t *testing.T, path, body string) int {
	t.Helper()
	return run(t, s, "post "+path, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", body: %q,
		headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}}).then(r => r.status)`, path, body),
		chromedp.EvalAwaitPromise))
}

func (s *session) screenshot(what string) string {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return " (no screenshot: " + err.Error() + ")"
	}
	name := filepath.Join(s.b.shots, strings.NewReplacer(" ", "-", "/", "-").Replace(s.name+"-"+what)+".png")
	if err := os.WriteFile(name, png, 0o644); err != nil {
		return " (no screenshot: " + err.Error() + ")"
	}
	return " (screenshot " + name + ")"
}

// awaitTask waits for the pairing's open task of kind (a workflow opens it soon
// after the request that caused it) and returns its id.
func awaitTask(t *testing.T, f *fixture, pairing int64, kind baocun.TaskKind) string {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		tasks, err := f.db.Tasks(context.Background(), baocun.TaskFilter{PairingID: pairing, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.Kind == kind {
				return task.ID
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("pairing %d: no open %s task after 30 s (open: %+v)", pairing, kind, tasks)
		}
	}
}

func countCycles(t *testing.T, f *fixture) int {
	t.Helper()
	var n int
	if err := f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM cycles").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
