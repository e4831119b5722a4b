// Package baocuntest has an in-process baocun.Engine for handler tests: it runs no
// workflow, remembers what it was asked, and answers steps with a function the test
// gives, keeping the engine's contract for cycles and for repeated steps.
package baocuntest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"baocun"
)

// Engine is the fake. Its zero value is not usable: call New.
type Engine struct {
	// Take answers a step the engine accepted; nil answers every step as one whose
	// pairing or cycle is not running (as the engine does before the programme has
	// opened it).
	Take func(baocun.Step) (baocun.StepResult, error)

	mu        sync.Mutex
	started   map[int64]int // cycle → its pairings
	cancelled map[int64]bool
	steps     []baocun.Step
	keys      map[string]answer // a step's key → its first attempt's answer
}

type answer struct {
	res     baocun.StepResult
	err     error
	refused bool // err is the step's refusal (an *baocun.Error from Take)
	request string
}

// New returns an engine with no cycle.
func New() *Engine {
	return &Engine{started: map[int64]int{}, cancelled: map[int64]bool{}, keys: map[string]answer{}}
}

var _ baocun.Engine = (*Engine)(nil)

// StartCycle records the cycle as started; starting it again changes nothing.
func (e *Engine) StartCycle(ctx context.Context, cy *baocun.Cycle, n int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.started[cy.ID]; !ok {
		e.started[cy.ID] = n
	}
	return fmt.Sprintf("cycle-%d", cy.ID), nil
}

// HasCycle reports whether the cycle was started.
func (e *Engine) HasCycle(ctx context.Context, cycle int64) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	_, ok := e.started[cycle]
	return ok, nil
}

// CancelCycle records the request; ErrNoRun for a cycle never started.
func (e *Engine) CancelCycle(ctx context.Context, cycle int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.started[cycle]; !ok {
		return noRun()
	}
	e.cancelled[cycle] = true
	return ctx.Err()
}

// Step records the step and answers it as the engine would: a kind the engine does
// not know is an internal error; a cycle's step before its cycle started, or any
// step while Take is nil, is ErrNoRun; otherwise Take answers, once per key. A key
// already taken answers with its first result; a key whose step was refused for
// another request moves on to the next key; any other answer stands. ctx ending
// first is EUNAVAILABLE. Take runs under the engine's lock: steps are taken one at
// a time, and Take must not call the engine.
func (e *Engine) Step(ctx context.Context, st baocun.Step) (baocun.StepResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return baocun.StepResult{}, &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "工作流引擎未及时响应 The workflow engine did not answer in time.", Err: err}
	}
	if !slices.Contains(baocun.StepKinds, st.Kind) {
		return baocun.StepResult{}, fmt.Errorf("baocuntest: no step of kind %q", st.Kind)
	}
	e.steps = append(e.steps, st)
	if _, started := e.started[st.Cycle]; (st.Kind.CycleStep() && !started) || e.Take == nil {
		return baocun.StepResult{}, noRun()
	}
	keys := st.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	var a answer
	for _, key := range keys {
		if seen, ok := e.keys[key]; ok && key != "" {
			a = seen
			if seen.refused && seen.request != st.Audit.RequestID {
				continue // refused for another request: this one tries the next key
			}
			return a.res, a.err
		}
		a = answer{request: st.Audit.RequestID}
		a.res, a.err = e.Take(st)
		var refusal *baocun.Error
		a.refused = errors.As(a.err, &refusal)
		if a.err == nil {
			a.res.Request = st.Audit.RequestID
		}
		if key != "" {
			e.keys[key] = a
		}
		return a.res, a.err
	}
	return a.res, a.err
}

// Started returns the cycles started, in order.
func (e *Engine) Started() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]int64, 0, len(e.started))
	for id := range e.started {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Cancelled reports whether the cycle's cancellation was asked for.
func (e *Engine) Cancelled(cycle int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancelled[cycle]
}

// Steps returns the steps sent, in order.
func (e *Engine) Steps() []baocun.Step {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.steps)
}

func noRun() error {
	return &baocun.Error{Code: baocun.ECONFLICT, Message: "该流程已结束或尚未就绪 The workflow is not running (closed, or not started yet).", Err: baocun.ErrNoRun}
}
