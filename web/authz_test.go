package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"baocun"
	"baocun/baocuntest"
	"baocun/blob"
	"baocun/policy"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/temporalclient"
	"baocun/web"
)

// fixture is a service on a real database with a small directory: two counties,
// two departments, their people, and one account per role.
type fixture struct {
	t      testing.TB
	db     *sqldb.DB
	engine baocun.Engine // what the handlers use
	// fake is the engine of newFixture: in-process, no workflow runs.
	fake *baocuntest.Engine
	// temporal is newTemporalFixture's client of a real Temporal server (no worker
	// until the test starts one); nil on newFixture.
	temporal client.Client
	audit    *sqldb.AuditLog
	files    blob.Dir // evidence files' contents
	maxFile  int64    // the upload limit, when not the default
	quota    int64    // a pairing's files' quota, when not the default
	public   bool     // serves the public publicity page
	srv      *httptest.Server
	hash     string // one password hash for every account: argon2id is slow on purpose
}

const password = "correct-horse-battery"

// newFixture's handlers run on the in-process engine, with no Temporal server.
func newFixture(t testing.TB, dsn string) *fixture {
	t.Helper()
	fake := baocuntest.New()
	f := newFixtureOn(t, dsn, func(*sqldb.DB) baocun.Engine { return fake })
	f.fake = fake
	return f
}

// newTemporalFixture's handlers run on a real Temporal server, for the tests that
// need workflows to run (the test starts the worker).
func newTemporalFixture(t testing.TB, dsn string) *fixture {
	t.Helper()
	ts := temporaltest.NewServer()
	t.Cleanup(ts.Stop)
	f := newFixtureOn(t, dsn, func(db *sqldb.DB) baocun.Engine { return temporalclient.New(ts.GetDefaultClient(), db) })
	f.temporal = ts.GetDefaultClient()
	return f
}

func newFixtureOn(t testing.TB, dsn string, engine func(*sqldb.DB) baocun.Engine) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, dsn)
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A'), ('D2', '乙县交通局', '县直', '县B'),
			('D3', '甲县水利局', '县直', '县A'), ('D4', '市财政局', '市直', '')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3), ('V2', '乙村', '县B', '二镇', 2),
			('V7', '庚村', '县A', '一镇', 2), ('V8', '辛村', '县A', '一镇', 3)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D2'), ('P3', '王五', 'D3')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Cycle 1 pairs D1 with V1 (县A, team P1) and D2 with V2 (县B, team P2).
	launch := &baocun.AuditEntry{Actor: "organiser", Action: "cycle.launch"}
	settings := baocun.CycleSettings{StartDate: "2027-01-01"}
	settings.Defaults()
	if _, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "第一轮", Jurisdiction: "*", Settings: settings, LaunchedBy: "organiser", LaunchedAt: time.Now()},
		[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: "support"}, {DepartmentCode: "D2", VillageCode: "V2", Kind: "model"}}, launch); err != nil {
		t.Fatal(err)
	}
	for i, person := range []string{"P1", "P2"} {
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Team: &baocun.TeamChange{PairingID: int64(i + 1), Members: []baocun.Member{{PersonID: person, Leader: true}}}}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, db: db, audit: sqldbtest.AuditLog(t, db), engine: engine(db), files: blob.Dir(t.TempDir())}
	// A file of pairing 1, f-of-1, for the file routes' cells of the matrix and the
	// security suites.
	const x = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" // SHA-256 of "x"
	if err := f.files.Put(ctx, x, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if err := db.AddFile(ctx, baocun.File{ID: "f-of-1", SHA256: x, Size: 1, ContentType: "text/plain",
		PairingID: 1, UploadedBy: "team_member", UploadedAt: time.Now()}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SeedPolicy(ctx, policy.DefaultRows(), nil); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.hash, err = baocun.HashPassword(password); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.handler())
	t.Cleanup(f.srv.Close)
	return f
}

// handler builds a service instance on the fixture's database with its own enforcer,
// as a second process sharing the database would.
func (f *fixture) handler() http.Handler {
	en, err := policy.New(context.Background(), f.db)
	if err != nil {
		f.t.Fatal(err)
	}
	return web.NewServer(web.Deps{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		Store: f.db, Authorizer: en, Audit: f.audit, Engine: f.engine, Files: f.files, MaxFileSize: f.maxFile, FilesQuota: f.quota,
		PublicPublicity: f.public,
	})
}

func (f *fixture) user(name, person, village string, roles ...baocun.Grant) {
	f.t.Helper()
	if _, err := f.db.CreateUser(context.Background(), baocun.NewUser{
		Username: name, PasswordHash: f.hash, PersonID: person, VillageCode: village, Roles: roles,
	}, nil); err != nil {
		f.t.Fatal(err)
	}
}

// login signs name in from the test's address. Tests sign the same accounts in
// many times within seconds, so it first forgets the throttles of successes (the
// account's and the loopback network's); TestSignInSuccessesThrottled and the
// security suite's sign-in loop try those throttles.
func (f *fixture) login(srv *httptest.Server, name string) string {
	f.t.Helper()
	if _, err := f.db.ExecContext(context.Background(), "DELETE FROM login_buckets WHERE key IN (?, ?, ?)",
		"account-ok:"+name, "address-ok:127.0.0.1", "address-ok:::/64"); err != nil {
		f.t.Fatal(err)
	}
	status, body := call(f.t, srv, "", "POST", "/api/v1/auth/login", map[string]string{"username": name, "password": password})
	if status != 200 {
		f.t.Fatalf("login %s: %d %s", name, status, body)
	}
	var out struct{ Token string }
	json.Unmarshal([]byte(body), &out)
	return out.Token
}

func call(t testing.TB, srv *httptest.Server, token, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func g(role baocun.Role, jurisdiction string) baocun.Grant {
	return baocun.Grant{Role: role, Jurisdiction: jurisdiction}
}

// actors: one account per role of SPEC.md, city-wide and county-held where it
// matters, plus a signed-in user with no role and an anonymous caller.
var actors = []struct {
	name, person, village string
	roles                 []baocun.Grant
}{
	{"admin", "", "", []baocun.Grant{g("admin", "*")}},
	{"organiser", "", "", []baocun.Grant{g("organiser", "*")}},
	{"organiser_a", "", "", []baocun.Grant{g("organiser", "县A")}},
	{"reviewer", "P1", "", []baocun.Grant{g("reviewer", "*")}},
	{"dept_lead", "P1", "", []baocun.Grant{g("dept_lead", "县A")}},
	{"team_member", "P1", "", []baocun.Grant{g("team_member", "县A")}},
	{"village", "", "V1", []baocun.Grant{g("village", "县A")}},
	{"auditor", "", "", []baocun.Grant{g("auditor", "*")}},
	{"auditor_b", "", "", []baocun.Grant{g("auditor", "县B")}},
	{"norole", "P2", "", nil},
	{"anonymous", "", "", nil},
}

// cell is one column of the matrix: a route, the resource it is called on, and the
// actors SPEC.md's roles table lets through ("signed-in": anyone signed in; "*":
// anyone). Every route the service lists must have at least one cell (the test fails
// on a new route without one); anything not listed must be refused.
type cell struct {
	route, on string
	path      string
	body      func(i int) any
	allowed   []string
}

var cells = []cell{
	{route: "POST /auth/login", path: "/auth/login", allowed: []string{"*"},
		body: func(int) any { return map[string]string{"username": "admin", "password": password} }},
	{route: "POST /auth/logout", path: "/auth/logout", allowed: []string{"signed-in"}},
	{route: "GET /auth/me", path: "/auth/me", allowed: []string{"signed-in"}},
	{route: "POST /users", path: "/users", allowed: []string{"admin"},
		body: func(i int) any {
			return map[string]any{"username": fmt.Sprintf("new%d", i), "password": password, "roles": []baocun.Grant{g("village", "县A")}}
		}},
	{route: "GET /users", path: "/users", allowed: []string{"admin", "auditor"}},
	{route: "GET /users/:username", path: "/users/admin", allowed: []string{"admin", "auditor"}},
	{route: "PATCH /users/:username", path: "/users/target", allowed: []string{"admin"},
		body: func(int) any { return map[string]bool{"disabled": false} }},
	{route: "POST /users/:username/password", path: "/users/target/password", allowed: []string{"admin"},
		body: func(int) any { return map[string]string{"password": "a-temporary-password"} }},
	{route: "POST /users/:username/unlock", path: "/users/target/unlock", allowed: []string{"admin"}},
	{route: "GET /users/:username/sessions", path: "/users/target/sessions", allowed: []string{"admin", "auditor"}},
	{route: "DELETE /users/:username/sessions", path: "/users/target/sessions", allowed: []string{"admin"}},
	// Every signed-in account may change its own password; a new one equal to the
	// old is refused (400), so the matrix changes nobody's.
	{route: "POST /auth/password", path: "/auth/password", allowed: []string{"signed-in"},
		body: func(int) any { return map[string]string{"old_password": password, "new_password": password} }},
	{route: "GET /departments/:code/people", on: "own department, own county", path: "/departments/D1/people",
		allowed: []string{"admin", "organiser", "organiser_a", "auditor", "dept_lead"}},
	{route: "GET /departments/:code/people", on: "another department, own county", path: "/departments/D3/people",
		allowed: []string{"admin", "organiser", "organiser_a", "auditor"}},
	{route: "GET /departments/:code/people", on: "another county", path: "/departments/D2/people",
		allowed: []string{"admin", "organiser", "auditor", "auditor_b"}},
	{route: "GET /departments/:code/people", on: "a city-level department", path: "/departments/D4/people",
		allowed: []string{"admin", "organiser", "auditor"}},
	{route: "GET /departments/:code", path: "/departments/D1",
		allowed: []string{"admin", "organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /departments/:code", on: "another county", path: "/departments/D2", allowed: []string{"admin", "organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "PUT /departments/:code", on: "of a county", path: "/departments/D1", allowed: []string{"organiser"},
		body: func(int) any {
			return map[string]string{"name": "甲县农业农村局", "level": "县直", "county": "县A"}
		}},
	{route: "PUT /departments/:code", on: "new", path: "/departments/D9", allowed: []string{"organiser"},
		body: func(int) any { return map[string]string{"name": "市新部门", "level": "市直"} }},
	{route: "GET /villages/:code", path: "/villages/V1",
		allowed: []string{"admin", "organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "POST /villages/:code/contacts", path: "/villages/V1/contacts", allowed: []string{"organiser", "organiser_a"},
		body: func(i int) any { return map[string]string{"leader": fmt.Sprintf("领导%d", i), "level": "county"} }},
	{route: "POST /villages/:code/contacts", on: "another county", path: "/villages/V2/contacts", allowed: []string{"organiser"},
		body: func(i int) any { return map[string]string{"leader": fmt.Sprintf("领导%d", i), "level": "city"} }},
	{route: "GET /villages/:code/history", path: "/villages/V1/history",
		allowed: []string{"admin", "organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /villages/:code/history", on: "another county", path: "/villages/V2/history",
		allowed: []string{"admin", "organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "PUT /villages/:code", path: "/villages/V1", allowed: []string{"organiser"},
		body: func(int) any {
			return map[string]any{"name": "甲村", "county": "县A", "township": "一镇", "class": 2}
		}},
	{route: "GET /people/:id", on: "own department", path: "/people/P1", allowed: []string{"admin", "organiser", "organiser_a", "auditor", "dept_lead"}},
	{route: "GET /people/:id", on: "another county", path: "/people/P2", allowed: []string{"admin", "organiser", "auditor", "auditor_b"}},
	{route: "PUT /people/:id", path: "/people/P3", allowed: []string{"organiser"},
		body: func(int) any { return map[string]string{"name": "王五", "department_code": "D3", "title": "科员"} }},
	{route: "POST /import/:kind", path: "/import/villages", allowed: []string{"organiser"},
		body: func(int) any { return "code,name,county,township,class\nV9,丙村,县A,一镇,2\n" }},
	{route: "GET /departments", path: "/departments", allowed: []string{"admin", "organiser", "reviewer", "auditor"}},
	{route: "GET /departments", on: "of a county", path: "/departments?county=县A",
		allowed: []string{"admin", "organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /villages", path: "/villages", allowed: []string{"admin", "organiser", "reviewer", "auditor"}},
	{route: "GET /villages", on: "of a county", path: "/villages?county=县A",
		allowed: []string{"admin", "organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "POST /cycles", on: "of a county", path: "/cycles", allowed: []string{"organiser", "organiser_a"},
		body: func(int) any { return launchBody("县A") }},
	{route: "POST /cycles", on: "of the city", path: "/cycles", allowed: []string{"organiser"},
		body: func(int) any { return launchBody("*") }},
	{route: "GET /cycles", path: "/cycles", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id", path: "/cycles/1", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "POST /cycles/:id/cancel", path: "/cycles/1/cancel", allowed: []string{"organiser"},
		body: func(int) any { return map[string]string{"reason": "矩阵测试 matrix"} }},
	{route: "GET /cycles/:id/pairings", path: "/cycles/1/pairings", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/pairings", on: "of a county", path: "/cycles/1/pairings?county=县A",
		allowed: []string{"organiser", "organiser_a", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/pairings", on: "of own department", path: "/cycles/1/pairings?department=D1",
		allowed: []string{"organiser", "organiser_a", "reviewer", "auditor", "dept_lead"}},
	{route: "GET /pairings/:id", on: "own department, team, village", path: "/pairings/1",
		allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /pairings/:id", on: "another county", path: "/pairings/2", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /pairings/:id/cancel", path: "/pairings/1/cancel", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /pairings/:id/team", on: "own department", path: "/pairings/1/team", allowed: []string{"dept_lead"}},
	{route: "POST /pairings/:id/team", on: "another department", path: "/pairings/2/team", allowed: nil},
	{route: "POST /pairings/:id/team/decision", path: "/pairings/1/team/decision", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /pairings/:id/team-changes", path: "/pairings/1/team-changes", allowed: []string{"dept_lead"}},
	{route: "POST /pairings/:id/arrival", on: "own team", path: "/pairings/1/arrival", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/arrival", on: "another team", path: "/pairings/2/arrival", allowed: nil},
	{route: "POST /pairings/:id/checkins", path: "/pairings/1/checkins", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/checkins", on: "another team", path: "/pairings/2/checkins", allowed: nil},
	{route: "GET /pairings/:id/checkins", path: "/pairings/1/checkins",
		allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /pairings/:id/checkins", on: "another county", path: "/pairings/2/checkins", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /pairings/:id/checkins/review", on: "own team, as its leader", path: "/pairings/1/checkins/review", allowed: []string{"team_member", "dept_lead"}},
	{route: "POST /pairings/:id/checkins/review", on: "another team", path: "/pairings/2/checkins/review", allowed: nil},
	{route: "POST /pairings/:id/checkins/months/:month", on: "own village", path: "/pairings/1/checkins/months/2027-01", allowed: []string{"village"}},
	{route: "POST /pairings/:id/checkins/months/:month", on: "another village", path: "/pairings/2/checkins/months/2027-01", allowed: nil},
	{route: "POST /pairings/:id/checkins/disputes", on: "own department", path: "/pairings/1/checkins/disputes", allowed: []string{"dept_lead"}},
	{route: "POST /pairings/:id/checkins/disputes", on: "another department", path: "/pairings/2/checkins/disputes", allowed: nil},
	{route: "POST /pairings/:id/leave", path: "/pairings/1/leave", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/leave", on: "another team", path: "/pairings/2/leave", allowed: nil},
	{route: "GET /pairings/:id/leave", path: "/pairings/1/leave", allowed: []string{"organiser", "organiser_a", "dept_lead", "team_member", "auditor"}},
	{route: "POST /pairings/:id/leave/:leave/decision", path: "/pairings/1/leave/1/decision", allowed: []string{"dept_lead", "organiser", "organiser_a"}},
	{route: "POST /pairings/:id/leave/:leave/withdraw", path: "/pairings/1/leave/1/withdraw", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/leave/:leave/withdraw", on: "another team", path: "/pairings/2/leave/1/withdraw", allowed: nil},
	{route: "POST /files", on: "own pairing (a reviewer: own department, never)", path: "/files?pairing=1", allowed: []string{"organiser", "organiser_a", "dept_lead", "team_member", "village"}},
	{route: "POST /files", on: "another county's pairing", path: "/files?pairing=2", allowed: []string{"organiser", "reviewer"}},
	{route: "GET /files/:file", on: "of pairing 1", path: "/files/f-of-1", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /pairings/:id/files", path: "/pairings/1/files", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /pairings/:id/files", on: "another county", path: "/pairings/2/files", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /pairings/:id/spot-checks", on: "own department (never for a reviewer)", path: "/pairings/1/spot-checks", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /pairings/:id/spot-checks", on: "another department", path: "/pairings/2/spot-checks", allowed: []string{"organiser", "reviewer"}},
	{route: "GET /pairings/:id/spot-checks", path: "/pairings/1/spot-checks", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "auditor"}},
	{route: "GET /pairings/:id/projects", path: "/pairings/1/projects", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "village", "auditor"}},
	{route: "GET /pairings/:id/projects", on: "another county", path: "/pairings/2/projects", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /pairings/:id/projects", path: "/pairings/1/projects", allowed: []string{"dept_lead", "team_member"},
		body: func(int) any {
			return map[string]any{"kind": "road", "name": "通组公路", "quantity": "3.5", "unit": "km"}
		}},
	{route: "POST /pairings/:id/projects", on: "another team", path: "/pairings/2/projects", allowed: nil,
		body: func(int) any {
			return map[string]any{"kind": "road", "name": "通组公路", "quantity": "3.5", "unit": "km"}
		}},
	{route: "POST /pairings/:id/projects/:project", path: "/pairings/1/projects/1", allowed: []string{"dept_lead", "team_member"},
		body: func(int) any { return map[string]any{"status": "under_way"} }},
	{route: "POST /pairings/:id/projects/:project/acceptance", on: "own department (never for a reviewer)", path: "/pairings/1/projects/1/acceptance",
		allowed: []string{"organiser", "organiser_a"}, body: func(int) any { return map[string]any{"note": "矩阵 matrix"} }},
	{route: "POST /pairings/:id/projects/:project/acceptance", on: "another department", path: "/pairings/2/projects/1/acceptance",
		allowed: []string{"organiser", "reviewer"}, body: func(int) any { return map[string]any{"note": "矩阵 matrix"} }},
	{route: "GET /cycles/:id/statistics", path: "/cycles/1/statistics", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/bulletins", path: "/cycles/1/bulletins", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "POST /cycles/:id/bulletins", path: "/cycles/1/bulletins", allowed: []string{"organiser"},
		body: func(int) any { return map[string]string{"period": "2027-01"} }},
	{route: "GET /cycles/:id/bulletins/:bulletin", path: "/cycles/1/bulletins/1", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/statistics", on: "by department", path: "/cycles/1/statistics?by=department", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "POST /pairings/:id/log", path: "/pairings/1/log", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/log", on: "another team", path: "/pairings/2/log", allowed: nil},
	{route: "GET /pairings/:id/log", path: "/pairings/1/log", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "team_member", "auditor"}},
	{route: "GET /pairings/:id/log", on: "another county", path: "/pairings/2/log", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /pairings/:id/leave/:leave/decision", on: "another department", path: "/pairings/2/leave/1/decision", allowed: []string{"organiser"}},
	{route: "POST /pairings/:id/plan", path: "/pairings/1/plan", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/reports", path: "/pairings/1/reports", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/decisions", on: "own department (never)", path: "/pairings/1/decisions", allowed: nil},
	{route: "POST /pairings/:id/decisions", on: "another department", path: "/pairings/2/decisions", allowed: []string{"reviewer"}},
	{route: "POST /pairings/:id/residency-flags", path: "/pairings/1/residency-flags", allowed: []string{"dept_lead"}},
	{route: "POST /pairings/:id/visits", path: "/pairings/1/visits", allowed: []string{"team_member", "dept_lead"}},
	{route: "POST /pairings/:id/evaluations", on: "own village", path: "/pairings/1/evaluations", allowed: []string{"village"}},
	{route: "POST /pairings/:id/evaluations", on: "another village", path: "/pairings/2/evaluations", allowed: nil},
	{route: "POST /pairings/:id/acceptance/self-assessment", path: "/pairings/1/acceptance/self-assessment", allowed: []string{"team_member"}},
	{route: "POST /pairings/:id/acceptance/scores", on: "own department (never)", path: "/pairings/1/acceptance/scores", allowed: nil},
	{route: "POST /pairings/:id/acceptance/scores", on: "another department", path: "/pairings/2/acceptance/scores", allowed: []string{"reviewer"}},
	{route: "POST /pairings/:id/acceptance/confirm", path: "/pairings/1/acceptance/confirm", allowed: []string{"organiser", "organiser_a"}},
	{route: "GET /cycles/:id/results", path: "/cycles/1/results", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "POST /pairings/:id/appeal", on: "own department", path: "/pairings/1/appeal", allowed: []string{"dept_lead"},
		body: func(int) any { return map[string]string{"reasons": "矩阵测试 matrix"} }},
	{route: "POST /pairings/:id/appeal", on: "another department", path: "/pairings/2/appeal", allowed: nil},
	{route: "POST /pairings/:id/appeal/decision", on: "own department (never)", path: "/pairings/1/appeal/decision", allowed: nil},
	{route: "POST /pairings/:id/appeal/decision", on: "another department", path: "/pairings/2/appeal/decision", allowed: []string{"reviewer"}},
	{route: "GET /cycles/:id/commendations", path: "/cycles/1/commendations", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/commendations", on: "as a workbook", path: "/cycles/1/commendations?format=xlsx", allowed: []string{"organiser", "reviewer", "auditor"}},
	{route: "GET /cycles/:id/commendations/proposals/:department", on: "own department", path: "/cycles/1/commendations/proposals/D1",
		allowed: []string{"dept_lead", "organiser", "organiser_a", "auditor"}},
	{route: "GET /cycles/:id/commendations/proposals/:department", on: "another department", path: "/cycles/1/commendations/proposals/D3",
		allowed: []string{"organiser", "organiser_a", "auditor"}},
	{route: "GET /cycles/:id/commendations/proposals/:department", on: "another county", path: "/cycles/1/commendations/proposals/D2",
		allowed: []string{"organiser", "auditor", "auditor_b"}},
	{route: "POST /cycles/:id/commendations/proposals/:department", on: "own department", path: "/cycles/1/commendations/proposals/D1", allowed: []string{"dept_lead"},
		body: func(int) any {
			return map[string]any{"cadres": []map[string]string{{"person_id": "P1", "reason": "矩阵 matrix"}}}
		}},
	{route: "POST /cycles/:id/commendations/proposals/:department", on: "another department", path: "/cycles/1/commendations/proposals/D3", allowed: nil},
	{route: "POST /cycles/:id/commendations/approval", path: "/cycles/1/commendations/approval", allowed: []string{"organiser"},
		body: func(int) any { return map[string]string{"task_id": "c1-1"} }},
	{route: "GET /tasks", path: "/tasks", allowed: []string{"signed-in"}},
	{route: "GET /notifications", path: "/notifications?unread=1", allowed: []string{"signed-in"}},
	{route: "POST /notifications/read", path: "/notifications/read", allowed: []string{"signed-in"},
		body: func(int) any { return map[string]bool{"all": true} }},
	// One's own contact details, or another's with user.update (an admin).
	{route: "GET /users/:username/contact", on: "another account's", path: "/users/target/contact", allowed: []string{"admin"}},
	{route: "GET /users/:username/contact", on: "one's own", path: "/users/dept_lead/contact", allowed: []string{"admin", "dept_lead"}},
	{route: "PUT /users/:username/contact", on: "another account's", path: "/users/target/contact", allowed: []string{"admin"},
		body: func(int) any { return map[string]any{"email": "target@example.gov.cn", "email_enabled": true} }},
	{route: "PUT /users/:username/contact", on: "one's own", path: "/users/dept_lead/contact", allowed: []string{"admin", "dept_lead"},
		body: func(int) any {
			return map[string]any{"email": "lead@example.gov.cn", "digest": true, "mute": []string{"publicity.begun"}}
		}},
	{route: "GET /tasks/:id", on: "own department", path: "/tasks/1-1",
		allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead", "auditor"}},
	{route: "GET /tasks/:id", on: "another county", path: "/tasks/2-1", allowed: []string{"organiser", "reviewer", "auditor", "auditor_b"}},
	{route: "POST /tasks/:id/reassign", path: "/tasks/1-1/reassign", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /tasks/:id/reassign", on: "another county", path: "/tasks/2-1/reassign", allowed: []string{"organiser"}},
	{route: "POST /tasks/:id/delegate", on: "own department (never for a reviewer)", path: "/tasks/1-1/delegate", allowed: []string{"organiser", "organiser_a", "dept_lead"}},
	{route: "POST /tasks/:id/delegate", on: "another department", path: "/tasks/2-1/delegate", allowed: []string{"organiser", "reviewer"}},
	{route: "POST /tasks/:id/due", path: "/tasks/1-1/due", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /tasks/:id/remind", path: "/tasks/1-1/remind", allowed: []string{"organiser", "organiser_a"}},
	{route: "POST /tasks/:id/notes", path: "/tasks/1-1/notes", allowed: []string{"organiser", "organiser_a"}},
	{route: "GET /delegations", path: "/delegations", allowed: []string{"signed-in"}},
	{route: "POST /delegations", path: "/delegations", allowed: []string{"organiser", "organiser_a", "reviewer", "dept_lead"},
		body: func(int) any { return map[string]string{"to": "organiser", "until": "2099-01-01"} }},
	{route: "DELETE /delegations/:id", path: "/delegations/999", allowed: []string{"signed-in"}},
	{route: "POST /bulk/decisions", path: "/bulk/decisions", allowed: []string{"organiser", "organiser_a", "reviewer"}},
	{route: "POST /bulk/reminders", path: "/bulk/reminders", allowed: []string{"organiser", "organiser_a"},
		body: func(int) any { return map[string][]string{"task_ids": {"1-1"}} }},
	{route: "GET /inspection-teams", path: "/inspection-teams?cycle=1", allowed: []string{"organiser", "auditor"}},
	{route: "POST /inspection-teams", path: "/inspection-teams", allowed: []string{"organiser"}},
	{route: "POST /inspection-teams/:id/pairings", path: "/inspection-teams/1/pairings", allowed: []string{"organiser"}},
	{route: "POST /cycles/:id/inspection-assignments", path: "/cycles/1/inspection-assignments", allowed: []string{"organiser"}},
	{route: "GET /cycles/:id/publicity", path: "/cycles/1/publicity", allowed: []string{"signed-in"}},
	{route: "GET /audit", path: "/audit?decision=deny", allowed: []string{"auditor"}},
	{route: "GET /audit/export", path: "/audit/export?format=jsonl", allowed: []string{"auditor"}},
	{route: "GET /audit/verify", path: "/audit/verify", allowed: []string{"auditor"}},
	{route: "GET /policy", path: "/policy", allowed: []string{"admin", "auditor"}},
	{route: "POST /policy/grants", path: "/policy/grants", allowed: []string{"admin"},
		body: func(int) any {
			return map[string]string{"username": "norole", "role": "reviewer", "jurisdiction": "县B"}
		}},
	{route: "DELETE /policy/grants", path: "/policy/grants", allowed: []string{"admin"},
		body: func(int) any {
			return map[string]string{"username": "norole", "role": "reviewer", "jurisdiction": "县B"}
		}},
}

// TestAuthorizationMatrix drives every API route through the real HTTP stack as
// every actor and asserts allow or deny for each cell; every denial is audited with
// the rule that matched.
func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.openReviews(t)
	tokens := map[string]string{}
	for _, a := range actors {
		if a.name == "anonymous" {
			continue
		}
		f.user(a.name, a.person, a.village, a.roles...)
	}
	f.user("target", "", "") // the account the account routes act on
	covered := map[string]bool{}
	for _, c := range cells {
		covered[c.route] = true
	}
	for _, r := range web.RouteList() {
		if !covered[r] {
			t.Errorf("route %s has no cell in the matrix", r)
		}
	}
	denied, deniedAnonymous := 0, 0 // deniedAnonymous: 401, no user
	for i, c := range cells {
		for j, a := range actors {
			t.Run(c.route+" "+c.on+" as "+a.name, func(t *testing.T) {
				// Sign in once per actor, and again after logout revoked the token.
				if a.name != "anonymous" && tokens[a.name] == "" {
					tokens[a.name] = f.login(f.srv, a.name)
				}
				if c.route == "POST /auth/logout" {
					defer delete(tokens, a.name)
				}
				method, _, _ := strings.Cut(c.route, " ")
				var body any
				if c.body != nil {
					body = c.body(i*100 + j)
				}
				status, resp := call(t, f.srv, tokens[a.name], method, "/api/v1"+c.path, body)
				want := allowed(c.allowed, a.name)
				got := status != http.StatusUnauthorized && status != http.StatusForbidden
				if got != want {
					t.Fatalf("status %d (allowed=%v), want allowed=%v: %s", status, got, want, resp)
				}
				if status >= 500 {
					t.Fatalf("status %d: %s", status, resp)
				}
				if !got {
					denied++
					if status == http.StatusUnauthorized {
						deniedAnonymous++
					}
					if !strings.Contains(resp, `"code":"forbidden"`) && !strings.Contains(resp, `"code":"unauthorized"`) {
						t.Fatalf("denial body %s", resp)
					}
				}
			})
		}
	}
	var entries []baocun.AuditEntry
	for cursor := ""; ; {
		page, next, err := f.audit.Query(context.Background(), baocun.AuditFilter{Decision: baocun.DecisionDeny, Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, page...)
		if cursor = next; next == "" {
			break
		}
	}
	// Every signed-in caller's denial is audited; a caller with no credential or a
	// bad one (401: no user) is audited a sample per network (web/signin.go: 20, then
	// one per 10 s).
	anonymous := 0
	for _, e := range entries {
		if e.Status == http.StatusUnauthorized {
			anonymous++
		}
	}
	if len(entries)-anonymous != denied-deniedAnonymous || anonymous == 0 || anonymous > min(deniedAnonymous, 25) {
		t.Fatalf("%d denials audited (%d anonymous), %d denied (%d anonymous)", len(entries), anonymous, denied, deniedAnonymous)
	}
	for _, e := range entries {
		if e.Rule == "" || e.Status == 0 || e.Action == "" {
			t.Fatalf("denial entry lacks rule, status or action: %+v", e)
		}
	}
}

func allowed(who []string, actor string) bool {
	for _, who := range who {
		switch {
		case who == "*", who == actor:
			return true
		case who == "signed-in" && actor != "anonymous":
			return true
		}
	}
	return false
}

// A revoked role stops working at once, on this instance and on another instance
// sharing the database, on SQLite and PostgreSQL. (Alice keeps another role, so her
// token lives on: revoking the last role ends it, TestAccountAttacks.)
func TestRevocationIsImmediate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		other := httptest.NewServer(f.handler())
		defer other.Close()
		f.user("admin", "", "", g("admin", "*"))
		f.user("alice", "", "", g("auditor", "*"), g("organiser", "县A"))
		admin, alice := f.login(f.srv, "admin"), f.login(f.srv, "alice")
		for _, srv := range []*httptest.Server{f.srv, other} {
			if status, body := call(t, srv, alice, "GET", "/api/v1/users", nil); status != 200 {
				t.Fatalf("before revocation: %d %s", status, body)
			}
		}
		if status, body := call(t, f.srv, admin, "DELETE", "/api/v1/policy/grants", map[string]string{"username": "alice", "role": "auditor", "jurisdiction": "*"}); status != 200 {
			t.Fatalf("revoke: %d %s", status, body)
		}
		for _, srv := range []*httptest.Server{f.srv, other} {
			if status, body := call(t, srv, alice, "GET", "/api/v1/users", nil); status != 403 {
				t.Fatalf("after revocation: %d %s, want 403", status, body)
			}
		}
		if status, body := call(t, other, admin, "POST", "/api/v1/policy/grants", map[string]string{"username": "alice", "role": "auditor", "jurisdiction": "*"}); status != 201 {
			t.Fatalf("grant again: %d %s", status, body)
		}
		if status, body := call(t, f.srv, alice, "GET", "/api/v1/users", nil); status != 200 {
			t.Fatalf("after re-grant: %d %s", status, body)
		}
	})
}

// Bad input gets a clear 4xx and changes nothing.
func TestAuthBadInput(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("admin", "", "", g("admin", "*"))
	admin := f.login(f.srv, "admin")
	expired := f.login(f.srv, "admin")
	if _, err := f.db.ExecContext(context.Background(), "UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE hash <> ''"+
		" AND created_at = (SELECT MAX(created_at) FROM tokens)"); err != nil {
		t.Fatal(err)
	}
	before := f.state(t)
	tests := []struct {
		name, token, method, path string
		body                      any
		status                    int
		want                      string
	}{
		{"malformed token", "not a token at all", "GET", "/api/v1/users", nil, 401, "unauthorized"},
		{"unknown token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/api/v1/users", nil, 401, "unauthorized"},
		{"expired token", expired, "GET", "/api/v1/users", nil, 401, "expired"},
		{"login body not JSON", "", "POST", "/api/v1/auth/login", "username=admin", 400, "JSON"},
		{"login unknown field", "", "POST", "/api/v1/auth/login", `{"user":"admin","password":"x"}`, 400, "unknown field"},
		{"login missing password", "", "POST", "/api/v1/auth/login", `{"username":"admin"}`, 400, "password"},
		{"no such role", admin, "POST", "/api/v1/users", map[string]any{"username": "bob", "password": password, "roles": []baocun.Grant{g("mayor", "*")}}, 400, "mayor"},
		{"no such jurisdiction", admin, "POST", "/api/v1/users", map[string]any{"username": "bob", "password": password, "roles": []baocun.Grant{g("reviewer", "县Z")}}, 400, "县Z"},
		{"reviewer without a person", admin, "POST", "/api/v1/users", map[string]any{"username": "bob", "password": password, "roles": []baocun.Grant{g("reviewer", "*")}}, 400, "person_id"},
		{"short password", admin, "POST", "/api/v1/users", map[string]any{"username": "bob", "password": "short"}, 400, "password"},
		{"duplicate user", admin, "POST", "/api/v1/users", map[string]any{"username": "admin", "password": password}, 409, "already"},
		{"grant to no such user", admin, "POST", "/api/v1/policy/grants", map[string]string{"username": "ghost", "role": "reviewer", "jurisdiction": "*"}, 400, "ghost"},
		{"revoke a role not held", admin, "DELETE", "/api/v1/policy/grants", map[string]string{"username": "admin", "role": "reviewer", "jurisdiction": "*"}, 404, "does not hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, f.srv, tt.token, tt.method, tt.path, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%d %s, want %d containing %q", status, body, tt.status, tt.want)
			}
		})
	}
	if after := f.state(t); after != before {
		t.Fatalf("state changed:\n%s\n%s", before, after)
	}
	// Every refused credential is an audited denial.
	denials, _, err := f.audit.Query(context.Background(), baocun.AuditFilter{Decision: baocun.DecisionDeny, Action: "user.read"})
	if err != nil {
		t.Fatal(err)
	}
	if len(denials) != 3 {
		t.Fatalf("%d refused credentials audited on GET /users, want 3 (malformed, unknown, expired)", len(denials))
	}
}

// Two admins creating the same account at once get one account and one clear 409,
// on PostgreSQL as on SQLite.
func TestConcurrentCreateUser(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.user("admin", "", "", g("admin", "*"))
		admin := f.login(f.srv, "admin")
		const n = 5
		statuses := make(chan int, n)
		for range n {
			go func() {
				s, _ := call(t, f.srv, admin, "POST", "/api/v1/users", map[string]any{"username": "bob", "password": password})
				statuses <- s
			}()
		}
		count := map[int]int{}
		for range n {
			count[<-statuses]++
		}
		if count[201] != 1 || count[409] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
		}
	})
}

// The audit trail records the address the connection came from: a client cannot
// choose it with X-Forwarded-For.
func TestSourceAddressCannotBeForged(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("alice", "", "", g("auditor", "*"))
	b, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/auth/login", bytes.NewReader(b))
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	entries, _, _ := f.audit.Query(context.Background(), baocun.AuditFilter{Action: "auth.login"})
	if len(entries) != 1 || entries[0].SourceIP != "127.0.0.1" {
		t.Fatalf("entries %+v, want source 127.0.0.1", entries)
	}
}

// Repeated wrong passwords lock the account for a growing while, even against the
// right password; a locked account answers like a wrong password (no username
// enumeration) and every attempt is audited with the lock.
func TestLoginLockout(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("alice", "", "", g("auditor", "*"))
	_, unknown := call(t, f.srv, "", "POST", "/api/v1/auth/login", map[string]string{"username": "nobody", "password": "whatever-it-is"})
	// Wrong passwords until a lock holds for a while yet: every attempt, locked or
	// not, costs a password check, and on a slow machine (or under the race
	// detector) a one-second lock can pass while the next guess is checked.
	attempts := 0
	for ; attempts < 5 || f.lockedFor(t, "alice", "127.0.0.1") < time.Second; attempts++ {
		if attempts == 20 {
			t.Fatal("twenty wrong passwords and no lock")
		}
		// A guess while locked is not counted: let a short lock run out, so the next
		// guess counts and doubles it (quick guesses would otherwise all fall inside
		// the first one-second lock).
		if left := f.lockedFor(t, "alice", "127.0.0.1"); left > 0 {
			time.Sleep(left)
		}
		status, body := call(t, f.srv, "", "POST", "/api/v1/auth/login", map[string]string{"username": "alice", "password": fmt.Sprintf("wrong-%d-password", attempts)})
		if status != 401 || body != unknown {
			t.Fatalf("attempt %d: %d %s (an unknown name: %s)", attempts, status, body, unknown)
		}
	}
	status, body := call(t, f.srv, "", "POST", "/api/v1/auth/login", map[string]string{"username": "alice", "password": password})
	if status != 401 || body != unknown {
		t.Fatalf("right password while locked: %d %s, want 401 as for an unknown name (%s)", status, body, unknown)
	}
	entries, _, err := f.audit.Query(context.Background(), baocun.AuditFilter{Actor: "alice", Action: "auth.login", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != attempts+1 || !strings.Contains(entries[0].Summary, "locked until") {
		t.Fatalf("%d login attempts audited (want %d), newest %+v", len(entries), attempts+1, entries[0])
	}
}

// Parallel wrong passwords are each counted: a burst cannot slip past the lock by
// racing the counter. (Attempts the password slots turned away with 429 were never
// checked, and attempts the lock refused are not counted: every other one is.)
func TestParallelLoginFailuresCount(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.user("alice", "", "", g("auditor", "*"))
		const n = 12
		counted := make(chan int, n)
		for i := range n {
			go func() {
				res, err := f.db.Login(context.Background(), baocun.LoginAttempt{Username: "alice", Password: fmt.Sprintf("wrong-%d-password", i),
					Source: "192.0.2.1", Now: time.Now()})
				switch {
				case err == nil:
					t.Errorf("wrong password accepted")
				case baocun.ErrorCode(err) == baocun.EUNAUTHORIZED && res.Reason != "locked":
					counted <- 1
					return
				}
				counted <- 0
			}()
		}
		want := 0
		for range n {
			want += <-counted
		}
		var failed int
		f.db.QueryRowContext(context.Background(), "SELECT failures FROM login_failures WHERE username = 'alice' AND source = '192.0.2.1'").Scan(&failed)
		if want == 0 || failed != want {
			t.Fatalf("%d failures counted after %d parallel wrong passwords, %d checked and not refused by the lock: attempts were lost", failed, n, want)
		}
	})
}

// The browser's session: an HttpOnly SameSite cookie, and a CSRF token required on
// every request that changes something; a bearer token is no cookie.
func TestSessionCookieAndCSRF(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("alice", "", "", g("auditor", "*"))
	b, _ := json.Marshal(map[string]any{"username": "alice", "password": password, "session": true})
	resp, err := http.Post(f.srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		CSRF  string `json:"csrf_token"`
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || out.CSRF == "" || out.Token != "" {
		t.Fatalf("session login: cookie %+v, body %+v", cookie, out)
	}
	send := func(method, path, csrf string, c *http.Cookie) (int, []byte) {
		req, _ := http.NewRequest(method, f.srv.URL+path, nil)
		req.AddCookie(c)
		if csrf != "" {
			req.Header.Set(web.CSRFHeader, csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	do := func(method, path, csrf string, c *http.Cookie) int {
		s, _ := send(method, path, csrf, c)
		return s
	}
	if s := do("GET", "/api/v1/users", "", cookie); s != 200 {
		t.Fatalf("GET with session: %d", s)
	}
	if s := do("POST", "/api/v1/auth/logout", "", cookie); s != 403 {
		t.Fatalf("POST without CSRF token: %d, want 403", s)
	}
	if s := do("POST", "/api/v1/auth/logout", "wrong", cookie); s != 403 {
		t.Fatalf("POST with a wrong CSRF token: %d, want 403", s)
	}
	// A reloaded page recovers the CSRF token from /auth/me.
	_, meBody := send("GET", "/api/v1/auth/me", "", cookie)
	var me struct {
		Username string `json:"username"`
		CSRF     string `json:"csrf_token"`
	}
	json.Unmarshal(meBody, &me)
	if me.Username != "alice" || me.CSRF != out.CSRF {
		t.Fatalf("/auth/me with the session: %+v", me)
	}
	// A stale cookie without its CSRF token never stops anyone signing in again.
	lb, _ := json.Marshal(map[string]any{"username": "alice", "password": password, "session": true})
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/auth/login", bytes.NewReader(lb))
	req.AddCookie(cookie)
	again, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != 200 {
		t.Fatalf("sign-in with a stale cookie and no CSRF token: %d", again.StatusCode)
	}
	if s := do("POST", "/api/v1/auth/logout", out.CSRF, cookie); s != 204 {
		t.Fatalf("logout with CSRF token: %d", s)
	}
	if s := do("GET", "/api/v1/users", "", cookie); s != 401 {
		t.Fatalf("GET after logout: %d, want 401", s)
	}
	bearer := f.login(f.srv, "alice")
	if s := do("GET", "/api/v1/users", "", &http.Cookie{Name: web.SessionCookie, Value: bearer}); s != 401 {
		t.Fatalf("bearer token as a cookie: %d, want 401", s)
	}
}

// launchBody is a valid launch of one pairing (D3 with V7, unpaired) in jurisdiction j.
func launchBody(j string) map[string]any {
	return map[string]any{"name": "矩阵 matrix", "jurisdiction": j, "start_date": "2027-01-01",
		"pairings": []map[string]string{{"department_code": "D3", "village_code": "V7", "kind": "包扶"}}}
}

// openReviews opens a report review on each of the fixture's pairings: tasks 1-1
// (D1 → V1, 县A) and 2-1 (D2 → V2, 县B), due in a week.
func (f *fixture) openReviews(t testing.TB) {
	t.Helper()
	now := time.Now()
	var open []baocun.Task
	for i, p := range []struct{ county, dept, village string }{{"县A", "D1", "V1"}, {"县B", "D2", "V2"}} {
		open = append(open, baocun.Task{ID: fmt.Sprintf("%d-1", i+1), Kind: baocun.TaskReviewReport, PairingID: int64(i + 1), CycleID: 1,
			Role: baocun.RoleReviewer, Jurisdiction: p.county, Department: p.dept, Village: p.village, Period: 1, Subject: "第 1 期汇报",
			DueAt: now.Add(7 * 24 * time.Hour), DueDate: "2027-04-10", RemindAt: now.Add(5 * 24 * time.Hour)})
	}
	if err := f.db.ApplyChange(context.Background(), baocun.Change{At: now, Open: open}); err != nil {
		t.Fatal(err)
	}
}
