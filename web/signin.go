package web

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"baocun"
)

// Sign-in has three layers of limits (docs/DESIGN.md "Sign-in under flood"):
//
//  1. here, in each instance's memory, a flood from one address is shed before it
//     costs a database write, an audit entry or a password slot (not audited; the
//     429s are counted in baocun_http_requests_total);
//  2. in the database, shared by every instance: the address and account throttles
//     and the per-(name, address) lock (sqldb.Login);
//  3. the password slots, which bound how many argon2 hashes run at once
//     (baocun.PasswordSlots).
//
// The gate's rate is well above what one address needs (an office behind one NAT
// signing in at nine) and above what the slots can serve, so only a flood meets it.
const (
	gateRate         = rate.Limit(20) // sign-ins a second from one address, on one instance
	gateBurst        = 40
	gateMaxAddresses = 10_000
)

// signinGate holds one token bucket (golang.org/x/time/rate) per source address.
type signinGate struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newSigninGate() *signinGate {
	return &signinGate{limiters: map[string]*rate.Limiter{}}
}

// admit reports how long the address must wait, 0 when it may go on now.
func (g *signinGate) admit(addr string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.limiters[addr]
	if l == nil {
		if len(g.limiters) >= gateMaxAddresses {
			g.forget(now)
		}
		l = rate.NewLimiter(gateRate, gateBurst)
		g.limiters[addr] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// forget drops the addresses whose bucket is full again (they lose nothing); when a
// flood from many addresses leaves none full, it drops them all — memory stays
// bounded, and the database's throttles still hold.
func (g *signinGate) forget(now time.Time) {
	for a, l := range g.limiters {
		if l.TokensAt(now) >= gateBurst {
			delete(g.limiters, a)
		}
	}
	if len(g.limiters) >= gateMaxAddresses {
		clear(g.limiters)
	}
}

// shed is the Reason of an attempt the gate refused: never counted, nor audited.
const shed = "shed: flood from one address"

// signIn runs one sign-in attempt for username through every limit. The address is
// the one the audit trail records (X-Forwarded-For only from trusted proxies).
func signIn(c *gin.Context, d Deps, username, password string) (baocun.LoginResult, error) {
	now := time.Now()
	src := c.ClientIP()
	if wait := d.signins.admit(src, now); wait > 0 {
		return baocun.LoginResult{Reason: shed}, &baocun.Error{Code: baocun.ETOOMANY, RetryAfter: wait, Op: "sign-in gate",
			Message: "来自该地址的登录请求过多，请稍后再试 Too many sign-ins from this address; try again in a moment."}
	}
	return d.Store.Login(c.Request.Context(), baocun.LoginAttempt{Username: username, Password: password, Source: src, Now: now})
}
