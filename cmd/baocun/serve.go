package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	humanize "github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7/pkg/credentials"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/types/known/durationpb"

	"baocun"
	"baocun/activities"
	"baocun/blob"
	"baocun/policy"
	"baocun/sqldb"
	"baocun/temporalclient"
	"baocun/temporalserver"
	"baocun/web"
	"baocun/workflows"
)

// serveConfig is every setting of `baocun serve`, one flag each.
type serveConfig struct {
	DataDir      string
	HTTP         string
	Database     string
	TemporalPort int

	TemporalAddress       string
	TemporalNamespace     string
	TemporalTLS           bool
	TemporalTLSCert       string
	TemporalTLSKey        string
	TemporalTLSCA         string
	TemporalTLSServerName string
	TemporalAPIKey        string
	TemporalInsecure      bool
	TemporalRetention     time.Duration
	TemporalSync          string
	WorkflowCache         int
	HistoryCache          int
	MemoryLimit           string
	MaxFileSize           string
	Files                 string
	FilesInsecure         bool
	FilesQuota            string
	PublicPublicity       bool
	filesCredentials      *credentials.Credentials // from the environment, when --files is a bucket

	// Whether --history-cache and --memory-limit were given (on the command line or
	// from the environment) rather than left at their defaults.
	historyCacheGiven, memoryLimitGiven bool

	ConnectTimeout   time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         string
	LogFormat        string
	TemporalLogLevel string
	AuditKey         string
	StepKey          string
	AuditAnchor      string
	TrustedProxies   string
	HSTS             int
	MetricsHTTP      string
	notifyConfig     // --smtp-*, --webhook-hosts, --notify-*, --public-url
	TemporalUI       string
}

// trustedProxies splits --trusted-proxies.
func (c *serveConfig) trustedProxies() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// auditKeyPath is where the audit checkpoints' signing key lives; its public half is
// written beside it for auditors.
func (c *serveConfig) auditKeyPath() string {
	if c.AuditKey != "" {
		return c.AuditKey
	}
	return filepath.Join(c.DataDir, sqldb.AuditKeyFile)
}

// stepKeyPath is where the key that signs steps lives.
func (c *serveConfig) stepKeyPath() string {
	if c.StepKey != "" {
		return c.StepKey
	}
	return filepath.Join(c.DataDir, workflows.StepKeyFile)
}

// openFiles opens the evidence store --files names: a bucket when it is an http(s)
// address (checked to exist), else a directory.
func (c *serveConfig) openFiles(ctx context.Context) (blob.Store, error) {
	if !c.filesInBucket() {
		dir := c.Files
		if dir == "" {
			dir = filepath.Join(c.DataDir, "files")
		}
		return blob.Dir(dir), nil
	}
	s, err := blob.NewS3(ctx, c.Files, c.filesCredentials, c.FilesInsecure)
	if err != nil {
		return nil, fmt.Errorf("serve: --files: %w", err)
	}
	return s, nil
}

func (c *serveConfig) filesInBucket() bool {
	lower := strings.ToLower(c.Files)
	return strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")
}

// maxFileSize is --max-file-size in bytes: 1 KiB to 1 GiB.
func (c *serveConfig) maxFileSize() (int64, error) {
	n, err := humanize.ParseBytes(c.MaxFileSize)
	if err != nil || n < 1<<10 || n > 1<<30 {
		return 0, &usageError{fmt.Sprintf("serve: --max-file-size %q: want a size from 1KiB to 1GiB, such as 20MiB", c.MaxFileSize)}
	}
	return int64(n), nil
}

// filesQuota is --files-quota in bytes: at least --max-file-size.
func (c *serveConfig) filesQuota() (int64, error) {
	n, err := humanize.ParseBytes(c.FilesQuota)
	limit, _ := c.maxFileSize()
	if err != nil || n < uint64(limit) || n > 1<<50 {
		return 0, &usageError{fmt.Sprintf("serve: --files-quota %q: want a size no smaller than --max-file-size, such as 2GiB", c.FilesQuota)}
	}
	return int64(n), nil
}

// tlsDir is where the embedded server's certificates live.
func (c *serveConfig) tlsDir() string { return filepath.Join(c.DataDir, temporalserver.TLSDir) }

func newServeFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.DataDir, "data-dir", "./data", "数据目录 directory for the SQLite files and keys")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP listen address (API, UI, /healthz, /readyz, /metrics)")
	fs.StringVar(&c.Database, "database", "", "application database: sqlite://PATH or postgres://… (default sqlite://<data-dir>/baocun.db)")
	temporalClientFlags(fs, c)
	fs.DurationVar(&c.TemporalRetention, "temporal-retention", 10*365*24*time.Hour, "how long the embedded server keeps closed workflows")
	temporalSyncFlag(fs, &c.TemporalSync)
	fs.IntVar(&c.WorkflowCache, "workflow-cache", defaultWorkflowCache, "running workflows the worker keeps in memory between their steps (more costs memory, fewer costs replaying a history)")
	historyCacheFlag(fs, &c.HistoryCache)
	memoryLimitFlag(fs, &c.MemoryLimit)
	fs.StringVar(&c.MaxFileSize, "max-file-size", "20MiB", "largest evidence file one upload takes; a larger one is refused with 413")
	fs.StringVar(&c.Files, "files", "", "where evidence files are kept by SHA-256: a directory (default <data-dir>/files), or an S3-compatible bucket, http(s)://HOST[:PORT]/BUCKET[/PREFIX], with its keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	fs.StringVar(&c.FilesQuota, "files-quota", "2GiB", "what one person uploads to one pairing, each content once; an upload past it is refused with 413")
	fs.BoolVar(&c.FilesInsecure, "files-insecure", false, "allow plain http to an S3 server that is not on loopback: anyone on the path can read and change the evidence")
	fs.BoolVar(&c.PublicPublicity, "public-publicity", false, "serve /publicity/CYCLE to anyone, without signing in: a cycle's published results and commendation list (公示), read-only")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests and activities")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json (logs go to stderr)")
	fs.StringVar(&c.TemporalLogLevel, "temporal-log-level", "warn", "level of the embedded Temporal server's own logs: debug, info, warn or error")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (none by default)")
	fs.IntVar(&c.HSTS, "hsts", 0, "seconds browsers keep to HTTPS once they have come over it (Strict-Transport-Security, sent on HTTPS requests only; e.g. 31536000; 0 sends none)")
	fs.StringVar(&c.MetricsHTTP, "metrics-http", "", "serve /metrics on a listener of its own at this host:port, and not on --http")
	fs.StringVar(&c.TemporalUI, "temporal-ui", "", "serve the Temporal Web UI at this loopback host:port, such as 127.0.0.1:8233: read-only, with the embedded frontend's operator certificate; only with the embedded server (not with --temporal-address); empty runs none")
	fs.StringVar(&c.StepKey, "step-key", "", "key that signs every step the API sends its workflows (default <data-dir>/"+workflows.StepKeyFile+"; created when absent; share it between instances)")
	fs.StringVar(&c.AuditKey, "audit-key", "", "Ed25519 key that signs audit checkpoints (default <data-dir>/audit-ed25519.key; created when absent; share it between instances of one database)")
	notifyFlags(fs, &c.notifyConfig)
	fs.StringVar(&c.AuditAnchor, "audit-anchor", "", "file outside the database to which each signed audit checkpoint is appended (default <data-dir>/audit-anchor/audit-anchor.jsonl; put its directory on another volume or host)")
	return fs
}

// temporalClientFlags are the flags that say how to reach Temporal: the embedded
// server's port, or an existing cluster and its credentials.
func temporalClientFlags(fs *flag.FlagSet, c *serveConfig) {
	fs.IntVar(&c.TemporalPort, "temporal-port", 7233, "embedded Temporal frontend port (0 picks a free port)")
	fs.StringVar(&c.TemporalAddress, "temporal-address", "", "host:port of an existing Temporal cluster; empty runs the embedded server")
	fs.StringVar(&c.TemporalNamespace, "temporal-namespace", baocun.DefaultNamespace, "Temporal namespace")
	fs.BoolVar(&c.TemporalTLS, "temporal-tls", false, "use TLS to the Temporal cluster (implied by the other -temporal-tls-* flags)")
	fs.StringVar(&c.TemporalTLSCert, "temporal-tls-cert", "", "client certificate file (PEM) for mTLS to Temporal")
	fs.StringVar(&c.TemporalTLSKey, "temporal-tls-key", "", "client key file (PEM) for mTLS to Temporal")
	fs.StringVar(&c.TemporalTLSCA, "temporal-tls-ca", "", "CA certificate file (PEM) that signed the Temporal server's certificate")
	fs.StringVar(&c.TemporalTLSServerName, "temporal-tls-server-name", "", "server name to verify on the Temporal server's certificate")
	fs.StringVar(&c.TemporalAPIKey, "temporal-api-key", "", "API key for the Temporal cluster (prefer BAOCUN_TEMPORAL_API_KEY)")
	fs.BoolVar(&c.TemporalInsecure, "temporal-insecure", false, "allow plain text to a Temporal cluster that is not on loopback: anyone on the path can read and forge its traffic")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "how long to wait for the database and Temporal at start")
}

func (c *serveConfig) embedded() bool { return c.TemporalAddress == "" }

func (c *serveConfig) validate() error {
	if err := c.validateTemporalClient("serve"); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return &usageError{fmt.Sprintf("serve: --http %q: want host:port (%v)", c.HTTP, err)}
	}
	if c.WorkflowCache < 1 {
		return &usageError{fmt.Sprintf("serve: --workflow-cache %d: at least 1", c.WorkflowCache)}
	}
	if err := checkHistoryCache("serve", c.HistoryCache); err != nil {
		return err
	}
	if c.historyCacheGiven && !c.embedded() {
		return &usageError{"serve: --history-cache sizes the embedded Temporal server: not with --temporal-address (size the cluster's history service there)"}
	}
	if _, err := parseMemoryLimit("serve", c.MemoryLimit); err != nil {
		return err
	}
	if _, err := c.maxFileSize(); err != nil {
		return err
	}
	if _, err := c.filesQuota(); err != nil {
		return err
	}
	if strings.Contains(c.Files, "://") && !c.filesInBucket() {
		return &usageError{fmt.Sprintf("serve: --files %q: a directory, or a bucket as http(s)://HOST[:PORT]/BUCKET[/PREFIX]", blob.Redact(c.Files))}
	}
	if c.FilesInsecure && !c.filesInBucket() {
		return &usageError{"serve: --files-insecure is for an S3 bucket over http (--files http://…)"}
	}
	if c.TemporalRetention < 24*time.Hour {
		return &usageError{fmt.Sprintf("serve: --temporal-retention %s: at least 24h", c.TemporalRetention)}
	}
	if err := checkTemporalSync("serve", c.TemporalSync); err != nil {
		return err
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return &usageError{"serve: --log-level: " + err.Error()}
	}
	for _, p := range c.trustedProxies() {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return &usageError{fmt.Sprintf("serve: --trusted-proxies: %q is neither an address nor a CIDR", p)}
			}
		}
	}
	if _, err := parseLevel(c.TemporalLogLevel); err != nil {
		return &usageError{"serve: --temporal-log-level: " + err.Error()}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return &usageError{fmt.Sprintf("serve: --log-format %q: want text or json", c.LogFormat)}
	}
	if c.HSTS < 0 {
		return &usageError{fmt.Sprintf("serve: --hsts %d: want seconds, 0 or more", c.HSTS)}
	}
	if err := c.notifyConfig.validate(); err != nil {
		return err
	}
	if c.MetricsHTTP != "" {
		if _, _, err := net.SplitHostPort(c.MetricsHTTP); err != nil {
			return &usageError{fmt.Sprintf("serve: --metrics-http %q: want host:port (%v)", c.MetricsHTTP, err)}
		}
	}
	if c.TemporalUI != "" {
		if !c.embedded() {
			return &usageError{"serve: --temporal-ui reads the embedded Temporal server: not with --temporal-address (run the cluster's own UI there)"}
		}
		if err := temporalserver.CheckUIAddress(c.TemporalUI); err != nil {
			return &usageError{fmt.Sprintf("serve: --temporal-ui %q: %v", c.TemporalUI, err)}
		}
	}
	return nil
}

// validateTemporalClient checks the data dir and temporalClientFlags for command.
func (c *serveConfig) validateTemporalClient(command string) error {
	if c.DataDir == "" {
		return &usageError{command + ": --data-dir must not be empty"}
	}
	if c.TemporalPort < 0 || c.TemporalPort > 65535 {
		return &usageError{fmt.Sprintf("%s: --temporal-port %d: want 0–65535", command, c.TemporalPort)}
	}
	if c.TemporalNamespace == "" {
		return &usageError{command + ": --temporal-namespace must not be empty"}
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		return &usageError{command + ": --temporal-tls-cert and --temporal-tls-key go together"}
	}
	if c.embedded() && (c.TemporalTLS || c.TemporalTLSCert != "" || c.TemporalTLSCA != "" || c.TemporalAPIKey != "" || c.TemporalInsecure) {
		return &usageError{command + ": TLS, API-key and --temporal-insecure flags need --temporal-address (the embedded server uses its own certificates)"}
	}
	if !c.embedded() {
		host, _, err := net.SplitHostPort(c.TemporalAddress)
		if err != nil {
			return &usageError{fmt.Sprintf("%s: --temporal-address %q: want host:port (%v)", command, c.TemporalAddress, err)}
		}
		if !c.temporalTLS() && !c.TemporalInsecure && !isLoopback(host) {
			return &usageError{fmt.Sprintf("%s: --temporal-address %s is not on loopback: give --temporal-tls-ca (and a client certificate) or, knowing anyone on the path can read and forge the traffic, --temporal-insecure", command, c.TemporalAddress)}
		}
	}
	return nil
}

// temporalTLS reports whether any TLS flag for an external cluster is given.
func (c *serveConfig) temporalTLS() bool {
	return c.TemporalTLS || c.TemporalTLSCert != "" || c.TemporalTLSCA != "" || c.TemporalTLSServerName != "" || c.TemporalAPIKey != ""
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

func newLogger(c *serveConfig, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the service until ctx ends, then shuts down gracefully, in three
// parts: its configuration (the flags and environment, checked before anything is
// touched), its dependencies (claimed, connected, then prepared — nothing is written
// until every input holds — each stopped in reverse whether start-up fails half-way
// or the service is asked to stop), and its start (the HTTP listeners).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	started := time.Now()
	var cfg serveConfig
	fs := newServeFlags(&cfg)
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg.historyCacheGiven, cfg.memoryLimitGiven = flagGiven(fs, "history-cache"), flagGiven(fs, "memory-limit")
	if err := cfg.validate(); err != nil {
		return err
	}
	if cfg.filesInBucket() {
		var err error
		if cfg.filesCredentials, err = blob.Credentials(getenv); err != nil {
			return &usageError{"serve: --files " + blob.Redact(cfg.Files) + ": " + err.Error()}
		}
	}
	cfg.smtpPassword = getenv(EnvSMTPPassword)
	log := newLogger(&cfg, stderr)
	limit, from, restore := setMemoryLimit(cfg.MemoryLimit, cfg.memoryLimitGiven, getenv)
	defer restore()
	log.Info("soft memory limit", "limit", describeMemoryLimit(limit), "from", from)
	d := &deps{cfg: &cfg, log: log, started: started}
	defer d.stop()
	if err := d.claim(); err != nil {
		return err
	}
	if err := d.connect(ctx); err != nil {
		return err
	}
	if err := d.prepare(ctx, getenv, stdout); err != nil {
		return err
	}
	return d.serve(ctx, stdout)
}

// deps are what serve runs on, and how to stop what it started.
type deps struct {
	cfg     *serveConfig
	log     *slog.Logger
	started time.Time
	stops   []func() // run in reverse order

	// claim's: the files, the listeners and the keys, before anything is written.
	dsn, temporalDB string
	ln, metricsLn   net.Listener
	uiLn            net.Listener // --temporal-ui's
	auditKey        ed25519.PrivateKey
	stepKey         *workflows.StepKey
	certs           *temporalserver.Certificates

	// connect's: the Temporal server or cluster, the database and the evidence store.
	files   blob.Store
	metrics *metrics
	opts    client.Options
	address string // Temporal's frontend
	tc      client.Client
	db      *sqldb.DB
	anchor  *sqldb.FileAnchor

	// prepare's: what the API and the worker use.
	signIn       string
	enforcer     *policy.Enforcer
	auditLog     *sqldb.AuditLog
	engine       baocun.Engine
	workerFailed atomic.Pointer[error]
}

// stop stops everything started, last first.
func (d *deps) stop() {
	for i := len(d.stops) - 1; i >= 0; i-- {
		d.stops[i]()
	}
}

// claim checks the data dir's files, claims the ports and reads existing keys, so a
// busy port or a bad key fails a first start without leaving a half-made data dir.
func (d *deps) claim() error {
	cfg := d.cfg
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	d.dsn = cfg.Database
	if d.dsn == "" {
		d.dsn = "sqlite://" + filepath.Join(cfg.DataDir, "baocun.db")
	}
	d.temporalDB = filepath.Join(cfg.DataDir, "temporal.db")
	// Refuse a file that is not SQLite before anything is opened or created.
	if path, ok := strings.CutPrefix(d.dsn, "sqlite://"); ok {
		if err := checkSQLiteFile(path); err != nil {
			return err
		}
	}
	if cfg.embedded() {
		if err := checkSQLiteFile(d.temporalDB); err != nil {
			return err
		}
	}
	var err error
	if d.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return fmt.Errorf("--http %s: %w", cfg.HTTP, err)
	}
	d.stops = append(d.stops, func() { d.ln.Close() })
	if cfg.MetricsHTTP != "" {
		if d.metricsLn, err = net.Listen("tcp", cfg.MetricsHTTP); err != nil {
			return fmt.Errorf("--metrics-http %s: %w", cfg.MetricsHTTP, err)
		}
		d.stops = append(d.stops, func() { d.metricsLn.Close() })
	}
	if cfg.TemporalUI != "" {
		if d.uiLn, err = net.Listen("tcp", cfg.TemporalUI); err != nil {
			return fmt.Errorf("--temporal-ui %s: %w", cfg.TemporalUI, err)
		}
		d.stops = append(d.stops, func() { d.uiLn.Close() })
	}
	if cfg.embedded() {
		if err := temporalserver.CheckPort("127.0.0.1", cfg.TemporalPort); err != nil {
			return err
		}
	}
	if d.auditKey, err = sqldb.ReadAuditPrivateKey(cfg.auditKeyPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if d.stepKey, err = workflows.ReadStepKey(cfg.stepKeyPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if cfg.embedded() {
		if d.certs, err = temporalserver.ReadCertificates(cfg.tlsDir()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// connect reaches an external Temporal cluster and an evidence bucket (both checked
// before the database is touched), opens the database and checks its audit key and
// anchor, then starts the embedded Temporal server when there is no cluster. Nothing
// is written yet.
func (d *deps) connect(ctx context.Context) error {
	cfg, log := d.cfg, d.log
	connectCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	d.metrics = newMetrics()
	d.opts = client.Options{
		Namespace:      cfg.TemporalNamespace,
		Logger:         sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		MetricsHandler: d.metrics.temporal,
		Identity:       identity(),
	}
	if err := cfg.temporalSecurity(&d.opts); err != nil {
		return err
	}
	dial := func(connectCtx context.Context, address string) error {
		d.opts.HostPort = address
		tc, err := client.DialContext(connectCtx, d.opts)
		if err != nil {
			return fmt.Errorf("temporal %s: cannot connect within %s: %v", address, cfg.ConnectTimeout, errors.Unwrap(err))
		}
		d.tc, d.address = tc, address
		d.stops = append(d.stops, tc.Close)
		return checkNamespace(connectCtx, tc, cfg)
	}
	if !cfg.embedded() {
		if err := dial(connectCtx, cfg.TemporalAddress); err != nil {
			return err
		}
	}
	var err error
	if d.files, err = cfg.openFiles(connectCtx); err != nil { // a bucket is checked to exist, and nothing is written
		return err
	}
	log.Info("evidence files", "store", fmt.Sprint(d.files))
	if d.db, err = sqldb.Open(connectCtx, d.dsn); err != nil {
		return err
	}
	d.stops = append(d.stops, func() { d.db.Close() })
	log.Info("database ready", "database", d.db.Name(), "schema_version", sqldb.SchemaVersion())
	if err := checkAuditKey(connectCtx, d.db, cfg.auditKeyPath(), d.auditKey); err != nil {
		return err
	}
	if d.anchor, err = checkAuditAnchor(connectCtx, d.db, cfg.auditAnchorPath(), d.auditKey, log); err != nil {
		return err
	}
	if !cfg.embedded() {
		return nil
	}
	if d.certs == nil {
		if d.certs, err = temporalserver.CreateCertificates(cfg.tlsDir()); err != nil {
			return err
		}
	}
	if d.opts.ConnectionOptions.TLS, err = d.certs.ClientTLS(temporalserver.Service); err != nil {
		return err
	}
	srv, err := temporalserver.Start(ctx, temporalserver.Config{
		DatabasePath: d.temporalDB, Sync: cfg.TemporalSync, Port: cfg.TemporalPort, Namespace: cfg.TemporalNamespace,
		Logger: log, LogLevel: must(parseLevel(cfg.TemporalLogLevel)), TLS: d.certs, HistoryCache: cfg.HistoryCache,
	})
	if err != nil {
		return err
	}
	d.stops = append(d.stops, func() {
		if err := srv.Stop(); err != nil {
			log.Warn("embedded Temporal server stop", "err", err)
		}
	})
	log.Info("embedded Temporal server started", "address", srv.Address(), "file", d.temporalDB, "after", since(d.started))
	// The wait for the embedded server is counted from its start, not from ours: on a
	// busy machine its start alone can take the whole --connect-timeout (CI saw 10.2 s).
	dialCtx, cancelDial := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancelDial()
	return dial(dialCtx, srv.Address())
}

// prepare writes what the service needs (every input holds: only now is anything
// written): the anchor's lock, the policy, the first admin, the keys; then starts
// the signing client, the worker and the periodic checks.
func (d *deps) prepare(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, log, db := d.cfg, d.log, d.db
	if err := d.anchor.Lock(); err != nil {
		return err
	}
	d.stops = append(d.stops, func() { d.anchor.Close() })
	if err := preparePolicy(ctx, db); err != nil {
		return err
	}
	var err error
	if d.signIn, err = bootstrapAdmin(ctx, db, getenv); err != nil {
		return err
	}
	// Shown at once: a generated password must not be lost to a later failure.
	fmt.Fprintf(stdout, "%s\n", d.signIn)
	if d.enforcer, err = policy.New(ctx, db); err != nil {
		return err
	}
	if d.auditKey == nil { // a database without checkpoints: checkAuditKey refused the others
		if d.auditKey, err = sqldb.LoadOrCreateAuditKey(cfg.auditKeyPath()); err != nil {
			return err
		}
	}
	d.auditLog = sqldb.NewAuditLog(db, d.auditKey, sqldb.AuditOptions{Logger: log, Anchor: d.anchor})
	d.stops = append(d.stops, func() { d.auditLog.Close() })
	if d.stepKey == nil {
		if d.stepKey, err = workflows.CreateStepKey(cfg.stepKeyPath()); err != nil {
			return err
		}
	}
	// The API's and the worker's client: it signs every step it sends.
	signed, err := client.NewClientFromExisting(d.tc, client.Options{
		Namespace: d.opts.Namespace, Logger: d.opts.Logger, MetricsHandler: d.opts.MetricsHandler, Identity: d.opts.Identity,
		Interceptors: []interceptor.ClientInterceptor{workflows.SigningInterceptor(d.stepKey)},
	})
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	d.stops = append(d.stops, signed.Close)
	security := newSecurityEvents(d.auditLog, log, d.metrics.registry)
	d.stops = append(d.stops, security.close) // after the worker stops, before the audit log closes

	w := newWorker(signed, cfg.WorkflowCache, worker.Options{
		OnFatalError: func(err error) {
			d.workerFailed.Store(&err)
			log.Error("worker stopped", "err", err)
		},
		WorkerStopTimeout: cfg.ShutdownTimeout,
	}, &activities.Activities{Store: db}, d.stepKey, security.record)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %q: %w", baocun.TaskQueue, err)
	}
	d.stops = append(d.stops, w.Stop)
	d.engine = temporalclient.New(signed, db)
	resumeCycles(ctx, db, d.engine, d.auditLog, log, time.Now(), "at start-up")
	d.stops = append(d.stops, every(resumeCyclesEvery, func(ctx context.Context) {
		resumeCycles(ctx, db, d.engine, d.auditLog, log, time.Now().Add(-web.LaunchGrace), "by the periodic check")
	}))
	prune := func(ctx context.Context) {
		n, err := db.PruneSignIns(ctx, time.Now())
		if err != nil {
			log.Warn("prune sign-ins", "deleted", n, "err", err)
		} else if n > 0 {
			log.Info("pruned sign-ins", "deleted", n)
		}
	}
	pctx, cancelPrune := context.WithTimeout(ctx, time.Minute)
	prune(pctx)
	cancelPrune()
	d.stops = append(d.stops, every(pruneSignInsEvery, prune))
	d.stops = append(d.stops, every(watchDisputesEvery, func(ctx context.Context) {
		if n, err := db.WatchDisputes(ctx, time.Now()); err != nil {
			log.Warn("remind and escalate check-in disputes", "recorded", n, "err", err)
		}
	}))
	stopNotify, err := d.startNotify()
	if err != nil {
		return err
	}
	d.stops = append(d.stops, stopNotify)
	return nil
}

// serve starts the HTTP listeners on the API, the UI and the metrics, says where,
// and runs until ctx ends or a listener fails.
func (d *deps) serve(ctx context.Context, stdout io.Writer) error {
	cfg, log, tc := d.cfg, d.log, d.tc
	maxFile, _ := cfg.maxFileSize() // checked with the flags
	quota, _ := cfg.filesQuota()
	handler := web.NewServer(web.Deps{
		Logger:           log,
		Registry:         d.metrics.registry,
		TrustedProxies:   cfg.trustedProxies(),
		HSTS:             time.Duration(cfg.HSTS) * time.Second,
		MetricsElsewhere: d.metricsLn != nil,
		Store:            d.db,
		Authorizer:       d.enforcer,
		Audit:            d.auditLog,
		Engine:           d.engine,
		Files:            d.files,
		MaxFileSize:      maxFile,
		FilesQuota:       quota,
		PublicPublicity:  cfg.PublicPublicity,
		Webhooks:         cfg.webhookPolicy(),
		Checks: []web.Check{
			{Name: "database", Func: d.db.Ping},
			{Name: "temporal", Func: func(ctx context.Context) error {
				_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
				return err
			}},
			{Name: "worker", Func: func(ctx context.Context) error {
				if e := d.workerFailed.Load(); e != nil {
					return fmt.Errorf("worker stopped: %w", *e)
				}
				return checkPolling(ctx, tc, d.opts.Identity)
			}},
			auditAnchorCheck(d.auditLog, d.metrics.registry),
		},
	})
	httpDone := make(chan error, 3)
	serveOn := func(l net.Listener, h http.Handler) {
		hs := web.NewHTTPServer(h)
		go func() { httpDone <- hs.Serve(l) }()
		d.stops = append(d.stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				log.Warn("http shutdown", "address", l.Addr().String(), "err", err)
			}
		})
	}
	serveOn(d.ln, handler)
	metricsURL := "http://" + d.ln.Addr().String() + "/metrics"
	if d.metricsLn != nil {
		serveOn(d.metricsLn, web.MetricsHandler(d.metrics.registry))
		metricsURL = "http://" + d.metricsLn.Addr().String() + "/metrics"
	}
	if d.uiLn != nil {
		ui, err := temporalserver.NewUI(temporalserver.UIConfig{Frontend: d.address, Namespace: cfg.TemporalNamespace, TLS: d.certs})
		if err != nil {
			return err
		}
		serveOn(d.uiLn, ui)
	}

	url := "http://" + d.ln.Addr().String() + "/"
	log.Info("serving", "url", url, "temporal", d.address, "namespace", cfg.TemporalNamespace, "started_in", since(d.started))
	fmt.Fprintf(stdout, "Baocun 部门包村 is serving at %s\n", url)
	if cfg.embedded() {
		fmt.Fprintf(stdout, "  Temporal (embedded): %s, namespace %s, file %s\n", d.address, cfg.TemporalNamespace, d.temporalDB)
		cert, key := d.certs.ClientFiles(temporalserver.Operator)
		fmt.Fprintf(stdout, "  只读运维 Read-only for operators: temporal workflow list --address %s --namespace %s --tls-ca-path %s --tls-cert-path %s --tls-key-path %s\n",
			d.address, cfg.TemporalNamespace, d.certs.CA(), cert, key)
		if d.uiLn != nil {
			fmt.Fprintf(stdout, "  Temporal UI (只读 read-only): http://%s/namespaces/%s/workflows\n", d.uiLn.Addr(), cfg.TemporalNamespace)
		}
	} else {
		fmt.Fprintf(stdout, "  Temporal: %s, namespace %s\n", d.address, cfg.TemporalNamespace)
	}
	fmt.Fprintf(stdout, "  Database: %s\n", d.db.Name())
	fmt.Fprintf(stdout, "  审计公钥 Audit public key: %s (baocun audit verify --data-dir %s)\n", sqldb.PublicKeyPath(cfg.auditKeyPath()), cfg.DataDir)
	fmt.Fprintf(stdout, "  审计锚定 Audit anchor: %s\n", d.anchor.Name())
	fmt.Fprintf(stdout, "  Health: %shealthz  Readiness: %sreadyz  Metrics: %s\n", url, url, metricsURL)
	fmt.Fprintf(stdout, "  %s\n", d.signIn)
	fmt.Fprintf(stdout, "  Ctrl-C 停止 stops the service.\n")

	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
		return nil
	case err := <-httpDone:
		return fmt.Errorf("http server: %w", err)
	}
}

// pruneSignInsEvery is how often serve forgets expired tokens and the sign-in
// limits' spent rows. Nothing reads them (every query filters by time), so they only
// cost space: a flood of sign-ins from many networks leaves a row or two each.
const pruneSignInsEvery = 10 * time.Minute

// watchDisputesEvery is how often serve reminds and escalates the tasks no workflow
// watches (a village's dispute of check-ins): a minute late at most.
const watchDisputesEvery = time.Minute

// resumeCyclesEvery is how often serve looks for a running cycle whose workflow was
// never started: another instance died between a launch's write and its start (or
// could not mark the cycle failed when the engine refused it). Only cycles launched
// web.LaunchGrace before are looked at, so a launch still starting is left to do it.
const resumeCyclesEvery = 5 * time.Minute

// every runs fn every d, off every request's path, each run bounded by a minute, and
// returns its stop. fn logs its own failures: they are tried again at the next tick.
func every(d time.Duration, fn func(ctx context.Context)) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			fn(ctx)
			cancel()
		}
	}()
	return func() { close(done); <-stopped }
}

// resumeCycles starts the workflow of every running cycle launched before
// launchedBefore that has none (a crash, a backup's cut or the engine's refusal
// between a launch's write and its workflow's start) and audits each, saying when.
// A failure is logged, not fatal: the cycles stay as they are until the next check.
func resumeCycles(ctx context.Context, db *sqldb.DB, engine baocun.Engine, audit *sqldb.AuditLog, log *slog.Logger, launchedBefore time.Time, when string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	started, lost, err := web.ResumeCycles(ctx, db, engine, launchedBefore)
	for _, id := range lost {
		log.Error("a running cycle's workflow ran once and is gone (failed or terminated, then past retention): not started again; cancel it (POST /api/v1/cycles/{id}/cancel records it cancelled) or restore a backup", "cycle", id)
	}
	for _, id := range started {
		log.Warn("a running cycle had no workflow: started it", "cycle", id, "when", when)
		summary, _ := json.Marshal(map[string]string{"reason": "the cycle was stored and its workflow was not running: started " + when})
		e := baocun.AuditEntry{Actor: "system", Action: "cycle.resumed", Resource: fmt.Sprintf("cycles/%d", id), CycleID: fmt.Sprint(id),
			Summary: string(summary)}
		if err := audit.Append(ctx, &e); err != nil {
			log.Error("audit cycle.resumed", "cycle", id, "err", err)
		}
	}
	if err != nil {
		log.Error("resume cycles", "err", err)
	}
}

// prepareDataDir creates the data directory and proves it writable.
func prepareDataDir(dir string) error {
	if err := checkRestored(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data dir %s: cannot create it: %v", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s: not writable: %v", dir, unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkSQLiteFile refuses a file that exists, is not empty and lacks SQLite's header.
func checkSQLiteFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("database file %s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("database file %s: %v", path, unwrapPath(err))
	}
	if st.IsDir() {
		return fmt.Errorf("database file %s is a directory", path)
	}
	header := make([]byte, 16)
	n, _ := io.ReadFull(f, header)
	if n == 0 {
		return nil // an empty file is a new SQLite database
	}
	if string(header[:n]) != "SQLite format 3\x00" {
		return fmt.Errorf("database file %s is not a SQLite database (left untouched)", path)
	}
	return nil
}

// temporalSecurity adds TLS and API-key credentials for an external cluster.
func (c *serveConfig) temporalSecurity(opts *client.Options) error {
	if c.TemporalAPIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.TemporalAPIKey)
	}
	if !c.temporalTLS() {
		return nil
	}
	t, err := temporalserver.ClientTLS(c.TemporalTLSCA, c.TemporalTLSCert, c.TemporalTLSKey, c.TemporalTLSServerName)
	if err != nil {
		return err
	}
	opts.ConnectionOptions.TLS = t
	return nil
}

// checkNamespace makes sure the namespace exists. On the embedded server it also
// brings the retention to the configured value; an external cluster's namespace
// belongs to its operators and is only checked.
func checkNamespace(ctx context.Context, tc client.Client, cfg *serveConfig) error {
	svc := tc.WorkflowService()
	desc, err := svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.TemporalNamespace})
	if err != nil {
		return fmt.Errorf("temporal namespace %q: %v", cfg.TemporalNamespace, err)
	}
	if !cfg.embedded() || desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == cfg.TemporalRetention {
		return nil
	}
	_, err = svc.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: cfg.TemporalNamespace,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(cfg.TemporalRetention)},
	})
	if err != nil {
		return fmt.Errorf("temporal namespace %q: set retention %s: %v", cfg.TemporalNamespace, cfg.TemporalRetention, err)
	}
	return nil
}

// checkPolling reports whether this process's worker has polled the task queue
// recently. Long polls last about a minute, hence the generous window.
func checkPolling(ctx context.Context, tc client.Client, identity string) error {
	resp, err := tc.DescribeTaskQueue(ctx, baocun.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	for _, p := range resp.GetPollers() {
		if p.GetIdentity() == identity && time.Since(p.GetLastAccessTime().AsTime()) < 3*time.Minute {
			return nil
		}
	}
	return fmt.Errorf("no poller from %s on task queue %q yet", identity, baocun.TaskQueue)
}

func identity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("baocun@%s:%d", host, os.Getpid())
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// defaultWorkflowCache is the SDK's own default. A smaller cache was measured and
// not kept: at 20,000 pairings a cache of 2,000 made the launch 358 s instead of
// 232 s (workflows pushed out replay their histories) and left the peak where it was
// (2,898 MB against 2,948 MB), which is the embedded server's, not the worker's.
const defaultWorkflowCache = 10000

// newWorker is the worker of Baocun's task queue with every workflow and activity
// registered, every Update's step signature checked with key (refusals reported to
// refused), and the process's workflow cache set to cache workflows (the SDK keeps
// one cache for every worker of a process).
func newWorker(tc client.Client, cache int, opts worker.Options, acts *activities.Activities, key *workflows.StepKey, refused func(workflows.Refusal)) worker.Worker {
	worker.SetStickyWorkflowCacheSize(cache)
	opts.Interceptors = append(opts.Interceptors, workflows.GuardInterceptor(key, refused))
	w := worker.New(tc, baocun.TaskQueue, opts)
	workflows.Register(w)
	activities.Register(w, acts)
	return w
}
