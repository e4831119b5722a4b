package web

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// ctxHTTPS says the request reached the service over HTTPS.
const ctxHTTPS = "baocun.https"

// frontDoor marks each request HTTPS or not and sets the headers every answer
// carries: nothing the service sends is sniffed as another type, framed, or told
// where it was linked from; with hsts set, a browser that came over HTTPS keeps to
// it. Pages set their own Content-Security-Policy (setPageHeaders); everything else
// is data, which needs none of a page's powers.
//
// A request carrying X-Forwarded-For from a peer that is not a trusted proxy is
// counted (forwarded) and, the first time, logged: behind a reverse proxy the
// operator has not named in --trusted-proxies, every client is the proxy's one
// network to the sign-in limits, so a city's officials share one network's budget
// and one guesser's lock.
func frontDoor(trusted []netip.Prefix, hsts time.Duration, logger *slog.Logger, forwarded prometheus.Counter) gin.HandlerFunc {
	hstsValue := "max-age=" + strconv.FormatInt(int64(hsts/time.Second), 10)
	var warn sync.Once
	return func(c *gin.Context) {
		if c.Request.Header.Get("X-Forwarded-For") != "" && !trustedPeer(c.Request, trusted) {
			forwarded.Inc()
			warn.Do(func() {
				logger.Warn("X-Forwarded-For from a peer not in --trusted-proxies: every client behind it counts as that one address for the sign-in limits; name the proxy in --trusted-proxies",
					"peer", c.Request.RemoteAddr)
			})
		}
		https := isHTTPS(c.Request, trusted)
		c.Set(ctxHTTPS, https)
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if https && hsts > 0 {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		c.Next()
	}
}

// isHTTPS reports whether r came over TLS: to this server directly, or to a proxy
// the operator trusts (--trusted-proxies) that says so in X-Forwarded-Proto. Anyone
// else's X-Forwarded-Proto is theirs to invent.
func isHTTPS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	// A proxy appends its value, to the line the client sent or as a line of its
	// own: either way the last value is the trusted proxy's, and any before it may be
	// the client's invention.
	lines := r.Header.Values("X-Forwarded-Proto")
	if len(lines) == 0 {
		return false
	}
	if !trustedPeer(r, trusted) {
		return false
	}
	protos := strings.Split(lines[len(lines)-1], ",")
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}

// secure reports whether the request came over HTTPS, for the session cookie's
// Secure flag.
func secure(c *gin.Context) bool { return c.GetBool(ctxHTTPS) }

// parseProxies reads --trusted-proxies' addresses and CIDRs (validated by serve).
func parseProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

// localPath is where a redirect taken from input (the sign-in page's next) may
// go: a path of this site, or "/" when it is anything else. A browser reads "//host",
// "/\host" and "https:host" as other sites, and drops tabs and line breaks from a URL
// before reading it ("/\t/host" is "//host"), so a target with a scheme, a host, a
// backslash, a control character or a space anywhere is refused whole.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for _, r := range next {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}

// trustedPeer reports whether r came straight from a proxy the operator trusts.
func trustedPeer(r *http.Request, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	peer := ap.Addr().Unmap()
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(peer) })
}
