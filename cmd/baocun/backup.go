package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"

	"baocun/keyfile"
	"baocun/sqldb"
	"baocun/workflows"
)

// A backup is one tar file: manifest.json first, then every other member, each listed
// in the manifest with its size, SHA-256 and mode. Restore trusts nothing in it that
// the manifest does not vouch for.
const (
	backupFormat        = "baocun-backup"
	backupFormatVersion = 1
	manifestName        = "manifest.json"

	temporalDBName = "temporal.db"
	appDBName      = "baocun.db"
	// The audit anchor's default place in the data dir (slash-separated, as a tar
	// name), which is where a restore puts it.
	auditAnchorName = sqldb.AuditAnchorDir + "/" + sqldb.AuditAnchorFile

	// maxCutAttempts bounds how often the two snapshots are taken again because
	// baocun.db changed between them. Each attempt holds the window for well under a
	// millisecond, so only a database written without pause runs out of them.
	maxCutAttempts = 1000
)

type manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	SourceDataDir string    `json:"source_data_dir"`
	// SchemaVersion is the migration baocun.db stood at (0 without one): read from the
	// snapshot rather than sqldb.SchemaVersion(), because the binary taking the backup
	// need not be the one that wrote the database.
	SchemaVersion int              `json:"schema_version"`
	Members       []manifestMember `json:"members"`
}

type manifestMember struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   string `json:"mode"`
	// Source is where a file named by a flag outside the data dir was read; the archive
	// keeps it under its default name.
	Source string `json:"source,omitempty"`
}

// backupCommand is `baocun backup`: an online snapshot of a data dir, taken while
// `serve` runs, into one archive that `baocun restore` lays down again.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	dataDir := flags.String("data-dir", "./data", "数据目录 the data dir to back up (serve may be running on it)")
	to := flags.String("to", "", "备份文件 the archive to write (a tar file, mode 0600: it holds the keys); must not exist")
	database := flags.String("database", "", "application database: sqlite://PATH (default sqlite://<data-dir>/baocun.db); PostgreSQL is backed up with pg_dump")
	auditKey := flags.String("audit-key", "", "the audit signing key serve uses, when outside the data dir (stored as "+sqldb.AuditKeyFile+")")
	stepKey := flags.String("step-key", "", "the step-signing key serve uses, when outside the data dir (stored as "+workflows.StepKeyFile+")")
	anchor := flags.String("audit-anchor", "", "the audit anchor file (default <data-dir>/"+auditAnchorName+")")
	if err := parseFlags(flags, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *to == "" {
		return &usageError{"backup: --to PATH is required: the archive to write"}
	}
	if *dataDir == "" {
		return &usageError{"backup: --data-dir must not be empty"}
	}
	appDB := filepath.Join(*dataDir, appDBName)
	if *database != "" {
		switch p, ok := strings.CutPrefix(*database, "sqlite://"); {
		case strings.HasPrefix(*database, "postgres://"), strings.HasPrefix(*database, "postgresql://"):
			return &usageError{fmt.Sprintf("backup: --database %s is PostgreSQL: back it up with pg_dump, and Temporal with its own backup (see README)", redactDSN(*database))}
		case !ok || p == "":
			return &usageError{fmt.Sprintf("backup: --database %q: want sqlite://PATH", *database)}
		default:
			appDB = p
		}
	}
	b := &backup{dataDir: *dataDir, to: *to, temporalDB: filepath.Join(*dataDir, temporalDBName), appDB: appDB,
		anchor: *anchor, named: map[string]string{}}
	if b.anchor == "" {
		b.anchor = sqldb.AuditAnchorPath(*dataDir)
	}
	if err := b.check(); err != nil {
		return err
	}
	for _, k := range []struct{ flag, path, name string }{
		{"--audit-key", *auditKey, sqldb.AuditKeyFile},
		{"--step-key", *stepKey, workflows.StepKeyFile},
	} {
		if err := b.nameOutside(k.flag, k.path, k.name); err != nil {
			return err
		}
	}
	if *auditKey != "" {
		if pub := sqldb.PublicKeyPath(*auditKey); fileExists(pub) {
			if err := b.nameOutside("--audit-key", pub, sqldb.AuditPublicKeyFile); err != nil {
				return err
			}
		}
	}
	return b.run(ctx, stdout)
}

// backup is one run of `baocun backup`.
type backup struct {
	dataDir, to       string
	temporalDB, appDB string // "" once found absent
	anchor            string
	named             map[string]string // archive name → a file outside the data dir
	staging           string
	members           []stagedMember
	schemaVersion     int
	attempts          int          // pins of the two snapshots until nothing was written between them
	betweenPins       func() error // runs between the two pins of each attempt: a test's writes
}

type stagedMember struct {
	name, source string
	mode         fs.FileMode
	modTime      time.Time
}

// check refuses, before anything is read or written, what cannot give a backup.
func (b *backup) check() error {
	st, err := os.Stat(b.dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("backup: data dir %s does not exist", b.dataDir)
	case err != nil:
		return fmt.Errorf("backup: data dir %s: %v", b.dataDir, unwrapPath(err))
	case !st.IsDir():
		return fmt.Errorf("backup: data dir %s is not a directory", b.dataDir)
	}
	if err := checkRestored(b.dataDir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(b.to); err == nil {
		return fmt.Errorf("backup: %s exists: a backup never overwrites a file, name a new one", b.to)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: --to %s: %v", b.to, unwrapPath(err))
	}
	if st, err := os.Stat(filepath.Dir(b.to)); err != nil || !st.IsDir() {
		return fmt.Errorf("backup: --to %s: directory %s does not exist", b.to, filepath.Dir(b.to))
	}
	// A backup inside the data dir would be in every later backup of it.
	if inside(b.dataDir, b.to) {
		return fmt.Errorf("backup: --to %s is inside the data dir %s: write the backup elsewhere", b.to, b.dataDir)
	}
	for _, p := range []*string{&b.temporalDB, &b.appDB} {
		if err := checkSQLiteFile(*p); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if !fileExists(*p) {
			*p = ""
		}
	}
	if b.temporalDB == "" && b.appDB == "" {
		return fmt.Errorf("backup: data dir %s holds neither %s nor %s: nothing to back up", b.dataDir, temporalDBName, appDBName)
	}
	return nil
}

// nameOutside stores a file a flag names at the archive's default name for it, when
// it lies outside the data dir: inside, the walk of the data dir takes it as it is.
func (b *backup) nameOutside(flagName, p, name string) error {
	if p == "" || inside(b.dataDir, p) {
		return nil
	}
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("backup: %s %s: not a readable file", flagName, p)
	}
	b.named[name] = p
	return nil
}

func (b *backup) run(ctx context.Context, stdout io.Writer) (err error) {
	b.staging, err = os.MkdirTemp(filepath.Dir(b.to), "."+filepath.Base(b.to)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %v", err)
	}
	defer os.RemoveAll(b.staging)
	if err := b.snapshot(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	skipped, err := b.stageOthers()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m, err := b.manifest()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := b.checkAuditKey(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	sum, size, err := b.writeArchive(m)
	if err != nil {
		return fmt.Errorf("backup: %s: %w", b.to, err)
	}
	names := make([]string, len(m.Members))
	for i, mm := range m.Members {
		names[i] = mm.Name
	}
	fmt.Fprintf(stdout, "备份完成 Backup written: %s (%d bytes, mode 0600, sha256 %s)\n", b.to, size, sum)
	fmt.Fprintf(stdout, "  %d files: %s; %s\n", len(names), strings.Join(names, ", "), describeSchema(m))
	if b.temporalDB != "" && b.appDB != "" {
		fmt.Fprintf(stdout, "  one cut: the audit anchor, then temporal.db, then baocun.db with nothing written to it since temporal.db (attempt %d)\n", b.attempts)
	}
	if len(skipped) > 0 {
		fmt.Fprintf(stdout, "  left out: %s\n", strings.Join(skipped, "; "))
	}
	fmt.Fprintf(stdout, "  恢复 Restore: baocun restore --from %s --data-dir NEW\n", b.to)
	return nil
}

// snapshot takes the audit anchor and the databases as one cut, in the order that
// loses nothing:
//
//  1. the audit anchor first, read once: every checkpoint it lists was committed
//     before it was appended, so is in any baocun.db snapshot taken after it, and
//     serve refuses a database missing a checkpoint its anchor lists. Read any later,
//     it would sit between the two pins below: the file grows without bound, and the
//     window that must see no write to baocun.db would widen with it until no attempt
//     succeeds. An anchor older than the database is only behind, which serve catches
//     up at start.
//  2. then temporal.db. A step's write commits to baocun.db before Temporal records
//     its activity complete, so a Temporal snapshot older than the database's only
//     makes Temporal run again an activity whose write is there already — keyed, it
//     writes nothing twice. The other way round, Temporal could believe done a write
//     the database snapshot lacks.
//  3. then baocun.db. A step whose Update Temporal accepted after its snapshot but
//     whose write committed before baocun.db's would be in the database and unknown to
//     any workflow. So the two are pinned as read transactions, one after the other,
//     and pinned again whenever baocun.db changed in between (PRAGMA data_version):
//     with no write between them, every write in the database snapshot was accepted
//     before the Temporal one began. Only then are the pinned snapshots copied, with
//     SQLite's backup API, which reads through the open transaction (VACUUM INTO opens
//     its own, so would leave the whole Temporal copy's time between the two).
func (b *backup) snapshot(ctx context.Context) error {
	anchor, err := readAnchor(b.anchor)
	if err != nil {
		return err
	}
	c, err := takeCut(ctx, b.temporalDB, b.appDB, b.betweenPins)
	if err != nil {
		return err
	}
	defer c.close()
	b.attempts = c.attempts
	if c.temporal != nil {
		if err := b.stageSnapshot(ctx, c.temporal, temporalDBName); err != nil {
			return err
		}
	}
	if anchor != nil {
		name, source := auditAnchorName, absPath(b.anchor)
		if inside(b.dataDir, b.anchor) {
			name, source = relName(b.dataDir, b.anchor), linkedFrom(b.dataDir, b.anchor)
		}
		if err := b.stageBytes(name, anchor, b.anchor, source); err != nil {
			return err
		}
	}
	if c.app != nil {
		if err := b.stageSnapshot(ctx, c.app, appDBName); err != nil {
			return err
		}
		b.schemaVersion, err = schemaVersionOf(ctx, filepath.Join(b.staging, appDBName))
		if err != nil {
			return err
		}
	}
	return nil
}

// checkAuditKey fails the backup when the archive lacks the key that signed
// baocun.db's last audit checkpoint: restored so, serve would refuse to start (and,
// given another key, the trail could not verify). Serve run with --audit-key elsewhere
// and a backup run without it is how that happens.
func (b *backup) checkAuditKey(ctx context.Context) error {
	if b.appDB == "" {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.staging, appDBName)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_checkpoints'").Scan(&tables); err != nil {
		return fmt.Errorf("snapshot of %s: %v", b.appDB, err)
	}
	if tables == 0 {
		return nil // a database from before the audit trail
	}
	last, ok, err := sqldb.LastCheckpoint(ctx, db)
	if err != nil {
		return fmt.Errorf("snapshot of %s: audit checkpoints: %v", b.appDB, err)
	}
	if !ok {
		return nil
	}
	key, err := sqldb.ReadAuditPrivateKey(filepath.Join(b.staging, sqldb.AuditKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("baocun.db's last audit checkpoint (seq %d) is signed by key %s and the archive would hold no %s: give --audit-key the key serve uses; nothing written",
			last.Seq, last.KeyID, sqldb.AuditKeyFile)
	case err != nil:
		return err
	}
	if id := sqldb.AuditKeyID(key.Public().(ed25519.PublicKey)); id != last.KeyID {
		return fmt.Errorf("baocun.db's last audit checkpoint (seq %d) is signed by key %s, the archive's %s is key %s: give --audit-key the key serve uses; nothing written",
			last.Seq, last.KeyID, sqldb.AuditKeyFile, id)
	}
	return nil
}

// readAnchor reads the anchor up to its last complete line: a line being appended
// as it is read is a checkpoint not yet anchored. An absent anchor is nil.
func readAnchor(p string) ([]byte, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit anchor %s: %v", p, unwrapPath(err))
	}
	return data[:bytes.LastIndexByte(data, '\n')+1], nil
}

// cut holds a read transaction on each database present, opened so that nothing
// was written to baocun.db between the two.
type cut struct {
	temporal, app *snapshotConn
	attempts      int
}

// takeCut opens the read transactions: temporal.db's, then between (when not nil),
// then baocun.db's (either path may be "" for a database the data dir does not have).
func takeCut(ctx context.Context, temporalPath, appPath string, between func() error) (_ *cut, err error) {
	c := &cut{}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if temporalPath != "" {
		if c.temporal, err = openSnapshotConn(ctx, temporalPath); err != nil {
			return nil, err
		}
	}
	if appPath != "" {
		if c.app, err = openSnapshotConn(ctx, appPath); err != nil {
			return nil, err
		}
	}
	for c.attempts = 1; ; c.attempts++ {
		var before, after int64
		if c.temporal != nil && c.app != nil {
			if before, err = c.app.dataVersion(ctx); err != nil {
				return nil, err
			}
		}
		if c.temporal != nil {
			if _, err = c.temporal.begin(ctx); err != nil {
				return nil, err
			}
		}
		if between != nil {
			if err = between(); err != nil {
				return nil, err
			}
		}
		if c.app != nil {
			if after, err = c.app.begin(ctx); err != nil {
				return nil, err
			}
		}
		if c.temporal == nil || c.app == nil || after == before {
			return c, nil
		}
		c.temporal.end()
		c.app.end()
		if c.attempts == maxCutAttempts {
			return nil, fmt.Errorf("%s was written between the snapshots of %s and itself in each of %d attempts: try again when the service is less busy",
				appPath, temporalPath, maxCutAttempts)
		}
	}
}

func (c *cut) close() {
	for _, s := range []*snapshotConn{c.temporal, c.app} {
		if s != nil {
			s.close()
		}
	}
}

// snapshotConn is one read-only connection of its own to a live SQLite file.
type snapshotConn struct {
	path string
	db   *sql.DB
	conn *sql.Conn
	open bool // a read transaction is open
}

func openSnapshotConn(ctx context.Context, p string) (*snapshotConn, error) {
	// mode=ro, never immutable: serve writes the file all along.
	db, err := sql.Open("sqlite", "file:"+p+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %v", p, err)
	}
	return &snapshotConn{path: p, db: db, conn: conn}, nil
}

// dataVersion changes whenever another connection commits to the file.
func (s *snapshotConn) dataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("%s: %v", s.path, err)
	}
	return v, nil
}

// begin opens a read transaction and reads from it, which fixes its snapshot.
func (s *snapshotConn) begin(ctx context.Context) (int64, error) {
	if _, err := s.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return 0, fmt.Errorf("%s: begin: %v", s.path, err)
	}
	s.open = true
	return s.dataVersion(ctx)
}

func (s *snapshotConn) end() {
	if s.open {
		s.conn.ExecContext(context.Background(), "ROLLBACK")
		s.open = false
	}
}

func (s *snapshotConn) close() {
	s.end()
	s.conn.Close()
	s.db.Close()
}

// stageSnapshot copies the snapshot s holds to the staging dir as name, checks it
// whole, and leaves it a single file in rollback-journal mode (serve turns WAL on
// again when it opens it).
func (b *backup) stageSnapshot(ctx context.Context, s *snapshotConn, name string) error {
	dst := filepath.Join(b.staging, name)
	err := s.conn.Raw(func(dc any) error {
		bk, err := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		}).NewBackup(dst)
		if err != nil {
			return err
		}
		if _, err := bk.Step(-1); err != nil {
			bk.Finish()
			return err
		}
		return bk.Finish()
	})
	if err != nil {
		return fmt.Errorf("snapshot of %s: %v", s.path, err)
	}
	if err := checkSnapshot(ctx, dst); err != nil {
		return fmt.Errorf("snapshot of %s: %w", s.path, err)
	}
	st, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if err := os.Chmod(dst, st.Mode().Perm()); err != nil {
		return err
	}
	m := stagedMember{name: name, mode: st.Mode().Perm(), modTime: time.Now()}
	if !inside(b.dataDir, s.path) || relName(b.dataDir, s.path) != name {
		m.source = absPath(s.path)
	}
	b.members = append(b.members, m)
	return nil
}

// checkSnapshot runs PRAGMA integrity_check on a staged copy and takes it out of WAL
// mode, so the archive member is the whole database.
func checkSnapshot(ctx context.Context, p string) error {
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity_check: %v", err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("PRAGMA integrity_check fails (%d problems, first: %s)", len(problems), problems[0])
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return fmt.Errorf("journal_mode: %v", err)
	}
	return nil
}

// schemaVersionOf reads the migration a baocun.db stands at; 0 for one never migrated.
func schemaVersionOf(ctx context.Context, p string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n, v int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'").Scan(&n); err != nil || n == 0 {
		return 0, err
	}
	err = db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// stageOthers copies every other regular file of the data dir, then the files flags
// name outside it, into the staging dir. It leaves out the live databases and what
// SQLite, serve and backup keep beside them; it reports what else it left out.
func (b *backup) stageOthers() (skipped []string, err error) {
	// Taken already, or read only through SQLite: by name under the data dir.
	taken := map[string]bool{temporalDBName: true, appDBName: true}
	for _, m := range b.members {
		taken[m.name] = true
	}
	for _, p := range []string{b.anchor, b.appDB} {
		if p != "" && inside(b.dataDir, p) {
			taken[relName(b.dataDir, p)] = true
		}
	}
	// A name taken, or a directory leading to one (an anchor directory linked to
	// another volume), is not walked.
	holds := func(name string) bool {
		for t := range taken {
			if t == name || strings.HasPrefix(t, name+"/") {
				return true
			}
		}
		return false
	}
	// The walk starts from where a symlinked data dir leads, as serve's files do.
	root, err := filepath.EvalSymlinks(b.dataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %v", b.dataDir, unwrapPath(err))
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		// A key or certificate being written goes to ".<name>.tmp-*" and is renamed
		// or linked into place whole: half of one is no use to a restore.
		half := strings.HasPrefix(base, ".") && strings.Contains(base, ".tmp-")
		if p == root || d.IsDir() {
			if p != root && half {
				return filepath.SkipDir
			}
			return nil
		}
		name := relName(root, p)
		switch {
		case holds(name), half,
			strings.HasSuffix(base, "-wal"), strings.HasSuffix(base, "-shm"), strings.HasSuffix(base, "-journal"),
			strings.HasSuffix(base, ".lock"), strings.HasPrefix(base, ".write-check-"):
			return nil
		case b.named[name] != "":
			skipped = append(skipped, fmt.Sprintf("%s (the archive's %s is %s, as the flag named)", name, name, b.named[name]))
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A file linked from elsewhere — a key on a secrets volume — is archived as
			// the file it points to, as serve reads it: left out, the restored data dir
			// would lack it.
			if target, err := filepath.EvalSymlinks(p); err == nil {
				if st, err := os.Stat(target); err == nil && st.Mode().IsRegular() {
					return b.stageFile(name, target, linkedFrom(root, p))
				}
			}
		}
		if !d.Type().IsRegular() {
			skipped = append(skipped, name+" (not a regular file)")
			return nil
		}
		return b.stageFile(name, p, "")
	})
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %v", b.dataDir, err)
	}
	names := make([]string, 0, len(b.named))
	for name := range b.named {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !taken[name] {
			if err := b.stageFile(name, b.named[name], absPath(b.named[name])); err != nil {
				return nil, err
			}
		}
	}
	return skipped, nil
}

func (b *backup) stageFile(name, src, source string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("%s: %v", src, unwrapPath(err))
	}
	return b.stageBytes(name, data, src, source)
}

// stageBytes writes data to the staging dir as name with src's mode; source, when
// not "", is where the manifest says it came from.
func (b *backup) stageBytes(name string, data []byte, src, source string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %v", src, unwrapPath(err))
	}
	dst := filepath.Join(b.staging, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	b.members = append(b.members, stagedMember{name: name, source: source, mode: st.Mode().Perm(), modTime: st.ModTime()})
	return nil
}

// manifest hashes every staged member.
func (b *backup) manifest() (*manifest, error) {
	m := &manifest{Format: backupFormat, FormatVersion: backupFormatVersion, CreatedAt: time.Now().UTC(),
		SourceDataDir: absPath(b.dataDir), SchemaVersion: b.schemaVersion}
	for _, sm := range b.members {
		f, err := os.Open(filepath.Join(b.staging, filepath.FromSlash(sm.name)))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		m.Members = append(m.Members, manifestMember{Name: sm.name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)),
			Mode: fmt.Sprintf("%04o", sm.mode), Source: sm.source})
	}
	return m, nil
}

// writeArchive writes the tar beside its final name and links it there only when it
// is whole and on disk, so a failed backup leaves no archive and two never clobber
// each other. It returns the archive's SHA-256 and size.
func (b *backup) writeArchive(m *manifest) (string, int64, error) {
	manifestJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp(b.staging, "archive-*") // 0600: the archive holds the keys
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: manifestName, Mode: 0o600, Size: int64(len(manifestJSON)), ModTime: now}); err != nil {
		return "", 0, err
	}
	if _, err := tw.Write(manifestJSON); err != nil {
		return "", 0, err
	}
	for i, sm := range b.members {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: sm.name, Mode: int64(sm.mode), Size: m.Members[i].Size, ModTime: sm.modTime}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", 0, err
		}
		src, err := os.Open(filepath.Join(b.staging, filepath.FromSlash(sm.name)))
		if err != nil {
			return "", 0, err
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return "", 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", 0, err
	}
	if err := f.Sync(); err != nil {
		return "", 0, err
	}
	if err := os.Link(f.Name(), b.to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", 0, errors.New("created by someone else meanwhile; nothing written")
		}
		return "", 0, unwrapPath(err)
	}
	keyfile.SyncDir(filepath.Dir(b.to))
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// restoreCommand is `baocun restore`: it verifies a backup whole before it lays down a
// data dir from it, so a damaged archive creates nothing.
func restoreCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	flags := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := flags.String("from", "", "备份文件 the archive baocun backup wrote")
	dataDir := flags.String("data-dir", "./data", "数据目录 the data dir to create: new, or an empty directory")
	if err := parseFlags(flags, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *from == "" {
		return &usageError{"restore: --from PATH is required: the archive baocun backup wrote"}
	}
	if *dataDir == "" {
		return &usageError{"restore: --data-dir must not be empty"}
	}
	dir := filepath.Clean(*dataDir)
	existed := false
	switch st, err := os.Stat(dir); {
	case err == nil && !st.IsDir():
		return fmt.Errorf("restore: data dir %s is a file, not a directory", dir)
	case err == nil:
		if err := checkRestored(dir); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("restore: data dir %s: %v", dir, unwrapPath(err))
		}
		if len(entries) > 0 {
			return fmt.Errorf("restore: data dir %s is not empty (%d entries, %s first): restore into a new or empty directory", dir, len(entries), entries[0].Name())
		}
		existed = true
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("restore: data dir %s: %v", dir, unwrapPath(err))
	default:
		if st, err := os.Stat(filepath.Dir(dir)); err != nil || !st.IsDir() {
			return fmt.Errorf("restore: data dir %s: directory %s does not exist", dir, filepath.Dir(dir))
		}
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: --from %s: %v", *from, unwrapPath(err))
	}
	defer f.Close()

	// Extract where a rename puts it in place: beside a new data dir, inside an empty
	// one (which may be a mount point, where nothing from outside can be renamed in).
	// There the entries are moved in one by one, so the directory is marked first:
	// a crash part-way would leave a data dir serve could start on with new keys.
	var staging string
	if existed {
		if err := markRestoring(dir); err != nil {
			return fmt.Errorf("restore: data dir %s: %v", dir, unwrapPath(err))
		}
		staging, err = os.MkdirTemp(dir, ".restore-*")
	} else {
		staging, err = os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-*")
	}
	moving := false
	defer func() {
		if !moving {
			os.RemoveAll(staging)
			if existed {
				os.Remove(filepath.Join(dir, restoreMarker))
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("restore: %v", err)
	}
	m, err := extractArchive(f, staging)
	if err != nil {
		return fmt.Errorf("restore: archive %s: %w; nothing restored", *from, err)
	}
	moving = existed // from here a failure leaves the data dir marked incomplete
	if err := place(staging, dir, existed); err != nil {
		if existed {
			return fmt.Errorf("restore: %s: %v; the data dir is incomplete (%s): empty it and restore again", dir, err, restoreMarker)
		}
		return fmt.Errorf("restore: %s: %v", dir, err)
	}
	moving = true

	fmt.Fprintf(stdout, "已恢复 Restored %d files into %s from %s (backup of %s taken %s; %s)\n",
		len(m.Members), dir, *from, m.SourceDataDir, m.CreatedAt.Format(time.RFC3339), describeSchema(m))
	for _, mm := range m.Members {
		if mm.Source != "" {
			fmt.Fprintf(stdout, "  %s was %s: it is now in the data dir under its default name\n", mm.Name, mm.Source)
		}
	}
	command := "serve"
	if !m.has(appDBName) {
		command = "temporal" // or serve with its --database
	}
	fmt.Fprintf(stdout, "  启动 Start: baocun %s --data-dir %s\n", command, dir)
	return nil
}

func (m *manifest) has(name string) bool {
	return slices.ContainsFunc(m.Members, func(mm manifestMember) bool { return mm.Name == name })
}

func describeSchema(m *manifest) string {
	if !m.has(appDBName) {
		return "no baocun.db"
	}
	return fmt.Sprintf("baocun.db schema version %d", m.SchemaVersion)
}

// place moves the verified staging dir into dir and syncs the directories, so the
// restored data dir is on disk when restore says so. Into an existing dir it moves the
// entries one by one, and only then removes the marker markRestoring left.
func place(staging, dir string, existed bool) error {
	if !existed {
		// The staging dir keeps MkdirTemp's 0700: the keys live in it.
		if err := os.Rename(staging, dir); err != nil {
			return err
		}
		keyfile.SyncDir(filepath.Dir(dir))
		return nil
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(staging); err != nil {
		return err
	}
	// The moves on disk before the marker's removal is.
	if err := keyfile.SyncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, restoreMarker)); err != nil {
		return err
	}
	return keyfile.SyncDir(dir)
}

// restoreMarker is in a data dir while a restore moves its entries in; serve, baocun
// temporal, backup and restore refuse a data dir holding it.
const restoreMarker = ".restore-incomplete"

// markRestoring writes the marker into dir, on disk before anything else is.
func markRestoring(dir string) error {
	p := filepath.Join(dir, restoreMarker)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString("baocun restore is laying this data dir down; if this file remains, it did not finish: empty the directory and restore again\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = keyfile.SyncDir(dir)
	}
	if err != nil {
		os.Remove(p)
	}
	return err
}

// checkRestored refuses a data dir a restore did not finish laying down.
func checkRestored(dir string) error {
	_, err := os.Lstat(filepath.Join(dir, restoreMarker))
	switch {
	case err == nil:
		return fmt.Errorf("data dir %s: a restore into it did not finish (%s is there): empty it and run baocun restore again", dir, restoreMarker)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("data dir %s: %v", dir, unwrapPath(err))
	}
}

// extractArchive writes every member of the archive into dst and checks it against
// the manifest; the first thing wrong is the error.
func extractArchive(r io.Reader, dst string) (*manifest, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err == io.EOF {
		return nil, errors.New("empty: no manifest.json")
	}
	if err != nil {
		return nil, fmt.Errorf("not a tar archive (%v)", err)
	}
	if hdr.Name != manifestName {
		return nil, fmt.Errorf("first member is %q, not %s: not a Baocun backup", hdr.Name, manifestName)
	}
	if hdr.Size > 64<<20 {
		return nil, fmt.Errorf("%s of %d bytes: not a Baocun backup", manifestName, hdr.Size)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (truncated?)", manifestName, err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", manifestName, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%s: format %q: not a Baocun backup", manifestName, m.Format)
	}
	if m.FormatVersion != backupFormatVersion {
		return nil, fmt.Errorf("%s: unknown format version %d (this baocun reads version %d)", manifestName, m.FormatVersion, backupFormatVersion)
	}
	if m.SchemaVersion > sqldb.SchemaVersion() {
		return nil, fmt.Errorf("baocun.db has schema version %d, newer than this baocun's %d: restore with a newer baocun", m.SchemaVersion, sqldb.SchemaVersion())
	}
	want := map[string]manifestMember{}
	for _, mm := range m.Members {
		if err := checkMemberName(mm.Name); err != nil {
			return nil, fmt.Errorf("%s lists %w", manifestName, err)
		}
		if _, dup := want[mm.Name]; dup {
			return nil, fmt.Errorf("%s lists %q twice", manifestName, mm.Name)
		}
		if _, err := parseMode(mm.Mode); err != nil {
			return nil, fmt.Errorf("%s: member %q: mode %q", manifestName, mm.Name, mm.Mode)
		}
		want[mm.Name] = mm
	}
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("truncated (it ends inside a member's header)")
		}
		if err != nil {
			return nil, fmt.Errorf("damaged tar after %d members (%v)", len(seen)+1, err)
		}
		if err := checkMemberName(hdr.Name); err != nil {
			return nil, fmt.Errorf("member %w", err)
		}
		mm, ok := want[hdr.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("member %q is not in the manifest", hdr.Name)
		case seen[hdr.Name]:
			return nil, fmt.Errorf("member %q appears twice", hdr.Name)
		case hdr.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("member %q is not a regular file", hdr.Name)
		case hdr.Size != mm.Size:
			return nil, fmt.Errorf("member %q is %d bytes, the manifest says %d", hdr.Name, hdr.Size, mm.Size)
		}
		mode, _ := parseMode(mm.Mode)
		if fs.FileMode(hdr.Mode).Perm() != mode {
			return nil, fmt.Errorf("member %q has mode %04o, the manifest says %s", hdr.Name, fs.FileMode(hdr.Mode).Perm(), mm.Mode)
		}
		seen[hdr.Name] = true
		if err := extractMember(tr, filepath.Join(dst, filepath.FromSlash(hdr.Name)), mode, mm); err != nil {
			return nil, err
		}
	}
	for _, mm := range m.Members {
		if !seen[mm.Name] {
			return nil, fmt.Errorf("member %q of the manifest is missing (truncated?)", mm.Name)
		}
	}
	return &m, syncTree(dst)
}

// extractMember writes one member and checks its hash.
func extractMember(r io.Reader, p string, mode fs.FileMode, mm manifestMember) error {
	// 0700 like the data dir: keys live in its directories.
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("truncated inside member %q", mm.Name)
		}
		return fmt.Errorf("member %q: %v", mm.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mm.SHA256 {
		return fmt.Errorf("member %q does not match its SHA-256 in the manifest (damaged)", mm.Name)
	}
	// Chmod, not the mode at creation, which the umask would narrow.
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// checkMemberName refuses any name that could land outside the data dir.
func checkMemberName(name string) error {
	if name == "" || name == manifestName || strings.Contains(name, `\`) || path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("%q: not a name inside a data dir (absolute, .., or unclean)", name)
	}
	return nil
}

func parseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("mode %q", s)
	}
	return fs.FileMode(v), nil
}

// syncTree syncs every directory under root, so renames and new entries are on disk.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			keyfile.SyncDir(p)
		}
		return err
	})
}

// inside reports whether p is dir or lies under it.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(absPath(dir), absPath(p))
	return err == nil && filepath.IsLocal(rel)
}

// linkedFrom is where the file p under dir really is when a symlink leads it out of
// the data dir, for the manifest; "" when it is where its name says.
func linkedFrom(dir, p string) string {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil || inside(root, real) {
		return ""
	}
	return absPath(real)
}

// relName is p's archive name: its path under dir, with slashes.
func relName(dir, p string) string {
	rel, _ := filepath.Rel(absPath(dir), absPath(p))
	return filepath.ToSlash(rel)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// redactDSN masks a DSN's password for a message.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "postgres://…"
}
