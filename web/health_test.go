package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"baocun/web"
)

func newServer(checks ...web.Check) http.Handler {
	return web.NewServer(web.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Checks:   checks,
		Registry: prometheus.NewRegistry(),
	})
}

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result(), rec.Body.String()
}

func TestReadyz(t *testing.T) {
	ok := web.Check{Name: "database", Func: func(context.Context) error { return nil }}
	down := web.Check{Name: "temporal", Func: func(context.Context) error { return errors.New("connection refused") }}
	tests := []struct {
		name   string
		checks []web.Check
		status int
		ready  bool
	}{
		{"all pass", []web.Check{ok}, 200, true},
		{"one fails", []web.Check{ok, down}, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, newServer(tt.checks...), "/readyz")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var got struct {
				Ready  bool `json:"ready"`
				Checks map[string]struct {
					OK    bool   `json:"ok"`
					Error string `json:"error"`
				} `json:"checks"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Ready != tt.ready || len(got.Checks) != len(tt.checks) {
				t.Fatalf("body %s", body)
			}
			if c, found := got.Checks["temporal"]; found && (c.OK || c.Error != "connection refused") {
				t.Fatalf("failing check reported as %+v", c)
			}
		})
	}
}

func TestHealthzMetricsAndUnknownPath(t *testing.T) {
	h := newServer()
	if resp, body := get(t, h, "/healthz"); resp.StatusCode != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/healthz: %d %s", resp.StatusCode, body)
	}
	resp, body := get(t, h, "/no/such/path")
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, body)
	}
	_, body = get(t, h, "/metrics")
	for _, want := range []string{
		`baocun_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`baocun_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Behind a proxy nobody named in --trusted-proxies every client is the proxy's one
// address to the sign-in limits: a request with X-Forwarded-For from such a peer is
// counted and logged once, so the operator learns of it; one from a trusted proxy,
// or without the header, is not counted.
func TestUntrustedForwardedIsReported(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	h := web.NewServer(web.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registry: reg, TrustedProxies: []string{"10.0.0.1"}})
	send := func(peer, forwarded string) {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.RemoteAddr = peer + ":4000"
		if forwarded != "" {
			r.Header.Set("X-Forwarded-For", forwarded)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	send("192.0.2.1", "198.51.100.1")
	send("192.0.2.1", "198.51.100.2")
	send("10.0.0.1", "198.51.100.3") // the trusted proxy
	send("192.0.2.1", "")
	_, body := get(t, h, "/metrics")
	if !strings.Contains(body, "baocun_http_untrusted_forwarded_total 2") {
		t.Errorf("/metrics after two forwarded requests from an untrusted peer:\n%s", grepLines(body, "untrusted"))
	}
	if n := strings.Count(logs.String(), "not in --trusted-proxies"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
