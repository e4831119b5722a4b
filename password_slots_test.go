package baocun

import (
	"sync"
	"testing"
	"time"
)

// No more hashes run at once than there are slots; callers beyond the queue are
// refused at once, with a Retry-After; the queue's callers run once slots free.
func TestPasswordSlotsBoundHashesAndQueue(t *testing.T) {
	slots, queue := PasswordSlots()
	if slots < 1 || queue < slots {
		t.Fatalf("slots %d, queue %d", slots, queue)
	}
	release := make(chan struct{})
	running := make(chan struct{}, slots+queue)
	var wg sync.WaitGroup
	errs := make(chan error, slots+queue)
	for range slots + queue {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- inPasswordSlot(func() { running <- struct{}{}; <-release })
		}()
	}
	for range slots {
		<-running
	}
	// Every slot is taken; let the queue fill.
	deadline := time.Now().Add(5 * time.Second)
	for argonWaiting.Load() < int64(queue) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(running); n != 0 {
		t.Fatalf("%d more ran than the %d slots", n, slots)
	}
	start := time.Now()
	err := inPasswordSlot(func() { t.Error("ran beyond the queue") })
	if ErrorCode(err) != ETOOMANY || err.(*Error).RetryAfter <= 0 {
		t.Fatalf("beyond the queue: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("the refusal beyond the queue took %s", d)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller in a slot or the queue: %v", err)
		}
	}
	if argonWaiting.Load() != 0 {
		t.Fatalf("%d still counted as waiting", argonWaiting.Load())
	}
}
