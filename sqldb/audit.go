package sqldb

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"baocun"
)

// The audit chain. Entry n carries prev_hash = hash of entry n-1 (64 zeros for n = 1)
// and
//
//	hash = lowercase hex SHA-256( "baocun-audit-v1" ‖ for each field: uint32 big-endian
//	       byte length ‖ the field's UTF-8 bytes )
//
// over the fields, in this order: seq (decimal), at (2006-01-02T15:04:05.000000Z, UTC),
// actor, role, jurisdiction, action, resource, cycle_id, pairing_id, department,
// village, decision, rule, status (decimal), request_id, source_ip, user_agent,
// summary, key, prev_hash. Length prefixes make the encoding unambiguous ("ab","c" and
// "a","bc" differ) and the version tag lets a later encoding coexist. This comment is
// the specification an auditor's own checker can follow.
const (
	hashVersion       = "baocun-audit-v1"
	checkpointVersion = "baocun-audit-checkpoint-v1"
	hashFields        = 20
)

// GenesisHash is the prev_hash of entry 1.
var GenesisHash = strings.Repeat("0", 64)

// Defaults of AuditOptions.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 10 * time.Minute
)

// AuditOptions tunes an AuditLog; the zero value takes the defaults.
type AuditOptions struct {
	// CheckpointEvery signs a checkpoint once this many entries follow the last one.
	CheckpointEvery int64
	// CheckpointInterval signs a checkpoint when entries have been added and this much
	// time has passed since the last one.
	CheckpointInterval time.Duration
	// PublicKey checks checkpoint signatures when the log has no signer (an auditor's
	// offline verify); with a signer its public half is used.
	PublicKey ed25519.PublicKey
	// Logger receives failures of background checkpoints; nil is slog.Default().
	Logger *slog.Logger
	// Anchor, when set, receives every checkpoint once its transaction has committed
	// (and those committed before and not anchored yet), and Verify compares the
	// chain with it. Close closes it when it is an io.Closer.
	Anchor Anchor
}

// AuditLog is the audit writer and reader over the application database; it
// implements baocun.AuditLog. Append group-commits: one goroutine writes every waiting
// entry in one transaction and acknowledges each caller after the commit, so
// SQLite's fsync per commit is shared instead of paid per entry.
type AuditLog struct {
	db     *DB
	signer ed25519.PrivateKey
	public ed25519.PublicKey
	keyID  string
	opts   AuditOptions
	log    *slog.Logger

	startOnce sync.Once
	started   bool
	reqs      chan *appendReq
	nudge     chan struct{}
	stopped   chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool

	cpMu             sync.Mutex
	lastCheckpointAt time.Time // of the last checkpoint this process signed or read

	// The anchorer, a goroutine of its own when the log signs and has an anchor: an
	// anchor that stops answering (a hung network mount) must not stop the writer,
	// and through it every audited request. The writer tells it the database's last
	// checkpoint and never waits for it; the catch-up appends whatever it fell behind.
	anchoring     bool
	anchorKick    chan struct{} // buffered: a checkpoint committed, or the writer's tick
	anchorTarget  atomic.Int64  // the database's last checkpoint, as the writer last read it
	anchorStop    chan struct{} // closed by Close once the writer has stopped
	anchorStopped chan struct{}
	timings       anchorTimings

	anchorMu      sync.Mutex // one catch-up at a time
	anchorLoaded  bool       // anchored was read from the anchor
	anchored      int64      // seq of the anchor's last checkpoint
	anchorRetryAt time.Time  // after a failure, the anchorer leaves the anchor alone until then

	stateMu sync.Mutex // never held across I/O: AnchorHealth answers while an append hangs
	state   anchorState
}

var _ baocun.AuditLog = (*AuditLog)(nil)

type appendReq struct {
	ctx  context.Context
	e    *baocun.AuditEntry
	done chan error // buffered: the writer never waits for a caller
}

const (
	maxBatch     = 512
	queueSize    = 4096
	writeTimeout = 30 * time.Second
	// checkEvery is how often the writer looks for entries that AppendAuditTx added
	// and a checkpoint that is due.
	checkEvery = time.Second
)

// NewAuditLog returns the audit log over db. signer signs checkpoints; it may be nil
// for a reader, which then needs opts.PublicKey to verify. Close it to stop the
// writer (before closing db): Close writes every queued entry and signs a last
// checkpoint.
func NewAuditLog(db *DB, signer ed25519.PrivateKey, opts AuditOptions) *AuditLog {
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	l := &AuditLog{
		db:            db,
		signer:        signer,
		public:        opts.PublicKey,
		opts:          opts,
		log:           opts.Logger,
		reqs:          make(chan *appendReq, queueSize),
		nudge:         make(chan struct{}, 1),
		stopped:       make(chan struct{}),
		anchorKick:    make(chan struct{}, 1),
		anchorStop:    make(chan struct{}),
		anchorStopped: make(chan struct{}),
		timings:       timings,
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if signer != nil {
		l.public = signer.Public().(ed25519.PublicKey)
	}
	if l.public != nil {
		l.keyID = AuditKeyID(l.public)
	}
	if signer != nil {
		// A signer keeps checkpoints coming for entries written by AppendAuditTx
		// even when Append is never called.
		l.start()
	}
	return l
}

func (l *AuditLog) start() {
	l.startOnce.Do(func() {
		l.started = true
		if l.signer != nil && l.opts.Anchor != nil {
			l.anchoring = true
			go l.runAnchor()
		}
		go l.run()
	})
}

var errAuditClosed = &baocun.Error{Code: baocun.EUNAVAILABLE, Message: "审计日志已关闭 The audit log is closed."}

// Append adds e to the chain and returns once it is committed. A non-empty e.Key that
// is already stored writes nothing; e is then filled from the stored entry. Never call
// it inside a transaction of the same database: on SQLite the writer would wait for
// that transaction's lock; use AppendTx there.
func (l *AuditLog) Append(ctx context.Context, e *baocun.AuditEntry) error {
	if err := prepareEntry(e); err != nil {
		return err
	}
	l.start()
	req := &appendReq{ctx: ctx, e: e, done: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return errAuditClosed
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	// Once queued the entry is the writer's: wait for its verdict even if ctx ends,
	// so the caller never reads e while the writer fills it. The writer drops a
	// request whose ctx ended before its batch began, so this wait stays short.
	return <-req.done
}

// AppendTx adds e in tx, the caller's transaction, so the entry commits or rolls back
// with the state it describes. It is AppendAuditTx plus a hint to the writer that a
// checkpoint may be due.
func (l *AuditLog) AppendTx(ctx context.Context, tx *Tx, e *baocun.AuditEntry) error {
	if err := AppendAuditTx(ctx, tx, e); err != nil {
		return err
	}
	select {
	case l.nudge <- struct{}{}:
	default:
	}
	return nil
}

// AppendAuditTx adds e to the chain inside tx (nil e writes nothing). On PostgreSQL it
// locks the chain's head row until tx ends, so append the audit entry as the last
// statement of the transaction: other writers of the chain wait for the commit. On
// SQLite the transaction already holds the write lock. e's Seq, At, PrevHash and Hash
// are filled; they mean nothing if tx rolls back.
func AppendAuditTx(ctx context.Context, tx *Tx, e *baocun.AuditEntry) error {
	if e == nil {
		return nil
	}
	if err := prepareEntry(e); err != nil {
		return err
	}
	h, err := lockHead(ctx, tx)
	if err != nil {
		return err
	}
	written, err := appendLocked(ctx, tx, &h, e)
	if err != nil || !written {
		return err
	}
	return storeHead(ctx, tx, h)
}

// Free-text fields are cut to these many bytes (a marker included) before they are
// stored and hashed: an anonymous request chooses its user agent and the path it
// names, and an unbounded field of every refusal would let anyone fill the trail.
// Names, codes and addresses are far shorter; a rule names a policy line and a reason.
// The summary is the service's own JSON of a body its route already bounds, and a
// key must never be cut (two keys would become one), so neither is touched.
const (
	maxAuditField = 256
	maxAuditRule  = 1024
	clipMarker    = "…[truncated]"
)

// prepareEntry checks what every entry needs and normalises the rest to the form that
// is stored and hashed: UTC microseconds, valid UTF-8 without NUL (PostgreSQL refuses
// both, and a user agent is attacker-controlled), free text cut to its bound.
func prepareEntry(e *baocun.AuditEntry) error {
	if e == nil {
		return baocun.Errorf(baocun.EINVALID, "审计条目为空 Audit entry is nil.")
	}
	for _, p := range []*string{&e.Actor, &e.Role, &e.Jurisdiction, &e.Action, &e.Resource, &e.CycleID,
		&e.PairingID, &e.Department, &e.Village, &e.Decision, &e.RequestID, &e.SourceIP, &e.UserAgent} {
		*p = clip(cleanText(*p), maxAuditField)
	}
	e.Rule = clip(cleanText(e.Rule), maxAuditRule)
	e.Summary, e.Key = cleanText(e.Summary), cleanText(e.Key)
	if e.Actor == "" || e.Action == "" {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.append",
			Message: "审计条目缺少操作者或动作 An audit entry needs an actor and an action.",
			Fields:  map[string]string{"actor": e.Actor, "action": e.Action}}
	}
	if e.Decision != "" && e.Decision != baocun.DecisionAllow && e.Decision != baocun.DecisionDeny {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.append",
			Message: "审计条目的决定须为 allow 或 deny An audit decision is allow or deny.",
			Fields:  map[string]string{"decision": e.Decision}}
	}
	return nil
}

// clip cuts s to at most max bytes, on a character boundary, ending in clipMarker
// when it was cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(clipMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + clipMarker
}

func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

type head struct {
	seq           int64
	hash          string
	checkpointSeq int64
}

// lockHead reads the chain's head and, on PostgreSQL, locks it until the transaction
// ends: every appender queues here, so two never extend the same entry.
func lockHead(ctx context.Context, tx *Tx) (head, error) {
	q := "SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1"
	if tx.Dialect() == Postgres {
		q += " FOR UPDATE"
	}
	var h head
	if err := tx.QueryRowContext(ctx, q).Scan(&h.seq, &h.hash, &h.checkpointSeq); err != nil {
		return h, fmt.Errorf("audit: read chain head: %w", err)
	}
	return h, nil
}

func storeHead(ctx context.Context, tx *Tx, h head) error {
	_, err := tx.ExecContext(ctx, "UPDATE audit_head SET seq = ?, hash = ?, checkpoint_seq = ? WHERE id = 1",
		h.seq, h.hash, h.checkpointSeq)
	if err != nil {
		return fmt.Errorf("audit: update chain head: %w", err)
	}
	return nil
}

const entryColumns = "seq, at, actor, role, jurisdiction, action, resource, cycle_id, pairing_id, department, village, decision, rule, status, request_id, source_ip, user_agent, summary, idem_key, prev_hash, hash"

const insertEntry = "INSERT INTO audit_entries (" + entryColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// appendLocked writes e after h, with the head already locked, and advances h. It
// reports false when e.Key was already stored (e is then filled from that entry).
func appendLocked(ctx context.Context, tx *Tx, h *head, e *baocun.AuditEntry) (bool, error) {
	if e.Key != "" {
		rows, err := tx.QueryContext(ctx, "SELECT "+entryColumns+" FROM audit_entries WHERE idem_key = ?", e.Key)
		if err != nil {
			return false, fmt.Errorf("audit: look up key: %w", err)
		}
		found, err := scanEntries(rows, func(stored *baocun.AuditEntry) error { *e = *stored; return nil })
		if err != nil {
			return false, fmt.Errorf("audit: look up key: %w", err)
		}
		if found > 0 {
			return false, nil
		}
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Seq = h.seq + 1
	e.PrevHash = h.hash
	e.Hash = EntryHash(e)
	if _, err := tx.ExecContext(ctx, insertEntry, entryArgs(e)...); err != nil {
		return false, fmt.Errorf("audit: insert entry %d: %w", e.Seq, err)
	}
	h.seq, h.hash = e.Seq, e.Hash
	return true, nil
}

func entryArgs(e *baocun.AuditEntry) []any {
	var key any
	if e.Key != "" {
		key = e.Key
	}
	return []any{e.Seq, FormatTime(e.At), e.Actor, e.Role, e.Jurisdiction, e.Action, e.Resource,
		e.CycleID, e.PairingID, e.Department, e.Village, e.Decision, e.Rule, e.Status,
		e.RequestID, e.SourceIP, e.UserAgent, e.Summary, key, e.PrevHash, e.Hash}
}

// scanEntries reads rows of entryColumns, calling fn for each, and closes rows.
func scanEntries(rows *sql.Rows, fn func(*baocun.AuditEntry) error) (int, error) {
	defer rows.Close()
	n := 0
	var e baocun.AuditEntry
	var at string
	var key sql.NullString
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Role, &e.Jurisdiction, &e.Action, &e.Resource,
			&e.CycleID, &e.PairingID, &e.Department, &e.Village, &e.Decision, &e.Rule, &e.Status,
			&e.RequestID, &e.SourceIP, &e.UserAgent, &e.Summary, &key, &e.PrevHash, &e.Hash); err != nil {
			return n, err
		}
		t, err := ParseTime(at)
		if err != nil {
			return n, fmt.Errorf("audit entry %d: time %q: %w", e.Seq, at, err)
		}
		e.At, e.Key = t, key.String
		n++
		if err := fn(&e); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

// EntryHash computes e's hash from its fields and PrevHash (see the encoding above).
func EntryHash(e *baocun.AuditEntry) string {
	f := [hashFields][]byte{
		strconv.AppendInt(nil, e.Seq, 10), []byte(FormatTime(e.At)),
		[]byte(e.Actor), []byte(e.Role), []byte(e.Jurisdiction), []byte(e.Action), []byte(e.Resource),
		[]byte(e.CycleID), []byte(e.PairingID), []byte(e.Department), []byte(e.Village),
		[]byte(e.Decision), []byte(e.Rule), strconv.AppendInt(nil, int64(e.Status), 10),
		[]byte(e.RequestID), []byte(e.SourceIP), []byte(e.UserAgent), []byte(e.Summary),
		[]byte(e.Key), []byte(e.PrevHash),
	}
	sum := sha256.Sum256(canonical(nil, &f))
	return hex.EncodeToString(sum[:])
}

// canonical appends the canonical encoding of f to b.
func canonical(b []byte, f *[hashFields][]byte) []byte {
	b = append(b, hashVersion...)
	for _, v := range f {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}
