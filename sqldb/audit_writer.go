package sqldb

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"baocun"
)

// run is the writer goroutine: it batches waiting appends into one transaction each
// and signs checkpoints when they are due. It ends when Close closes reqs, after
// writing everything queued and signing a last checkpoint.
func (l *AuditLog) run() {
	defer close(l.stopped)
	// Entries written while no writer ran (a crash, `baocun users add`) are signed
	// as soon as one starts.
	l.checkpointIfDue(false)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-l.reqs:
			if !ok {
				l.checkpointIfDue(true)
				return
			}
			batch, open := l.collect(r)
			l.writeBatch(batch)
			if !open {
				l.checkpointIfDue(true)
				return
			}
		case <-tick.C:
			l.checkpointIfDue(false)
		case <-l.nudge:
			l.checkpointIfDue(false)
		}
	}
}

// collect takes first and whatever else is already waiting, up to maxBatch. The
// requests that queued during the previous commit are this commit's batch: under
// load batches grow by themselves, and a lone append is written at once.
func (l *AuditLog) collect(first *appendReq) ([]*appendReq, bool) {
	batch := []*appendReq{first}
	for len(batch) < maxBatch {
		select {
		case r, ok := <-l.reqs:
			if !ok {
				return batch, false
			}
			batch = append(batch, r)
		default:
			return batch, true
		}
	}
	return batch, true
}

func (l *AuditLog) writeBatch(batch []*appendReq) {
	var live []*appendReq
	for _, r := range batch {
		// A caller that gave up before its batch began gets its error and nothing
		// is written; once writing starts it waits for the outcome.
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := l.writeEntries(live)
	if err == nil || len(live) == 1 {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	// One entry the database refuses must not fail its neighbours: retry one by one.
	for _, r := range live {
		r.done <- l.writeEntries([]*appendReq{r})
	}
}

// writeEntries appends reqs' entries in one transaction; on failure every entry is
// left as the caller gave it.
func (l *AuditLog) writeEntries(reqs []*appendReq) error {
	saved := make([]baocun.AuditEntry, len(reqs))
	for i, r := range reqs {
		saved[i] = *r.e
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var signedAt time.Time
	var cpSeq int64
	err := l.db.InTx(ctx, func(tx *Tx) error {
		h, err := lockHead(ctx, tx)
		if err != nil {
			return err
		}
		advanced := false
		for _, r := range reqs {
			w, err := appendLocked(ctx, tx, &h, r.e)
			if err != nil {
				return err
			}
			advanced = advanced || w
		}
		if !advanced {
			return nil
		}
		// A checkpoint that falls due in this batch shares its commit.
		if signedAt, err = l.checkpointLocked(ctx, tx, &h, false); err != nil {
			return err
		}
		cpSeq = h.checkpointSeq
		return storeHead(ctx, tx, h)
	})
	if err != nil {
		for i, r := range reqs {
			*r.e = saved[i]
		}
		return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.append",
			Message: "审计记录写入失败 The audit entry could not be written.", Err: err}
	}
	l.setLastCheckpoint(signedAt)
	if !signedAt.IsZero() {
		l.kickAnchor(cpSeq) // committed: only now may the anchor hold it
	}
	return nil
}

// checkpointIfDue signs a checkpoint when one is due (or, with force, whenever
// entries follow the last one). Failures are logged: the entries are safe, and the
// next tick tries again.
func (l *AuditLog) checkpointIfDue(force bool) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := l.checkpoint(ctx, force); err != nil {
		l.log.Error("audit checkpoint", "err", err)
	}
}

// Checkpoint signs a checkpoint of the chain's end now, unless the last checkpoint is
// already there: for a command that wrote entries through AppendAuditTx and wants
// them signed before it exits.
func (l *AuditLog) Checkpoint(ctx context.Context) error {
	if l.signer == nil {
		return &baocun.Error{Code: baocun.EINVALID, Op: "audit.checkpoint",
			Message: "没有审计签名密钥 No audit signing key: this log only reads."}
	}
	return l.checkpoint(ctx, true)
}

func (l *AuditLog) checkpoint(ctx context.Context, force bool) error {
	if l.signer == nil {
		return nil
	}
	// A plain read first: most ticks find nothing to do and need no write lock.
	var h head
	if err := l.db.QueryRowContext(ctx, "SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1").
		Scan(&h.seq, &h.hash, &h.checkpointSeq); err != nil {
		return fmt.Errorf("read chain head: %w", err)
	}
	due, err := l.due(ctx, h, force)
	if err != nil {
		return err
	}
	cpSeq := h.checkpointSeq
	if due {
		var signedAt time.Time
		err := l.db.InTx(ctx, func(tx *Tx) error {
			h, err := lockHead(ctx, tx)
			if err != nil {
				return err
			}
			if signedAt, err = l.checkpointLocked(ctx, tx, &h, force); err != nil || signedAt.IsZero() {
				return err
			}
			cpSeq = h.checkpointSeq
			return storeHead(ctx, tx, h)
		})
		if err != nil {
			return err
		}
		l.setLastCheckpoint(signedAt)
	}
	// Also when nothing was due: the last checkpoint may be one a crash left
	// unanchored, or another instance's.
	l.kickAnchor(cpSeq)
	return nil
}

func (l *AuditLog) setLastCheckpoint(t time.Time) {
	if t.IsZero() {
		return
	}
	l.cpMu.Lock()
	l.lastCheckpointAt = t
	l.cpMu.Unlock()
}

// due reports whether the chain at h needs a checkpoint now.
func (l *AuditLog) due(ctx context.Context, h head, force bool) (bool, error) {
	if h.seq == h.checkpointSeq {
		return false, nil
	}
	if force || h.seq-h.checkpointSeq >= l.opts.CheckpointEvery {
		return true, nil
	}
	l.cpMu.Lock()
	last := l.lastCheckpointAt
	l.cpMu.Unlock()
	if last.IsZero() && h.checkpointSeq > 0 {
		var at string
		if err := l.db.QueryRowContext(ctx, "SELECT at FROM audit_checkpoints WHERE seq = ?", h.checkpointSeq).Scan(&at); err != nil {
			return false, fmt.Errorf("read last checkpoint %d: %w", h.checkpointSeq, err)
		}
		t, err := ParseTime(at)
		if err != nil {
			return false, fmt.Errorf("last checkpoint %d: time %q: %w", h.checkpointSeq, at, err)
		}
		last = t
		l.setLastCheckpoint(t)
	}
	return time.Since(last) >= l.opts.CheckpointInterval, nil
}

// checkpointLocked signs and stores a checkpoint of h when one is due, with the head
// locked, and returns its time (zero when none was written).
func (l *AuditLog) checkpointLocked(ctx context.Context, tx *Tx, h *head, force bool) (time.Time, error) {
	if l.signer == nil {
		return time.Time{}, nil
	}
	due, err := l.due(ctx, *h, force)
	if err != nil || !due {
		return time.Time{}, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	at := FormatTime(now)
	sig := ed25519.Sign(l.signer, CheckpointMessage(h.seq, h.hash, at, h.checkpointSeq))
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO audit_checkpoints (seq, hash, at, prev_seq, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)",
		h.seq, h.hash, at, h.checkpointSeq, l.keyID, base64.StdEncoding.EncodeToString(sig)); err != nil {
		return time.Time{}, fmt.Errorf("audit: store checkpoint %d: %w", h.seq, err)
	}
	h.checkpointSeq = h.seq
	return now, nil
}

// CheckpointMessage is what a checkpoint's signature covers: the version tag, the
// entry's seq and hash, the checkpoint's time and the previous checkpoint's seq (0 for
// the first), each followed by a newline.
func CheckpointMessage(seq int64, hash, at string, prevSeq int64) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n%s\n%d\n", checkpointVersion, seq, hash, at, prevSeq)
}

// Close stops the writer after it has written every queued entry and signed a last
// checkpoint, so a cleanly stopped chain is signed to its end, and then the anchorer
// after it has anchored that checkpoint. An anchor that does not answer is waited
// for a bounded time only: Close then reports it and leaves the anchor open (the
// append in progress holds it); the next start appends what it missed. Appends after
// Close fail with EUNAVAILABLE.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	already := l.closed
	l.closed = true
	l.mu.Unlock()
	l.startOnce.Do(func() {}) // no writer starts after Close
	if l.started {
		if !already {
			close(l.reqs)
		}
		<-l.stopped
	}
	if l.anchoring {
		if !already {
			close(l.anchorStop)
		}
		select {
		case <-l.anchorStopped:
		case <-time.After(l.timings.closeWait):
			err := &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.anchor", Message: fmt.Sprintf(
				"审计锚定 %s 无响应 Audit anchor %s: an append has not returned after %s; the next start appends the checkpoints it lacks",
				l.opts.Anchor.Name(), l.opts.Anchor.Name(), l.timings.closeWait)}
			l.log.Error("audit anchor", "anchor", l.opts.Anchor.Name(), "err", err)
			return err
		}
	}
	if c, ok := l.opts.Anchor.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
