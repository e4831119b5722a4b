package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// The project ledger through the API, on both databases: the team keeps it, each
// project moving forward only, completion and acceptance with evidence of the
// pairing; an inspector accepts (never the team); bad input is refused naming the
// field and changes nothing; every write is in the trail; two completions at once
// make one.
func TestProjectLedger(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, tok := fieldFixture(t, dsn)
		ctx := context.Background()
		f.user("village1", "", "V1", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "县A"})
		tok["village1"] = f.login(f.srv, "village1")
		post := func(who, path string, body any) (int, string) {
			t.Helper()
			return call(t, f.srv, tok[who], "POST", "/api/v1"+path, body)
		}
		upload := func(who string, pairing int, content string) string {
			t.Helper()
			s, b := uploadFile(t, f.srv, tok[who], fmt.Sprintf("?pairing=%d", pairing), "photo.txt", []byte(content))
			var out struct{ ID string }
			if s != 201 || json.Unmarshal([]byte(b), &out) != nil {
				t.Fatalf("upload: %d %s", s, b)
			}
			return out.ID
		}
		projects := func() []baocun.Project {
			t.Helper()
			s, b := call(t, f.srv, tok["village1"], "GET", "/api/v1/pairings/1/projects", nil)
			var p struct{ Items []baocun.Project }
			if s != 200 || json.Unmarshal([]byte(b), &p) != nil {
				t.Fatalf("the village reads the ledger: %d %s", s, b)
			}
			return p.Items
		}
		road := map[string]any{"kind": "road", "name": "通组公路硬化", "quantity": "3.5", "unit": "km",
			"investment": map[string]string{"own_wan": "12.5", "higher_wan": "80", "social_wan": "0.0001"}}
		for _, bad := range []struct {
			field string
			body  map[string]any
		}{
			{"kind", map[string]any{"kind": "bridge", "name": "桥", "quantity": "1", "unit": "items"}},
			{"name", map[string]any{"kind": "road", "name": " ", "quantity": "1", "unit": "km"}},
			{"quantity", map[string]any{"kind": "road", "name": "路", "quantity": "-1", "unit": "km"}},
			{"unit", map[string]any{"kind": "road", "name": "路", "quantity": "1", "unit": "li"}},
			{"investment.own_wan", map[string]any{"kind": "road", "name": "路", "quantity": "1", "unit": "km", "investment": map[string]string{"own_wan": "1e9"}}},
			{"investment.higher_wan", map[string]any{"kind": "road", "name": "路", "quantity": "1", "unit": "km", "investment": map[string]string{"higher_wan": "0.00001"}}},
			{"files[0]", map[string]any{"kind": "road", "name": "路", "quantity": "1", "unit": "km", "files": []string{strings.Repeat("a", 32)}}},
		} {
			if s, b := post("member1", "/pairings/1/projects", bad.body); s != 400 || !strings.Contains(b, fmt.Sprintf("%q", bad.field)) {
				t.Errorf("%s: %d %s, want 400 naming it", bad.field, s, b)
			}
		}
		if len(projects()) != 0 {
			t.Fatal("a refused project was stored")
		}
		s, b := post("member1", "/pairings/1/projects", road)
		var p baocun.Project
		if json.Unmarshal([]byte(b), &p); s != 201 || p.Status != baocun.ProjectPlanned || p.TotalWan != "92.5001" || p.PlannedOn == "" || p.CreatedBy != "member1" {
			t.Fatalf("add a road: %d %s", s, b)
		}
		path := fmt.Sprintf("/pairings/1/projects/%d", p.ID)
		if s, b := post("member1", path, map[string]any{"status": "completed"}); s != 400 || !strings.Contains(b, `"files"`) {
			t.Fatalf("completion without evidence: %d %s", s, b)
		}
		// Evidence is the pairing's own: not another pairing's file.
		other := upload("org", 2, "pairing 2's photo")
		photo := upload("member1", 1, "the finished road")
		if s, b := post("member1", path, map[string]any{"status": "completed", "files": []string{other}}); s != 400 || !strings.Contains(b, `"files[0]"`) {
			t.Fatalf("completion with another pairing's file: %d %s", s, b)
		}
		if s, b := post("member1", path, map[string]any{"status": "completed", "on": "2099-01-01", "files": []string{photo}}); s != 400 || !strings.Contains(b, `"on"`) {
			t.Fatalf("completion in the future: %d %s", s, b)
		}
		if s, b := post("member1", fmt.Sprintf("/pairings/1/projects/%d/acceptance", p.ID), map[string]any{"note": "自己验收"}); s != 403 {
			t.Fatalf("the team accepting its own project: %d %s", s, b)
		}
		if s, b := post("org", fmt.Sprintf("/pairings/1/projects/%d/acceptance", p.ID), map[string]any{"note": "未完工"}); s != 409 {
			t.Fatalf("accepting a planned project: %d %s", s, b)
		}
		// Two completions at once: one is taken, the other finds it completed.
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _ = post("member1", path, map[string]any{"status": "completed", "files": []string{photo},
					"investment": map[string]string{"own_wan": "20", "higher_wan": "80"}})
			}()
		}
		wg.Wait()
		if !(statuses[0] == 200 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 200) {
			t.Fatalf("two completions at once: %v, want one 200 and one 409", statuses)
		}
		if s, b := post("member1", path, map[string]any{"status": "under_way"}); s != 409 {
			t.Fatalf("a completed project back under way: %d %s", s, b)
		}
		s, b = post("org", fmt.Sprintf("/pairings/1/projects/%d/acceptance", p.ID), map[string]any{"note": "现场验收合格", "files": []string{photo}})
		if json.Unmarshal([]byte(b), &p); s != 200 || p.Status != baocun.ProjectAccepted || p.AcceptedOn == "" || p.CompletedOn == "" || p.StartedOn == "" ||
			p.AcceptedBy != "org" || p.AcceptanceNote != "现场验收合格" {
			t.Fatalf("acceptance: %d %s", s, b)
		}
		ps := projects()
		if len(ps) != 1 || ps[0].TotalWan != "100" || ps[0].Investment.OwnWan != "20" || len(ps[0].Files) != 1 || ps[0].Files[0] != photo {
			t.Fatalf("the ledger: %+v", ps)
		}
		es, _, err := f.audit.Query(ctx, baocun.AuditFilter{PairingID: "1", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		writes := map[string]int{}
		for _, e := range es {
			if strings.HasPrefix(e.Resource, "pairings/1/projects/") && e.Decision == baocun.DecisionAllow && e.Status < 300 {
				writes[e.Action]++
			}
		}
		if writes["project.write"] != 2 || writes["project.accept"] != 1 {
			t.Fatalf("the trail's ledger writes: %v, want 2 project.write (the add, one completion) and 1 project.accept", writes)
		}
		// The period's report counts the ledger: a figure typed in that differs is
		// refused naming it; left out, the API fills in the ledger's.
		report := map[string]any{"period": 1, "summary": "本期修路", "collective_income_wan": "30"}
		for field, v := range map[string]any{"funds_raised_wan": "5", "projects": map[string]int{"water": 1}, "project_ids": []int64{p.ID}} {
			bad := map[string]any{field: v}
			for k, v := range report {
				bad[k] = v
			}
			if s, b := post("member1", "/pairings/1/reports", bad); s != 400 || !strings.Contains(b, `"`+field) {
				t.Errorf("a report with %s typed in: %d %s", field, s, b)
			}
		}
		if len(f.fake.Steps()) != 0 {
			t.Fatal("a refused report reached the engine")
		}
		f.fake.Take = func(baocun.Step) (baocun.StepResult, error) {
			return baocun.StepResult{Stage: string(baocun.StageReviews)}, nil
		}
		if s, b := post("member1", "/pairings/1/reports", report); s != 200 {
			t.Fatalf("the report: %d %s", s, b)
		}
		steps := f.fake.Steps()
		if len(steps) != 1 || steps[0].Report == nil || steps[0].Report.FundsRaisedWan != "100" || steps[0].Report.Projects["road"] != 1 ||
			len(steps[0].Report.ProjectIDs) != 1 || steps[0].Report.ProjectIDs[0] != p.ID {
			t.Fatalf("the report sent: %+v", steps)
		}
		// Once written, the report's projects are its period's: the next period's
		// report does not count them again; the period's report sent again does.
		data, _ := json.Marshal(map[string]any{"version": 1, "report": steps[0].Report})
		if err := f.db.ApplyChange(ctx, baocun.Change{Events: []baocun.Event{{PairingID: 1, Kind: "report.submitted", Actor: "member1", Period: 1, Data: data}}}); err != nil {
			t.Fatal(err)
		}
		if ps := projects(); ps[0].ReportedPeriod != 1 {
			t.Fatalf("the road after the report: period %d, want 1", ps[0].ReportedPeriod)
		}
		if funds, counts, ids := baocun.LedgerReport(projects(), 2); funds != "0" || len(counts) != 0 || len(ids) != 0 {
			t.Fatalf("period 2's report would count %s %v %v, want nothing", funds, counts, ids)
		}
		if funds, _, _ := baocun.LedgerReport(projects(), 1); funds != "100" {
			t.Fatalf("period 1's report sent again would count %s, want 100", funds)
		}
		// A returned report counts nothing until sent again: its projects are free.
		if err := f.db.ApplyChange(ctx, baocun.Change{Events: []baocun.Event{{PairingID: 1, Kind: "report.returned", Actor: "reviewer", Period: 1, Data: []byte(`{"outcome":"return"}`)}}}); err != nil {
			t.Fatal(err)
		}
		if ps := projects(); ps[0].ReportedPeriod != 0 {
			t.Fatalf("the road after its report was returned: period %d, want none", ps[0].ReportedPeriod)
		}
		// Once the pairing has ended, the ledger is closed.
		if err := f.db.ApplyChange(ctx, baocun.Change{Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageClosed}}}); err != nil {
			t.Fatal(err)
		}
		if s, b := post("member1", "/pairings/1/projects", road); s != 409 {
			t.Fatalf("a project on a closed pairing: %d %s", s, b)
		}
	})
}

// The yearly evaluation rates each cadre of the team by name and says who gave the
// grass-roots rating: a rating of someone not on the team is refused naming it, and
// nothing reaches the engine; a good one goes with the step. On both databases.
func TestEvaluationRatesTheCadres(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f, _ := fieldFixture(t, dsn)
		f.user("village1", "", "V1", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "县A"})
		tok := f.login(f.srv, "village1")
		body := func(person, rating string) map[string]any {
			return map[string]any{"year": 1, "respondents": 60, "villager_satisfaction": "91", "grassroots_satisfaction": "88",
				"grassroots_respondent": "一镇人民政府", "cadres": []map[string]string{{"person_id": "P1", "satisfaction": "95"}, {"person_id": person, "satisfaction": rating}}}
		}
		for _, bad := range []struct {
			body  map[string]any
			field string
		}{
			{body("P2", "80"), "cadres[1].person_id"}, // of another pairing's team
			{body("P1", "80"), "cadres[1].person_id"}, // twice
			{body("P4", "100.5"), "cadres[1].satisfaction"},
			{map[string]any{"year": 1, "respondents": 60, "villager_satisfaction": "91", "grassroots_satisfaction": "88", "grassroots_respondent": "一镇",
				"cadres": []map[string]string{{"person_id": "P1", "satisfaction": "95"}}}, `"cadres"`}, // P4 left out
			{map[string]any{"year": 1, "respondents": 60, "villager_satisfaction": "91", "grassroots_satisfaction": "88",
				"cadres": []map[string]string{{"person_id": "P1", "satisfaction": "95"}, {"person_id": "P4", "satisfaction": "90"}}}, `"grassroots_respondent"`},
		} {
			if s, b := call(t, f.srv, tok, "POST", "/api/v1/pairings/1/evaluations", bad.body); s != 400 || !strings.Contains(b, bad.field) {
				t.Errorf("%v: %d %s, want 400 naming %s", bad.body["cadres"], s, b, bad.field)
			}
		}
		// An account that is on the team and speaks for its village does not rate it.
		f.user("p1village", "P1", "V1", baocun.Grant{Role: baocun.RoleVillage, Jurisdiction: "县A"})
		if s, b := call(t, f.srv, f.login(f.srv, "p1village"), "POST", "/api/v1/pairings/1/evaluations", body("P4", "90")); s != 403 {
			t.Errorf("a team member rating the team: %d %s, want 403", s, b)
		}
		if len(f.fake.Steps()) != 0 {
			t.Fatal("a refused evaluation reached the engine")
		}
		f.fake.Take = func(baocun.Step) (baocun.StepResult, error) {
			return baocun.StepResult{Stage: string(baocun.StageReviews)}, nil
		}
		if s, b := call(t, f.srv, tok, "POST", "/api/v1/pairings/1/evaluations", body("P4", "58")); s != 200 {
			t.Fatalf("the evaluation: %d %s", s, b)
		}
		st := f.fake.Steps()
		if len(st) != 1 || st[0].Evaluation == nil || st[0].Evaluation.GrassrootsRespondent != "一镇人民政府" || len(st[0].Evaluation.LowRated()) != 1 || st[0].Evaluation.LowRated()[0] != "P4" {
			t.Fatalf("the evaluation sent: %+v", st)
		}
	})
}
