package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/sheet"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// Bulletins through the API, on both databases: an organiser publishes a month's or
// a quarter's bulletin of the programme so far, once; it carries the figures, the
// best and worst departments by residency compliance and the overdue items by
// department; it is kept exactly as published, its SHA-256 in the trail, so a
// change to the stored content shows; it is a workbook too.
func TestBulletins(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		ctx := context.Background()
		f.user("org", "", "", g("organiser", "*"))
		f.user("aud", "", "", g("auditor", "*"))
		tok := map[string]string{"org": f.login(f.srv, "org"), "aud": f.login(f.srv, "aud")}
		// Pairing 1 (D1) met the residency rule in 9 of 10 member-months, pairing 2
		// (D2) in 5 of 10; pairing 2 has a task overdue.
		past := time.Now().Add(-48 * time.Hour)
		if err := f.db.ApplyChange(ctx, baocun.Change{At: time.Now(),
			Events: []baocun.Event{
				{PairingID: 1, Kind: "period.ended", Actor: "system", Period: 1, Data: []byte(`{"member_months":10,"member_months_short":1}`)},
				{PairingID: 2, Kind: "period.ended", Actor: "system", Period: 1, Data: []byte(`{"member_months":10,"member_months_short":5}`)}},
			Open: []baocun.Task{{ID: "2-9", Kind: baocun.TaskSubmitReport, PairingID: 2, CycleID: 1, Role: baocun.RoleTeamMember, Jurisdiction: "县B",
				Department: "D2", Village: "V2", DueAt: past, DueDate: "2027-01-10", RemindAt: past}}}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"2027-1", "2027-13", "2027-Q5", "27-01", "2099-01", "2026-12"} {
			if s, b := call(t, f.srv, tok["org"], "POST", "/api/v1/cycles/1/bulletins", map[string]string{"period": bad}); s != 400 || !strings.Contains(b, `"period"`) {
				t.Errorf("period %q: %d %s, want 400 naming period", bad, s, b)
			}
		}
		// Two publications of one period at once: one is kept.
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], _ = call(t, f.srv, tok["org"], "POST", "/api/v1/cycles/1/bulletins", map[string]string{"period": "2027-01"})
			}()
		}
		wg.Wait()
		if !(statuses[0] == 201 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 201) {
			t.Fatalf("two publications of 2027-01 at once: %v, want one 201 and one 409", statuses)
		}
		if s, b := call(t, f.srv, tok["org"], "POST", "/api/v1/cycles/1/bulletins", map[string]string{"period": "2027-Q1"}); s != 201 {
			t.Fatalf("the first quarter's bulletin: %d %s", s, b)
		}
		s, b := call(t, f.srv, tok["aud"], "GET", "/api/v1/cycles/1/bulletins", nil)
		var list struct{ Items []baocun.BulletinSummary }
		if json.Unmarshal([]byte(b), &list); s != 200 || len(list.Items) != 2 || list.Items[0].Period != "2027-Q1" || list.Items[1].Kind != baocun.BulletinMonthly {
			t.Fatalf("the list: %d %s", s, b)
		}
		month := list.Items[1]
		read := func() (bool, string, baocun.Bulletin) {
			t.Helper()
			s, b := call(t, f.srv, tok["aud"], "GET", fmt.Sprintf("/api/v1/cycles/1/bulletins/%d", month.ID), nil)
			var a struct {
				Intact   bool
				SHA256   string
				Bulletin json.RawMessage
			}
			if s != 200 || json.Unmarshal([]byte(b), &a) != nil {
				t.Fatalf("the bulletin: %d %s", s, b)
			}
			var bl baocun.Bulletin
			if err := json.Unmarshal(a.Bulletin, &bl); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(a.Bulletin)
			if a.SHA256 != month.SHA256 {
				t.Fatalf("the bulletin's hash %s, the list's %s", a.SHA256, month.SHA256)
			}
			return a.Intact && hex.EncodeToString(sum[:]) == a.SHA256, hex.EncodeToString(sum[:]), bl
		}
		intact, _, bl := read()
		if !intact || bl.Period != "2027-01" || bl.Totals.Pairings != 2 || bl.Totals.ResidencyCompliance.String() != "70" || bl.Totals.OverdueTasks != 1 ||
			len(bl.Best) != 1 || bl.Best[0].Department != "D1" || len(bl.Worst) != 1 || bl.Worst[0].Department != "D2" || bl.Worst[0].Name != "乙县交通局" ||
			len(bl.Overdue) != 1 || bl.Overdue[0].Department != "D2" || bl.PublishedBy != "org" || len(bl.ByCounty) != 2 {
			t.Fatalf("the bulletin: intact %v, %+v", intact, bl)
		}
		es, _, err := f.audit.Query(ctx, baocun.AuditFilter{Action: "bulletin.publish", Decision: baocun.DecisionAllow})
		if err != nil {
			t.Fatal(err)
		}
		trail := ""
		for _, e := range es {
			if e.Status == 201 && e.Resource == fmt.Sprintf("cycles/1/bulletins/%d", month.ID) {
				trail = e.Summary
			}
		}
		if !strings.Contains(trail, month.SHA256) {
			t.Fatalf("the trail's publication of %d does not hold its hash %s: %q", month.ID, month.SHA256, trail)
		}
		// A hundred programme days on, January is long past: its bulletin would
		// carry April's figures, and is refused; April's is published.
		if _, err := f.db.ExecContext(ctx, "UPDATE cycles SET launched_at = ? WHERE id = 1", sqldb.FormatTime(time.Now().Add(-100*24*time.Hour))); err != nil {
			t.Fatal(err)
		}
		if s, b := call(t, f.srv, tok["org"], "POST", "/api/v1/cycles/1/bulletins", map[string]string{"period": "2027-02"}); s != 400 || !strings.Contains(b, `"period"`) {
			t.Fatalf("February's bulletin in April: %d %s", s, b)
		}
		if s, b := call(t, f.srv, tok["org"], "POST", "/api/v1/cycles/1/bulletins", map[string]string{"period": "2027-04"}); s != 201 {
			t.Fatalf("April's bulletin: %d %s", s, b)
		}
		// The workbook carries the figures and the hash.
		xlsx, err := getXLSX(t, f, tok["aud"], fmt.Sprintf("/api/v1/cycles/1/bulletins/%d?format=xlsx", month.ID))
		if err != nil {
			t.Fatal(err)
		}
		if tb, err := sheet.Read(xlsx, sheet.XLSXType); err != nil || !strings.Contains(fmt.Sprint(tb.Rows), month.SHA256) {
			t.Fatalf("the workbook's first sheet: %+v, %v", tb, err)
		}
		// A change to what is kept shows: the content no longer hashes to what the
		// trail holds.
		if _, err := f.db.ExecContext(ctx, "UPDATE bulletins SET content = REPLACE(content, '乙县交通局', '甲县农业局') WHERE id = ?", month.ID); err != nil {
			t.Fatal(err)
		}
		if intact, sum, _ := read(); intact || sum == month.SHA256 || strings.Contains(trail, sum) {
			t.Fatal("a changed bulletin still reads as intact")
		}
	})
}

func getXLSX(t *testing.T, f *fixture, token, path string) ([]byte, error) {
	t.Helper()
	resp, body := getFile(t, f.srv, token, path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != sheet.XLSXType {
		return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return body, nil
}
