// Package baocuntest has an in-process baocun.Engine for handler tests: it runs no
// workflow, remembers what it was asked, and answers steps with a function the test
// gives, keeping the engine's contract for cycles and for repeated steps.
package baocuntest

import (
	"context"
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
	_, ok := e.started[cycle]
	return ok, ctx.Err()
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

// Step records the step and answers it as the engine would: by Take, once per key.
// A key already taken answers with the first attempt's result; a key refused for
// another request moves on to the next key; a key refused for this request answers
// with that refusal.
func (e *Engine) Step(ctx context.Context, st baocun.Step) (baocun.StepResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return baocun.StepResult{}, err
	}
	e.steps = append(e.steps, st)
	keys := st.Keys
	if len(keys) == 0 {
		keys = []string{""}
	}
	var a answer
	for _, key := range keys {
		if seen, ok := e.keys[key]; ok && key != "" {
			a = seen
			if seen.err != nil && seen.request != st.Audit.RequestID {
				continue
			}
			return a.res, a.err
		}
		a = answer{err: noRun(), request: st.Audit.RequestID}
		if e.Take != nil {
			a.res, a.err = e.Take(st)
		}
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
