package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// uiGet requests a page as a browser would: with the session cookie (if any) and
// the headers given, following no redirect.
func uiGet(t *testing.T, f *fixture, cookie *http.Cookie, path string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// sessionCookie signs name in for a browser session.
func sessionCookie(t *testing.T, f *fixture, name string) *http.Cookie {
	t.Helper()
	resp, err := http.Post(f.srv.URL+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"`+name+`","password":"`+password+`","session":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			return c
		}
	}
	t.Fatalf("sign in %s: %d, no session cookie", name, resp.StatusCode)
	return nil
}

// Each page, for each role: shown, refused with the API's own refusal, or sent
// elsewhere; and the actions on it offered only to those the API would allow.
func TestUIPagesByRole(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("org", "", "", g("organiser", "*"))
	f.user("lead1", "P1", "", g("dept_lead", "*")) // department D1: pairing 1, not 2
	f.user("rev3", "P3", "", g("reviewer", "*"))
	f.user("aud", "", "", g("auditor", "*"))
	f.user("adm", "", "", g("admin", "*"))
	cases := []struct {
		user, path string
		status     int
		has, lacks []string
	}{
		{"org", "/", 200, []string{"第一轮", `id="progress"`, `id="cancel-cycle"`, `href="/launch"`}, []string{`href="/audit"`}},
		{"org", "/launch", 200, []string{`id="launch-form"`, `name="file"`}, nil},
		{"org", "/pairings/1", 200, []string{`id="cancel-form"`}, []string{`data-form="team"`}},
		{"org", "/audit", 403, []string{"forbidden"}, nil},
		{"org", "/users", 403, nil, nil},
		{"org", "/cycles/1/results", 200, []string{`id="rank-h"`, `id="commendation"`}, nil},
		{"lead1", "/", 303, nil, nil},
		{"lead1", "/inbox", 200, []string{`id="status"`}, []string{`href="/launch"`, `href="/audit"`}},
		{"lead1", "/pairings/1", 200, []string{"甲村"}, []string{`id="cancel-form"`}},
		{"lead1", "/pairings/2", 403, []string{"forbidden"}, nil},
		{"lead1", "/launch", 403, nil, nil},
		{"rev3", "/pairings/1", 200, nil, []string{`id="cancel-form"`}},
		{"aud", "/", 200, []string{`id="progress"`}, []string{`id="cancel-cycle"`}},
		{"aud", "/audit", 200, []string{`id="audit-form"`, `/api/v1/audit/export?`}, nil},
		{"aud", "/audit?action=auth.login&since=2020-01-01T08:00", 200, []string{`data-action="auth.login"`, `value="2020-01-01T08:00"`}, []string{`data-action="cycle.launch"`}},
		{"aud", "/audit?since=yesterday", 200, []string{`role="alert"`, "RFC 3339"}, nil},
		{"aud", "/users", 200, []string{`data-user="org"`}, []string{`id="create-user"`, `id="grant-form"`}},
		{"aud", "/pairings/1", 200, []string{`id="no-forms"`}, []string{"data-api="}},
		{"adm", "/users", 200, []string{`id="create-user"`, `id="grant-form"`, `id="policy"`}, nil},
		{"adm", "/", 303, nil, nil},
		{"adm", "/nope/page", 404, nil, nil},
		{"adm", "/login?next=%2Fusers", 303, nil, nil}, // signed in already
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range cases {
		if cookies[c.user] == nil {
			cookies[c.user] = sessionCookie(t, f, c.user)
		}
		status, _, body := uiGet(t, f, cookies[c.user], c.path)
		if status != c.status {
			t.Errorf("%s GET %s: %d, want %d", c.user, c.path, status, c.status)
			continue
		}
		main := body
		if i := strings.Index(body, "<main"); i >= 0 {
			main = body[i:] // the menu is checked by its own cases
		}
		for _, s := range c.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s GET %s: lacks %s", c.user, c.path, s)
			}
		}
		for _, s := range c.lacks {
			target := main
			if strings.HasPrefix(s, "href=") {
				target = body
			}
			if strings.Contains(target, s) {
				t.Errorf("%s GET %s: shows %s", c.user, c.path, s)
			}
		}
	}
}

// Signed out, a page sends the visitor to sign in and comes back after; the
// sign-in page itself needs nothing.
func TestUISignedOut(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	status, h, _ := uiGet(t, f, nil, "/pairings/1?x=1")
	if status != http.StatusSeeOther || h.Get("Location") != "/login?next=%2Fpairings%2F1%3Fx%3D1" {
		t.Errorf("signed out: %d to %q, want 303 to the sign-in page", status, h.Get("Location"))
	}
	stale := &http.Cookie{Name: web.SessionCookie, Value: "not-a-session"}
	if status, h, _ = uiGet(t, f, stale, "/inbox"); status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("a stale session: %d to %q, want 303 to the sign-in page", status, h.Get("Location"))
	}
	for _, next := range []string{"//evil.example/", `/\evil.example/`, "https://evil.example/"} {
		status, _, body := uiGet(t, f, nil, "/login?next="+url.QueryEscape(next))
		if status != 200 || !strings.Contains(body, `data-next="/"`) {
			t.Errorf("sign-in page with next=%s: %d, not sent back to this site", next, status)
		}
	}
	status, h, body := uiGet(t, f, nil, "/login?next=%2Finbox")
	if status != 200 || !strings.Contains(body, `data-next="/inbox"`) || !strings.Contains(body, `<label for="password">`) {
		t.Errorf("sign-in page: %d, next lost or no labelled password:\n%s", status, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want scripts from the site only", csp)
	}
}

// Chinese first by default, English first when the switch or Accept-Language says
// so; both languages are on the page either way.
func TestUILanguage(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	cases := []struct {
		name   string
		cookie *http.Cookie
		header []string
		query  string
		want   string
	}{
		{"default", nil, nil, "", `<html lang="zh-CN">`},
		{"Accept-Language zh", nil, []string{"Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"}, "", `<html lang="zh-CN">`},
		{"Accept-Language en", nil, []string{"Accept-Language", "en-GB,en;q=0.9"}, "", `<html lang="en">`},
		{"the switch", nil, []string{"Accept-Language", "zh-CN"}, "?lang=en", `<html lang="en">`},
		{"the switch remembered", &http.Cookie{Name: "baocun_lang", Value: "en"}, []string{"Accept-Language", "zh-CN"}, "", `<html lang="en">`},
		{"back to Chinese", &http.Cookie{Name: "baocun_lang", Value: "en"}, nil, "?lang=zh-CN", `<html lang="zh-CN">`},
	}
	for _, c := range cases {
		status, h, body := uiGet(t, f, c.cookie, "/login"+c.query, c.header...)
		if status != 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %s", c.name, status, c.want)
		}
		if !strings.Contains(body, "登录") || !strings.Contains(body, "Sign in") {
			t.Errorf("%s: the page is not in both languages", c.name)
		}
		if c.query != "" && !strings.Contains(h.Get("Set-Cookie"), "baocun_lang=") {
			t.Errorf("%s: the choice is not remembered", c.name)
		}
	}
}

// Everything a page loads is served from the binary, licences beside the
// third-party files; no template points anywhere else.
func TestUIAssetsEmbedded(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	for _, path := range []string{"/static/ui.js", "/static/tasks.js", "/static/ui.css", "/static/vendor/htmx.min.js", "/static/vendor/echarts.common.min.js",
		"/static/vendor/licenses/htmx-LICENSE", "/static/vendor/licenses/echarts-LICENSE", "/static/vendor/licenses/zrender-LICENSE"} {
		if status, _, body := uiGet(t, f, nil, path); status != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, status, len(body))
		}
	}
	external := regexp.MustCompile(`(src|href)="(https?:)?//`)
	fs.WalkDir(web.UIFiles, "ui/templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(web.UIFiles, path)
		if m := external.Find(b); m != nil {
			t.Errorf("%s loads from elsewhere: %s", path, m)
		}
		return nil
	})
}

// Every step's form renders for whoever may take it, and for nobody else: each kind
// of task is opened on pairing 1 (D1 with village V1, team P1) and its page read by
// the role it is for and by one it is not.
func TestUITaskForms(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	if _, err := f.db.ExecContext(context.Background(), `INSERT INTO people (id, name, department_code) VALUES ('P4', '赵六', 'D1')`); err != nil {
		t.Fatal(err)
	}
	f.user("org", "", "", g("organiser", "*"))
	f.user("lead1", "P4", "", g("dept_lead", "*"))
	f.user("member1", "P1", "", g("team_member", "*"))
	f.user("rev3", "P3", "", g("reviewer", "*"))
	f.user("rev1", "P4", "", g("reviewer", "*")) // of the pairing's own department
	f.user("vil1", "", "V1", g("village", "*"))
	cases := []struct {
		kind        baocun.TaskKind
		form        string
		role        baocun.Role
		may, mayNot string
	}{
		{baocun.TaskNominateTeam, "team", "dept_lead", "lead1", "org"},
		{baocun.TaskApproveTeam, "decision", "organiser", "org", "lead1"},
		{baocun.TaskApproveTeamChange, "decision", "organiser", "org", "rev3"},
		{baocun.TaskConfirmArrival, "arrival", "team_member", "member1", "lead1"},
		{baocun.TaskSubmitPlan, "plan", "team_member", "member1", "rev3"},
		{baocun.TaskReviewPlan, "decision", "reviewer", "rev3", "rev1"},
		{baocun.TaskSubmitReport, "report", "team_member", "member1", "org"},
		{baocun.TaskReviewReport, "decision", "reviewer", "rev3", "rev1"},
		{baocun.TaskResidencyFlag, "acknowledge", "dept_lead", "lead1", "member1"},
		{baocun.TaskCheckinDispute, "acknowledge", "dept_lead", "lead1", "member1"},
		{baocun.TaskEvaluation, "evaluation", "village", "vil1", "member1"},
		{baocun.TaskSelfAssess, "self_assess", "team_member", "member1", "lead1"},
		{baocun.TaskScore, "score", "reviewer", "rev3", "rev1"},
		{baocun.TaskConfirm, "confirm", "organiser", "org", "rev3"},
		{baocun.TaskDecideAppeal, "appeal_decision", "reviewer", "rev3", "rev1"},
	}
	cookies := map[string]*http.Cookie{}
	page := func(user string) string {
		if cookies[user] == nil {
			cookies[user] = sessionCookie(t, f, user)
		}
		status, _, body := uiGet(t, f, cookies[user], "/pairings/1")
		if status != 200 {
			t.Fatalf("%s GET /pairings/1: %d\n%s", user, status, body)
		}
		return body
	}
	now := time.Now()
	for i, c := range cases {
		id := fmt.Sprintf("1-%d", 900+i)
		task := baocun.Task{ID: id, Kind: c.kind, PairingID: 1, CycleID: 1, Role: c.role, Jurisdiction: "县A", Department: "D1", Village: "V1",
			Period: 1, Subject: string(c.kind), DueAt: now.Add(time.Hour), DueDate: "2027-02-01", RemindAt: now.Add(time.Minute)}
		if err := f.db.ApplyChange(context.Background(), baocun.Change{At: now, Open: []baocun.Task{task}}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`data-form="%s" data-task="%s"`, c.form, id)
		if body := page(c.may); !strings.Contains(body, want) {
			t.Errorf("%s: %s's page lacks the %s form", c.kind, c.may, c.form)
		}
		if body := page(c.mayNot); strings.Contains(body, `data-task="`+id+`"`) {
			t.Errorf("%s: %s's page shows the form", c.kind, c.mayNot)
		}
		if err := f.db.ApplyChange(context.Background(), baocun.Change{At: now, Close: []baocun.TaskClose{{ID: id, Status: baocun.TaskCancelled, By: "test"}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// The actions that are not tasks follow the stage and the role: check-ins and team
// changes while stationed, an appeal during publicity, a cancellation until the end;
// and a cycle's commendation tasks are on its results page.
func TestUIActions(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	if _, err := f.db.ExecContext(context.Background(), `INSERT INTO people (id, name, department_code) VALUES ('P4', '赵六', 'D1')`); err != nil {
		t.Fatal(err)
	}
	f.user("org", "", "", g("organiser", "*"))
	f.user("lead1", "P4", "", g("dept_lead", "*"))
	f.user("member1", "P1", "", g("team_member", "*"))
	f.user("rev3", "P3", "", g("reviewer", "*"))
	cookies := map[string]*http.Cookie{}
	get := func(user, path string) string {
		if cookies[user] == nil {
			cookies[user] = sessionCookie(t, f, user)
		}
		status, _, body := uiGet(t, f, cookies[user], path)
		if status != 200 {
			t.Fatalf("%s GET %s: %d\n%s", user, path, status, body)
		}
		return body
	}
	stage := func(s baocun.Stage) {
		if err := f.db.ApplyChange(context.Background(), baocun.Change{At: time.Now(), Stages: []baocun.StageChange{{PairingID: 1, Stage: s, Period: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		stage        baocun.Stage
		user, action string
		shown        bool
	}{
		{baocun.StageStationed, "member1", `id="checkins-form"`, true},
		{baocun.StageStationed, "lead1", `id="checkins-form"`, false},
		{baocun.StageStationed, "lead1", `id="change-form"`, true},
		{baocun.StageStationed, "member1", `id="change-form"`, false},
		{baocun.StageStationed, "member1", `id="visit-form"`, true},
		{baocun.StageStationed, "org", `id="cancel-form"`, true},
		{baocun.StageDispatch, "member1", `id="checkins-form"`, false},
		{baocun.StagePublicity, "lead1", `id="appeal-form"`, true},
		{baocun.StagePublicity, "rev3", `id="appeal-form"`, false},
		{baocun.StageReviews, "lead1", `id="appeal-form"`, false},
		{baocun.StageClosed, "org", `id="cancel-form"`, false},
	}
	for _, c := range cases {
		stage(c.stage)
		if got := strings.Contains(get(c.user, "/pairings/1"), c.action); got != c.shown {
			t.Errorf("stage %s, %s: %s shown %v, want %v", c.stage, c.user, c.action, got, c.shown)
		}
	}
	// Past the programme's end (the pairing waiting in reviews for its last report)
	// a check-in counts for nothing, and the form is gone.
	stage(baocun.StageReviews)
	if !strings.Contains(get("member1", "/pairings/1"), `id="checkins-form"`) {
		t.Error("in reviews, before the programme's end: no check-in form")
	}
	// Launched four years ago on a one-to-one clock: the programme's fourth year is over.
	if _, err := f.db.ExecContext(context.Background(), `UPDATE cycles SET launched_at = ? WHERE id = 1`, sqldb.FormatTime(time.Now().AddDate(-4, 0, 0))); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(get("member1", "/pairings/1"), `id="checkins-form"`) {
		t.Error("past the programme's end: the check-in form is shown")
	}

	now := time.Now()
	for _, task := range []baocun.Task{
		{ID: "c1-1", Kind: baocun.TaskProposeCadres, CycleID: 1, Role: "dept_lead", Jurisdiction: "县A", Department: "D1", Subject: "推荐 propose"},
		{ID: "c1-2", Kind: baocun.TaskApproveCommend, CycleID: 1, Role: "organiser", Jurisdiction: "*", Subject: "审批 approve"},
	} {
		task.DueAt, task.DueDate, task.RemindAt = now.Add(time.Hour), "2030-02-01", now.Add(time.Minute)
		if err := f.db.ApplyChange(context.Background(), baocun.Change{At: now, Open: []baocun.Task{task}}); err != nil {
			t.Fatal(err)
		}
	}
	if body := get("lead1", "/cycles/1/results"); !strings.Contains(body, `id="propose-form"`) || !strings.Contains(body, `id="no-candidates"`) || strings.Contains(body, `id="approve-form"`) {
		t.Errorf("the lead's results page: want the proposal form (nobody eligible yet) and no approval")
	}
	if body := get("org", "/cycles/1/results"); !strings.Contains(body, `id="approve-form"`) || strings.Contains(body, `id="propose-form"`) {
		t.Errorf("the organiser's results page: want the approval form and no proposal")
	}
}

// A browser following a bad link gets a page saying so; an API client gets JSON.
func TestUINotFound(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	for _, tc := range []struct {
		path, accept, want string
	}{
		{"/no-such-page", "text/html,application/xhtml+xml", "没有这个页面"},
		{"/no-such-page", "application/json", `"code":"not_found"`},
		{"/api/v1/no-such-route", "text/html", `"code":"not_found"`},
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+tc.path, nil)
		req.Header.Set("Accept", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s (Accept %s): %d %.200s, want 404 with %q", tc.path, tc.accept, resp.StatusCode, body, tc.want)
		}
	}
}

// Raters see each indicator's evidence beside it: the files the team's
// self-assessment named for an indicator are shown, as links to them, inside that
// indicator's part of the score form, and an indicator without any says so. The
// self-assessment form offers the pairing's files for each indicator.
func TestUIScoreFormShowsEvidence(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	f.user("member1", "P1", "", g("team_member", "*"))
	f.user("rev3", "P3", "", g("reviewer", "*"))
	now := time.Now()
	minutes := baocun.File{ID: "0123456789abcdef0123456789abcdef", SHA256: strings.Repeat("a", 64), Size: 1, ContentType: "image/png",
		Name: "两委会议记录.png", Thumbnail: true, ThumbSHA256: strings.Repeat("b", 64), PairingID: 1, UploadedBy: "member1", UploadedAt: now}
	if err := f.db.AddFile(ctx, minutes, 0, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(baocun.SelfAssessInput{Summary: "三年工作总结", Evidence: map[string][]string{"leadership.policy": {minutes.ID}}})
	task := func(id string, kind baocun.TaskKind, role baocun.Role) baocun.Task {
		return baocun.Task{ID: id, Kind: kind, PairingID: 1, CycleID: 1, Role: role, Jurisdiction: "县A", Department: "D1", Village: "V1",
			Subject: string(kind), DueAt: now.Add(time.Hour), DueDate: "2028-02-01", RemindAt: now.Add(time.Minute)}
	}
	if err := f.db.ApplyChange(ctx, baocun.Change{At: now,
		Open: []baocun.Task{task("1-self", baocun.TaskSelfAssess, baocun.RoleTeamMember), task("1-score", baocun.TaskScore, baocun.RoleReviewer)},
		Events: []baocun.Event{{PairingID: 1, ProgrammeAt: "2028-01-02", Actor: "member1", Kind: "acceptance.self_assessed", Data: data,
			Files: []string{minutes.ID}}}}); err != nil {
		t.Fatal(err)
	}
	status, _, body := uiGet(t, f, sessionCookie(t, f, "rev3"), "/pairings/1")
	if status != 200 {
		t.Fatalf("the rater's page: %d", status)
	}
	indicator := func(key string) string {
		i := strings.Index(body, `name="scores[`+key+`]"`)
		if i < 0 {
			t.Fatalf("the score form has no indicator %s", key)
		}
		start := strings.LastIndex(body[:i], `<div class="indicator">`)
		end := strings.Index(body[i:], "</div>")
		return body[start : i+end]
	}
	link := `href="/api/v1/files/` + minutes.ID + `"`
	if got := indicator("leadership.policy"); !strings.Contains(got, link) || !strings.Contains(got, `alt="两委会议记录.png"`) {
		t.Errorf("leadership.policy in the score form does not show its evidence:\n%s", got)
	}
	if got := indicator("leadership.integrity"); strings.Contains(got, link) || !strings.Contains(got, "no evidence from the team") {
		t.Errorf("leadership.integrity, which has none, shows:\n%s", got)
	}
	_, _, body = uiGet(t, f, sessionCookie(t, f, "member1"), "/pairings/1")
	if !strings.Contains(body, `name="evidence[leadership.policy]" value="`+minutes.ID+`" data-type="set"`) {
		i := strings.Index(body, `data-form="self_assess"`)
		t.Errorf("the self-assessment form does not offer the pairing's files for an indicator:\n%s", body[max(i, 0):min(len(body), max(i, 0)+3000)])
	}
}
