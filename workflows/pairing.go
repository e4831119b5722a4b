package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"baocun"
	"baocun/activities"
)

// Update and query names of the Pairing workflow: one Update per human step. The web
// layer has already authorised the caller; each validator checks the stage, the task
// and the input against the workflow's state and refuses synchronously, so a refused
// step writes nothing to history or the database.
const (
	UpdateNominateTeam  = "nominate_team"
	UpdateDecideTeam    = "decide_team"   // organiser: approve_team, approve_team_change
	UpdateDecideReview  = "decide_review" // reviewer: review_plan, review_report
	UpdateAcknowledge   = "acknowledge"   // dept_lead: residency_flag
	UpdateConfirmArrive = "confirm_arrival"
	UpdateSubmitPlan    = "submit_plan"
	UpdateSubmitReport  = "submit_report"
	UpdateRequestChange = "request_team_change"
	UpdateEvaluate      = "submit_evaluation"
	UpdateCancel        = "cancel"
	UpdateSelfAssess    = "self_assess"
	UpdateScore         = "score"
	UpdateConfirm       = "confirm_acceptance"
	UpdateAppeal        = "appeal"
	UpdateDecideAppeal  = "decide_appeal"
	UpdateExtendDue     = "extend_due" // organiser: move an open task's due date (issue 19)
	QueryState          = "state"
)

// decisionKinds are the task kinds each decision Update decides.
var decisionKinds = map[string][]baocun.TaskKind{
	UpdateDecideTeam:   {baocun.TaskApproveTeam, baocun.TaskApproveTeamChange},
	UpdateDecideReview: {baocun.TaskReviewPlan, baocun.TaskReviewReport},
	UpdateAcknowledge:  {baocun.TaskResidencyFlag},
}

// Step is the argument of every human-step Update: who acts, their input, and the
// audit entry the web layer drafted for the request, written in the same transaction
// as the step's effect.
type Step struct {
	Actor  string            `json:"actor"`
	Person string            `json:"person,omitempty"` // the actor's person id
	Audit  baocun.AuditEntry `json:"audit"`

	Team       *baocun.TeamInput       `json:"team,omitempty"`
	Change     *baocun.TeamChangeInput `json:"change,omitempty"`
	Plan       *baocun.PlanInput       `json:"plan,omitempty"`
	Report     *baocun.ReportInput     `json:"report,omitempty"`
	Evaluation *baocun.EvaluationInput `json:"evaluation,omitempty"`
	Decision   *baocun.DecisionInput   `json:"decision,omitempty"`
	SelfAssess *baocun.SelfAssessInput `json:"self_assess,omitempty"`
	Score      *baocun.ScoreInput      `json:"score,omitempty"`
	Confirm    *baocun.ConfirmInput    `json:"confirm,omitempty"`
	Appeal     *baocun.AppealInput     `json:"appeal,omitempty"`
	// AppealDecision: the field is named apart from Decision, which closes tasks
	// with its outcome in step.
	AppealDecision *baocun.AppealDecisionInput `json:"appeal_decision,omitempty"`
	Reason         string                      `json:"reason,omitempty"` // cancel
	Due            *baocun.DueInput            `json:"due,omitempty"`    // extend_due (issue 19)
	// Names of the people the input names, from the directory, for the timeline.
	Names map[string]string `json:"names,omitempty"`
	// Applied is the number of the pairing's last change the database held when the
	// API sent the step (see PairingState.Unwritten): the workflow forgets those.
	Applied int64 `json:"applied,omitempty"`
}

// StepResult is what a step did.
type StepResult struct {
	Stage  string   `json:"stage"` // the pairing's stage, or the cycle's commendation status
	Period int      `json:"period,omitempty"`
	Closed []string `json:"closed,omitempty"` // task ids
	Opened []string `json:"opened,omitempty"` // task ids
	// Request is the ID of the HTTP request whose step this is: a request repeated
	// under its Idempotency-Key gets the first one's answer, and this tells them apart.
	Request string `json:"request_id,omitempty"`
	// Changes are the pairing's committed changes the database may not hold yet, in
	// order, this step's last: the API writes them before it answers.
	Changes []baocun.Change `json:"changes,omitempty"`
}

func (st Step) request() string { return st.Audit.RequestID }

// Answered is how every step's Update handler answers: its result, or its refusal
// (as the details of the application error), names the request it answers.
func Answered[S any](handle func(workflow.Context, S) (StepResult, error), request func(S) string) func(workflow.Context, S) (StepResult, error) {
	return func(ctx workflow.Context, st S) (StepResult, error) {
		res, err := handle(ctx, st)
		var app *temporal.ApplicationError
		switch {
		case err == nil:
			res.Request = request(st)
		case errors.As(err, &app) && app.Type() != "":
			err = temporal.NewNonRetryableApplicationError(app.Message(), app.Type(), nil, request(st))
		}
		return res, err
	}
}

// PairingState is the whole state of a pairing's workflow, carried across
// continue-as-new and returned by the "state" query.
type PairingState struct {
	Pairing  baocun.Pairing       `json:"pairing"`
	Settings baocun.CycleSettings `json:"settings"`
	Clock    baocun.Clock         `json:"clock"`
	Stage    baocun.Stage         `json:"stage"`
	Period   int                  `json:"period"` // the reporting period now running (reviews)
	Team     []baocun.Member      `json:"team"`
	Joined   map[string]string    `json:"joined,omitempty"` // person → programme date they joined
	// Proposed is a nomination or team change awaiting an organiser.
	Proposed  []baocun.Member `json:"proposed,omitempty"`
	ArrivedOn string          `json:"arrived_on,omitempty"`
	// ResidencyFrom is the first day of the first month the residency rule has not
	// checked yet ("" before the first check).
	ResidencyFrom string        `json:"residency_from,omitempty"`
	Tasks         []baocun.Task `json:"tasks"` // open tasks
	Seq           int           `json:"seq"`   // last task sequence number
	Approved      []int         `json:"approved,omitempty"`
	Versions      map[int]int   `json:"versions,omitempty"` // period → reports submitted
	Evaluated     []int         `json:"evaluated,omitempty"`
	Runs          int           `json:"runs"` // continue-as-new count
	// Ended: the last period has ended, and acceptance waits for its report.
	Ended bool `json:"ended,omitempty"`
	// Acceptance is set once acceptance begins.
	Acceptance *AcceptanceState `json:"acceptance,omitempty"`
	Cancelled  bool             `json:"cancelled,omitempty"`
	CancelNote string           `json:"cancel_note,omitempty"`
	// Changes is the number of the last change a person's step committed, and
	// Unwritten the committed changes not yet known to be in the database, in order
	// (docs/DESIGN.md "A step's write").
	Changes   int64           `json:"changes,omitempty"`
	Unwritten []baocun.Change `json:"unwritten,omitempty"`
}

// NewPairingState is a pairing's state at launch, with its first task (the team
// nomination) open.
func NewPairingState(p baocun.Pairing, settings baocun.CycleSettings, clock baocun.Clock, now time.Time) PairingState {
	s := PairingState{Pairing: p, Settings: settings, Clock: clock, Stage: baocun.StageDispatch, Team: []baocun.Member{}}
	s.Tasks = []baocun.Task{s.newTask(baocun.TaskNominateTeam, 0, "提名工作组 nominate the team", now, settings.Windows.NominateDays)}
	return s
}

// newTask makes the next task of kind, due days of programme time from now.
func (s *PairingState) newTask(kind baocun.TaskKind, period int, subject string, now time.Time, days int) baocun.Task {
	return s.newTaskDue(kind, period, subject, now, s.Clock.Now(now).AddDate(0, 0, days))
}

// newTaskDue makes the next task of kind, due at programme time due.
func (s *PairingState) newTaskDue(kind baocun.TaskKind, period int, subject string, now, due time.Time) baocun.Task {
	s.Seq++
	return timedTask(baocun.Task{
		ID: fmt.Sprintf("%d-%d", s.Pairing.ID, s.Seq), Kind: kind, PairingID: s.Pairing.ID, CycleID: s.Pairing.CycleID,
		Jurisdiction: s.Pairing.County, Department: s.Pairing.Department, Village: s.Pairing.Village, Period: period, Subject: subject,
	}, s.Clock, s.Settings.Windows.RemindDays, now, due)
}

func (s *PairingState) task(id string) *baocun.Task {
	for i := range s.Tasks {
		if s.Tasks[i].ID == id {
			return &s.Tasks[i]
		}
	}
	return nil
}

func (s *PairingState) openOf(kind baocun.TaskKind) *baocun.Task {
	for i := range s.Tasks {
		if s.Tasks[i].Kind == kind {
			return &s.Tasks[i]
		}
	}
	return nil
}

// periods are the cycle's reporting periods.
func (s *PairingState) periods() []baocun.Period {
	ps, _ := baocun.Periods(s.Clock.Start, s.Settings.Years, s.Settings.PeriodMonths)
	return ps
}

// periodAt is the index of the period programme time p falls in; past the last, len+1.
func (s *PairingState) periodAt(p time.Time) int {
	ps := s.periods()
	for _, x := range ps {
		if p.Before(x.End) {
			return x.Index
		}
	}
	return len(ps) + 1
}

// conflict and invalid are the errors a step is refused with; the web layer maps
// the type to the HTTP status.
func conflict(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), baocun.ECONFLICT, nil)
}

func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(baocun.ErrorMessage(err), baocun.EINVALID, nil)
}

// ownStep is what the workflow is writing of its own accord, which people's steps
// wait for or are refused by.
type ownStep int

const (
	ownNone ownStep = iota
	// ownWriting: a step of its own (a period's end, the publication): a cancel
	// waits for it, so neither overwrites the other.
	ownWriting
	// ownClosing: the move to acceptance (a step of its own too): new steps on the
	// earlier stages' tasks are refused, and the move waits for those already
	// deciding, so none commits into acceptance.
	ownClosing
)

// pairingRun is one run of the Pairing workflow: the state and what is not carried
// across continue-as-new — the watchers of open tasks, and where steps stand: the
// tasks being decided or opened, the workflow's own step, a cancel being written.
// Validators read these and never write them; handlers set them for their own
// duration.
type pairingRun struct {
	s        *PairingState
	watchers *watchers
	busy     map[string]bool // tasks a handler is deciding now; requestingChange while a team change is written
	// opening are the tasks a step is writing now: they are in the database (and so
	// in inboxes) a moment before the step commits them to the state, so validators
	// accept them and handlers wait for the commit.
	opening []baocun.Task
	own     ownStep
	// cancelling is set while a cancel Update writes: every other step is refused,
	// and the workflow's own next step waits for it.
	cancelling bool
	// committing: a person's step is committed by the workflow at once and written by
	// the API after (runs from issue 16 on); otherwise the step's handler writes it
	// through an activity first (runs of v0.1.0, replayed as they ran).
	committing bool
	// writing counts the workflow's own writes in flight (committing runs): a
	// person's step waits for them, as they write the unwritten changes first.
	writing int
	// flushing is set while the flusher writes; a person's step does not wait for it
	// (it changes no state: the step's own write carries the same changes, keyed).
	flushing bool
	// lastCommit is when this run last committed a person's step (or began): the
	// flusher waits for a quiet spell after it.
	lastCommit time.Time
}

// closing reports whether the pairing is moving to acceptance.
func (r *pairingRun) closing() bool { return r.own == ownClosing }

// owning sets what the workflow is writing of its own accord until the returned
// function puts back what it was.
func (r *pairingRun) owning(o ownStep) func() {
	prev := r.own
	r.own = o
	return func() { r.own = prev }
}

// systemStep runs a step the workflow takes by itself, unless a cancel is being
// written: then it waits for the cancel and reports false, and the caller looks at
// the stage again.
func (r *pairingRun) systemStep(ctx workflow.Context, fn func() error) (bool, error) {
	if r.cancelling {
		return false, workflow.Await(ctx, func() bool { return !r.cancelling })
	}
	defer r.owning(ownWriting)()
	return true, fn()
}

// CommitFirst is the change ID (workflow.GetVersion) of committing runs: a person's
// step is committed by the workflow in one workflow task and written by the API.
const CommitFirst = "commit-first"

// requestingChange is the busy key of a team change request being written: a second
// request sent at the same moment is refused.
const requestingChange = "team-change"

// Pairing runs one pairing through its stages (SPEC.md "The lifecycle") until it is
// handed to acceptance, or cancelled. It continues as new at the end of every
// reporting period.
func Pairing(ctx workflow.Context, s PairingState) error {
	r := &pairingRun{s: &s, busy: map[string]bool{}}
	r.committing = workflow.GetVersion(ctx, CommitFirst, workflow.DefaultVersion, 1) == 1
	r.watchers = newWatchers(r.apply) // in a committing run, after the unwritten changes
	if err := r.register(ctx); err != nil {
		return err
	}
	if r.committing {
		r.lastCommit = workflow.Now(ctx)
		workflow.Go(ctx, r.flusher)
	}
	for _, t := range s.Tasks {
		r.watch(ctx, t)
	}
	periods := s.periods()
	cycleEnd := periods[len(periods)-1].End
	for {
		switch s.Stage {
		case baocun.StageCancelled:
			return r.finish(ctx)
		case baocun.StageAcceptance:
			if s.Acceptance == nil {
				rubric, read, err := r.readRubric(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return r.cancelledByCycle(ctx)
					}
					return err
				}
				if !read || s.Stage != baocun.StageAcceptance {
					continue // the stage changed (a cancel) while it was read
				}
				ran, err := r.systemStep(ctx, func() error { return r.beginAcceptance(ctx, rubric) })
				if err != nil {
					if ctx.Err() != nil {
						return r.cancelledByCycle(ctx)
					}
					return err
				}
				if !ran {
					continue
				}
			}
			if err := workflow.Await(ctx, func() bool { return s.Stage != baocun.StageAcceptance }); err != nil {
				return r.cancelledByCycle(ctx)
			}
		case baocun.StagePublicity:
			closed, err := r.publicity(ctx)
			switch {
			case closed && err != nil && ctx.Err() != nil:
				return temporal.NewCanceledError() // closed and final: the cycle's cancel changes nothing now
			case err != nil && ctx.Err() != nil:
				return r.cancelledByCycle(ctx)
			case err != nil:
				return err
			case closed:
				return nil
			}
		case baocun.StageReviews:
			if s.Ended {
				// The last period has ended: acceptance begins once its report is
				// approved, or no report of it is open within its window.
				if err := r.awaitLastReport(ctx); err != nil {
					return r.cancelledByCycle(ctx)
				}
				if s.Stage != baocun.StageReviews {
					continue
				}
				if _, err := r.systemStep(ctx, func() error {
					return r.toAcceptance(ctx, "最后一期汇报已结 the last period's report is closed")
				}); err != nil {
					if ctx.Err() != nil {
						return r.cancelledByCycle(ctx)
					}
					return err
				}
				continue
			}
			end := periods[s.Period-1].End
			if err := r.awaitUntil(ctx, end, func() bool { return s.Stage != baocun.StageReviews }); err != nil {
				return r.cancelledByCycle(ctx)
			}
			if s.Stage != baocun.StageReviews {
				continue
			}
			ran, err := r.systemStep(ctx, func() error { return r.endPeriod(ctx, periods[s.Period-1], s.Period == len(periods)) })
			if err != nil {
				if ctx.Err() != nil {
					return r.cancelledByCycle(ctx)
				}
				return err
			}
			if !ran || s.Stage != baocun.StageReviews || s.Ended {
				continue
			}
			// A new period: start a fresh history, carrying the state, once every
			// handler has finished (a cancel among them ends the pairing instead).
			if err := workflow.Await(ctx, func() bool {
				return workflow.AllHandlersFinished(ctx) && r.watchers.idle() && r.writing == 0 && !r.flushing
			}); err != nil {
				return r.cancelledByCycle(ctx)
			}
			if s.Stage == baocun.StageReviews {
				s.Runs++
				return workflow.NewContinueAsNewError(ctx, Pairing, s)
			}
		default: // dispatch, stationed, planning: the people drive it, the cycle's end bounds it
			stage := s.Stage
			if err := r.awaitUntil(ctx, cycleEnd, func() bool { return s.Stage != stage }); err != nil {
				return r.cancelledByCycle(ctx)
			}
			if s.Stage == stage {
				if _, err := r.systemStep(ctx, func() error {
					if err := r.settle(ctx); err != nil || s.Stage != stage {
						return err // a step in flight moved it on: the loop takes it from there
					}
					return r.toAcceptance(ctx, "本轮结束时仍在"+baocun.StageNames[stage]+" the cycle ended during "+string(stage))
				}); err != nil {
					if ctx.Err() != nil {
						return r.cancelledByCycle(ctx)
					}
					return err
				}
			}
		}
	}
}

// awaitUntil waits until programme time p or cond; an error means the workflow
// was cancelled.
func (r *pairingRun) awaitUntil(ctx workflow.Context, p time.Time, cond func() bool) error {
	d := r.s.Clock.Real(p).Sub(workflow.Now(ctx))
	if d <= 0 {
		return ctx.Err()
	}
	_, err := workflow.AwaitWithTimeout(ctx, d, cond)
	return err
}

// now is real time and programme time.
func (r *pairingRun) now(ctx workflow.Context) (time.Time, time.Time) {
	t := workflow.Now(ctx)
	return t, r.s.Clock.Now(t)
}

// event is a timeline entry of this pairing at programme time p.
func (r *pairingRun) event(kind, actor, task string, period int, p time.Time, data any) baocun.Event {
	e := baocun.Event{PairingID: r.s.Pairing.ID, ProgrammeAt: p.Format(time.DateOnly), Actor: actor, Kind: kind, TaskID: task, Period: period}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	if in, ok := data.(interface{ FileIDs() []string }); ok {
		e.Files = in.FileIDs()
	}
	return e
}

// systemAudit is the audit entry of something the workflow did by itself.
func (r *pairingRun) systemAudit(action, summary string) baocun.AuditEntry {
	p := r.s.Pairing
	return baocun.AuditEntry{Actor: "system", Action: action, Resource: fmt.Sprintf("pairings/%d", p.ID), Jurisdiction: p.County,
		CycleID: fmt.Sprint(p.CycleID), PairingID: fmt.Sprint(p.ID), Department: p.Department, Village: p.Village, Summary: summary}
}

// apply writes ch through the activity; the caller commits its state only after.
// In a committing run the changes still unwritten are written first, in the same
// transaction, and people's steps wait until it is done.
func (r *pairingRun) apply(ctx workflow.Context, ch baocun.Change) error {
	if !r.committing {
		return applyChange(ctx, ch)
	}
	return r.write(ctx, append(slices.Clone(r.s.Unwritten), ch))
}

// write writes the changes in order, in one transaction, through the activity, then
// forgets the unwritten changes among them; people's steps wait until it is done.
// Never a local activity: its result comes back within the workflow task, and the
// workflow's clock read after it differs on replay (the marker's own time), so
// time-dependent code after it — a reminder's timer, a due date — would not replay
// as it ran (TestReplay caught it).
func (r *pairingRun) write(ctx workflow.Context, chs []baocun.Change) error {
	r.writing++
	defer func() { r.writing-- }()
	return r.writeWith(ctx, activityOptions, chs)
}

// writeWith writes chs with the activity's options and forgets what it wrote.
func (r *pairingRun) writeWith(ctx workflow.Context, opts workflow.ActivityOptions, chs []baocun.Change) error {
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), (*activities.Activities).ApplyChanges, chs).Get(ctx, nil); err != nil {
		return err
	}
	var last int64
	for _, ch := range chs {
		last = max(last, ch.Seq)
	}
	r.forget(last)
	return nil
}

// forget drops the unwritten changes numbered up to n: the database holds them.
func (r *pairingRun) forget(n int64) {
	r.s.Unwritten = slices.DeleteFunc(r.s.Unwritten, func(ch baocun.Change) bool { return ch.Seq <= n })
}

// writeUnwritten writes the changes still unwritten, if any: before the workflow
// reads its own records (the objective inputs) or ends.
func (r *pairingRun) writeUnwritten(ctx workflow.Context) error {
	if !r.committing || len(r.s.Unwritten) == 0 {
		return nil
	}
	return r.write(ctx, slices.Clone(r.s.Unwritten))
}

// FlushAfter is the quiet spell after a person's last step before the workflow
// writes what is unwritten itself. The API answers a step only once it is written,
// with every change still unwritten, so while steps come their writes carry any the
// API failed to write; this is for an API that failed (its process killed, its
// database unreachable) with no step after: the database lags by at most this after
// such a failure. A busy pairing costs a timer a FlushAfter, and a write only once it
// falls quiet, not one per step or per minute.
const FlushAfter = time.Minute

// flushOptions bound the flusher's write: a write that keeps failing gives up, and
// the flusher waits longer before the next.
var flushOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
}

// flushLatest bounds how long a busy pairing's unwritten change waits for the
// flusher: its steps' writes carry it, but if they keep failing, the workflow writes
// it this long after it was committed at the latest.
const flushLatest = 5 * FlushAfter

// flushBackoff bounds the wait after a write that failed: doubling from FlushAfter.
const flushBackoff = time.Hour

// flusher writes the unwritten changes once no step has been committed for the
// wait, FlushAfter (a committing run's own coroutine); a write that fails is tried
// again after twice the wait, up to flushBackoff, so a change the database refuses
// costs a pairing's history a few events an hour, not a few a minute. People's
// steps do not wait for it.
func (r *pairingRun) flusher(ctx workflow.Context) {
	wait := FlushAfter
	for {
		if err := workflow.Await(ctx, func() bool { return len(r.s.Unwritten) > 0 }); err != nil {
			return
		}
		for {
			due := r.lastCommit.Add(wait)
			if wait == FlushAfter && len(r.s.Unwritten) > 0 {
				// Steps that keep coming, their writes failing, postpone it no
				// further than flushLatest after the oldest change unwritten.
				if latest := r.s.Unwritten[0].At.Add(flushLatest); latest.Before(due) {
					due = latest
				}
			}
			quiet := due.Sub(workflow.Now(ctx))
			if quiet <= 0 {
				break
			}
			if err := workflow.Sleep(ctx, quiet); err != nil {
				return
			}
		}
		if r.writing > 0 {
			// A write of the workflow's own takes them: whatever it leaves waits
			// another quiet spell.
			if err := workflow.Await(ctx, func() bool { return r.writing == 0 }); err != nil {
				return
			}
			r.lastCommit = workflow.Now(ctx)
			continue
		}
		if len(r.s.Unwritten) == 0 {
			continue // written meanwhile
		}
		r.flushing = true
		err := r.writeWith(ctx, flushOptions, slices.Clone(r.s.Unwritten))
		r.flushing = false
		if err != nil {
			wait = min(2*wait, flushBackoff)
			r.lastCommit = workflow.Now(ctx) // the backoff counts from the failure
			workflow.GetLogger(ctx).Error("writing committed changes failed: the pairing's later steps wait for it", "error", err, "retry_in", wait)
			continue
		}
		wait = FlushAfter
	}
}

var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 30 * time.Second},
}

// open adds tasks to the state and watches them.
func (r *pairingRun) open(ctx workflow.Context, ts ...baocun.Task) {
	for _, t := range ts {
		r.s.Tasks = append(r.s.Tasks, t)
		r.watch(ctx, t)
	}
}

// close removes a task from the state and stops its watcher.
func (r *pairingRun) close(id string) {
	r.s.Tasks = slices.DeleteFunc(r.s.Tasks, func(t baocun.Task) bool { return t.ID == id })
	r.watchers.stop(id)
}

// watch records a task's reminder before its due date and escalates it to the
// organisers when it falls due still open; neither once it has closed, or while it
// is about to expire with its stage.
func (r *pairingRun) watch(ctx workflow.Context, t baocun.Task) {
	r.watchers.watch(ctx, t, true,
		func() bool { return r.s.task(t.ID) != nil && (!r.closing() || outlivesStage(t.Kind)) },
		func(ctx workflow.Context, w watchStep) baocun.Change {
			real, prog := r.now(ctx)
			return baocun.Change{At: real,
				Events: []baocun.Event{r.event(w.event, "system", t.ID, t.Period, prog, map[string]string{"kind": string(t.Kind), "due_date": t.DueDate})},
				Audit:  []baocun.AuditEntry{r.systemAudit(w.action, watchSummary(t, w.note))},
			}
		},
		func() *baocun.Task { return r.s.task(t.ID) })
}

// register sets the query and every Update handler.
func (r *pairingRun) register(ctx workflow.Context) error {
	s := r.s
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (PairingState, error) { return *s, nil }); err != nil {
		return err
	}
	handlers := []struct {
		name     string
		validate func(Step) error
		// validateAt, instead of validate, for a check that reads the workflow's time.
		validateAt func(time.Time, Step) error
		handle     func(workflow.Context, Step) (StepResult, error)
	}{
		{UpdateNominateTeam, r.validateNominate, nil, r.nominate},
		{UpdateDecideTeam, r.validateDecision(UpdateDecideTeam), nil, r.decide},
		{UpdateDecideReview, r.validateDecision(UpdateDecideReview), nil, r.decide},
		{UpdateAcknowledge, r.validateDecision(UpdateAcknowledge), nil, r.decide},
		{UpdateConfirmArrive, r.validateArrival, nil, r.confirmArrival},
		{UpdateSubmitPlan, r.validatePlan, nil, r.submitPlan},
		{UpdateSubmitReport, r.validateReport, nil, r.submitReport},
		{UpdateRequestChange, r.validateChange, nil, r.requestChange},
		{UpdateEvaluate, r.validateEvaluation, nil, r.submitEvaluation},
		{UpdateCancel, r.validateCancel, nil, r.cancel},
		{UpdateSelfAssess, r.validateSelfAssess, nil, r.selfAssess},
		{UpdateScore, r.validateScore, nil, r.score},
		{UpdateConfirm, r.validateConfirm, nil, r.confirm},
		{UpdateAppeal, nil, r.validateAppeal, r.appeal},
		{UpdateDecideAppeal, r.validateAppealDecision, nil, r.decideAppeal},
		{UpdateExtendDue, nil, r.validateDue, r.extendDue},
	}
	// admits are checks a step meets only as it arrives, in its validator, and that
	// are not made again once it is accepted: they came after v0.1.0, and a handler's
	// second look (below) runs on replay too, where refusing a step accepted before
	// them would change the history's commands.
	admits := map[string]func(Step) error{
		UpdateRequestChange: func(Step) error {
			if r.s.Ended {
				return conflict("各期已结束，正等待最后一期汇报：工作组不再调整 The periods are over and the last report is awaited: the team does not change now.")
			}
			return nil
		},
	}
	for _, h := range handlers {
		name, validate, handle := h.name, h.validateAt, h.handle
		if validate == nil {
			check := h.validate
			validate = func(_ time.Time, st Step) error { return check(st) }
		}
		// A step on a task still being opened waits until it is committed, then is
		// checked again: its validator saw the state without that step's commit. In a
		// committing run a step also waits for the workflow's own write in flight.
		run := func(ctx workflow.Context, st Step) (StepResult, error) {
			if len(r.opening) > 0 || r.writing > 0 {
				if err := workflow.Await(ctx, func() bool { return len(r.opening) == 0 && r.writing == 0 }); err != nil {
					return StepResult{}, err
				}
				if err := validate(workflow.Now(ctx), st); err != nil {
					return StepResult{}, err
				}
			}
			if r.committing {
				r.forget(st.Applied)
			}
			return handle(ctx, st)
		}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, Answered(run, Step.request), workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, st Step) error {
				if err := validate(workflow.Now(ctx), st); err != nil {
					return err
				}
				if admit := admits[name]; admit != nil {
					return admit(st)
				}
				return nil
			},
		}); err != nil {
			return err
		}
	}
	return nil
}

// claim checks that a task is open and not being decided, and reserves it for the
// caller's handler; release gives it back. A second decision of the same task, sent
// at the same moment, is refused here.
func (r *pairingRun) claim(id string, kind baocun.TaskKind) (*baocun.Task, error) {
	if r.cancelling {
		return nil, conflict("结对正在撤销 The pairing is being cancelled.")
	}
	t := r.find(func(t *baocun.Task) bool { return t.ID == id })
	if t == nil || (kind != "" && t.Kind != kind) {
		return nil, conflict("待办 %s 不在待办中（已处理或不存在） Task %s is not open here: decided already, or not a %s task.", id, id, kind)
	}
	if r.closing() && !outlivesStage(t.Kind) {
		return nil, conflict("结对正在进入验收，此前阶段的待办已截止 The pairing is entering acceptance: the earlier stages' tasks are closing.")
	}
	if r.busy[id] {
		return nil, conflict("待办 %s 正在处理 Task %s is being decided by someone else.", id, id)
	}
	return t, nil
}

// find is the first open task that matches, committed or being opened.
func (r *pairingRun) find(match func(*baocun.Task) bool) *baocun.Task {
	for _, list := range [][]baocun.Task{r.s.Tasks, r.opening} {
		for i := range list {
			if match(&list[i]) {
				return &list[i]
			}
		}
	}
	return nil
}

// isOpening reports whether task id is being written by a step not yet committed.
func (r *pairingRun) isOpening(id string) bool {
	return slices.ContainsFunc(r.opening, func(t baocun.Task) bool { return t.ID == id })
}

// applyOpening writes ch with its new tasks marked as opening until it is done.
func (r *pairingRun) applyOpening(ctx workflow.Context, ch baocun.Change) error {
	r.opening = append(r.opening, ch.Open...)
	defer func() {
		r.opening = slices.DeleteFunc(r.opening, func(t baocun.Task) bool {
			return slices.ContainsFunc(ch.Open, func(o baocun.Task) bool { return o.ID == t.ID })
		})
	}()
	return r.apply(ctx, ch)
}

func (r *pairingRun) checkTask(kind baocun.TaskKind, what string) (*baocun.Task, error) {
	t := r.find(func(t *baocun.Task) bool { return t.Kind == kind })
	if t == nil {
		return nil, conflict("当前阶段（%s）不能%s The pairing is at stage %s: %s is not open.", baocun.StageNames[r.s.Stage], what, r.s.Stage, kind)
	}
	return r.claim(t.ID, kind)
}

func (r *pairingRun) validateNominate(st Step) error {
	if st.Team == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "team: 必填 required"))
	}
	if _, err := r.checkTask(baocun.TaskNominateTeam, "提名工作组 nominate a team"); err != nil {
		return err
	}
	if err := st.Team.Validate(r.s.Settings.MinTeamSize); err != nil {
		return invalid(err)
	}
	return nil
}

// step runs a handler's change: it reserves the tasks it closes, writes the change,
// and only then commits the state (commit), so a failed write leaves the state as
// it was.
func (r *pairingRun) step(ctx workflow.Context, st Step, closes []string, build func(real, prog time.Time, ch *baocun.Change) func()) (StepResult, error) {
	if r.committing {
		return r.commit(ctx, st, closes, build)
	}
	for _, id := range closes {
		if _, err := r.claim(id, ""); err != nil {
			return StepResult{}, err
		}
	}
	for _, id := range closes {
		r.busy[id] = true
	}
	defer func() {
		for _, id := range closes {
			delete(r.busy, id)
		}
	}()
	seq := r.s.Seq
	ch, commit := r.draft(ctx, st, closes, build)
	built := r.s.Seq
	if err := r.applyOpening(ctx, ch); err != nil {
		if r.s.Seq == built {
			r.s.Seq = seq // no other step took a number meanwhile: give them back
		}
		return StepResult{}, err
	}
	res := StepResult{}
	for _, id := range closes {
		r.close(id)
		res.Closed = append(res.Closed, id)
	}
	if commit != nil {
		commit()
	}
	r.open(ctx, ch.Open...)
	for _, t := range ch.Open {
		res.Opened = append(res.Opened, t.ID)
	}
	res.Stage, res.Period = string(r.s.Stage), r.s.Period
	return res, nil
}

// draft is a step's change: the tasks it closes, what build adds (build returns the
// commit of the state, or nil), and the request's audit entry.
func (r *pairingRun) draft(ctx workflow.Context, st Step, closes []string, build func(real, prog time.Time, ch *baocun.Change) func()) (baocun.Change, func()) {
	real, prog := r.now(ctx)
	ch := baocun.Change{At: real}
	for _, id := range closes {
		outcome := baocun.OutcomeSubmitted
		if st.Decision != nil && st.Decision.TaskID == id {
			outcome = st.Decision.Outcome
		}
		ch.Close = append(ch.Close, baocun.TaskClose{ID: id, Status: baocun.TaskDone, Outcome: outcome, By: st.Actor})
	}
	commit := build(real, prog, &ch)
	if st.Audit.Action != "" {
		a := st.Audit
		a.At = real
		ch.Audit = append(ch.Audit, a)
	}
	return ch, commit
}

// commit is step in a committing run: it checks the tasks the step closes, builds
// its change and commits it to the state at once, with no write and so no yield in
// between; the change is numbered and kept as unwritten, and the answer carries every
// unwritten change for the API to write before it answers (docs/DESIGN.md).
func (r *pairingRun) commit(ctx workflow.Context, st Step, closes []string, build func(real, prog time.Time, ch *baocun.Change) func()) (StepResult, error) {
	if r.writing > 0 {
		// The handler waited for something else (the objective inputs' read) and a
		// write of the workflow's own began meanwhile: it goes first.
		if err := workflow.Await(ctx, func() bool { return r.writing == 0 }); err != nil {
			return StepResult{}, err
		}
	}
	for _, id := range closes {
		if _, err := r.claim(id, ""); err != nil {
			return StepResult{}, err
		}
	}
	ch, commit := r.draft(ctx, st, closes, build)
	r.s.Changes++
	ch.PairingID, ch.Seq = r.s.Pairing.ID, r.s.Changes
	ch.Key = fmt.Sprintf("pairing-%d/change-%d", ch.PairingID, ch.Seq)
	for i := range ch.Audit {
		ch.Audit[i].Key = fmt.Sprintf("%s#%d", ch.Key, i)
	}
	res := StepResult{}
	for _, id := range closes {
		r.close(id)
		res.Closed = append(res.Closed, id)
	}
	if commit != nil {
		commit()
	}
	r.open(ctx, ch.Open...)
	for _, t := range ch.Open {
		res.Opened = append(res.Opened, t.ID)
	}
	r.s.Unwritten = append(r.s.Unwritten, ch)
	r.lastCommit = workflow.Now(ctx)
	res.Stage, res.Period = string(r.s.Stage), r.s.Period
	res.Changes = slices.Clone(r.s.Unwritten)
	return res, nil
}

func (r *pairingRun) nominate(ctx workflow.Context, st Step) (StepResult, error) {
	t := r.s.openOf(baocun.TaskNominateTeam)
	team := st.Team.Team()
	for i := range team {
		team[i].Name = st.Names[team[i].PersonID]
	}
	return r.step(ctx, st, []string{t.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		next := r.s.newTask(baocun.TaskApproveTeam, 0, "审批工作组 approve the team", real, r.s.Settings.Windows.DecideDays)
		ch.Open = append(ch.Open, next)
		ch.Events = append(ch.Events, r.event("team.nominated", st.Actor, t.ID, 0, prog, team))
		return func() { r.s.Proposed = team }
	})
}

func (r *pairingRun) validateDecision(update string) func(Step) error {
	return func(st Step) error {
		d := st.Decision
		if d == nil {
			return invalid(baocun.Errorf(baocun.EINVALID, "decision: 必填 required"))
		}
		if err := d.Validate(); err != nil {
			return invalid(err)
		}
		t, err := r.claim(d.TaskID, "")
		if err != nil {
			return err
		}
		if !slices.Contains(decisionKinds[update], t.Kind) {
			return conflict("待办 %s 是 %s，不能在此决定 Task %s is a %s task: it is not decided here.", t.ID, t.Kind, t.ID, t.Kind)
		}
		if (t.Kind == baocun.TaskResidencyFlag) != (d.Outcome == baocun.OutcomeAcknowledge) {
			return invalid(baocun.Errorf(baocun.EINVALID, "outcome: %s 不适用于 %s outcome %s does not apply to a %s task", d.Outcome, t.Kind, d.Outcome, t.Kind))
		}
		return nil
	}
}

func (r *pairingRun) decide(ctx workflow.Context, st Step) (StepResult, error) {
	d := st.Decision
	t, err := r.claim(d.TaskID, "")
	if err != nil {
		return StepResult{}, err
	}
	task := *t
	approve := d.Outcome == baocun.OutcomeApprove
	w := r.s.Settings.Windows
	return r.step(ctx, st, []string{task.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ev := func(kind string, data any) {
			ch.Events = append(ch.Events, r.event(kind, st.Actor, task.ID, task.Period, prog, data))
		}
		verdict := map[string]any{"outcome": d.Outcome, "comment": d.Comment}
		switch task.Kind {
		case baocun.TaskApproveTeam:
			if !approve {
				ev("team.returned", verdict)
				ch.Open = append(ch.Open, r.s.newTask(baocun.TaskNominateTeam, 0, "重新提名工作组 nominate the team again", real, w.ReworkDays))
				return func() { r.s.Proposed = nil }
			}
			team := r.s.Proposed
			ev("team.approved", verdict)
			ch.Team = &baocun.TeamChange{PairingID: r.s.Pairing.ID, Members: team}
			ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageStationed}}
			ch.Open = append(ch.Open, r.s.newTask(baocun.TaskConfirmArrival, 0, "确认进驻 confirm arrival", real, w.ArrivalDays))
			return func() {
				r.s.Team, r.s.Proposed, r.s.Stage = team, nil, baocun.StageStationed
				r.s.Joined = map[string]string{}
				for _, m := range team {
					r.s.Joined[m.PersonID] = prog.Format(time.DateOnly)
				}
			}
		case baocun.TaskApproveTeamChange:
			if !approve {
				ev("team_change.returned", verdict)
				return func() { r.s.Proposed = nil }
			}
			team := r.s.Proposed
			ev("team_change.approved", verdict)
			ch.Team = &baocun.TeamChange{PairingID: r.s.Pairing.ID, Members: team}
			return func() {
				for _, m := range team {
					if !slices.ContainsFunc(r.s.Team, func(o baocun.Member) bool { return o.PersonID == m.PersonID }) {
						r.s.Joined[m.PersonID] = prog.Format(time.DateOnly)
					}
				}
				r.s.Team, r.s.Proposed = team, nil
			}
		case baocun.TaskReviewPlan:
			if !approve {
				ev("plan.returned", verdict)
				ch.Open = append(ch.Open, r.s.newTask(baocun.TaskSubmitPlan, 0, "修改后重新提交规划 revise and resubmit the plan", real, w.ReworkDays))
				return nil
			}
			ev("plan.approved", verdict)
			period := r.s.periodAt(prog)
			if period > len(r.s.periods()) {
				ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageAcceptance}}
				return func() { r.s.Stage = baocun.StageAcceptance }
			}
			ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageReviews, Period: period}}
			ch.Open = append(ch.Open, r.reportTask(period, real))
			return func() { r.s.Stage, r.s.Period = baocun.StageReviews, period }
		case baocun.TaskReviewReport:
			if !approve {
				ev("report.returned", verdict)
				ch.Open = append(ch.Open, r.s.newTask(baocun.TaskSubmitReport, task.Period,
					fmt.Sprintf("第 %d 期汇报退回修改 period %d report returned: revise", task.Period, task.Period), real, w.ReworkDays))
				return nil
			}
			ev("report.approved", verdict)
			return func() { r.s.Approved = append(r.s.Approved, task.Period) }
		case baocun.TaskResidencyFlag:
			ev("residency.acknowledged", verdict)
		}
		return nil
	})
}

// reportTask opens period's report, due report_days after the period ends.
func (r *pairingRun) reportTask(period int, now time.Time) baocun.Task {
	p := r.s.periods()[period-1]
	return r.s.newTaskDue(baocun.TaskSubmitReport, period, fmt.Sprintf("第 %d 期汇报 period %d report (%s – %s)", period, period,
		p.Start.Format(time.DateOnly), p.End.AddDate(0, 0, -1).Format(time.DateOnly)), now, p.End.AddDate(0, 0, r.s.Settings.Windows.ReportDays))
}

// validateArrival checks the team only once the arrival task is committed: while
// the approval that opens it is being written the state has no team yet, and the
// handler checks again after the commit.
func (r *pairingRun) validateArrival(st Step) error {
	t, err := r.checkTask(baocun.TaskConfirmArrival, "确认进驻 confirm arrival")
	if err == nil && !r.isOpening(t.ID) && !slices.ContainsFunc(r.s.Team, func(m baocun.Member) bool { return m.PersonID == st.Person }) {
		return temporal.NewNonRetryableApplicationError("只有工作组成员可以确认进驻 Only a member of the team confirms its arrival.", baocun.EFORBIDDEN, nil)
	}
	return err
}

func (r *pairingRun) confirmArrival(ctx workflow.Context, st Step) (StepResult, error) {
	t := r.s.openOf(baocun.TaskConfirmArrival)
	return r.step(ctx, st, []string{t.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("team.arrived", st.Actor, t.ID, 0, prog, nil))
		ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StagePlanning}}
		ch.Open = append(ch.Open, r.s.newTask(baocun.TaskSubmitPlan, 0, "提交村级发展规划 submit the village plan", real, r.s.Settings.Windows.PlanDays))
		return func() { r.s.Stage, r.s.ArrivedOn = baocun.StagePlanning, prog.Format(time.DateOnly) }
	})
}

func (r *pairingRun) validatePlan(st Step) error {
	if st.Plan == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "plan: 必填 required"))
	}
	if _, err := r.checkTask(baocun.TaskSubmitPlan, "提交规划 submit the plan"); err != nil {
		return err
	}
	if err := st.Plan.Validate(); err != nil {
		return invalid(err)
	}
	return nil
}

func (r *pairingRun) submitPlan(ctx workflow.Context, st Step) (StepResult, error) {
	t := r.s.openOf(baocun.TaskSubmitPlan)
	return r.step(ctx, st, []string{t.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("plan.submitted", st.Actor, t.ID, 0, prog, st.Plan))
		ch.Open = append(ch.Open, r.s.newTask(baocun.TaskReviewPlan, 0, "审核村级发展规划 review the plan", real, r.s.Settings.Windows.DecideDays))
		return nil
	})
}

func (r *pairingRun) validateReport(st Step) error {
	if st.Report == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "report: 必填 required"))
	}
	if err := st.Report.Validate(); err != nil {
		return invalid(err)
	}
	_, err := r.reportTaskFor(st.Report.Period)
	return err
}

// reportTaskFor finds the open report task of period, or says why there is none.
func (r *pairingRun) reportTaskFor(period int) (*baocun.Task, error) {
	if t := r.find(func(t *baocun.Task) bool { return t.Kind == baocun.TaskSubmitReport && t.Period == period }); t != nil {
		return r.claim(t.ID, baocun.TaskSubmitReport)
	}
	switch {
	case slices.Contains(r.s.Approved, period):
		return nil, conflict("第 %d 期汇报已通过，该期已关闭 Period %d's report was approved: the period is closed.", period, period)
	case period > len(r.s.periods()):
		return nil, conflict("本轮没有第 %d 期 The cycle has no period %d.", period, period)
	case r.s.Stage != baocun.StageReviews:
		return nil, conflict("当前阶段（%s）不能提交汇报 The pairing is at stage %s: no report is open.", baocun.StageNames[r.s.Stage], r.s.Stage)
	case period > r.s.Period:
		return nil, conflict("第 %d 期尚未开始 Period %d has not begun (now %d).", period, period, r.s.Period)
	}
	return nil, conflict("第 %d 期汇报不在待办中（已提交待审，或该期未参加汇报） Period %d has no report open: it awaits review, or the period was before reviews began.", period, period)
}

func (r *pairingRun) submitReport(ctx workflow.Context, st Step) (StepResult, error) {
	t, err := r.reportTaskFor(st.Report.Period)
	if err != nil {
		return StepResult{}, err
	}
	task := *t
	return r.step(ctx, st, []string{task.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		v := 1
		if r.s.Versions != nil {
			v = r.s.Versions[task.Period] + 1
		}
		e := r.event("report.submitted", st.Actor, task.ID, task.Period, prog, map[string]any{"version": v, "report": st.Report})
		e.Files = st.Report.FileIDs()
		ch.Events = append(ch.Events, e)
		ch.Open = append(ch.Open, r.s.newTask(baocun.TaskReviewReport, task.Period,
			fmt.Sprintf("审核第 %d 期汇报（第 %d 稿） review period %d report v%d", task.Period, v, task.Period, v), real, r.s.Settings.Windows.DecideDays))
		return func() {
			if r.s.Versions == nil {
				r.s.Versions = map[int]int{}
			}
			r.s.Versions[task.Period] = v
		}
	})
}

func (r *pairingRun) validateChange(st Step) error {
	c := st.Change
	if c == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "change: 必填 required"))
	}
	if err := c.Validate(); err != nil {
		return invalid(err)
	}
	switch r.s.Stage {
	case baocun.StageStationed, baocun.StagePlanning, baocun.StageReviews:
	default:
		return conflict("当前阶段（%s）不能调整工作组 The pairing is at stage %s: its team cannot change now.", baocun.StageNames[r.s.Stage], r.s.Stage)
	}
	if r.cancelling {
		return conflict("结对正在撤销 The pairing is being cancelled.")
	}
	if r.closing() {
		return conflict("结对正在进入验收 The pairing is entering acceptance: its team cannot change now.")
	}
	if r.find(func(t *baocun.Task) bool { return t.Kind == baocun.TaskApproveTeamChange }) != nil || r.busy[requestingChange] {
		return conflict("已有一项工作组调整待审批 A team change already awaits approval.")
	}
	_, err := r.changedTeam(st)
	return err
}

// changedTeam is the team after change c, or why it cannot be.
func (r *pairingRun) changedTeam(st Step) ([]baocun.Member, error) {
	c := st.Change
	on := func(id string) bool {
		return slices.ContainsFunc(r.s.Team, func(m baocun.Member) bool { return m.PersonID == id })
	}
	var team []baocun.Member
	for _, id := range c.Remove {
		if !on(id) {
			return nil, invalid(baocun.Errorf(baocun.EINVALID, "remove: %s 不在工作组中 %s is not on the team", id, id))
		}
	}
	for _, m := range r.s.Team {
		if !slices.Contains(c.Remove, m.PersonID) {
			team = append(team, m)
		}
	}
	for _, id := range c.Add {
		if on(id) && !slices.Contains(c.Remove, id) {
			return nil, invalid(baocun.Errorf(baocun.EINVALID, "add: %s 已在工作组中 %s is on the team already", id, id))
		}
		team = append(team, baocun.Member{PersonID: id, Name: st.Names[id]})
	}
	leader := c.Leader
	if leader == "" {
		for _, m := range team {
			if m.Leader {
				leader = m.PersonID
			}
		}
	}
	found := false
	for i := range team {
		team[i].Leader = team[i].PersonID == leader
		found = found || team[i].Leader
	}
	if !found {
		return nil, invalid(baocun.Errorf(baocun.EINVALID, "leader: 调整后须有组长 the team needs a leader after the change (name one in \"leader\")"))
	}
	if len(team) < r.s.Settings.MinTeamSize {
		return nil, invalid(baocun.Errorf(baocun.EINVALID, "remove: 调整后工作组少于 %d 人 the team would have fewer than %d people", r.s.Settings.MinTeamSize, r.s.Settings.MinTeamSize))
	}
	// The leader first, as a nomination lists it.
	slices.SortStableFunc(team, func(a, b baocun.Member) int {
		if a.Leader == b.Leader {
			return 0
		}
		if a.Leader {
			return -1
		}
		return 1
	})
	return team, nil
}

func (r *pairingRun) requestChange(ctx workflow.Context, st Step) (StepResult, error) {
	team, err := r.changedTeam(st)
	if err != nil {
		return StepResult{}, err
	}
	if r.s.openOf(baocun.TaskApproveTeamChange) != nil || r.busy[requestingChange] {
		return StepResult{}, conflict("已有一项工作组调整待审批 A team change already awaits approval.")
	}
	r.busy[requestingChange] = true
	defer delete(r.busy, requestingChange)
	return r.step(ctx, st, nil, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("team_change.requested", st.Actor, "", r.s.Period, prog, map[string]any{"change": st.Change, "team": team}))
		ch.Open = append(ch.Open, r.s.newTask(baocun.TaskApproveTeamChange, r.s.Period, "审批工作组调整 approve the team change", real, r.s.Settings.Windows.DecideDays))
		return func() { r.s.Proposed = team }
	})
}

func (r *pairingRun) validateEvaluation(st Step) error {
	if st.Evaluation == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "evaluation: 必填 required"))
	}
	if err := st.Evaluation.Validate(); err != nil {
		return invalid(err)
	}
	_, err := r.evaluationTask(st.Evaluation.Year)
	return err
}

func (r *pairingRun) evaluationTask(year int) (*baocun.Task, error) {
	if t := r.find(func(t *baocun.Task) bool { return t.Kind == baocun.TaskEvaluation && t.Period == year }); t != nil {
		return r.claim(t.ID, baocun.TaskEvaluation)
	}
	if slices.Contains(r.s.Evaluated, year) {
		return nil, conflict("第 %d 年的评议已提交 Year %d's evaluation was submitted already.", year, year)
	}
	return nil, conflict("第 %d 年的评议尚未开始 Year %d's evaluation round is not open.", year, year)
}

func (r *pairingRun) submitEvaluation(ctx workflow.Context, st Step) (StepResult, error) {
	t, err := r.evaluationTask(st.Evaluation.Year)
	if err != nil {
		return StepResult{}, err
	}
	task := *t
	return r.step(ctx, st, []string{task.ID}, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Events = append(ch.Events, r.event("evaluation.submitted", st.Actor, task.ID, 0, prog, st.Evaluation))
		return func() { r.s.Evaluated = append(r.s.Evaluated, task.Period) }
	})
}

func (r *pairingRun) validateCancel(st Step) error {
	if r.s.Stage == baocun.StageCancelled || r.s.Stage == baocun.StageClosed {
		return conflict("结对已%s The pairing is %s already.", baocun.StageNames[r.s.Stage], r.s.Stage)
	}
	if r.cancelling {
		return conflict("结对正在撤销 The pairing is being cancelled.")
	}
	return requireReason(st.Reason)
}

func requireReason(reason string) error {
	if len([]rune(reason)) < 2 || len([]rune(reason)) > 500 {
		return temporal.NewNonRetryableApplicationError("reason: 撤销须说明理由 a cancellation needs a reason (2–500 characters)", baocun.EINVALID, nil)
	}
	return nil
}

func (r *pairingRun) cancel(ctx workflow.Context, st Step) (StepResult, error) {
	if err := r.validateCancel(st); err != nil {
		return StepResult{}, err
	}
	r.cancelling = true
	defer func() { r.cancelling = false }()
	// A decision or a step of the workflow's own being written now finishes first;
	// then every open task is cancelled.
	if err := workflow.Await(ctx, func() bool { return len(r.busy) == 0 && r.own == ownNone }); err != nil {
		return StepResult{}, err
	}
	if r.s.Stage == baocun.StageClosed || r.s.Stage == baocun.StageCancelled {
		// What was being written meanwhile closed the pairing.
		return StepResult{}, conflict("结对已%s The pairing is %s already.", baocun.StageNames[r.s.Stage], r.s.Stage)
	}
	ids := make([]string, 0, len(r.s.Tasks))
	for _, t := range r.s.Tasks {
		ids = append(ids, t.ID)
	}
	return r.step(ctx, st, nil, func(real, prog time.Time, ch *baocun.Change) func() {
		r.cancelChange(ch, st.Actor, st.Reason, prog)
		return func() {
			for _, id := range ids {
				r.close(id)
			}
			r.s.Stage, r.s.Cancelled, r.s.CancelNote = baocun.StageCancelled, true, st.Reason
		}
	})
}

// cancelChange cancels every open task and moves the pairing to cancelled.
func (r *pairingRun) cancelChange(ch *baocun.Change, actor, reason string, prog time.Time) {
	for _, t := range r.s.Tasks {
		ch.Close = append(ch.Close, baocun.TaskClose{ID: t.ID, Status: baocun.TaskCancelled, By: actor, IfOpen: true})
	}
	ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageCancelled, Period: r.s.Period}}
	ch.Events = append(ch.Events, r.event("pairing.cancelled", actor, "", r.s.Period, prog, map[string]string{"reason": reason}))
}

// cancelledByCycle records the pairing's cancellation when its cycle was cancelled
// (the workflow's context is), then ends the workflow as cancelled.
func (r *pairingRun) cancelledByCycle(ctx workflow.Context) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	real, prog := r.now(dctx)
	ch := baocun.Change{At: real, Key: fmt.Sprintf("pairing-%d/cancelled", r.s.Pairing.ID)}
	r.cancelChange(&ch, "system", "本轮已撤销 the cycle was cancelled", prog)
	ch.Audit = []baocun.AuditEntry{r.systemAudit("pairing.cancel", `{"reason":"the cycle was cancelled"}`)}
	if err := r.apply(dctx, ch); err != nil {
		return err
	}
	r.s.Stage, r.s.Cancelled = baocun.StageCancelled, true
	return temporal.NewCanceledError()
}

// finish waits for the handlers still running, then ends the workflow.
func (r *pairingRun) finish(ctx workflow.Context) error {
	// In a fixed order: cancelling a timer is a command, and commands must replay
	// in the order they were first made.
	r.watchers.stopAll()
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.watchers.idle() }); err != nil {
		return err
	}
	// Written even if the cycle is cancelled meanwhile: a step committed is written.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return r.writeUnwritten(dctx)
}

// toAcceptance hands the pairing to acceptance: tasks of earlier stages that are
// still open expire; an evaluation or a residency flag still open stays open. Steps
// already deciding finish first (their decisions stand, and what they open expires
// with the rest); new ones are refused meanwhile.
func (r *pairingRun) toAcceptance(ctx workflow.Context, why string) error {
	defer r.owning(ownClosing)()
	if err := r.settle(ctx); err != nil {
		return err
	}
	real, prog := r.now(ctx)
	ch := baocun.Change{At: real}
	var expired []string
	for _, t := range r.s.Tasks {
		if outlivesStage(t.Kind) {
			continue
		}
		expired = append(expired, t.ID)
		ch.Close = append(ch.Close, baocun.TaskClose{ID: t.ID, Status: baocun.TaskExpired, By: "system", IfOpen: true})
	}
	ch.Stages = []baocun.StageChange{{PairingID: r.s.Pairing.ID, Stage: baocun.StageAcceptance, Period: r.s.Period}}
	ch.Events = append(ch.Events, r.event("stage.entered", "system", "", r.s.Period, prog, map[string]string{"stage": string(baocun.StageAcceptance), "note": why}))
	ch.Audit = []baocun.AuditEntry{r.systemAudit("pairing.stage", fmt.Sprintf(`{"stage":"acceptance","note":%q}`, why))}
	if err := r.apply(ctx, ch); err != nil {
		return err
	}
	for _, id := range expired {
		r.close(id)
	}
	r.s.Stage = baocun.StageAcceptance
	return nil
}

// settle waits, refusing new steps on them meanwhile, until no step is deciding or
// opening a task that moving to acceptance would expire.
func (r *pairingRun) settle(ctx workflow.Context) error {
	defer r.owning(ownClosing)()
	return workflow.Await(ctx, func() bool {
		for id := range r.busy {
			if t := r.s.task(id); t == nil || !outlivesStage(t.Kind) {
				return false
			}
		}
		return !slices.ContainsFunc(r.opening, func(t baocun.Task) bool { return !outlivesStage(t.Kind) })
	})
}

// outlivesStage reports whether a task of kind stays open into acceptance: the
// village's evaluation (acceptance reads it) and a residency flag.
func outlivesStage(kind baocun.TaskKind) bool {
	return kind == baocun.TaskEvaluation || kind == baocun.TaskResidencyFlag
}

// endPeriod closes a reporting period: members under the residency rule are flagged
// to the department lead, the yearly evaluation round opens at each year's end, and
// the next period's report opens — or, after the last, the pairing waits for the last
// report before acceptance (awaitLastReport).
func (r *pairingRun) endPeriod(ctx workflow.Context, p baocun.Period, last bool) error {
	s := r.s
	real, prog := r.now(ctx)
	ch := baocun.Change{At: real}
	check, err := r.residencyShortfalls(ctx, p)
	if err != nil {
		return err
	}
	short := check.Short
	if len(short) > 0 {
		t := s.newTask(baocun.TaskResidencyFlag, p.Index, fmt.Sprintf("第 %d 期驻村天数不足 %d 人次 period %d: %d member-months under the residency rule",
			p.Index, len(short), p.Index, len(short)), real, s.Settings.Windows.DecideDays)
		ch.Open = append(ch.Open, t)
		ch.Events = append(ch.Events, r.event("residency.flagged", "system", t.ID, p.Index, prog, short))
		ch.Audit = append(ch.Audit, r.systemAudit("residency.flag", fmt.Sprintf(`{"period":%d,"shortfalls":%d}`, p.Index, len(short))))
	}
	if y := yearEnded(s.Clock.Start, p.End); y > 0 {
		t := s.newTask(baocun.TaskEvaluation, y, fmt.Sprintf("第 %d 年双评 year %d villager and grass-roots evaluation", y, y), real, s.Settings.Windows.EvaluationDays)
		ch.Open = append(ch.Open, t)
	}
	next := s.Period + 1
	if last {
		ch.Stages = []baocun.StageChange{{PairingID: s.Pairing.ID, Stage: baocun.StageReviews, Period: s.Period}}
	} else {
		ch.Open = append(ch.Open, r.reportTask(next, real))
		ch.Stages = []baocun.StageChange{{PairingID: s.Pairing.ID, Stage: baocun.StageReviews, Period: next}}
	}
	// The residency counts feed acceptance's compliance rate.
	ch.Events = append(ch.Events, r.event("period.ended", "system", "", p.Index, prog,
		map[string]int{"member_months": check.MemberMonths, "member_months_short": len(short)}))
	ch.Key = fmt.Sprintf("pairing-%d/period-%d", s.Pairing.ID, p.Index)
	if err := r.applyOpening(ctx, ch); err != nil {
		return err
	}
	r.open(ctx, ch.Open...)
	s.ResidencyFrom = check.Next
	if last {
		s.Ended = true
		return nil
	}
	s.Period = next
	return nil
}

// awaitLastReport waits, once the last period has ended, until no report task of it
// (to submit, or to review) is open — approved, or decided otherwise — or the last of
// their windows has passed: the last period's report counts as every other's does.
// However often it is returned, acceptance begins at the latest report_days plus
// decide_days after the period's end (a report filed on its last day, reviewed), so
// one pairing cannot hold its cycle, and the city's commendation, back.
func (r *pairingRun) awaitLastReport(ctx workflow.Context) error {
	s := r.s
	w := s.Settings.Windows
	limit := s.Clock.Real(s.periods()[s.Period-1].End.AddDate(0, 0, w.ReportDays+w.DecideDays))
	open := func() (ids string, due time.Time) {
		for _, t := range s.Tasks {
			if (t.Kind == baocun.TaskSubmitReport || t.Kind == baocun.TaskReviewReport) && t.Period == s.Period {
				ids += t.ID + " "
				if t.DueAt.After(due) {
					due = t.DueAt
				}
			}
		}
		return ids, due
	}
	for s.Stage == baocun.StageReviews {
		ids, due := open()
		if due.After(limit) {
			due = limit
		}
		// Ends a moment before the window does, so the move to acceptance has begun
		// when the task's watcher wakes to escalate it: nobody is told of a task that
		// is expiring.
		wait := due.Sub(workflow.Now(ctx)) - time.Millisecond
		if ids == "" || wait <= 0 {
			return ctx.Err()
		}
		if _, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
			now, _ := open()
			return s.Stage != baocun.StageReviews || now != ids
		}); err != nil {
			return err
		}
	}
	return nil
}

// yearEnded is the programme year that ends exactly at end (1 for the first), or 0.
func yearEnded(start, end time.Time) int {
	for y := 1; y <= 10; y++ {
		if baocun.AddMonths(start, 12*y).Equal(end) { // as the periods are cut
			return y
		}
	}
	return 0
}

// Shortfall is one member's month under the residency rule.
type Shortfall struct {
	PersonID string `json:"person_id"`
	Name     string `json:"name,omitempty"`
	Month    string `json:"month"` // YYYY-MM
	Days     int    `json:"days"`
	Required int    `json:"required"`
}

// residencyShortfalls counts each member's check-ins, by calendar month, for the
// months that ended by the period's end and were not checked before (a cycle that
// starts mid-month checks from its first whole month), counting only the whole
// months a member served. It returns those under the rule and where the next check
// begins.
func (r *pairingRun) residencyShortfalls(ctx workflow.Context, p baocun.Period) (residencyCheck, error) {
	s := r.s
	from := time.Date(s.Clock.Start.Year(), s.Clock.Start.Month(), 1, 0, 0, 0, 0, s.Clock.Start.Location())
	if from.Before(s.Clock.Start) {
		from = from.AddDate(0, 1, 0)
	}
	if s.ResidencyFrom != "" {
		from, _ = time.ParseInLocation(time.DateOnly, s.ResidencyFrom, s.Clock.Start.Location())
	}
	to := from
	for !to.AddDate(0, 1, 0).After(p.End) {
		to = to.AddDate(0, 1, 0)
	}
	next := to.Format(time.DateOnly)
	if s.Settings.ResidencyDays == 0 || s.ArrivedOn == "" || len(s.Team) == 0 || !to.After(from) {
		return residencyCheck{Next: next}, nil
	}
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	var counts map[string]map[string]int
	if err := workflow.ExecuteActivity(actx, (*activities.Activities).CheckinDays, s.Pairing.ID,
		from.Format(time.DateOnly), next).Get(ctx, &counts); err != nil {
		return residencyCheck{}, err
	}
	out := residencyCheck{Next: next}
	for m := from; m.Before(to); m = m.AddDate(0, 1, 0) {
		month := m.Format("2006-01")
		for _, mem := range s.Team {
			since := s.ArrivedOn
			if j := s.Joined[mem.PersonID]; j > since {
				since = j
			}
			if m.Format(time.DateOnly) < since {
				continue // not a whole month of service
			}
			out.MemberMonths++
			if n := counts[mem.PersonID][month]; n < s.Settings.ResidencyDays {
				out.Short = append(out.Short, Shortfall{PersonID: mem.PersonID, Name: mem.Name, Month: month, Days: n, Required: s.Settings.ResidencyDays})
			}
		}
	}
	return out, nil
}

// residencyCheck is what one residency check found: the member-months it judged,
// those under the rule, and where the next check begins.
type residencyCheck struct {
	MemberMonths int
	Short        []Shortfall
	Next         string
}
