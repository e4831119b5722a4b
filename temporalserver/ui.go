package temporalserver

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/temporalio/ui-server/v2/server/api"
	"github.com/temporalio/ui-server/v2/server/auth"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/cors"
	"github.com/temporalio/ui-server/v2/server/csrf"
	"github.com/temporalio/ui-server/v2/server/headers"
	"github.com/temporalio/ui-server/v2/server/route"
	"github.com/temporalio/ui-server/v2/ui"
)

// The Temporal Web UI (github.com/temporalio/ui-server/v2, the version the Temporal
// CLI v1.5.1 embeds) lets operators inspect the embedded server's workflows with the
// tool Temporal users know. It has no sign-in of Baocun's, so it listens on loopback
// only, and it reads and changes nothing twice over: the UI's own write actions are
// disabled, and it presents the Operator certificate, which the frontend lets read
// and change nothing (authz.go).

// UIConfig says which frontend the UI reads, and with what.
type UIConfig struct {
	// Frontend is the embedded frontend's host:port.
	Frontend string
	// Namespace is the one the UI opens on.
	Namespace string
	// TLS is the embedded server's certificate set: the UI trusts its authority and
	// presents its Operator certificate.
	TLS *Certificates
}

// CheckUIAddress refuses an address that is not host:port on loopback (127.0.0.0/8,
// ::1 or localhost; port 0 picks a free one).
func CheckUIAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port on loopback, such as 127.0.0.1:8233 (%v)", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	if !loopbackHost(host) {
		return fmt.Errorf("%q is not a loopback address: the Temporal UI has no sign-in of its own, so it listens on 127.0.0.1, ::1 or localhost only (reach it from another machine through an SSH tunnel)", host)
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// NewUI is the Temporal Web UI reading the embedded frontend, as an http.Handler for
// a listener of the caller's.
//
// It assembles what ui-server's own server.NewServer does (the same middleware, in
// the same order, and the same routes) rather than calling it: that server binds its
// port itself and exits the whole process when it cannot (Start calls Fatal), stops
// only abruptly, and drops the error of its API routes. The caller serves this one on
// a listener claimed at start and shuts it down with the service. It also answers
// only requests addressed to loopback by name (the Host header), so a web page
// cannot reach it by pointing a name of its own at 127.0.0.1 (DNS rebinding).
func NewUI(c UIConfig) (http.Handler, error) {
	cert, key := c.TLS.ClientFiles(Operator)
	// Loaded here first: ui-server exits the process (log.Fatalf) on a CA or key pair
	// it cannot load, and a bad one should fail the start with the file's name.
	if _, err := ClientTLS(c.TLS.CA(), cert, key, ServerName); err != nil {
		return nil, err
	}
	read := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", tlsErr(path, err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	// The files' contents, not their names: read once at start. Given as files,
	// ui-server re-reads the key at every handshake and logs each time.
	var tls uiconfig.TLS
	var err error
	if tls.CaData, err = read(c.TLS.CA()); err != nil {
		return nil, err
	}
	if tls.CertData, err = read(cert); err != nil {
		return nil, err
	}
	if tls.KeyData, err = read(key); err != nil {
		return nil, err
	}
	tls.ServerName, tls.EnableHostVerification = ServerName, true // else ui-server skips verifying the server

	cfg := &uiconfig.Config{
		TemporalGRPCAddress: c.Frontend,
		TLS:                 tls,
		EnableUI:            true,
		DefaultNamespace:    c.Namespace,
		DisableWriteActions: true,
		// Each of these is implied by DisableWriteActions; said too so that every
		// button of the UI says so.
		WorkflowTerminateDisabled: true,
		WorkflowCancelDisabled:    true,
		WorkflowSignalDisabled:    true,
		WorkflowUpdateDisabled:    true,
		WorkflowResetDisabled:     true,
		BatchActionsDisabled:      true,
		StartWorkflowDisabled:     true,
		ActivityCommandsDisabled:  true,
		// Served over plain HTTP on loopback: a Secure CSRF cookie would not be
		// sent back (the Temporal CLI's development server sets the same).
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	provider, err := uiconfig.NewConfigProviderWithRefresh(cfg) // no RefreshInterval: no goroutine
	if err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}

	// As server.NewServer of ui-server v2.42.1, with its logs hidden and no public
	// path (whose rewrite is then the identity) or sign-in routes (auth is off).
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(middleware.Gzip())
	e.Use(cors.CORSMiddleware(cors.CORSConfig{
		AllowHeaders: []string{
			echo.HeaderOrigin, echo.HeaderContentType, echo.HeaderAccept,
			echo.HeaderXCSRFToken, echo.HeaderAuthorization, auth.AuthorizationExtrasHeader,
			"Caller-Type",
		},
		AllowCredentials: true,
		ConfigProvider:   provider,
	}))
	e.Use(middleware.Secure())
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{
		CookiePath:     "/",
		CookieHTTPOnly: false,
		CookieSameSite: http.SameSiteStrictMode,
		CookieSecure:   !cfg.CORS.CookieInsecure,
		Skipper:        csrf.SkipOnAuthorizationHeader,
	}))
	route.SetHealthRoute(e)
	forward := []api.Middleware{headers.WithForwardHeaders([]string{auth.AuthorizationExtrasHeader, "Caller-Type"})}
	if err := route.SetAPIRoutes(e, provider, forward); err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	assets, err := ui.Assets()
	if err == nil {
		assets, err = fs.Sub(assets, "local")
	}
	if err != nil {
		return nil, fmt.Errorf("temporal ui: assets: %w", err)
	}
	if err := route.SetUIRoutes(e, "", assets); err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	route.SetRenderRoute(e, "")
	return loopbackOnly(e), nil
}

// loopbackOnly answers 403 to a request whose Host is not a loopback address or
// localhost.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !loopbackHost(strings.Trim(host, "[]")) {
			http.Error(w, "the Temporal UI answers requests to 127.0.0.1, [::1] or localhost only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
