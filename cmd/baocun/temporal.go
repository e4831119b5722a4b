package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"baocun"
	"baocun/temporalserver"
)

// temporalCommand runs only the embedded Temporal server, persisted to
// <data-dir>/temporal.db or, with --database, to PostgreSQL, for several `baocun serve
// --temporal-address …` instances to share on machines without a Temporal cluster of
// their own.
func temporalCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := serveConfig{}
	fs := flag.NewFlagSet("temporal", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "数据目录 directory for temporal.db and the certificates (temporal-tls/)")
	fs.StringVar(&cfg.Database, "database", "", "Temporal's own database: empty for <data-dir>/temporal.db (SQLite), or postgres://USER:PASSWORD@HOST[:PORT]/DATABASE "+
		"(schemas "+temporalserver.MainSchema+" and "+temporalserver.VisibilitySchema+", created and brought to the server's version at start)")
	ip := fs.String("temporal-ip", "127.0.0.1", "address the frontend binds to (0.0.0.0 for other machines)")
	fs.IntVar(&cfg.TemporalPort, "temporal-port", 7233, "frontend port (0 picks a free port)")
	fs.StringVar(&cfg.TemporalNamespace, "temporal-namespace", baocun.DefaultNamespace, "Temporal namespace")
	fs.DurationVar(&cfg.TemporalRetention, "temporal-retention", 10*365*24*time.Hour, "how long closed workflows are kept")
	temporalSyncFlag(fs, &cfg.TemporalSync)
	historyCacheFlag(fs, &cfg.HistoryCache)
	memoryLimitFlag(fs, &cfg.MemoryLimit)
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 10*time.Second, "how long to wait for the server, and the database given by --database, to answer at start")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "text or json (logs go to stderr)")
	fs.StringVar(&cfg.TemporalLogLevel, "temporal-log-level", "warn", "level of the server's own logs")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := checkTemporalSync("temporal", cfg.TemporalSync); err != nil {
		return err
	}
	if cfg.Database != "" {
		if err := temporalserver.CheckPostgresURL(cfg.Database); err != nil {
			return &usageError{fmt.Sprintf("temporal: --database %s: %v", redactDSN(cfg.Database), err)}
		}
		if flagGiven(fs, "temporal-sync") {
			return &usageError{"temporal: --temporal-sync is temporal.db's (SQLite); with --database postgres://… PostgreSQL's synchronous_commit decides"}
		}
	}
	if err := checkHistoryCache("temporal", cfg.HistoryCache); err != nil {
		return err
	}
	if _, err := parseMemoryLimit("temporal", cfg.MemoryLimit); err != nil {
		return err
	}
	level, err := parseLevel(cfg.TemporalLogLevel)
	if err != nil {
		return &usageError{fmt.Sprintf("--temporal-log-level: %v", err)}
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return &usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	log := newLogger(&cfg, stderr)
	limit, from, restore := setMemoryLimit(cfg.MemoryLimit, flagGiven(fs, "memory-limit"), getenv)
	defer restore()
	log.Info("soft memory limit", "limit", describeMemoryLimit(limit), "from", from)
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	file := filepath.Join(cfg.DataDir, "temporal.db")
	if err := checkTemporalStore(cfg.DataDir, cfg.Database); err != nil {
		return err
	}
	if cfg.Database == "" {
		if err := checkSQLiteFile(file); err != nil {
			return err
		}
	}
	if err := temporalserver.CheckPort(*ip, cfg.TemporalPort); err != nil {
		return err
	}
	var pg *temporalserver.Postgres
	if cfg.Database != "" {
		pg, err = temporalserver.OpenPostgres(ctx, cfg.Database, cfg.ConnectTimeout, log, level)
		if err != nil {
			return fmt.Errorf("temporal: --database %s: %v", redactDSN(cfg.Database), err)
		}
		defer pg.Close()
		if err := markTemporalStore(cfg.DataDir, pg.Name()); err != nil {
			return err
		}
	}
	certs, err := temporalserver.ReadCertificates(cfg.tlsDir())
	if errors.Is(err, os.ErrNotExist) {
		certs, err = temporalserver.CreateCertificates(cfg.tlsDir(), *ip)
	}
	if err != nil {
		return err
	}
	clientTLS, err := certs.ClientTLS(temporalserver.Service)
	if err != nil {
		return err
	}
	srv, err := temporalserver.Start(ctx, temporalserver.Config{DatabasePath: file, Postgres: pg, Sync: cfg.TemporalSync, IP: *ip, Port: cfg.TemporalPort,
		Namespace: cfg.TemporalNamespace, Logger: log, LogLevel: level, TLS: certs, HistoryCache: cfg.HistoryCache})
	if err != nil {
		return err
	}
	defer srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	tc, err := client.DialContext(cctx, client.Options{HostPort: srv.Address(), Namespace: cfg.TemporalNamespace,
		Logger:            sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		ConnectionOptions: client.ConnectionOptions{TLS: clientTLS}})
	if err != nil {
		return fmt.Errorf("temporal %s: %v", srv.Address(), err)
	}
	defer tc.Close()
	if err := checkNamespace(cctx, tc, &cfg); err != nil { // sets the retention
		return err
	}
	if pg != nil {
		fmt.Fprintf(stdout, "Temporal (embedded): %s, namespace %s, PostgreSQL %s (schemas %s, %s)\n", srv.Address(), cfg.TemporalNamespace,
			pg.Name(), temporalserver.MainSchema, temporalserver.VisibilitySchema)
	} else {
		fmt.Fprintf(stdout, "Temporal (embedded): %s, namespace %s, file %s\n", srv.Address(), cfg.TemporalNamespace, file)
	}
	cert, key := certs.ClientFiles(temporalserver.Service)
	fmt.Fprintf(stdout, "  只接受本目录证书的客户端 Only clients with a certificate of %s are admitted. Copy the CA and the service certificate to each instance:\n", certs.Dir)
	fmt.Fprintf(stdout, "  baocun serve --temporal-address %s --temporal-tls-ca %s --temporal-tls-cert %s --temporal-tls-key %s --temporal-tls-server-name %s --database postgres://…\n",
		srv.Address(), certs.CA(), cert, key, temporalserver.ServerName)
	fmt.Fprintf(stdout, "  Ctrl-C 停止 stops the server.\n")
	var lost <-chan error // nil (never ready) on SQLite, whose lock is the file's
	if pg != nil {
		lost = pg.Lost()
	}
	select {
	case <-ctx.Done():
	case err := <-lost:
		log.Error("stopping: the PostgreSQL lock is lost", "err", err)
		return fmt.Errorf("temporal: --database %s: %v", pg.Name(), err)
	}
	log.Info("shutting down", "reason", context.Cause(ctx))
	return nil
}

// temporalStoreMark is the file in a data dir saying that its Temporal server keeps its
// state in PostgreSQL (it holds the database's URL without the password).
const temporalStoreMark = "temporal-postgres"

// checkTemporalStore refuses to start a data dir's Temporal server on the other store
// than the one that holds its state: with --database over a temporal.db, or without it
// where the server has run on PostgreSQL. Either would start an empty server, and
// every instance's workflows would be lost to it. (--database also reads
// BAOCUN_DATABASE, which `serve` reads too: an environment shared by both would
// otherwise move an existing server to the application's database unasked.)
func checkTemporalStore(dataDir, database string) error {
	file := filepath.Join(dataDir, "temporal.db")
	mark := filepath.Join(dataDir, temporalStoreMark)
	if database != "" {
		if _, err := os.Stat(file); err == nil {
			return fmt.Errorf("temporal: --database %s: %s holds this data dir's Temporal state, which would not move to PostgreSQL: "+
				"start without --database (and without BAOCUN_DATABASE), or with another --data-dir", redactDSN(database), file)
		}
		// On PostgreSQL before, in another database: this one would start empty.
		if b, err := os.ReadFile(mark); err == nil {
			was, now := strings.TrimSpace(string(b)), ""
			if now, err = temporalserver.PostgresName(database); err == nil && was != now {
				return fmt.Errorf("temporal: --database %s: this data dir's Temporal server keeps its state in %s (%s says so), not there: "+
					"give that database, or another --data-dir", now, was, mark)
			}
		}
		return nil
	}
	if b, err := os.ReadFile(mark); err == nil {
		return fmt.Errorf("temporal: this data dir's Temporal server keeps its state in PostgreSQL (%s names %s): give --database",
			mark, strings.TrimSpace(string(b)))
	}
	return nil
}

// markTemporalStore records in the data dir that its Temporal server is on PostgreSQL.
func markTemporalStore(dataDir, name string) error {
	if err := os.WriteFile(filepath.Join(dataDir, temporalStoreMark), []byte(name+"\n"), 0o600); err != nil {
		return fmt.Errorf("data dir %s: %v", dataDir, unwrapPath(err))
	}
	return nil
}
