package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// Publicity (公示, issue 18): every signed-in account reads a cycle's published
// results and, once published, its commendation list — and nothing else of a result:
// no indicator, rater, reason or person's id. With the operator's leave, anyone
// reads the same on a public page; without it there is no such page. On both
// databases.
func TestPublicity(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		ctx := context.Background()
		now := time.Now().UTC()
		for pid, total := range map[int64]string{1: "91.5", 2: "78"} {
			res := baocun.Result{Total: decimal.RequireFromString(total), Grade: baocun.GradeGood, Raters: 3,
				Goods: map[string]decimal.Decimal{"leadership": decimal.RequireFromString("77.77")}}
			if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Stages: []baocun.StageChange{{PairingID: pid, Stage: baocun.StagePublicity}},
				Result: &baocun.AcceptanceResult{PairingID: pid, CycleID: 1, Result: res, NewClass: 2, ConfirmedBy: "confirmer-org", ConfirmedAt: now}}); err != nil {
				t.Fatal(err)
			}
		}
		tokens := map[string]string{}
		for _, a := range actors {
			if a.name == "anonymous" {
				continue
			}
			f.user(a.name, a.person, a.village, a.roles...)
			tokens[a.name] = f.login(f.srv, a.name)
		}
		read := func(who string) baocun.Publicity {
			t.Helper()
			s, b := call(t, f.srv, tokens[who], "GET", "/api/v1/cycles/1/publicity", nil)
			var p baocun.Publicity
			if s != 200 || json.Unmarshal([]byte(b), &p) != nil {
				t.Fatalf("%s reads the publicity: %d %s", who, s, b)
			}
			for _, secret := range []string{"77.77", "leadership", "raters", "confirmer-org", "P1", "reason"} {
				if strings.Contains(b, secret) {
					t.Fatalf("%s's publicity shows %q: %s", who, secret, b)
				}
			}
			return p
		}
		for _, a := range actors {
			if a.name == "anonymous" {
				continue
			}
			p := read(a.name)
			if len(p.Pairings) != 2 || p.Pairings[0].Rank != 1 || p.Pairings[0].VillageName != "甲村" || !p.Pairings[0].Total.Equal(decimal.RequireFromString("91.5")) ||
				p.Pairings[0].DepartmentName != "甲县农业局" || p.Name != "第一轮" || len(p.Commended) != 0 || p.PublishedAt != nil {
				t.Fatalf("%s reads %+v", a.name, p)
			}
			for _, d := range p.Departments {
				if d.Advanced {
					t.Fatalf("%s sees department %s advanced before the list is published", a.name, d.Code)
				}
			}
		}
		if s, _ := call(t, f.srv, "", "GET", "/api/v1/cycles/1/publicity", nil); s != 401 {
			t.Fatalf("the publicity without signing in: %d, want 401", s)
		}
		if s, _ := call(t, f.srv, tokens["village"], "GET", "/api/v1/cycles/99/publicity", nil); s != 404 {
			t.Fatalf("the publicity of no cycle: %d, want 404", s)
		}
		// The public page is off unless the operator turns it on.
		page := func(srv *httptest.Server, path string) (int, string) {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("Accept", "text/html")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if s, b := page(f.srv, "/publicity/1"); s != 404 || strings.Contains(b, "甲村") {
			t.Fatalf("the public page while off: %d", s)
		}
		f.public = true
		pub := httptest.NewServer(f.handler())
		defer pub.Close()
		s, b := page(pub, "/publicity/1")
		if s != 200 || !strings.Contains(b, "甲村") || !strings.Contains(b, "91.5") || !strings.Contains(b, "表彰名单尚未公布") {
			t.Fatalf("the public page: %d %s", s, b)
		}
		for _, secret := range []string{"77.77", "confirmer-org", "P1"} {
			if strings.Contains(b, secret) {
				t.Fatalf("the public page shows %q", secret)
			}
		}
		for _, bad := range []string{"/publicity/2", "/publicity/0", "/publicity/x", "/publicity/99999999999999999999"} {
			if s, b := page(pub, bad); s != 404 || strings.Contains(b, "第") && strings.Contains(b, "轮") {
				t.Errorf("%s: %d, want 404 naming no cycle", bad, s)
			}
		}
		// Once the list is published: the advanced departments and the date show.
		if err := f.db.ApplyChange(ctx, baocun.Change{At: now, Commendation: &baocun.CommendationChange{CycleID: 1, Status: baocun.CommendationPublished, ApprovedBy: "organiser"}}); err != nil {
			t.Fatal(err)
		}
		if p := read("team_member"); p.PublishedAt == nil || len(p.Departments) != 2 {
			t.Fatalf("after publication: %+v", p)
		}
	})
}

// What is published of a commendation: names, never ids or reasons; the advanced
// departments and the commended only once the list is published.
func TestPublicityOf(t *testing.T) {
	at := time.Date(2030, 1, 8, 0, 0, 0, 0, time.UTC)
	cm := &baocun.Commendation{Status: baocun.CommendationApproving,
		Pairings: []baocun.Ranked{{PairingID: 7, Department: "D1", Rank: 1, DepartmentName: "农业局", Village: "V1", VillageName: "甲村",
			Result: baocun.Result{Total: decimal.RequireFromString("92"), Grade: baocun.GradeExcellent}}},
		Departments: []baocun.DepartmentRank{{Department: "D1", Name: "农业局", Pairings: 1, Mean: decimal.RequireFromString("92"), Rank: 1, Advanced: true}},
		Cadres: []baocun.Cadre{{PersonID: "P9", Name: "张三", Department: "D1", PairingID: 7, Grade: baocun.GradeExcellent, Reason: "扎根一线", Status: baocun.CadreApproved},
			{PersonID: "P8", Name: "李四", Department: "D1", PairingID: 7, Reason: "x", Status: baocun.CadreExcluded}},
	}
	cy := &baocun.Cycle{ID: 3, Name: "第三轮"}
	p := baocun.PublicityOf(cy, cm)
	if len(p.Commended) != 0 || p.Departments[0].Advanced || p.PublishedAt != nil {
		t.Fatalf("before publication: %+v", p)
	}
	cm.Status, cm.PublishedAt = baocun.CommendationPublished, &at
	p = baocun.PublicityOf(cy, cm)
	want := baocun.PublicCadre{Name: "张三", DepartmentName: "农业局", VillageName: "甲村", Grade: baocun.GradeExcellent}
	if len(p.Commended) != 1 || p.Commended[0] != want || !p.Departments[0].Advanced || !p.PublishedAt.Equal(at) {
		t.Fatalf("after publication: %+v", p)
	}
	b, _ := json.Marshal(p)
	for _, secret := range []string{"P9", "P8", "李四", "扎根一线"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("publicity shows %q: %s", secret, b)
		}
	}
}
