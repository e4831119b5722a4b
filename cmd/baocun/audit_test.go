package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"baocun"
	"baocun/sqldb"
)

// auditDataDir makes a data dir as `baocun serve` leaves it: baocun.db with a chain of
// n entries (a checkpoint every 10), the audit key pair and the anchor.
func auditDataDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	writeAuditDataDir(t, dir, n)
	return dir
}

func writeAuditDataDir(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite://"+filepath.Join(dir, "baocun.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := sqldb.LoadOrCreateAuditKey(filepath.Join(dir, sqldb.AuditKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 10, Anchor: sqldb.NewFileAnchor(sqldb.AuditAnchorPath(dir), nil)})
	for i := range n {
		if err := l.Append(ctx, &baocun.AuditEntry{Actor: "alice", Action: "report.approve", Resource: fmt.Sprintf("reports/%d", i), Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileState lists every file and directory under dir with its size, mode,
// modification time and, for a file, a digest of its bytes: a read-only command must
// leave all of them as they were.
func fileState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		var sum [sha256.Size]byte
		if !e.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum = sha256.Sum256(data)
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %d %v %d %x\n", rel, info.Size(), info.Mode(), info.ModTime().UnixNano(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func runAudit(args ...string) (string, error) {
	stdout, _, err := runAuditStderr(args...)
	return stdout, err
}

// runAuditStderr is runAudit that also returns what went to stderr (warnings).
func runAuditStderr(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"baocun", "audit"}, args...),
		func(string) string { return "" }, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestAuditVerifyCommand(t *testing.T) {
	dir := auditDataDir(t, 35)
	before := fileState(t, dir)

	out, err := runAudit("verify", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "Audit chain OK: 35 条记录 entries, 5 个签名检查点") {
		t.Fatalf("verify a sound chain: %v, output %q", err, out)
	}
	// The public key alone, kept apart from the data dir, is enough.
	pubOut, err := runAudit("pubkey", "--data-dir", dir)
	if err != nil || !strings.HasPrefix(pubOut, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("pubkey: %v, output %q", err, pubOut)
	}
	pubFile := filepath.Join(t.TempDir(), "auditor.pub")
	os.WriteFile(pubFile, []byte(pubOut), 0o644)
	os.Rename(filepath.Join(dir, sqldb.AuditKeyFile), filepath.Join(t.TempDir(), "moved.key"))
	os.Rename(filepath.Join(dir, sqldb.AuditPublicKeyFile), filepath.Join(t.TempDir(), "moved.pub"))
	before = fileState(t, dir)
	out, err = runAudit("verify", "--data-dir", dir, "--public-key", pubFile, "--json")
	var v baocun.AuditVerification
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Entries != 35 || v.FirstBadSeq != nil {
		t.Fatalf("verify --json with --public-key: %v, output %q", err, out)
	}
	if after := fileState(t, dir); after != before {
		t.Fatalf("verify changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := runAudit("verify", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "--public-key") {
		t.Fatalf("verify without any key: %v, want a hint at --public-key", err)
	}

	// An edit made with any SQLite tool shows, with its sequence number.
	db, err := sqldb.Open(context.Background(), "sqlite://"+filepath.Join(dir, "baocun.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 17"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before = fileState(t, dir)
	out, err = runAudit("verify", "--data-dir", dir, "--public-key", pubFile)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "seq 17") {
		t.Fatalf("verify a tampered chain: err %v (exit %d), want exit 1 naming seq 17", err, exitCode(err))
	}
	if !strings.Contains(out, "BROKEN at seq 17") || strings.Count(out, "\n") != 1 {
		t.Fatalf("verify a tampered chain printed %q, want one line naming seq 17", out)
	}
	if after := fileState(t, dir); after != before {
		t.Fatalf("verify changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestAuditCommandInputs(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string // in the error
		exit int
	}{
		{"no subcommand", nil, "audit verify", 2},
		{"unknown subcommand", []string{"rotate"}, "unknown subcommand", 2},
		{"unknown flag", []string{"verify", "--bogus"}, "bogus", 2},
		{"no database file", []string{"verify", "--data-dir", empty, "--public-key", writePub(t)}, "baocun.db", 1},
		{"no key", []string{"pubkey", "--data-dir", empty}, "No audit public key", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runAudit(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != tt.exit {
				t.Fatalf("err %v (exit %d), want %q and exit %d", err, exitCode(err), tt.want, tt.exit)
			}
		})
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("a failed audit command created %d files", len(entries))
	}
}

func writePub(t *testing.T) string {
	dir := t.TempDir()
	if _, err := sqldb.LoadOrCreateAuditKey(filepath.Join(dir, sqldb.AuditKeyFile)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, sqldb.AuditPublicKeyFile)
}
