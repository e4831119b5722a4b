package sqldb

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"baocun"
)

// Page sizes of Query.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Query returns one page of entries matching f, newest first, and the cursor of the
// next page ("" on the last). Each filter walks its (column, seq) index backwards,
// so a page costs the same at the start and at the end of a long chain.
func (l *AuditLog) Query(ctx context.Context, f baocun.AuditFilter) ([]baocun.AuditEntry, string, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultAuditLimit
	case limit > MaxAuditLimit:
		limit = MaxAuditLimit
	}
	before, err := decodeAuditCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var where []string
	var args []any
	index := ""
	// Most selective first: on SQLite, which keeps no statistics by default, the
	// first filter given names the index to walk (see chooseIndex).
	for _, c := range []struct{ col, val, index string }{
		{"pairing_id", f.PairingID, "audit_entries_pairing"},
		{"village", f.Village, "audit_entries_village"},
		{"department", f.Department, "audit_entries_department"},
		{"actor", f.Actor, "audit_entries_actor"},
		{"action", f.Action, "audit_entries_action"},
		{"cycle_id", f.CycleID, "audit_entries_cycle"},
		{"decision", f.Decision, "audit_entries_decision"},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
			if index == "" {
				index = c.index
			}
		}
	}
	var timeArgs []any
	if !f.Since.IsZero() {
		where = append(where, "at >= ?")
		timeArgs = append(timeArgs, FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "at < ?")
		timeArgs = append(timeArgs, FormatTime(f.Until))
	}
	args = append(args, timeArgs...)
	if before > 0 {
		where = append(where, "seq < ?")
		args = append(args, before)
	}
	from := " FROM audit_entries"
	if l.db.dialect == SQLite {
		hint, err := l.chooseIndex(ctx, index, where, timeArgs, f)
		if err != nil {
			return nil, "", auditReadErr(err)
		}
		from += hint
	}
	q := "SELECT " + entryColumns + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", auditReadErr(err)
	}
	out := make([]baocun.AuditEntry, 0, min(limit+1, 128))
	if _, err := scanEntries(rows, func(e *baocun.AuditEntry) error { out = append(out, *e); return nil }); err != nil {
		return nil, "", auditReadErr(err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeAuditCursor(out[limit-1].Seq)
	}
	return out, next, nil
}

// narrowRange is how many entries a time range may hold for its index to beat
// walking the chain backwards: at most this many rows are read and sorted.
const narrowRange = 5000

// chooseIndex tells SQLite which index a query walks. Without statistics SQLite
// guesses, and a guess of the two-valued decision index over the village index costs a
// hundred times more; PostgreSQL's planner has statistics and gets no hint. A
// high-cardinality equality filter (pairing, village, department, actor) wins; else a
// time range that holds few entries uses the time index; else the weaker equality
// index, or the chain itself, newest first.
func (l *AuditLog) chooseIndex(ctx context.Context, index string, where []string, timeArgs []any, f baocun.AuditFilter) (string, error) {
	strong := f.PairingID != "" || f.Village != "" || f.Department != "" || f.Actor != ""
	if !strong && len(timeArgs) > 0 {
		var cond []string
		for _, w := range where {
			if strings.HasPrefix(w, "at ") {
				cond = append(cond, w)
			}
		}
		var n int
		if err := l.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM audit_entries INDEXED BY audit_entries_at WHERE "+
			strings.Join(cond, " AND ")+" LIMIT ?)", append(timeArgs, narrowRange+1)...).Scan(&n); err != nil {
			return "", err
		}
		if n <= narrowRange {
			return " INDEXED BY audit_entries_at", nil
		}
	}
	if index == "" {
		return " NOT INDEXED", nil
	}
	return " INDEXED BY " + index, nil
}

func auditReadErr(err error) error {
	return &baocun.Error{Code: baocun.EUNAVAILABLE, Op: "audit.query",
		Message: "读取审计记录失败 Could not read the audit trail.", Err: err}
}

// The cursor is the last seq a page showed, opaque to clients so its form may change.
const cursorPrefix = "a1:"

func encodeAuditCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeAuditCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	var seq int64
	if err == nil {
		s, ok := strings.CutPrefix(string(raw), cursorPrefix)
		if !ok {
			err = strconv.ErrSyntax
		} else if seq, err = strconv.ParseInt(s, 10, 64); err == nil && seq <= 0 {
			err = strconv.ErrRange
		}
	}
	if err != nil {
		return 0, &baocun.Error{Code: baocun.EINVALID, Op: "audit.query",
			Message: "分页游标无效 The page cursor is not valid.", Fields: map[string]string{"cursor": "invalid"}}
	}
	return seq, nil
}

// Each calls fn with every entry matching f (its Limit ignored; its Cursor, if any,
// is where to start), newest first. It pages through the chain, so memory stays flat
// however many entries match: the exports stream through it.
func (l *AuditLog) Each(ctx context.Context, f baocun.AuditFilter, fn func(*baocun.AuditEntry) error) error {
	f.Limit = MaxAuditLimit
	for {
		page, next, err := l.Query(ctx, f)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.Cursor = next
	}
}
