package sqldb

import (
	"testing"
	"time"
)

// SetAnchorTimings shortens the anchorer's retry after a failure, Close's wait for a
// hung append and the lag AnchorHealth allows, for the logs t makes until it ends.
func SetAnchorTimings(t testing.TB, retry, closeWait, maxLag time.Duration) {
	saved := timings
	timings = anchorTimings{retry: retry, closeWait: closeWait, maxLag: maxLag}
	t.Cleanup(func() { timings = saved })
}
