// Package web is Baocun's HTTP face, built on Gin: the JSON API under /api/v1, the
// health and metrics endpoints, and the web UI (ui.go) over the same API. NewServer builds the whole
// handler from its dependencies; every route is listed in routes.go.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"baocun"
	"baocun/blob"
)

// Check reports whether one dependency is ready; its error says why not.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Deps is everything the HTTP layer needs.
type Deps struct {
	Logger *slog.Logger
	// Checks are the parts /readyz reports, each with its own status.
	Checks []Check
	// Registry collects the metrics served at /metrics; NewServer adds the HTTP ones.
	Registry *prometheus.Registry

	// TrustedProxies are the addresses (or CIDRs) whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; none by default.
	TrustedProxies []string
	// HSTS is the max-age of the Strict-Transport-Security header sent on HTTPS
	// requests; zero sends none.
	HSTS time.Duration
	// MetricsElsewhere leaves /metrics off this handler: serve puts it on a
	// listener of its own (MetricsHandler).
	MetricsElsewhere bool

	Store      Store
	Authorizer baocun.Authorizer
	Audit      AuditLog
	// Engine runs the programme: cycles start there, and human steps are taken there.
	Engine baocun.Engine
	// Files keeps evidence files' contents; MaxFileSize bounds one (baocun.MaxFileSize
	// when zero), FilesQuota all of one pairing's (baocun.FilesQuota when zero).
	Files       blob.Store
	MaxFileSize int64
	FilesQuota  int64
	// PublicPublicity serves /publicity/:cycle, the published results and
	// commendation list, to anyone (serve --public-publicity); off by default.
	PublicPublicity bool
	// Webhooks is where a contact's webhook may point (serve --webhook-hosts): the
	// robots' hosts by default.
	Webhooks baocun.WebhookPolicy

	// NewServer's own: the sign-in gate, the sample of anonymous denials audited,
	// and the count of those left out.
	signins, anonymous *perNetwork
	unaudited          prometheus.Counter
}

func (d Deps) filesQuota() int64 {
	if d.FilesQuota > 0 {
		return d.FilesQuota
	}
	return baocun.FilesQuota
}

func (d Deps) maxFileSize() int64 {
	if d.MaxFileSize > 0 {
		return d.MaxFileSize
	}
	return baocun.MaxFileSize
}

// NewServer returns the handler for the whole service.
func NewServer(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	// The audit trail records c.ClientIP(): believe X-Forwarded-For only from the
	// proxies the operator names, never from any client.
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		panic(err) // validated by the caller; a test covers it
	}
	forwarded := prometheus.NewCounter(prometheus.CounterOpts{Name: "baocun_http_untrusted_forwarded_total",
		Help: "Requests carrying X-Forwarded-For from a peer not in --trusted-proxies (a proxy that should be named there?)."})
	d.Registry.MustRegister(forwarded)
	r.Use(recovery(d.Logger), frontDoor(parseProxies(d.TrustedProxies), d.HSTS, d.Logger, forwarded), requestLog(d.Logger), newHTTPMetrics(d.Registry).middleware())
	d.signins = newPerNetwork(gateRate, gateBurst, gateInFlight)
	d.anonymous = newPerNetwork(anonAuditRate, anonAuditBurst, 0)
	d.unaudited = prometheus.NewCounter(prometheus.CounterOpts{Name: "baocun_audit_unaudited_total",
		Help: "Refusals left out of the audit trail beyond a network's sample: anonymous denials, and sign-ins refused before any password check."})
	d.Registry.MustRegister(d.unaudited)
	routes(r, d)
	mountUI(r, d)
	return r
}

// MetricsHandler serves the registry's metrics (Prometheus' text format), on the
// main handler or on a listener of its own.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// recovery turns a panic into a 500 JSON error and a log line with the stack.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		log.Error("panic serving request", "path", c.Request.URL.Path, "panic", err)
		writeError(c, http.StatusInternalServerError, "internal", "内部错误 Internal error.")
	})
}

// requestLog logs one line a request at debug level, errors at warn.
func requestLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			level = slog.LevelWarn
		}
		log.Log(c, level, "http", "method", c.Request.Method, "route", c.FullPath(),
			"status", c.Writer.Status(), "duration", time.Since(start), "remote", c.ClientIP())
	}
}
