package sqldb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"baocun"
)

// The anchor. The chain and its checkpoints live in the database, so whoever can edit
// the database alone can delete the entries and checkpoints after an earlier
// checkpoint, rewind audit_head, and leave a chain that is consistent with itself.
// An anchor keeps a copy of every checkpoint where that writer cannot reach: appended
// once the checkpoint's transaction has committed (a rolled-back checkpoint never
// reaches it), compared with the database by Verify and at a service's start.

// Checkpoint is a signed checkpoint exactly as audit_checkpoints stores it; the
// signature covers CheckpointMessage(Seq, Hash, At, PrevSeq). It is also one line of
// the anchor file, as JSON with these field names in this order.
type Checkpoint struct {
	Seq       int64  `json:"seq"`
	PrevSeq   int64  `json:"prev_seq"`
	Hash      string `json:"hash"`
	At        string `json:"at"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// verify reports whether c's signature holds under public.
func (c *Checkpoint) verify(public ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	return err == nil && len(public) == ed25519.PublicKeySize &&
		ed25519.Verify(public, CheckpointMessage(c.Seq, c.Hash, c.At, c.PrevSeq), sig)
}

// Anchor keeps the signed checkpoints outside the database. The file is the one kind
// today; a syslog or HTTP witness would be another.
type Anchor interface {
	// Name says where the anchor is, for messages (a file's path).
	Name() string
	// Append records checkpoints, in order, durably before it returns. They have
	// committed in the database and their signatures hold.
	Append(cps ...Checkpoint) error
	// Read returns every complete record, in the order appended. An anchor that does
	// not exist yet is an error satisfying errors.Is(err, fs.ErrNotExist).
	Read() ([]AnchorRecord, error)
}

// AnchorRecord is one record of an anchor: a checkpoint, or, with Err set, why the
// record at Line is not one.
type AnchorRecord struct {
	Line int
	Checkpoint
	Err error
}

// The default anchor, in a directory of its own inside the data dir so that an
// operator can mount another volume (or another host's share) there.
const (
	AuditAnchorDir  = "audit-anchor"
	AuditAnchorFile = "audit-anchor.jsonl"
)

// AuditAnchorPath is the default anchor file of a data dir.
func AuditAnchorPath(dataDir string) string {
	return filepath.Join(dataDir, AuditAnchorDir, AuditAnchorFile)
}

// FileAnchor is an Anchor in a file of JSON lines, one checkpoint each. It is opened
// for appending only by Lock or the first Append, so reading it (an auditor's verify, a
// service's start-up check) creates and changes nothing.
//
// One writer at a time: the writer holds an exclusive lock on the file from then until
// Close. Two instances appending to one file would each append the other's checkpoints
// too, duplicating lines, and leave an anchor the next start refuses.
type FileAnchor struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	f      *os.File // O_RDWR|O_APPEND and locked; nil until Lock or the first Append
	opened bool     // f was opened once: the file is never created again
}

// NewFileAnchor returns the anchor at path; log (nil: slog.Default()) hears of a torn
// last line cut before appending.
func NewFileAnchor(path string, log *slog.Logger) *FileAnchor {
	if log == nil {
		log = slog.Default()
	}
	return &FileAnchor{path: path, log: log}
}

func (a *FileAnchor) Name() string { return a.path }

// Read parses every newline-terminated line. An unterminated last line is not a
// record yet: a write in progress in the service, or one a crash cut short (the next
// Append removes it).
func (a *FileAnchor) Read() ([]AnchorRecord, error) {
	f, err := os.Open(a.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, anchorErr(a.path, err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var recs []AnchorRecord
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, anchorErr(a.path, err)
		}
		recs = append(recs, parseAnchorLine(line, b))
	}
}

func parseAnchorLine(line int, b []byte) AnchorRecord {
	rec := AnchorRecord{Line: line}
	// Pointers tell a missing field from a zero one.
	var raw struct {
		Seq       *int64  `json:"seq"`
		PrevSeq   *int64  `json:"prev_seq"`
		Hash      *string `json:"hash"`
		At        *string `json:"at"`
		KeyID     *string `json:"key_id"`
		Signature *string `json:"signature"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		rec.Err = fmt.Errorf("not a JSON checkpoint (%v)", err)
		return rec
	}
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{{"seq", raw.Seq != nil}, {"prev_seq", raw.PrevSeq != nil}, {"hash", raw.Hash != nil}, {"at", raw.At != nil},
		{"key_id", raw.KeyID != nil}, {"signature", raw.Signature != nil}} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		rec.Err = fmt.Errorf("missing %s", strings.Join(missing, ", "))
		return rec
	}
	rec.Checkpoint = Checkpoint{Seq: *raw.Seq, PrevSeq: *raw.PrevSeq, Hash: *raw.Hash, At: *raw.At, KeyID: *raw.KeyID, Signature: *raw.Signature}
	if rec.Seq <= 0 || rec.PrevSeq < 0 || rec.PrevSeq >= rec.Seq {
		rec.Err = fmt.Errorf("seq %d after prev_seq %d", rec.Seq, rec.PrevSeq)
	}
	return rec
}

// Lock opens the anchor for appending, creating it (and its directory, 0700) when it
// does not exist, and takes the writer's lock, which it keeps until Close. It fails at
// once when another process holds the lock. A service calls it as it starts writing;
// Append takes it by itself otherwise.
func (a *FileAnchor) Lock() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f != nil {
		return nil
	}
	return a.lock()
}

func (a *FileAnchor) lock() error {
	dir := filepath.Dir(a.path)
	flags := os.O_RDWR | os.O_APPEND
	if !a.opened {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return anchorErr(a.path, err)
		}
		flags |= os.O_CREATE
	}
	// Once opened, never created again: the file gone while the service runs is lost
	// or unmounted, and a new one would vouch for the database as it is then.
	f, err := os.OpenFile(a.path, flags, 0o600)
	if errors.Is(err, fs.ErrNotExist) && a.opened {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor", Message: fmt.Sprintf(
			"审计锚定文件 %s 已不存在 Audit anchor %s no longer exists: removed, or its volume unmounted, while this process appended to it; restore it (or mount its volume)",
			a.path, a.path)}
	}
	if err != nil {
		return anchorErr(a.path, err)
	}
	if err := flockExclusive(f); err != nil {
		f.Close()
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor", Message: fmt.Sprintf(
			"审计锚定文件 %s 正被另一进程写入 Audit anchor %s is in use by another baocun process (its lock is held): give each instance an anchor of its own (--audit-anchor)",
			a.path, a.path)}
	}
	if !a.opened {
		// A new file's name must survive a power cut as its lines do.
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	a.f, a.opened = f, true
	return nil
}

// flockExclusive takes an exclusive lock on f without waiting; it lasts until f is
// closed, and the kernel drops it when the process dies, however it dies. It is
// temporalserver's lockFile for a file already open: sqldb does not import the
// Temporal server, and the anchor is locked itself, not a lock file beside it.
func flockExclusive(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// Append writes cps as lines with one write and one fsync, under the lock, after the
// file's last line: those cps that line already holds are left out, and the first
// one written must follow it.
func (a *FileAnchor) Append(cps ...Checkpoint) error {
	if len(cps) == 0 {
		return nil // nothing to anchor creates nothing
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		if err := a.lock(); err != nil {
			return err
		}
	}
	if err := a.check(); err != nil {
		return err
	}
	last, err := a.lastSeq()
	if err != nil {
		return anchorErr(a.path, err)
	}
	for len(cps) > 0 && cps[0].Seq <= last {
		cps = cps[1:]
	}
	if len(cps) == 0 {
		return nil
	}
	if last > 0 && cps[0].PrevSeq != last {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor", Message: fmt.Sprintf(
			"审计锚定 %s 末行与待追加的检查点不相接 Audit anchor %s ends with checkpoint %d, and checkpoint %d follows %d: nothing appended (baocun audit verify says more)",
			a.path, a.path, last, cps[0].Seq, cps[0].PrevSeq)}
	}
	var buf []byte
	for _, c := range cps {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	// A short write leaves a torn line: the next Append cuts it before its lines.
	_, err = a.f.Write(buf)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		return anchorErr(a.path, err)
	}
	return nil
}

// check reports whether the path still names the file this process holds. Removed,
// replaced, or hidden by an unmount, lines appended to it would reach no reader; the
// file is let go, and the next Append opens whatever the path names then.
func (a *FileAnchor) check() error {
	held, err := a.f.Stat()
	if err != nil {
		return anchorErr(a.path, err)
	}
	now, err := os.Stat(a.path)
	if err == nil && os.SameFile(held, now) {
		return nil
	}
	a.f.Close()
	a.f = nil
	return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor", Message: fmt.Sprintf(
		"审计锚定文件 %s 已被移走或替换 Audit anchor %s was removed, replaced or unmounted while this process appended to it; restore it (or mount its volume)",
		a.path, a.path)}
}

// lastSeq returns the seq of the file's last line (0 for an empty file), after cutting
// an unterminated tail: a write a crash interrupted, so that the next line starts on a
// line of its own. Its checkpoints are still in the database and the catch-up appends
// them again, whole.
func (a *FileAnchor) lastSeq() (int64, error) {
	st, err := a.f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	// buf holds the file from pos to size; end is just after the last newline (-1:
	// none found yet).
	var buf []byte
	pos, end := size, int64(-1)
	var last []byte
	for pos > 0 {
		n := min(4096, pos)
		pos -= n
		chunk := make([]byte, n, n+int64(len(buf)))
		if _, err := a.f.ReadAt(chunk, pos); err != nil {
			return 0, err
		}
		buf = append(chunk, buf...)
		if end < 0 {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				continue
			}
			end = pos + int64(i) + 1
		}
		nl := int(end - 1 - pos) // the last line's newline, in buf
		if j := bytes.LastIndexByte(buf[:nl], '\n'); j >= 0 || pos == 0 {
			last = buf[j+1 : nl]
			break
		}
	}
	if end < 0 {
		end = 0
	}
	if end < size {
		if err := a.f.Truncate(end); err != nil {
			return 0, err
		}
		if err := a.f.Sync(); err != nil {
			return 0, err
		}
		a.log.Warn("audit anchor: cut a torn last line, a write a crash interrupted; its checkpoint is appended again from the database",
			"file", a.path, "offset", end, "bytes", size-end)
	}
	if end == 0 {
		return 0, nil
	}
	r := parseAnchorLine(0, last)
	if r.Err != nil {
		return 0, fmt.Errorf("its last line is malformed (%v): nothing is appended after it", r.Err)
	}
	return r.Seq, nil
}

// Check reports, without writing, whether the anchor still takes appends: the path
// still names the file this writer holds or, having let it go, a file it can lock
// again. Before Lock or the first Append there is nothing to check.
func (a *FileAnchor) Check() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		if !a.opened {
			return nil
		}
		if err := a.lock(); err != nil {
			return err
		}
	}
	return a.check()
}

// Close closes the file, and so lets go of the lock, if Lock or Append opened it. It
// never waits for an append in progress: one hung on an unresponsive mount would hang
// the caller, a service stopping, as well. It reports it instead; the process's exit
// lets go of the lock.
func (a *FileAnchor) Close() error {
	if !a.mu.TryLock() {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor", Message: fmt.Sprintf(
			"审计锚定 %s 正在追加 Audit anchor %s: an append is in progress; the file is left open", a.path, a.path)}
	}
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

func anchorErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor",
		Message: fmt.Sprintf("审计锚定文件 %s 不可用 Audit anchor %s unusable: %v", path, path, err)}
}

// loadCheckpoints reads the checkpoints after seq after, in order; limit 0 reads them
// all (a few bytes for each thousand entries).
func loadCheckpoints(ctx context.Context, q Querier, after int64, limit int) ([]Checkpoint, error) {
	query := "SELECT seq, hash, at, prev_seq, key_id, signature FROM audit_checkpoints WHERE seq > ? ORDER BY seq"
	args := []any{after}
	if limit > 0 {
		query += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cps []Checkpoint
	for rows.Next() {
		var c Checkpoint
		if err := rows.Scan(&c.Seq, &c.Hash, &c.At, &c.PrevSeq, &c.KeyID, &c.Signature); err != nil {
			return nil, err
		}
		cps = append(cps, c)
	}
	return cps, rows.Err()
}

// LastCheckpoint returns the chain's last signed checkpoint, and false when there is
// none yet.
func LastCheckpoint(ctx context.Context, q Querier) (Checkpoint, bool, error) {
	var c Checkpoint
	err := q.QueryRowContext(ctx, "SELECT seq, hash, at, prev_seq, key_id, signature FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").
		Scan(&c.Seq, &c.Hash, &c.At, &c.PrevSeq, &c.KeyID, &c.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// anchorProblem is where an anchor and the database's checkpoints part first.
type anchorProblem struct {
	seq    int64 // the anchored checkpoint's, or the one after the last good line's
	line   int
	reason string
}

// compareAnchor checks the anchor's records in order: each is a checkpoint, signed by
// public (nil: signatures are not checked), following the one before it, and in the
// database exactly as anchored. The database may hold checkpoints the anchor does not
// have yet: committed, not yet appended. The first problem is returned; nil when
// there is none. good counts the records that held before it.
func compareAnchor(name string, recs []AnchorRecord, cps []Checkpoint, public ed25519.PublicKey) (p *anchorProblem, good int) {
	inDB := make(map[int64]*Checkpoint, len(cps))
	for i := range cps {
		inDB[cps[i].Seq] = &cps[i]
	}
	keyID := ""
	if public != nil {
		keyID = AuditKeyID(public)
	}
	var last int64
	for _, r := range recs {
		at := func(seq int64, zh, format string, args ...any) *anchorProblem {
			return &anchorProblem{seq: seq, line: r.Line, reason: fmt.Sprintf("审计锚定 %s 第 %d 行%s Audit anchor %s line %d: %s",
				name, r.Line, zh, name, r.Line, fmt.Sprintf(format, args...))}
		}
		c := r.Checkpoint
		switch {
		case r.Err != nil:
			return at(last+1, "格式错误", "malformed: %v", r.Err), good
		case public != nil && c.KeyID != keyID:
			return at(c.Seq, "非本密钥签署", "checkpoint %d signed by another key (%s, want %s)", c.Seq, c.KeyID, keyID), good
		case public != nil && !c.verify(public):
			return at(c.Seq, "签名无效", "checkpoint %d signature does not verify (line forged or altered)", c.Seq), good
		case good > 0 && (c.Seq <= last || c.PrevSeq != last):
			return at(c.Seq, "顺序错误", "out of order: checkpoint %d (after %d) follows checkpoint %d", c.Seq, c.PrevSeq, last), good
		}
		d, ok := inDB[c.Seq]
		if !ok {
			return at(c.Seq, "的检查点不在数据库中", "checkpoint %d is missing from the database (entries and checkpoints deleted back to an earlier checkpoint)", c.Seq), good
		}
		var differ []string
		for _, f := range []struct {
			name string
			same bool
		}{{"hash", d.Hash == c.Hash}, {"at", d.At == c.At}, {"prev_seq", d.PrevSeq == c.PrevSeq},
			{"key_id", d.KeyID == c.KeyID}, {"signature", d.Signature == c.Signature}} {
			if !f.same {
				differ = append(differ, f.name)
			}
		}
		if len(differ) > 0 {
			return at(c.Seq, "与数据库中的检查点不符", "checkpoint %d differs from the database's (%s)", c.Seq, strings.Join(differ, ", ")), good
		}
		last = c.Seq
		good++
	}
	return nil, good
}

// CheckAnchor compares the checkpoints in db with the anchor a, reading both and
// writing nothing: a service calls it before it writes anything and refuses to start
// on its error. public (nil before a first start has made the key) checks the
// anchor's signatures. An anchor that does not exist yet is accepted only while the
// database has no checkpoint: otherwise it is lost or misplaced, and appending a new
// one would vouch for whatever the database holds now.
func CheckAnchor(ctx context.Context, db *DB, a Anchor, public ed25519.PublicKey) error {
	recs, err := a.Read()
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return err
	}
	cps, err := loadCheckpoints(ctx, db, 0, 0)
	if err != nil {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor",
			Message: "读取审计检查点失败 Could not read the audit checkpoints.", Err: err}
	}
	if missing && len(cps) > 0 {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor", Message: fmt.Sprintf(
			"审计锚定文件 %s 不存在，而数据库已有 %d 个签名检查点 Audit anchor %s does not exist but the database holds %d signed checkpoints: "+
				"restore the file (or mount its volume), or, to anchor the chain as it is now, run baocun audit anchor with this --data-dir, --database and --audit-anchor "+
				"(and --public-key when the key is not in the data dir)",
			a.Name(), len(cps), a.Name(), len(cps))}
	}
	if p, _ := compareAnchor(a.Name(), recs, cps, public); p != nil {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor",
			Message: "审计链与其锚定不符 The audit chain disagrees with its anchor: " + p.reason}
	}
	return nil
}

// anchorPage bounds the checkpoints one catch-up step reads and appends (one fsync).
const anchorPage = 1000

// SyncAnchor appends to the anchor, in order, every committed checkpoint after the
// anchor's last one, and returns how many. Each must be signed by the log's key and
// follow the one before: a checkpoint that is not is refused with an error, and
// nothing after it is appended. The anchorer calls it after each checkpoint the writer
// commits and on every tick of the writer where the database's last checkpoint is not
// yet anchored (one left by a crash, or signed by another instance on the same
// database); `baocun audit anchor` calls it to write a new anchor.
func (l *AuditLog) SyncAnchor(ctx context.Context) (int, error) {
	a := l.opts.Anchor
	if a == nil {
		return 0, nil
	}
	if l.public == nil {
		return 0, &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor",
			Message: "锚定检查点需要审计公钥 Anchoring checkpoints needs the audit public key."}
	}
	l.anchorMu.Lock()
	defer l.anchorMu.Unlock()
	if !l.anchorLoaded {
		recs, err := a.Read()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		l.anchored = 0
		for _, r := range recs {
			if r.Err != nil {
				return 0, &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor", Message: fmt.Sprintf(
					"审计锚定 %s 第 %d 行格式错误，不再追加 Audit anchor %s line %d malformed (%v): nothing is appended after it",
					a.Name(), r.Line, a.Name(), r.Line, r.Err)}
			}
			l.anchored = r.Seq
		}
		l.anchorLoaded = true
		l.noteAnchored(l.anchored)
	}
	n := 0
	for {
		cps, err := loadCheckpoints(ctx, l.db, l.anchored, anchorPage)
		if err != nil {
			return n, &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor",
				Message: "读取审计检查点失败 Could not read the audit checkpoints.", Err: err}
		}
		var refused error
		prev := l.anchored
		for i, c := range cps {
			switch {
			case c.PrevSeq != prev:
				refused = fmt.Errorf("checkpoint %d follows %d, not the anchor's last, %d", c.Seq, c.PrevSeq, prev)
			case !c.verify(l.public):
				refused = fmt.Errorf("checkpoint %d: its signature does not verify", c.Seq)
			}
			if refused != nil {
				cps = cps[:i]
				break
			}
			prev = c.Seq
		}
		if err := a.Append(cps...); err != nil {
			// What reached the anchor before the failure is read again next time.
			l.anchorLoaded = false
			return n, err
		}
		if len(cps) > 0 {
			l.anchored = cps[len(cps)-1].Seq
			l.noteAnchored(l.anchored)
		}
		n += len(cps)
		if refused != nil {
			return n, &baocun.Error{Code: baocun.EINVALID, Op: "audit.anchor", Message: fmt.Sprintf(
				"检查点未锚定 Checkpoint not anchored in %s: %v (baocun audit verify says more)", a.Name(), refused)}
		}
		if len(cps) < anchorPage {
			return n, nil
		}
	}
}

// anchorTimings are the anchorer's waits; tests shorten them.
type anchorTimings struct {
	// retry is how long the anchorer leaves an anchor that failed alone, so that an
	// unwritable anchor is logged once a minute, not at every tick.
	retry time.Duration
	// closeWait bounds how long Close waits for the last append.
	closeWait time.Duration
	// maxLag is how long AnchorHealth lets an append hang, or the anchor lack a
	// committed checkpoint, before it reports the anchor.
	maxLag time.Duration
}

var timings = anchorTimings{retry: time.Minute, closeWait: 10 * time.Second, maxLag: time.Minute}

// anchorMaxBehind is how many committed checkpoints the anchor may lack before
// AnchorHealth reports it, however recent: more than a catch-up takes in a moment.
const anchorMaxBehind = 10

// anchorState is what the anchorer last found, for AnchorHealth.
type anchorState struct {
	known     bool      // anchored is known: the anchor was read, or there is nothing to anchor
	anchored  int64     // seq of the anchor's last checkpoint
	err       error     // the last round's failure; nil once a round succeeds
	busySince time.Time // a round in progress since (zero: none)
	syncedAt  time.Time // when a round last left the anchor holding every checkpoint it knew of
}

// noteAnchored records the anchor's last checkpoint as soon as it is known, so that
// AnchorBehind counts from it during a long catch-up, or one stuck in an append.
func (l *AuditLog) noteAnchored(seq int64) {
	l.stateMu.Lock()
	l.state.known, l.state.anchored = true, seq
	l.stateMu.Unlock()
}

func (l *AuditLog) anchorState() anchorState {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.state
}

// anchorChecker is an Anchor that can tell, without writing, whether it still takes
// appends.
type anchorChecker interface {
	Check() error
}

// kickAnchor tells the anchorer that the database's last checkpoint is at seq, without
// waiting for it.
func (l *AuditLog) kickAnchor(seq int64) {
	if !l.anchoring {
		return
	}
	for {
		cur := l.anchorTarget.Load()
		if seq <= cur || l.anchorTarget.CompareAndSwap(cur, seq) {
			break
		}
	}
	select {
	case l.anchorKick <- struct{}{}:
	default:
	}
}

// runAnchor is the anchorer: it brings the anchor up to the writer's last word, and,
// once Close has stopped the writer, up to its last checkpoint.
func (l *AuditLog) runAnchor() {
	defer close(l.anchorStopped)
	l.stateMu.Lock()
	l.state.syncedAt = time.Now()
	l.stateMu.Unlock()
	for {
		select {
		case <-l.anchorKick:
			l.anchorRound()
		case <-l.anchorStop:
			l.anchorRound()
			return
		}
	}
}

// anchorRound appends what the anchor lacks or, when it lacks nothing, checks that it
// still takes appends, and records what it found for AnchorHealth. A failure is
// logged: the checkpoints are safe in the database, and a later round tries again.
func (l *AuditLog) anchorRound() {
	seq := l.anchorTarget.Load()
	l.anchorMu.Lock()
	behind := seq > 0 && (!l.anchorLoaded || l.anchored < seq)
	wait := time.Now().Before(l.anchorRetryAt)
	l.anchorMu.Unlock()
	if wait {
		return
	}
	l.stateMu.Lock()
	l.state.busySince = time.Now()
	l.stateMu.Unlock()
	var err error
	if behind {
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		_, err = l.SyncAnchor(ctx)
		cancel()
	} else if c, ok := l.opts.Anchor.(anchorChecker); ok {
		err = c.Check()
	}
	l.anchorMu.Lock()
	if err != nil {
		l.anchorRetryAt = time.Now().Add(l.timings.retry)
	}
	nothing := seq == 0 && !l.anchorLoaded
	l.anchorMu.Unlock()
	l.stateMu.Lock()
	if nothing {
		l.state.known = true // no checkpoint yet: the anchor lacks none
	}
	l.state.err, l.state.busySince = err, time.Time{}
	if err == nil {
		l.state.syncedAt = time.Now()
	}
	l.stateMu.Unlock()
	if err != nil {
		l.log.Error("audit anchor", "anchor", l.opts.Anchor.Name(), "err", err)
	}
}

// AnchorHealth reports whether the anchor keeps up with the checkpoints: an error when
// its last append (or check) failed, when an append has not returned for a minute (a
// hung mount), or when it lacks more than ten of the database's checkpoints, or any
// for over a minute. A log that does not anchor is healthy. It never waits for the
// anchor, only for the database.
func (l *AuditLog) AnchorHealth(ctx context.Context) error {
	if !l.anchoring {
		return nil
	}
	s := l.anchorState()
	name := l.opts.Anchor.Name()
	fail := func(format string, args ...any) error {
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor", Message: fmt.Sprintf(format, args...)}
	}
	if !s.busySince.IsZero() && time.Since(s.busySince) > l.timings.maxLag {
		return fail("审计锚定无响应 Audit anchor %s: an append has not returned for %s (a hung mount?)", name, time.Since(s.busySince).Round(time.Second))
	}
	if s.err != nil {
		return fail("审计锚定失败 Audit anchor failing, checkpoints go unanchored (retried every %s): %v", l.timings.retry, s.err)
	}
	if !s.known {
		return nil // its first round is under way
	}
	n, err := l.unanchored(ctx, s.anchored)
	if err != nil {
		return err
	}
	if lag := time.Since(s.syncedAt); n > anchorMaxBehind || (n > 0 && lag > l.timings.maxLag) {
		return fail("审计锚定落后 Audit anchor %s lacks %d of the database's checkpoints (last in step %s ago)", name, n, lag.Round(time.Second))
	}
	return nil
}

// AnchorBehind counts the database's checkpoints the anchor does not hold yet; 0 for a
// log that does not anchor. It fails until the anchorer has first read the anchor.
func (l *AuditLog) AnchorBehind(ctx context.Context) (int64, error) {
	if !l.anchoring {
		return 0, nil
	}
	s := l.anchorState()
	if !s.known {
		return 0, fmt.Errorf("audit anchor %s: not read yet", l.opts.Anchor.Name())
	}
	return l.unanchored(ctx, s.anchored)
}

// unanchored counts the checkpoints after seq after.
func (l *AuditLog) unanchored(ctx context.Context, after int64) (int64, error) {
	var n int64
	if err := l.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_checkpoints WHERE seq > ?", after).Scan(&n); err != nil {
		return 0, &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor",
			Message: "读取审计检查点失败 Could not read the audit checkpoints.", Err: err}
	}
	return n, nil
}
