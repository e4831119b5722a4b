package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// lifecycleFixture is a directory of two counties and a cycle of three pairings:
// 1 = D1→V1 (县A), 2 = D2→V2 (县B), 3 = D1→V3 (县A).
func lifecycleFixture(t *testing.T, dsn string) (*sqldb.DB, int64) {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, dsn)
	for _, q := range []string{
		`INSERT INTO departments (code, name, level, county) VALUES ('D1', '甲县农业局', '县直', '县A'), ('D2', '乙县交通局', '县直', '县B')`,
		`INSERT INTO villages (code, name, county, township, class) VALUES ('V1', '甲村', '县A', '一镇', 3), ('V2', '乙村', '县B', '二镇', 2), ('V3', '丙村', '县A', '一镇', 2)`,
		`INSERT INTO people (id, name, department_code) VALUES ('P1', '张三', 'D1'), ('P2', '李四', 'D2'), ('P3', '王五', 'D1')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	settings := baocun.CycleSettings{StartDate: "2027-01-01"}
	settings.Defaults()
	id, err := db.CreateCycle(ctx, &baocun.Cycle{Name: "第一轮", Jurisdiction: "*", Settings: settings, LaunchedBy: "org", LaunchedAt: time.Now()},
		[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V1", Kind: "support"}, {DepartmentCode: "D2", VillageCode: "V2", Kind: "model"},
			{DepartmentCode: "D1", VillageCode: "V3", Kind: "support"}},
		&baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
	if err != nil {
		t.Fatal(err)
	}
	return db, id
}

func task(id string, pairing int64, kind baocun.TaskKind, county, dept, village string, due time.Time) baocun.Task {
	return baocun.Task{ID: id, Kind: kind, PairingID: pairing, CycleID: 1, Role: baocun.TaskRoles[kind], Jurisdiction: county,
		Department: dept, Village: village, DueAt: due, DueDate: "2027-02-01", RemindAt: due.Add(-time.Hour)}
}

func TestCycleAndPairings(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, id := lifecycleFixture(t, dsn)
		ctx := context.Background()
		c, err := db.Cycle(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.PairingsTotal != 3 || c.Stages[baocun.StageDispatch] != 3 || c.Settings.MinTeamSize != 3 {
			t.Fatalf("cycle %+v", c)
		}
		ps, err := db.Pairings(ctx, baocun.PairingFilter{CycleID: id, County: "县A", Limit: 10})
		if err != nil || len(ps) != 2 || ps[0].Village != "V1" || ps[1].Village != "V3" || ps[0].VillageName != "甲村" {
			t.Fatalf("county 县A: %+v %v", ps, err)
		}
		ps, _ = db.PairingRange(ctx, id, 1, 3)
		if len(ps) != 2 || ps[0].Village != "V2" {
			t.Fatalf("ordinals [1,3): %+v", ps)
		}
		if _, err := db.Cycle(ctx, 99); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("missing cycle: %v", err)
		}
		// A launch naming a village the directory lacks stores nothing.
		before, _ := db.Cycles(ctx, 0, 10)
		_, err = db.CreateCycle(ctx, &baocun.Cycle{Name: "x", Jurisdiction: "*", LaunchedAt: time.Now()},
			[]baocun.PairingSpec{{DepartmentCode: "D1", VillageCode: "V404", Kind: "support"}}, &baocun.AuditEntry{Actor: "org", Action: "cycle.launch"})
		if err == nil {
			t.Fatal("launch with an unknown village was stored")
		}
		if after, _ := db.Cycles(ctx, 0, 10); len(after) != len(before) {
			t.Fatalf("a refused launch stored a cycle: %d → %d", len(before), len(after))
		}
	})
}

// A pairing's numbered changes are written in order, each once, all of a call or
// none: one ahead of the next is refused and writes nothing; a list starting with
// changes written already writes only the rest; concurrent writers of overlapping
// lists (the API's and the workflow's) write each change once.
func TestApplyChangesInOrder(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		numbered := func(seq int64) baocun.Change {
			return baocun.Change{At: time.Now(), PairingID: 1, Seq: seq, Key: fmt.Sprintf("pairing-1/change-%d", seq),
				Events: []baocun.Event{{PairingID: 1, ProgrammeAt: "2027-01-02", Actor: "lead", Kind: fmt.Sprintf("step.%d", seq)}},
				Audit:  []baocun.AuditEntry{{Actor: "lead", Action: "pairing.step", Key: fmt.Sprintf("pairing-1/change-%d#0", seq)}}}
		}
		events := func() int {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM pairing_events WHERE pairing_id = 1").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		applied := func() int64 {
			n, err := db.AppliedSeq(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if err := db.ApplyChanges(ctx, []baocun.Change{numbered(2)}); baocun.ErrorCode(err) != baocun.EINTERNAL || !strings.Contains(err.Error(), "change 2 of pairing 1 cannot be written before change 1") {
			t.Fatalf("change 2 first: %v, want refused naming change 1", err)
		}
		if err := db.ApplyChanges(ctx, []baocun.Change{numbered(1), numbered(3)}); err == nil {
			t.Fatal("1 then 3: want refused")
		}
		if n, a := events(), applied(); n != 0 || a != 0 {
			t.Fatalf("after refusals: %d events, applied %d; want nothing written", n, a)
		}
		if err := db.ApplyChanges(ctx, []baocun.Change{numbered(1), numbered(2)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				list := []baocun.Change{numbered(1), numbered(2), numbered(3)}
				if i%2 == 1 {
					list = append(list, numbered(4))
				}
				errs[i] = db.ApplyChanges(ctx, list)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		}
		if n, a := events(), applied(); n != 4 || a != 4 {
			t.Fatalf("%d events, applied %d; want each of 4 changes once", n, a)
		}
		if _, err := db.AppliedSeq(ctx, 99); baocun.ErrorCode(err) != baocun.ENOTFOUND {
			t.Fatalf("a pairing that does not exist: %v", err)
		}
	})
}

// Closing a task that is not open refuses the whole change; a keyed change applies
// once; of many concurrent decisions of one task exactly one wins.
func TestApplyChange(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		now := time.Now()
		open := baocun.Change{At: now, Key: "open-1", Open: []baocun.Task{task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", now.Add(time.Hour))}}
		for range 2 {
			if err := db.ApplyChange(ctx, open); err != nil {
				t.Fatal(err)
			}
		}
		count := func(q string) int {
			var n int
			if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("SELECT COUNT(*) FROM tasks"); n != 1 {
			t.Fatalf("%d tasks after a keyed change applied twice", n)
		}

		decide := func(by string) error {
			return db.ApplyChange(ctx, baocun.Change{At: time.Now(),
				Close:  []baocun.TaskClose{{ID: "1-1", Status: baocun.TaskDone, Outcome: "submitted", By: by}},
				Events: []baocun.Event{{PairingID: 1, ProgrammeAt: "2027-01-02", Actor: by, Kind: "team.nominated"}},
				Audit:  []baocun.AuditEntry{{Actor: by, Action: "team.nominate"}}})
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = decide(fmt.Sprintf("lead%d", i))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch baocun.ErrorCode(err) {
			case "":
				won++
			case baocun.ECONFLICT:
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d decisions won, want exactly 1: %v", won, errs)
		}
		if n := count("SELECT COUNT(*) FROM pairing_events"); n != 1 {
			t.Fatalf("%d events: a refused decision wrote its event", n)
		}
		if n := count("SELECT COUNT(*) FROM audit_entries WHERE action = 'team.nominate'"); n != 1 {
			t.Fatalf("%d audit entries for the decision, want 1", n)
		}

		// A step on a task no longer open is told why.
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{task("1-2", 1, baocun.TaskSubmitReport, "县A", "D1", "V1", now.Add(time.Hour))}}); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Close: []baocun.TaskClose{{ID: "1-2", Status: baocun.TaskExpired, By: "system", IfOpen: true}}}); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"1-1": "decided already", "1-2": "it expired"} {
			err := db.ApplyChange(ctx, baocun.Change{At: now, Close: []baocun.TaskClose{{ID: id, Status: baocun.TaskDone, By: "lead"}}})
			if baocun.ErrorCode(err) != baocun.ECONFLICT || !strings.Contains(err.Error(), want) {
				t.Errorf("closing %s: %v; want a conflict saying %q", id, err, want)
			}
		}
		// A task the database does not hold yet is one whose opening write is still
		// to come (a launch batch's): not a refusal, a write to try again.
		err := db.ApplyChange(ctx, baocun.Change{At: now, Key: "early", Close: []baocun.TaskClose{{ID: "1-9", Status: baocun.TaskDone, By: "lead"}},
			Events: []baocun.Event{{PairingID: 1, Kind: "team.nominated"}}})
		if baocun.ErrorCode(err) != baocun.EUNAVAILABLE || !errors.Is(err, baocun.ErrNotOpened) || !strings.Contains(err.Error(), "1-9") {
			t.Errorf("closing 1-9 before it opens: %v; want unavailable, ErrNotOpened, naming 1-9", err)
		}
		if n := count("SELECT COUNT(*) FROM applied_changes WHERE key = 'early'"); n != 0 {
			t.Errorf("the early close left its key written: a retry would skip it")
		}
	})
}

// Each role's inbox holds the tasks it acts on, within its jurisdiction and scope;
// organisers also see escalated tasks.
func TestInboxScope(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		now := time.Now()
		tasks := []baocun.Task{
			task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", now.Add(1*time.Hour)),
			task("1-2", 1, baocun.TaskReviewReport, "县A", "D1", "V1", now.Add(2*time.Hour)),
			task("1-3", 1, baocun.TaskSubmitReport, "县A", "D1", "V1", now.Add(3*time.Hour)),
			task("1-4", 1, baocun.TaskEvaluation, "县A", "D1", "V1", now.Add(4*time.Hour)),
			task("2-1", 2, baocun.TaskNominateTeam, "县B", "D2", "V2", now.Add(5*time.Hour)),
			task("2-2", 2, baocun.TaskReviewReport, "县B", "D2", "V2", now.Add(6*time.Hour)),
			task("3-1", 3, baocun.TaskApproveTeam, "县A", "D1", "V3", now.Add(7*time.Hour)),
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: tasks, Escalate: []string{"2-1"},
			Team: &baocun.TeamChange{PairingID: 1, Members: []baocun.Member{{PersonID: "P3", Leader: true}}}}); err != nil {
			t.Fatal(err)
		}
		g := func(role baocun.Role, j string) baocun.Grant { return baocun.Grant{Role: role, Jurisdiction: j} }
		cases := []struct {
			name string
			user baocun.User
			want string
		}{
			{"organiser of the city", baocun.User{Roles: []baocun.Grant{g("organiser", "*")}}, "2-1 3-1"},
			{"organiser of 县A", baocun.User{Roles: []baocun.Grant{g("organiser", "县A")}}, "3-1"},
			{"reviewer of D1 (never own department)", baocun.User{Department: "D1", Roles: []baocun.Grant{g("reviewer", "*")}}, "2-2"},
			{"reviewer of D2 in 县A", baocun.User{Department: "D2", Roles: []baocun.Grant{g("reviewer", "县A")}}, "1-2"},
			{"dept lead of D1", baocun.User{Department: "D1", Roles: []baocun.Grant{g("dept_lead", "县A")}}, "1-1"},
			// A move the directory made and no admin confirmed: a reviewer is barred
			// from both departments, a lead acts for neither.
			{"reviewer moving D1 → D2", baocun.User{Department: "D1", PendingDepartment: "D2", Roles: []baocun.Grant{g("reviewer", "*")}}, ""},
			{"dept lead moving D2 → D1", baocun.User{Department: "D2", PendingDepartment: "D1", Roles: []baocun.Grant{g("dept_lead", "*")}}, ""},
			{"team member on pairing 1", baocun.User{PersonID: "P3", Roles: []baocun.Grant{g("team_member", "县A")}}, "1-3"},
			{"team member on no team", baocun.User{PersonID: "P1", Roles: []baocun.Grant{g("team_member", "县A")}}, ""},
			{"village V1", baocun.User{VillageCode: "V1", Roles: []baocun.Grant{g("village", "县A")}}, "1-4"},
			{"auditor", baocun.User{Roles: []baocun.Grant{g("auditor", "*")}}, ""},
		}
		for _, c := range cases {
			got, err := db.Tasks(ctx, baocun.TaskFilter{For: &c.user, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, t := range got {
				ids = append(ids, t.ID)
			}
			sort.Strings(ids)
			if s := strings.Join(ids, " "); s != c.want {
				t.Errorf("%s: inbox %q, want %q", c.name, s, c.want)
			}
		}
		// Pages follow the due date and the cursor.
		org := baocun.User{Roles: []baocun.Grant{g("organiser", "*"), g("reviewer", "*")}}
		first, _ := db.Tasks(ctx, baocun.TaskFilter{For: &org, Limit: 2})
		rest, _ := db.Tasks(ctx, baocun.TaskFilter{For: &org, Limit: 10, After: first[1].Cursor()})
		if len(first) != 2 || len(rest) != 2 || first[0].ID != "1-2" || rest[1].ID != "3-1" {
			t.Fatalf("pages %v then %v", first, rest)
		}
	})
}

// An escalation on its way while an organiser moved the task's due date (its time
// before the move's) is stale: the task stays unescalated until the workflow
// escalates it again at the new date.
func TestStaleEscalationAfterExtension(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db, _ := lifecycleFixture(t, dsn)
		ctx := context.Background()
		now := time.Now()
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{task("1-1", 1, baocun.TaskNominateTeam, "县A", "D1", "V1", now)}}); err != nil {
			t.Fatal(err)
		}
		later := now.Add(10 * 24 * time.Hour)
		if err := db.ApplyChange(ctx, baocun.Change{At: now.Add(time.Minute), Due: []baocun.TaskDue{{ID: "1-1", DueAt: later, DueDate: "2027-03-01", RemindAt: later, By: "org", Reason: "x"}}}); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Escalate: []string{"1-1"}}); err != nil {
			t.Fatal(err)
		}
		if tk, err := db.Task(ctx, "1-1"); err != nil || tk.EscalatedAt != nil || tk.DueDate != "2027-03-01" {
			t.Fatalf("after a stale escalation: %+v, %v; want not escalated, due 2027-03-01", tk, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: later, Escalate: []string{"1-1"}}); err != nil {
			t.Fatal(err)
		}
		if tk, err := db.Task(ctx, "1-1"); err != nil || tk.EscalatedAt == nil {
			t.Fatalf("the escalation at the new date: %+v, %v", tk, err)
		}
	})
}
