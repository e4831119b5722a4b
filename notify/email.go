package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP is the mail server emails are handed to. STARTTLS is required unless
// Insecure: the server's certificate is verified (against TLS.RootCAs when set, else
// the system's) before anything, a password included, is sent. Insecure sends in
// clear, for a relay on the same host or network the operator trusts.
type SMTP struct {
	Addr     string // host:port
	From     string // the From address, with a name or not: 包村系统 <noreply@example.gov.cn>
	Username string // AUTH PLAIN when set (over TLS only, unless Insecure to loopback)
	Password string
	Insecure bool
	// TLS configures STARTTLS (RootCAs for a private authority); ServerName is the
	// host of Addr when empty.
	TLS *tls.Config
	// LocalName is the name given in EHLO (the host's name when empty).
	LocalName string
}

// Check validates the configuration, saying what is wrong.
func (s *SMTP) Check() error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil || host == "" {
		return fmt.Errorf("smtp address %q: want host:port", s.Addr)
	}
	if _, err := mail.ParseAddress(s.From); err != nil || strings.ContainsAny(s.From, "\r\n") {
		return fmt.Errorf("smtp from %q: not an email address", s.From)
	}
	if s.Username != "" && s.Insecure && !loopback(host) {
		return fmt.Errorf("smtp: a password is never sent in clear to %s (not loopback): drop the insecure flag or the username", s.Addr)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// header strips what would end a header line: no value a user or an event gave
// can add a header (Bcc:) or a body.
func header(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}

// message builds an RFC 5322 message: UTF-8 text, base64, the subject as encoded
// words.
func (s *SMTP) message(to, subject, body string, now time.Time) ([]byte, string, error) {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return nil, "", err
	}
	id := make([]byte, 12)
	rand.Read(id)
	domain := "baocun"
	if _, d, ok := strings.Cut(from.Address, "@"); ok {
		domain = d
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, header(v)) }
	h("From", from.String())
	h("To", (&mail.Address{Address: to}).String())
	// Encoded words of at most 75 characters, one a line (RFC 2047).
	h("Subject", strings.ReplaceAll(mime.QEncoding.Encode("UTF-8", header(subject)), "?= =?", "?=\r\n =?"))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "base64")
	h("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes(), from.Address, nil
}

// Send hands one message to the server: it is sent once the server accepted its
// data. ctx bounds the whole exchange.
func (s *SMTP) Send(ctx context.Context, to, subject, body string, now time.Time) error {
	if strings.ContainsAny(to, "\r\n<>") {
		return permanent{errors.New("bad recipient address")}
	}
	msg, from, err := s.message(to, subject, body, now)
	if err != nil {
		return permanent{err}
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	// The client sets deadlines of its own on each command: ctx's end closes the
	// connection, whatever it is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	if s.Insecure {
		c = smtp.NewClient(conn)
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.TLS != nil {
			cfg = s.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			conn.Close()
			return fmt.Errorf("STARTTLS (required; --smtp-insecure for a local relay in clear): %w", err)
		}
	}
	defer c.Close()
	local := s.LocalName
	if local == "" {
		local, _ = os.Hostname()
	}
	if local != "" {
		if err := c.Hello(local); err != nil {
			return fmt.Errorf("EHLO: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	c.Quit() // the server took the message: a failed QUIT changes nothing
	return nil
}
