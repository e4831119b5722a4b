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
// sign-in back. The requests coalesce (one collection running, at most one queued),
// so a burst of sign-ins costs a few collections, not one each, and the memory
// sign-ins hold stays bounded by the slots plus what one collection lags behind.
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
	fn()
	<-argonSlots
	collectHashMemory()
	return nil
}

// gcRequests holds at most one queued collection; gcOnce starts the one goroutine
// that runs them, one after another.
var (
	gcRequests = make(chan struct{}, 1)
	gcOnce     sync.Once
)

// collectHashMemory asks for a garbage collection without waiting for it. A request
// made while one is queued already is served by that one: it starts after this
// hash's memory became garbage.
func collectHashMemory() {
	gcOnce.Do(func() {
		go func() {
			for range gcRequests {
				runtime.GC()
			}
		}()
	})
	select {
	case gcRequests <- struct{}{}:
	default:
	}
}
