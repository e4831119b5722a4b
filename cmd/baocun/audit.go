package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"baocun"
	"baocun/sqldb"
)

// auditCommand is `baocun audit verify|pubkey|anchor`: what an auditor runs against a
// copy of the data dir, with the service stopped or not. verify and pubkey create and
// change no file; anchor writes a new anchor file and nothing else.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{"audit: want \"baocun audit verify --data-dir DIR\", \"baocun audit pubkey --data-dir DIR\" or \"baocun audit anchor --data-dir DIR\""}
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "pubkey":
		return auditPubkey(args[1:], getenv, stdout)
	case "anchor":
		return auditAnchor(ctx, args[1:], getenv, stdout)
	default:
		return &usageError{fmt.Sprintf("audit: unknown subcommand %q (verify, pubkey or anchor)", args[0])}
	}
}

// errAuditBroken ends `audit verify` with a non-zero status once the result line,
// which says where and why, is printed.
type errAuditBroken struct {
	seq    int64
	anchor string // the anchor file, when its line shows the problem
	line   int
}

func (e *errAuditBroken) Error() string {
	msg := fmt.Sprintf("审计链校验未通过 audit chain verification failed at seq %d", e.seq)
	if e.line > 0 {
		msg += fmt.Sprintf(" (审计锚定 audit anchor %s line %d)", e.anchor, e.line)
	}
	return msg
}

// auditDSN is the application database of a command: --database, or the data dir's
// SQLite file.
func auditDSN(dataDir, database string) string {
	if database != "" {
		return database
	}
	return "sqlite://" + filepath.Join(dataDir, "baocun.db")
}

func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "数据目录 the data dir holding baocun.db and the audit key")
	database := fs.String("database", "", "application database: sqlite://PATH or postgres://… (default sqlite://<data-dir>/baocun.db)")
	pubFile := fs.String("public-key", "", "审计公钥 the audit public key, PEM or hex (default <data-dir>/"+sqldb.AuditPublicKeyFile+")")
	anchorFile := fs.String("audit-anchor", "", "审计锚定文件 the anchor to compare the chain with (default <data-dir>/"+filepath.Join(sqldb.AuditAnchorDir, sqldb.AuditAnchorFile)+")")
	strict := fs.Bool("strict", false, "also fail without an anchor, and when entries have waited for a checkpoint more than twice the checkpoint interval")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	pub, err := auditPublicKey(*dataDir, *pubFile)
	if err != nil {
		return err
	}
	// Read-only and without migrations: the auditor's copy is evidence.
	db, err := sqldb.OpenReadOnly(ctx, auditDSN(*dataDir, *database))
	if err != nil {
		return err
	}
	defer db.Close()
	path := *anchorFile
	if path == "" {
		path = sqldb.AuditAnchorPath(*dataDir)
	}
	opts := sqldb.AuditOptions{PublicKey: pub, Anchor: sqldb.NewFileAnchor(path, nil)}
	var strictFailures []string
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		opts.Anchor = nil
		fmt.Fprintf(stderr, "警告：没有审计锚定文件 %s，删除某检查点之后的全部记录与检查点将无法发现 Warning: no audit anchor at %s: "+
			"deleting the entries and checkpoints after an earlier checkpoint cannot be detected (--audit-anchor names the anchor; --strict fails without one)\n", path, path)
		strictFailures = append(strictFailures, fmt.Sprintf("没有审计锚定 no audit anchor at %s", path))
	}
	log := sqldb.NewAuditLog(db, nil, opts)
	defer log.Close()
	v, err := log.Verify(ctx)
	if err != nil {
		return err
	}
	anchorName := ""
	if opts.Anchor != nil {
		anchorName = path
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(v)
	} else {
		printVerification(stdout, v, db, pub, anchorName)
	}
	if !v.OK {
		return &errAuditBroken{seq: *v.FirstBadSeq, anchor: path, line: v.AnchorLine}
	}
	// A service signs its entries within the checkpoint interval, and at shutdown:
	// entries waiting much longer are a service stopped uncleanly or failing to sign.
	if since := v.UnsignedSince; since != nil && time.Since(*since) > 2*sqldb.DefaultCheckpointInterval {
		stale := fmt.Sprintf("最后检查点之后的记录久未签名 %d entries after the last checkpoint, the oldest written at %s, more than %s ago, are not signed yet",
			v.Unsigned, since.UTC().Format(time.RFC3339), 2*sqldb.DefaultCheckpointInterval)
		fmt.Fprintf(stderr, "警告：%s (the service signs within %s, and as it stops)\n", stale, sqldb.DefaultCheckpointInterval)
		strictFailures = append(strictFailures, stale)
	}
	if *strict && len(strictFailures) > 0 {
		return &baocun.Error{Code: baocun.EINVALID, Message: "--strict: " + strings.Join(strictFailures, "; ")}
	}
	return nil
}

// printVerification prints the one line that says whether the chain holds; anchor
// names the anchor compared with it ("" for none).
func printVerification(w io.Writer, v baocun.AuditVerification, db *sqldb.DB, pub ed25519.PublicKey, anchor string) {
	if !v.OK {
		fmt.Fprintf(w, "审计链被篡改 Audit chain BROKEN at seq %d: %s (%d 条记录 entries, %d 个检查点 checkpoints, %s)\n",
			*v.FirstBadSeq, v.Reason, v.Entries, v.Checkpoints, db.Name())
		return
	}
	anchored := ""
	if anchor != "" {
		anchored = fmt.Sprintf("; %d 个与锚定相符 anchored in %s", v.Anchored, anchor)
	}
	fmt.Fprintf(w, "审计链完好 Audit chain OK: %d 条记录 entries, %d 个签名检查点 signed checkpoints%s (%s, key %s)\n",
		v.Entries, v.Checkpoints, anchored, db.Name(), sqldb.AuditKeyID(pub))
}

// auditPublicKey finds the key to verify with: --public-key, else the data dir's
// public key file, else the public half of the data dir's private key.
func auditPublicKey(dataDir, pubFile string) (ed25519.PublicKey, error) {
	if pubFile != "" {
		return sqldb.ReadAuditPublicKey(pubFile)
	}
	path := filepath.Join(dataDir, sqldb.AuditPublicKeyFile)
	if _, err := os.Stat(path); err == nil {
		return sqldb.ReadAuditPublicKey(path)
	}
	key, err := sqldb.ReadAuditPrivateKey(filepath.Join(dataDir, sqldb.AuditKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf(
			"找不到审计公钥 No audit public key: neither %s nor %s exists; give --public-key FILE",
			path, filepath.Join(dataDir, sqldb.AuditKeyFile))}
	}
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

// auditPubkey prints the audit public key (PEM) for an auditor to keep apart from
// the data it vouches for.
func auditPubkey(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit pubkey", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "数据目录 the data dir holding the audit key")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	pub, err := auditPublicKey(*dataDir, "")
	if err != nil {
		return err
	}
	_, err = stdout.Write(sqldb.MarshalAuditPublicKey(pub))
	return err
}
