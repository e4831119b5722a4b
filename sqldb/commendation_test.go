package sqldb_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"baocun"
	"baocun/sqldb/sqldbtest"
)

// The commendation's records on both databases: results are finalised once; a
// cancelled pairing is not ranked; a cycle's tasks (no pairing) live in the inbox
// and end with a cancelled cycle, whose commendation is cancelled too; a published
// cycle stays closed whatever comes after.
func TestCommendationRecords(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, cycle := lifecycleFixture(t, dsn)
		now := time.Now().UTC()
		res := func(total string) baocun.Result {
			return baocun.Result{Total: decimal.RequireFromString(total), Grade: baocun.GradeGood, Goods: map[string]decimal.Decimal{}}
		}
		for pid, total := range map[int64]string{1: "85", 2: "70", 3: "95"} {
			if err := db.ApplyChange(ctx, baocun.Change{At: now, Result: &baocun.AcceptanceResult{PairingID: pid, CycleID: cycle, Result: res(total), NewClass: 2, ConfirmedBy: "org", ConfirmedAt: now}}); err != nil {
				t.Fatal(err)
			}
		}
		final := baocun.Change{At: now, Final: &baocun.FinalResult{PairingID: 1, Result: res("86"), At: now}}
		if err := db.ApplyChange(ctx, final); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, final); baocun.ErrorCode(err) != baocun.ECONFLICT {
			t.Fatalf("finalising twice: %v, want a conflict", err)
		}
		// Pairing 3 is cancelled during its publicity: it leaves the ranking.
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Stages: []baocun.StageChange{{PairingID: 3, Stage: baocun.StageCancelled}}}); err != nil {
			t.Fatal(err)
		}
		cm, err := db.Commendation(ctx, cycle)
		if err != nil {
			t.Fatal(err)
		}
		if cm.Status != baocun.CommendationPending || len(cm.Pairings) != 2 || cm.Pairings[0].PairingID != 1 || !cm.Pairings[0].Total.Equal(decimal.RequireFromString("86")) ||
			cm.Pairings[0].VillageName != "甲村" || cm.Departments[0].Name == "" {
			t.Fatalf("commendation %+v", cm)
		}

		propose := baocun.Task{ID: "c1-1", Kind: baocun.TaskProposeCadres, CycleID: cycle, Role: baocun.RoleDeptLead, Jurisdiction: "县A", Department: "D1",
			DueAt: now.Add(time.Hour), DueDate: "2030-01-08", RemindAt: now}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Open: []baocun.Task{propose},
			Commendation: &baocun.CommendationChange{CycleID: cycle, Status: baocun.CommendationProposing}}); err != nil {
			t.Fatal(err)
		}
		lead := &baocun.User{Username: "lead", Department: "D1", Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "县A"}}}
		inbox, err := db.Tasks(ctx, baocun.TaskFilter{For: lead, Limit: 10})
		if err != nil || len(inbox) != 1 || inbox[0].ID != "c1-1" || inbox[0].PairingID != 0 {
			t.Fatalf("the lead's inbox: %+v, %v", inbox, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Cycle: &baocun.CycleStatus{ID: cycle, Status: baocun.CycleCancelled}}); err != nil {
			t.Fatal(err)
		}
		if task, err := db.Task(ctx, "c1-1"); err != nil || task.Status != baocun.TaskCancelled {
			t.Fatalf("the proposal after the cycle's cancellation: %+v, %v", task, err)
		}
		if cm, err = db.Commendation(ctx, cycle); err != nil || cm.Status != baocun.CommendationCancelled {
			t.Fatalf("commendation %+v, %v", cm, err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Cycle: &baocun.CycleStatus{ID: cycle, Status: baocun.CycleClosed}}); err != nil {
			t.Fatal(err)
		}
		// Closed stays closed.
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Cycle: &baocun.CycleStatus{ID: cycle, Status: baocun.CycleCancelled}}); err != nil {
			t.Fatal(err)
		}
		if cy, err := db.Cycle(ctx, cycle); err != nil || cy.Status != baocun.CycleClosed {
			t.Fatalf("cycle %+v, %v", cy, err)
		}
	})
}

// Who may be proposed as an excellent cadre: the members of a team whose pairing
// finished graded good or better, never short of the residency rule, and never
// rated by the villagers under baocun.MinCadreRating. On both databases.
func TestEligibleHeedsTheVillagers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, cycle := lifecycleFixture(t, dsn)
		now := time.Now().UTC()
		good := baocun.Result{Total: decimal.RequireFromString("85"), Grade: baocun.GradeGood, Goods: map[string]decimal.Decimal{}}
		rated := func(pairing int64, year int, ratings ...baocun.CadreRating) baocun.Event {
			data, _ := json.Marshal(baocun.EvaluationInput{Year: year, Respondents: 50, VillagerSatisfaction: "90", GrassrootsSatisfaction: "90",
				GrassrootsRespondent: "一镇人民政府", Cadres: ratings})
			return baocun.Event{PairingID: pairing, Kind: "evaluation.submitted", Actor: "village", Data: data}
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now,
			Team: &baocun.TeamChange{PairingID: 1, Members: []baocun.Member{{PersonID: "P1", Leader: true}, {PersonID: "P3"}}},
			Events: []baocun.Event{
				rated(1, 1, baocun.CadreRating{PersonID: "P1", Satisfaction: "92"}, baocun.CadreRating{PersonID: "P3", Satisfaction: "88"}),
				// P3 rated low at another pairing, before a team change moved them here
				rated(3, 2, baocun.CadreRating{PersonID: "P3", Satisfaction: "59.9"}),
				rated(1, 2, baocun.CadreRating{PersonID: "P1", Satisfaction: "95"}),
			},
			Result: &baocun.AcceptanceResult{PairingID: 1, CycleID: cycle, Result: good, NewClass: 2, ConfirmedBy: "org", ConfirmedAt: now}}); err != nil {
			t.Fatal(err)
		}
		if err := db.ApplyChange(ctx, baocun.Change{At: now, Final: &baocun.FinalResult{PairingID: 1, Result: good, At: now}}); err != nil {
			t.Fatal(err)
		}
		el, err := db.Eligible(ctx, cycle, "D1")
		if err != nil {
			t.Fatal(err)
		}
		if len(el) != 1 || len(el[0].People) != 1 || el[0].People["P1"] != 1 {
			t.Fatalf("eligible %+v: want P1 alone (P3 was rated 59.9 %% in year 2, at pairing 3)", el)
		}
	})
}
