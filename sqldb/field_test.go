package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
		// A dispute opens a task for the department lead, with an event.
		dispute := func(month string) baocun.Change {
			return baocun.Change{At: time.Now(), Open: []baocun.Task{{ID: "1-dispute-" + month, Kind: baocun.TaskCheckinDispute, PairingID: 1, CycleID: 1,
				Role: baocun.RoleDeptLead, Jurisdiction: "县A", Department: "D1", Village: "V1", Subject: "异议 dispute", DueAt: time.Now().Add(time.Hour),
				RemindAt: time.Now().Add(30 * time.Minute), DueDate: "2027-02-10", Status: baocun.TaskOpen}},
				Events: []baocun.Event{{PairingID: 1, ProgrammeAt: "2027-02-03", Actor: "v1", Kind: "checkins.disputed", TaskID: "1-dispute-" + month}}}
		}
		openDisputes := func() []string {
			ts, err := db.Tasks(ctx, baocun.TaskFilter{PairingID: 1, Status: baocun.TaskOpen, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, t := range ts {
				if t.Kind == baocun.TaskCheckinDispute {
					ids = append(ids, t.ID)
				}
			}
			return ids
		}
		if _, err := db.ConfirmMonth(ctx, 1, "2027-01", bad, "v1", dispute("2027-01"), nil); baocun.ErrorCode(err) != baocun.EINVALID || !strings.Contains(err.Error(), "disputes[0].dates[1]") {
			t.Fatalf("disputing a day with no check-in: %v; want invalid, naming the date", err)
		}
		if ok, _ := db.MonthConfirmed(ctx, 1, "2027-01"); ok || days("2027-01") != 2 || len(openDisputes()) != 0 {
			t.Fatal("a refused confirmation was kept")
		}
		bad.Disputes[0].Dates = bad.Disputes[0].Dates[:1]
		if n, err := db.ConfirmMonth(ctx, 1, "2027-01", bad, "v1", dispute("2027-01"), nil); err != nil || n != 1 {
			t.Fatalf("confirming January: %d disputed, %v", n, err)
		}
		if _, err := db.ConfirmMonth(ctx, 1, "2027-01", baocun.MonthConfirmation{}, "v1", dispute("2027-01"), nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("confirming January again: %v, want a conflict", err)
		}
		if n := days("2027-01"); n != 1 {
			t.Fatalf("January counts %d, want 1 after the dispute", n)
		}
		if got := openDisputes(); !slices.Equal(got, []string{"1-dispute-2027-01"}) {
			t.Fatalf("open dispute tasks %v, want January's", got)
		}
		// No workflow watches it: the sweep reminds it, then escalates it once due,
		// each once however often it runs.
		for _, at := range []time.Time{time.Now(), time.Now(), time.Now().Add(2 * time.Hour), time.Now().Add(3 * time.Hour)} {
			if _, err := db.WatchDisputes(ctx, at); err != nil {
				t.Fatal(err)
			}
		}
		if task, err := db.Task(ctx, "1-dispute-2027-01"); err != nil || task.EscalatedAt == nil {
			t.Errorf("the dispute's task two hours past due: %+v, %v; want escalated", task, err)
		}
		for _, kind := range []string{"task.reminded", "task.escalated"} {
			if n := count(t, db, "SELECT COUNT(*) FROM pairing_events WHERE task_id = ? AND kind = ?", "1-dispute-2027-01", kind); n != 1 {
				t.Errorf("%d %s events, want 1", n, kind)
			}
			// Its holders are told, once each (notifications, issue 19).
			if n := count(t, db, "SELECT COUNT(*) FROM outbox WHERE task_id = ? AND kind = ?", "1-dispute-2027-01", kind); n != 1 {
				t.Errorf("%d %s outbox rows, want 1", n, kind)
			}
		}
		answer := baocun.DecisionInput{TaskID: "1-dispute-2027-01", Outcome: baocun.OutcomeAcknowledge, Comment: "核实属实，已批评教育 found true, warned"}
		if err := db.AnswerDispute(ctx, 2, answer, "lead", "2027-02-04", nil); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Errorf("answering it as another pairing's: %v, want not found", err)
		}
		if err := db.AnswerDispute(ctx, 1, answer, "lead", "2027-02-04", nil); err != nil {
			t.Fatal(err)
		}
		if err := db.AnswerDispute(ctx, 1, answer, "lead", "2027-02-04", nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("answering it twice: %v, want a conflict", err)
		}
		if got := openDisputes(); len(got) != 0 {
			t.Errorf("open dispute tasks after the answer: %v", got)
		}
		var kinds []string
		events, _ := db.Events(ctx, 1)
		for _, e := range events {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Contains(kinds, "checkins.disputed") || !slices.Contains(kinds, "checkins.dispute_answered") {
			t.Errorf("the timeline %v lacks the dispute and its answer", kinds)
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
		if p, err := db.ServingPairing(ctx, "P3", 3, false); err != nil || p == nil || p.ID != 1 {
			t.Fatalf("P3 serving, asked for pairing 3: %+v, %v; want pairing 1", p, err)
		}
		if p, err := db.ServingPairing(ctx, "P3", 1, false); err != nil || p != nil {
			t.Fatalf("P3 serving, asked for pairing 1 itself: %+v, %v; want none", p, err)
		}
		// A nomination waiting for its approval holds the people it names, for
		// another nomination (pending), not for an approval; decided, it holds none.
		nominated := baocun.Change{At: time.Now(), Open: []baocun.Task{task("3-2", 3, baocun.TaskApproveTeam, "县A", "D1", "V3", time.Now().Add(time.Hour))},
			Events: []baocun.Event{{PairingID: 3, Kind: "team.nominated", Data: []byte(`[{"person_id":"P1","name":"张三","leader":true}]`)}}}
		if err := db.ApplyChange(ctx, nominated); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ServingPairing(ctx, "P1", 2, true); err != nil || p == nil || p.ID != 3 {
			t.Fatalf("P1 nominated for pairing 3, asked for a nomination elsewhere: %+v, %v; want pairing 3", p, err)
		}
		if p, err := db.ServingPairing(ctx, "P1", 2, false); err != nil || p != nil {
			t.Fatalf("P1 only nominated, asked for an approval: %+v, %v; want none", p, err)
		}
		if m, err := db.Proposed(ctx, 3); err != nil || len(m) != 1 || m[0].PersonID != "P1" {
			t.Fatalf("pairing 3's proposal: %+v, %v", m, err)
		}
		if p, err := db.ServingPairing(ctx, "P11", 2, true); err != nil || p != nil {
			t.Fatalf("P11 (P1 is a prefix of no other id here): %+v, %v; want none", p, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Close: []baocun.TaskClose{{ID: "3-2", Status: baocun.TaskDone, Outcome: baocun.OutcomeReturn, By: "org"}}}); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ServingPairing(ctx, "P1", 2, true); err != nil || p != nil {
			t.Fatalf("P1's nomination returned: %+v, %v; want none", p, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageCancelled}}}); err != nil {
			t.Fatal(err)
		}
		if p, err := db.ServingPairing(ctx, "P3", 3, false); err != nil || p != nil {
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

// Before one village a day, a person could record a day in two pairings: upgrading
// such a database keeps the earliest record of the day, moves the other aside
// (checkins_superseded), and the rule holds from then on.
func TestUpgradeKeepsOneVillageADay(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		old := sqldb.OpenAt(t, dsn, 9)
		ctx := context.Background()
		for _, q := range []string{
			`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A')`,
			`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3), ('V2', '乙村', '县A', '一镇', 2)`,
			`INSERT INTO cycles (name, jurisdiction, settings, status, launched_by, launched_at) VALUES ('c', '*', '{}', 'running', 'org', '2027-01-01T00:00:00Z')`,
			`INSERT INTO pairings (cycle_id, ordinal, department_code, village_code, kind, county, baseline_class, baseline_income_wan, stage) VALUES (1, 0, 'D1', 'V1', 'support', '县A', 3, '0', 'reviews'), (1, 1, 'D1', 'V2', 'support', '县A', 2, '0', 'reviews')`,
			`INSERT INTO checkins (pairing_id, person_id, day, recorded_at, recorded_by) VALUES
				(2, 'P1', '2027-01-05', '2027-01-05T09:00:00Z', 'p1'), (1, 'P1', '2027-01-05', '2027-01-05T08:00:00Z', 'p1'), (1, 'P1', '2027-01-06', '2027-01-06T08:00:00Z', 'p1')`,
		} {
			if _, err := old.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		old.Close()
		db := sqldbtest.Open(t, dsn)
		if n := count(t, db, "SELECT COUNT(*) FROM checkins WHERE person_id = 'P1'"); n != 2 {
			t.Errorf("%d check-ins kept, want 2", n)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM checkins WHERE pairing_id = 1 AND day = '2027-01-05'"); n != 1 {
			t.Errorf("the earlier record of 2027-01-05 (pairing 1) was not kept")
		}
		if n := count(t, db, "SELECT COUNT(*) FROM checkins_superseded WHERE pairing_id = 2"); n != 1 {
			t.Errorf("%d records set aside, want pairing 2's", n)
		}
		if err := db.AddCheckin(ctx, checkin(2, "P1", "2027-01-06"), nil); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Errorf("a second village on 2027-01-06 after the upgrade: %v, want a conflict", err)
		}
	})
}

// A person's field records are decided one at a time, on PostgreSQL too: of two
// identical leave requests sent at once one is taken; of an approval and a refusal
// of one request at once one stands; of a check-in and an approval of leave over its
// day at once one is taken.
func TestFieldRecordsRace(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		both := func(a, b func() error) (int, []error) {
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, f := range []func() error{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = f() }()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				}
			}
			return ok, errs
		}
		for round := range 10 {
			day := fmt.Sprintf("2027-%02d-10", round+1)
			leave := baocun.Leave{PairingID: 1, PersonID: "P3", From: day, To: day, Days: 1, Kind: "sick", Reason: "病 ill", RequestedBy: "p3"}
			request := func() error { _, err := db.RequestLeave(ctx, leave, nil); return err }
			if ok, errs := both(request, request); ok != 1 {
				t.Fatalf("round %d: two identical requests at once: %d taken (%v)", round, ok, errs)
			}
			ls, err := db.Leaves(ctx, 1, baocun.LeaveRequested, day, day+"x")
			if err != nil || len(ls) != 1 {
				t.Fatalf("round %d: %d requests waiting (%v)", round, len(ls), err)
			}
			approve := func() error {
				_, err := db.DecideLeave(ctx, 1, ls[0].ID, baocun.LeaveDecision{Outcome: "approve"}, "lead", nil)
				return err
			}
			refuse := func() error {
				_, err := db.DecideLeave(ctx, 1, ls[0].ID, baocun.LeaveDecision{Outcome: "refuse"}, "lead", nil)
				return err
			}
			if round%2 == 0 {
				if ok, errs := both(approve, refuse); ok != 1 {
					t.Fatalf("round %d: an approval and a refusal at once: %d stood (%v)", round, ok, errs)
				}
				continue
			}
			checkIn := func() error { return db.AddCheckin(ctx, checkin(1, "P3", day), nil) }
			if ok, errs := both(approve, checkIn); ok != 1 {
				t.Fatalf("round %d: approving leave and checking in on its day at once: %d taken (%v)", round, ok, errs)
			}
		}
	})
}

// A dispute's task, which no workflow knows of, ends with its pairing: cancelled
// with it, and never opened on a pairing cancelled already.
func TestDisputeEndsWithThePairing(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		for _, day := range []string{"2027-01-30", "2027-02-02"} {
			if err := db.AddCheckin(ctx, checkin(1, "P3", day), nil); err != nil {
				t.Fatal(err)
			}
		}
		dispute := baocun.Change{At: time.Now(), Open: []baocun.Task{{ID: "1-dispute-2027-01", Kind: baocun.TaskCheckinDispute, PairingID: 1, CycleID: 1,
			Role: baocun.RoleDeptLead, Jurisdiction: "县A", Department: "D1", Village: "V1", Subject: "异议", DueAt: time.Now().Add(time.Hour),
			DueDate: "2027-02-10", Status: baocun.TaskOpen}}}
		in := baocun.MonthConfirmation{Disputes: []baocun.CheckinDispute{{PersonID: "P3", Dates: []string{"2027-01-30"}, Reason: "未见其人 not seen"}}}
		if _, err := db.ConfirmMonth(ctx, 1, "2027-01", in, "v1", dispute, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: time.Now(), Stages: []baocun.StageChange{{PairingID: 1, Stage: baocun.StageCancelled}}}); err != nil {
			t.Fatal(err)
		}
		task, err := db.Task(ctx, "1-dispute-2027-01")
		if err != nil || task.Status != baocun.TaskCancelled {
			t.Errorf("the dispute's task after the pairing was cancelled: %+v, %v; want cancelled", task, err)
		}
		// February's dispute, after the cancel: the days stop counting, and no task opens.
		feb := dispute
		feb.Open = []baocun.Task{dispute.Open[0]}
		feb.Open[0].ID = "1-dispute-2027-02"
		in.Disputes[0].Dates = []string{"2027-02-02"}
		if n, err := db.ConfirmMonth(ctx, 1, "2027-02", in, "v1", feb, nil); err != nil || n != 1 {
			t.Fatalf("February's dispute on the cancelled pairing: %d, %v", n, err)
		}
		if task, err := db.Task(ctx, "1-dispute-2027-02"); err == nil {
			t.Errorf("a dispute task opened on a cancelled pairing: %+v", task)
		}
	})
}
