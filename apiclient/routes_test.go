package apiclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"baocun"
	"baocun/apiclient"
	"baocun/baocuntest"
	"baocun/policy"
	"baocun/sheet"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// service is the real HTTP API on SQLite with the in-process engine (no workflow
// runs: steps are answered by fake.Take), and an admin account.
type service struct {
	srv  *httptest.Server
	db   *sqldb.DB
	fake *baocuntest.Engine
}

const password = "client-test-password"

func newService(t *testing.T) *service {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	if _, err := db.SeedPolicy(ctx, policy.DefaultRows(), nil); err != nil {
		t.Fatal(err)
	}
	hash, err := baocun.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, baocun.NewUser{Username: "admin", PasswordHash: hash,
		Roles: []baocun.Grant{{Role: baocun.RoleAdmin, Jurisdiction: baocun.CityJurisdiction}}}, nil); err != nil {
		t.Fatal(err)
	}
	en, err := policy.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	fake := baocuntest.New()
	srv := httptest.NewServer(web.NewServer(web.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		Store: db, Authorizer: en, Audit: sqldbtest.AuditLog(t, db), Engine: fake}))
	t.Cleanup(srv.Close)
	return &service{srv: srv, db: db, fake: fake}
}

// routes are the API's routes as its OpenAPI document lists them: "METHOD
// /api/v1/path/{param}".
func (s *service) routes(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(s.srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// Every typed call sends a request the API has a route for, and every route of the
// API has a typed call: a route added to web/routes.go without one fails here.
func TestClientCoversRoutes(t *testing.T) {
	var mu sync.Mutex
	var sent []string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Write([]byte(`{"token":"t"}`))
	}))
	defer rec.Close()
	ctx := context.Background()
	c := apiclient.New(rec.URL, nil)
	calls := map[string]func() error{
		"SignIn":              func() error { _, err := c.SignIn(ctx, "u", "p"); return err },
		"SignOut":             func() error { return c.SignOut(ctx) },
		"Me":                  func() error { _, err := c.Me(ctx); return err },
		"ChangePassword":      func() error { return c.ChangePassword(ctx, "old", "new") },
		"CreateUser":          func() error { _, err := c.CreateUser(ctx, apiclient.Account{Username: "u"}); return err },
		"Users":               func() error { _, err := c.Users(ctx); return err },
		"User":                func() error { _, err := c.User(ctx, "u"); return err },
		"UpdateUser":          func() error { _, err := c.UpdateUser(ctx, "u", apiclient.UserChange{}); return err },
		"ResetPassword":       func() error { _, err := c.ResetPassword(ctx, "u", "p"); return err },
		"Unlock":              func() error { _, err := c.Unlock(ctx, "u"); return err },
		"Sessions":            func() error { _, err := c.Sessions(ctx, "u"); return err },
		"EndSessions":         func() error { _, err := c.EndSessions(ctx, "u"); return err },
		"Policy":              func() error { _, err := c.Policy(ctx); return err },
		"Grant":               func() error { return c.Grant(ctx, "u", baocun.Grant{}) },
		"Revoke":              func() error { return c.Revoke(ctx, "u", baocun.Grant{}) },
		"ImportDirectory":     func() error { _, err := c.ImportDirectory(ctx, "people", "id\n"); return err },
		"ImportWorkbook":      func() error { _, err := c.ImportWorkbook(ctx, "people", []byte("PK")); return err },
		"Departments":         func() error { _, err := c.Departments(ctx, ""); return err },
		"Department":          func() error { _, err := c.Department(ctx, "D1"); return err },
		"PutDepartment":       func() error { _, err := c.PutDepartment(ctx, baocun.Department{Code: "D1"}); return err },
		"DepartmentPeople":    func() error { _, err := c.DepartmentPeople(ctx, "D1"); return err },
		"Villages":            func() error { _, err := c.Villages(ctx, "县A"); return err },
		"Village":             func() error { _, err := c.Village(ctx, "V1"); return err },
		"UnpairedVillages":    func() error { _, err := c.UnpairedVillages(ctx, ""); return err },
		"VillageHistory":      func() error { _, err := c.VillageHistory(ctx, "V1"); return err },
		"AddLeaderContact":    func() error { _, err := c.AddLeaderContact(ctx, "V1", baocun.LeaderContactInput{}); return err },
		"PutVillage":          func() error { _, err := c.PutVillage(ctx, baocun.Village{Code: "V1"}); return err },
		"Person":              func() error { _, err := c.Person(ctx, "P1"); return err },
		"PutPerson":           func() error { _, err := c.PutPerson(ctx, baocun.Person{ID: "P1"}); return err },
		"Launch":              func() error { _, err := c.Launch(ctx, apiclient.LaunchSpec{}); return err },
		"Cycles":              func() error { _, err := c.Cycles(ctx); return err },
		"Cycle":               func() error { _, err := c.Cycle(ctx, 1); return err },
		"CancelCycle":         func() error { return c.CancelCycle(ctx, 1, "r") },
		"Pairings":            func() error { _, err := c.Pairings(ctx, 1, nil); return err },
		"Pairing":             func() error { _, err := c.Pairing(ctx, 1); return err },
		"Inbox":               func() error { _, err := c.Inbox(ctx); return err },
		"Tasks":               func() error { _, err := c.Tasks(ctx, url.Values{"status": {"all"}}); return err },
		"Results":             func() error { _, err := c.Results(ctx, 1); return err },
		"Commendation":        func() error { _, err := c.Commendation(ctx, 1); return err },
		"CommendationFile":    func() error { _, err := c.CommendationFile(ctx, 1, "csv"); return err },
		"Publicity":           func() error { _, err := c.Publicity(ctx, 1); return err },
		"Statistics":          func() error { _, err := c.Statistics(ctx, 1, "county"); return err },
		"Bulletins":           func() error { _, err := c.Bulletins(ctx, 1); return err },
		"PublishBulletin":     func() error { _, err := c.PublishBulletin(ctx, 1, "2027-01"); return err },
		"Bulletin":            func() error { c.Bulletin(ctx, 1, 1); return nil }, // the recorder's answer is no bulletin
		"Projects":            func() error { _, err := c.Projects(ctx, 1); return err },
		"AddProject":          func() error { _, err := c.AddProject(ctx, 1, baocun.ProjectInput{}); return err },
		"ProgressProject":     func() error { _, err := c.ProgressProject(ctx, 1, 1, baocun.ProjectProgress{}); return err },
		"AcceptProject":       func() error { _, err := c.AcceptProject(ctx, 1, 1, baocun.ProjectAcceptance{}); return err },
		"Candidates":          func() error { _, err := c.Candidates(ctx, 1, "D1"); return err },
		"Propose":             func() error { _, err := c.Propose(ctx, 1, "D1", baocun.ProposeInput{}); return err },
		"ApproveCommendation": func() error { _, err := c.ApproveCommendation(ctx, 1, baocun.ApproveInput{}); return err },
		"NominateTeam":        func() error { _, err := c.NominateTeam(ctx, 1, baocun.TeamInput{}); return err },
		"DecideTeam":          func() error { _, err := c.DecideTeam(ctx, 1, baocun.DecisionInput{}); return err },
		"RequestTeamChange":   func() error { _, err := c.RequestTeamChange(ctx, 1, baocun.TeamChangeInput{}); return err },
		"ConfirmArrival":      func() error { _, err := c.ConfirmArrival(ctx, 1); return err },
		"SubmitPlan":          func() error { _, err := c.SubmitPlan(ctx, 1, baocun.PlanInput{}); return err },
		"SubmitReport":        func() error { _, err := c.SubmitReport(ctx, 1, baocun.ReportInput{}); return err },
		"DecideReview":        func() error { _, err := c.DecideReview(ctx, 1, baocun.DecisionInput{}); return err },
		"AcknowledgeFlag":     func() error { _, err := c.AcknowledgeFlag(ctx, 1, "t"); return err },
		"SubmitEvaluation":    func() error { _, err := c.SubmitEvaluation(ctx, 1, baocun.EvaluationInput{}); return err },
		"CancelPairing":       func() error { _, err := c.CancelPairing(ctx, 1, "r"); return err },
		"SelfAssess":          func() error { _, err := c.SelfAssess(ctx, 1, baocun.SelfAssessInput{}); return err },
		"Score":               func() error { _, err := c.Score(ctx, 1, baocun.ScoreInput{}); return err },
		"ConfirmAcceptance":   func() error { _, err := c.ConfirmAcceptance(ctx, 1, baocun.ConfirmInput{}); return err },
		"Appeal":              func() error { _, err := c.Appeal(ctx, 1, baocun.AppealInput{}); return err },
		"DecideAppeal":        func() error { _, err := c.DecideAppeal(ctx, 1, baocun.AppealDecisionInput{}); return err },
		"CheckIn":             func() error { _, err := c.CheckIn(ctx, 1, baocun.CheckinInput{}); return err },
		"Checkins":            func() error { _, err := c.Checkins(ctx, 1, "2027-01"); return err },
		"ReviewCheckin":       func() error { _, err := c.ReviewCheckin(ctx, 1, baocun.CheckinReview{}); return err },
		"ConfirmMonth":        func() error { _, err := c.ConfirmMonth(ctx, 1, "2027-01", baocun.MonthConfirmation{}); return err },
		"AnswerDispute":       func() error { return c.AnswerDispute(ctx, 1, baocun.DecisionInput{}) },
		"WithdrawLeave":       func() error { _, err := c.WithdrawLeave(ctx, 1, 1); return err },
		"RequestLeave":        func() error { _, err := c.RequestLeave(ctx, 1, baocun.LeaveInput{}); return err },
		"Leaves":              func() error { _, err := c.Leaves(ctx, 1, ""); return err },
		"DecideLeave":         func() error { _, err := c.DecideLeave(ctx, 1, 2, baocun.LeaveDecision{}); return err },
		"RecordSpotCheck":     func() error { _, err := c.RecordSpotCheck(ctx, 1, baocun.SpotCheckInput{}); return err },
		"SpotChecks":          func() error { _, err := c.SpotChecks(ctx, 1); return err },
		"AddLog":              func() error { _, err := c.AddLog(ctx, 1, baocun.LogInput{}); return err },
		"UploadFile":          func() error { _, err := c.UploadFile(ctx, 1, "a.png", []byte("x")); return err },
		"File":                func() error { _, err := c.File(ctx, "f1", false); return err },
		"Files":               func() error { _, err := c.Files(ctx, 1); return err },
		"Log":                 func() error { _, _, err := c.Log(ctx, 1, url.Values{"q": {"路"}}); return err },
		"RecordVisit":         func() error { return c.RecordVisit(ctx, 1, baocun.VisitInput{}) },
		"Audit":               func() error { _, err := c.Audit(ctx, nil); return err },
		"AuditExport":         func() error { _, err := c.AuditExport(ctx, url.Values{"format": {"jsonl"}}); return err },
		"VerifyAudit":         func() error { _, err := c.VerifyAudit(ctx); return err },
		"Task":                func() error { _, err := c.Task(ctx, "1-1"); return err },
		"Reassign":            func() error { _, err := c.Reassign(ctx, "1-1", baocun.ReassignInput{To: "u"}); return err },
		"DelegateTask":        func() error { _, err := c.DelegateTask(ctx, "1-1", baocun.DelegateInput{To: "u"}); return err },
		"ExtendDue":           func() error { _, err := c.ExtendDue(ctx, "1-1", baocun.DueInput{DueDate: "2027-05-01"}); return err },
		"Remind":              func() error { _, err := c.Remind(ctx, "1-1", ""); return err },
		"NoteTask":            func() error { _, err := c.NoteTask(ctx, "1-1", "n"); return err },
		"Delegations":         func() error { _, err := c.Delegations(ctx); return err },
		"Delegate":            func() error { _, err := c.Delegate(ctx, baocun.DelegationInput{To: "u"}); return err },
		"RevokeDelegation":    func() error { return c.RevokeDelegation(ctx, 1) },
		"BulkDecide":          func() error { _, err := c.BulkDecide(ctx, baocun.BulkDecisionInput{}); return err },
		"BulkRemind":          func() error { _, err := c.BulkRemind(ctx, baocun.BulkRemindInput{}); return err },
		"InspectionTeams":     func() error { _, err := c.InspectionTeams(ctx, 1); return err },
		"CreateInspectionTeam": func() error {
			_, err := c.CreateInspectionTeam(ctx, baocun.InspectionTeamInput{CycleID: 1})
			return err
		},
		"AssignPairings":     func() error { _, err := c.AssignPairings(ctx, 1, []int64{1}); return err },
		"BalanceInspections": func() error { _, err := c.BalanceInspections(ctx, 1); return err },
		"Notifications":      func() error { _, err := c.Notifications(ctx, url.Values{"unread": {"1"}}); return err },
		"MarkRead":           func() error { _, _, err := c.MarkRead(ctx, []int64{1}, false); return err },
		"Contact":            func() error { _, err := c.Contact(ctx, "u"); return err },
		"PutContact":         func() error { _, err := c.PutContact(ctx, "u", baocun.Contact{}); return err },
	}
	routes := newService(t).routes(t)
	pattern := map[string]*regexp.Regexp{}
	for _, r := range routes {
		pattern[r] = regexp.MustCompile("^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(r), "[^/]+") + "$")
	}
	covered := map[string]string{} // route → a call that sends it
	for name, call := range calls {
		mu.Lock()
		sent = sent[:0]
		mu.Unlock()
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		mu.Lock()
		reqs := slices.Clone(sent)
		mu.Unlock()
		if len(reqs) != 1 {
			t.Errorf("%s sent %v, want one request", name, reqs)
			continue
		}
		i := slices.IndexFunc(routes, func(r string) bool { return pattern[r].MatchString(reqs[0]) })
		if i < 0 {
			t.Errorf("%s sent %s: the API has no such route", name, reqs[0])
			continue
		}
		covered[routes[i]] = name
	}
	for _, r := range routes {
		if _, ok := covered[r]; !ok {
			t.Errorf("route %s has no typed call", r)
		}
	}
}

// The typed calls against the real handlers: accounts and sessions, grants, the
// directory, a launch and what it shows, steps (taken by the in-process engine, an
// Idempotency-Key passed on), the audit trail and its exports, and the API's errors
// as *apiclient.Error.
func TestClientOnAService(t *testing.T) {
	s := newService(t)
	s.fake.Take = func(st baocun.Step) (baocun.StepResult, error) {
		return baocun.StepResult{Stage: string(baocun.StageDispatch), Opened: []string{"task-" + string(st.Kind)}}, nil
	}
	ctx := context.Background()
	anon := apiclient.New(s.srv.URL, nil)
	if !anon.Ready(ctx) {
		t.Fatal("not ready")
	}
	admin, err := anon.SignIn(ctx, "admin", password)
	if err != nil {
		t.Fatal(err)
	}
	if me, err := admin.Me(ctx); err != nil || me.Username != "admin" || admin.Username() != "admin" {
		t.Fatalf("me: %+v, %v", me, err)
	}
	if _, err := anon.SignIn(ctx, "admin", "wrong password"); apiclient.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %v, want 401", err)
	}

	// Accounts, each signed in.
	account := func(username, person string, roles ...baocun.Grant) *apiclient.Client {
		t.Helper()
		u, err := admin.CreateUser(ctx, apiclient.Account{Username: username, Password: password, PersonID: person, Roles: roles})
		if err != nil || u.Username != username {
			t.Fatalf("create %s: %+v, %v", username, u, err)
		}
		c, err := anon.SignIn(ctx, username, password)
		if err != nil {
			t.Fatalf("sign in %s: %v", username, err)
		}
		return c
	}
	city := func(role baocun.Role) baocun.Grant {
		return baocun.Grant{Role: role, Jurisdiction: baocun.CityJurisdiction}
	}
	org := account("organiser", "", city(baocun.RoleOrganiser))
	auditor := account("auditor", "", city(baocun.RoleAuditor))

	// The directory: files (CSV and XLSX), and one record at a time.
	for _, f := range []struct{ kind, csv string }{
		{"departments", "code,name,level,county\nD1,甲县农业局,县直,县A\nD2,乙县交通局,县直,县B\n"},
		{"villages", "code,name,county,township,class\nV1,甲村,县A,一镇,3\nV2,乙村,县B,二镇,2\n"},
	} {
		if n, err := org.ImportDirectory(ctx, f.kind, f.csv); err != nil || n != 2 {
			t.Fatalf("import %s: %d, %v", f.kind, n, err)
		}
	}
	var xlsx bytes.Buffer
	if err := sheet.WriteXLSX(&xlsx, sheet.Sheet{Name: "people", Header: []string{"id", "name", "department_code"},
		Rows: [][]string{{"P1", "张三", "D1"}, {"P2", "李四", "D1"}, {"P3", "王五", "D2"}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := org.ImportWorkbook(ctx, "people", xlsx.Bytes()); err != nil || n != 3 {
		t.Fatalf("import people (XLSX): %d, %v", n, err)
	}
	_, err = org.ImportDirectory(ctx, "people", "id,name,department_code\nP9,赵六,NOPE\n")
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || len(ae.Rows) == 0 || ae.Code != baocun.EINVALID {
		t.Fatalf("a person of no department: %#v, want 422 with rows", err)
	}
	if ds, err := org.Departments(ctx, ""); err != nil || len(ds) != 2 {
		t.Errorf("departments: %+v, %v", ds, err)
	}
	if ds, err := org.Departments(ctx, "县B"); err != nil || len(ds) != 1 || ds[0].Code != "D2" {
		t.Errorf("departments of 县B: %+v, %v", ds, err)
	}
	if d, err := org.PutDepartment(ctx, baocun.Department{Code: "D3", Name: "市财政局", Level: "市直"}); err != nil || d.Name != "市财政局" {
		t.Errorf("put department: %+v, %v", d, err)
	}
	if d, err := org.Department(ctx, "D3"); err != nil || d.Level != "市直" {
		t.Errorf("department D3: %+v, %v", d, err)
	}
	if vs, err := org.Villages(ctx, ""); err != nil || len(vs) != 2 {
		t.Errorf("villages: %+v, %v", vs, err)
	}
	v, err := org.Village(ctx, "V2")
	if err != nil || v.Name != "乙村" {
		t.Fatalf("village V2: %+v, %v", v, err)
	}
	v.Name, v.Population = "乙村（新）", 800
	if got, err := org.PutVillage(ctx, *v); err != nil || got.Name != "乙村（新）" || got.Population != 800 {
		t.Errorf("put village: %+v, %v", got, err)
	}
	if p, err := org.PutPerson(ctx, baocun.Person{ID: "P4", Name: "钱七", DepartmentCode: "D1", Title: "科员"}); err != nil || p.Title != "科员" {
		t.Errorf("put person: %+v, %v", p, err)
	}
	if p, err := org.Person(ctx, "P4"); err != nil || p.Name != "钱七" {
		t.Errorf("person P4: %+v, %v", p, err)
	}
	if ps, err := org.DepartmentPeople(ctx, "D1"); err != nil || len(ps) != 3 {
		t.Errorf("D1's people: %+v, %v", ps, err)
	}
	if _, err := org.Village(ctx, "NOPE"); apiclient.StatusOf(err) != http.StatusNotFound {
		t.Errorf("no such village: %v, want 404", err)
	}

	// A launch and what it shows.
	lead := account("lead", "P1", city(baocun.RoleDeptLead))
	id, err := org.Launch(ctx, apiclient.LaunchSpec{Name: "第一轮 first", Jurisdiction: baocun.CityJurisdiction,
		CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01"}, Pairings: []baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: baocun.KindSupport}}})
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := org.Cycles(ctx); err != nil || len(cs) != 1 || cs[0].ID != id {
		t.Errorf("cycles: %+v, %v", cs, err)
	}
	if cy, err := org.Cycle(ctx, id); err != nil || cy.PairingsTotal != 1 {
		t.Errorf("cycle: %+v, %v", cy, err)
	}
	ps, err := org.Pairings(ctx, id, url.Values{"department": {"D1"}})
	if err != nil || len(ps) != 1 {
		t.Fatalf("pairings: %+v, %v", ps, err)
	}
	pid := ps[0].ID
	if pv, err := lead.Pairing(ctx, pid); err != nil || pv.Village != "V1" || pv.ProgrammeNow == "" {
		t.Errorf("pairing: %+v, %v", pv, err)
	}
	if _, err := org.Results(ctx, id); err != nil {
		t.Errorf("results: %v", err)
	}
	if cm, err := org.Commendation(ctx, id); err != nil || cm.CycleID != id {
		t.Errorf("commendation: %+v, %v", cm, err)
	}
	if f, err := org.CommendationFile(ctx, id, "csv"); err != nil || len(f) == 0 {
		t.Errorf("commendation CSV: %d bytes, %v", len(f), err)
	}
	if cand, err := lead.Candidates(ctx, id, "D1"); err != nil || cand.Department != "D1" {
		t.Errorf("candidates: %+v, %v", cand, err)
	}
	if tasks, err := lead.Tasks(ctx, url.Values{"status": {"all"}}); err != nil {
		t.Errorf("tasks: %+v, %v", tasks, err)
	}

	// Steps reach the engine as the route's step, with the Idempotency-Key's chain.
	res, err := lead.WithKey("nominate-1").NominateTeam(ctx, pid, baocun.TeamInput{Leader: "P1", Members: []string{"P1", "P2"}})
	if err != nil || res.Stage != string(baocun.StageDispatch) || len(res.Opened) != 1 {
		t.Fatalf("nominate: %+v, %v", res, err)
	}
	if _, err := org.DecideTeam(ctx, pid, baocun.DecisionInput{TaskID: "t", Outcome: baocun.OutcomeApprove}); err != nil {
		t.Fatalf("decide: %v", err)
	}
	if _, err := org.ApproveCommendation(ctx, id, baocun.ApproveInput{TaskID: "t"}); err != nil {
		t.Fatalf("approve the commendation: %v", err)
	}
	if _, err := lead.NominateTeam(ctx, pid, baocun.TeamInput{Leader: "P3", Members: []string{"P3"}}); apiclient.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("a team of another department's person: %v, want 400", err)
	}
	steps := s.fake.Steps()
	var kinds []baocun.StepKind
	for _, st := range steps {
		kinds = append(kinds, st.Kind)
	}
	if !slices.Equal(kinds, []baocun.StepKind{baocun.StepNominateTeam, baocun.StepDecideTeam, baocun.StepApprove}) || len(steps[0].Keys) == 0 || len(steps[1].Keys) == 0 || slices.Equal(steps[0].Keys, steps[1].Keys) {
		t.Errorf("steps taken: %v (keys %d, %d), want nominate, decide, approve, each under a key of its own", kinds, len(steps[0].Keys), len(steps[1].Keys))
	}
	if err := org.CancelCycle(ctx, id, "测试结束 the test is over"); err != nil || !s.fake.Cancelled(id) {
		t.Errorf("cancel the cycle: %v", err)
	}

	// Accounts: list, disable, reset, unlock, sessions; grants and the policy.
	if us, err := admin.Users(ctx); err != nil || len(us) != 4 {
		t.Errorf("users: %+v, %v", us, err)
	}
	if u, err := admin.User(ctx, "lead"); err != nil || u.PersonID != "P1" {
		t.Errorf("user lead: %+v, %v", u, err)
	}
	if ss, err := admin.Sessions(ctx, "lead"); err != nil || len(ss) != 1 {
		t.Errorf("lead's sessions: %+v, %v", ss, err)
	}
	disabled := true
	if u, err := admin.UpdateUser(ctx, "lead", apiclient.UserChange{Disabled: &disabled}); err != nil || !u.Disabled {
		t.Errorf("disable: %+v, %v", u, err)
	}
	if _, err := lead.Me(ctx); apiclient.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("a disabled account's session: %v, want 401", err)
	}
	disabled = false
	if u, err := admin.UpdateUser(ctx, "lead", apiclient.UserChange{Disabled: &disabled}); err != nil || u.Disabled {
		t.Errorf("enable: %+v, %v", u, err)
	}
	if u, err := admin.ResetPassword(ctx, "lead", "a-new-password-1"); err != nil || !u.MustChangePassword {
		t.Errorf("reset: %+v, %v", u, err)
	}
	if _, err := admin.Unlock(ctx, "lead"); err != nil {
		t.Errorf("unlock: %v", err)
	}
	lead, err = anon.SignIn(ctx, "lead", "a-new-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lead.Cycles(ctx); apiclient.StatusOf(err) != http.StatusForbidden {
		t.Errorf("before the reset password is changed: %v, want 403", err)
	}
	if err := lead.ChangePassword(ctx, "a-new-password-1", "a-new-password-2"); err != nil {
		t.Fatalf("change password: %v", err)
	}
	if _, err := lead.Pairing(ctx, pid); err != nil {
		t.Errorf("after the change: %v", err)
	}
	if n, err := admin.EndSessions(ctx, "lead"); err != nil || n != 1 {
		t.Errorf("end sessions: %d, %v", n, err)
	}
	if err := admin.Grant(ctx, "lead", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "县A"}); err != nil {
		t.Errorf("grant: %v", err)
	}
	granted := func() bool {
		pol, err := admin.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(pol.Rules, func(r apiclient.PolicyRule) bool {
			return r.Type == "g" && slices.Equal(r.Values, []string{"lead", string(baocun.RoleReviewer), "县A"})
		})
	}
	if !granted() {
		t.Error("the grant is not in the policy")
	}
	if err := admin.Revoke(ctx, "lead", baocun.Grant{Role: baocun.RoleReviewer, Jurisdiction: "县A"}); err != nil || granted() {
		t.Errorf("revoke: %v", err)
	}

	// The audit trail.
	entries, err := auditor.Audit(ctx, url.Values{"action": {"cycle.launch"}})
	if err != nil || len(entries) != 1 || entries[0].Actor != "organiser" {
		t.Errorf("audit of the launch: %+v, %v", entries, err)
	}
	if all, err := auditor.Audit(ctx, url.Values{"limit": {"2"}}); err != nil || len(all) < 10 {
		t.Errorf("the whole trail, two a page: %d entries, %v", len(all), err)
	}
	if f, err := auditor.AuditExport(ctx, url.Values{"format": {"jsonl"}, "action": {"cycle.launch"}}); err != nil || bytes.Count(f, []byte("\n")) != 1 {
		t.Errorf("audit export: %q, %v", f, err)
	}
	if v, err := auditor.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("verify: %+v, %v", v, err)
	}
	if _, err := org.Audit(ctx, nil); apiclient.StatusOf(err) != http.StatusForbidden {
		t.Errorf("the organiser reads the trail: %v, want 403", err)
	}

	// Signed out, the token is refused.
	if err := org.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := org.Me(ctx); apiclient.StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("after signing out: %v, want 401", err)
	}
}
