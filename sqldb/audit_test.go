package sqldb_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"baocun"
	"baocun/sqldb"
	"baocun/sqldb/sqldbtest"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newLog(t testing.TB, db *sqldb.DB, key ed25519.PrivateKey, opts sqldb.AuditOptions) *sqldb.AuditLog {
	t.Helper()
	l := sqldb.NewAuditLog(db, key, opts)
	t.Cleanup(func() { l.Close() })
	return l
}

// entry makes the i-th test entry, with every field set so that each is covered by
// the hash.
func entry(i int) *baocun.AuditEntry {
	decision := baocun.DecisionAllow
	if i%3 == 0 {
		decision = baocun.DecisionDeny
	}
	return &baocun.AuditEntry{
		Actor: []string{"alice", "bob", "王五"}[i%3], Role: "reviewer", Jurisdiction: "*",
		Action:   []string{"report.approve", "plan.return", "auth.login", "policy.grant"}[i%4],
		Resource: fmt.Sprintf("pairings/%d", i%7), CycleID: fmt.Sprintf("c%d", i%2), PairingID: fmt.Sprintf("p%d", i%7),
		Department: fmt.Sprintf("D%02d", i%5), Village: fmt.Sprintf("V%03d", i%11), Decision: decision,
		Rule: "p, reviewer, report, approve, any", Status: 200 + i%2, RequestID: fmt.Sprintf("req-%d", i),
		SourceIP: "10.0.0.1", UserAgent: "Mozilla/5.0", Summary: fmt.Sprintf(`{"i":%d}`, i),
	}
}

func verify(t testing.TB, l *sqldb.AuditLog) baocun.AuditVerification {
	t.Helper()
	v, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return v
}

func mustExec(t testing.TB, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func entryAt(t testing.TB, l *sqldb.AuditLog, seq int64) baocun.AuditEntry {
	t.Helper()
	page, _, err := l.Query(context.Background(), baocun.AuditFilter{Cursor: cursorBefore(seq + 1), Limit: 1})
	if err != nil || len(page) != 1 || page[0].Seq != seq {
		t.Fatalf("entry %d: %v %v", seq, page, err)
	}
	return page[0]
}

// cursorBefore builds the cursor that starts a page below seq, as Query's own are.
func cursorBefore(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("a1:%d", seq)))
}

// The tamper fixture: 20 entries appended one by one with a checkpoint every 5, then
// the log closed. Checkpoints fall at 1 (the first append finds none), 6, 11, 16 and,
// signed by Close, 20.
const fixtureEntries = 20

var fixtureCheckpoints = []int64{1, 6, 11, 16, 20}

func tamperFixture(t *testing.T, dsn string) (*sqldb.DB, ed25519.PrivateKey) {
	t.Helper()
	return chainFixture(t, dsn, nil)
}

// chainFixture is the tamper fixture, its checkpoints anchored in anchor when it is
// not nil.
func chainFixture(t *testing.T, dsn string, anchor sqldb.Anchor) (*sqldb.DB, ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	db := sqldbtest.Open(t, dsn)
	key := newKey(t)
	l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 5, CheckpointInterval: time.Hour, Anchor: anchor})
	for i := range fixtureEntries {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var got []int64
	rows, err := db.QueryContext(ctx, "SELECT seq FROM audit_checkpoints ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s int64
		rows.Scan(&s)
		got = append(got, s)
	}
	if fmt.Sprint(got) != fmt.Sprint(fixtureCheckpoints) {
		t.Fatalf("checkpoints at %v, want %v", got, fixtureCheckpoints)
	}
	return db, key
}

// rewriteFrom changes entry from's actor and recomputes every later hash and the
// head, as an attacker who knows the (public) hash rule can: only the signed
// checkpoints give it away.
func rewriteFrom(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog, from int64) {
	prev := entryAt(t, l, from-1).Hash
	for seq := from; seq <= fixtureEntries; seq++ {
		e := entryAt(t, l, seq)
		if seq == from {
			e.Actor = "mallory"
		}
		e.PrevHash = prev
		e.Hash = sqldb.EntryHash(&e)
		mustExec(t, db, "UPDATE audit_entries SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?", e.Actor, e.PrevHash, e.Hash, seq)
		prev = e.Hash
	}
	mustExec(t, db, "UPDATE audit_head SET hash = ?", prev)
}

func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog)
		bad    int64
		reason string // a word the reason must contain
	}{
		{"modify a field", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "UPDATE audit_entries SET decision = CASE decision WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE seq = 9")
		}, 9, "modified"},
		{"modify the time", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "UPDATE audit_entries SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 3")
		}, 3, "modified"},
		{"modify and rehash to the end", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			rewriteFrom(t, db, l, 8)
		}, 11, "checkpoint"},
		{"delete in the middle", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_entries WHERE seq = 8")
		}, 8, "deleted"},
		{"delete the first", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_entries WHERE seq = 1")
		}, 1, "deleted"},
		{"delete the tail", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_entries WHERE seq > 17")
		}, 18, "end"},
		{"delete the tail and rewind the head", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_entries WHERE seq > 17")
			mustExec(t, db, "UPDATE audit_head SET seq = 17, hash = (SELECT hash FROM audit_entries WHERE seq = 17)")
		}, 18, "checkpoint 20"},
		{"insert in the middle", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			prev := entryAt(t, l, 8)
			mustExec(t, db, "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 9")
			mustExec(t, db, "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000")
			forged := baocun.AuditEntry{Seq: 9, At: prev.At, Actor: "mallory", Action: "report.approve", PrevHash: prev.Hash}
			forged.Hash = sqldb.EntryHash(&forged)
			mustExec(t, db, "INSERT INTO audit_entries (seq, at, actor, action, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
				forged.Seq, sqldb.FormatTime(forged.At), forged.Actor, forged.Action, forged.PrevHash, forged.Hash)
		}, 10, "link"}, // the forged entry hashes right; the one after it no longer links
		{"insert at the end", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			last := entryAt(t, l, fixtureEntries)
			forged := baocun.AuditEntry{Seq: fixtureEntries + 1, At: last.At, Actor: "mallory", Action: "report.approve", PrevHash: last.Hash}
			forged.Hash = sqldb.EntryHash(&forged)
			mustExec(t, db, "INSERT INTO audit_entries (seq, at, actor, action, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
				forged.Seq, sqldb.FormatTime(forged.At), forged.Actor, forged.Action, forged.PrevHash, forged.Hash)
		}, fixtureEntries + 1, "head"},
		{"swap two", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "UPDATE audit_entries SET seq = -1 WHERE seq = 12")
			mustExec(t, db, "UPDATE audit_entries SET seq = 12 WHERE seq = 13")
			mustExec(t, db, "UPDATE audit_entries SET seq = 13 WHERE seq = -1")
		}, 12, "link"},
		{"modify a checkpoint", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "UPDATE audit_checkpoints SET at = '2001-01-01T00:00:00.000000Z' WHERE seq = 11")
		}, 11, "signature"},
		{"delete a checkpoint", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE seq = 11")
		}, 11, "missing"},
		{"delete the last checkpoint", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE seq = 20")
		}, 20, "missing"},
		{"forge a checkpoint with another key", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			other := newKey(t)
			var hash, at string
			var prev int64
			if err := db.QueryRowContext(context.Background(), "SELECT hash, at, prev_seq FROM audit_checkpoints WHERE seq = 16").Scan(&hash, &at, &prev); err != nil {
				t.Fatal(err)
			}
			sig := ed25519.Sign(other, sqldb.CheckpointMessage(16, hash, at, prev))
			mustExec(t, db, "UPDATE audit_checkpoints SET key_id = ?, signature = ? WHERE seq = 16",
				sqldb.AuditKeyID(other.Public().(ed25519.PublicKey)), base64.StdEncoding.EncodeToString(sig))
		}, 16, "another key"},
		{"rewrite and re-sign with another key", func(t *testing.T, db *sqldb.DB, l *sqldb.AuditLog) {
			rewriteFrom(t, db, l, 8)
			other := newKey(t)
			for _, seq := range []int64{11, 16, 20} {
				var at string
				var prev int64
				if err := db.QueryRowContext(context.Background(), "SELECT at, prev_seq FROM audit_checkpoints WHERE seq = ?", seq).Scan(&at, &prev); err != nil {
					t.Fatal(err)
				}
				hash := entryAt(t, l, seq).Hash
				sig := ed25519.Sign(other, sqldb.CheckpointMessage(seq, hash, at, prev))
				mustExec(t, db, "UPDATE audit_checkpoints SET hash = ?, key_id = ?, signature = ? WHERE seq = ?",
					hash, sqldb.AuditKeyID(other.Public().(ed25519.PublicKey)), base64.StdEncoding.EncodeToString(sig), seq)
			}
		}, 11, "another key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, dsn string) {
				db, key := tamperFixture(t, dsn)
				// A reader with only the public key, as an auditor has.
				l := newLog(t, db, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey)})
				if v := verify(t, l); !v.OK || v.Entries != fixtureEntries || v.Checkpoints != int64(len(fixtureCheckpoints)) {
					t.Fatalf("before tampering: %+v", v)
				}
				tt.tamper(t, db, l)
				v := verify(t, l)
				if v.OK || v.FirstBadSeq == nil {
					t.Fatalf("tampering not detected: %+v", v)
				}
				if *v.FirstBadSeq != tt.bad || !strings.Contains(v.Reason, tt.reason) {
					t.Fatalf("first bad seq %d (%s), want %d (%q)", *v.FirstBadSeq, v.Reason, tt.bad, tt.reason)
				}
			})
		})
	}
}

func TestAuditVerifyEmptyAndKeyless(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		if v := verify(t, newLog(t, db, key, sqldb.AuditOptions{})); !v.OK || v.Entries != 0 || v.FirstBadSeq != nil {
			t.Fatalf("empty chain: %+v", v)
		}
		_, err := newLog(t, db, nil, sqldb.AuditOptions{}).Verify(context.Background())
		if baocun.ErrorCode(err) != baocun.EINVALID {
			t.Fatalf("verify without a public key: %v, want %s", err, baocun.EINVALID)
		}
		// A different public key than the signer's fails at the first checkpoint.
		l := newLog(t, db, key, sqldb.AuditOptions{})
		if err := l.Append(context.Background(), entry(1)); err != nil {
			t.Fatal(err)
		}
		l.Close()
		other := newLog(t, db, nil, sqldb.AuditOptions{PublicKey: newKey(t).Public().(ed25519.PublicKey)})
		if v := verify(t, other); v.OK || *v.FirstBadSeq != 1 {
			t.Fatalf("verify with the wrong key: %+v", v)
		}
	})
}

// Parallel API requests and activities append at once: one chain, no forks, no gaps.
func TestAuditConcurrentAppends(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		l := newLog(t, db, key, sqldb.AuditOptions{CheckpointEvery: 250})
		const goroutines, each = 16, 200
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*each)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := entry(g*each + i)
					e.RequestID = fmt.Sprintf("g%d-%d", g, i)
					var err error
					if i%2 == 0 {
						err = l.Append(ctx, e)
					} else {
						// As a handler does: the entry in the transaction of the change.
						err = db.InTx(ctx, func(tx *sqldb.Tx) error { return l.AppendTx(ctx, tx, e) })
					}
					if err == nil && (e.Seq <= 0 || len(e.Hash) != 64) {
						err = fmt.Errorf("entry %s not filled: %+v", e.RequestID, e)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		v := verify(t, l)
		if !v.OK || v.Entries != goroutines*each || v.Checkpoints == 0 {
			t.Fatalf("after %d concurrent appends: %+v", goroutines*each, v)
		}
		var distinct, maxSeq int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(DISTINCT request_id), MAX(seq) FROM audit_entries").Scan(&distinct, &maxSeq); err != nil {
			t.Fatal(err)
		}
		if distinct != goroutines*each || maxSeq != goroutines*each {
			t.Fatalf("%d distinct requests up to seq %d, want %d", distinct, maxSeq, goroutines*each)
		}
	})
}

func TestAuditIdempotentKey(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		l := newLog(t, db, newKey(t), sqldb.AuditOptions{})
		first := entry(1)
		first.Key = "wf-42/activity-7/attempt"
		if err := l.Append(ctx, first); err != nil {
			t.Fatal(err)
		}
		// Retries through every path, some at once, write nothing more.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				retry := entry(2)
				retry.Key = first.Key
				var err error
				if i%2 == 0 {
					err = l.Append(ctx, retry)
				} else {
					err = db.InTx(ctx, func(tx *sqldb.Tx) error { return sqldb.AppendAuditTx(ctx, tx, retry) })
				}
				if err != nil {
					t.Error(err)
					return
				}
				if retry.Seq != first.Seq || retry.Hash != first.Hash || retry.Actor != first.Actor {
					t.Errorf("retry filled as %+v, want the stored %+v", retry, first)
				}
			}()
		}
		wg.Wait()
		other := entry(3)
		other.Key = "another"
		if err := l.Append(ctx, other); err != nil {
			t.Fatal(err)
		}
		if other.Seq != 2 {
			t.Fatalf("the next key got seq %d, want 2", other.Seq)
		}
		// Entries without a key never collide.
		for range 2 {
			if err := l.Append(ctx, entry(4)); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		if v := verify(t, l); !v.OK || v.Entries != 4 {
			t.Fatalf("%+v, want 4 entries", v)
		}
	})
}

func TestAuditAppendRejects(t *testing.T) {
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	l := newLog(t, db, newKey(t), sqldb.AuditOptions{})
	ctx := context.Background()
	tests := []struct {
		name string
		e    *baocun.AuditEntry
	}{
		{"no actor", &baocun.AuditEntry{Action: "auth.login"}},
		{"no action", &baocun.AuditEntry{Actor: "alice"}},
		{"bad decision", &baocun.AuditEntry{Actor: "alice", Action: "auth.login", Decision: "maybe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Append(ctx, tt.e); baocun.ErrorCode(err) != baocun.EINVALID {
				t.Fatalf("Append: %v, want %s", err, baocun.EINVALID)
			}
		})
	}
	// Text a client controls is stored as valid UTF-8, the same on both databases.
	e := &baocun.AuditEntry{Actor: "alice", Action: "auth.login", UserAgent: "bad\xff\x00agent"}
	if err := l.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.UserAgent != "bad\uFFFD\uFFFDagent" {
		t.Fatalf("user agent stored as %q", e.UserAgent)
	}
	l.Close()
	if err := l.Append(ctx, entry(1)); baocun.ErrorCode(err) != baocun.EUNAVAILABLE {
		t.Fatalf("Append after Close: %v, want %s", err, baocun.EUNAVAILABLE)
	}
}

// What a request chooses (its user agent, the name it signs in with, the path it
// names) is stored cut to a bound, through Append and in a transaction alike, on
// both databases: a refusal writes a few hundred bytes, never the 64 KiB its headers
// may carry. The hash covers what is stored, so the chain verifies.
func TestAuditBoundsFreeText(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		db := sqldbtest.Open(t, dsn)
		l := newLog(t, db, newKey(t), sqldb.AuditOptions{})
		ctx := context.Background()
		long := strings.Repeat("界", 20000) // 60,000 bytes, three to a character
		e := &baocun.AuditEntry{Actor: long, Action: "auth.login", Resource: "users/" + long, UserAgent: long,
			RequestID: long, SourceIP: long, Rule: long, Summary: `{"ok":true}`}
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		inTx := &baocun.AuditEntry{Actor: "system", Action: "user.update", UserAgent: strings.Repeat("A", 65536)}
		if err := db.InTx(ctx, func(tx *sqldb.Tx) error { return l.AppendTx(ctx, tx, inTx) }); err != nil {
			t.Fatal(err)
		}
		stored := entryAt(t, l, e.Seq)
		for name, v := range map[string]string{"actor": stored.Actor, "resource": stored.Resource, "user agent": stored.UserAgent,
			"request id": stored.RequestID, "source": stored.SourceIP} {
			if len(v) > 256 || !strings.HasSuffix(v, "…[truncated]") || !utf8.ValidString(v) {
				t.Errorf("%s stored as %d bytes: %q…", name, len(v), v[:min(len(v), 40)])
			}
		}
		if len(stored.Rule) > 1024 || !strings.HasSuffix(stored.Rule, "…[truncated]") {
			t.Errorf("rule stored as %d bytes", len(stored.Rule))
		}
		if stored.Summary != `{"ok":true}` {
			t.Errorf("summary %q", stored.Summary)
		}
		if ua := entryAt(t, l, inTx.Seq).UserAgent; len(ua) != 256 {
			t.Errorf("user agent appended in a transaction stored as %d bytes", len(ua))
		}
		var total int64
		if err := db.QueryRowContext(ctx, "SELECT SUM(LENGTH(actor) + LENGTH(resource) + LENGTH(user_agent) + LENGTH(request_id) + LENGTH(source_ip) + LENGTH(rule)) FROM audit_entries").Scan(&total); err != nil {
			t.Fatal(err)
		}
		t.Logf("two entries given 450 KB of free text store %d characters of it", total)
		if v := verify(t, l); !v.OK || v.Entries != 2 {
			t.Fatalf("%+v", v)
		}
	})
}

// fillQuery appends n entries of entry(i) in one transaction, entry i at base+i minutes.
func fillQuery(t *testing.T, db *sqldb.DB, n int, base time.Time) {
	ctx := context.Background()
	if err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range n {
			e := entry(i)
			e.At = base.Add(time.Duration(i) * time.Minute)
			if err := sqldb.AppendAuditTx(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAuditQuery(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		l := newLog(t, db, nil, sqldb.AuditOptions{})
		const n = 240
		base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		fillQuery(t, db, n, base)
		// want lists the seqs (1-based) of entry(i) that a filter matches.
		want := func(match func(i int, e *baocun.AuditEntry) bool) []int64 {
			var out []int64
			for i := n - 1; i >= 0; i-- {
				if match(i, entry(i)) {
					out = append(out, int64(i+1))
				}
			}
			return out
		}
		tests := []struct {
			name  string
			f     baocun.AuditFilter
			match func(i int, e *baocun.AuditEntry) bool
		}{
			{"everything", baocun.AuditFilter{}, func(int, *baocun.AuditEntry) bool { return true }},
			{"actor", baocun.AuditFilter{Actor: "王五"}, func(_ int, e *baocun.AuditEntry) bool { return e.Actor == "王五" }},
			{"action", baocun.AuditFilter{Action: "auth.login"}, func(_ int, e *baocun.AuditEntry) bool { return e.Action == "auth.login" }},
			{"cycle and pairing", baocun.AuditFilter{CycleID: "c1", PairingID: "p3"}, func(_ int, e *baocun.AuditEntry) bool { return e.CycleID == "c1" && e.PairingID == "p3" }},
			{"department", baocun.AuditFilter{Department: "D04"}, func(_ int, e *baocun.AuditEntry) bool { return e.Department == "D04" }},
			{"village and decision", baocun.AuditFilter{Village: "V007", Decision: baocun.DecisionDeny}, func(_ int, e *baocun.AuditEntry) bool {
				return e.Village == "V007" && e.Decision == baocun.DecisionDeny
			}},
			{"time range", baocun.AuditFilter{Since: base.Add(30 * time.Minute), Until: base.Add(90 * time.Minute)}, func(i int, _ *baocun.AuditEntry) bool { return i >= 30 && i < 90 }},
			{"actor in a time range", baocun.AuditFilter{Actor: "bob", Since: base.Add(100 * time.Minute)}, func(i int, e *baocun.AuditEntry) bool { return e.Actor == "bob" && i >= 100 }},
			{"nothing", baocun.AuditFilter{Actor: "nobody"}, func(int, *baocun.AuditEntry) bool { return false }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				expected := want(tt.match)
				for _, limit := range []int{0, 7, 1000} {
					f := tt.f
					f.Limit = limit
					var got []int64
					pages := 0
					for {
						page, next, err := l.Query(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						pages++
						pageMax := limit
						if pageMax == 0 {
							pageMax = sqldb.DefaultAuditLimit
						}
						if len(page) > pageMax {
							t.Fatalf("limit %d: page of %d", limit, len(page))
						}
						for _, e := range page {
							got = append(got, e.Seq)
						}
						if next == "" {
							break
						}
						f.Cursor = next
					}
					if fmt.Sprint(got) != fmt.Sprint(expected) {
						t.Fatalf("limit %d: got %v, want %v", limit, got, expected)
					}
					if limit == 7 && pages != max(1, (len(expected)+6)/7) {
						t.Fatalf("limit 7: %d pages for %d entries", pages, len(expected))
					}
				}
			})
		}
		// Entries come back as they were written.
		page, _, err := l.Query(ctx, baocun.AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		e, w := page[0], entry(n-1)
		if e.Actor != w.Actor || e.Summary != w.Summary || e.Status != w.Status || !e.At.Equal(base.Add((n-1)*time.Minute)) || e.Hash != sqldb.EntryHash(&e) {
			t.Fatalf("read back %+v, wrote %+v", e, w)
		}
		for _, bad := range []string{"nonsense!", base64.RawURLEncoding.EncodeToString([]byte("a1:-4")), base64.RawURLEncoding.EncodeToString([]byte("x:4"))} {
			if _, _, err := l.Query(ctx, baocun.AuditFilter{Cursor: bad}); baocun.ErrorCode(err) != baocun.EINVALID {
				t.Fatalf("cursor %q: %v, want %s", bad, err, baocun.EINVALID)
			}
		}
	})
}

func TestAuditQueryLimitCapped(t *testing.T) {
	db := sqldbtest.Open(t, sqldbtest.SQLiteDSN(t))
	l := newLog(t, db, nil, sqldb.AuditOptions{})
	fillQuery(t, db, sqldb.MaxAuditLimit+5, time.Now())
	page, next, err := l.Query(context.Background(), baocun.AuditFilter{Limit: 5000})
	if err != nil || len(page) != sqldb.MaxAuditLimit || next == "" {
		t.Fatalf("limit 5000: %d entries, next %q, %v; want %d and a next page", len(page), next, err, sqldb.MaxAuditLimit)
	}
}

// Each walks every matching entry, newest first, across pages, as the exports need.
func TestAuditEach(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		l := newLog(t, db, nil, sqldb.AuditOptions{})
		const n = 2100 // more than two pages
		fillQuery(t, db, n, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))

		var seqs []int64
		if err := l.Each(ctx, baocun.AuditFilter{Limit: 5}, func(e *baocun.AuditEntry) error {
			if e.Hash != sqldb.EntryHash(e) {
				t.Fatalf("entry %d does not hash to its hash", e.Seq)
			}
			seqs = append(seqs, e.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(seqs) != n || seqs[0] != n || seqs[n-1] != 1 {
			t.Fatalf("%d entries from %v to %v, want %d newest first", len(seqs), seqs[0], seqs[len(seqs)-1], n)
		}
		alice := 0
		if err := l.Each(ctx, baocun.AuditFilter{Actor: "alice"}, func(e *baocun.AuditEntry) error {
			if e.Actor != "alice" {
				t.Fatalf("entry %d of %s", e.Seq, e.Actor)
			}
			alice++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if alice != n/3 {
			t.Fatalf("%d of alice's entries, want %d", alice, n/3)
		}
		stop := errors.New("stop")
		if err := l.Each(ctx, baocun.AuditFilter{}, func(*baocun.AuditEntry) error { return stop }); err != stop {
			t.Fatalf("an error from fn: %v, want it back", err)
		}
	})
}

// Checkpoints follow entries written by AppendAuditTx too, and Close signs the end.
func TestAuditCheckpointsCoverTxAppends(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := sqldbtest.Open(t, dsn)
		key := newKey(t)
		lastCheckpoint := func() int64 {
			t.Helper()
			var cp int64
			if err := db.QueryRowContext(ctx, "SELECT checkpoint_seq FROM audit_head").Scan(&cp); err != nil {
				t.Fatal(err)
			}
			return cp
		}
		fillQuery(t, db, 30, time.Now()) // as `baocun users add` does while the service is down
		l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{CheckpointEvery: 10})
		if err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if cp := lastCheckpoint(); cp != 30 {
			t.Fatalf("checkpoint at %d, want 30", cp)
		}
		// Ten entries in handlers' transactions make a checkpoint due; the writer
		// signs it in the background, told by AppendTx.
		for i := range 10 {
			if err := db.InTx(ctx, func(tx *sqldb.Tx) error { return l.AppendTx(ctx, tx, entry(i)) }); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for lastCheckpoint() != 40 {
			if time.Now().After(deadline) {
				t.Fatalf("checkpoint at %d 10 s after seq 40, want 40", lastCheckpoint())
			}
			time.Sleep(10 * time.Millisecond) // the writer is another goroutine: poll its effect
		}
		fillQuery(t, db, 3, time.Now())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if cp := lastCheckpoint(); cp != 43 {
			t.Fatalf("last checkpoint at %d after Close, want 43", cp)
		}
		if v := verify(t, l); !v.OK || v.Checkpoints != 3 {
			t.Fatalf("%+v, want OK with 3 checkpoints", v)
		}
		ro := newLog(t, db, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey)})
		if err := ro.Checkpoint(ctx); baocun.ErrorCode(err) != baocun.EINVALID {
			t.Fatalf("Checkpoint without a signer: %v, want %s", err, baocun.EINVALID)
		}
	})
}

func TestAuditKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, sqldb.AuditKeyFile)
	key, err := sqldb.LoadOrCreateAuditKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := sqldb.LoadOrCreateAuditKey(path)
	if err != nil || !again.Equal(key) {
		t.Fatalf("second load: %v, same key %v", err, again.Equal(key))
	}
	pub, err := sqldb.ReadAuditPublicKey(filepath.Join(dir, sqldb.AuditPublicKeyFile))
	if err != nil || !pub.Equal(key.Public()) {
		t.Fatalf("public key file: %v, matches %v", err, pub.Equal(key.Public()))
	}
	hexFile := filepath.Join(dir, "pub.hex")
	os.WriteFile(hexFile, []byte(fmt.Sprintf("%x\n", []byte(pub))), 0o644)
	if p, err := sqldb.ReadAuditPublicKey(hexFile); err != nil || !p.Equal(pub) {
		t.Fatalf("hex public key: %v", err)
	}
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, err := sqldb.LoadOrCreateAuditKey(path); baocun.ErrorCode(err) != baocun.EINVALID {
		t.Fatalf("corrupt key: %v, want %s", err, baocun.EINVALID)
	}
}

// An auditor's copy is opened without creating or changing a file, and refuses writes.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "baocun.db")
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	l := sqldb.NewAuditLog(db, key, sqldb.AuditOptions{})
	for i := range 5 {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	db.Close()
	before := dirState(t, dir)

	ro, err := sqldb.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	rl := sqldb.NewAuditLog(ro, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey)})
	if v := verify(t, rl); !v.OK || v.Entries != 5 {
		t.Fatalf("%+v", v)
	}
	if _, err := ro.ExecContext(ctx, "DELETE FROM audit_entries"); err == nil {
		t.Fatal("a read-only database accepted a DELETE")
	}
	rl.Close()
	ro.Close()
	if after := dirState(t, dir); after != before {
		t.Fatalf("files changed by a read-only open:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := sqldb.OpenReadOnly(ctx, "sqlite://"+filepath.Join(dir, "missing.db")); baocun.ErrorCode(err) != baocun.EINVALID {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Fatal("OpenReadOnly created the missing file")
	}
}

// dirState lists each file with its size, mode, time and a digest of its bytes.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s %d %v %d %x; ", e.Name(), info.Size(), info.Mode(), info.ModTime().UnixNano(), sha256Sum(data))
	}
	return b.String()
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// With the service running (its -wal file present) an auditor's read-only open sees
// every committed entry, including those not yet copied from the WAL.
func TestOpenReadOnlyWhileServing(t *testing.T) {
	ctx := context.Background()
	dsn := sqldbtest.SQLiteDSN(t)
	db := sqldbtest.Open(t, dsn)
	key := newKey(t)
	l := newLog(t, db, key, sqldb.AuditOptions{})
	for i := range 5 {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	ro, err := sqldb.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rl := newLog(t, ro, nil, sqldb.AuditOptions{PublicKey: key.Public().(ed25519.PublicKey)})
	if v := verify(t, rl); !v.OK || v.Entries != 5 {
		t.Fatalf("%+v", v)
	}
	if err := l.Append(ctx, entry(5)); err != nil {
		t.Fatal(err)
	}
	if v := verify(t, rl); !v.OK || v.Entries != 6 {
		t.Fatalf("after another append: %+v", v)
	}
}
