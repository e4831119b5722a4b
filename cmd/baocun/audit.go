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

	"baocun"
	"baocun/sqldb"
)

// auditCommand is `baocun audit verify|pubkey`: what an auditor runs against a copy
// of the data dir, with the service stopped or not. Neither subcommand creates or
// changes a file.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{"audit: want \"baocun audit verify --data-dir DIR\" or \"baocun audit pubkey --data-dir DIR\""}
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], getenv, stdout)
	case "pubkey":
		return auditPubkey(args[1:], getenv, stdout)
	default:
		return &usageError{fmt.Sprintf("audit: unknown subcommand %q (verify or pubkey)", args[0])}
	}
}

// errAuditBroken ends `audit verify` with a non-zero status once the result line,
// which says where and why, is printed.
type errAuditBroken struct{ seq int64 }

func (e *errAuditBroken) Error() string {
	return fmt.Sprintf("审计链校验未通过 audit chain verification failed at seq %d", e.seq)
}

func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "./data", "数据目录 the data dir holding baocun.db and the audit key")
	database := fs.String("database", "", "application database: sqlite://PATH or postgres://… (default sqlite://<data-dir>/baocun.db)")
	pubFile := fs.String("public-key", "", "审计公钥 the audit public key, PEM or hex (default <data-dir>/"+sqldb.AuditPublicKeyFile+")")
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
	dsn := *database
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(*dataDir, "baocun.db")
	}
	// Read-only and without migrations: the auditor's copy is evidence.
	db, err := sqldb.OpenReadOnly(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	log := sqldb.NewAuditLog(db, nil, sqldb.AuditOptions{PublicKey: pub})
	defer log.Close()
	v, err := log.Verify(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(v)
	} else if v.OK {
		fmt.Fprintf(stdout, "审计链完好 Audit chain OK: %d 条记录 entries, %d 个签名检查点 signed checkpoints (%s, key %s)\n",
			v.Entries, v.Checkpoints, db.Name(), sqldb.AuditKeyID(pub))
	} else {
		fmt.Fprintf(stdout, "审计链被篡改 Audit chain BROKEN at seq %d: %s (%d 条记录 entries, %d 个检查点 checkpoints, %s)\n",
			*v.FirstBadSeq, v.Reason, v.Entries, v.Checkpoints, db.Name())
	}
	if !v.OK {
		return &errAuditBroken{seq: *v.FirstBadSeq}
	}
	return nil
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
