package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"baocun"
	"baocun/sheet"
	"baocun/sqldb/sqldbtest"
)

func post(t *testing.T, f *fixture, token, path, contentType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// The directory imports in every format officials use, all or nothing, reporting each
// bad row by line and column, and a re-import updates by code.
func TestImportDirectory(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		f.user("org", "", "", g("organiser", "*"))
		tok := f.login(f.srv, "org")
		ctx := context.Background()

		gbk, _ := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("编码,名称,级别,所属县\nD10,市教育局,市直,\nD11,甲县卫健局,县直,县A\n"))
		if s, b := post(t, f, tok, "/api/v1/import/departments", "text/csv", gbk); s != 200 || !strings.Contains(b, `"imported":2`) {
			t.Fatalf("GB18030 departments: %d %s", s, b)
		}

		wb := excelize.NewFile()
		for i, r := range [][]any{
			{"code", "name", "county", "township", "class", "collective_income_wan", "population", "households"},
			{"V10", "丁村", "县A", "三镇", 3, "2.75", 800, 200},
		} {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			wb.SetSheetRow("Sheet1", cell, &r)
		}
		var x bytes.Buffer
		wb.Write(&x)
		if s, b := post(t, f, tok, "/api/v1/import/villages", sheet.XLSXType, x.Bytes()); s != 200 || !strings.Contains(b, `"imported":1`) {
			t.Fatalf("XLSX villages: %d %s", s, b)
		}

		var mp bytes.Buffer
		w := multipart.NewWriter(&mp)
		fw, _ := w.CreateFormFile("file", "people.csv")
		fw.Write([]byte("\xEF\xBB\xBFid,name,department_code,title,phone\nP10,赵六,D10,科长,13800000000\n"))
		w.Close()
		if s, b := post(t, f, tok, "/api/v1/import/people", w.FormDataContentType(), mp.Bytes()); s != 200 || !strings.Contains(b, `"imported":1`) {
			t.Fatalf("multipart people: %d %s", s, b)
		}

		// Re-import updates by code.
		if s, b := post(t, f, tok, "/api/v1/import/departments", "text/csv", []byte("code,name,level,county\nD10,市教育体育局,市直,\n")); s != 200 {
			t.Fatalf("re-import: %d %s", s, b)
		}
		var name string
		f.db.QueryRowContext(ctx, "SELECT name FROM departments WHERE code = 'D10'").Scan(&name)
		if name != "市教育体育局" {
			t.Fatalf("re-import did not update: %q", name)
		}

		before := directoryState(t, f)
		bad := []struct {
			name, kind, body string
			line             int
			column           string
		}{
			{"bad class", "villages", "code,name,county,township,class\nV20,戊村,县A,一镇,1\nV21,己村,县A,一镇,5\n", 3, "class"},
			{"missing column", "villages", "code,name,county\nV20,戊村,县A\n", 1, "township"},
			{"unknown department", "people", "id,name,department_code\nP20,钱七,D10\nP21,孙八,D99\n", 3, "department_code"},
			{"malformed CSV", "departments", "code,name,level,county\nD20,\"unclosed,市直,\n", 2, ""},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				s, b := post(t, f, tok, "/api/v1/import/"+tt.kind, "text/csv", []byte(tt.body))
				if s != http.StatusUnprocessableEntity {
					t.Fatalf("%d %s, want 422", s, b)
				}
				var out struct {
					Error struct{ Rows []baocun.RowError } `json:"error"`
				}
				json.Unmarshal([]byte(b), &out)
				if len(out.Error.Rows) == 0 || out.Error.Rows[0].Line != tt.line || (tt.column != "" && out.Error.Rows[0].Column != tt.column) {
					t.Fatalf("rows %+v, want line %d column %q", out.Error.Rows, tt.line, tt.column)
				}
			})
		}
		if after := directoryState(t, f); after != before {
			t.Fatalf("a rejected file changed the directory: %s → %s", before, after)
		}
	})
}

func directoryState(t *testing.T, f *fixture) string {
	var d, v, p int
	ctx := context.Background()
	f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM departments").Scan(&d)
	f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM villages").Scan(&v)
	f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM people").Scan(&p)
	return fmt.Sprintf("departments=%d villages=%d people=%d", d, v, p)
}

// One record is created and updated by PUT through the import's validation; a bad
// field is named and changes nothing.
func TestDirectoryRecords(t *testing.T) {
	f := newFixture(t, sqldbtest.SQLiteDSN(t))
	f.user("org", "", "", g("organiser", "*"))
	tok := f.login(f.srv, "org")

	ok := []struct{ path, body, want string }{
		{"/api/v1/departments/D20", `{"name":"市民政局","level":"市直"}`, `"level":"市直"`},
		{"/api/v1/departments/D20", `{"name":"市民政局（更名）","level":"市直"}`, `"name":"市民政局（更名）"`},
		{"/api/v1/villages/V20", `{"name":"戊村","county":"县B","township":"四镇","class":2,"collective_income_wan":"1.5","population":900,"households":300}`, `"class":2`},
		{"/api/v1/people/P20", `{"name":"赵六","department_code":"D20","title":"副局长","phone":"13800000000"}`, `"department_code":"D20"`},
	}
	for _, c := range ok {
		if s, b := call(t, f.srv, tok, "PUT", c.path, c.body); s != 200 || !strings.Contains(b, c.want) {
			t.Fatalf("PUT %s: %d %s", c.path, s, b)
		}
	}
	if s, b := call(t, f.srv, tok, "GET", "/api/v1/people/P20", nil); s != 200 || !strings.Contains(b, "赵六") {
		t.Fatalf("GET person: %d %s", s, b)
	}

	before := directoryState(t, f)
	bad := []struct{ path, body, field string }{
		{"/api/v1/departments/D21", `{"name":"x","level":"省直"}`, `"column":"level"`},
		{"/api/v1/departments/D21", `{"name":"x","level":"县直"}`, `"column":"county"`},
		{"/api/v1/villages/V21", `{"name":"x","county":"县A","township":"t","class":9}`, `"column":"class"`},
		{"/api/v1/villages/V21", `{"code":"V22","name":"x","county":"县A","township":"t","class":1}`, `"code"`},
		{"/api/v1/people/P21", `{"name":"x","department_code":"D404"}`, `"column":"department_code"`},
		{"/api/v1/people/P21", `{"name":"x","department_code":"D1","colour":"red"}`, `colour`},
		{"/api/v1/people/P21", `{"name":["x"],"department_code":"D1"}`, `"name"`},
	}
	for _, c := range bad {
		s, b := call(t, f.srv, tok, "PUT", c.path, c.body)
		if s < 400 || s >= 500 || !strings.Contains(b, c.field) {
			t.Errorf("PUT %s %s: %d %s, want a 4xx naming %s", c.path, c.body, s, b, c.field)
		}
	}
	if after := directoryState(t, f); after != before {
		t.Fatalf("rejected records changed the directory: %s → %s", before, after)
	}
}

// A village's years are imported (later years as they come), checked row by row and
// stored all or nothing; the latest year is what the directory says of the village
// now (and what the statistics band its income by); its history shows each pairing's
// class at launch and after acceptance. On both databases.
func TestVillageYears(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		ctx := context.Background()
		f.user("org", "", "", g("organiser", "*"))
		f.user("village1", "", "V1", g("village", "县A"))
		tok := f.login(f.srv, "org")
		imp := func(csv string) (int, string) {
			return post(t, f, tok, "/api/v1/import/village_years", "text/csv", []byte(csv))
		}
		before := func() int {
			var n int
			f.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM village_years").Scan(&n)
			return n
		}
		if s, b := imp("村编码,年度,集体收入（万元）,人口\nV1,2027,3.5,1200\nV404,2027,1,1\n"); s != 422 || !strings.Contains(b, `"line":3,"column":"村编码"`) || before() != 0 {
			t.Fatalf("a year of an unknown village: %d %s (%d stored)", s, b, before())
		}
		if s, b := imp("code,year,collective_income_wan,population,class\nV1,2027,3.5,1200,3\nV1,2028,12.25,1180,2\n"); s != 200 || !strings.Contains(b, `"imported":2`) {
			t.Fatalf("V1's years: %d %s", s, b)
		}
		// An earlier year imported after leaves the directory at the latest.
		if s, b := imp("code,year,collective_income_wan\nV1,2026,0.5\n"); s != 200 {
			t.Fatalf("V1's 2026: %d %s", s, b)
		}
		v, err := f.db.Village(ctx, "V1")
		if err != nil || v.CollectiveIncomeWan != "12.25" || v.Population != 1180 || v.Class != 2 {
			t.Fatalf("V1 in the directory: %+v, %v; want 2028's figures", v, err)
		}
		var band int
		if err := f.db.QueryRowContext(ctx, "SELECT income_band FROM villages WHERE code = 'V1'").Scan(&band); err != nil || band != 4 {
			t.Fatalf("V1's income band %d (%v), want 4 (10 万元 and more)", band, err)
		}
		// Pairing 1 (V1, class 3 at launch) confirmed as class 2.
		if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(), Result: &baocun.AcceptanceResult{PairingID: 1, CycleID: 1, NewClass: 2, ConfirmedBy: "org", ConfirmedAt: time.Now(),
			Result: baocun.Result{Total: decimal.RequireFromString("88"), Grade: baocun.GradeGood}}}); err != nil {
			t.Fatal(err)
		}
		s, b := call(t, f.srv, f.login(f.srv, "village1"), "GET", "/api/v1/villages/V1/history", nil)
		var h baocun.VillageHistory
		if json.Unmarshal([]byte(b), &h); s != 200 || len(h.Years) != 3 || h.Years[0].Year != 2026 || h.Years[2].CollectiveIncomeWan != "12.25" ||
			len(h.Pairings) != 1 || h.Pairings[0].ClassAtLaunch != 3 || h.Pairings[0].ClassAfter == nil || *h.Pairings[0].ClassAfter != 2 || h.Pairings[0].Grade != baocun.GradeGood {
			t.Fatalf("V1's history: %d %s", s, b)
		}
		if s, _ := call(t, f.srv, f.login(f.srv, "village1"), "GET", "/api/v1/villages/V2/history", nil); s != 403 {
			t.Fatalf("another county's village's history as V1: %d, want 403", s)
		}
		// A village of the same county reads V1's years, never V1's pairings.
		f.user("village7", "", "V7", g("village", "县A"))
		s, b = call(t, f.srv, f.login(f.srv, "village7"), "GET", "/api/v1/villages/V1/history", nil)
		var other baocun.VillageHistory
		if json.Unmarshal([]byte(b), &other); s != 200 || len(other.Years) != 3 || len(other.Pairings) != 0 {
			t.Fatalf("V1's history as V7: %d %s, want the years and no pairing", s, b)
		}
		// A villages file (or a record put) without the income or population keeps
		// what the years set.
		if s, b := call(t, f.srv, tok, "PUT", "/api/v1/villages/V1", map[string]any{"name": "甲村", "county": "县A", "township": "一镇", "class": 3}); s != 200 {
			t.Fatalf("put V1: %d %s", s, b)
		}
		if v, err := f.db.Village(ctx, "V1"); err != nil || v.CollectiveIncomeWan != "12.25" || v.Population != 1180 || v.Class != 3 {
			t.Fatalf("V1 after a put without income: %+v, %v", v, err)
		}
		// A leader's contact village: registered once; their visits there counted.
		contact := map[string]string{"leader": "张书记", "title": "市委副书记", "level": "city"}
		if s, b := call(t, f.srv, tok, "POST", "/api/v1/villages/V1/contacts", contact); s != 201 {
			t.Fatalf("register a contact: %d %s", s, b)
		}
		if s, _ := call(t, f.srv, tok, "POST", "/api/v1/villages/V1/contacts", contact); s != 409 {
			t.Fatalf("the same leader again: %d, want 409", s)
		}
		if s, b := call(t, f.srv, tok, "POST", "/api/v1/villages/V1/contacts", map[string]string{"leader": "李县长", "level": "province"}); s != 400 || !strings.Contains(b, `"level"`) {
			t.Fatalf("a contact of no level: %d %s", s, b)
		}
		visit, _ := json.Marshal(baocun.VisitInput{Date: "2027-01-05", Visitor: "张书记", Purpose: "调研"})
		if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(), Events: []baocun.Event{{PairingID: 1, Kind: "visit.recorded", Actor: "org", ProgrammeAt: "2027-01-05", Data: visit}}}); err != nil {
			t.Fatal(err)
		}
		s, b = call(t, f.srv, tok, "GET", "/api/v1/villages/V1/history", nil)
		if json.Unmarshal([]byte(b), &h); s != 200 || len(h.Contacts) != 1 || h.Contacts[0].Visits != 1 || h.Contacts[0].LastVisit != "2027-01-05" || h.Contacts[0].Level != "city" {
			t.Fatalf("V1's contacts: %d %s", s, b)
		}
	})
}
