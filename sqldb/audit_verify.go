package sqldb

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"baocun"
)

// Verify checks the whole chain against itself, its head and the signed checkpoints,
// in one read-only snapshot: it never writes, and holds one entry at a time. The
// result names the lowest sequence number at which anything is wrong.
func (l *AuditLog) Verify(ctx context.Context) (baocun.AuditVerification, error) {
	var res baocun.AuditVerification
	if l.public == nil {
		return res, &baocun.Error{Code: baocun.EINVALID, Op: "audit.verify",
			Message: "校验审计链需要审计公钥 Verifying the audit chain needs the audit public key."}
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
	seq, prevSeq   int64
	hash, at       string
	keyID, sigText string
	valid          bool // its signature holds
}

type verifier struct {
	public ed25519.PublicKey
	keyID  string

	cps       []checkpoint
	lastValid int64 // seq of the last checkpoint whose signature holds
	count     int64
	lastSeq   int64
	lastHash  []byte
	bad       int64 // 0 while nothing is wrong
	reason    string
}

// fail records a problem at seq; the lowest seq wins, whichever check found it.
func (v *verifier) fail(seq int64, reason string) {
	if v.bad == 0 || seq < v.bad {
		v.bad, v.reason = seq, reason
	}
}

func (v *verifier) result() baocun.AuditVerification {
	r := baocun.AuditVerification{OK: v.bad == 0, Entries: v.count, Checkpoints: int64(len(v.cps))}
	if v.bad != 0 {
		bad := v.bad
		r.FirstBadSeq, r.Reason = &bad, v.reason
	}
	return r
}

// loadCheckpoints reads every checkpoint: a few bytes for each thousand entries.
func (v *verifier) loadCheckpoints(ctx context.Context, tx *Tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT seq, hash, at, prev_seq, key_id, signature FROM audit_checkpoints ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c checkpoint
		if err := rows.Scan(&c.seq, &c.hash, &c.at, &c.prevSeq, &c.keyID, &c.sigText); err != nil {
			return err
		}
		v.cps = append(v.cps, c)
	}
	return rows.Err()
}

// checkCheckpoints checks each signature and that the signed links from checkpoint to
// checkpoint leave none out.
func (v *verifier) checkCheckpoints(h head) {
	for i := range v.cps {
		c := &v.cps[i]
		sig, err := base64.StdEncoding.DecodeString(c.sigText)
		c.valid = err == nil && ed25519.Verify(v.public, CheckpointMessage(c.seq, c.hash, c.at, c.prevSeq), sig)
		if !c.valid {
			reason := "检查点签名无效 checkpoint signature invalid (modified or forged)"
			if c.keyID != v.keyID {
				reason = fmt.Sprintf("检查点非本密钥签署 checkpoint signed by another key (%s, want %s)", c.keyID, v.keyID)
			}
			v.fail(c.seq, reason)
			continue
		}
		// A forged checkpoint is left out of the links; a genuine one names its
		// predecessor inside its signature.
		switch {
		case c.prevSeq > v.lastValid:
			v.fail(c.prevSeq, fmt.Sprintf("检查点缺失 checkpoint missing (checkpoint %d names it as its predecessor)", c.seq))
		case c.prevSeq < v.lastValid:
			v.fail(v.lastValid, fmt.Sprintf("检查点不在签名序列中 checkpoint not in the signed sequence (checkpoint %d follows %d)", c.seq, c.prevSeq))
		}
		v.lastValid = c.seq
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
	)
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
		for ci < len(v.cps) && v.cps[ci].seq < seq {
			ci++
		}
		if ci < len(v.cps) && v.cps[ci].seq == seq && v.cps[ci].valid && v.cps[ci].hash != string(stored) {
			v.fail(seq, "条目与已签名检查点不符 entry differs from its signed checkpoint (chain rewritten)")
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
	if n := len(v.cps); n > 0 && v.cps[n-1].seq > v.lastSeq {
		v.fail(v.lastSeq+1, fmt.Sprintf("末尾条目缺失 entries missing at the end: checkpoint %d signs them", v.cps[n-1].seq))
	}
}
