package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"baocun"
	"baocun/sqldb"
	"baocun/web"
)

// auditAnchorPath is where serve appends each signed checkpoint once it has committed:
// outside the database, so that whoever can edit only the database cannot rewind the
// chain to an earlier checkpoint unseen.
func (c *serveConfig) auditAnchorPath() string {
	if c.AuditAnchor != "" {
		return c.AuditAnchor
	}
	return sqldb.AuditAnchorPath(c.DataDir)
}

// checkAuditKey refuses to start with a key other than the one that signed the chain:
// a checkpoint signed with another key would enter the database and the anchor, and the
// trail would no longer verify, for good. key is nil when the file at path does not
// exist — an unmounted keys volume, a mistyped --audit-key, a restore that left the
// key out — and only a database without checkpoints may get a new one.
func checkAuditKey(ctx context.Context, db *sqldb.DB, path string, key ed25519.PrivateKey) error {
	last, ok, err := sqldb.LastCheckpoint(ctx, db)
	if err != nil {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.key",
			Message: "读取审计检查点失败 Could not read the audit checkpoints.", Err: err}
	}
	switch {
	case !ok:
		return nil
	case key == nil:
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.key", Message: fmt.Sprintf(
			"审计密钥 %s 不存在，而数据库的检查点由密钥 %s 签署 Audit key %s does not exist, but the database's checkpoints are signed, the last (seq %d) by key %s: "+
				"mount the keys' volume or give --audit-key that key's file; a new key is made only for a database without checkpoints",
			path, last.KeyID, path, last.Seq, last.KeyID)}
	}
	if id := sqldb.AuditKeyID(key.Public().(ed25519.PublicKey)); id != last.KeyID {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.key", Message: fmt.Sprintf(
			"审计密钥 %s 是密钥 %s，而数据库的最后检查点由密钥 %s 签署 Audit key %s is key %s, but the database's last checkpoint (seq %d) is signed by key %s: give --audit-key that key's file",
			path, id, last.KeyID, path, id, last.Seq, last.KeyID)}
	}
	return nil
}

// checkAuditAnchor compares the chain with its anchor before serve writes anything,
// and returns the anchor for the audit log, which catches it up and appends to it once
// serve has locked it (at its first write, so that a refused start creates nothing).
// key is nil on a first start, before the key is made.
func checkAuditAnchor(ctx context.Context, db *sqldb.DB, path string, key ed25519.PrivateKey, log *slog.Logger) (*sqldb.FileAnchor, error) {
	a := sqldb.NewFileAnchor(path, log)
	var pub ed25519.PublicKey
	if key != nil {
		pub = key.Public().(ed25519.PublicKey)
	}
	if err := sqldb.CheckAnchor(ctx, db, a, pub); err != nil {
		return nil, err
	}
	return a, nil
}

// auditAnchorCheck is /readyz's check of the audit anchor, and it adds to reg the
// gauge of the checkpoints the anchor lacks: an anchor that fails or hangs while serve
// runs must show where operators look, not only in a log line a minute.
func auditAnchorCheck(l *sqldb.AuditLog, reg prometheus.Registerer) web.Check {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "baocun_audit_anchor_behind_checkpoints",
		Help: "Signed audit checkpoints in the database that the audit anchor does not hold yet (NaN until the anchor is first read).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		n, err := l.AnchorBehind(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	return web.Check{Name: "audit_anchor", Func: l.AnchorHealth}
}

// auditAnchor is `baocun audit anchor`: write a new anchor from the checkpoints of a
// chain that verifies, for a data dir whose anchor is lost or was never written (a
// service upgraded from before anchors, a new instance on a shared database). It is
// the deliberate step serve refuses to take by itself, and it never replaces an
// anchor that exists.
func auditAnchor(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit anchor", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "数据目录 the data dir holding baocun.db and the audit key")
	database := fs.String("database", "", "application database: sqlite://PATH or postgres://… (default sqlite://<data-dir>/baocun.db)")
	pubFile := fs.String("public-key", "", "审计公钥 the audit public key, PEM or hex (default <data-dir>/"+sqldb.AuditPublicKeyFile+")")
	anchorFile := fs.String("audit-anchor", "", "审计锚定文件 the anchor to write (default <data-dir>/"+filepath.Join(sqldb.AuditAnchorDir, sqldb.AuditAnchorFile)+")")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	path := *anchorFile
	if path == "" {
		path = sqldb.AuditAnchorPath(*dataDir)
	}
	if _, err := os.Stat(path); err == nil {
		return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf(
			"审计锚定文件 %s 已存在 Audit anchor %s exists already: serve compares the chain with it and appends to it by itself; to replace it, move it aside first",
			path, path)}
	} else if !errors.Is(err, os.ErrNotExist) {
		return &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("审计锚定文件 %s 不可用 Audit anchor %s unusable: %v", path, path, unwrapPath(err))}
	}
	pub, err := auditPublicKey(*dataDir, *pubFile)
	if err != nil {
		return err
	}
	db, err := sqldb.OpenReadOnly(ctx, auditDSN(*dataDir, *database))
	if err != nil {
		return err
	}
	defer db.Close()
	log := sqldb.NewAuditLog(db, nil, sqldb.AuditOptions{PublicKey: pub, Anchor: sqldb.NewFileAnchor(path, nil)})
	defer log.Close()
	// What is anchored is vouched for from then on: only a chain that holds.
	v, err := log.Verify(ctx)
	if err != nil {
		return err
	}
	if !v.OK {
		printVerification(stdout, v, db, pub, "")
		return &errAuditBroken{seq: *v.FirstBadSeq, anchor: path, line: v.AnchorLine}
	}
	n, err := log.SyncAnchor(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(stdout, "没有可锚定的检查点 No signed checkpoint to anchor yet (%d 条记录 entries, %s): serve anchors the first one it signs; nothing written\n",
			v.Entries, db.Name())
		return nil
	}
	fmt.Fprintf(stdout, "已锚定 Anchored %d 个签名检查点 signed checkpoints in %s (审计链完好 the chain verified: %d 条记录 entries, %s, key %s)\n",
		n, path, v.Entries, db.Name(), sqldb.AuditKeyID(pub))
	return nil
}
