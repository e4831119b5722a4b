package apiclient

import (
	"context"
	"net/url"

	"baocun"
)

// Notifications (the bell) and contact details (issue 19).

// NotificationPage is one page of the signed-in user's notifications, newest first,
// and how many of all of them are unread.
type NotificationPage struct {
	Items      []baocun.Notification `json:"items"`
	NextCursor string                `json:"next_cursor"`
	Unread     int                   `json:"unread"`
}

// Notifications is a page of the signed-in user's notifications: q may say
// unread=1, cursor (the last page's next_cursor) and limit.
func (c *Client) Notifications(ctx context.Context, q url.Values) (*NotificationPage, error) {
	path := "api/v1/notifications"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return get[NotificationPage](ctx, c, path)
}

// MarkRead marks the signed-in user's notifications read: those of ids (another's
// are passed over), or every one when all. It returns how many it marked and how
// many are unread now.
func (c *Client) MarkRead(ctx context.Context, ids []int64, all bool) (marked, unread int, err error) {
	in := map[string]any{"ids": ids}
	if all {
		in = map[string]any{"all": true}
	}
	var out struct {
		Marked int `json:"marked"`
		Unread int `json:"unread"`
	}
	err = c.do(ctx, "POST", "api/v1/notifications/read", in, &out)
	return out.Marked, out.Unread, err
}

// Contact is an account's contact details and notification preferences (one's
// own, or another's for an admin).
func (c *Client) Contact(ctx context.Context, username string) (*baocun.Contact, error) {
	return get[baocun.Contact](ctx, c, "api/v1/users/"+url.PathEscape(username)+"/contact")
}

// PutContact sets an account's contact details and preferences, whole (Username
// and UpdatedAt are the path's and the service's), and returns them as stored.
func (c *Client) PutContact(ctx context.Context, username string, ct baocun.Contact) (*baocun.Contact, error) {
	in := map[string]any{"email": ct.Email, "email_enabled": ct.EmailEnabled, "webhook_url": ct.WebhookURL, "webhook_format": ct.WebhookFormat,
		"webhook_enabled": ct.WebhookEnabled, "mute": ct.Mute, "digest": ct.Digest}
	var out baocun.Contact
	if err := c.do(ctx, "PUT", "api/v1/users/"+url.PathEscape(username)+"/contact", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
