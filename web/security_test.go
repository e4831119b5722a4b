package web_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The security suite's harness: every attack in the suite's tables (security_*_test.go)
// runs through runAttack, which asserts what every refusal must show — the process's
// heap rose by less than attackBudget while it ran (measured in this process with
// runtime/metrics, sampled every millisecond, so a bomb that is freed again still
// counts), and nothing of the service's state was written (state; the audit trail is
// left out: a refusal is audited). The attack's own check asserts the refusal itself.

// attackBudget is how far one attack may raise the heap.
const attackBudget = 100 << 20

// heapObjects is the runtime's count of bytes in heap objects, live or not yet swept.
const heapObjects = "/memory/classes/heap/objects:bytes"

// gcPercent is GOGC while an attack runs: low, so that the heap measured is what the
// service holds at once, not the garbage the collector's pacing lets pile up (at the
// default, up to the size of the live heap: the embedded server's and the suite's
// own ~100 MB made a refused 8 MiB body read as 100 MB under the race detector).
const gcPercent = 10

// heapRise runs fn and returns the most the heap's objects rose above where they were
// when it began (after a collection), sampled every millisecond while fn ran.
func heapRise(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(gcPercent))
	runtime.GC()
	sample := []metrics.Sample{{Name: heapObjects}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	peak.Store(base)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: heapObjects}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if v := read(); v > peak.Load() {
		peak.Store(v)
	}
	return peak.Load() - base
}

// stateTables are the tables whose rows are the service's state: everything but the
// audit trail (a refusal writes its denial there), the tokens a sign-in creates and
// the sign-in limits' counters (login_failures, login_buckets: a refused sign-in
// counts there, by design). A test adding a table of state adds it here.
var stateTables = []string{
	"settings", "users", "casbin_rule", "departments", "villages", "people", "cycles", "pairings", "team_members",
	"tasks", "pairing_events", "checkins", "applied_changes", "acceptance_results", "commendations", "commendation_cadres",
}

// state is a digest of every state table's rows.
func (f *fixture) state(t testing.TB) string {
	t.Helper()
	h := sha256.New()
	for _, table := range stateTables {
		rows, err := f.db.QueryContext(context.Background(), "SELECT * FROM "+table+" ORDER BY 1")
		if err != nil {
			t.Fatalf("state of %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		fmt.Fprintf(h, "%s\x00", table)
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(h, "%d:%s\x00", len(v), v)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// runAttack runs attack as a subtest and asserts the heap's rise and that the state
// is unchanged; attack asserts the refusal it expects.
func runAttack(t *testing.T, f *fixture, name string, attack func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		before := f.state(t)
		rise := heapRise(func() { attack(t) })
		if rise >= attackBudget {
			t.Errorf("the heap rose %d MB during the attack (budget %d MB)", rise>>20, attackBudget>>20)
		}
		if after := f.state(t); after != before {
			t.Errorf("the attack changed the service's state")
		}
		t.Logf("heap rise %.1f MB", float64(rise)/(1<<20))
	})
}

// The harness can fail: an allocation the size of a bomb's is seen, even when it is
// garbage by the time the attack returns.
func TestHeapRiseSeesABomb(t *testing.T) {
	var sink []byte
	rise := heapRise(func() {
		sink = make([]byte, 2*attackBudget)
		for i := range sink {
			sink[i] = byte(i)
		}
		sink = nil
	})
	if rise < 2*attackBudget {
		t.Fatalf("heapRise saw %d MB of a %d MB allocation", rise>>20, 2*attackBudget>>20)
	}
	_ = sink
}
