package sqldb

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"baocun"
)

// Verify checks the whole chain against itself, its head, the signed checkpoints and
// the anchor (when the log has one), in one read-only snapshot: it never writes, and
// holds one entry at a time. The result names the lowest sequence number at which
// anything is wrong, and the anchor's line when that is where it shows.
func (l *AuditLog) Verify(ctx context.Context) (baocun.AuditVerification, error) {
	var res baocun.AuditVerification
	if l.public == nil {
		return res, &baocun.Error{Code: baocun.EINVALID, Op: "audit.verify",
			Message: "校验审计链需要审计公钥 Verifying the audit chain needs the audit public key."}
	}
	// The anchor is read before the snapshot begins: a checkpoint is anchored only
	// after it commits, so every one the anchor holds is in the snapshot unless it
	// was deleted. One not anchored yet is no fault.
	var anchored []AnchorRecord
	if a := l.opts.Anchor; a != nil {
		var err error
		if anchored, err = a.Read(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.verify",
				Message: "读取审计锚定失败 Could not read the audit anchor.", Err: err}
		}
	}
	err := l.db.readTx(ctx, func(tx *Tx) error {
		v := &verifier{public: l.public, keyID: l.keyID}
		var h head
		err := tx.QueryRowContext(ctx, "SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1").
			Scan(&h.seq, &h.hash, &h.checkpointSeq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			v.fail(1, "审计链头缺失 the chain's head row is missing")
		case err != nil:
			return err
		}
		if err := v.loadCheckpoints(ctx, tx); err != nil {
			return err
		}
		if l.opts.Anchor != nil {
			v.checkAnchor(l.opts.Anchor.Name(), anchored)
		}
		v.checkCheckpoints(h)
		if err := v.entries(ctx, tx); err != nil {
			return err
		}
		v.checkTail(h)
		res = v.result()
		return nil
	})
	if err != nil {
		return res, &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.verify",
			Message: "读取审计链失败 Could not read the audit chain.", Err: err}
	}
	return res, nil
}

// readTx runs fn in a read-only transaction: one snapshot on both databases, and on
// SQLite a deferred BEGIN that takes no write lock (the DSN's immediate mode is for
// writers).
func (db *DB) readTx(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	return fn(&Tx{tx: sqlTx, db: db})
}

type checkpoint struct {
	Checkpoint
	valid bool // its signature holds
}

type verifier struct {
	public ed25519.PublicKey
	keyID  string

	cps           []checkpoint
	lastValid     int64 // seq of the last checkpoint whose signature holds
	anchored      int64 // anchor lines found in the chain as anchored
	count         int64
	lastSeq       int64
	lastHash      []byte
	unsigned      int64      // entries after the last checkpoint
	unsignedSince *time.Time // of the first of them
	bad           int64      // 0 while nothing is wrong
	badLine       int        // the anchor's line, when the anchor shows the problem
	reason        string
}

// fail records a problem at seq; the lowest seq wins, whichever check found it.
func (v *verifier) fail(seq int64, reason string) { v.failAt(seq, 0, reason) }

// failAt is fail for a problem the anchor's line shows. The anchor is checked first,
// so at equal seqs its line is the one reported.
func (v *verifier) failAt(seq int64, line int, reason string) {
	if v.bad == 0 || seq < v.bad {
		v.bad, v.badLine, v.reason = seq, line, reason
	}
}

func (v *verifier) result() baocun.AuditVerification {
	r := baocun.AuditVerification{OK: v.bad == 0, Entries: v.count, Checkpoints: int64(len(v.cps)),
		Anchored: v.anchored, Unsigned: v.unsigned, UnsignedSince: v.unsignedSince}
	if v.bad != 0 {
		bad := v.bad
		r.FirstBadSeq, r.Reason, r.AnchorLine = &bad, v.reason, v.badLine
	}
	return r
}

func (v *verifier) loadCheckpoints(ctx context.Context, tx *Tx) error {
	cps, err := loadCheckpoints(ctx, tx, 0, 0)
	for _, c := range cps {
		v.cps = append(v.cps, checkpoint{Checkpoint: c})
	}
	return err
}

// checkAnchor compares the anchor's lines with the checkpoints.
func (v *verifier) checkAnchor(name string, recs []AnchorRecord) {
	cps := make([]Checkpoint, len(v.cps))
	for i := range v.cps {
		cps[i] = v.cps[i].Checkpoint
	}
	p, good := compareAnchor(name, recs, cps, v.public)
	v.anchored = int64(good)
	if p != nil {
		v.failAt(p.seq, p.line, p.reason)
	}
}

// checkCheckpoints checks each signature and that the signed links from checkpoint to
// checkpoint leave none out.
func (v *verifier) checkCheckpoints(h head) {
	for i := range v.cps {
		c := &v.cps[i]
		c.valid = c.verify(v.public)
		if !c.valid {
			reason := "检查点签名无效 checkpoint signature invalid (modified or forged)"
			if c.KeyID != v.keyID {
				reason = fmt.Sprintf("检查点非本密钥签署 checkpoint signed by another key (%s, want %s)", c.KeyID, v.keyID)
			}
			v.fail(c.Seq, reason)
			continue
		}
		// A forged checkpoint is left out of the links; a genuine one names its
		// predecessor inside its signature.
		switch {
		case c.PrevSeq > v.lastValid:
			v.fail(c.PrevSeq, fmt.Sprintf("检查点缺失 checkpoint missing (checkpoint %d names it as its predecessor)", c.Seq))
		case c.PrevSeq < v.lastValid:
			v.fail(v.lastValid, fmt.Sprintf("检查点不在签名序列中 checkpoint not in the signed sequence (checkpoint %d follows %d)", c.Seq, c.PrevSeq))
		}
		v.lastValid = c.Seq
	}
	switch {
	case h.checkpointSeq > v.lastValid:
		v.fail(h.checkpointSeq, "检查点缺失 checkpoint missing (the chain's head records it)")
	case h.checkpointSeq < v.lastValid:
		v.fail(h.checkpointSeq+1, fmt.Sprintf("链头与检查点不符 the chain's head records checkpoint %d, the last is %d", h.checkpointSeq, v.lastValid))
	}
}

// entries streams the chain in seq order, recomputing every hash and link.
func (v *verifier) entries(ctx context.Context, tx *Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+entryColumns+" FROM audit_entries ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		f           [hashFields][]byte
		raw         [hashFields + 1]sql.RawBytes // hashFields text columns (seq and status scanned apart) + hash
		seq, status int64
		scratch     []byte
		prev        = []byte(GenesisHash)
		sumHex      [2 * sha256.Size]byte
		expect      = int64(1)
		ci          int
		statusBuf   []byte
		seqBuf      []byte
		signedTo    int64 // the last checkpoint's seq: entries after it are unsigned
	)
	if n := len(v.cps); n > 0 {
		signedTo = v.cps[n-1].Seq
	}
	dest := []any{&seq, &raw[1]}
	for i := 2; i <= 12; i++ { // actor … rule
		dest = append(dest, &raw[i])
	}
	dest = append(dest, &status)
	for i := 14; i <= 20; i++ { // request_id … prev_hash, hash
		dest = append(dest, &raw[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		v.count++
		switch {
		case seq > expect:
			v.fail(expect, fmt.Sprintf("条目缺失 entry missing (deleted): seq %d follows %d", seq, expect-1))
		case seq < expect:
			v.fail(seq, "序号重复 seq out of order")
		}
		stored := raw[20]
		if !bytes.Equal(raw[19], prev) {
			v.fail(seq, "链接断开 link broken: prev_hash is not the previous entry's hash (entry inserted, deleted or reordered)")
		}
		seqBuf = strconv.AppendInt(seqBuf[:0], seq, 10)
		statusBuf = strconv.AppendInt(statusBuf[:0], status, 10)
		f[0], f[13] = seqBuf, statusBuf
		for i := 1; i < hashFields; i++ {
			if i != 13 {
				f[i] = raw[i]
			}
		}
		scratch = canonical(scratch[:0], &f)
		sum := sha256.Sum256(scratch)
		hex.Encode(sumHex[:], sum[:])
		if !bytes.Equal(sumHex[:], stored) {
			v.fail(seq, "哈希不符 hash mismatch: entry modified")
		}
		for ci < len(v.cps) && v.cps[ci].Seq < seq {
			ci++
		}
		if ci < len(v.cps) && v.cps[ci].Seq == seq && v.cps[ci].valid && v.cps[ci].Hash != string(stored) {
			v.fail(seq, "条目与已签名检查点不符 entry differs from its signed checkpoint (chain rewritten)")
		}
		if seq > signedTo {
			v.unsigned++
			if v.unsignedSince == nil {
				if t, err := ParseTime(string(raw[1])); err == nil {
					v.unsignedSince = &t
				}
			}
		}
		prev = append(prev[:0], stored...)
		expect = seq + 1
		v.lastSeq = seq
	}
	v.lastHash = prev
	return rows.Err()
}

// checkTail compares the end of the chain with its head and the checkpoints: entries
// deleted from the end leave the head, or a checkpoint, pointing past it.
func (v *verifier) checkTail(h head) {
	switch {
	case h.seq > v.lastSeq:
		v.fail(v.lastSeq+1, fmt.Sprintf("末尾条目缺失 entries missing at the end: the chain's head records seq %d, the last entry is %d", h.seq, v.lastSeq))
	case h.seq < v.lastSeq:
		v.fail(h.seq+1, fmt.Sprintf("链头之后有条目 entries after the chain's head (seq %d): inserted", h.seq))
	case h.hash != string(v.lastHash):
		v.fail(max(h.seq, 1), "链头哈希不符 the chain's head hash differs from the last entry's")
	}
	if n := len(v.cps); n > 0 && v.cps[n-1].Seq > v.lastSeq {
		v.fail(v.lastSeq+1, fmt.Sprintf("末尾条目缺失 entries missing at the end: checkpoint %d signs them", v.cps[n-1].Seq))
	}
}
