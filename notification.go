package baocun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Notification kinds: what an outbox row tells people (issue 19).
const (
	NotifyTaskOpened    = "task.opened"        // a task is in the reader's inbox
	NotifyTaskReminded  = "task.reminded"      // its due date is near (or an organiser reminded by hand)
	NotifyTaskEscalated = "task.escalated"     // overdue: the organisers have it too
	NotifyDecision      = "submission.decided" // the reader's plan, report, team, change, appeal or self-assessment was decided
	NotifyPublicity     = "publicity.begun"    // a result or a commendation list is published
)

// NotifyKinds lists the kinds, in the order the preferences show them.
var NotifyKinds = []string{NotifyTaskOpened, NotifyTaskReminded, NotifyTaskEscalated, NotifyDecision, NotifyPublicity}

// NotifyKindNames name each kind for people.
var NotifyKindNames = map[string][2]string{
	NotifyTaskOpened:    {"新待办", "New task"},
	NotifyTaskReminded:  {"待办提醒", "Reminder"},
	NotifyTaskEscalated: {"逾期上报", "Escalation"},
	NotifyDecision:      {"审核结果", "Decision on a submission"},
	NotifyPublicity:     {"公示开始", "Publicity begins"},
}

// Outbound is one thing that happened and reaches people: written to the outbox
// in the transaction of the change it tells of, so it is there exactly when the
// change is. Whom it reaches is worked out when it is fanned out, from the kind
// (the task's inbox, the submitter, the pairing's department and village), unless
// To names them.
type Outbound struct {
	Kind      string    `json:"kind"`
	TaskID    string    `json:"task_id,omitempty"`
	PairingID int64     `json:"pairing_id,omitempty"`
	CycleID   int64     `json:"cycle_id,omitempty"`
	Actor     string    `json:"actor,omitempty"` // who made it happen: a username or "system"
	At        time.Time `json:"at"`
	// To are the usernames it reaches, when the event names them; none: the kind's
	// audience at fan-out.
	To []string `json:"to,omitempty"`
	// Data is the kind's detail: for a decision {"event","period","outcome","comment"},
	// for a published result its grade and dates, for a reminder by hand {"note"}.
	Data json.RawMessage `json:"data,omitempty"`
}

// OutboxItem is a stored Outbound.
type OutboxItem struct {
	ID int64 `json:"id"`
	Outbound
}

// Notification is one item of a user's notifications (the bell), and how each of
// its deliveries by email or webhook stands.
type Notification struct {
	ID         int64           `json:"id"`
	Kind       string          `json:"kind"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Link       string          `json:"link,omitempty"` // a page of the service, e.g. /pairings/3
	TaskID     string          `json:"task_id,omitempty"`
	PairingID  int64           `json:"pairing_id,omitempty"`
	At         time.Time       `json:"at"`
	ReadAt     *time.Time      `json:"read_at,omitempty"`
	Deliveries []DeliveryState `json:"deliveries"`
}

// Delivery channels and statuses.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"

	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryDead    = "dead" // given up: too many failures, or a target that may not be sent to
)

// DeliveryState is how one delivery of a notification stands.
type DeliveryState struct {
	Channel   string     `json:"channel"`
	Status    string     `json:"status"`
	Digest    bool       `json:"digest,omitempty"` // held for the daily digest
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// NewNotification is a notification to store at fan-out, with its deliveries.
type NewNotification struct {
	Username   string
	Kind       string
	Title      string
	Body       string
	Link       string
	TaskID     string
	PairingID  int64
	At         time.Time
	Deliveries []NewDelivery
}

// NewDelivery is one delivery to make: first tried at NextAt (a digest's: the
// user's next digest time).
type NewDelivery struct {
	Channel string
	Target  string // an email address or a webhook URL
	Format  string // a webhook's format
	Digest  bool
	NextAt  time.Time
}

// Delivery is a claimed delivery to send, with its notification's text.
type Delivery struct {
	ID             int64
	NotificationID int64
	Username       string
	Channel        string
	Target         string
	Format         string
	Digest         bool
	Attempts       int // failed attempts so far
	Kind           string
	Title          string
	Body           string
	Link           string
	TaskID         string
	PairingID      int64
	At             time.Time
}

// Webhook formats.
const (
	WebhookDingTalk = "dingtalk" // 钉钉自定义机器人 {"msgtype":"text","text":{"content"}}
	WebhookWeCom    = "wecom"    // 企业微信群机器人 {"msgtype":"text","text":{"content"}}
	WebhookJSON     = "json"     // {"kind","title","body","link","task_id","pairing_id","at"}
)

// WebhookFormats lists the formats.
var WebhookFormats = []string{WebhookDingTalk, WebhookWeCom, WebhookJSON}

// Contact is how a user is reached besides the bell, and what they want sent:
// email and a webhook, each on or off, the kinds they mute (sent to neither, still
// in the bell), and whether email and webhook wait for one daily digest.
type Contact struct {
	Username       string    `json:"username"`
	Email          string    `json:"email"`
	EmailEnabled   bool      `json:"email_enabled"`
	WebhookURL     string    `json:"webhook_url"`
	WebhookFormat  string    `json:"webhook_format"`
	WebhookEnabled bool      `json:"webhook_enabled"`
	Mute           []string  `json:"mute"`
	Digest         bool      `json:"digest"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// Contact bounds.
const (
	MaxEmailLength      = 254
	MaxWebhookURLLength = 1024
)

// RedactURL is how a webhook's address is shown in the trail, logs and errors: its
// scheme and host, and a short hash of the whole (robots keep their key in the
// query, some in the path).
func RedactURL(u *url.URL) string {
	sum := sha256.Sum256([]byte(u.String()))
	return u.Scheme + "://" + u.Host + "/…#" + hex.EncodeToString(sum[:4])
}

// Mutes reports whether c mutes kind for email and webhook.
func (c *Contact) Mutes(kind string) bool { return slices.Contains(c.Mute, kind) }

// Validate checks a contact as a user sends it, naming the field at fault; the
// webhook's address must be one policy allows. It tidies what it checks: the
// address as parsed, the format defaulted, the kinds muted sorted once each.
func (c *Contact) Validate(policy WebhookPolicy) error {
	fields := map[string]string{}
	c.Email = strings.TrimSpace(c.Email)
	switch {
	case len(c.Email) > MaxEmailLength:
		fields["email"] = fmt.Sprintf("at most %d bytes", MaxEmailLength)
	case c.Email != "":
		a, err := mail.ParseAddress(c.Email)
		if err != nil || a.Name != "" || strings.ContainsAny(a.Address, "\r\n<>\" []") || !strings.Contains(a.Address, "@") || !isASCII(a.Address) {
			fields["email"] = "not an email address (name@example.com)"
		} else {
			c.Email = a.Address
		}
	case c.EmailEnabled:
		fields["email"] = "required when email_enabled"
	}
	c.WebhookURL = strings.TrimSpace(c.WebhookURL)
	switch {
	case len(c.WebhookURL) > MaxWebhookURLLength:
		fields["webhook_url"] = fmt.Sprintf("at most %d bytes", MaxWebhookURLLength)
	case c.WebhookURL != "":
		if _, err := policy.Check(c.WebhookURL); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Fields["webhook_url"] != "" {
				fields["webhook_url"] = e.Fields["webhook_url"]
			} else {
				fields["webhook_url"] = "not allowed"
			}
		}
	case c.WebhookEnabled:
		fields["webhook_url"] = "required when webhook_enabled"
	}
	if c.WebhookFormat == "" {
		c.WebhookFormat = WebhookJSON
	}
	if !slices.Contains(WebhookFormats, c.WebhookFormat) {
		fields["webhook_format"] = "one of " + strings.Join(WebhookFormats, ", ")
	}
	if len(c.Mute) > len(NotifyKinds) {
		fields["mute"] = fmt.Sprintf("at most %d kinds", len(NotifyKinds))
	} else {
		for i, k := range c.Mute {
			if !slices.Contains(NotifyKinds, k) {
				fields[fmt.Sprintf("mute[%d]", i)] = "one of " + strings.Join(NotifyKinds, ", ")
			}
		}
	}
	if len(fields) > 0 {
		return &Error{Code: EINVALID, Fields: fields, Message: "联系方式有误 The contact details are not valid: " + joinFields(fields)}
	}
	if c.Mute == nil {
		c.Mute = []string{}
	}
	slices.Sort(c.Mute)
	c.Mute = slices.Compact(c.Mute)
	return nil
}

func joinFields(fields map[string]string) string {
	var out []string
	for k, v := range fields {
		out = append(out, k+": "+v)
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// DefaultWebhookHosts are the robots' hosts webhooks may reach unless the operator
// says otherwise: DingTalk's and WeCom's.
var DefaultWebhookHosts = []string{"oapi.dingtalk.com", "qyapi.weixin.qq.com"}

// WebhookPolicy is where webhooks may go. A user names the address, so without a
// list anyone could make the service request its own internal addresses (the
// Temporal frontend, a cloud's metadata service): only https to a listed host is
// allowed. An entry is a host (https, port 443), host:port (https on that port), or
// http://host:port for a receiver the operator runs in clear on purpose.
type WebhookPolicy struct {
	Hosts []string // none: DefaultWebhookHosts
}

// Check parses raw and reports whether a webhook may be sent to it.
func (p WebhookPolicy) Check(raw string) (*url.URL, error) {
	bad := func(why string) (*url.URL, error) {
		return nil, &Error{Code: EINVALID, Fields: map[string]string{"webhook_url": why},
			Message: "webhook 地址不允许 The webhook address is not allowed: " + why}
	}
	if !utf8.ValidString(raw) || strings.ContainsAny(raw, "\r\n\t ") {
		return bad("not a URL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("not a URL")
	}
	if u.User != nil {
		return bad("no user or password in the address")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return bad("https only")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	hosts := p.Hosts
	if len(hosts) == 0 {
		hosts = DefaultWebhookHosts
	}
	for _, e := range hosts {
		s, h, pt := parseWebhookHost(e)
		if s == scheme && h == host && pt == port {
			return u, nil
		}
	}
	if scheme == "http" {
		return bad("https only")
	}
	return bad(fmt.Sprintf("host %s is not one the operator allows (%s)", u.Host, strings.Join(hosts, ", ")))
}

// parseWebhookHost reads an entry of the list: scheme, host and port.
func parseWebhookHost(e string) (string, string, string) {
	scheme := "https"
	if s, rest, ok := strings.Cut(e, "://"); ok {
		scheme, e = strings.ToLower(s), rest
	}
	e = strings.TrimSuffix(e, "/")
	host, port, err := net.SplitHostPort(e)
	if err != nil {
		host, port = strings.Trim(e, "[]"), map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme, strings.ToLower(host), port
}

// ValidateWebhookHosts checks the operator's list.
func ValidateWebhookHosts(hosts []string) error {
	for _, e := range hosts {
		s, h, p := parseWebhookHost(e)
		if (s != "https" && s != "http") || h == "" || p == "" || strings.ContainsAny(h, "/?#@") {
			return fmt.Errorf("webhook host %q: want host, host:port or http://host:port", e)
		}
	}
	return nil
}

// isASCII reports whether s is printable ASCII: an address every relay takes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
