package baocun

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// argon2id takes argonMemory (32 MiB) for each hash while it runs, so a burst of
// sign-ins is a burst of memory: 32 parallel ones took the process from 326 MB to
// 1.2 GB, and the embedded Temporal server shares that process. Every hash and every
// check therefore runs in one of a few slots, with a short queue in front; a caller
// beyond the queue is told at once to come back.
//
// A hash's memory is garbage once it returns, and the runtime collects garbage only
// when the heap has doubled since the last collection: with a live heap of a few
// hundred megabytes, a few sequential sign-ins would pile up as much again. So each
// hash asks for a collection once it has given up its slot: a collection of a 300 MB
// heap took 124 ms, more than two hashes, and inside the slot it held the next
// sign-in back. The requests coalesce (one collection running, one waiting at most),
// and the next hash waits for a collection to start only while a whole hash's worth
// of garbage per slot has none started on it: the memory sign-ins hold stays about
// two hashes a slot, while hashing and collecting overlap.
//
// The slots: as many hashes as the cores can run at once (each keeps argonThreads
// of them busy; more would only lengthen every sign-in), but never more than
// argonMemoryBudget of hash memory. That is one slot on this project's 2-core
// machines — about 15 sign-ins a second, more than a city's officials need at nine
// in the morning — and two on larger ones. The queue is short (8 a slot: about a
// second of hashing) and bounds what waits, so a wait needs no deadline of its own:
// a slow machine (or the race detector) makes the queue slower, not longer.
const (
	argonMemoryBudget = 64 << 20 // bytes of hash memory in flight at most
	argonRetryAfter   = time.Second
)

var (
	argonSlots   = make(chan struct{}, max(1, min(runtime.GOMAXPROCS(0)/argonThreads, argonMemoryBudget/(argonMemory<<10))))
	argonQueue   = 8 * cap(argonSlots)
	argonWaiting atomic.Int64
)

// PasswordSlots reports how many password hashes may run at once and how many
// callers may wait for one.
func PasswordSlots() (slots, queue int) { return cap(argonSlots), argonQueue }

// errPasswordBusy is the answer beyond the queue: nothing was checked or counted.
var errPasswordBusy = &Error{Code: ETOOMANY, RetryAfter: argonRetryAfter, Op: "password slots",
	Message: "同时登录的人太多，请稍后再试 Too many sign-ins at once; try again in a moment."}

// inPasswordSlot runs fn in a slot, waiting for one in the queue, or refuses at once
// when the queue is full.
func inPasswordSlot(fn func()) error {
	select {
	case argonSlots <- struct{}{}:
	default:
		if argonWaiting.Add(1) > int64(argonQueue) {
			argonWaiting.Add(-1)
			return errPasswordBusy
		}
		argonSlots <- struct{}{}
		argonWaiting.Add(-1)
	}
	waitForCollection()
	fn()
	<-argonSlots
	collectHashMemory()
	return nil
}

// gcState counts the hashes whose garbage no collection has started on, and whether
// the goroutine that runs collections is running.
var gcState struct {
	mu        sync.Mutex
	started   sync.Cond // broadcast when a collection starts
	uncovered int
	running   bool
}

func init() { gcState.started.L = &gcState.mu }

// collectHashMemory counts this hash's garbage and makes sure a collection will
// start after it, without waiting for it: one already waiting to start serves it.
func collectHashMemory() {
	gcState.mu.Lock()
	defer gcState.mu.Unlock()
	gcState.uncovered++
	if !gcState.running {
		gcState.running = true
		go collectLoop()
	}
}

// collectLoop runs collections, one after another, while hashes have left garbage
// that none has started on.
func collectLoop() {
	gcState.mu.Lock()
	for gcState.uncovered > 0 {
		gcState.uncovered = 0
		gcState.started.Broadcast()
		gcState.mu.Unlock()
		runtime.GC() // collects every hash that returned before it began
		gcState.mu.Lock()
	}
	gcState.running = false
	gcState.mu.Unlock()
}

// waitForCollection holds a hash back, in its slot, while as many hashes as there
// are slots have left garbage that no collection has started on.
func waitForCollection() {
	gcState.mu.Lock()
	for gcState.uncovered >= cap(argonSlots) {
		gcState.started.Wait()
	}
	gcState.mu.Unlock()
}
