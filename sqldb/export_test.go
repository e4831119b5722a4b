package sqldb

import (
	"testing"
	"time"
)

// SetAnchorTimings shortens the anchorer's retry after a failure and Close's wait for
// a hung append, for the logs t makes until it ends.
func SetAnchorTimings(t testing.TB, retry, closeWait time.Duration) {
	saved := timings
	timings = anchorTimings{retry: retry, closeWait: closeWait}
	t.Cleanup(func() { timings = saved })
}
