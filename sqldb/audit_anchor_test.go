package sqldb_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

// anchoredFixture is the tamper fixture with its five checkpoints anchored in a file,
// whose path it returns.
func anchoredFixture(t *testing.T, dsn string) (*sqldb.DB, ed25519.PrivateKey, string) {
	t.Helper()
	path := sqldb.AuditAnchorPath(t.TempDir())
	db, key := chainFixture(t, dsn, sqldb.NewFileAnchor(path, nil))
	if got := anchorLines(t, path); len(got) != len(fixtureCheckpoints) {
		t.Fatalf("anchor holds %d lines, want one per checkpoint %v:\n%s", len(got), fixtureCheckpoints, strings.Join(got, "\n"))
	}
	return db, key, path
}

// anchorReader is an auditor's log: the public key and the anchor, no signer.
func anchorReader(t *testing.T, db *sqldb.DB, key ed25519.PrivateKey, path string) *sqldb.AuditLog {
	t.Helper()
	return newLog(t, db, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey), Anchor: sqldb.NewFileAnchor(path, nil)})
}

func anchorLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("anchor %s does not end with a newline: %q", path, data)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// waitAnchorLines waits for the anchorer, which runs apart from the appends, to have
// written n lines.
func waitAnchorLines(t testing.TB, path string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		data, _ := os.ReadFile(path)
		if got := bytes.Count(data, []byte("\n")); got >= n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("anchor %s holds %d lines after 10 s, want %d", path, got, n)
		}
	}
}

func writeAnchorLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func parseLine(t testing.TB, line string) sqldb.Checkpoint {
	t.Helper()
	var c sqldb.Checkpoint
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		t.Fatalf("anchor line %q: %v", line, err)
	}
	return c
}

func marshalLine(t testing.TB, c sqldb.Checkpoint) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dbCheckpoints lists the checkpoints as the database holds them.
func dbCheckpoints(t testing.TB, db *sqldb.DB) []sqldb.Checkpoint {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT seq, prev_seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq")
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertAnchorIsDB checks that the anchor holds exactly the database's checkpoints, in
// order, each line the row's values.
func assertAnchorIsDB(t testing.TB, db *sqldb.DB, path string) {
	t.Helper()
	want := dbCheckpoints(t, db)
	lines := anchorLines(t, path)
	if len(lines) != len(want) {
		t.Fatalf("anchor has %d lines, the database %d checkpoints:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, line := range lines {
		if got := parseLine(t, line); got != want[i] {
			t.Fatalf("anchor line %d = %+v, database row %+v", i+1, got, want[i])
		}
	}
}

// truncateTo does what an attacker who can edit only the database does: delete every
// entry and checkpoint after checkpoint k and rewind the head to it. The chain left is
// consistent with itself.
func truncateTo(t *testing.T, db *sqldb.DB, k int64) {
	t.Helper()
	mustExec(t, db, "DELETE FROM audit_entries WHERE seq > ?", k)
	mustExec(t, db, "DELETE FROM audit_checkpoints WHERE seq > ?", k)
	mustExec(t, db, "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_entries WHERE seq = ?), checkpoint_seq = ?", k, k, k)
}

// The attack of issue 13: back to each earlier checkpoint, the truncated chain verifies
// on its own and fails against the anchor, at the line of the first checkpoint gone.
func TestAuditAnchorTruncation(t *testing.T) {
	for i, k := range fixtureCheckpoints[:len(fixtureCheckpoints)-1] {
		t.Run(fmt.Sprintf("back to checkpoint %d", k), func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, dsn string) {
				db, key, path := anchoredFixture(t, dsn)
				l := anchorReader(t, db, key, path)
				if v := verify(t, l); !v.OK || v.Anchored != int64(len(fixtureCheckpoints)) || v.AnchorLine != 0 {
					t.Fatalf("before the attack: %+v", v)
				}
				before := anchorLines(t, path)
				truncateTo(t, db, k)

				// Without the anchor the attack succeeds: this is what it is for.
				bare := newLog(t, db, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey)})
				if v := verify(t, bare); !v.OK || v.Entries != k {
					t.Fatalf("the truncated chain on its own: %+v, want it to pass with %d entries", v, k)
				}
				v := verify(t, l)
				line, missing := i+2, fixtureCheckpoints[i+1]
				if v.OK || v.FirstBadSeq == nil || *v.FirstBadSeq != missing || v.AnchorLine != line {
					t.Fatalf("verify after truncation to %d: %+v, want first_bad_seq %d at anchor line %d", k, v, missing, line)
				}
				for _, w := range []string{path, fmt.Sprintf("line %d", line), fmt.Sprintf("checkpoint %d is missing from the database", missing)} {
					if !strings.Contains(v.Reason, w) {
						t.Errorf("reason %q does not say %q", v.Reason, w)
					}
				}
				if v.Anchored != int64(i+1) {
					t.Errorf("anchored %d, want the %d lines before the missing one", v.Anchored, i+1)
				}
				err := sqldb.CheckAnchor(context.Background(), db, sqldb.NewFileAnchor(path, nil), key.Public().(ed25519.PublicKey))
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s line %d", path, line)) {
					t.Fatalf("CheckAnchor after truncation: %v, want it to name %s line %d", err, path, line)
				}
				// Neither check touched the anchor.
				if after := anchorLines(t, path); strings.Join(after, "\n") != strings.Join(before, "\n") {
					t.Fatalf("the anchor changed:\n%s", strings.Join(after, "\n"))
				}
			})
		})
	}
}

// Whatever the anchor and the database disagree on shows, at the anchor's line.
func TestAuditAnchorTamper(t *testing.T) {
	other := newKey(t)
	tests := []struct {
		name   string
		db     func(t *testing.T, db *sqldb.DB)
		anchor func(t *testing.T, lines []string) []string
		bad    int64
		line   int
		reason string
	}{
		{name: "checkpoint row's time modified", db: func(t *testing.T, db *sqldb.DB) {
			mustExec(t, db, "UPDATE audit_checkpoints SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 11")
		}, bad: 11, line: 3, reason: "differs from the database's (at)"},
		{name: "checkpoint row's hash modified", db: func(t *testing.T, db *sqldb.DB) {
			mustExec(t, db, "UPDATE audit_checkpoints SET hash = ? WHERE seq = 16", strings.Repeat("a", 64))
		}, bad: 16, line: 4, reason: "(hash)"},
		{name: "checkpoint row's link and signature modified", db: func(t *testing.T, db *sqldb.DB) {
			mustExec(t, db, "UPDATE audit_checkpoints SET prev_seq = 1, signature = 'AAAA' WHERE seq = 11")
		}, bad: 11, line: 3, reason: "(prev_seq, signature)"},
		{name: "checkpoint row deleted", db: func(t *testing.T, db *sqldb.DB) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE seq = 6")
		}, bad: 6, line: 2, reason: "missing from the database"},
		{name: "anchor line forged with another key under this key's id", anchor: func(t *testing.T, lines []string) []string {
			c := parseLine(t, lines[2])
			c.Hash = strings.Repeat("b", 64)
			c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(other, sqldb.CheckpointMessage(c.Seq, c.Hash, c.At, c.PrevSeq)))
			lines[2] = marshalLine(t, c)
			return lines
		}, bad: 11, line: 3, reason: "signature does not verify"},
		{name: "anchor line signed by another key", anchor: func(t *testing.T, lines []string) []string {
			c := parseLine(t, lines[3])
			c.KeyID = sqldb.AuditKeyID(other.Public().(ed25519.PublicKey))
			c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(other, sqldb.CheckpointMessage(c.Seq, c.Hash, c.At, c.PrevSeq)))
			lines[3] = marshalLine(t, c)
			return lines
		}, bad: 16, line: 4, reason: "another key"},
		{name: "anchor line not JSON", anchor: func(t *testing.T, lines []string) []string {
			lines[1] = "这不是检查点 not a checkpoint"
			return lines
		}, bad: 2, line: 2, reason: "malformed"},
		{name: "anchor line missing a field", anchor: func(t *testing.T, lines []string) []string {
			lines[2] = strings.Replace(lines[2], `"signature"`, `"sig"`, 1)
			return lines
		}, bad: 7, line: 3, reason: "missing signature"},
		{name: "anchor line empty", anchor: func(t *testing.T, lines []string) []string {
			return append(lines[:4:4], "", lines[4])
		}, bad: 17, line: 5, reason: "malformed"},
		{name: "anchor lines swapped", anchor: func(t *testing.T, lines []string) []string {
			lines[1], lines[2] = lines[2], lines[1]
			return lines
		}, bad: 11, line: 2, reason: "out of order"},
		{name: "anchor line repeated", anchor: func(t *testing.T, lines []string) []string {
			return append(lines[:3:3], lines[2], lines[3], lines[4])
		}, bad: 11, line: 4, reason: "out of order"},
		{name: "anchor line deleted", anchor: func(t *testing.T, lines []string) []string {
			return append(lines[:1:1], lines[2:]...)
		}, bad: 11, line: 2, reason: "out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, dsn string) {
				db, key, path := anchoredFixture(t, dsn)
				l := anchorReader(t, db, key, path)
				if tt.db != nil {
					tt.db(t, db)
				}
				if tt.anchor != nil {
					writeAnchorLines(t, path, tt.anchor(t, anchorLines(t, path)))
				}
				v := verify(t, l)
				if v.OK || v.FirstBadSeq == nil || *v.FirstBadSeq != tt.bad || v.AnchorLine != tt.line || !strings.Contains(v.Reason, tt.reason) {
					t.Fatalf("verify: %+v\nwant first_bad_seq %d, anchor line %d, reason with %q", v, tt.bad, tt.line, tt.reason)
				}
				if !strings.Contains(v.Reason, fmt.Sprintf("%s line %d", path, tt.line)) {
					t.Fatalf("reason %q does not name %s line %d", v.Reason, path, tt.line)
				}
				err := sqldb.CheckAnchor(context.Background(), db, sqldb.NewFileAnchor(path, nil), key.Public().(ed25519.PublicKey))
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s line %d", path, tt.line)) {
					t.Fatalf("CheckAnchor: %v, want it to name %s line %d", err, path, tt.line)
				}
			})
		})
	}
}

// Checkpoints committed but not anchored — left by a crash between the commit and
// the append, or signed by another instance on the same database — are appended in
// order by the next writer, and the anchor never holds one whose signature fails.
func TestAuditAnchorCatchUp(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, key, path := anchoredFixture(t, dsn)
		// A writer without the anchor stands for the crash: its checkpoints commit
		// and never reach the file.
		unanchored := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 3, CheckpointInterval: time.Hour})
		for i := range 7 {
			if err := unanchored.Append(ctx, entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		unanchored.Close()
		if n := len(dbCheckpoints(t, db)); n <= len(fixtureCheckpoints) {
			t.Fatalf("%d checkpoints, want more than the anchored %d", n, len(fixtureCheckpoints))
		}
		// Behind is not wrong.
		if v := verify(t, anchorReader(t, db, key, path)); !v.OK || v.Anchored != int64(len(fixtureCheckpoints)) {
			t.Fatalf("anchor behind the database: %+v", v)
		}
		if err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(path, nil), key.Public().(ed25519.PublicKey)); err != nil {
			t.Fatalf("CheckAnchor with the anchor behind: %v", err)
		}
		// The next writer catches up as it starts, before anything is due.
		l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 3, CheckpointInterval: time.Hour, Anchor: sqldb.NewFileAnchor(path, nil)})
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		assertAnchorIsDB(t, db, path)

		// Two instances on one database, each with its own anchor: each anchor holds
		// every checkpoint, its own and the other's, in order.
		pathB := sqldb.AuditAnchorPath(t.TempDir())
		r := anchorReader(t, db, key, pathB)
		if n, err := r.SyncAnchor(ctx); err != nil || n != len(dbCheckpoints(t, db)) {
			t.Fatalf("SyncAnchor into a new anchor: %d, %v", n, err)
		}
		r.Close() // as `baocun audit anchor` exits: b appends to pathB next
		a := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 2, CheckpointInterval: time.Hour, Anchor: sqldb.NewFileAnchor(path, nil)})
		b := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 2, CheckpointInterval: time.Hour, Anchor: sqldb.NewFileAnchor(pathB, nil)})
		for i := range 20 {
			w := a
			if i%3 == 0 {
				w = b
			}
			if err := w.Append(ctx, entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		// Each writer's last catch-up, as it closes, takes in the other's checkpoints.
		a.Close()
		assertAnchorIsDB(t, db, path)
		b.Close()
		assertAnchorIsDB(t, db, pathB)
		for _, p := range []string{path, pathB} {
			if v := verify(t, anchorReader(t, db, key, p)); !v.OK || v.Anchored != int64(len(dbCheckpoints(t, db))) {
				t.Fatalf("anchor %s: %+v", p, v)
			}
		}

		// A checkpoint row the key did not sign, after the anchor's end, is refused.
		last := dbCheckpoints(t, db)
		end := last[len(last)-1]
		mustExec(t, db, "INSERT INTO audit_checkpoints (seq, hash, at, prev_seq, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)",
			end.Seq+5, strings.Repeat("c", 64), end.At, end.Seq, end.KeyID, end.Signature)
		before := anchorLines(t, path)
		n, err := anchorReader(t, db, key, path).SyncAnchor(ctx)
		if n != 0 || err == nil || !strings.Contains(err.Error(), fmt.Sprintf("checkpoint %d: its signature does not verify", end.Seq+5)) {
			t.Fatalf("SyncAnchor over a forged checkpoint: %d, %v", n, err)
		}
		if after := anchorLines(t, path); len(after) != len(before) {
			t.Fatalf("the forged checkpoint reached the anchor: %s", after[len(after)-1])
		}
	})
}

// A checkpoint whose transaction rolls back never reaches the anchor: only one that
// committed does.
func TestAuditAnchorRollback(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		path := sqldb.AuditAnchorPath(t.TempDir())
		l := newLog(t, db, key, sqldb.AuditOptions{CheckpointEvery: 1, CheckpointInterval: time.Hour, Anchor: sqldb.NewFileAnchor(path, nil)})
		if err := l.Append(ctx, entry(1)); err != nil {
			t.Fatal(err)
		}
		waitAnchorLines(t, path, 1)
		// Every transaction that moves the head now fails at its last statement,
		// after its checkpoint row is written.
		if db.Dialect() == sqldb.Postgres {
			mustExec(t, db, "CREATE FUNCTION audit_head_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$")
			mustExec(t, db, "CREATE TRIGGER audit_head_fail BEFORE UPDATE ON audit_head FOR EACH ROW EXECUTE FUNCTION audit_head_fail()")
		} else {
			mustExec(t, db, "CREATE TRIGGER audit_head_fail BEFORE UPDATE ON audit_head BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
		}
		if err := l.Append(ctx, entry(2)); baocun.ErrorCode(err) != baocun.EUNAVAILABLE {
			t.Fatalf("append with the head failing: %v, want %s", err, baocun.EUNAVAILABLE)
		}
		// The anchorer runs apart from the writer: had it anchored the rolled-back
		// checkpoint, later than this look, the last check below would see it.
		if lines := anchorLines(t, path); len(lines) != 1 {
			t.Fatalf("anchor after a rolled-back checkpoint:\n%s", strings.Join(lines, "\n"))
		}
		if db.Dialect() == sqldb.Postgres {
			mustExec(t, db, "DROP TRIGGER audit_head_fail ON audit_head")
		} else {
			mustExec(t, db, "DROP TRIGGER audit_head_fail")
		}
		// Seq 2 again, another entry: the checkpoint anchored is the committed one.
		e := entry(3)
		if err := l.Append(ctx, e); err != nil || e.Seq != 2 {
			t.Fatalf("append after: seq %d, %v", e.Seq, err)
		}
		l.Close()
		assertAnchorIsDB(t, db, path)
		if c := parseLine(t, anchorLines(t, path)[1]); c.Seq != 2 || c.Hash != e.Hash {
			t.Fatalf("anchored %+v, want checkpoint 2 of %s", c, e.Hash)
		}
		if v := verify(t, anchorReader(t, db, key, path)); !v.OK || v.Anchored != 2 {
			t.Fatalf("%+v", v)
		}
	})
}

// A crash in the middle of an append leaves a last line without its newline. Readers
// leave it aside, and the next writer cuts it, says so, and appends the checkpoint
// again whole.
func TestAuditAnchorTornLine(t *testing.T) {
	ctx := context.Background()
	db, key, path := anchoredFixture(t, sqldbtest.SQLiteDSN(t))
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The last checkpoint committed; its line was half written.
	lines := anchorLines(t, path)
	last := lines[len(lines)-1]
	torn := len(whole) - len(last) - 1 + len(last)/2
	if err := os.WriteFile(path, whole[:torn], 0o600); err != nil {
		t.Fatal(err)
	}
	if v := verify(t, anchorReader(t, db, key, path)); !v.OK || v.Anchored != int64(len(lines)-1) {
		t.Fatalf("verify with a torn last line: %+v", v)
	}
	if err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(path, nil), key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("CheckAnchor with a torn last line: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole[:torn]) {
		t.Fatal("reading the anchor changed it")
	}

	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 5, CheckpointInterval: time.Hour, Logger: logger,
		Anchor: sqldb.NewFileAnchor(path, logger)})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("anchor after the catch-up:\n%s\nwant:\n%s", got, whole)
	}
	if !strings.Contains(logged.String(), "cut a torn last line") || !strings.Contains(logged.String(), path) {
		t.Fatalf("the cut was not logged: %q", logged.String())
	}

	// A torn line that is all there is of the file.
	os.WriteFile(path, []byte(`{"seq":1,"pre`), 0o600)
	if err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(path, nil), key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("CheckAnchor on a torn first line: %v", err)
	}
	if n, err := anchorReader(t, db, key, path).SyncAnchor(ctx); err != nil || n != len(lines) {
		t.Fatalf("SyncAnchor after a torn first line: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("anchor rebuilt:\n%s\nwant:\n%s", got, whole)
	}
}

// CheckAnchor, a service's start-up check, reads and never writes: a missing anchor
// is accepted only while there is no checkpoint to anchor, and an unreadable one is an
// error naming it.
func TestCheckAnchor(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, key, path := anchoredFixture(t, dsn)
		pub := key.Public().(ed25519.PublicKey)
		if err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(path, nil), pub); err != nil {
			t.Fatalf("a sound anchor: %v", err)
		}
		// Before a first start has made the key, the lines are compared all the same.
		if err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(path, nil), nil); err != nil {
			t.Fatalf("a sound anchor, no key: %v", err)
		}
		dir := t.TempDir()
		missing := filepath.Join(dir, "gone", sqldb.AuditAnchorFile)
		err := sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(missing, nil), pub)
		if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "baocun audit anchor") ||
			!strings.Contains(err.Error(), fmt.Sprintf("%d signed checkpoints", len(fixtureCheckpoints))) {
			t.Fatalf("missing anchor with checkpoints: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "isdir", sqldb.AuditAnchorFile), 0o700); err != nil {
			t.Fatal(err)
		}
		err = sqldb.CheckAnchor(ctx, db, sqldb.NewFileAnchor(filepath.Join(dir, "isdir", sqldb.AuditAnchorFile), nil), pub)
		if err == nil || !strings.Contains(err.Error(), "Audit anchor") || !strings.Contains(err.Error(), "unusable") {
			t.Fatalf("anchor path a directory: %v", err)
		}

		empty := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
		if err := sqldb.CheckAnchor(ctx, empty, sqldb.NewFileAnchor(missing, nil), pub); err != nil {
			t.Fatalf("missing anchor, no checkpoints yet: %v", err)
		}
		// The whole chain deleted: the anchor's first line says so.
		err = sqldb.CheckAnchor(ctx, empty, sqldb.NewFileAnchor(path, nil), pub)
		if err == nil || !strings.Contains(err.Error(), path+" line 1: checkpoint 1 is missing") {
			t.Fatalf("an anchor over an empty database: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("CheckAnchor created files: %v", entries)
		}
	})
}

// hungAnchor is an anchor on a volume that stopped answering, as a hung NFS mount
// does: Append blocks until release is closed (nil: it never blocks), then fails
// with fail when set, or records.
type hungAnchor struct {
	release chan struct{}
	calls   atomic.Int32
	fail    atomic.Pointer[error]

	mu    sync.Mutex
	lines []sqldb.Checkpoint
}

func newHungAnchor() *hungAnchor { return &hungAnchor{release: make(chan struct{})} }

func (a *hungAnchor) Name() string { return "/mnt/hung/audit-anchor.jsonl" }

func (a *hungAnchor) Append(cps ...sqldb.Checkpoint) error {
	a.calls.Add(1)
	if a.release != nil {
		<-a.release
	}
	if err := a.fail.Load(); err != nil {
		return *err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, cps...)
	return nil
}

func (a *hungAnchor) Read() ([]sqldb.AnchorRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	recs := make([]sqldb.AnchorRecord, len(a.lines))
	for i, c := range a.lines {
		recs[i] = sqldb.AnchorRecord{Line: i + 1, Checkpoint: c}
	}
	return recs, nil
}

func (a *hungAnchor) seqs() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int64
	for _, c := range a.lines {
		out = append(out, c.Seq)
	}
	return out
}

// An anchor that stops answering stalls neither appends nor checkpoints: the anchorer
// waits on it alone, Close gives up on it after a bound, and once it answers again it
// is caught up with every checkpoint, in order.
func TestAuditAnchorHung(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		sqldb.SetAnchorTimings(t, time.Minute, 200*time.Millisecond, time.Minute)
		db := sqldbtest.Open(t, dsn)
		a := newHungAnchor()
		released := false
		defer func() {
			if !released {
				close(a.release)
			}
		}()
		l := sqldb.NewAuditLog(db, newKey(t), sqldb.AuditOptions{CheckpointEvery: 1, CheckpointInterval: time.Hour,
			Anchor: a, Logger: slog.New(slog.DiscardHandler)})
		done := make(chan error, 1)
		go func() {
			for i := range 12 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := l.Append(ctx, entry(i))
				cancel()
				if err != nil {
					done <- fmt.Errorf("append %d: %w", i, err)
					return
				}
				// The rest once the first checkpoint's append hangs.
				for i == 0 && a.calls.Load() == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("appends stalled behind the hung anchor")
		}
		if got := dbCheckpoints(t, db); len(got) != 12 {
			t.Fatalf("%d checkpoints with the anchor hung, want 12 (one every entry)", len(got))
		}
		// Readiness says so, and by how much, without waiting for the anchor.
		ctx := context.Background()
		if n, err := l.AnchorBehind(ctx); n != 12 || err != nil {
			t.Errorf("AnchorBehind with the anchor hung on the first checkpoint: %d, %v; want 12", n, err)
		}
		if err := l.AnchorHealth(ctx); err == nil || !strings.Contains(err.Error(), a.Name()+" lacks 12 of the database's checkpoints") {
			t.Errorf("AnchorHealth with 12 checkpoints unanchored: %v", err)
		}

		began := time.Now()
		err := l.Close()
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("Close waited %s for the hung anchor", took)
		}
		if err == nil || !strings.Contains(err.Error(), a.Name()) || !strings.Contains(err.Error(), "has not returned") {
			t.Fatalf("Close with the anchor hung: %v", err)
		}
		// The mount answers again: the append in progress completes and the anchorer,
		// stopped by Close, catches up before it ends.
		close(a.release)
		released = true
		for deadline := time.Now().Add(10 * time.Second); ; {
			err := l.Close()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Close once the anchor answers: %v", err)
			}
		}
		var want []int64
		for _, c := range dbCheckpoints(t, db) {
			want = append(want, c.Seq)
		}
		if got := a.seqs(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("anchored %v, want every checkpoint once, in order: %v", got, want)
		}
	})
}

// Two logs on one database and one anchor file (two instances given the same
// --audit-anchor) would each append the other's checkpoints as well: duplicate lines,
// and a next start refused. The file's lock lets one of them write; the other is
// refused, says so, and the anchor holds each checkpoint once.
func TestAuditAnchorOneWriter(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		path := sqldb.AuditAnchorPath(t.TempDir())
		first, second := sqldb.NewFileAnchor(path, nil), sqldb.NewFileAnchor(path, nil)
		if err := first.Lock(); err != nil {
			t.Fatal(err)
		}
		err := second.Lock()
		if err == nil || !strings.Contains(err.Error(), path+" is in use by another baocun process") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("a second lock on %s: %v, want one line saying it is in use", path, err)
		}

		var logged bytes.Buffer
		a := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 2, CheckpointInterval: time.Hour, Anchor: first})
		b := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 2, CheckpointInterval: time.Hour, Anchor: second,
			Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		for i := range 20 {
			w := a
			if i%3 == 0 {
				w = b
			}
			if err := w.Append(ctx, entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		b.Close()
		a.Close()
		assertAnchorIsDB(t, db, path)
		if !strings.Contains(logged.String(), "in use by another baocun process") {
			t.Errorf("the refused writer did not log it:\n%s", logged.String())
		}
		// The next writer starts on the anchor and appends after it.
		c := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 2, CheckpointInterval: time.Hour, Anchor: sqldb.NewFileAnchor(path, nil)})
		for i := range 3 {
			if err := c.Append(ctx, entry(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		assertAnchorIsDB(t, db, path)
		if v := verify(t, anchorReader(t, db, key, path)); !v.OK || v.Anchored != int64(len(dbCheckpoints(t, db))) {
			t.Fatalf("%+v", v)
		}
	})
}

// Under its lock the file anchor reads its last line again before it appends: what
// the file holds already is not written twice, and a checkpoint that does not follow
// its last line is not written at all.
func TestFileAnchorAppendsAfterItsLastLine(t *testing.T) {
	db, _, path := anchoredFixture(t, sqldbtest.SQLiteDSN(t))
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cps := dbCheckpoints(t, db)
	a := sqldb.NewFileAnchor(path, nil)
	defer a.Close()
	for _, from := range []int{0, 2, 4} {
		if err := a.Append(cps[from:]...); err != nil {
			t.Fatalf("append from checkpoint %d: %v", cps[from].Seq, err)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("appending what the anchor holds changed it:\n%s", got)
	}
	// The last line lost (an earlier write that failed): only it is appended.
	lines := anchorLines(t, path)
	writeAnchorLines(t, path, lines[:len(lines)-1])
	if err := a.Append(cps[2:]...); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("anchor after appending from checkpoint %d over a lost last line:\n%s", cps[2].Seq, got)
	}
	// Not after its last line: refused, nothing written.
	gap := cps[len(cps)-1]
	gap.Seq, gap.PrevSeq = gap.Seq+10, gap.Seq+5
	err = a.Append(gap)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ends with checkpoint %d, and checkpoint %d follows %d", cps[len(cps)-1].Seq, gap.Seq, gap.PrevSeq)) {
		t.Fatalf("append out of line: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("an out-of-line append changed the anchor:\n%s", got)
	}
}

// The file removed from under a writer (deleted, or its volume unmounted) is noticed at
// the next append, and never created again: a new file would vouch for the database as
// it is then. Put back, it is appended to again.
func TestFileAnchorRemovedWhileHeld(t *testing.T) {
	db, _, path := anchoredFixture(t, sqldbtest.SQLiteDSN(t))
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cps := dbCheckpoints(t, db)
	a := sqldb.NewFileAnchor(path, nil)
	defer a.Close()
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	aside := path + ".aside"
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(cps...); err == nil || !strings.Contains(err.Error(), path+" was removed, replaced or unmounted") {
		t.Fatalf("append with the file moved away: %v", err)
	}
	if err := a.Append(cps...); err == nil || !strings.Contains(err.Error(), path+" no longer exists") {
		t.Fatalf("append again: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the anchor was created again: %v", err)
	}
	if err := os.Rename(aside, path); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(cps...); err != nil {
		t.Fatalf("append once the file is back: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, whole) {
		t.Fatalf("anchor:\n%s\nwant:\n%s", got, whole)
	}
}

// eventually polls cond until it holds, for at most 10 s, and fails the test with
// what the last poll said.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ok, said := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after 10 s, %s", what, said)
		}
	}
}

// healthIs waits for AnchorHealth to say want ("" for healthy) and AnchorBehind to
// count behind.
func healthIs(t *testing.T, l *sqldb.AuditLog, want string, behind int64) {
	t.Helper()
	ctx := context.Background()
	eventually(t, fmt.Sprintf("anchor health %q, %d behind", want, behind), func() (bool, string) {
		err := l.AnchorHealth(ctx)
		n, nerr := l.AnchorBehind(ctx)
		ok := n == behind && nerr == nil && (want == "" && err == nil || want != "" && err != nil && strings.Contains(err.Error(), want))
		return ok, fmt.Sprintf("AnchorHealth %v, AnchorBehind %d, %v", err, n, nerr)
	})
}

// A failing anchor is not silent: AnchorHealth reports an append that fails, one that
// hangs and a file gone from under the writer, and AnchorBehind how many checkpoints
// wait; once the anchor takes appends again it is caught up and healthy.
func TestAuditAnchorHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("the full run's (anchor checkpoints over time): go test ./...")
	}
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		sqldb.SetAnchorTimings(t, 50*time.Millisecond, 10*time.Second, 300*time.Millisecond)
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		quiet := slog.New(slog.DiscardHandler)
		opts := sqldb.AuditOptions{CheckpointEvery: 1, CheckpointInterval: time.Hour, Logger: quiet}
		appendN := func(l *sqldb.AuditLog, n int) {
			for i := range n {
				if err := l.Append(ctx, entry(i)); err != nil {
					t.Fatal(err)
				}
			}
		}

		t.Run("disk full", func(t *testing.T) {
			a := &hungAnchor{}
			opts := opts
			opts.Anchor = a
			l := newLog(t, db, key, opts)
			appendN(l, 2)
			healthIs(t, l, "", 0)
			full := errors.New("write " + a.Name() + ": no space left on device")
			a.fail.Store(&full)
			appendN(l, 3)
			healthIs(t, l, "no space left on device", 3)
			if err := l.AnchorHealth(ctx); !strings.Contains(err.Error(), "Audit anchor failing, checkpoints go unanchored") {
				t.Errorf("AnchorHealth: %v", err)
			}
			a.fail.Store(nil)
			healthIs(t, l, "", 0)
			l.Close()
			var want []int64
			for _, c := range dbCheckpoints(t, db) {
				want = append(want, c.Seq)
			}
			if got := a.seqs(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("anchored %v, want %v", got, want)
			}
		})

		t.Run("an append hangs", func(t *testing.T) {
			a := newHungAnchor()
			defer close(a.release)
			opts := opts
			opts.Anchor = a
			l := newLog(t, db, key, opts)
			appendN(l, 1)
			// This anchor is new: every checkpoint of the database waits.
			healthIs(t, l, a.Name()+": an append has not returned for", int64(len(dbCheckpoints(t, db))))
		})

		t.Run("the file moved away", func(t *testing.T) {
			path := sqldb.AuditAnchorPath(t.TempDir())
			fa := sqldb.NewFileAnchor(path, quiet)
			// Anchored from the first checkpoint: the earlier subtests' are there.
			r := newLog(t, db, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey), Anchor: fa})
			if _, err := r.SyncAnchor(ctx); err != nil {
				t.Fatal(err)
			}
			r.Close()
			opts := opts
			opts.Anchor = sqldb.NewFileAnchor(path, quiet)
			l := newLog(t, db, key, opts)
			appendN(l, 1)
			healthIs(t, l, "", 0)
			if err := os.Rename(path, path+".aside"); err != nil {
				t.Fatal(err)
			}
			// Noticed without a checkpoint to append: the anchorer checks at every tick.
			healthIs(t, l, path+" was removed, replaced or unmounted", 0)
			healthIs(t, l, path+" no longer exists", 0)
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("the anchor was created anew: %v", err)
			}
			appendN(l, 2)
			healthIs(t, l, path+" no longer exists", 2)
			if err := os.Rename(path+".aside", path); err != nil {
				t.Fatal(err)
			}
			healthIs(t, l, "", 0)
			l.Close()
			assertAnchorIsDB(t, db, path)
		})
	})
}

// Close never waits for an append in progress: one hung on an unresponsive mount
// would hang a stopping service with it. Here the anchor is a pipe nobody reads, full,
// so the append's write blocks as a hung NFS write does.
func TestFileAnchorCloseDoesNotWaitForAHungAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anchor.jsonl")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	buf := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fd, buf); err != nil {
			break // full
		}
	}
	a := sqldb.NewFileAnchor(path, nil)
	done := make(chan error, 1)
	go func() { done <- a.Append(sqldb.Checkpoint{Seq: 1}) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the append did not hang: %v", err)
	default:
	}
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "an append is in progress") {
			t.Fatalf("Close while the append hangs: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the hung append")
	}
	for {
		if _, err := syscall.Read(fd, buf); err != nil {
			break // drained: the append goes on
		}
	}
	<-done
	if err := a.Close(); err != nil {
		t.Fatalf("Close once the append returned: %v", err)
	}
}
