package sqldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"baocun"
)

// PublishBulletin keeps a bulletin's content (its JSON, exactly) with its SHA-256,
// one a period a cycle, and the audit entry naming the hash, in one transaction.
func (db *DB) PublishBulletin(ctx context.Context, b baocun.BulletinSummary, content []byte, audit *baocun.AuditEntry) (*baocun.BulletinSummary, error) {
	sum := sha256.Sum256(content)
	b.SHA256 = hex.EncodeToString(sum[:])
	b.PublishedAt = time.Now().UTC().Truncate(time.Millisecond)
	err := db.InTx(ctx, func(tx *Tx) error {
		// One a period: of two publications at once, the second finds the first.
		err := tx.QueryRowContext(ctx, `INSERT INTO bulletins (cycle_id, period, kind, content, sha256, published_by, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (cycle_id, period) DO NOTHING RETURNING id`,
			b.CycleID, b.Period, b.Kind, string(content), b.SHA256, b.PublishedBy, FormatTime(b.PublishedAt)).Scan(&b.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return baocun.Errorf(baocun.ECONFLICT, "第 %d 轮 %s 的通报已发布，发布后不再更改 Cycle %d's bulletin of %s is published already; a published bulletin never changes.", b.CycleID, b.Period, b.CycleID, b.Period)
		}
		if err != nil {
			return err
		}
		if audit != nil {
			audit.Resource = fmt.Sprintf("cycles/%d/bulletins/%d", b.CycleID, b.ID)
			audit.Summary = fmt.Sprintf(`{"period":%q,"kind":%q,"sha256":%q,"bytes":%d}`, b.Period, b.Kind, b.SHA256, len(content))
		}
		return AppendAuditTx(ctx, tx, audit)
	})
	if err != nil {
		return nil, err
	}
	return &b, nil
}

const bulletinColumns = "id, cycle_id, period, kind, sha256, published_by, published_at"

func scanBulletin(row interface{ Scan(...any) error }, extra ...any) (*baocun.BulletinSummary, error) {
	var b baocun.BulletinSummary
	var at string
	if err := row.Scan(append([]any{&b.ID, &b.CycleID, &b.Period, &b.Kind, &b.SHA256, &b.PublishedBy, &at}, extra...)...); err != nil {
		return nil, err
	}
	b.PublishedAt, _ = ParseTime(at)
	return &b, nil
}

// Bulletins lists a cycle's bulletins, the latest period first.
func (db *DB) Bulletins(ctx context.Context, cycleID int64) ([]baocun.BulletinSummary, error) {
	rows, err := db.QueryContext(ctx, "SELECT "+bulletinColumns+" FROM bulletins WHERE cycle_id = ? ORDER BY published_at DESC, id DESC", cycleID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []baocun.BulletinSummary{}
	for rows.Next() {
		b, err := scanBulletin(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// Bulletin is one of a cycle's bulletins and its content as kept.
func (db *DB) Bulletin(ctx context.Context, cycleID, id int64) (*baocun.BulletinSummary, []byte, error) {
	var content string
	b, err := scanBulletin(db.QueryRowContext(ctx, "SELECT "+bulletinColumns+", content FROM bulletins WHERE cycle_id = ? AND id = ?", cycleID, id), &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, baocun.Errorf(baocun.ENOTFOUND, "第 %d 轮没有通报 %d Cycle %d has no bulletin %d.", cycleID, id, cycleID, id)
	}
	if err != nil {
		return nil, nil, err
	}
	return b, []byte(content), nil
}

// DepartmentNames maps every department's code to its name.
func (db *DB) DepartmentNames(ctx context.Context) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT code, name FROM departments")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var code, name string
		if err := rows.Scan(&code, &name); err != nil {
			return nil, err
		}
		out[code] = name
	}
	return out, rows.Err()
}
