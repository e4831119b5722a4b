package sqldb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// checkin is an on-time check-in of person in pairing on day.
func checkin(pairing int64, person, day string) baocun.Checkin {
	return baocun.Checkin{PairingID: pairing, PersonID: person, Day: day, RecordedAt: time.Now(), RecordedBy: person, Status: baocun.CheckinOK}
}

func count(t *testing.T, db *sqldb.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// One village a day: a person's second check-in of a day is refused, here or in
// another pairing, naming where the day stands, and leaves no audit entry; a day of
// approved leave takes no check-in. Only days that count are counted: on time or
// confirmed late, not disputed by the village, and approved leave is excused.
func TestCheckinRules(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		audit := func() *baocun.AuditEntry { return &baocun.AuditEntry{Actor: "p3", Action: "residency.record"} }
		if err := db.AddCheckin(ctx, checkin(1, "P3", "2027-01-30"), audit()); err != nil {
			t.Fatal(err)
		}
		entries := count(t, db, "SELECT COUNT(*) FROM audit_entries")
		for _, pairing := range []int64{1, 3} {
			err := db.AddCheckin(ctx, checkin(pairing, "P3", "2027-01-30"), audit())
			if baocun.ErrorCode(err) != baocun.ECONFLICT || !strings.Contains(err.Error(), "pairing 1") {
				t.Errorf("a second check-in of 2027-01-30 (pairing %d): %v; want a conflict naming pairing 1", pairing, err)
			}
		}
		if n := count(t, db, "SELECT COUNT(*) FROM audit_entries"); n != entries {
			t.Errorf("refused check-ins wrote %d audit entries", n-entries)
		}

		// Late, pending the leader; refused; confirmed.
		late := checkin(1, "P3", "2027-01-29")
		late.Late, late.Reason, late.Status = true, "山路塌方 the road was cut", baocun.CheckinPending
		if err := db.AddCheckin(ctx, late, audit()); err != nil {
			t.Fatal(err)
		}
		late.Day = "2027-01-28"
		if err := db.AddCheckin(ctx, late, audit()); err != nil {
			t.Fatal(err)
		}
		days := func(month string) int {
			t.Helper()
			got, err := db.CheckinDays(ctx, 1, "2027-01-01", "2027-03-01")
			if err != nil {
				t.Fatal(err)
			}
			return got["P3"][month]
		}
		if n := days("2027-01"); n != 1 {
			t.Fatalf("January counts %d, want 1 (the late days wait for the leader)", n)
		}
		if c, err := db.ReviewCheckin(ctx, 1, baocun.CheckinReview{PersonID: "P3", Date: "2027-01-29", Accept: true}, "p1", nil); err != nil || c.Status != baocun.CheckinOK || c.ConfirmedBy != "p1" {
			t.Fatalf("confirming: %+v, %v", c, err)
		}
		if _, err := db.ReviewCheckin(ctx, 1, baocun.CheckinReview{PersonID: "P3", Date: "2027-01-28"}, "p1", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReviewCheckin(ctx, 1, baocun.CheckinReview{PersonID: "P3", Date: "2027-01-29", Accept: true}, "p1", nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("confirming twice: %v, want a conflict", err)
		}
		if n := days("2027-01"); n != 2 {
			t.Fatalf("January counts %d, want 2 (one on time, one confirmed, one refused)", n)
		}

		// The village's month: a day disputed stops counting; a day with no check-in
		// cannot be disputed, and that confirmation writes nothing.
		bad := baocun.MonthConfirmation{Disputes: []baocun.CheckinDispute{{PersonID: "P3", Dates: []string{"2027-01-30", "2027-01-02"}, Reason: "未见其人 not seen"}}}
		if _, err := db.ConfirmMonth(ctx, 1, "2027-01", bad, "v1", nil); baocun.ErrorCode(err) != baocun.EINVALID || !strings.Contains(err.Error(), "disputes[0].dates[1]") {
			t.Fatalf("disputing a day with no check-in: %v; want invalid, naming the date", err)
		}
		if ok, _ := db.MonthConfirmed(ctx, 1, "2027-01"); ok || days("2027-01") != 2 {
			t.Fatal("a refused confirmation was kept")
		}
		bad.Disputes[0].Dates = bad.Disputes[0].Dates[:1]
		if n, err := db.ConfirmMonth(ctx, 1, "2027-01", bad, "v1", nil); err != nil || n != 1 {
			t.Fatalf("confirming January: %d disputed, %v", n, err)
		}
		if _, err := db.ConfirmMonth(ctx, 1, "2027-01", baocun.MonthConfirmation{}, "v1", nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("confirming January again: %v, want a conflict", err)
		}
		if n := days("2027-01"); n != 1 {
			t.Fatalf("January counts %d, want 1 after the dispute", n)
		}

		// Leave: over a day checked in is refused; approved, its days are excused
		// and take no check-in; a second request over the same days is refused.
		leave := baocun.Leave{PairingID: 1, PersonID: "P3", From: "2027-01-30", To: "2027-02-03", Days: 5, Kind: "sick", Reason: "发烧 fever", RequestedBy: "p3"}
		if _, err := db.RequestLeave(ctx, leave, nil); baocun.ErrorCode(err) != baocun.ECONFLICT || !strings.Contains(err.Error(), "2027-01-30") {
			t.Fatalf("leave over a day checked in: %v; want a conflict naming it", err)
		}
		leave.From = "2027-02-01"
		l, err := db.RequestLeave(ctx, leave, nil)
		if err != nil || l.ID == 0 || l.Status != baocun.LeaveRequested {
			t.Fatalf("requesting leave: %+v, %v", l, err)
		}
		if _, err := db.RequestLeave(ctx, leave, nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("the same leave again: %v, want a conflict", err)
		}
		if n := days("2027-02"); n != 0 {
			t.Fatalf("February counts %d before the leave is approved, want 0", n)
		}
		if l, err = db.DecideLeave(ctx, 1, l.ID, baocun.LeaveDecision{Outcome: "approve"}, "lead", nil); err != nil || l.Status != baocun.LeaveApproved {
			t.Fatalf("approving: %+v, %v", l, err)
		}
		if _, err := db.DecideLeave(ctx, 1, l.ID, baocun.LeaveDecision{Outcome: "refuse"}, "lead", nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("deciding twice: %v, want a conflict", err)
		}
		if _, err := db.DecideLeave(ctx, 2, l.ID, baocun.LeaveDecision{Outcome: "refuse"}, "lead", nil); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Errorf("deciding pairing 1's leave through pairing 2: %v, want not found", err)
		}
		if n := days("2027-02"); n != 3 {
			t.Fatalf("February counts %d, want the 3 days of approved leave", n)
		}
		err = db.AddCheckin(ctx, checkin(1, "P3", "2027-02-02"), audit())
		if baocun.ErrorCode(err) != baocun.ECONFLICT || !strings.Contains(err.Error(), "leave") {
			t.Errorf("a check-in inside approved leave: %v; want a conflict", err)
		}
		// Approval is refused if the member checked in meanwhile.
		l2, err := db.RequestLeave(ctx, baocun.Leave{PairingID: 1, PersonID: "P3", From: "2027-02-10", To: "2027-02-10", Days: 1, Kind: "personal", Reason: "家事 family", RequestedBy: "p3"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddCheckin(ctx, checkin(1, "P3", "2027-02-10"), audit()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DecideLeave(ctx, 1, l2.ID, baocun.LeaveDecision{Outcome: "approve"}, "lead", nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("approving leave over a day since checked in: %v, want a conflict", err)
		}
	})
}

// One person, one active team: ServingPairing finds the running pairing a person is
// on, but not the one asked about, and not a cancelled one.
func TestServingPairing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		team := &baocun.TeamChange{PairingID: 1, Members: []baocun.Member{{PersonID: "P3", Leader: true}}}
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Team: team}); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ServingPairing(ctx, "P3", 3); err != nil || p == nil || p.ID != 1 {
			t.Fatalf("P3 serving, asked for pairing 3: %+v, %v; want pairing 1", p, err)
		}
		if p, err := db.ServingPairing(ctx, "P3", 1); err != nil || p != nil {
			t.Fatalf("P3 serving, asked for pairing 1 itself: %+v, %v; want none", p, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageCancelled}}}); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ServingPairing(ctx, "P3", 3); err != nil || p != nil {
			t.Fatalf("P3 on a cancelled pairing's team: %+v, %v; want none", p, err)
		}
	})
}

// A spot check's absence is excused by approved leave; an unexcused one voids that
// day's check-in in the residency count. The work log is searched by words, LIKE's
// wildcards taken literally, newest first.
func TestSpotChecksAndWorkLog(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		for _, d := range []string{"2027-03-01", "2027-03-02"} {
			if err := db.AddCheckin(ctx, checkin(1, "P3", d), nil); err != nil {
				t.Fatal(err)
			}
		}
		l, err := db.RequestLeave(ctx, baocun.Leave{PairingID: 1, PersonID: "P1", From: "2027-03-01", To: "2027-03-01", Days: 1, Kind: "sick", Reason: "病 ill", RequestedBy: "p1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DecideLeave(ctx, 1, l.ID, baocun.LeaveDecision{Outcome: "approve"}, "lead", nil); err != nil {
			t.Fatal(err)
		}
		audit := &baocun.AuditEntry{Actor: "org", Action: "spot_check.record"}
		sc, err := db.AddSpotCheck(ctx, baocun.SpotCheck{PairingID: 1, Day: "2027-03-01", Note: "暗访 unannounced", RecordedBy: "org",
			People: []baocun.SpotCheckEntry{{PersonID: "P1"}, {PersonID: "P3"}}}, audit)
		if err != nil || sc.ID == 0 || sc.Unexcused() != 1 || !sc.People[0].Excused || sc.People[1].Excused {
			t.Fatalf("spot check: %+v, %v; want P1 excused by leave, P3 not", sc, err)
		}
		if !strings.Contains(audit.Summary, `"unexcused":1`) {
			t.Errorf("audit summary %s", audit.Summary)
		}
		got, err := db.CheckinDays(ctx, 1, "2027-03-01", "2027-04-01")
		if err != nil || got["P3"]["2027-03"] != 1 || got["P1"]["2027-03"] != 1 {
			t.Fatalf("March counts %v (%v): want P3 1 (the day found absent voided), P1 1 (leave)", got, err)
		}
		list, err := db.SpotChecks(ctx, 1)
		if err != nil || len(list) != 1 || len(list[0].People) != 2 {
			t.Fatalf("spot checks: %+v, %v", list, err)
		}

		for i, text := range []string{"走访五保户张大爷，修缮屋顶", "群众反映道路100%不通", "召开村民代表大会"} {
			if _, err := db.AddLogEntry(ctx, baocun.LogEntry{PairingID: 1, Day: fmt.Sprintf("2027-03-%02d", i+1), Kind: "visit", Text: text, PersonID: "P3", RecordedBy: "p3"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range map[string]int{"": 3, "走访": 1, "100%": 1, "%": 1, "_": 0, "道路": 1} {
			es, err := db.LogEntries(ctx, 1, baocun.LogFilter{Q: q})
			if err != nil || len(es) != want {
				t.Errorf("search %q: %d entries (%v), want %d", q, len(es), err, want)
			}
		}
		es, err := db.LogEntries(ctx, 1, baocun.LogFilter{Limit: 2})
		if err != nil || len(es) != 2 || es[0].Day != "2027-03-03" {
			t.Fatalf("newest first: %+v, %v", es, err)
		}
		rest, err := db.LogEntries(ctx, 1, baocun.LogFilter{Before: es[1].ID})
		if err != nil || len(rest) != 1 || rest[0].Day != "2027-03-01" {
			t.Fatalf("the next page: %+v, %v", rest, err)
		}
		if es, _ := db.LogEntries(ctx, 1, baocun.LogFilter{From: "2027-03-02", To: "2027-03-02"}); len(es) != 1 {
			t.Errorf("a day's entries: %d, want 1", len(es))
		}
	})
}
