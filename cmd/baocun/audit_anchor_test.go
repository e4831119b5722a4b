package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/workflows"
)

// withDataDirDB opens a data dir's database read-write, as an attacker with any SQLite
// tool can, and closes it after fn.
func withDataDirDB(t *testing.T, dir string, fn func(db *sqldb.DB)) {
	t.Helper()
	db, err := sqldb.Open(context.Background(), "sqlite://"+filepath.Join(dir, "baocun.db"))
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func execSQL(t *testing.T, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// truncateDataDir deletes every entry and checkpoint after checkpoint k and rewinds
// the head to it: the chain left verifies on its own.
func truncateDataDir(t *testing.T, dir string, k int64) {
	t.Helper()
	withDataDirDB(t, dir, func(db *sqldb.DB) {
		execSQL(t, db, "DELETE FROM audit_entries WHERE seq > ?", k)
		execSQL(t, db, "DELETE FROM audit_checkpoints WHERE seq > ?", k)
		execSQL(t, db, "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_entries WHERE seq = ?), checkpoint_seq = ?", k, k, k)
	})
}

// dataDirCheckpoints lists a data dir's checkpoints as its database holds them.
func dataDirCheckpoints(t *testing.T, dir string) []sqldb.Checkpoint {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.OpenReadOnly(ctx, "sqlite://"+filepath.Join(dir, "baocun.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT seq, prev_seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sqldb.Checkpoint
	for rows.Next() {
		var c sqldb.Checkpoint
		if err := rows.Scan(&c.Seq, &c.PrevSeq, &c.Hash, &c.At, &c.KeyID, &c.Signature); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// assertAnchored checks that the anchor file holds exactly the database's
// checkpoints, in order, each line complete.
func assertAnchored(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(sqldb.AuditAnchorPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := dataDirCheckpoints(t, dir)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if !bytes.HasSuffix(data, []byte("\n")) || len(lines) != len(want) {
		t.Fatalf("anchor holds %q, want the database's %d checkpoints", data, len(want))
	}
	for i, line := range lines {
		var c sqldb.Checkpoint
		if err := json.Unmarshal([]byte(line), &c); err != nil || c != want[i] {
			t.Fatalf("anchor line %d = %s (%v), database row %+v", i+1, line, err, want[i])
		}
	}
}

// The attack of issue 13 on a data dir: `audit verify` fails at the anchor's line of
// the first checkpoint deleted, and leaves every file as it was, the anchor included.
func TestAuditVerifyAnchor(t *testing.T) {
	dir := auditDataDir(t, 35) // checkpoints 1, 11, 21, 31, 35
	anchor := sqldb.AuditAnchorPath(dir)
	out, warnings, err := runAuditStderr("verify", "--data-dir", dir, "--strict")
	if err != nil || !strings.Contains(out, "Audit chain OK: 35 条记录 entries, 5 个签名检查点 signed checkpoints; 5 个与锚定相符 anchored in "+anchor) || warnings != "" {
		t.Fatalf("verify --strict a sound, anchored data dir: %v, output %q, warnings %q", err, out, warnings)
	}
	elsewhere := filepath.Join(t.TempDir(), "anchor.jsonl")
	data, _ := os.ReadFile(anchor)
	os.WriteFile(elsewhere, data, 0o600)

	truncateDataDir(t, dir, 21)
	before := fileState(t, dir)
	out, err = runAudit("verify", "--data-dir", dir)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "seq 31") || !strings.Contains(err.Error(), anchor+" line 4") {
		t.Fatalf("verify a truncated chain: err %v (exit %d), want exit 1 naming seq 31 and %s line 4", err, exitCode(err), anchor)
	}
	if !strings.Contains(out, "BROKEN at seq 31") || !strings.Contains(out, anchor+" line 4: checkpoint 31 is missing from the database") || strings.Count(out, "\n") != 1 {
		t.Fatalf("verify a truncated chain printed %q, want one line naming seq 31 and the anchor's line 4", out)
	}
	out, err = runAudit("verify", "--data-dir", dir, "--json")
	var v baocun.AuditVerification
	if err == nil || json.Unmarshal([]byte(out), &v) != nil || v.OK || v.FirstBadSeq == nil || *v.FirstBadSeq != 31 || v.AnchorLine != 4 {
		t.Fatalf("verify --json a truncated chain: %v, output %q", err, out)
	}
	// The anchor kept on another volume, named with --audit-anchor.
	out, err = runAudit("verify", "--data-dir", dir, "--audit-anchor", elsewhere)
	if err == nil || !strings.Contains(out, elsewhere+" line 4") {
		t.Fatalf("verify with --audit-anchor %s: %v, output %q", elsewhere, err, out)
	}
	if after := fileState(t, dir); after != before {
		t.Fatalf("verify changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Without an anchor verify warns and checks the rest; --strict fails. --strict also
// fails when entries have waited for a checkpoint more than twice its interval.
func TestAuditVerifyStrict(t *testing.T) {
	dir := auditDataDir(t, 35)
	if err := os.RemoveAll(filepath.Join(dir, sqldb.AuditAnchorDir)); err != nil {
		t.Fatal(err)
	}
	before := fileState(t, dir)
	out, warnings, err := runAuditStderr("verify", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "Audit chain OK: 35 条记录 entries, 5 个签名检查点 signed checkpoints (") {
		t.Fatalf("verify without an anchor: %v, output %q", err, out)
	}
	if want := "Warning: no audit anchor at " + sqldb.AuditAnchorPath(dir) + ": deleting the entries and checkpoints after an earlier checkpoint cannot be detected"; !strings.Contains(warnings, want) || strings.Count(warnings, "\n") != 1 {
		t.Fatalf("warnings %q, want one line with %q", warnings, want)
	}
	_, _, err = runAuditStderr("verify", "--data-dir", dir, "--strict")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "--strict") || !strings.Contains(err.Error(), "no audit anchor at "+sqldb.AuditAnchorPath(dir)) {
		t.Fatalf("verify --strict without an anchor: %v (exit %d)", err, exitCode(err))
	}
	if after := fileState(t, dir); after != before {
		t.Fatalf("verify changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	for _, tt := range []struct {
		name  string
		age   time.Duration
		stale bool
	}{
		{"unsigned entries of a minute ago", time.Minute, false},
		{"unsigned entries of an hour ago", time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := auditDataDir(t, 35)
			ctx := context.Background()
			// Written as `baocun users add` writes, with no service to sign them.
			withDataDirDB(t, dir, func(db *sqldb.DB) {
				for i := range 3 {
					err := db.InTx(ctx, func(tx *sqldb.Tx) error {
						return sqldb.AppendAuditTx(ctx, tx, &baocun.AuditEntry{Actor: "system", Action: "user.create",
							Resource: fmt.Sprintf("users/u%d", i), At: time.Now().Add(-tt.age)})
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			})
			out, err := runAudit("verify", "--data-dir", dir, "--json")
			var v baocun.AuditVerification
			if err != nil || json.Unmarshal([]byte(out), &v) != nil || !v.OK || v.Unsigned != 3 || v.UnsignedSince == nil {
				t.Fatalf("verify: %v, output %q, want OK with 3 unsigned entries", err, out)
			}
			_, warnings, err := runAuditStderr("verify", "--data-dir", dir, "--strict")
			if !tt.stale {
				if err != nil || warnings != "" {
					t.Fatalf("verify --strict: %v, warnings %q", err, warnings)
				}
				return
			}
			if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "3 entries after the last checkpoint") || !strings.Contains(err.Error(), "20m0s") {
				t.Fatalf("verify --strict with a stale unsigned tail: %v (exit %d)", err, exitCode(err))
			}
			if !strings.Contains(warnings, "not signed yet") {
				t.Fatalf("warnings %q", warnings)
			}
			if _, err := runAudit("verify", "--data-dir", dir); err != nil {
				t.Fatalf("verify without --strict fails on a stale unsigned tail: %v", err)
			}
		})
	}
}

// `audit anchor` writes a lost anchor anew, from a chain that verifies, exactly as
// serve had written it; it never replaces one, and a broken chain is not anchored.
func TestAuditAnchorCommand(t *testing.T) {
	dir := auditDataDir(t, 35)
	anchor := sqldb.AuditAnchorPath(dir)
	original, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(anchor)); err != nil {
		t.Fatal(err)
	}
	out, err := runAudit("anchor", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "Anchored 5 个签名检查点 signed checkpoints in "+anchor) {
		t.Fatalf("audit anchor: %v, output %q", err, out)
	}
	if got, _ := os.ReadFile(anchor); !bytes.Equal(got, original) {
		t.Fatalf("anchor written anew:\n%s\nwant, as serve wrote it:\n%s", got, original)
	}
	for path, mode := range map[string]os.FileMode{anchor: 0o600, filepath.Dir(anchor): 0o700 | os.ModeDir} {
		if st, err := os.Stat(path); err != nil || st.Mode() != mode {
			t.Fatalf("%s: mode %v, %v; want %v", path, st.Mode(), err, mode)
		}
	}
	before := fileState(t, dir)
	if _, err := runAudit("anchor", "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "exists already") || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("audit anchor over an anchor: %v", err)
	}
	if after := fileState(t, dir); after != before {
		t.Fatalf("a refused audit anchor changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A chain that does not verify is not vouched for.
	withDataDirDB(t, dir, func(db *sqldb.DB) {
		execSQL(t, db, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 17")
	})
	os.Remove(anchor)
	out, err = runAudit("anchor", "--data-dir", dir)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "seq 17") || !strings.Contains(out, "BROKEN at seq 17") {
		t.Fatalf("audit anchor on a broken chain: %v, output %q", err, out)
	}
	if _, err := os.Stat(anchor); !os.IsNotExist(err) {
		t.Fatalf("audit anchor on a broken chain wrote %s: %v", anchor, err)
	}

	// A chain with no checkpoint yet has nothing to anchor.
	empty := auditDataDir(t, 0)
	before = fileState(t, empty)
	if out, err := runAudit("anchor", "--data-dir", empty); err != nil || !strings.Contains(out, "nothing written") {
		t.Fatalf("audit anchor without checkpoints: %v, output %q", err, out)
	}
	if after := fileState(t, empty); after != before {
		t.Fatalf("audit anchor without checkpoints changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// serve refuses a data dir whose chain disagrees with its anchor, or whose anchor is
// gone while the database has checkpoints, with one line naming the anchor (and its
// line), before it writes anything.
func TestServeBadInputAuditAnchor(t *testing.T) {
	serveArgs := func(extra ...string) func(dir string) []string {
		return func(dir string) []string {
			return append([]string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}, extra...)
		}
	}
	tests := []badInput{
		{
			name:  "chain truncated back to an earlier checkpoint",
			setup: func(t *testing.T, dir string) { writeAuditDataDir(t, dir, 35); truncateDataDir(t, dir, 21) },
			args:  serveArgs(),
			want:  []string{"disagrees with its anchor", "audit-anchor/audit-anchor.jsonl line 4: checkpoint 31 is missing from the database"},
			code:  1,
		},
		{
			name: "anchor line altered",
			setup: func(t *testing.T, dir string) {
				writeAuditDataDir(t, dir, 35)
				path := sqldb.AuditAnchorPath(dir)
				data, _ := os.ReadFile(path)
				lines := strings.SplitAfter(string(data), "\n")
				lines[1] = strings.Replace(lines[1], `"seq":11`, `"seq":12`, 1)
				os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
			},
			args: serveArgs(),
			want: []string{"line 2: checkpoint 12 signature does not verify"},
			code: 1,
		},
		{
			name: "anchor gone, checkpoints in the database",
			setup: func(t *testing.T, dir string) {
				writeAuditDataDir(t, dir, 35)
				os.RemoveAll(filepath.Join(dir, sqldb.AuditAnchorDir))
			},
			args: serveArgs(),
			want: []string{"does not exist but the database holds 5 signed checkpoints", "baocun audit anchor"},
			code: 1,
		},
		{
			name:  "--audit-anchor in a directory that does not exist",
			setup: func(t *testing.T, dir string) { writeAuditDataDir(t, dir, 35) },
			args: func(dir string) []string {
				return serveArgs("--audit-anchor", filepath.Join(dir, "mnt", "a.jsonl"))(dir)
			},
			want: []string{"mnt/a.jsonl does not exist but the database holds 5"},
			code: 1,
		},
		{
			name: "anchor path a directory",
			setup: func(t *testing.T, dir string) {
				writeAuditDataDir(t, dir, 35)
				os.MkdirAll(filepath.Join(dir, "elsewhere"), 0o700)
			},
			args: func(dir string) []string { return serveArgs("--audit-anchor", filepath.Join(dir, "elsewhere"))(dir) },
			want: []string{"Audit anchor", "elsewhere unusable", "is a directory"},
			code: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBadInput(t, tt) })
	}
}

// The environment names the anchor as it does every flag.
func TestAuditAnchorFlagFromEnvironment(t *testing.T) {
	var cfg serveConfig
	env := map[string]string{"BAOCUN_AUDIT_ANCHOR": "/mnt/witness/anchor.jsonl", "BAOCUN_DATA_DIR": "/srv/baocun"}
	if err := parseFlags(newServeFlags(&cfg), nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.auditAnchorPath(); got != "/mnt/witness/anchor.jsonl" {
		t.Fatalf("anchor %q from BAOCUN_AUDIT_ANCHOR", got)
	}
	cfg.AuditAnchor = ""
	if got := cfg.auditAnchorPath(); got != "/srv/baocun/audit-anchor/audit-anchor.jsonl" {
		t.Fatalf("default anchor %q", got)
	}
}

// serve appends the checkpoints it finds committed but not anchored (a crash between
// the commit and the append), and starts after a crash tore the anchor's last line:
// the torn line is cut, logged, and its checkpoint appended again whole.
func TestAuditAnchorServeCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (serve restarted on an anchor): go test ./...")
	}
	dir := auditDataDir(t, 35)
	withDataDirDB(t, dir, func(db *sqldb.DB) {
		key, err := sqldb.ReadAuditPrivateKey(filepath.Join(dir, sqldb.AuditKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		// A writer without the anchor: its checkpoints commit and never reach it.
		l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 10})
		for i := range 12 {
			if err := l.Append(context.Background(), &baocun.AuditEntry{Actor: "alice", Action: "report.approve", Resource: fmt.Sprintf("reports/x%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
	})
	if n := len(dataDirCheckpoints(t, dir)); n != 7 {
		t.Fatalf("%d checkpoints, want 7 (5 anchored)", n)
	}
	args := []string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}
	p := startServe(t, args...)
	p.waitReady(t)
	if banner := strings.Join(p.banner, "\n"); !strings.Contains(banner, "审计锚定 Audit anchor: "+sqldb.AuditAnchorPath(dir)) {
		t.Fatalf("the banner does not name the anchor:\n%s", banner)
	}
	p.stop(t)
	assertAnchored(t, dir)

	// A crash half-way through the last line.
	anchor := sqldb.AuditAnchorPath(dir)
	data, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	lastStart := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	if err := os.WriteFile(anchor, data[:lastStart+(len(data)-lastStart)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runAudit("verify", "--data-dir", dir); err != nil {
		t.Fatalf("verify with a torn last line: %v", err)
	}
	p = startServe(t, args...)
	p.waitReady(t)
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "cut a torn last line") {
		t.Fatalf("the cut was not logged:\n%s", p.stderr)
	}
	assertAnchored(t, dir)
	if out, err := runAudit("verify", "--data-dir", dir, "--strict"); err != nil || !strings.Contains(out, fmt.Sprintf("%d 个与锚定相符", len(dataDirCheckpoints(t, dir)))) {
		t.Fatalf("verify after the restarts: %v, output %q", err, out)
	}
}

// Two instances of one database given one anchor file would each append the other's
// checkpoints too, and wedge each other's next start. The second serve is refused at
// its first write, with one line, and neither its data dir nor the anchor changes.
func TestServeRefusesAnAnchorInUse(t *testing.T) {
	dirA := t.TempDir()
	a := startServe(t, "--data-dir", dirA, "--http", "127.0.0.1:0", "--temporal-port", "0")
	a.waitReady(t)
	anchor := sqldb.AuditAnchorPath(dirA)
	before, err := os.ReadFile(anchor)
	if err != nil {
		t.Fatal(err)
	}
	dirB := t.TempDir()
	beforeB := snapshot(t, dirB)
	// Were it let in, it would serve until this ends.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, append([]string{"baocun", "serve", "--data-dir", dirB, "--http", "127.0.0.1:0",
		"--database", "sqlite://" + filepath.Join(dirA, "baocun.db"), "--temporal-address", a.temporal,
		"--audit-key", filepath.Join(dirA, sqldb.AuditKeyFile), "--step-key", filepath.Join(dirA, workflows.StepKeyFile),
		"--audit-anchor", anchor}, joinFlags(dirA)...), noEnv, &bytes.Buffer{}, &bytes.Buffer{})
	checkRefusal(t, err, []string{anchor + " is in use by another baocun process", "--audit-anchor"}, 1)
	if after := snapshot(t, dirB); after != beforeB {
		t.Errorf("the refused serve changed its data dir:\nbefore %s\nafter  %s", beforeB, after)
	}
	if after, _ := os.ReadFile(anchor); !bytes.Equal(after, before) {
		t.Errorf("the refused serve changed the anchor:\n%s\nwas:\n%s", after, before)
	}
	a.waitReady(t)
	a.stop(t)
	assertAnchored(t, dirA)
}

// An anchor that fails while serve runs is not silent: /readyz's audit_anchor check
// fails, naming it, and /metrics counts the checkpoints it lacks. Here its file is
// moved away, as an unmounted volume hides it.
func TestServeReadinessReportsTheAnchor(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, "--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0")
	p.waitReady(t)
	type readyz struct {
		Ready  bool `json:"ready"`
		Checks map[string]struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("readyz")
	var r readyz
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || !r.Checks["audit_anchor"].OK {
		t.Fatalf("/readyz %d %s, want the audit_anchor check passing", code, body)
	}
	if _, metrics := get("metrics"); !strings.Contains(metrics, "\nbaocun_audit_anchor_behind_checkpoints 0\n") {
		t.Fatalf("/metrics has no baocun_audit_anchor_behind_checkpoints 0")
	}

	anchor := sqldb.AuditAnchorPath(dir)
	if err := os.Rename(anchor, anchor+".aside"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, body = get("readyz")
		r = readyz{}
		json.Unmarshal([]byte(body), &r)
		c := r.Checks["audit_anchor"]
		if code == http.StatusServiceUnavailable && !c.OK && strings.Contains(c.Error, anchor+" was removed, replaced or unmounted") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with the anchor moved away: %d %s", code, body)
		}
	}
	for name, c := range r.Checks {
		if name != "audit_anchor" && !c.OK {
			t.Errorf("check %s fails too: %s", name, c.Error)
		}
	}
	p.stop(t)
}

// A database with checkpoints is signed on with the key that signed them or not at
// all: a missing key file (an unmounted keys volume, a mistyped --audit-key, a backup
// that left a symlinked key out) or another key is refused in one line naming the key
// the chain needs, and no new key is made.
func TestServeBadInputAuditKey(t *testing.T) {
	seed := sha256.Sum256([]byte("baocun-test-audit-key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	id := sqldb.AuditKeyID(key.Public().(ed25519.PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// A data dir whose 35 entries and 5 checkpoints key signed.
	signed := func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, sqldb.AuditKeyFile), keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		writeAuditDataDir(t, dir, 35)
	}
	serveArgs := func(extra ...string) func(dir string) []string {
		return func(dir string) []string {
			return append([]string{"--data-dir", dir, "--http", "127.0.0.1:0", "--temporal-port", "0"}, extra...)
		}
	}
	tests := []badInput{
		{
			name: "the key file gone",
			setup: func(t *testing.T, dir string) {
				signed(t, dir)
				os.Remove(filepath.Join(dir, sqldb.AuditKeyFile))
			},
			args: serveArgs(),
			want: []string{"audit-ed25519.key does not exist", "the last (seq 35) by key " + id, "--audit-key", "a new key is made only for a database without checkpoints"},
			code: 1,
		},
		{
			name:  "--audit-key mistyped",
			setup: signed,
			args: func(dir string) []string {
				return serveArgs("--audit-key", filepath.Join(dir, "keys", "audit.key"))(dir)
			},
			want: []string{"keys/audit.key does not exist", "by key " + id},
			code: 1,
		},
		{
			name: "another key",
			setup: func(t *testing.T, dir string) {
				signed(t, dir)
				os.Mkdir(filepath.Join(dir, "other"), 0o700)
				if _, err := sqldb.LoadOrCreateAuditKey(filepath.Join(dir, "other", sqldb.AuditKeyFile)); err != nil {
					t.Fatal(err)
				}
			},
			args: func(dir string) []string {
				return serveArgs("--audit-key", filepath.Join(dir, "other", sqldb.AuditKeyFile))(dir)
			},
			want: []string{"other/audit-ed25519.key is key", "the database's last checkpoint (seq 35) is signed by key " + id},
			code: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBadInput(t, tt) })
	}
}
