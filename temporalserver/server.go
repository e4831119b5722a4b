// Package temporalserver runs a Temporal server inside the baocun process, persisted to
// one SQLite file: the embedded default that lets `baocun serve` need no other install.
// `baocun temporal --database postgres://…` persists it to PostgreSQL instead
// (OpenPostgres).
//
// The server's own SQLite persistence has no schema check and no migration between
// server versions, so the server version is pinned in go.mod and an upgrade needs a
// backup-and-migrate step of its own (see README). On PostgreSQL the server's own
// schema tool brings the schema to the server's version at every start.
package temporalserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Config says where the server keeps its state and where it listens.
type Config struct {
	// DatabasePath is the SQLite file; it is created with the schema when absent.
	// Unused when Postgres is set.
	DatabasePath string
	// Postgres, when set, is the database the server persists to instead of the
	// SQLite file (OpenPostgres). The caller closes it after Stop.
	Postgres *Postgres
	// Sync is SQLite's synchronous setting for the file. "full" (the default, also
	// when empty) syncs every commit to disk, as baocun.db does, so a power cut loses
	// nothing either of them acknowledged. "normal" skips those syncs: a power cut can
	// roll back Temporal's last commits while baocun.db keeps the steps they drove,
	// leaving writes the API acknowledged that no workflow knows of. Unused on
	// PostgreSQL, where the server's synchronous_commit decides.
	Sync string
	// IP the frontend binds to; the other services always bind to loopback.
	IP string
	// Port of the frontend; 0 picks a free one.
	Port int
	// Namespace is created at start when absent, with the server's default retention
	// of 24 hours: the caller sets the retention it wants through the API.
	Namespace string
	Logger    *slog.Logger
	// LogLevel filters the server's own logs, which are many at info level.
	LogLevel slog.Level
	// TLS is the certificate set every connection to the server, and between its
	// own services, must present a certificate of (ReadCertificates,
	// CreateCertificates). Required: a server without it would admit any process
	// that reaches its port.
	TLS *Certificates
	// HistoryCache is how many workflow runs' mutable states the history service keeps
	// in memory: DefaultHistoryCache when 0, at least MinHistoryCache (DynamicConfig).
	HistoryCache int
}

// Server is a running embedded Temporal server.
type Server struct {
	srv     temporal.Server
	address string
	lock    io.Closer // the SQLite file's; nil on PostgreSQL, whose lock the caller's Postgres holds
}

// Start creates the schema when the SQLite file is new (on PostgreSQL OpenPostgres has
// made it), registers the namespace (a no-op when it exists), and starts the four
// Temporal services in this process.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TLS == nil {
		return nil, errors.New("embedded Temporal server: no certificates (Config.TLS)")
	}
	if cfg.HistoryCache != 0 && cfg.HistoryCache < MinHistoryCache {
		return nil, fmt.Errorf("embedded Temporal server: a history cache of %d runs: at least %d", cfg.HistoryCache, MinHistoryCache)
	}
	var (
		lock        io.Closer
		persistence config.Persistence
		store       config.SQL // the main store, where the namespace is registered
		where       string     // the database, for messages
	)
	ok := false
	defer func() {
		if !ok && lock != nil {
			lock.Close()
		}
	}()
	if cfg.Postgres != nil {
		persistence = cfg.Postgres.persistence()
		store, where = cfg.Postgres.main, cfg.Postgres.Name()
	} else {
		f, err := lockFile(cfg.DatabasePath + ".lock")
		if err != nil {
			return nil, err
		}
		lock, where = f, cfg.DatabasePath
	}
	ports, err := freePorts(cfg.IP, cfg.Port, 8, cfg.Postgres != nil)
	if err != nil {
		return nil, err
	}
	address := net.JoinHostPort(cfg.IP, strconv.Itoa(ports[0]))

	if cfg.Postgres == nil {
		store = config.SQL{
			PluginName:   sqliteplugin.PluginName,
			DatabaseName: cfg.DatabasePath,
			// Pragma keys go without a leading underscore: the plugin adds "_pragma=" itself
			// and a key such as "_journal_mode" is silently ignored.
			ConnectAttributes: map[string]string{
				"mode":         "rwc",
				"journal_mode": "wal",
				"synchronous":  cfg.synchronous(),
				"busy_timeout": "10000",
			},
		}
		if _, err := os.Stat(cfg.DatabasePath); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(&store); err != nil {
				return nil, fmt.Errorf("create Temporal schema in %s: %w", cfg.DatabasePath, err)
			}
		}
		if err := forgetMembers(cfg.DatabasePath); err != nil {
			return nil, err
		}
		persistence = config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: &store}},
		}
	}
	ns, err := sqlite.NewNamespaceConfig("active", cfg.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", cfg.Namespace, err)
	}
	// Despite its package, CreateNamespaces writes through whichever SQL plugin the
	// store names: the same registration on SQLite and on PostgreSQL.
	if err := sqlite.CreateNamespaces(&store, ns); err != nil {
		return nil, fmt.Errorf("register namespace %q in %s: %w", cfg.Namespace, where, err)
	}

	conf := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"},
			TLS:        rootTLS(cfg.TLS),
		},
		Persistence: persistence,
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: address},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(cfg.IP, ports[0], ports[1]),
			"history":  service("", ports[2], ports[3]),
			"matching": service("", ports[4], ports[5]),
			"worker":   service("", ports[6], ports[7]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		// Required: the server's internal clients dial through it.
		PublicClient: config.PublicClient{HostPort: address},
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(newLogger(cfg.Logger, cfg.LogLevel)),
		temporal.WithDynamicConfigClient(DynamicConfig(cfg.HistoryCache)),
		temporal.WithAuthorizer(authorization.NewDefaultAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper{} }),
	)
	if err != nil {
		return nil, fmt.Errorf("configure embedded Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start embedded Temporal server on %s: %w", address, err)
	}
	ok = true
	return &Server{srv: srv, address: address, lock: lock}, nil
}

// Address is the frontend's host:port, for clients and for the `temporal` CLI.
func (s *Server) Address() string { return s.address }

// Stop stops every service; the database keeps everything for the next Start.
func (s *Server) Stop() error {
	if s.lock != nil {
		defer s.lock.Close()
	}
	return s.srv.Stop()
}

// CheckPort reports whether the frontend port (0: any) can be bound, so a caller can
// refuse a busy port before it writes anything.
func CheckPort(ip string, port int) error {
	if port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("--temporal-port %d is not free: %w", port, err)
	}
	return l.Close()
}

// lockFile takes an exclusive lock that lasts while the file stays open: one process
// at a time may run a server on a database file. The kernel drops the lock when the
// process dies, however it dies.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another baocun process (lock %s held)", strings.TrimSuffix(path, ".lock"), path)
	}
	return f, nil
}

// forgetMembers deletes the cluster membership rows a previous process left. Under the
// lock every such row names a dead host; left in place, the new services would route
// task-queue and shard requests to those hosts until their heartbeats expired (about
// a minute after a SIGKILL), and the restarted service would stall that long.
func forgetMembers(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout%3d10000")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("%s: clear stale cluster membership: %w", path, err)
	}
	return nil
}

// rootTLS requires mutual TLS on the frontend and between the server's own services
// (history and matching listen on loopback, where any local process could reach
// them). The frontend admits the client authority's certificates (its claim mapper
// then gives each its rights) and the internode certificate of the system worker;
// history and matching, which run no authorizer, admit only the internode authority's.
func rootTLS(c *Certificates) config.RootTLS {
	ca, ica := c.CA(), c.path(internodeCACert)
	icert, ikey := c.path(internodeCert), c.path(internodeKey)
	toFrontend := config.ClientTLS{ServerName: ServerName, RootCAFiles: []string{ca}}
	return config.RootTLS{
		Frontend: config.GroupTLS{
			Server: config.ServerTLS{CertFile: c.path(frontendCert), KeyFile: c.path(frontendKey), ClientCAFiles: []string{ca, ica}, RequireClientAuth: true},
			Client: toFrontend,
		},
		Internode: config.GroupTLS{
			Server: config.ServerTLS{CertFile: icert, KeyFile: ikey, ClientCAFiles: []string{ica}, RequireClientAuth: true},
			Client: config.ClientTLS{ServerName: Internode, RootCAFiles: []string{ica}},
		},
		SystemWorker: config.WorkerTLS{CertFile: icert, KeyFile: ikey, Client: toFrontend},
	}
}

func service(ip string, grpcPort, membershipPort int) config.Service {
	rpc := config.RPC{GRPCPort: grpcPort, MembershipPort: membershipPort, BindOnLocalHost: true}
	if ip != "" && ip != "127.0.0.1" {
		rpc.BindOnLocalHost = false
		rpc.BindOnIP = ip
	}
	return config.Service{RPC: rpc}
}

// freePorts returns n ports: first (when not 0) then n-1 that the system reports free.
// A port the system hands out can be taken again before the server binds it; the
// window is short and a collision fails Start with a clear bind error.
//
// With smallMembership the membership ports (the second of each service's pair) are
// below 32768: the server records each in cluster_membership.rpc_port, a SMALLINT, and
// on PostgreSQL a port of the kernel's ephemeral range (32768–60999 on Linux) does not
// fit, and the service fails to start. (SQLite stores any integer there.)
func freePorts(ip string, first, n int, smallMembership bool) ([]int, error) {
	ports := make([]int, 0, n)
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	if first != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(first)))
		if err != nil {
			return nil, fmt.Errorf("temporal port %d is not free: %w", first, err)
		}
		held = append(held, l)
		ports = append(ports, first)
	}
	for len(ports) < n {
		host := "127.0.0.1"
		if len(ports) == 0 {
			host = ip
		}
		var l net.Listener
		var err error
		if smallMembership && len(ports)%2 == 1 {
			l, err = listenBelow(host, math.MaxInt16+1)
		} else {
			l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		}
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// listenBelow listens on a free port from 10000 up to (not including) limit, tried at
// random: below the ports of well-known services, above which the kernel hands out none.
func listenBelow(host string, limit int) (net.Listener, error) {
	var err error
	for range 200 {
		var l net.Listener
		if l, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(10000+rand.IntN(limit-10000)))); err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no free port below %d after 200 tries: %w", limit, err)
}
