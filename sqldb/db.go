// Package sqldb wraps database/sql for the application database: one code path for
// SQLite (modernc.org/sqlite, the default, a file under the data dir) and PostgreSQL
// (pgx), with the schema's versioned migrations embedded and applied at Open.
//
// Queries are written once, with ? placeholders; on PostgreSQL they are rewritten to
// $1, $2… before they reach the driver.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"

	"baocun"
)

// Dialect is the SQL dialect of a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is the application database.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	// name is the DSN with any password masked, for messages and logs.
	name string

	rebound sync.Map // query text → PostgreSQL text

	// deviceKey signs known-device credentials (login.go); set by Open.
	deviceKey []byte

	// writer admits this process's write transactions on SQLite one at a time, in
	// the order they asked: SQLite has one writer, and its busy handler polls with no
	// order, so under a burst one waiter could starve past busy_timeout (seen with 16
	// writers on a loaded machine). Between processes busy_timeout still decides.
	writer chan struct{}
}

// Open connects to dsn — "sqlite://PATH", "postgres://…" or "postgresql://…" — checks
// that it answers within ctx, and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.loadDeviceKey(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func open(ctx context.Context, dsn string) (*DB, error) {
	dialect, name, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	driver := "sqlite"
	if dialect == Postgres {
		driver = "pgx"
	}
	sqlDB, err := sql.Open(driver, driverDSN)
	if err != nil {
		return nil, &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("database %s: %v", name, err)}
	}
	if dialect == SQLite {
		// One writer at a time is SQLite's rule; the busy timeout and immediate
		// transactions make writers queue instead of failing with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(8)
	} else {
		sqlDB.SetMaxOpenConns(20)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{sql: sqlDB, dialect: dialect, name: name}
	if dialect == SQLite {
		db.writer = make(chan struct{}, 1)
	}
	if err := db.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// parseDSN returns the dialect, a printable name and the driver's DSN.
func parseDSN(dsn string) (Dialect, string, string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", "", baocun.Errorf(baocun.EINVALID, "database: not a valid PostgreSQL URL: %v", redactErr(err, dsn))
		}
		return Postgres, u.Redacted(), dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		path := strings.TrimPrefix(dsn, "sqlite://")
		if path == "" {
			return "", "", "", baocun.Errorf(baocun.EINVALID, "database: sqlite:// needs a file path")
		}
		q := url.Values{}
		// The busy timeout first: pragmas run in order, and switching a new file to
		// WAL takes a lock that another opener may hold for a moment.
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		// FULL: an acknowledged approval or audit entry survives a power cut, not
		// only a process crash.
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "foreign_keys(ON)")
		q.Set("_txlock", "immediate")
		return SQLite, path, "file:" + path + "?" + q.Encode(), nil
	default:
		return "", "", "", baocun.Errorf(baocun.EINVALID, "database %q: want sqlite://PATH or postgres://…", dsn)
	}
}

// redactErr keeps a URL parse error from echoing a password.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Name is the DSN with any password masked.
func (db *DB) Name() string { return db.name }

// Ping checks the database answers; the error says which database and why.
func (db *DB) Ping(ctx context.Context) error {
	// A query, not PingContext: SQLite reads the file header only when a statement
	// touches the schema, and that is where "file is not a database" surfaces.
	q := "SELECT 1"
	if db.dialect == SQLite {
		q = "SELECT COUNT(*) FROM sqlite_master"
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: fmt.Sprintf("database %s: %v", db.name, cleanErr(err))}
	}
	return nil
}

func cleanErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	return err
}

// Close closes every connection.
func (db *DB) Close() error { return db.sql.Close() }

// rebind rewrites ? placeholders to $n for PostgreSQL. Question marks inside quoted
// strings are left alone.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	if v, ok := db.rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	db.rebound.Store(q, out)
	return out
}

// Querier is what DB and Tx share: run statements written with ? placeholders.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.rebind(query), args...)
}

func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.rebind(query), args...)
}

func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.rebind(query), args...)
}

// Tx is a transaction; its statements use ? placeholders like DB's.
type Tx struct {
	tx *sql.Tx
	db *DB
}

func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.db.rebind(query), args...)
}

func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.db.rebind(query), args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.db.rebind(query), args...)
}

// Dialect reports the dialect of the transaction's database.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// InTx runs fn in a transaction and commits when fn returns nil; otherwise, or on a
// panic, it rolls back. On SQLite the transaction takes the write lock at BEGIN
// (immediate), so two writers queue rather than deadlock.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) (err error) {
	if db.writer != nil {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: fmt.Sprintf("database %s: begin: %v", db.name, ctx.Err())}
		}
	}
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Message: fmt.Sprintf("database %s: begin: %v", db.name, err)}
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			sqlTx.Rollback()
		}
	}()
	if err = fn(&Tx{tx: sqlTx, db: db}); err != nil {
		return err
	}
	return sqlTx.Commit()
}
