package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"baocun"
)

// NotificationStore keeps each account's notifications (the bell) and how it is
// reached besides (issue 19). Package notify makes and sends them.
type NotificationStore interface {
	Notifications(ctx context.Context, username string, unread bool, before int64, limit int) ([]baocun.Notification, int, error)
	UnreadCount(ctx context.Context, username string) (int, error)
	MarkRead(ctx context.Context, username string, ids []int64, all bool, now time.Time) (int, error)
	Contact(ctx context.Context, username string) (*baocun.Contact, error)
	PutContact(ctx context.Context, c baocun.Contact, audit *baocun.AuditEntry) (*baocun.Contact, error)
}

// notificationPage is one page of the caller's notifications and how many of all
// of them are unread.
type notificationPage struct {
	Items      []baocun.Notification `json:"items"`
	NextCursor string                `json:"next_cursor"`
	Unread     int                   `json:"unread"`
}

// handleNotifications lists the caller's own notifications, newest first
// (?unread=1: only the unread; ?cursor=: the id the last page ended at).
func handleNotifications(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		before, limit, err := pageParams(c)
		if err != nil {
			Error(c, err)
			return
		}
		unread := false
		switch c.Query("unread") {
		case "", "0", "false":
		case "1", "true":
			unread = true
		default:
			Error(c, &baocun.Error{Code: baocun.EINVALID, Message: "unread 须为 1 或 0 unread must be 1 or 0.", Fields: map[string]string{"unread": "invalid"}})
			return
		}
		items, n, err := store.Notifications(c.Request.Context(), currentUser(c).Username, unread, before, limit+1)
		if err != nil {
			Error(c, err)
			return
		}
		p := pageOf(items, limit, func(n baocun.Notification) string { return strconv.FormatInt(n.ID, 10) })
		c.JSON(http.StatusOK, notificationPage{Items: p.Items, NextCursor: p.NextCursor, Unread: n})
	}
}

type markReadRequest struct {
	IDs []int64 `json:"ids"`
	All bool    `json:"all"`
}

type markReadResult struct {
	Marked int `json:"marked"`
	Unread int `json:"unread"`
}

// maxMarkRead bounds the ids one request marks.
const maxMarkRead = 500

// handleMarkRead marks the caller's notifications read: those of ids that are the
// caller's (another's id is passed over, and not counted), or all of them.
func handleMarkRead(store Store) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req markReadRequest
		if err := decodeJSON(c, &req); err != nil {
			Error(c, err)
			return
		}
		switch {
		case len(req.IDs) > maxMarkRead:
			Error(c, &baocun.Error{Code: baocun.EINVALID, Fields: map[string]string{"ids": "at most 500"},
				Message: "一次最多标记 500 条 At most 500 ids a request."})
			return
		case len(req.IDs) == 0 && !req.All:
			Error(c, &baocun.Error{Code: baocun.EINVALID, Fields: map[string]string{"ids": "required (or all)"},
				Message: "请给出 ids 或 all Give ids, or all: true."})
			return
		case len(req.IDs) > 0 && req.All:
			Error(c, &baocun.Error{Code: baocun.EINVALID, Fields: map[string]string{"all": "not with ids"},
				Message: "ids 与 all 只能给一个 Give ids or all, not both."})
			return
		}
		ctx, me := c.Request.Context(), currentUser(c).Username
		n, err := store.MarkRead(ctx, me, req.IDs, req.All, time.Now())
		if err != nil {
			Error(c, err)
			return
		}
		unread, err := store.UnreadCount(ctx, me)
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, markReadResult{Marked: n, Unread: unread})
	}
}

// contactInput is what PUT /users/:username/contact takes: the whole of it (a field
// left out is empty or off).
type contactInput struct {
	Email          string   `json:"email"`
	EmailEnabled   bool     `json:"email_enabled"`
	WebhookURL     string   `json:"webhook_url"`
	WebhookFormat  string   `json:"webhook_format"`
	WebhookEnabled bool     `json:"webhook_enabled"`
	Mute           []string `json:"mute"`
	Digest         bool     `json:"digest"`
}

// contactAccess decides whether the caller may read or change the contact of the
// account in the path: their own, or another's with the policy's user.update (an
// admin; a webhook's address holds its robot's key, so only who may change it reads
// it). A refusal is 403 and audited. It returns the audit entry drafted.
func contactAccess(c *gin.Context, d Deps, action string) (*baocun.AuditEntry, bool) {
	u, name := currentUser(c), c.Param("username")
	e := baseEntry(c, action)
	e.Resource, e.Jurisdiction = "users/"+name+"/contact", baocun.CityJurisdiction
	if name == u.Username {
		e.Decision, e.Rule = baocun.DecisionAllow, "self: one's own contact details"
		return e, true
	}
	dec, err := decide(c.Request.Context(), d.Authorizer, route{object: "user", action: "update"}, u,
		Resource{Name: "users/" + name, Jurisdiction: baocun.CityJurisdiction})
	if err != nil {
		Error(c, err)
		return nil, false
	}
	e.Role = ruleRole(dec.Rule)
	if !dec.Allowed {
		deny(c, d.Audit, e, action, "another account's contact details need user.update ("+dec.Rule+")")
		return nil, false
	}
	e.Decision, e.Rule = baocun.DecisionAllow, dec.Rule
	return e, true
}

// handleGetContact answers an account's contact details and preferences. Another
// account's are personal data: the read is audited with its outcome.
func handleGetContact(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, ok := contactAccess(c, d, "contact.read")
		if !ok {
			return
		}
		ct, err := d.Store.Contact(c.Request.Context(), c.Param("username"))
		if e.Actor != c.Param("username") {
			e.Status = http.StatusOK
			if err != nil {
				e.Status = errStatus(err)
			}
			if aerr := d.Audit.Append(context.WithoutCancel(c.Request.Context()), e); aerr != nil {
				Error(c, aerr)
				return
			}
		}
		if err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusOK, ct)
	}
}

// handlePutContact sets an account's contact details and preferences, whole: an
// email address (net/mail's reading of one), a webhook address the operator's list
// allows (--webhook-hosts), each on or off, the kinds muted, the daily digest. Every
// change is audited in its transaction (a webhook's address without its query, which
// holds the robot's key); a refused one is audited with its 400.
func handlePutContact(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, ok := contactAccess(c, d, "contact.update")
		if !ok {
			return
		}
		var in contactInput
		err := decodeJSON(c, &in)
		ct := baocun.Contact{Username: c.Param("username"), Email: in.Email, EmailEnabled: in.EmailEnabled, WebhookURL: in.WebhookURL,
			WebhookFormat: in.WebhookFormat, WebhookEnabled: in.WebhookEnabled, Mute: in.Mute, Digest: in.Digest}
		if err == nil {
			err = ct.Validate(d.Webhooks)
		}
		if err == nil {
			e.Status = http.StatusOK
			e.Summary = summary(map[string]any{"email": ct.Email, "email_enabled": ct.EmailEnabled, "webhook": redactURL(ct.WebhookURL),
				"webhook_format": ct.WebhookFormat, "webhook_enabled": ct.WebhookEnabled, "mute": ct.Mute, "digest": ct.Digest})
			var out *baocun.Contact
			if out, err = d.Store.PutContact(c.Request.Context(), ct, e); err == nil {
				c.JSON(http.StatusOK, out)
				return
			}
		}
		// Refused (the input, or no such account): nothing was written; the trail
		// records the attempt and its outcome.
		e.Status, e.Summary = errStatus(err), ""
		if aerr := d.Audit.Append(context.WithoutCancel(c.Request.Context()), e); aerr != nil {
			c.Error(aerr)
		}
		Error(c, err)
	}
}

// redactURL is an address without its query or user: what the trail may keep of a
// webhook.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	return baocun.RedactURL(u)
}

// errStatus is the status Error answers err with.
func errStatus(err error) int {
	if s, ok := statusOf[baocun.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}
