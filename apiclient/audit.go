package apiclient

import (
	"context"
	"net/url"

	"baocun"
)

// The audit trail: query, export, verify (auditor).

// Audit is every audit entry q matches, newest first, every page. q filters by
// actor, action, cycle, pairing, department, village, decision (allow or deny),
// since and until (RFC 3339); pages are of 500 entries unless q names a limit.
func (c *Client) Audit(ctx context.Context, q url.Values) ([]baocun.AuditEntry, error) {
	return list[baocun.AuditEntry](ctx, c, "api/v1/audit", withLimit(q, 500))
}

// AuditExport is every audit entry q matches (Audit's filters), newest first, as a
// file: q's format is "csv" (the default, for Excel) or "jsonl" (one JSON entry a
// line, each with its hash).
func (c *Client) AuditExport(ctx context.Context, q url.Values) ([]byte, error) {
	path := "api/v1/audit/export"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return c.Download(ctx, path)
}

// VerifyAudit verifies the audit chain and its signed checkpoints.
func (c *Client) VerifyAudit(ctx context.Context) (baocun.AuditVerification, error) {
	var v baocun.AuditVerification
	err := c.do(ctx, "GET", "api/v1/audit/verify", nil, &v)
	return v, err
}
