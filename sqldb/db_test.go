package sqldb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

func TestOpenMigratesOnce(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		var version, count int
		if err := db.QueryRowContext(ctx, "SELECT MAX(version), COUNT(*) FROM schema_migrations").Scan(&version, &count); err != nil {
			t.Fatal(err)
		}
		if version != sqldb.SchemaVersion() || count != sqldb.SchemaVersion() {
			t.Fatalf("schema version %d with %d rows, want %d", version, count, sqldb.SchemaVersion())
		}
		// A second Open, as a restart or a second instance does, applies nothing again.
		db2 := sqldbtest.Open(t, dsn)
		if err := db2.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != sqldb.SchemaVersion() {
			t.Fatalf("after reopen %d migration rows, want %d", count, sqldb.SchemaVersion())
		}
	})
}

// Several instances starting at once against one database must not apply a
// migration twice or fail.
func TestConcurrentOpen(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqldb.Open(context.Background(), dsn)
				if err != nil {
					errs <- err
					return
				}
				db.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		db := sqldbtest.Open(t, dsn)
		var count int
		db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM schema_migrations").Scan(&count)
		if count != sqldb.SchemaVersion() {
			t.Fatalf("%d migration rows, want %d", count, sqldb.SchemaVersion())
		}
	})
}

func TestInTxCommitsOrRollsBack(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		now := time.Now().UTC().Format(time.RFC3339)
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "a", "1", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)", "b", "'?' stays", now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, "SELECT key, value FROM settings WHERE key IN ('a', 'b') ORDER BY key")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var k, v string
			rows.Scan(&k, &v)
			got = append(got, k+"="+v)
		}
		if strings.Join(got, ",") != "b='?' stays" {
			t.Fatalf("rows = %v, want only b", got)
		}
	})
}

func TestOpenBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte("this is a spreadsheet, not a database, and it is long enough to have a header"), 0o600)
	before, _ := os.ReadFile(garbage)
	tests := []struct {
		name, dsn, code, wantInMsg string
	}{
		{"unknown scheme", "mysql://x", baocun.EINVALID, "want sqlite://PATH or postgres://"},
		{"empty sqlite path", "sqlite://", baocun.EINVALID, "needs a file path"},
		{"not a sqlite file", "sqlite://" + garbage, baocun.EUNAVAILABLE, "not a database"},
		{"postgres refuses", "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2", baocun.EUNAVAILABLE, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := sqldb.Open(ctx, tt.dsn)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if baocun.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("err = %q (%s), want %s containing %q", err, baocun.ErrorCode(err), tt.code, tt.wantInMsg)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks the password: %q", err)
			}
		})
	}
	if after, _ := os.ReadFile(garbage); string(after) != string(before) {
		t.Fatal("the non-database file was changed")
	}
}
