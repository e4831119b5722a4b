package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"baocun"
)

// BenchmarkCityCycle runs a whole city cycle on the embedded default: 595 pairings
// launched, dispatched, twelve quarterly reports each reviewed, three yearly
// evaluations, residency flags acknowledged, acceptance scored by three raters and
// confirmed, publicity, and the commendation approved — every step taken through the
// HTTP API by simulated officials (50 at a time). The officials learn of their
// tasks from one database query every quarter second rather than from 800 inbox
// polls; every step itself goes through the API. A quarter of programme time lasts
// 20 s of real time, so the programme clock, not the steps, sets the run's length.
// Beside it, in the same run on the same server, the floor: as many bare workflow
// starts and bare Updates from 50 clients.
//
//	go test -run '^$' -bench CityCycle -benchtime 1x -timeout 60m ./cmd/baocun/
func BenchmarkCityCycle(b *testing.B) {
	const n, clients = 595, 50
	quarter := 30 * time.Second
	env := newLaunchEnv(b, n)
	ctx := context.Background()
	hash, _ := baocun.HashPassword("launch-bench-password")
	token := func(nu baocun.NewUser) string {
		nu.PasswordHash = hash
		u, err := env.db.CreateUser(ctx, nu, nil)
		if err != nil {
			b.Fatal(err)
		}
		t, _, err := env.db.CreateToken(ctx, u.ID, "bearer", 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return t
	}
	depts := map[string]string{} // department → its lead, who is also its team
	for d := 0; d < (n+2)/3; d++ {
		code := fmt.Sprintf("D%04d", d)
		depts[code] = token(baocun.NewUser{Username: "d-" + code, PersonID: fmt.Sprintf("P%04d-0", d),
			Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "*"}, {Role: baocun.RoleTeamMember, Jurisdiction: "*"}}})
	}
	reviewers := map[string]string{} // department → a reviewer of it
	for d := range 4 {
		reviewers[fmt.Sprintf("D%04d", d)] = token(baocun.NewUser{Username: fmt.Sprintf("r-%d", d), PersonID: fmt.Sprintf("P%04d-1", d),
			Roles: []baocun.Grant{{Role: baocun.RoleReviewer, Jurisdiction: "*"}}})
	}
	villages := map[string]string{}
	for v := range n {
		code := fmt.Sprintf("V%05d", v)
		villages[code] = token(baocun.NewUser{Username: "v-" + code, VillageCode: code, Roles: []baocun.Grant{{Role: baocun.RoleVillage, Jurisdiction: "*"}}})
	}
	rubric := baocun.DefaultRubric()
	full := baocun.Scores(rubric.Rated())

	hc := newHTTPClient()
	var steps, conflicts, errs atomic.Int64
	api := func(tok, method, path string, body any) int {
		buf, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, env.srv.URL+path, strings.NewReader(string(buf)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			errs.Add(1)
			return 0
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
			steps.Add(1)
		case resp.StatusCode == http.StatusConflict:
			conflicts.Add(1) // a sheet while another is written, or a task just closed: taken again later
		default:
			errs.Add(1)
			b.Logf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode
	}

	for i := 0; i < b.N; i++ {
		start := time.Now()
		ps := make([]baocun.PairingSpec, n)
		for k := range ps {
			ps[k] = baocun.PairingSpec{DepartmentCode: fmt.Sprintf("D%04d", k/3), VillageCode: fmt.Sprintf("V%05d", k), Kind: "support"}
		}
		w := baocun.Windows{DecideDays: 60, ReportDays: 60, ReworkDays: 60, EvaluationDays: 60, AcceptanceDays: 120, PlanDays: 60, ArrivalDays: 60, NominateDays: 60}
		var launched struct{ ID int64 }
		env.post(b, "/api/v1/cycles", map[string]any{"name": "城市模拟 city", "jurisdiction": "*", "start_date": "2027-01-01", "years": 3, "period_months": 3,
			"min_team_size": 1, "clock_scale": float64(91*24*time.Hour) / float64(quarter), "windows": w, "pairings": ps}, &launched)
		cycle := launched.ID

		type job struct {
			t     baocun.Task
			rater string // the department of the reviewer who scores, for score tasks
		}
		jobs := make(chan job, 4*n)
		var mu sync.Mutex
		inflight := map[string]bool{}
		scored := map[string]map[string]bool{} // score task → rater departments done
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					t := j.t
					p := fmt.Sprintf("/api/v1/pairings/%d", t.PairingID)
					dept, decide := depts[t.Department], baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove}
					other := func() string {
						for d, tok := range reviewers {
							if d != t.Department {
								return tok
							}
						}
						return ""
					}
					status := 0
					switch t.Kind {
					case baocun.TaskNominateTeam:
						lead := "P" + t.Department[1:] + "-0"
						status = api(dept, "POST", p+"/team", baocun.TeamInput{Leader: lead, Members: []string{lead}})
					case baocun.TaskApproveTeam:
						status = api(env.token, "POST", p+"/team/decision", decide)
					case baocun.TaskConfirmArrival:
						status = api(dept, "POST", p+"/arrival", nil)
					case baocun.TaskSubmitPlan:
						status = api(dept, "POST", p+"/plan", baocun.PlanInput{Title: "三年规划", Summary: "修路、引水、合作社 roads, water, a co-operative"})
					case baocun.TaskReviewPlan, baocun.TaskReviewReport:
						status = api(other(), "POST", p+"/decisions", decide)
					case baocun.TaskSubmitReport:
						status = api(dept, "POST", p+"/reports", baocun.ReportInput{Period: t.Period, Summary: "按计划推进 on plan", FundsRaisedWan: "2",
							CollectiveIncomeWan: fmt.Sprint(t.Period), Projects: map[string]int{"road": 1}})
					case baocun.TaskResidencyFlag:
						status = api(dept, "POST", p+"/residency-flags", baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeAcknowledge})
					case baocun.TaskEvaluation:
						status = api(villages[t.Village], "POST", p+"/evaluations", baocun.EvaluationInput{Year: t.Period, Respondents: 100, VillagerSatisfaction: "96", GrassrootsSatisfaction: "96"})
					case baocun.TaskSelfAssess:
						status = api(dept, "POST", p+"/acceptance/self-assessment", baocun.SelfAssessInput{Summary: "三年任务完成 done"})
					case baocun.TaskScore:
						status = api(reviewers[j.rater], "POST", p+"/acceptance/scores", baocun.ScoreInput{Scores: full})
					case baocun.TaskConfirm:
						status = api(env.token, "POST", p+"/acceptance/confirm", baocun.ConfirmInput{TaskID: t.ID, NewClass: 1})
					case baocun.TaskApproveCommend:
						status = api(env.token, "POST", fmt.Sprintf("/api/v1/cycles/%d/commendations/approval", cycle), baocun.ApproveInput{TaskID: t.ID})
					}
					mu.Lock()
					key := t.ID + "/" + j.rater
					delete(inflight, key)
					if t.Kind == baocun.TaskScore && status == http.StatusOK {
						scored[t.ID][j.rater] = true
					}
					mu.Unlock()
				}
			}()
		}
		for {
			var status string
			if err := env.db.QueryRowContext(ctx, "SELECT status FROM cycles WHERE id = ?", cycle).Scan(&status); err != nil {
				b.Fatal(err)
			}
			if status == baocun.CycleClosed {
				break
			}
			if time.Since(start) > 40*time.Minute {
				b.Fatalf("the cycle is %s after 40 minutes", status)
			}
			open, err := env.db.Tasks(ctx, baocun.TaskFilter{Limit: 100000})
			if err != nil {
				b.Fatal(err)
			}
			var next []job // sent after the lock is let go: workers take it to finish
			mu.Lock()
			for _, t := range open {
				if t.CycleID != cycle {
					continue
				}
				raters := []string{""}
				if t.Kind == baocun.TaskScore {
					if scored[t.ID] == nil {
						scored[t.ID] = map[string]bool{}
					}
					raters = raters[:0]
					for d := range reviewers {
						if d != t.Department && !scored[t.ID][d] {
							raters = append(raters, d)
						}
					}
				}
				for _, r := range raters {
					if key := t.ID + "/" + r; !inflight[key] {
						inflight[key] = true
						next = append(next, job{t: t, rater: r})
					}
				}
			}
			mu.Unlock()
			for _, j := range next {
				jobs <- j
			}
			time.Sleep(250 * time.Millisecond) // the officials look at their work again
		}
		close(jobs)
		wg.Wait()
		wall := time.Since(start)
		trivial := env.trivial(b, n)
		floor := env.bareUpdates(b, 200, clients, int(steps.Load()))
		floorTime := trivial + floor.elapsed
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(steps.Load()), "steps")
		b.ReportMetric(float64(steps.Load())/wall.Seconds(), "steps/s")
		b.ReportMetric(float64(conflicts.Load()), "conflicts")
		b.ReportMetric(float64(errs.Load()), "errors")
		b.ReportMetric(floorTime.Seconds(), "floor-s")
		b.ReportMetric(wall.Seconds()/floorTime.Seconds(), "ratio")
		b.ReportMetric(peakRSSMB(), "peak-rss-MB")
		b.ReportMetric((12 * quarter).Seconds(), "programme-clock-s")
	}
}
