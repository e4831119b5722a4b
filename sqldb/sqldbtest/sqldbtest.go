// Package sqldbtest opens fresh application databases for tests: a SQLite file in the
// test's temporary directory and, when BAOCUN_TEST_POSTGRES holds a DSN, a new
// PostgreSQL schema that is dropped when the test ends (or a new database, for the
// Temporal server on PostgreSQL). Under CI (CI=true) a missing
// BAOCUN_TEST_POSTGRES fails the test: the PostgreSQL path must run there, never skip.
package sqldbtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
)

// EnvPostgres names the variable holding the PostgreSQL DSN for tests.
const EnvPostgres = "BAOCUN_TEST_POSTGRES"

// Each runs fn as a subtest once per database: "sqlite", then "postgres".
func Each(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
}

// Open returns an opened, migrated DB for dsn, closed when the test ends.
func Open(t testing.TB, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// SQLiteDSN names a new SQLite file in the test's temporary directory.
func SQLiteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "baocun.db")
}

// PostgresDSN creates an empty schema in the database BAOCUN_TEST_POSTGRES names and
// returns a DSN whose search_path is that schema; the schema is dropped at cleanup.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: the PostgreSQL tests must run in CI", EnvPostgres)
		}
		t.Skipf("%s is not set; PostgreSQL path not tested here (CI runs it)", EnvPostgres)
	}
	buf := make([]byte, 6)
	rand.Read(buf)
	schema := "t_" + hex.EncodeToString(buf)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema on %s: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresDatabase creates an empty database on the server BAOCUN_TEST_POSTGRES names
// (its user needs CREATEDB) and returns a URL of it, without a search_path; the
// database is dropped at cleanup, its connections ended first. It is for a process
// that lays out its own schemas and extensions — the Temporal server on PostgreSQL —
// which a schema of a shared database could not contain. It skips or fails as
// PostgresDSN does when the variable is unset.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: the PostgreSQL tests must run in CI", EnvPostgres)
		}
		t.Skipf("%s is not set; PostgreSQL path not tested here (CI runs it)", EnvPostgres)
	}
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "t_" + hex.EncodeToString(buf)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database on %s: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		// FORCE (PostgreSQL 13+) ends the sessions of a process the test killed.
		if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}

// AuditLog returns a signed audit log on db that is closed when the test ends, after
// checking the whole chain still verifies.
func AuditLog(t testing.TB, db *sqldb.DB) *sqldb.AuditLog {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{})
	t.Cleanup(func() {
		v, err := l.Verify(context.Background())
		if err != nil || !v.OK {
			t.Errorf("audit chain after the test: %+v, %v", v, err)
		}
		l.Close()
	})
	return l
}

// Checkins records person's check-ins on each of days (programme dates) in the
// pairing, on time and confirmed, as a fixture.
func Checkins(t testing.TB, db *sqldb.DB, pairing int64, person string, days ...string) {
	t.Helper()
	for _, d := range days {
		c := baocun.Checkin{PairingID: pairing, PersonID: person, Day: d, RecordedAt: time.Now(), RecordedBy: person, Status: baocun.CheckinOK}
		if err := db.AddCheckin(context.Background(), c, nil); err != nil {
			t.Fatalf("check-in %s %s: %v", person, d, err)
		}
	}
}
