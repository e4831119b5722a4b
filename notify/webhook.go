package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"baocun"
)

// newHTTPClient is the webhooks' client: bounded by timeout, and never following a
// redirect (a listed host's redirect could point anywhere).
func newHTTPClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxResponseHeaderBytes = 64 << 10
	return &http.Client{
		Timeout:   timeout,
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// webhookItem is a notification in the generic JSON format.
type webhookItem struct {
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Link      string    `json:"link,omitempty"`
	TaskID    string    `json:"task_id,omitempty"`
	PairingID int64     `json:"pairing_id,omitempty"`
	At        time.Time `json:"at"`
}

// robot text limits: WeCom's text.content is at most 2048 bytes; DingTalk's is
// kept to the same order.
const (
	wecomMax    = 2048
	dingtalkMax = 4000
)

// truncate cuts s to at most n bytes of whole characters.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	s = s[:n-len(more)]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + more
}

// webhookBody is what is posted: a robot's text message, or the generic JSON (a
// digest's with its items).
func (d *Dispatcher) webhookBody(format string, ds []baocun.Delivery) ([]byte, error) {
	var text string
	if len(ds) == 1 && !ds[0].Digest {
		text = d.text(ds[0])
	} else {
		title, body := d.digestText(ds)
		text = title + "\n" + body
	}
	text = "【部门包村 Baocun】" + text
	switch format {
	case baocun.WebhookDingTalk:
		return json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": truncate(text, dingtalkMax)},
			"at": map[string]bool{"isAtAll": false}})
	case baocun.WebhookWeCom:
		return json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": truncate(text, wecomMax)}})
	}
	items := make([]webhookItem, len(ds))
	for i, del := range ds {
		items[i] = webhookItem{Kind: del.Kind, Title: del.Title, Body: del.Body, Link: d.link(del.Link), TaskID: del.TaskID, PairingID: del.PairingID, At: del.At}
	}
	if len(ds) == 1 && !ds[0].Digest {
		return json.Marshal(items[0])
	}
	title, body := d.digestText(ds)
	return json.Marshal(map[string]any{"kind": "digest", "title": title, "body": body, "items": items})
}

// postWebhook posts one message. An address the policy no longer allows is never
// requested (permanent: the delivery is dead). Only a 2xx answer is success, and
// of a robot only one saying errcode 0.
func (d *Dispatcher) postWebhook(ctx context.Context, target, format string, ds []baocun.Delivery) error {
	u, err := d.Webhooks.Check(target)
	if err != nil {
		return permanent{errors.New(baocun.ErrorMessage(err))}
	}
	body, err := d.webhookBody(format, ds)
	if err != nil {
		return permanent{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "baocun-notify")
	resp, err := d.HTTP.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message holds the address, and so the robot's key
		}
		return fmt.Errorf("POST %s: %v", redact(u), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: HTTP %d", redact(u), resp.StatusCode)
	}
	if format == baocun.WebhookDingTalk || format == baocun.WebhookWeCom {
		var r struct {
			ErrCode *int   `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if err := json.Unmarshal(answer, &r); err != nil || r.ErrCode == nil {
			return fmt.Errorf("POST %s: the robot's answer is not {\"errcode\":…}", redact(u))
		}
		if *r.ErrCode != 0 {
			err := fmt.Errorf("POST %s: errcode %d: %s", redact(u), *r.ErrCode, truncate(r.ErrMsg, 200))
			if robotThrottled[*r.ErrCode] {
				return throttled{err}
			}
			return err
		}
	}
	return nil
}

// redact is an address without its query (a robot's access token or key).
func redact(u *url.URL) string { return baocun.RedactURL(u) }

// robotThrottled are the robots' answers that they send too fast: DingTalk's
// 130101 (a robot takes about 20 messages a minute, then refuses for ten) and
// WeCom's 45009.
var robotThrottled = map[int]bool{130101: true, 45009: true}

// throttled is a receiver's "too fast": tried again after RobotPause, the attempt
// not counted (the message is not at fault).
type throttled struct{ error }

func (t throttled) Unwrap() error { return t.error }

// RobotPause is how long a throttled robot is left alone.
const RobotPause = 10 * time.Minute
