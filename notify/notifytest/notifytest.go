// Package notifytest runs what notifications are sent to, for tests: a real SMTP
// server (emersion/go-smtp) with STARTTLS and AUTH PLAIN that records every message
// it accepts, and a local webhook receiver.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"baocun"
)

// The credentials the mail server takes.
const (
	User     = "baocun"
	Password = "smtp-secret"
)

// MailServer is an SMTP server on loopback. With TLS it offers STARTTLS with a
// certificate of its own authority (Roots trusts it; CAPEM is it as PEM) and
// requires AUTH PLAIN before MAIL.
type MailServer struct {
	Addr  string
	Roots *x509.CertPool
	CAPEM []byte

	srv    *smtp.Server
	mu     sync.Mutex
	msgs   []Message
	refuse bool
}

// Message is one message the server accepted.
type Message struct {
	From string   // the envelope's
	To   []string // the envelope's
	Msg  *mail.Message
	Body string // decoded from base64
	TLS  bool   // it came over STARTTLS
}

// Subject is the message's subject, decoded.
func (m Message) Subject() string {
	s, _ := new(mime.WordDecoder).DecodeHeader(m.Msg.Header.Get("Subject"))
	return s
}

// StartMail starts a mail server, closed when the test ends.
func StartMail(t testing.TB, withTLS bool) *MailServer {
	t.Helper()
	m := &MailServer{}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{m: m, c: c}, nil }))
	m.srv.Domain = "localhost"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		m.srv.TLSConfig, m.Roots, m.CAPEM = serverTLS(t)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Addr = l.Addr().String()
	go m.srv.Serve(l)
	t.Cleanup(func() { m.srv.Close() })
	return m
}

// Refuse makes the server answer every MAIL with 451 (a temporary failure), or
// take mail again.
func (m *MailServer) Refuse(refuse bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refuse = refuse
}

// Received are the messages accepted so far.
func (m *MailServer) Received() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// serverTLS makes a certificate for 127.0.0.1 signed by itself, and the pool that
// trusts it.
func serverTLS(t testing.TB) (*tls.Config, *x509.CertPool, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type session struct {
	m    *MailServer
	c    *smtp.Conn
	auth bool
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != User || pass != Password {
			return errors.New("bad credentials")
		}
		s.auth = true
		return nil
	}), nil
}
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth && s.m.srv.TLSConfig != nil {
		return smtp.ErrAuthRequired
	}
	s.m.mu.Lock()
	refuse := s.m.refuse
	s.m.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, msg.Body))
	_, isTLS := s.c.TLSConnectionState()
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.msgs = append(s.m.msgs, Message{From: s.from, To: s.to, Msg: msg, Body: string(body), TLS: isTLS})
	return nil
}
func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// Hooks is a webhook receiver: it records the JSON posted to each path, answering a
// robot's {"errcode":0} (204 on /json), or 500 to the first posts while failing.
type Hooks struct {
	URL  string
	srv  *httptest.Server
	mu   sync.Mutex
	got  map[string][]map[string]any
	fail int
	hits int
	// throttle answers the next robot posts with the robot's rate-limit errcode.
	throttle int
}

// StartHooks starts a receiver, closed when the test ends.
func StartHooks(t testing.TB) *Hooks {
	h := &Hooks{got: map[string][]map[string]any{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.hits++
		if h.fail != 0 {
			if h.fail > 0 {
				h.fail--
			}
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil || r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if h.throttle > 0 && r.URL.Path != "/json" {
			h.throttle--
			code := map[bool]int{true: 130101, false: 45009}[r.URL.Path == "/"+baocun.WebhookDingTalk]
			fmt.Fprintf(w, `{"errcode":%d,"errmsg":"send too fast"}`, code)
			return
		}
		h.got[r.URL.Path] = append(h.got[r.URL.Path], v)
		if r.URL.Path == "/json" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	}))
	h.URL = h.srv.URL
	t.Cleanup(h.srv.Close)
	return h
}

// Fail makes the next n posts fail with 500 (n < 0: every one until Fail(0)).
func (h *Hooks) Fail(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = n
}

// Throttle makes the next n robot posts answer the robots' rate-limit errcode
// (DingTalk's 130101, WeCom's 45009).
func (h *Hooks) Throttle(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.throttle = n
}

// Hits counts the requests received, failed or not.
func (h *Hooks) Hits() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

// Posts are the bodies received at path.
func (h *Hooks) Posts(path string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.got[path]...)
}

// Host is the receiver as an entry of the webhook hosts list: http://127.0.0.1:PORT.
func (h *Hooks) Host() string { return h.URL }

// Allow is the policy that lets webhooks reach the receiver.
func (h *Hooks) Allow() baocun.WebhookPolicy { return baocun.WebhookPolicy{Hosts: []string{h.Host()}} }
