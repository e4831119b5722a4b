package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// AuditLog is the audit trail as the HTTP layer uses it: append, query, verify, and
// stream an export.
type AuditLog interface {
	baocun.AuditLog
	Export(ctx context.Context, f baocun.AuditFilter, format string, w io.Writer) error
}

// auditFilter reads the query's filters: actor, action, cycle, pairing, department,
// village, decision, since and until (RFC 3339), cursor and limit.
func auditFilter(c *gin.Context) (baocun.AuditFilter, error) {
	f := baocun.AuditFilter{
		Actor: c.Query("actor"), Action: c.Query("action"), CycleID: c.Query("cycle"), PairingID: c.Query("pairing"),
		Department: c.Query("department"), Village: c.Query("village"), Decision: c.Query("decision"), Cursor: c.Query("cursor"),
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := c.Query(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, &baocun.Error{Code: baocun.EINVALID, Message: fmt.Sprintf("%s 须为 RFC 3339 时间 %s must be an RFC 3339 time, e.g. 2026-01-31T08:00:00+08:00", name, name),
					Fields: map[string]string{name: "invalid"}}
			}
			*dst = t
		}
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return f, &baocun.Error{Code: baocun.EINVALID, Message: "limit 须在 1–1000 之间 limit must be 1–1000.", Fields: map[string]string{"limit": "out of range"}}
		}
		f.Limit = n
	}
	if f.Decision != "" && f.Decision != baocun.DecisionAllow && f.Decision != baocun.DecisionDeny {
		return f, &baocun.Error{Code: baocun.EINVALID, Message: "decision 须为 allow 或 deny decision must be allow or deny.", Fields: map[string]string{"decision": "invalid"}}
	}
	return f, nil
}

// handleAuditQuery returns one page of entries, newest first.
func handleAuditQuery(audit AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := auditFilter(c)
		if err != nil {
			Error(c, err)
			return
		}
		items, next, err := audit.Query(c.Request.Context(), f)
		if err != nil {
			Error(c, err)
			return
		}
		if items == nil {
			items = []baocun.AuditEntry{}
		}
		c.JSON(http.StatusOK, page[baocun.AuditEntry]{Items: items, NextCursor: next})
	}
}

// handleAuditExport streams every matching entry as CSV (for Excel) or JSONL.
func handleAuditExport(audit AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := auditFilter(c)
		if err != nil {
			Error(c, err)
			return
		}
		format := c.DefaultQuery("format", "csv")
		switch format {
		case "csv":
			c.Header("Content-Type", "text/csv; charset=utf-8")
		case "jsonl":
			c.Header("Content-Type", "application/x-ndjson")
		default:
			Error(c, &baocun.Error{Code: baocun.EINVALID, Message: "format 须为 csv 或 jsonl format must be csv or jsonl.", Fields: map[string]string{"format": "invalid"}})
			return
		}
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="baocun-audit-%s.%s"`, time.Now().UTC().Format("20060102T150405Z"), format))
		c.Status(http.StatusOK)
		if err := audit.Export(c.Request.Context(), f, format, c.Writer); err != nil {
			// The header is gone: the truncated body and the log say it failed.
			c.Error(err)
		}
	}
}

// handleAuditVerify checks the whole chain and its signed checkpoints.
func handleAuditVerify(audit AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, err := audit.Verify(c.Request.Context())
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}
