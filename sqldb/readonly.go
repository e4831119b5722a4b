package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"baocun"
)

// OpenReadOnly opens dsn for reading only, for an auditor's offline check: it applies
// no migration and changes no file. A SQLite file must exist. With no -wal file beside
// it (the service stopped cleanly) it is opened immutable, so not even the -wal and
// -shm files SQLite would otherwise create appear; with one (the service running, or
// stopped uncleanly) it is opened read-only through them, so the newest entries count.
// PostgreSQL sessions are read-only (default_transaction_read_only).
func OpenReadOnly(ctx context.Context, dsn string) (*DB, error) {
	dialect, name, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	driver := "pgx"
	switch dialect {
	case SQLite:
		driver = "sqlite"
		path := strings.TrimPrefix(dsn, "sqlite://")
		if _, err := os.Stat(path); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &baocun.Error{Code: baocun.EINVALID,
				Message: fmt.Sprintf("数据库文件不可读 database %s: %v", name, err)}
		}
		q := url.Values{}
		q.Set("mode", "ro")
		if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
			q.Set("immutable", "1")
		}
		q.Add("_pragma", "query_only(1)")
		q.Add("_pragma", "busy_timeout(10000)")
		driverDSN = "file:" + path + "?" + q.Encode()
	case Postgres:
		u, err := url.Parse(driverDSN)
		if err != nil {
			return nil, baocun.Errorf(baocun.EINVALID, "database: not a valid PostgreSQL URL: %v", redactErr(err, dsn))
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		u.RawQuery = q.Encode()
		driverDSN = u.String()
	}
	sqlDB, err := sql.Open(driver, driverDSN)
	if err != nil {
		return nil, &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("database %s: %v", name, err)}
	}
	sqlDB.SetMaxOpenConns(4)
	db := &DB{sql: sqlDB, dialect: dialect, name: name}
	if err := db.Ping(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return db, nil
}
