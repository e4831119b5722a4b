package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"baocun"
	"baocun/notify"
)

// EnvSMTPPassword names the variable that holds the SMTP password: never a flag,
// which anyone on the host could read in the process list.
const EnvSMTPPassword = "BAOCUN_SMTP_PASSWORD"

// notifyConfig is serve's notification settings (issue 19).
type notifyConfig struct {
	SMTPAddr       string
	SMTPFrom       string
	SMTPUsername   string
	SMTPInsecure   bool
	SMTPCA         string
	WebhookHosts   string
	NotifyInterval time.Duration
	NotifyBackoff  time.Duration
	PublicURL      string
	smtpPassword   string // from EnvSMTPPassword
}

func notifyFlags(fs *flag.FlagSet, c *notifyConfig) {
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "通知邮件 host:port of the mail server notifications are sent through (STARTTLS required); empty sends no email (the bell and webhooks work without it)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "the From address of notification emails, e.g. '包村系统 <noreply@example.gov.cn>' (required with --smtp-addr)")
	fs.StringVar(&c.SMTPUsername, "smtp-username", "", "SMTP AUTH PLAIN username; the password is read from "+EnvSMTPPassword+", never a flag")
	fs.BoolVar(&c.SMTPInsecure, "smtp-insecure", false, "send email in clear, without STARTTLS, for a relay on this host or a network you trust (a password only to loopback)")
	fs.StringVar(&c.SMTPCA, "smtp-ca", "", "PEM file of the authority that signed the mail server's certificate (default: the system's)")
	fs.StringVar(&c.WebhookHosts, "webhook-hosts", strings.Join(baocun.DefaultWebhookHosts, ","), "comma-separated hosts webhooks may reach, over https (host or host:port); http://host:port for a receiver in clear on purpose. Anything else is refused, at PUT and at send")
	fs.DurationVar(&c.NotifyInterval, "notify-interval", 2*time.Second, "how often the notification dispatcher looks for new work when idle")
	fs.DurationVar(&c.NotifyBackoff, "notify-backoff", 30*time.Second, "wait before a failed email or webhook is retried, doubling each failure up to an hour (10 attempts, then given up)")
	fs.StringVar(&c.PublicURL, "public-url", "", "the service's address as people reach it (https://baocun.example.gov.cn/), for links in emails and webhooks; empty leaves links out")
}

// webhookHosts splits --webhook-hosts.
func (c *notifyConfig) webhookHosts() []string {
	var out []string
	for _, h := range strings.Split(c.WebhookHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

func (c *notifyConfig) webhookPolicy() baocun.WebhookPolicy {
	return baocun.WebhookPolicy{Hosts: c.webhookHosts()}
}

func (c *notifyConfig) validate() error {
	if err := baocun.ValidateWebhookHosts(c.webhookHosts()); err != nil {
		return &usageError{"serve: --webhook-hosts: " + err.Error()}
	}
	if c.NotifyInterval < 10*time.Millisecond || c.NotifyInterval > time.Hour {
		return &usageError{fmt.Sprintf("serve: --notify-interval %s: want 10ms to 1h", c.NotifyInterval)}
	}
	if c.NotifyBackoff < 10*time.Millisecond || c.NotifyBackoff > time.Hour {
		return &usageError{fmt.Sprintf("serve: --notify-backoff %s: want 10ms to 1h", c.NotifyBackoff)}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			return &usageError{fmt.Sprintf("serve: --public-url %q: want http(s)://host[/path]", c.PublicURL)}
		}
	}
	if c.SMTPAddr == "" {
		if c.SMTPFrom != "" || c.SMTPUsername != "" || c.SMTPInsecure || c.SMTPCA != "" {
			return &usageError{"serve: --smtp-from, --smtp-username, --smtp-insecure and --smtp-ca need --smtp-addr"}
		}
		return nil
	}
	if c.SMTPFrom == "" {
		return &usageError{"serve: --smtp-addr needs --smtp-from"}
	}
	if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
		return &usageError{fmt.Sprintf("serve: --smtp-addr %q: want host:port (%v)", c.SMTPAddr, err)}
	}
	if c.SMTPInsecure && c.SMTPCA != "" {
		return &usageError{"serve: --smtp-ca is for STARTTLS: not with --smtp-insecure"}
	}
	if err := (&notify.SMTP{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername, Insecure: c.SMTPInsecure}).Check(); err != nil {
		return &usageError{"serve: " + err.Error()}
	}
	return nil
}

// smtp is the mail server, nil when there is none.
func (c *notifyConfig) smtp() (*notify.SMTP, error) {
	if c.SMTPAddr == "" {
		return nil, nil
	}
	s := &notify.SMTP{Addr: c.SMTPAddr, From: c.SMTPFrom, Username: c.SMTPUsername, Password: c.smtpPassword, Insecure: c.SMTPInsecure}
	if c.SMTPCA != "" {
		pem, err := os.ReadFile(c.SMTPCA)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--smtp-ca %s: no PEM certificate in it", c.SMTPCA)
		}
		s.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return s, nil
}

// startNotify runs the notification dispatcher until serve stops (every instance
// runs one: deliveries are claimed, so none is sent twice at once) and returns its
// stop, which lets an email or webhook under way finish.
func (d *deps) startNotify() (func(), error) {
	cfg := d.cfg.notifyConfig
	s, err := cfg.smtp()
	if err != nil {
		return nil, err
	}
	disp := &notify.Dispatcher{DB: d.db, SMTP: s, Webhooks: cfg.webhookPolicy(), Logger: d.log.With("component", "notify"),
		Registry: d.metrics.registry, BaseURL: cfg.PublicURL, Interval: cfg.NotifyInterval, Backoff: cfg.NotifyBackoff}
	if err := disp.Init(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		disp.Run(ctx)
	}()
	if s == nil {
		d.log.Info("notifications: in the app and by webhook; no email (--smtp-addr not set)")
	} else {
		d.log.Info("notifications: in the app, by webhook and by email", "smtp", cfg.SMTPAddr, "starttls", !cfg.SMTPInsecure)
	}
	return func() { cancel(); <-done }, nil
}
