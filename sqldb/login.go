package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"baocun"
)

// Sign-in limits (docs/DESIGN.md "Sign-in under flood"). All of them live in the
// database, so every instance sharing it counts the same attempts.
//
//   - The lock counts failures per (name as typed, source address): after
//     freeLoginFailures each further failure locks that name for that address for
//     twice as long as the last, up to maxLockout. Another address is not locked,
//     so one address cannot keep the owner out.
//   - The address throttle: every failure from an address, whatever the name,
//     charges its bucket (addressBurst at once, then one per addressInterval).
//   - The account throttle: failures against a name charge its bucket (accountBurst,
//     then one per accountInterval) — except from an address the account has signed
//     in from within trustedFor, which only its own lock slows. An attempt the lock
//     refused charges no account bucket, so a locked address drains nothing.
//
// Unknown names are counted exactly like accounts, and a locked or disabled account
// checks the password like any other: the answers and their cost are the same.
const (
	freeLoginFailures = 3
	maxLockout        = 15 * time.Minute

	addressBurst    = 30
	addressInterval = 6 * time.Second
	accountBurst    = 10
	accountInterval = time.Minute
	trustedFor      = 30 * 24 * time.Hour

	// forgetAfter is how long a name's failures from an address are kept after the
	// last one (and its lock has passed).
	forgetAfter = 24 * time.Hour
	// pruneOneIn: one sign-in in this many also deletes what may be forgotten.
	pruneOneIn = 128
)

// lockout is how long the n-th failed attempt locks an account: nothing for the
// first freeLoginFailures, then 1 s, 2 s, 4 s … up to maxLockout.
func lockout(n int) time.Duration {
	k := n - freeLoginFailures - 1
	switch {
	case k < 0:
		return 0
	case k >= 10: // 2^10 s > maxLockout; and no shift can overflow
		return maxLockout
	}
	return min(time.Second<<k, maxLockout)
}

var errBadLogin = &baocun.Error{Code: baocun.EUNAUTHORIZED,
	Message: "用户名或密码错误，或尝试次数过多请稍后再试 Wrong username or password, or too many attempts: wait a while and try again."}

// dummyHash is checked for unknown usernames so they cost as much as known ones.
var dummyHash = func() string {
	h, _ := baocun.HashPassword("not-a-real-password-at-all")
	return h
}()

func addressKey(source string) string   { return "address:" + source }
func accountKey(username string) string { return "account:" + username }

func ms(t time.Time) int64 { return t.UnixMilli() }

// Login checks a sign-in. In order: the throttles (a 429 before any password work),
// the password — always against a hash: the account's, or dummyHash for an unknown
// name, whether locked, disabled or not — then the lock, counted atomically after
// the check so parallel guesses are each counted and none is let in while the lock
// holds. A right password from a locked address is refused like a wrong one.
// Busy password slots (ETOOMANY) count nothing.
func (db *DB) Login(ctx context.Context, a baocun.LoginAttempt) (baocun.LoginResult, error) {
	now := a.Now
	if rand.IntN(pruneOneIn) == 0 {
		if err := db.pruneLogins(ctx, now); err != nil {
			return baocun.LoginResult{}, err
		}
	}
	var lastSuccess int64
	err := db.QueryRowContext(ctx, "SELECT last_success FROM login_failures WHERE username = ? AND source = ?", a.Username, a.Source).Scan(&lastSuccess)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return baocun.LoginResult{}, err
	}
	trusted := lastSuccess > 0 && now.Sub(time.UnixMilli(lastSuccess)) < trustedFor
	if wait, err := db.bucketWait(ctx, addressKey(a.Source), addressBurst, addressInterval, now); err != nil || wait > 0 {
		return baocun.LoginResult{Reason: "throttled: address"}, throttled(wait, err)
	}
	if !trusted {
		if wait, err := db.bucketWait(ctx, accountKey(a.Username), accountBurst, accountInterval, now); err != nil || wait > 0 {
			return baocun.LoginResult{Reason: "throttled: account"}, throttled(wait, err)
		}
	}

	var id int64
	var hash string
	var disabled int
	err = db.QueryRowContext(ctx, "SELECT id, password_hash, disabled FROM users WHERE username = ?", a.Username).Scan(&id, &hash, &disabled)
	found := err == nil
	if errors.Is(err, sql.ErrNoRows) {
		hash = dummyHash
	} else if err != nil {
		return baocun.LoginResult{}, err
	}
	ok, err := baocun.CheckPassword(hash, a.Password)
	if err != nil {
		return baocun.LoginResult{Reason: "busy"}, err
	}

	if found && disabled == 0 && ok {
		var one int
		err := db.QueryRowContext(ctx, `INSERT INTO login_failures (username, source, last_success) VALUES (?, ?, ?)
			ON CONFLICT (username, source) DO UPDATE SET failures = 0, last_success = excluded.last_success
			WHERE login_failures.locked_until <= ? RETURNING 1`, a.Username, a.Source, ms(now), ms(now)).Scan(&one)
		if err == nil {
			u, err := db.User(ctx, a.Username)
			return baocun.LoginResult{User: u}, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return baocun.LoginResult{}, err
		}
		// Locked for this address: refused below like a wrong password.
	}

	res := baocun.LoginResult{Reason: "wrong username or password"}
	if found && disabled != 0 {
		res.Reason = "disabled"
	}
	var n int
	err = db.QueryRowContext(ctx, `INSERT INTO login_failures (username, source, failures, last_failure) VALUES (?, ?, 1, ?)
		ON CONFLICT (username, source) DO UPDATE SET failures = login_failures.failures + 1, last_failure = excluded.last_failure
		WHERE login_failures.locked_until <= ? RETURNING failures`, a.Username, a.Source, ms(now), ms(now)).Scan(&n)
	counted := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.LockedUntil, err = db.lockedUntil(ctx, a, now)
		res.Reason = "locked"
	case err == nil:
		if d := lockout(n); d > 0 {
			res.LockedUntil = now.Add(d)
			_, err = db.ExecContext(ctx, "UPDATE login_failures SET locked_until = ? WHERE username = ? AND source = ? AND locked_until < ?",
				ms(res.LockedUntil), a.Username, a.Source, ms(res.LockedUntil))
		}
	}
	if err != nil {
		return baocun.LoginResult{}, err
	}
	if err := db.chargeBucket(ctx, addressKey(a.Source), addressInterval, now); err != nil {
		return baocun.LoginResult{}, err
	}
	if counted && !trusted {
		if err := db.chargeBucket(ctx, accountKey(a.Username), accountInterval, now); err != nil {
			return baocun.LoginResult{}, err
		}
	}
	return res, errBadLogin
}

func (db *DB) lockedUntil(ctx context.Context, a baocun.LoginAttempt, now time.Time) (time.Time, error) {
	var until int64
	err := db.QueryRowContext(ctx, "SELECT locked_until FROM login_failures WHERE username = ? AND source = ?", a.Username, a.Source).Scan(&until)
	return time.UnixMilli(until).UTC(), err
}

// throttled is the 429 of a throttle (or the error reading it).
func throttled(wait time.Duration, err error) error {
	if err != nil {
		return err
	}
	return &baocun.Error{Code: baocun.ETOOMANY, RetryAfter: wait, Op: "sign-in throttle",
		Message: fmt.Sprintf("登录失败次数过多，请 %d 秒后再试 Too many failed sign-ins: try again in %d s.", seconds(wait), seconds(wait))}
}

func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// bucketWait is how long until the bucket under key admits a failure: 0 while fewer
// than burst intervals are charged ahead of now.
func (db *DB) bucketWait(ctx context.Context, key string, burst int, interval time.Duration, now time.Time) (time.Duration, error) {
	var tat int64
	err := db.QueryRowContext(ctx, "SELECT tat FROM login_buckets WHERE key = ?", key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	wait := time.UnixMilli(tat).Sub(now) - time.Duration(burst-1)*interval
	return max(wait, 0), nil
}

// chargeBucket charges one interval to the bucket under key, in one statement, so
// parallel failures on several instances each count. A charge made while the bucket
// was full runs into debt: a burst raced past the check is paid for afterwards.
func (db *DB) chargeBucket(ctx context.Context, key string, interval time.Duration, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO login_buckets (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = CASE WHEN login_buckets.tat > ? THEN login_buckets.tat ELSE ? END + ?`,
		key, ms(now)+interval.Milliseconds(), ms(now), ms(now), interval.Milliseconds())
	return err
}

// pruneLogins forgets full buckets and failures that no longer lock or throttle
// anything; an address an account signed in from is kept while it is trusted.
func (db *DB) pruneLogins(ctx context.Context, now time.Time) error {
	if _, err := db.ExecContext(ctx, "DELETE FROM login_buckets WHERE tat < ?", ms(now)); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, "DELETE FROM login_failures WHERE locked_until < ? AND last_failure < ? AND last_success < ?",
		ms(now), ms(now.Add(-forgetAfter)), ms(now.Add(-trustedFor)))
	return err
}
