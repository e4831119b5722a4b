package workflows

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"baocun"
)

// The task runtime every workflow that opens human tasks shares (a pairing's, a
// cycle's commendation): how a task is timed, and the watchers that remind of it
// and escalate it, stopped in an order that replays.

// timedTask completes a new task of t.Kind: its role, its due date (programme time
// due, and the real time the clock maps it to), and its reminder remind days before
// the due date when that is still ahead. now is the real time it opens.
func timedTask(t baocun.Task, clock baocun.Clock, remind int, now, due time.Time) baocun.Task {
	t.Role = baocun.TaskRoles[t.Kind]
	t.DueAt, t.DueDate = clock.Real(due), due.Format(time.DateOnly)
	t.Status, t.OpenedAt = baocun.TaskOpen, now
	if remind > 0 {
		if at := due.AddDate(0, 0, -remind); at.After(clock.Now(now)) {
			t.RemindAt = clock.Real(at)
		}
	}
	return t
}

// watchStep is one thing a watcher records about a task: its reminder, or its
// escalation to the organisers once overdue.
type watchStep struct {
	event, action, note string
	at                  func(baocun.Task) time.Time
	// change marks the step in the change; done marks it on the task in the state.
	change func(ch *baocun.Change, id string)
	done   func(t *baocun.Task, at time.Time)
}

var (
	remindStep = watchStep{event: "task.reminded", action: "task.remind", note: "due soon",
		at:     func(t baocun.Task) time.Time { return t.RemindAt },
		change: func(ch *baocun.Change, id string) { ch.Remind = []string{id} },
		done:   func(t *baocun.Task, at time.Time) { t.RemindedAt = &at }}
	escalateStep = watchStep{event: "task.escalated", action: "task.escalate", note: "overdue: escalated to the organisers",
		at:     func(t baocun.Task) time.Time { return t.DueAt },
		change: func(ch *baocun.Change, id string) { ch.Escalate = []string{id} },
		done:   func(t *baocun.Task, at time.Time) { t.EscalatedAt = &at }}
)

// watchers are a workflow's task watchers: one goroutine per open task that sleeps
// until each of its steps and records it, unless the task has closed by then.
type watchers struct {
	cancel  map[string]workflow.CancelFunc
	pending int // records being written
	write   func(workflow.Context, baocun.Change) error
}

// newWatchers returns watchers that record through write.
func newWatchers(write func(workflow.Context, baocun.Change) error) *watchers {
	return &watchers{cancel: map[string]workflow.CancelFunc{}, write: write}
}

// watch starts t's watcher: a reminder if it has one not yet recorded, then (when
// escalates) its escalation if not yet recorded. Before each, live says whether the
// task still wants it (it is open, and not about to expire); record builds the
// change that records it, and find, if given, is where the state keeps the task, to
// mark it done.
func (w *watchers) watch(ctx workflow.Context, t baocun.Task, escalates bool, live func() bool,
	record func(ctx workflow.Context, s watchStep) baocun.Change, find func() *baocun.Task) {
	var steps []watchStep
	if !t.RemindAt.IsZero() && t.RemindedAt == nil {
		steps = append(steps, remindStep)
	}
	if escalates && t.EscalatedAt == nil {
		steps = append(steps, escalateStep)
	}
	wctx, cancel := workflow.WithCancel(ctx)
	w.cancel[t.ID] = cancel
	workflow.Go(wctx, func(ctx workflow.Context) {
		for _, s := range steps {
			if d := s.at(t).Sub(workflow.Now(ctx)); d > 0 {
				if workflow.Sleep(ctx, d) != nil {
					return
				}
			}
			if !live() {
				return
			}
			ch := record(ctx, s)
			s.change(&ch, t.ID)
			w.pending++
			err := w.write(ctx, ch)
			w.pending--
			if err != nil {
				return
			}
			if find != nil {
				if cur := find(); cur != nil {
					s.done(cur, workflow.Now(ctx))
				}
			}
		}
	})
}

// stop stops task id's watcher, if it has one.
func (w *watchers) stop(id string) {
	if cancel, ok := w.cancel[id]; ok {
		cancel()
		delete(w.cancel, id)
	}
}

// stopAll stops every watcher in a fixed order: stopping one cancels its timer,
// which is a command, and commands must replay in the order they were first made.
func (w *watchers) stopAll() {
	for _, id := range slices.Sorted(maps.Keys(w.cancel)) {
		w.stop(id)
	}
}

// idle reports whether no watcher is writing.
func (w *watchers) idle() bool { return w.pending == 0 }

// watchSummary is the audit summary of a watcher's record.
func watchSummary(t baocun.Task, note string) string {
	if note == "" {
		return fmt.Sprintf(`{"task":%q,"kind":%q,"due_date":%q}`, t.ID, t.Kind, t.DueDate)
	}
	return fmt.Sprintf(`{"task":%q,"kind":%q,"due_date":%q,"note":%q}`, t.ID, t.Kind, t.DueDate, note)
}

// validateDue checks an organiser's new due date for an open task: a programme
// date after the task's due date and after today, at most MaxExtensionDays later.
func (r *pairingRun) validateDue(now time.Time, st Step) error {
	d := st.Due
	if d == nil {
		return invalid(baocun.Errorf(baocun.EINVALID, "due: 必填 required"))
	}
	if err := d.Validate(); err != nil {
		return invalid(err)
	}
	t, err := r.claim(d.TaskID, "")
	if err != nil {
		return err
	}
	due, _ := time.ParseInLocation(time.DateOnly, d.DueDate, baocun.ChinaTime)
	cur, _ := time.ParseInLocation(time.DateOnly, t.DueDate, baocun.ChinaTime)
	today := r.s.Clock.Now(now)
	if !due.After(cur) || !due.After(today) {
		return invalid(baocun.Errorf(baocun.EINVALID, "due_at: 新截止日期须晚于原截止日期（%s）和今天 the new due date must be after the task's (%s) and after today", t.DueDate, t.DueDate))
	}
	if due.After(cur.AddDate(0, 0, baocun.MaxExtensionDays)) {
		return invalid(baocun.Errorf(baocun.EINVALID, "due_at: 一次至多延期 %d 天 one extension is at most %d days", baocun.MaxExtensionDays, baocun.MaxExtensionDays))
	}
	return nil
}

// extendDue moves an open task's due date: its escalation, if it had one, is
// withdrawn and comes again if the new date passes with the task still open.
func (r *pairingRun) extendDue(ctx workflow.Context, st Step) (StepResult, error) {
	d := st.Due
	t, err := r.claim(d.TaskID, "")
	if err != nil {
		return StepResult{}, err
	}
	id, from, kind, period := t.ID, t.DueDate, t.Kind, t.Period
	due, _ := time.ParseInLocation(time.DateOnly, d.DueDate, baocun.ChinaTime)
	moved := timedTask(*t, r.s.Clock, r.s.Settings.Windows.RemindDays, workflow.Now(ctx), due)
	if !r.committing {
		// Held while its write is in flight: a decision of the task waits its turn.
		r.busy[id] = true
		defer delete(r.busy, id)
	}
	return r.step(ctx, st, nil, func(real, prog time.Time, ch *baocun.Change) func() {
		ch.Due = []baocun.TaskDue{{ID: id, DueAt: moved.DueAt, DueDate: moved.DueDate, RemindAt: moved.RemindAt, By: st.Actor, Reason: d.Reason}}
		ch.Events = append(ch.Events, r.event("task.due_extended", st.Actor, id, period, prog,
			map[string]string{"kind": string(kind), "from": from, "to": moved.DueDate, "reason": d.Reason}))
		return func() {
			cur := r.s.task(id)
			if cur == nil {
				return
			}
			r.watchers.stop(id)
			cur.DueAt, cur.DueDate, cur.EscalatedAt = moved.DueAt, moved.DueDate, nil
			if cur.RemindedAt == nil {
				cur.RemindAt = moved.RemindAt
			}
			r.watch(ctx, *cur)
		}
	})
}
