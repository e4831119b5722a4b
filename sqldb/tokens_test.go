package sqldb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// Sign-ins of one account at once leave at most MaxLiveTokens live: each one's cap
// counts the tokens of those committed before it (found by review: on PostgreSQL
// two at once each missed the other's token).
func TestTokenCapHoldsUnderConcurrentSignIns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := accountsDB(t, dsn)
		ctx := context.Background()
		u, err := db.User(ctx, "owner")
		if err != nil {
			t.Fatal(err)
		}
		const n = 3 * sqldb.MaxLiveTokens
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				if _, _, _, err := db.CreateToken(ctx, u.ID, 0, "bearer", time.Hour); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var live int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM tokens WHERE user_id = ? AND revoked_at = ''", u.ID).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != sqldb.MaxLiveTokens {
			t.Fatalf("%d sign-ins at once left %d live tokens, want %d", n, live, sqldb.MaxLiveTokens)
		}
	})
}
