package sqldb

import (
	"context"
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

// OpenAt opens dsn with its schema migrated up to version only, as an older binary
// left it, for an upgrade's test.
func OpenAt(t testing.TB, dsn string, version int) *DB {
	t.Helper()
	db, err := open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.migrateTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	return db
}
