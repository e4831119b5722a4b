package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"baocun"
	"baocun/apiclient"
	"baocun/sqldb"
)

// BenchmarkCityCycle runs a whole city cycle on the embedded default: 595 pairings
// launched, dispatched, twelve quarterly reports each reviewed, three yearly
// evaluations, residency flags acknowledged, acceptance scored by three raters and
// confirmed, publicity, and the commendation approved — every step taken through the
// HTTP API (by package apiclient) by simulated officials (50 at a time). The
// officials learn of their tasks from one database query every quarter second rather
// than from 800 inbox polls; every step itself goes through the API. A quarter of
// programme time lasts 20 s of real time (and 10 s, to show where it stops keeping
// pace), so the programme clock, not the steps, sets the run's length.
// Beside it, in the same run on the same server, the floor: as many bare workflow
// starts and bare Updates from 50 clients.
//
// Like BenchmarkAPILoad it runs under both temporal.db sync modes; name one to run
// it alone (peak memory is the process's, so a second run's includes the first's).
// BenchmarkScalePath runs the same cycle on the scale path (its sub-benchmark city).
//
//	go test -run '^$' -bench 'CityCycle/sync=full/quarter=20s' -benchtime 1x -timeout 60m ./cmd/baocun/
func BenchmarkCityCycle(b *testing.B) {
	forEachSync(b, func(b *testing.B, syncMode string) {
		forEachQuarter(b, func(b *testing.B, quarter time.Duration) {
			benchmarkCityCycle(b, func(b *testing.B, n int) cityDeployment {
				return &embeddedCity{launchEnv: newLaunchEnv(b, n, syncMode)}
			}, quarter)
		})
	})
}

// forEachQuarter runs bench with each length of the city cycle's quarter, as
// sub-benchmarks.
func forEachQuarter(b *testing.B, bench func(b *testing.B, quarter time.Duration)) {
	for _, q := range []time.Duration{20 * time.Second, 10 * time.Second} {
		b.Run(fmt.Sprintf("quarter=%v", q), func(b *testing.B) { bench(b, q) })
	}
}

// cityDeployment is what the city cycle runs on: the embedded default (embeddedCity)
// or the scale path (*scaleEnv), each with a directory of villages and an organiser.
type cityDeployment interface {
	// instances are the URLs of the instances serving the API. Each simulated
	// official's calls go to one of them, the officials bound to them in turn, as
	// behind a load balancer that keeps each person on one instance.
	instances() []string
	// appDB is the application database, for the officials' accounts and the
	// benchmark's own queries.
	appDB() *sqldb.DB
	// organiser is the organiser, signed in, on an *http.Client without a time limit.
	organiser() *apiclient.Client
	// trivial and bareUpdates are the floor, on the Temporal server the steps go
	// through: n trivial workflows started from 32 clients and waited for, and n bare
	// Updates sent from clients goroutines to workflows workflows.
	trivial(b *testing.B, n int) time.Duration
	bareUpdates(b *testing.B, workflows, clients, n int) floorRun
	// watchMemory looks at the memory in use, every quarter second of the cycle;
	// heapProfile writes the heap profile BAOCUN_HEAP_PROFILE names, if the
	// deployment's heap is this process's, at the cycle's end; reportMemory reports
	// the most memory the deployment held.
	watchMemory()
	heapProfile(b *testing.B)
	reportMemory(b *testing.B)
}

// embeddedCity is the embedded default as the city cycle's deployment: the server,
// the worker and the API all in this process.
type embeddedCity struct {
	*launchEnv
	peakHeap uint64 // the Go heap in use at its largest, beside the process's peak RSS
}

func (e *embeddedCity) instances() []string          { return []string{e.srv.URL} }
func (e *embeddedCity) appDB() *sqldb.DB             { return e.db }
func (e *embeddedCity) organiser() *apiclient.Client { return e.org }

// watchMemory keeps the Go heap in use at its largest.
func (e *embeddedCity) watchMemory() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	e.peakHeap = max(e.peakHeap, ms.HeapInuse)
}

// heapProfile writes this process's heap profile to the file BAOCUN_HEAP_PROFILE
// names, if it names one.
func (e *embeddedCity) heapProfile(b *testing.B) {
	path := os.Getenv("BAOCUN_HEAP_PROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// reportMemory reports this process's peak RSS and the Go heap's largest.
func (e *embeddedCity) reportMemory(b *testing.B) {
	b.ReportMetric(peakRSSMB(), "peak-rss-MB")
	b.ReportMetric(float64(e.peakHeap)/(1<<20), "peak-heap-MB")
}

// benchmarkCityCycle runs the city cycle on the deployment deploy starts with a
// directory of n villages.
func benchmarkCityCycle(b *testing.B, deploy func(b *testing.B, n int) cityDeployment, quarter time.Duration) {
	const n, clients = 595, 50
	// The rule a city sets is 0–28 days a month. A programme day lasts a fifth of a
	// second here, so members cannot check in every day (a check-in is for today, one
	// call a day, issue 17): the benchmark samples one day a month of every member —
	// each checks in for the day they see when a new month has begun — and sets the
	// rule to match.
	const residencyDays = 1
	d := deploy(b, n)
	db := d.appDB()
	ctx := context.Background()
	// Each official is bound to the next instance in turn, the organiser to the first.
	bases, officials := d.instances(), 0
	bound := func(c *apiclient.Client) *apiclient.Client {
		c = c.At(bases[officials%len(bases)])
		officials++
		return c
	}
	base := apiclient.New(bases[0], apiclient.NewHTTPClient())
	org, err := base.SignIn(ctx, "org", "launch-bench-password")
	if err != nil {
		b.Fatal(err)
	}
	org = bound(org)
	hash, _ := baocun.HashPassword("launch-bench-password")
	// signedIn is a new account with a session made in the database (hundreds of
	// sign-ins would cost as many password hashes and meet the sign-in throttles),
	// bound to its instance.
	signedIn := func(nu baocun.NewUser) *apiclient.Client {
		nu.PasswordHash = hash
		u, err := db.CreateUser(ctx, nu, nil)
		if err != nil {
			b.Fatal(err)
		}
		t, _, _, err := db.CreateToken(ctx, u.ID, 0, "bearer", 24*time.Hour) // a new account's epoch
		if err != nil {
			b.Fatal(err)
		}
		return bound(base.WithToken(nu.Username, t))
	}
	// Village k is paired with department k/3, whose person P<k/3>-<k%3> is its team
	// of one (one person serves on one team, issue 17); the department's lead is
	// P<k/3>-0, who is also the team of its first village.
	depts := map[string]*apiclient.Client{}   // department → its lead
	members := map[string]*apiclient.Client{} // village → its team's member
	for d := 0; d < (n+2)/3; d++ {
		code := fmt.Sprintf("D%04d", d)
		depts[code] = signedIn(baocun.NewUser{Username: "d-" + code, PersonID: fmt.Sprintf("P%04d-0", d),
			Roles: []baocun.Grant{{Role: baocun.RoleDeptLead, Jurisdiction: "*"}, {Role: baocun.RoleTeamMember, Jurisdiction: "*"}}})
		for j := range 3 {
			v := fmt.Sprintf("V%05d", 3*d+j)
			switch {
			case 3*d+j >= n:
			case j == 0:
				members[v] = depts[code]
			default:
				members[v] = signedIn(baocun.NewUser{Username: fmt.Sprintf("m-%s-%d", code, j), PersonID: fmt.Sprintf("P%04d-%d", d, j),
					Roles: []baocun.Grant{{Role: baocun.RoleTeamMember, Jurisdiction: "*"}}})
			}
		}
	}
	// memberOf is the person of village's team.
	memberOf := func(village string) string {
		var k int
		fmt.Sscanf(village, "V%05d", &k)
		return fmt.Sprintf("P%04d-%d", k/3, k%3)
	}
	reviewers := map[string]*apiclient.Client{} // department → a reviewer of it
	for d := range 4 {
		reviewers[fmt.Sprintf("D%04d", d)] = signedIn(baocun.NewUser{Username: fmt.Sprintf("r-%d", d), PersonID: fmt.Sprintf("P%04d-1", d),
			Roles: []baocun.Grant{{Role: baocun.RoleReviewer, Jurisdiction: "*"}}})
	}
	villages := map[string]*apiclient.Client{}
	for v := range n {
		code := fmt.Sprintf("V%05d", v)
		villages[code] = signedIn(baocun.NewUser{Username: "v-" + code, VillageCode: code, Roles: []baocun.Grant{{Role: baocun.RoleVillage, Jurisdiction: "*"}}})
	}
	rubric := baocun.DefaultRubric()
	full := baocun.Scores(rubric.Rated())

	var steps, conflicts, errs, retries atomic.Int64
	type refusal struct{ request, answer string }
	var refused atomic.Pointer[refusal]
	// call makes one call as c and counts its answer; method and path name it for the
	// log. A step goes under an Idempotency-Key, which the client sends again itself
	// when no answer came or the engine was unavailable (apiclient's sendStep); a GET
	// is sent again here: an error is a read that failed three times, or a step that
	// failed the client's attempts. It returns the answer's status: 200 for any
	// success, 0 for none.
	var ledgered, evidence sync.Map // "pairing/period" whose project is in the ledger; pairing → its evidence file
	call := func(method, path, key string, c *apiclient.Client, f func(c *apiclient.Client) error) int {
		if key != "" {
			c = c.WithKey(key)
		}
		for attempt := 1; ; attempt++ {
			err := f(c)
			status := apiclient.StatusOf(err)
			if err == nil {
				status = http.StatusOK
			}
			if (status == 0 || status == http.StatusServiceUnavailable) && attempt < 3 && method == "GET" {
				retries.Add(1)
				b.Logf("%s %s (attempt %d, sent again): %v", method, path, attempt, err)
				continue
			}
			switch {
			case status == 0:
				errs.Add(1)
				b.Logf("%s %s: %v", method, path, err)
			case status == http.StatusOK && (method == "GET" || method == "CHECKIN" || method == "RECORD"): // not steps: the floor counts steps
			case status == http.StatusOK:
				steps.Add(1)
			case status == http.StatusConflict:
				conflicts.Add(1) // a sheet while another is written, or a task just closed: taken again later
			case status == http.StatusForbidden:
				// Every simulated official acts within their rights: a refusal is a defect
				// in the product or in this benchmark, and sending it again never ends.
				errs.Add(1)
				refused.CompareAndSwap(nil, &refusal{method + " " + path, err.Error()})
			default:
				errs.Add(1)
				b.Logf("%s %s: %v", method, path, err)
			}
			return status
		}
	}

	for i := 0; i < b.N; i++ {
		start := time.Now()
		ps := make([]baocun.PairingSpec, n)
		for k := range ps {
			ps[k] = baocun.PairingSpec{DepartmentCode: fmt.Sprintf("D%04d", k/3), VillageCode: fmt.Sprintf("V%05d", k), Kind: "support"}
		}
		w := baocun.Windows{DecideDays: 60, ReportDays: 60, ReworkDays: 60, EvaluationDays: 60, AcceptanceDays: 120, PlanDays: 60, ArrivalDays: 60, NominateDays: 60}
		cycle, err := d.organiser().Launch(ctx, apiclient.LaunchSpec{Name: "城市模拟 city", Jurisdiction: "*", Pairings: ps,
			CycleSettings: baocun.CycleSettings{StartDate: "2027-01-01", Years: 3, PeriodMonths: 3, MinTeamSize: 1, ResidencyDays: residencyDays,
				ClockScale: float64(91*24*time.Hour) / float64(quarter), Windows: w}})
		if err != nil {
			b.Fatal(err)
		}

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
					t, pid := j.t, j.t.PairingID
					p := fmt.Sprintf("/api/v1/pairings/%d", pid)
					dept, decide := depts[t.Department], baocun.DecisionInput{TaskID: t.ID, Outcome: baocun.OutcomeApprove}
					other := func() *apiclient.Client {
						for d, c := range reviewers {
							if d != t.Department {
								return c
							}
						}
						return nil
					}
					status, key := 0, t.ID+"/"+j.rater
					// step takes the task's step as c, under the task's key.
					step := func(path string, c *apiclient.Client, take func(c *apiclient.Client) (baocun.StepResult, error)) int {
						return call("POST", path, key, c, func(c *apiclient.Client) error { _, err := take(c); return err })
					}
					switch t.Kind {
					case baocun.TaskNominateTeam:
						lead := memberOf(t.Village)
						status = step(p+"/team", dept, func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.NominateTeam(ctx, pid, baocun.TeamInput{Leader: lead, Members: []string{lead}})
						})
					case baocun.TaskApproveTeam:
						status = step(p+"/team/decision", org, func(c *apiclient.Client) (baocun.StepResult, error) { return c.DecideTeam(ctx, pid, decide) })
					case baocun.TaskConfirmArrival:
						status = step(p+"/arrival", members[t.Village], func(c *apiclient.Client) (baocun.StepResult, error) { return c.ConfirmArrival(ctx, pid) })
					case baocun.TaskSubmitPlan:
						status = step(p+"/plan", members[t.Village], func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.SubmitPlan(ctx, pid, baocun.PlanInput{Title: "三年规划", Summary: "修路、引水、合作社 roads, water, a co-operative"})
						})
					case baocun.TaskReviewPlan, baocun.TaskReviewReport:
						status = step(p+"/decisions", other(), func(c *apiclient.Client) (baocun.StepResult, error) { return c.DecideReview(ctx, pid, decide) })
					case baocun.TaskSubmitReport:
						// The period's work goes in the ledger first (once, whatever the
						// report's fate): a road completed with the pairing's evidence file,
						// which the report then counts.
						if _, done := ledgered.LoadOrStore(fmt.Sprintf("%d/%d", pid, t.Period), true); !done {
							call("RECORD", p+"/projects", "", members[t.Village], func(c *apiclient.Client) error {
								return fillLedger(ctx, c, pid, t.Period, &evidence)
							})
						}
						status = step(p+"/reports", members[t.Village], func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.SubmitReport(ctx, pid, baocun.ReportInput{Period: t.Period, Summary: "按计划推进 on plan", CollectiveIncomeWan: fmt.Sprint(t.Period)})
						})
					case baocun.TaskResidencyFlag:
						status = step(p+"/residency-flags", dept, func(c *apiclient.Client) (baocun.StepResult, error) { return c.AcknowledgeFlag(ctx, pid, t.ID) })
					case baocun.TaskEvaluation:
						status = step(p+"/evaluations", villages[t.Village], func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.SubmitEvaluation(ctx, pid, baocun.EvaluationInput{Year: t.Period, Respondents: 100, VillagerSatisfaction: "96", GrassrootsSatisfaction: "96", GrassrootsRespondent: "乡镇人民政府 the township",
								Cadres: []baocun.CadreRating{{PersonID: memberOf(t.Village), Satisfaction: "95"}}})
						})
					case baocun.TaskSelfAssess:
						status = step(p+"/acceptance/self-assessment", members[t.Village], func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.SelfAssess(ctx, pid, baocun.SelfAssessInput{Summary: "三年任务完成 done"})
						})
					case baocun.TaskScore:
						status = step(p+"/acceptance/scores", reviewers[j.rater], func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.Score(ctx, pid, baocun.ScoreInput{Scores: full})
						})
					case baocun.TaskConfirm:
						status = step(p+"/acceptance/confirm", org, func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.ConfirmAcceptance(ctx, pid, baocun.ConfirmInput{TaskID: t.ID, NewClass: 1})
						})
					case baocun.TaskProposeCadres:
						// The lead proposes every eligible cadre the department has.
						path := fmt.Sprintf("/api/v1/cycles/%d/commendations/proposals/%s", cycle, t.Department)
						var can *apiclient.Candidates
						if status = call("GET", path, "", dept, func(c *apiclient.Client) (err error) {
							can, err = c.Candidates(ctx, cycle, t.Department)
							return err
						}); status == http.StatusOK {
							var in baocun.ProposeInput
							for _, c := range can.Eligible {
								in.Cadres = append(in.Cadres, baocun.CadreProposal{PersonID: c.PersonID, Reason: "驻村三年，成绩优秀 three years in the village, excellent"})
							}
							status = step(path, dept, func(c *apiclient.Client) (baocun.StepResult, error) { return c.Propose(ctx, cycle, t.Department, in) })
						}
					case baocun.TaskApproveCommend:
						status = step(fmt.Sprintf("/api/v1/cycles/%d/commendations/approval", cycle), org, func(c *apiclient.Client) (baocun.StepResult, error) {
							return c.ApproveCommendation(ctx, cycle, baocun.ApproveInput{TaskID: t.ID})
						})
					}
					mu.Lock()
					delete(inflight, key)
					if t.Kind == baocun.TaskScore && status == http.StatusOK {
						scored[t.ID][j.rater] = true
					}
					mu.Unlock()
				}
			}()
		}
		// Each team's member checks in once a month, for today (see residencyDays), so
		// the period's residency check finds nobody short (a check-in that came too
		// late for its month shows as a residency flag).
		cy, err := db.Cycle(ctx, cycle)
		if err != nil {
			b.Fatal(err)
		}
		clock := cy.Clock()
		type checkin struct {
			pairing int64
			village string
		}
		checkins := make(chan checkin, n)
		var checkedIn, fieldRecords atomic.Int64
		posted := map[int64]int{} // pairing → the last month checked in (year*12+month)
		// A sample of the teams keeps the rest of the field records once: the member
		// of every 30th village (one who is not the lead) asks two days' leave in the
		// middle of next month, which the lead approves, and writes the work log with
		// a photograph. Each is a record, not a step: counted apart.
		var sampleOnce sync.Map
		photo := benchPhoto()
		record := func(path string, c *apiclient.Client, f func(c *apiclient.Client) error) bool {
			if call("RECORD", path, "", c, f) == http.StatusOK {
				fieldRecords.Add(1)
				return true
			}
			return false
		}
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ci := range checkins {
					p, m := fmt.Sprintf("/api/v1/pairings/%d", ci.pairing), members[ci.village]
					if call("CHECKIN", p+"/checkins", "", m, func(c *apiclient.Client) error {
						_, err := c.CheckIn(ctx, ci.pairing, baocun.CheckinInput{})
						return err
					}) == http.StatusOK {
						checkedIn.Add(1)
					}
					var k int
					fmt.Sscanf(ci.village, "V%05d", &k)
					if _, done := sampleOnce.LoadOrStore(ci.pairing, true); done || k%30 != 1 {
						continue
					}
					today := clock.Now(time.Now())
					from := time.Date(today.Year(), today.Month(), 15, 0, 0, 0, 0, today.Location()).AddDate(0, 1, 0)
					var leave baocun.Leave
					if record(p+"/leave", m, func(c *apiclient.Client) (err error) {
						leave, err = c.RequestLeave(ctx, ci.pairing, baocun.LeaveInput{From: from.Format(time.DateOnly), To: from.AddDate(0, 0, 1).Format(time.DateOnly),
							Kind: "personal", Reason: "家事 family matters"})
						return err
					}) {
						record(p+"/leave/decision", depts[fmt.Sprintf("D%04d", k/3)], func(c *apiclient.Client) error {
							_, err := c.DecideLeave(ctx, ci.pairing, leave.ID, baocun.LeaveDecision{Outcome: "approve"})
							return err
						})
					}
					var file baocun.File
					if record("/api/v1/files", m, func(c *apiclient.Client) (err error) {
						file, err = c.UploadFile(ctx, ci.pairing, "现场.png", photo)
						return err
					}) {
						record(p+"/log", m, func(c *apiclient.Client) error {
							_, err := c.AddLog(ctx, ci.pairing, baocun.LogInput{Kind: "visit", Text: "入户走访 household visits", Files: []string{file.ID}})
							return err
						})
					}
				}
			}()
		}
		for {
			// Members stop at the programme's end: a pairing still in reviews after it
			// (its last report awaited) has no days left to check in.
			if today := clock.Now(time.Now()); today.Before(cy.End().AddDate(0, 0, -1)) {
				month := today.Year()*12 + int(today.Month())
				rows, err := db.QueryContext(ctx, "SELECT id, village_code FROM pairings WHERE cycle_id = ? AND stage IN (?, ?, ?)",
					cycle, baocun.StageStationed, baocun.StagePlanning, baocun.StageReviews)
				if err != nil {
					b.Fatal(err)
				}
				var due []checkin
				for rows.Next() {
					var c checkin
					if err := rows.Scan(&c.pairing, &c.village); err != nil {
						b.Fatal(err)
					}
					if posted[c.pairing] == month {
						continue
					}
					posted[c.pairing] = month
					due = append(due, c)
				}
				if err := rows.Close(); err != nil {
					b.Fatal(err)
				}
				for _, c := range due {
					checkins <- c
				}
			}
			var status string
			if err := db.QueryRowContext(ctx, "SELECT status FROM cycles WHERE id = ?", cycle).Scan(&status); err != nil {
				b.Fatal(err)
			}
			if status == baocun.CycleClosed {
				break
			}
			if r := refused.Load(); r != nil {
				var id int64
				fmt.Sscanf(r.request, "POST /api/v1/pairings/%d", &id)
				var all []baocun.Task
				if id > 0 { // a pairing's step: its tasks say why
					all, _ = db.Tasks(ctx, baocun.TaskFilter{PairingID: id, Status: "all", Limit: 1000})
				}
				for _, t := range all {
					b.Logf("pairing %d task %s %s %s opened %s closed %v by %s %s", id, t.ID, t.Kind, t.Status, t.OpenedAt, t.ClosedAt, t.ClosedBy, t.Outcome)
				}
				b.Fatalf("%s: 403 %s", r.request, r.answer)
			}
			if time.Since(start) > 40*time.Minute {
				b.Fatalf("the cycle is %s after 40 minutes", status)
			}
			open, err := db.Tasks(ctx, baocun.TaskFilter{Limit: 100000})
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
			d.watchMemory()
			time.Sleep(250 * time.Millisecond) // the officials look at their work again
		}
		close(jobs)
		close(checkins)
		wg.Wait()
		wall := time.Since(start)
		d.heapProfile(b) // what the heap holds at the cycle's end, before the floor runs
		trivial := d.trivial(b, n)
		floor := d.bareUpdates(b, 200, clients, int(steps.Load()))
		floorTime := trivial + floor.elapsed
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(steps.Load()), "steps")
		b.ReportMetric(float64(steps.Load())/wall.Seconds(), "steps/s")
		b.ReportMetric(float64(conflicts.Load()), "conflicts")
		b.ReportMetric(float64(retries.Load()), "sent-again")
		b.ReportMetric(float64(checkedIn.Load()), "checkins")
		b.ReportMetric(float64(fieldRecords.Load()), "field-records")
		var flags, proposed int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tasks WHERE kind = ?", baocun.TaskResidencyFlag).Scan(&flags); err != nil {
			b.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM commendation_cadres WHERE cycle_id = ?", cycle).Scan(&proposed); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(flags), "residency-flags")
		b.ReportMetric(float64(proposed), "cadres-proposed")
		b.ReportMetric(float64(errs.Load()), "errors")
		b.ReportMetric(floorTime.Seconds(), "floor-s")
		b.ReportMetric(wall.Seconds()/floorTime.Seconds(), "ratio")
		b.ReportMetric((12 * quarter).Seconds(), "programme-clock-s")
	}
	d.reportMemory(b)
}

// benchPhoto is a small photograph, as a member's phone would send: a 640 × 480 PNG.
func benchPhoto() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for x := range 640 {
		for y := range 480 {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), 90, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// fillLedger is a period's work in a pairing's ledger: a road added and completed,
// with the pairing's evidence file (uploaded once, kept in files by pairing).
func fillLedger(ctx context.Context, c *apiclient.Client, pairing int64, period int, files *sync.Map) error {
	id, ok := files.Load(pairing)
	if !ok {
		f, err := c.UploadFile(ctx, pairing, "完工验收单.txt", fmt.Appendf(nil, "pairing %d: completion sheets", pairing))
		if err != nil {
			return err
		}
		id, _ = files.LoadOrStore(pairing, f.ID)
	}
	pr, err := c.AddProject(ctx, pairing, baocun.ProjectInput{Kind: "road", Name: fmt.Sprintf("第 %d 期村道 period %d road", period, period), Quantity: "1.5", Unit: "km",
		Investment: baocun.Investment{OwnWan: "2", HigherWan: "5.5"}})
	if err != nil {
		return err
	}
	_, err = c.ProgressProject(ctx, pairing, pr.ID, baocun.ProjectProgress{Status: baocun.ProjectCompleted, Files: []string{id.(string)}})
	return err
}
