package temporalserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the lock and schema checks
	"go.temporal.io/server/common/config"
	postgresqlplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	postgresv12 "go.temporal.io/server/schema/postgresql/v12"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// The two schemas of the PostgreSQL database that `baocun temporal --database` names:
// the server's main store (histories, mutable states, task queues, namespaces, cluster
// membership) and its visibility store (the records `temporal workflow list` reads).
//
// Two schemas of one database rather than two databases: one URL names everything, the
// operator creates and grants one database, and one pg_dump of it is one consistent
// snapshot of both stores. They cannot share one schema: each store keeps its own
// schema_version table, and the server's own tool migrates each by its version there.
const (
	MainSchema       = "temporal"
	VisibilitySchema = "temporal_visibility"
)

// The server's own schemas, embedded in go.temporal.io/server/schema, by the names its
// schema tool (temporal-sql-tool --schema-name) gives them.
const (
	mainSchemaName       = "postgresql/v12/temporal"
	visibilitySchemaName = "postgresql/v12/visibility"
)

// Connection pools, each bounded: the server keeps a pool of each store in each of its
// four services (and opens short-lived ones at start for its own checks), besides the
// lock's connection. Most pools stay near idle; the history service's main pool carries
// the load, and 10 lets it write 10 runs' changes at once (BenchmarkScalePath, 50
// clients, saw at most 32 connections open in all). Idle connections are kept up to the
// same bound: PostgreSQL starts a process for each new connection, and database/sql's
// default of 2 idle would open and close connections all the time under load. PostgreSQL's max_connections
// (100 by default) must cover this and each `serve` instance's 20.
const (
	postgresMainConns       = 10
	postgresVisibilityConns = 4
	postgresConnLifetime    = time.Hour
)

// postgresLockKey is the advisory lock one `baocun temporal` process holds on its
// database while it runs: the server is configured as a single host (one history
// shard, its services' membership forgotten at start), so a second process on the same
// database would corrupt the first one's state. The lock is the database's, like the
// SQLite file's lock is the file's, and PostgreSQL drops it when the holding session
// ends, however the process ended.
const postgresLockKey int64 = 0x6261_6f63_756e_7470 // "baocuntp"

// Postgres is a PostgreSQL database a Temporal server persists to (Config.Postgres):
// opened, locked to this process, its two schemas created and brought to the server's
// version by OpenPostgres. Close releases the lock.
type Postgres struct {
	name             string // the URL without its password, for messages
	main, visibility config.SQL
	db               *sql.DB
	lock             *sql.Conn
	lost             chan error    // the lock's session ended (watch)
	stop             chan struct{} // Close ends the watch
}

// CheckPostgresURL reports whether raw is a PostgreSQL URL the server can use: a
// postgres:// or postgresql:// URL naming a host and a database, without a
// search_path (the server sets its own: MainSchema and VisibilitySchema). Its errors
// never contain the password.
func CheckPostgresURL(raw string) error {
	_, _, err := parsePostgresURL(raw)
	return err
}

// PostgresName is raw without its password (in the user part or a password= parameter),
// as Postgres.Name gives it and a data dir's mark records it.
func PostgresName(raw string) (string, error) {
	_, name, err := parsePostgresURL(raw)
	return name, err
}

// parsePostgresURL returns the server's store configuration for raw (its main store;
// the visibility store differs in its search_path and pool) and raw without its password.
func parsePostgresURL(raw string) (config.SQL, string, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return config.SQL{}, "", errors.New("want a postgres://… URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return config.SQL{}, "", fmt.Errorf("not a valid URL: %v", redactPassword(err.Error(), raw))
	}
	named := *u
	if q := named.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		named.RawQuery = q.Encode()
	}
	name := named.Redacted()
	host := u.Hostname()
	if host == "" || strings.Contains(u.Host, ",") {
		return config.SQL{}, name, errors.New("name one host (postgres://USER:PASSWORD@HOST[:PORT]/DATABASE)")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return config.SQL{}, name, errors.New("name the database (postgres://USER:PASSWORD@HOST[:PORT]/DATABASE)")
	}
	attrs := map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return config.SQL{}, name, fmt.Errorf("parameter %s given %d times", k, len(vs))
		}
		attrs[k] = vs[0]
	}
	if _, ok := attrs["search_path"]; ok {
		return config.SQL{}, name, fmt.Errorf("search_path is the server's own to set (schemas %s and %s): leave it out", MainSchema, VisibilitySchema)
	}
	// The server's driver would disable TLS when the URL says nothing; pgx, psql and
	// the application database's connection prefer it.
	if _, ok := attrs["sslmode"]; !ok {
		attrs["sslmode"] = "prefer"
	}
	password, _ := u.User.Password()
	return config.SQL{
		PluginName:        postgresqlplugin.PluginNamePGX,
		User:              u.User.Username(),
		Password:          password,
		ConnectAddr:       net.JoinHostPort(host, port),
		ConnectProtocol:   "tcp",
		DatabaseName:      db,
		ConnectAttributes: attrs,
		MaxConns:          postgresMainConns,
		MaxIdleConns:      postgresMainConns,
		MaxConnLifetime:   postgresConnLifetime,
	}, name, nil
}

// OpenPostgres connects to the database raw names, takes its lock (refused while
// another process holds it), creates the server's two schemas when absent and brings
// each to the version this server needs with the server's own schema tool — on a new
// database from nothing, on an older one by its versioned updates — and forgets the
// cluster members a previous process left. Connecting and locking must be done within
// connectTimeout; level filters the schema tool's logs. Errors never contain the
// password.
func OpenPostgres(ctx context.Context, raw string, connectTimeout time.Duration, logger *slog.Logger, level slog.Level) (*Postgres, error) {
	main, name, err := parsePostgresURL(raw)
	if err != nil {
		return nil, err
	}
	p := &Postgres{name: name, main: main, visibility: main}
	p.main.ConnectAttributes = withAttr(main.ConnectAttributes, "search_path", MainSchema)
	p.visibility.ConnectAttributes = withAttr(main.ConnectAttributes, "search_path", VisibilitySchema)
	// Named apart in pg_stat_activity, unless the URL names them.
	if _, ok := main.ConnectAttributes["application_name"]; !ok {
		p.main.ConnectAttributes["application_name"] = "baocun-temporal"
		p.visibility.ConnectAttributes["application_name"] = "baocun-temporal-visibility"
	}
	p.visibility.MaxConns, p.visibility.MaxIdleConns = postgresVisibilityConns, postgresVisibilityConns

	if p.db, err = sql.Open("pgx", adminURL(raw)); err != nil {
		return nil, errors.New(redactPassword(err.Error(), raw))
	}
	p.db.SetMaxOpenConns(2)
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if p.lock, err = p.db.Conn(cctx); err != nil {
		return nil, fmt.Errorf("cannot connect: %s", redactPassword(err.Error(), raw))
	}
	var locked bool
	if err := p.lock.QueryRowContext(cctx, "SELECT pg_try_advisory_lock($1)", postgresLockKey).Scan(&locked); err != nil {
		return nil, fmt.Errorf("cannot connect: %s", redactPassword(err.Error(), raw))
	}
	if !locked {
		return nil, fmt.Errorf("in use by another baocun temporal process (it holds advisory lock %d on this database)", postgresLockKey)
	}
	tlog := newLogger(logger, level)
	for _, s := range []struct {
		schema, embedded, want string
		store                  *config.SQL
	}{
		{MainSchema, mainSchemaName, postgresv12.Version, &p.main},
		{VisibilitySchema, visibilitySchemaName, postgresv12.VisibilityVersion, &p.visibility},
	} {
		from, err := p.migrate(ctx, s.schema, s.embedded, s.store, tlog)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", s.schema, err)
		}
		// The server checks at start that each schema is at least the version it
		// needs; a newer one (written by a newer server) it accepts, as upstream does.
		to, err := p.schemaVersion(ctx, s.schema)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", s.schema, err)
		}
		if from != to {
			logger.Info("Temporal schema updated", "schema", s.schema, "from", from, "to", to, "server needs", s.want)
		}
	}
	// Under the lock every member row names a dead process (see forgetMembers).
	if _, err := p.db.ExecContext(ctx, "DELETE FROM "+MainSchema+".cluster_membership"); err != nil {
		return nil, fmt.Errorf("clear stale cluster membership: %v", err)
	}
	p.db.SetMaxIdleConns(0) // from now on only the lock's connection stays open
	p.watch()
	ok = true
	return p, nil
}

// migrate creates schema when absent and brings it to the newest version embedded in
// the server, as `temporal-sql-tool setup-schema -v 0.0` then `update-schema
// --schema-name embedded` would. It returns the version the schema was at ("" when new).
func (p *Postgres) migrate(ctx context.Context, schema, embedded string, store *config.SQL, tlog *logger) (string, error) {
	if _, err := p.db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return "", err
	}
	from, err := p.schemaVersion(ctx, schema)
	if err != nil {
		return "", err
	}
	conn, err := sqltool.NewConnection(store, tlog)
	if err != nil {
		return from, fmt.Errorf("connect: %v", err)
	}
	defer conn.Close()
	// The version tables only, at 0.0: the updates below then build the schema from
	// nothing, so a new database and an old one take the same path. Only when it has
	// no version yet: on a schema that has one, setting 0.0 would make the update run
	// every version again.
	if from == "" {
		if err := schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, tlog).Run(); err != nil {
			return from, fmt.Errorf("set up version tables: %w", err)
		}
	}
	if err := schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{DBName: store.DatabaseName, SchemaName: embedded}, tlog).Run(); err != nil {
		return from, fmt.Errorf("update to the server's schema %s: %w", embedded, err)
	}
	return from, nil
}

// schemaVersion is the version the server's schema tool recorded in schema, "" when
// it has recorded none.
func (p *Postgres) schemaVersion(ctx context.Context, schema string) (string, error) {
	var exists bool
	if err := p.db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", schema+".schema_version").Scan(&exists); err != nil || !exists {
		return "", err
	}
	var v string
	err := p.db.QueryRowContext(ctx, "SELECT curr_version FROM "+schema+".schema_version WHERE version_partition = 0 AND db_name = $1",
		p.main.DatabaseName).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Name is the database's URL without its password.
func (p *Postgres) Name() string { return p.name }

// Close releases the lock and the connections. The server must be stopped first.
func (p *Postgres) Close() error {
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
	if p.lock != nil {
		p.lock.Close()
	}
	return p.db.Close()
}

// lockCheckEvery is how often the lock's session is checked.
const lockCheckEvery = 10 * time.Second

// Lost reports the end of the lock's session: PostgreSQL restarted, a proxy or
// idle_session_timeout closed it. The lock went with it, so another process may now
// take the database: the server must stop at once (the temporal command exits).
func (p *Postgres) Lost() <-chan error { return p.lost }

// watch checks the lock's session every lockCheckEvery until Close.
func (p *Postgres) watch() {
	p.lost, p.stop = make(chan error, 1), make(chan struct{})
	lock, stop := p.lock, p.stop
	go func() {
		t := time.NewTicker(lockCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), lockCheckEvery)
			err := lock.PingContext(ctx)
			cancel()
			if err != nil {
				p.lost <- fmt.Errorf("the session holding the lock ended (%s): another process may take the database", redactPassword(err.Error(), p.name))
				return
			}
		}
	}()
}

// persistence is the server's persistence configuration on p's two schemas.
func (p *Postgres) persistence() config.Persistence {
	main, visibility := p.main, p.visibility
	return config.Persistence{
		DefaultStore:     "postgres-main",
		VisibilityStore:  "postgres-visibility",
		NumHistoryShards: 1,
		DataStores: map[string]config.DataStore{
			"postgres-main":       {SQL: &main},
			"postgres-visibility": {SQL: &visibility},
		},
	}
}

// adminURL is raw for the lock's and the schema checks' own connections, named apart
// in pg_stat_activity unless the URL names them.
func adminURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Get("application_name") == "" {
		q.Set("application_name", "baocun-temporal-lock")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func withAttr(attrs map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(attrs)+1)
	for ak, av := range attrs {
		out[ak] = av
	}
	out[k] = v
	return out
}

// redactPassword replaces raw's password in msg: drivers and the URL parser quote
// the URL they were given.
func redactPassword(msg, raw string) string {
	if u, err := url.Parse(raw); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		if pw := u.Query().Get("password"); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
		return msg
	}
	// Unparsable: hide everything between the scheme and the host.
	if i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); i >= 0 && j > i {
		msg = strings.ReplaceAll(msg, raw[i+3:j], "xxxxx")
	}
	return msg
}
