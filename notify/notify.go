// Package notify tells people what happened: it fans each outbox row (written by
// sqldb in the transaction of the change it tells of) out to the people it concerns
// — a notification each, in the app's bell — and sends their email (SMTP with
// STARTTLS) and webhook (DingTalk, WeCom or generic JSON) deliveries, retrying a
// failure with exponential backoff and jitter until it gives up (dead).
//
// Delivery is at least once: a delivery is marked sent only after the server took
// it, so a process killed between the two sends it again when it, or another
// instance, next runs. Nothing acknowledged is lost: the outbox row commits with its
// change. Every instance of the service runs a dispatcher: deliveries are claimed
// under a lease (PostgreSQL skips rows another instance is claiming), and a fan-out
// marks its row first, so two instances neither fan out nor send the same thing at
// once in normal operation.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"baocun"
	"baocun/sqldb"
)

// Dispatcher fans out the outbox and sends deliveries. The zero values of its
// settings are the defaults each names.
type Dispatcher struct {
	DB *sqldb.DB
	// SMTP is the mail server; nil sends no email, and no email delivery is made
	// (the bell and webhooks work without it).
	SMTP     *SMTP
	Webhooks baocun.WebhookPolicy
	// HTTP posts webhooks; nil: one bounded by SendTimeout that follows no redirect.
	HTTP     *http.Client
	Logger   *slog.Logger
	Registry prometheus.Registerer // the metrics' registry; nil: none registered
	Now      func() time.Time      // the clock; nil: time.Now
	// BaseURL is the service's address as people reach it, for links in emails and
	// webhooks; none leaves them out.
	BaseURL string

	Interval    time.Duration // between rounds when idle (2 s)
	Backoff     time.Duration // before the first retry (30 s), doubling each failure …
	MaxBackoff  time.Duration // … up to this (1 h)
	MaxAttempts int           // attempts before a delivery is dead (10)
	SendTimeout time.Duration // one email or webhook (20 s)
	Batch       int           // deliveries sent a round (50)
	DigestHour  int           // the daily digest's hour, China time (8; 0 is the default)
	// Senders are the loops sending email and webhooks at once (4), beside the one
	// fanning out: a slow server delays neither the bell nor the other sends.
	Senders int

	mu       *sync.Mutex
	fanFails map[int64]int // outbox row → rounds its fan-out failed

	sent, failed     *prometheus.CounterVec
	backlog          *prometheus.GaugeVec
	outboxGauge      prometheus.Gauge
	fanned, sentMail prometheus.Counter
}

// permanent is a failure trying again cannot mend: the delivery is dead at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Init fills the defaults and registers the metrics. Run calls it; a test calling
// Tick calls it first.
func (d *Dispatcher) Init() error {
	if d.sent != nil {
		return nil
	}
	if d.DB == nil {
		return errors.New("notify: no database")
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&d.Interval, 2*time.Second)
	def(&d.Backoff, 30*time.Second)
	def(&d.MaxBackoff, time.Hour)
	def(&d.SendTimeout, 20*time.Second)
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 10
	}
	if d.Senders <= 0 {
		d.Senders = 4
	}
	d.mu, d.fanFails = &sync.Mutex{}, map[int64]int{}
	if d.Batch <= 0 {
		d.Batch = 50
	}
	if d.DigestHour <= 0 || d.DigestHour > 23 {
		d.DigestHour = 8
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.HTTP == nil {
		d.HTTP = newHTTPClient(d.SendTimeout)
	}
	if d.SMTP != nil {
		if err := d.SMTP.Check(); err != nil {
			return err
		}
	}
	d.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baocun_notifications_sent_total",
		Help: "Notifications sent, by channel: inapp (made in the bell), email and webhook (taken by the server; a digest counts once)."}, []string{"channel"})
	d.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "baocun_notifications_failed_total",
		Help: "Attempts to send an email or webhook that failed (each is retried with backoff until it is dead)."}, []string{"channel"})
	d.backlog = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "baocun_notifications_deliveries",
		Help: "Email and webhook deliveries pending (waiting to be sent, retried or held for a digest) and dead (given up)."}, []string{"status"})
	d.outboxGauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "baocun_notifications_outbox_unfanned",
		Help: "Outbox rows not yet fanned out to the people they concern."})
	for _, ch := range []string{"inapp", baocun.ChannelEmail, baocun.ChannelWebhook} {
		d.sent.WithLabelValues(ch)
		if ch != "inapp" {
			d.failed.WithLabelValues(ch)
		}
	}
	d.failed.WithLabelValues("fanout") // an outbox row whose fan-out failed a round
	if d.Registry != nil {
		for _, c := range []prometheus.Collector{d.sent, d.failed, d.backlog, d.outboxGauge} {
			if err := d.Registry.Register(c); err != nil {
				return fmt.Errorf("notify: metrics: %w", err)
			}
		}
	}
	return nil
}

// Run works until ctx ends: one loop fans out the outbox and Senders loops send,
// each a round at once, then again every Interval, or at once while a round found
// more than it could do. A round's failure is logged and the next round tries
// again. An email or webhook under way when ctx ends is let finish (at most
// SendTimeout), so it is not sent twice for want of its mark.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.Init(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { d.loop(ctx, d.fanRound) })
	for range d.Senders {
		wg.Go(func() { d.loop(ctx, d.sendRound) })
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) loop(ctx context.Context, round func(context.Context) (bool, error)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		more, err := round(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("notifications", "err", err)
		}
		next := d.Interval
		if more && err == nil {
			next = 0
		}
		t.Reset(next)
	}
}

// Tick is one round of each: fan out, then send. It reports whether work was left
// for another round.
func (d *Dispatcher) Tick(ctx context.Context) (bool, error) {
	if err := d.Init(); err != nil {
		return false, err
	}
	fanMore, fanErr := d.fanRound(ctx)
	sendMore, sendErr := d.sendRound(ctx)
	d.gauges(ctx)
	return fanMore || sendMore, errors.Join(fanErr, sendErr)
}

// maxFanFails is how many rounds an outbox row's fan-out may fail before it is
// given up (logged, counted, and marked fanned with nobody told).
const maxFanFails = 5

// fanRound fans out the outbox's rows (a hundred at most) and updates the
// backlog's gauges.
func (d *Dispatcher) fanRound(ctx context.Context) (bool, error) {
	const fanBatch = 100
	items, err := d.DB.Unfanned(ctx, fanBatch)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	more := len(items) == fanBatch
	var errs []error
	for _, o := range items {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err := d.fanOut(ctx, o); err != nil {
			d.failed.WithLabelValues("fanout").Inc()
			d.mu.Lock()
			d.fanFails[o.ID]++
			fails := d.fanFails[o.ID]
			d.mu.Unlock()
			if fails >= maxFanFails {
				d.Logger.Error("notification given up: its fan-out keeps failing", "outbox", o.ID, "kind", o.Kind, "err", err)
				if _, gerr := d.DB.FanOut(ctx, o.ID, nil, d.Now()); gerr == nil {
					d.mu.Lock()
					delete(d.fanFails, o.ID)
					d.mu.Unlock()
				}
				continue
			}
			errs = append(errs, fmt.Errorf("fan out outbox %d (%s): %w", o.ID, o.Kind, err))
			more = false // a row that fails is tried at the next round, not at once
		}
	}
	d.gauges(ctx)
	return more, errors.Join(errs...)
}

// gauges sets the backlog's gauges.
func (d *Dispatcher) gauges(ctx context.Context) {
	if outbox, pending, dead, err := d.DB.NotificationBacklog(ctx); err == nil {
		d.outboxGauge.Set(float64(outbox))
		d.backlog.WithLabelValues(baocun.DeliveryPending).Set(float64(pending))
		d.backlog.WithLabelValues(baocun.DeliveryDead).Set(float64(dead))
	}
}

// sendRound sends the due deliveries (Batch at most) and the due digests.
func (d *Dispatcher) sendRound(ctx context.Context) (bool, error) {
	n, err := d.sendDue(ctx)
	more := n == d.Batch
	if derr := d.sendDigests(ctx); derr != nil {
		err = errors.Join(err, derr)
	}
	return more, err
}

// fanOut makes outbox row o's notifications, one for each person it reaches, with
// the email and webhook deliveries their contact asks for, and marks it fanned.
func (d *Dispatcher) fanOut(ctx context.Context, o baocun.OutboxItem) error {
	now := d.Now()
	who, err := d.DB.OutboxAudience(ctx, o, now)
	if err != nil {
		return err
	}
	if len(who) == 0 {
		_, err := d.DB.FanOut(ctx, o.ID, nil, now)
		return err
	}
	m, err := d.render(ctx, o)
	if err != nil {
		return err
	}
	// What people typed (a comment, a note) is stored and sent as clean text: no
	// NUL or other control character (PostgreSQL refuses NUL in text).
	m.Title, m.Body, m.Link = cleanText(m.Title), cleanText(m.Body), cleanText(m.Link)
	contacts, err := d.DB.Contacts(ctx, who)
	if err != nil {
		return err
	}
	notes := make([]baocun.NewNotification, 0, len(who))
	for _, u := range who {
		n := baocun.NewNotification{Username: u, Kind: o.Kind, Title: m.Title, Body: m.Body, Link: m.Link,
			TaskID: m.TaskID, PairingID: m.PairingID, At: o.At}
		if c, ok := contacts[u]; ok && !c.Mutes(o.Kind) {
			next := now
			if c.Digest {
				next = d.nextDigest(now)
			}
			if d.SMTP != nil && c.EmailEnabled && c.Email != "" {
				n.Deliveries = append(n.Deliveries, baocun.NewDelivery{Channel: baocun.ChannelEmail, Target: c.Email, Digest: c.Digest, NextAt: next})
			}
			if c.WebhookEnabled && c.WebhookURL != "" {
				n.Deliveries = append(n.Deliveries, baocun.NewDelivery{Channel: baocun.ChannelWebhook, Target: c.WebhookURL,
					Format: c.WebhookFormat, Digest: c.Digest, NextAt: next})
			}
		}
		notes = append(notes, n)
	}
	made, err := d.DB.FanOut(ctx, o.ID, notes, now)
	d.sent.WithLabelValues("inapp").Add(float64(made))
	return err
}

// cleanText is s as valid UTF-8 with no control character but newline and tab.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// lease is how long a claimed delivery is the claimer's: its send, and a margin.
func (d *Dispatcher) lease() time.Duration { return d.SendTimeout + 15*time.Second }

// sendDue sends the deliveries due now, one claim at a time (a process killed while
// sending holds one delivery for a lease, not a batch), up to Batch.
func (d *Dispatcher) sendDue(ctx context.Context) (int, error) {
	n := 0
	for n < d.Batch && ctx.Err() == nil {
		now := d.Now()
		ds, err := d.DB.ClaimDeliveries(ctx, now, now.Add(d.lease()), 1, false)
		if err != nil {
			return n, fmt.Errorf("claim deliveries: %w", err)
		}
		if len(ds) == 0 {
			break
		}
		for i := range ds {
			n++
			if err := d.deliver(ctx, ds[i:i+1]); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// maxDigest bounds the notifications one digest lists; a user with more due gets
// more than one message.
const maxDigest = 500

// sendDigests sends the digests due now, up to Batch of them: each is one user's
// due digest deliveries of one channel and target, claimed together and sent as
// one message.
func (d *Dispatcher) sendDigests(ctx context.Context) error {
	for range d.Batch {
		if ctx.Err() != nil {
			return nil
		}
		now := d.Now()
		ds, err := d.DB.ClaimDeliveries(ctx, now, now.Add(d.lease()), maxDigest, true)
		if err != nil {
			return fmt.Errorf("claim a digest: %w", err)
		}
		if len(ds) == 0 {
			return nil
		}
		if err := d.deliver(ctx, ds); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends ds — one delivery, or one digest of several — as one message and
// records the outcome of all of them: sent; or failed, to be tried again after a
// backoff, or dead after MaxAttempts (or at once for a permanent failure).
func (d *Dispatcher) deliver(ctx context.Context, ds []baocun.Delivery) error {
	ds, err := d.stillWanted(ctx, ds)
	if err != nil || len(ds) == 0 {
		return err
	}
	first := ds[0]
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.SendTimeout)
	err = d.send(sctx, ds)
	cancel()
	ids := make([]int64, len(ds))
	attempts := 0
	for i, del := range ds {
		ids[i] = del.ID
		attempts = max(attempts, del.Attempts+1)
	}
	// The outcome is recorded even when ctx ends meanwhile: the message went or not.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	now := d.Now()
	if err == nil {
		d.sent.WithLabelValues(first.Channel).Inc()
		if err := d.DB.DeliveriesSent(rctx, ids, now); err != nil {
			return fmt.Errorf("mark deliveries %v sent: %w", ids, err)
		}
		return nil
	}
	d.failed.WithLabelValues(first.Channel).Inc()
	var th throttled
	if errors.As(err, &th) {
		d.Logger.Warn("notification throttled by its receiver", "channel", first.Channel, "user", first.Username, "deliveries", len(ids), "err", err)
		if err := d.DB.DeliveriesThrottled(rctx, ids, err.Error(), now.Add(RobotPause)); err != nil {
			return fmt.Errorf("mark deliveries %v throttled: %w", ids, err)
		}
		return nil
	}
	var p permanent
	dead := errors.As(err, &p) || attempts >= d.MaxAttempts
	next := now.Add(d.backoff(attempts))
	d.Logger.Warn("notification not delivered", "channel", first.Channel, "user", first.Username, "deliveries", len(ids),
		"attempts", attempts, "dead", dead, "retry_at", next, "err", err)
	if err := d.DB.DeliveriesFailed(rctx, ids, err.Error(), next, dead); err != nil {
		return fmt.Errorf("mark deliveries %v failed: %w", ids, err)
	}
	return nil
}

// stillWanted drops, marked dead, the deliveries whose person no longer wants them
// there: their account disabled, the channel switched off, the address changed, or
// the kind muted since they were made (a retry or a digest comes hours later).
func (d *Dispatcher) stillWanted(ctx context.Context, ds []baocun.Delivery) ([]baocun.Delivery, error) {
	first := ds[0]
	u, err := d.DB.User(ctx, first.Username)
	if err != nil && baocun.ErrorCode(err) != baocun.ENOTFOUND {
		return nil, err
	}
	cs, err := d.DB.Contacts(ctx, []string{first.Username})
	if err != nil {
		return nil, err
	}
	c, ok := cs[first.Username]
	gone := u == nil || u.Disabled || !ok ||
		(first.Channel == baocun.ChannelEmail && (!c.EmailEnabled || c.Email != first.Target)) ||
		(first.Channel == baocun.ChannelWebhook && (!c.WebhookEnabled || c.WebhookURL != first.Target))
	var drop []int64
	var out []baocun.Delivery
	for _, del := range ds {
		if gone || c.Mutes(del.Kind) {
			drop = append(drop, del.ID)
			continue
		}
		out = append(out, del)
	}
	if len(drop) > 0 {
		if err := d.DB.DeliveriesFailed(ctx, drop, "联系方式或偏好已更改，不再发送 the contact or its preferences changed: not sent", d.Now(), true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// backoff is the wait after the attempts-th failure: Backoff doubled each time up to
// MaxBackoff, its second half random (so deliveries failing together spread out).
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.MaxBackoff
	if attempts < 40 {
		if v := d.Backoff << (attempts - 1); v > 0 && v < b {
			b = v
		}
	}
	return b/2 + rand.N(b/2+1)
}

// send sends one message of ds by their channel.
func (d *Dispatcher) send(ctx context.Context, ds []baocun.Delivery) error {
	first := ds[0]
	switch first.Channel {
	case baocun.ChannelEmail:
		if d.SMTP == nil {
			return errors.New("没有配置邮件服务器 no SMTP server is configured (--smtp-addr)")
		}
		var subject, body string
		if len(ds) == 1 && !first.Digest {
			subject, body = first.Title, d.text(first)
		} else {
			subject, body = d.digestText(ds)
		}
		return d.SMTP.Send(ctx, first.Target, "[部门包村 Baocun] "+subject, body+"\n\n"+d.footer(), d.Now())
	case baocun.ChannelWebhook:
		return d.postWebhook(ctx, first.Target, first.Format, ds)
	}
	return permanent{fmt.Errorf("unknown channel %q", first.Channel)}
}
