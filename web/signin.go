package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"baocun"
)

// Sign-in has three layers of limits (docs/DESIGN.md "Sign-in under flood"), and
// every one counts a client by its baocun.ClientNetwork (an IPv4 address, an IPv6
// /64):
//
//  1. here, in each instance's memory, a flood from one network is shed before it
//     costs a database write or a password slot, and a network has at most a few
//     sign-ins in flight at once, so it can never fill the slots' queue by itself;
//  2. in the database, shared by every instance: the throttles of failures and of
//     successes per network and per account, and the per-(name, network) lock
//     (sqldb.Login);
//  3. the password slots, which bound how many argon2 hashes run at once
//     (baocun.PasswordSlots).
//
// The gate's rate is well above what one address needs (an office behind one NAT
// signing in at nine), so only a flood meets it. The cap on sign-ins in flight is
// what keeps one client from starving the rest: without it, a client sending a
// dozen at once held the queue, and everyone else heard 429.
const (
	gateRate         = rate.Limit(20) // sign-ins a second from one network, on one instance
	gateBurst        = 40
	gateMaxAddresses = 10_000
)

// gateInFlight is how many sign-ins one network may have checked at once on this
// instance: half the password slots' queue (4 on 2 cores), so one network never
// holds all of it and everyone else's sign-ins still queue, while a client signing
// a few accounts in side by side (the demo signs in three at once) is not refused.
var gateInFlight = func() int { _, queue := baocun.PasswordSlots(); return max(2, queue/2) }()

// perNetwork holds one token bucket (golang.org/x/time/rate) per client network,
// with how many of its requests are in flight and how many it has had refused since
// it was last admitted. The sign-in gate and the audit of anonymous denials each
// keep one.
type perNetwork struct {
	rate     rate.Limit
	burst    int
	inFlight int // at most this many admitted at once; 0: no cap

	mu       sync.Mutex
	networks map[string]*network
}

type network struct {
	*rate.Limiter
	inFlight int
	refused  int
}

func newPerNetwork(r rate.Limit, burst, inFlight int) *perNetwork {
	return &perNetwork{rate: r, burst: burst, inFlight: inFlight, networks: map[string]*network{}}
}

// admit reports how long the network must wait (0 when it may go on now) and, when
// it may, how many of its requests were refused since the last one admitted, and
// the release to call once the admitted request is done.
func (g *perNetwork) admit(key string, now time.Time) (wait time.Duration, refused int, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.networks[key]
	if n == nil {
		if len(g.networks) >= gateMaxAddresses {
			g.forget(now)
		}
		n = &network{Limiter: rate.NewLimiter(g.rate, g.burst)}
		g.networks[key] = n
	}
	if g.inFlight > 0 && n.inFlight >= g.inFlight {
		n.refused++
		return time.Second, 0, nil
	}
	r := n.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		n.refused++
		return d, 0, nil
	}
	refused, n.refused = n.refused, 0
	n.inFlight++
	return 0, refused, func() {
		g.mu.Lock()
		n.inFlight--
		g.mu.Unlock()
	}
}

// forget drops the networks whose bucket is full again and that have nothing in
// flight (they lose nothing); when a flood from many networks leaves none, it drops
// them all — memory stays bounded, and the database's throttles still hold.
func (g *perNetwork) forget(now time.Time) {
	for a, n := range g.networks {
		if n.TokensAt(now) >= float64(g.burst) && n.inFlight == 0 {
			delete(g.networks, a)
		}
	}
	if len(g.networks) >= gateMaxAddresses {
		clear(g.networks)
	}
}

// shed is the Reason of an attempt the gate refused.
const shed = "shed: flood from one address"

// signIn runs one sign-in attempt for username through every limit. The address is
// the one the audit trail records (X-Forwarded-For only from trusted proxies).
func signIn(c *gin.Context, d Deps, username, password string) (baocun.LoginResult, error) {
	now := time.Now()
	src := c.ClientIP()
	wait, _, release := d.signins.admit(baocun.ClientNetwork(src), now)
	if wait > 0 {
		return baocun.LoginResult{Reason: shed}, &baocun.Error{Code: baocun.ETOOMANY, RetryAfter: wait, Op: "sign-in gate",
			Message: "来自该地址的登录请求过多，请稍后再试 Too many sign-ins from this address; try again in a moment."}
	}
	defer release()
	device, _ := c.Cookie(DeviceCookie)
	return d.Store.Login(c.Request.Context(), baocun.LoginAttempt{Username: username, Password: password, Source: src, Device: device, Now: now})
}

// DeviceCookie holds the known-device credential a successful sign-in gives the
// client (sqldb.Login): from then on, on any network, the account's throttle of
// unfamiliar clients does not refuse it, so an attacker guessing from many networks
// cannot keep the owner's own phone or laptop out. HttpOnly and SameSite=Strict,
// and sent only to the sign-in routes; Secure as the session's is. A new password
// forgets it.
const DeviceCookie = "baocun_device"

func setDeviceCookie(c *gin.Context, cred string) {
	if cred == "" {
		return
	}
	c.SetSameSite(http.SameSiteStrictMode)
	c.SetCookie(DeviceCookie, cred, int(baocun.KnownDeviceFor.Seconds()), "/api/v1/auth/", "", secure(c), true)
}

// Anonymous denials (no credential, or a bad one) are audited a sample per network:
// 20, then one every 10 s. A refusal before any password was checked (a sign-in the
// gate shed, a throttle or busy slots refused) is sampled the same way: none of them
// costs the sender anything, and each would otherwise be an entry. What is left out
// is counted in baocun_audit_unaudited_total, and the next entry from that network
// says how many it left out (unaudited_before).
const (
	anonAuditRate  = rate.Limit(0.1)
	anonAuditBurst = 20
)

// sampled reports whether the refusal of c may be audited now; when it may, e's
// summary gains the number of refusals from its network that were not.
func (d Deps) sampled(c *gin.Context, e *baocun.AuditEntry) bool {
	wait, refused, release := d.anonymous.admit(baocun.ClientNetwork(c.ClientIP()), time.Now())
	if wait > 0 {
		d.unaudited.Inc()
		return false
	}
	release()
	if refused > 0 {
		e.Summary = withField(e.Summary, "unaudited_before", refused)
	}
	return true
}
