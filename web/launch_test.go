package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
	"baocun/web"
)

// A cycle launches from the pairings file beside its settings (multipart), with the
// file's Chinese headings; a bad file or bad settings is refused with the line and
// column or the field, and stores nothing.
func TestLaunchFromFile(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("org", "", "", g("organiser", "*"))
	tok := f.login(f.srv, "org")
	form := func(settings, file string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		w.WriteField("settings", settings)
		if file != "" {
			fw, _ := w.CreateFormFile("file", "pairings.csv")
			fw.Write([]byte(file))
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	cycles := func() int {
		var n int
		f.db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM cycles").Scan(&n)
		return n
	}
	before := cycles()
	settings := `{"name":"第二轮 second","jurisdiction":"县A","start_date":"2030-01-01","years":3,"period_months":6}`
	bad := []struct{ name, settings, file, want string }{
		{"unknown department on line 3", settings, "部门编码,村编码,类型\nD3,V1,包扶\nD404,V9,共建\n",
			`"line":3,"column":"department_code"`},
		{"a kind neither 包扶 nor 共建", settings, "department_code,village_code,kind\nD3,V1,帮扶\n", `"line":2,"column":"kind"`},
		{"settings not JSON", `{"name":`, "department_code,village_code,kind\nD3,V1,包扶\n", `"settings"`},
		{"pairings twice", `{"name":"x","jurisdiction":"县A","start_date":"2030-01-01","pairings":[{"department_code":"D3","village_code":"V1","kind":"support"}]}`,
			"department_code,village_code,kind\nD3,V1,包扶\n", `"pairings"`},
		{"no file", settings, "", `"file"`},
		{"a period that does not divide the year", strings.Replace(settings, `"period_months":6`, `"period_months":5`, 1),
			"department_code,village_code,kind\nD3,V1,包扶\n", `"period_months"`},
	}
	for _, c := range bad {
		ct, body := form(c.settings, c.file)
		if s, b := post(t, f, tok, "/api/v1/cycles", ct, body); s < 400 || s >= 500 || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d %s, want a 4xx with %s", c.name, s, b, c.want)
		}
	}
	if n := cycles(); n != before {
		t.Fatalf("refused launches stored %d cycles", n-before)
	}
	ct, body := form(settings, "部门编码,村编码,类型\nD3,V7,包扶\n")
	if s, b := post(t, f, tok, "/api/v1/cycles", ct, body); s != 201 || !strings.Contains(b, `"pairings":1`) {
		t.Fatalf("launch from a file: %d %s", s, b)
	}
	if n := cycles(); n != before+1 {
		t.Fatalf("%d cycles stored, want 1", n-before)
	}
}

// A cycle's rubric is the default unless the launch gives one; a bad one is refused
// naming its field; the rubric is stored with the cycle's settings, frozen.
func TestLaunchRubric(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("org", "", "", g("organiser", "*"))
	tok := f.login(f.srv, "org")
	launch := func(rubric any, village ...string) (int, string) {
		body := launchBody("*")
		if len(village) > 0 {
			body["pairings"] = []map[string]string{{"department_code": "D3", "village_code": village[0], "kind": "包扶"}}
		}
		if rubric != nil {
			body["rubric"] = rubric
		}
		return call(t, f.srv, tok, "POST", "/api/v1/cycles", body)
	}
	custom := baocun.DefaultRubric()
	custom.Goods[0].Weight = decimal.RequireFromString("25") // the weights now sum to 105
	if s, b := launch(custom); s != 400 || !strings.Contains(b, `"rubric.goods"`) {
		t.Fatalf("weights summing to 105: %d %s", s, b)
	}
	custom.Goods[3].Weight = decimal.RequireFromString("30")
	custom.MinRaters = 5
	s, b := launch(custom)
	if s != 201 {
		t.Fatalf("custom rubric: %d %s", s, b)
	}
	var out struct{ ID int64 }
	json.Unmarshal([]byte(b), &out)
	cy, err := f.db.Cycle(context.Background(), out.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := cy.Settings.Rubric; r == nil || r.MinRaters != 5 || !r.Goods[0].Weight.Equal(decimal.RequireFromString("25")) {
		t.Fatalf("stored rubric %+v", cy.Settings.Rubric)
	}
	if s, b = launch(nil); s != 422 || !strings.Contains(b, "running cycle") {
		t.Fatalf("V7 again, while the custom rubric's cycle runs: %d %s", s, b)
	}
	if s, b = launch(nil, "V8"); s != 201 {
		t.Fatalf("default rubric: %d %s", s, b)
	}
	json.Unmarshal([]byte(b), &out)
	if cy, _ = f.db.Cycle(context.Background(), out.ID); cy.Settings.Rubric == nil || len(cy.Settings.Rubric.Goods) != 5 || cy.Settings.Rubric.MinRaters != 3 {
		t.Fatalf("default rubric stored %+v", cy.Settings.Rubric)
	}
}

// A cycle stored as running whose workflow never started (a crash, or a backup cut,
// between the launch's write and the start) is started by ResumeCycles, once: a
// second call, as by another instance starting, starts nothing.
func TestResumeCycles(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	if len(f.fake.Started()) != 0 {
		t.Fatal("the fixture's cycle already has a workflow")
	}
	// A cycle launched after the moment asked about is left alone: its launch may
	// still be starting it.
	launched, err := f.db.Cycle(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if started, _, err := web.ResumeCycles(ctx, f.db, f.engine, launched.LaunchedAt); err != nil || len(started) != 0 {
		t.Fatalf("a cycle launched at the moment asked about: started %v, %v; want none", started, err)
	}
	started, _, err := web.ResumeCycles(ctx, f.db, f.engine, launched.LaunchedAt.Add(time.Second))
	if err != nil || len(started) != 1 || started[0] != 1 {
		t.Fatalf("started %v, %v; want cycle 1", started, err)
	}
	if got := f.fake.Started(); len(got) != 1 || got[0] != 1 {
		t.Fatalf("the engine started %v, want cycle 1", got)
	}
	if again, _, err := web.ResumeCycles(ctx, f.db, f.engine, time.Now()); err != nil || len(again) != 0 {
		t.Fatalf("a second call started %v, %v", again, err)
	}
}

// A running cycle whose workflow ran once and is gone (failed, then past the engine's
// retention) is not started again — that would replay its programme over its
// records — but named for an operator.
func TestResumeCyclesLeavesACycleThatRan(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := f.db.ExecContext(ctx, "INSERT INTO applied_changes (key, applied_at) VALUES (?, ?)", "cycle-1/batch-0/open", "2027-01-01T00:00:00.000000Z"); err != nil {
		t.Fatal(err)
	}
	started, lost, err := web.ResumeCycles(ctx, f.db, f.engine, time.Now())
	if err != nil || len(started) != 0 || len(lost) != 1 || lost[0] != 1 {
		t.Fatalf("started %v, lost %v, %v; want none started and cycle 1 lost", started, lost, err)
	}
	if len(f.fake.Started()) != 0 {
		t.Fatal("the cycle that ran was started again")
	}
	// An organiser cancels it: with no workflow to ask, it is cancelled in the record,
	// audited, and no longer named.
	if _, err := f.db.ExecContext(ctx, "UPDATE cycles SET launched_at = ? WHERE id = 1", sqldb.FormatTime(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	f.user("org", "", "", g("organiser", "*"))
	status, body := call(t, f.srv, f.login(f.srv, "org"), "POST", "/api/v1/cycles/1/cancel", map[string]string{"reason": "流程已失 its workflow is gone"})
	if status != 202 || !strings.Contains(body, `"cancelled"`) {
		t.Fatalf("cancel a cycle whose workflow is gone: %d %s", status, body)
	}
	if cy, err := f.db.Cycle(ctx, 1); err != nil || cy.Status != baocun.CycleCancelled {
		t.Fatalf("cycle after the cancel: %+v, %v", cy, err)
	}
	if _, lost, err := web.ResumeCycles(ctx, f.db, f.engine, time.Now()); err != nil || len(lost) != 0 {
		t.Fatalf("after the cancel: lost %v, %v; want none", lost, err)
	}
	var audited int
	if err := f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_entries WHERE action = 'cycle.cancel' AND decision = 'allow'").Scan(&audited); err != nil || audited != 1 {
		t.Fatalf("cycle.cancel audit entries: %d (%v), want 1", audited, err)
	}
}

// Check-ins count residency within the programme: a day after its end (the pairing
// may still be in reviews, waiting for its last report) is refused, naming the date,
// and writes nothing; so is its last day, by then far more than the cycle's late days
// ago.
func TestCheckinsEndWithTheProgramme(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	ctx := context.Background()
	// The programme clock runs 100,000 times real time from an hour ago: its today
	// is years past the one-year programme's end.
	if _, err := f.db.ExecContext(ctx, `UPDATE cycles SET launched_at = ?, settings = json_set(json_set(settings, '$.clock_scale', 100000.0), '$.years', 1) WHERE id = 1`,
		sqldb.FormatTime(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(), Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageReviews, Period: 4}}}); err != nil {
		t.Fatal(err)
	}
	f.user("member1", "P1", "", baocun.Grant{Role: baocun.RoleTeamMember, Jurisdiction: "*"})
	tok := f.login(f.srv, "member1")
	for _, in := range []map[string]any{{}, {"date": "2027-12-31", "reason": "补录 late"}} {
		status, body := call(t, f.srv, tok, "POST", "/api/v1/pairings/1/checkins", in)
		if status != 422 || !strings.Contains(body, `"date"`) {
			t.Fatalf("a check-in %v, the programme over: %d %s, want 422 naming date", in, status, body)
		}
	}
	var n int
	if err := f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM checkins").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d check-ins written (%v), want none", n, err)
	}
}

// The launch checks (issue 18): a support pairing needs a lagging village (refused by
// default, warned of when the cycle says so), a village paired in another running
// cycle is refused, and the lagging villages left unpaired are listed — each on both
// databases, and the check is made again in the launch's own transaction, so two
// launches at once cannot both pair one village.
func TestLaunchChecks(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		ctx := context.Background()
		if _, err := f.db.ExecContext(ctx, `INSERT INTO villages (code, name, county, township, class) VALUES ('V6', '己村', '县A', '一镇', 1)`); err != nil {
			t.Fatal(err)
		}
		f.user("org", "", "", g("organiser", "*"))
		tok := f.login(f.srv, "org")
		cycles := func() int {
			var n int
			f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM cycles").Scan(&n)
			return n
		}
		before := cycles()
		body := func(village, kind string, settings map[string]any) map[string]any {
			b := launchBody("*")
			b["pairings"] = []map[string]string{{"department_code": "D3", "village_code": village, "kind": kind}}
			for k, v := range settings {
				b[k] = v
			}
			return b
		}
		unpaired := func() []string {
			var p struct{ Items []baocun.Village }
			s, b := call(t, f.srv, tok, "GET", "/api/v1/villages?unpaired=1", nil)
			if s != 200 || json.Unmarshal([]byte(b), &p) != nil {
				t.Fatalf("unpaired villages: %d %s", s, b)
			}
			var codes []string
			for _, v := range p.Items {
				codes = append(codes, v.Code)
			}
			return codes
		}
		if got := unpaired(); strings.Join(got, ",") != "V7,V8" {
			t.Fatalf("unpaired villages %v, want V7,V8 (V1 and V2 are in cycle 1, V6 is class 1)", got)
		}
		for _, c := range []struct {
			name  string
			body  map[string]any
			want  int
			field string
		}{
			{"support of a class 1 village", body("V6", "包扶", nil), 422, `"line":1,"column":"kind"`},
			{"a village in another running cycle", body("V1", "共建", nil), 422, `running cycle 1`},
			{"an unknown class1_support", body("V6", "包扶", map[string]any{"class1_support": "maybe"}), 400, `"class1_support"`},
		} {
			if s, b := call(t, f.srv, tok, "POST", "/api/v1/cycles", c.body); s != c.want || !strings.Contains(b, c.field) {
				t.Errorf("%s: %d %s, want %d naming %s", c.name, s, b, c.want, c.field)
			}
		}
		if n := cycles(); n != before {
			t.Fatalf("refused launches stored %d cycles", n-before)
		}
		// Warned of only, when the cycle says so: launched, the warning in the
		// answer and in the trail.
		s, b := call(t, f.srv, tok, "POST", "/api/v1/cycles", body("V6", "support", map[string]any{"class1_support": "warn"}))
		var out struct {
			ID       int64
			Warnings []baocun.RowError
		}
		if json.Unmarshal([]byte(b), &out); s != 201 || len(out.Warnings) != 1 || out.Warnings[0].Line != 1 || out.Warnings[0].Column != "kind" || !strings.Contains(out.Warnings[0].Message, "V6") {
			t.Fatalf("class 1 support, warned: %d %s", s, b)
		}
		es, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "cycle.launch", CycleID: fmt.Sprint(out.ID)})
		if err != nil || len(es) != 1 || !strings.Contains(es[0].Summary, `"warnings"`) || !strings.Contains(es[0].Summary, "V6") {
			t.Fatalf("the launch's trail entry does not carry its warning: %+v %v", es, err)
		}
		// A pairing that ends frees its village; so does the end of its cycle.
		if _, err := f.db.ExecContext(ctx, `UPDATE pairings SET stage = 'closed' WHERE cycle_id = 1 AND village_code = 'V1'`); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.ExecContext(ctx, `UPDATE cycles SET status = 'cancelled' WHERE id = 1`); err != nil {
			t.Fatal(err)
		}
		if got := unpaired(); strings.Join(got, ",") != "V1,V2,V7,V8" {
			t.Fatalf("unpaired villages %v once cycle 1 ended, want V1,V2,V7,V8", got)
		}
		if s, b := call(t, f.srv, tok, "POST", "/api/v1/cycles", body("V1", "共建", nil)); s != 201 {
			t.Fatalf("V1 once its pairing closed: %d %s", s, b)
		}

		// Past validation: two launches at once naming V7 store one cycle; the
		// other is refused naming the village. And a village that became class 1
		// between validation and the write is refused in the write.
		settings := baocun.CycleSettings{StartDate: "2027-01-01"}
		settings.Defaults()
		launch := func(village string) error {
			_, err := f.db.CreateCycle(ctx, &baocun.Cycle{Name: "并发 race", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()},
				[]baocun.PairingSpec{{DepartmentCode: "D3", VillageCode: village, Kind: baocun.KindSupport}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
			return err
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- launch("V7") }()
		}
		var ok, conflict int
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case baocun.ErrorCode(err) == baocun.ECONFLICT && strings.Contains(err.Error(), "V7"):
				conflict++
			default:
				t.Fatalf("a launch at once: %v", err)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("two launches of V7 at once: %d stored, %d refused; want 1 and 1", ok, conflict)
		}
		if _, err := f.db.ExecContext(ctx, `UPDATE villages SET class = 1 WHERE code = 'V8'`); err != nil {
			t.Fatal(err)
		}
		if err := launch("V8"); baocun.ErrorCode(err) != baocun.ECONFLICT || !strings.Contains(err.Error(), "class 1") {
			t.Fatalf("a class 1 support village past validation: %v", err)
		}
	})
}
