package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
	"baocun/sheet"
)

// AuditLog is the audit trail as the HTTP layer uses it: append, query, verify, and
// walk every matching entry for an export.
type AuditLog interface {
	baocun.AuditLog
	Each(ctx context.Context, f baocun.AuditFilter, fn func(*baocun.AuditEntry) error) error
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

// auditCSVHeader names each column in Chinese and English: the file is for people
// opening it in Excel as much as for programs.
var auditCSVHeader = []string{
	"序号 seq", "时间 at", "操作者 actor", "角色 role", "辖区 jurisdiction", "动作 action", "对象 resource",
	"轮次 cycle_id", "结对 pairing_id", "部门 department", "行政村 village", "决定 decision", "规则 rule",
	"状态 status", "请求 request_id", "来源地址 source_ip", "客户端 user_agent", "摘要 summary",
	"幂等键 key", "前一哈希 prev_hash", "哈希 hash",
}

// handleAuditExport streams every matching entry, newest first, as CSV (for Excel)
// or JSONL (one JSON entry a line, each with its hash).
func handleAuditExport(audit AuditLog) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := auditFilter(c)
		if err != nil {
			Error(c, err)
			return
		}
		format := c.DefaultQuery("format", "csv")
		var write func(*baocun.AuditEntry) error
		var flush func() error
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
		streaming(c)
		if format == "csv" {
			w, err := sheet.NewCSV(c.Writer, auditCSVHeader)
			if err != nil {
				c.Error(err)
				return
			}
			row := make([]string, 0, len(auditCSVHeader))
			write = func(e *baocun.AuditEntry) error {
				row = append(row[:0], strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(baocun.TimeLayout), e.Actor, e.Role, e.Jurisdiction,
					e.Action, e.Resource, e.CycleID, e.PairingID, e.Department, e.Village, e.Decision, e.Rule,
					strconv.Itoa(e.Status), e.RequestID, e.SourceIP, e.UserAgent, e.Summary, e.Key, e.PrevHash, e.Hash)
				return w.Write(row)
			}
			flush = w.Flush
		} else {
			bw := bufio.NewWriterSize(c.Writer, 64<<10)
			enc := json.NewEncoder(bw)
			enc.SetEscapeHTML(false)
			write = func(e *baocun.AuditEntry) error { return enc.Encode(e) }
			flush = bw.Flush
		}
		if err := audit.Each(c.Request.Context(), f, write); err == nil {
			err = flush()
		}
		if err != nil {
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
