package sqldb

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"baocun"
)

// Sign-in limits (docs/DESIGN.md "Sign-in under flood"). All of them live in the
// database, so every instance sharing it counts the same attempts, and all of them
// count a client by its baocun.ClientNetwork (an IPv4 address, an IPv6 /64).
//
//   - The lock counts failures per (name as typed, network): after
//     freeLoginFailures each further failure locks that name for that network for
//     twice as long as the last, up to maxLockout. Another network is not locked,
//     so one cannot keep the owner out. An attempt with a known-device credential
//     of the name is counted under a key of its own, network "#" deviceID (see
//     lockKey): a colleague behind the owner's NAT who sends a wrong password
//     whenever no lock holds keeps the network locked, not the owner's device.
//   - Failures per network, whatever the name (addressFailures) — except that a
//     known-device credential whose own lock does not hold is not refused by it:
//     whoever filled the network's bucket, the device is slowed by its own lock.
//     Its wrong passwords still charge the bucket like anyone's.
//   - Failures per name (accountFailures) — except from a familiar client: a
//     network the account signed in from within trustedFor, or a device holding a
//     known-device credential of the account's current password. Only its own lock
//     slows a familiar client. An attempt the lock refused charges no account
//     bucket, so a locked network drains nothing.
//   - Successes per network and per name (addressSuccesses, accountSuccesses): a
//     right password costs a hash like a wrong one, so an account holder signing in
//     in a loop would keep the password slots from everyone else.
//
// Every throttle is checked before the password. A refusal by addressFailures
// charges that bucket again (up to maxLockout of debt): polling it for the moment it
// admits one more guess is not free. A refusal by any other throttle charges
// nothing: the success throttles refuse right passwords (an account's script in a
// loop, an office's morning behind one NAT), and accountFailures is filled by
// whoever guesses the name from anywhere, so charging those refusals to the network
// would let one account, one busy morning or a remote attacker lock a whole office
// out, right passwords and known devices included.
//
// Unknown names are counted exactly like accounts, and a locked or disabled account
// checks the password like any other: the answers and their cost are the same.
const (
	freeLoginFailures = 3
	maxLockout        = 15 * time.Minute
	trustedFor        = 30 * 24 * time.Hour

	// forgetAfter is how long a name's failures from a network are kept after the
	// last one (and its lock has passed).
	forgetAfter = 24 * time.Hour
)

// bucket is one shared GCRA throttle: burst at once, then one per interval.
type bucket struct {
	name, prefix string
	burst        int
	interval     time.Duration
}

func (b bucket) key(s string) string { return b.prefix + s }

// The throttles' rates, against the password slots' capacity: one slot on this
// project's 2-core machines serves about 15 hashes a second. A person signs in a
// few times a day, an office behind one address perhaps a hundred times at nine.
//
//   - addressFailures: 30, then one every 6 s (0.17/s: ~1% of a slot).
//   - accountFailures: 10 from unfamiliar clients, then one a minute.
//   - addressSuccesses: 100 (an office's morning), then one a second (~7%).
//   - accountSuccesses: 10 (a person's phone, laptop and a script or two), then one
//     a minute (~0.1%): one account signing in in a loop is cut off after ten, and
//     the in-memory gate's cap on sign-ins in flight per address (web) keeps even
//     those ten from filling the slots' queue.
var (
	addressFailures  = bucket{"address", "address:", 30, 6 * time.Second}
	accountFailures  = bucket{"account", "account:", 10, time.Minute}
	addressSuccesses = bucket{"address successes", "address-ok:", 100, time.Second}
	accountSuccesses = bucket{"account successes", "account-ok:", 10, time.Minute}
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

func ms(t time.Time) int64 { return t.UnixMilli() }

// Login checks a sign-in. In order: the throttles (a 429 before any password work),
// the password — always against a hash: the account's, or dummyHash for an unknown
// name, whether locked, disabled or not — then the lock, counted atomically after
// the check so parallel guesses are each counted and none is let in while the lock
// holds. A right password from a locked network is refused like a wrong one.
// Busy password slots (ETOOMANY) count nothing.
func (db *DB) Login(ctx context.Context, a baocun.LoginAttempt) (baocun.LoginResult, error) {
	// A name no account can have is neither counted nor stored (web refuses it first).
	if err := baocun.ValidateUsername(a.Username); err != nil {
		return baocun.LoginResult{Reason: "invalid username"}, err
	}
	now := a.Now
	src := baocun.ClientNetwork(a.Source)
	// The account first, with the epoch its hash belongs to: a known-device
	// credential is good only for the password it was earned with.
	var id, epoch int64
	var hash string
	var disabled int
	err := db.QueryRowContext(ctx, "SELECT id, password_hash, disabled, credential_epoch FROM users WHERE username = ?", a.Username).
		Scan(&id, &hash, &disabled, &epoch)
	found := err == nil
	if errors.Is(err, sql.ErrNoRows) {
		hash = dummyHash
	} else if err != nil {
		return baocun.LoginResult{}, err
	}
	var lastSuccess int64
	err = db.QueryRowContext(ctx, "SELECT last_success FROM login_failures WHERE username = ? AND source = ?", a.Username, src).Scan(&lastSuccess)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return baocun.LoginResult{}, err
	}
	device := found && db.knownDevice(a.Device, a.Username, epoch, now)
	familiar := lastSuccess > 0 && now.Sub(time.UnixMilli(lastSuccess)) < trustedFor || device
	key := lockKey(src, a.Device, device)
	// A known device whose own lock holds is throttled like anyone: the lock,
	// not the network's bucket, is what spares the network a stolen credential's
	// guesses, so it must not buy more hashes.
	deviceFree := false
	if device {
		var until int64
		err := db.QueryRowContext(ctx, "SELECT locked_until FROM login_failures WHERE username = ? AND source = ?", a.Username, key).Scan(&until)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return baocun.LoginResult{}, err
		}
		deviceFree = until <= ms(now)
	}

	checks := []struct {
		b   bucket
		key string
	}{{addressFailures, src}, {accountFailures, a.Username}, {addressSuccesses, src}, {accountSuccesses, a.Username}}
	for _, c := range checks {
		if familiar && c.b == accountFailures || deviceFree && c.b == addressFailures {
			continue
		}
		wait, err := db.bucketWait(ctx, c.b, c.b.key(c.key), now)
		if err == nil && wait > 0 && c.b == addressFailures {
			err = db.chargeRefusal(ctx, addressFailures.key(src), now)
		}
		if err != nil || wait > 0 {
			return baocun.LoginResult{Reason: "throttled: " + c.b.name}, throttled(wait, err)
		}
	}

	ok, err := baocun.CheckPassword(hash, a.Password)
	if err != nil {
		return baocun.LoginResult{Reason: "busy"}, err
	}

	if found && disabled == 0 && ok {
		// A device's row is kept only as long as failures are: nothing reads its
		// last_success, and the device gets a new credential (a new key) below.
		keep := trustedFor
		if device {
			keep = forgetAfter
		}
		var one int
		err := db.QueryRowContext(ctx, `INSERT INTO login_failures (username, source, last_success, forget_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (username, source) DO UPDATE SET failures = 0, last_success = excluded.last_success,
				forget_at = CASE WHEN login_failures.forget_at > excluded.forget_at THEN login_failures.forget_at ELSE excluded.forget_at END
			WHERE login_failures.locked_until <= ? RETURNING 1`, a.Username, key, ms(now), ms(now.Add(keep)), ms(now)).Scan(&one)
		if err == nil && device {
			err = db.rememberNetwork(ctx, a.Username, src, now)
		}
		if err == nil {
			for _, c := range checks[2:] {
				if err := db.chargeBucket(ctx, c.b.key(c.key), c.b.interval, now); err != nil {
					return baocun.LoginResult{}, err
				}
			}
			u, err := db.User(ctx, a.Username)
			return baocun.LoginResult{User: u, Epoch: epoch, Device: db.deviceCredential(a.Username, epoch, now)}, err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return baocun.LoginResult{}, err
		}
		// Locked for this network: refused below like a wrong password.
	}

	res := baocun.LoginResult{Reason: "wrong username or password"}
	if found && disabled != 0 {
		res.Reason = "disabled"
	}
	var n int
	err = db.QueryRowContext(ctx, `INSERT INTO login_failures (username, source, failures, last_failure, forget_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (username, source) DO UPDATE SET failures = login_failures.failures + 1, last_failure = excluded.last_failure,
			forget_at = CASE WHEN login_failures.forget_at > excluded.forget_at THEN login_failures.forget_at ELSE excluded.forget_at END
		WHERE login_failures.locked_until <= ? RETURNING failures`, a.Username, key, ms(now), ms(now.Add(forgetAfter)), ms(now)).Scan(&n)
	counted := err == nil
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.LockedUntil, err = db.lockedUntil(ctx, a.Username, key)
		res.Reason = "locked"
	case err == nil:
		if d := lockout(n); d > 0 {
			res.LockedUntil = now.Add(d)
			_, err = db.ExecContext(ctx, "UPDATE login_failures SET locked_until = ? WHERE username = ? AND source = ? AND locked_until < ?",
				ms(res.LockedUntil), a.Username, key, ms(res.LockedUntil))
		}
	}
	if err != nil {
		return baocun.LoginResult{}, err
	}
	if err := db.chargeBucket(ctx, addressFailures.key(src), addressFailures.interval, now); err != nil {
		return baocun.LoginResult{}, err
	}
	if counted && !familiar {
		if err := db.chargeBucket(ctx, accountFailures.key(a.Username), accountFailures.interval, now); err != nil {
			return baocun.LoginResult{}, err
		}
	}
	return res, errBadLogin
}

// lockKey is the login_failures source an attempt's failures count under: its
// network, or, with a valid known-device credential of the name, network "#"
// deviceID. The network stays in the key so a stolen credential guessing from
// another network does not lock the owner's device where the owner is.
func lockKey(network, cred string, device bool) string {
	if !device {
		return network
	}
	return network + "#" + deviceID(cred)
}

// deviceID is a short stable id of a known-device credential: enough to tell one
// device's credential from another's, and no credential itself (the table is read by
// whoever reads the database, and a credential would work from anywhere).
func deviceID(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// rememberNetwork marks network familiar for username after a known device signed in
// from it, as a success without the credential would: a second browser there, or the
// owner after the cookie is cleared, is then spared the account's throttle. It sets
// last_success only and leaves failures and the lock alone, locked or not: the
// owner's success says nothing of the others behind the network, and resetting their
// count would give a colleague guessing there three free guesses a sign-in.
func (db *DB) rememberNetwork(ctx context.Context, username, network string, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO login_failures (username, source, last_success, forget_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (username, source) DO UPDATE SET last_success = excluded.last_success,
			forget_at = CASE WHEN login_failures.forget_at > excluded.forget_at THEN login_failures.forget_at ELSE excluded.forget_at END`,
		username, network, ms(now), ms(now.Add(trustedFor)))
	return err
}

func (db *DB) lockedUntil(ctx context.Context, username, src string) (time.Time, error) {
	var until int64
	err := db.QueryRowContext(ctx, "SELECT locked_until FROM login_failures WHERE username = ? AND source = ?", username, src).Scan(&until)
	return time.UnixMilli(until).UTC(), err
}

// throttled is the 429 of a throttle (or the error reading it). Every throttle says
// the same, only the wait differs: an unknown name has no success bucket, so a
// message of the success throttles' own would tell that a name exists and is busy.
func throttled(wait time.Duration, err error) error {
	if err != nil {
		return err
	}
	return &baocun.Error{Code: baocun.ETOOMANY, RetryAfter: wait, Op: "sign-in throttle",
		Message: fmt.Sprintf("登录尝试次数过多，请 %d 秒后再试 Too many sign-in attempts: try again in %d s.", seconds(wait), seconds(wait))}
}

func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

// bucketWait is how long until b's bucket under key admits one more: 0 while fewer
// than burst intervals are charged ahead of now.
func (db *DB) bucketWait(ctx context.Context, b bucket, key string, now time.Time) (time.Duration, error) {
	var tat int64
	err := db.QueryRowContext(ctx, "SELECT tat FROM login_buckets WHERE key = ?", key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	wait := time.UnixMilli(tat).Sub(now) - time.Duration(b.burst-1)*b.interval
	return max(wait, 0), nil
}

// chargeBucket charges one interval to the bucket under key, in one statement, so
// parallel attempts on several instances each count. A charge made while the bucket
// was full runs into debt: a burst raced past the check is paid for afterwards.
func (db *DB) chargeBucket(ctx context.Context, key string, interval time.Duration, now time.Time) error {
	_, err := db.ExecContext(ctx, `INSERT INTO login_buckets (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = CASE WHEN login_buckets.tat > ? THEN login_buckets.tat ELSE ? END + ?`,
		key, ms(now)+interval.Milliseconds(), ms(now), ms(now), interval.Milliseconds())
	return err
}

// chargeRefusal charges a throttle's refusal to the network's failure bucket, so a
// client polling a throttle waits longer for each poll — but never more than
// maxLockout beyond what its failures already owe, so a client that retries by hand
// is slowed, not shut out for good.
func (db *DB) chargeRefusal(ctx context.Context, key string, now time.Time) error {
	b := addressFailures
	ceiling := ms(now) + (time.Duration(b.burst-1)*b.interval + maxLockout).Milliseconds()
	step := b.interval.Milliseconds()
	_, err := db.ExecContext(ctx, `INSERT INTO login_buckets (key, tat) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET tat = CASE
			WHEN login_buckets.tat + ? <= ? THEN login_buckets.tat + ?
			WHEN login_buckets.tat < ? THEN ?
			ELSE login_buckets.tat END`,
		key, ms(now)+step, step, ceiling, step, ceiling, ceiling)
	return err
}

// pruneBatch is the most rows one prune statement deletes: each is a short write,
// so sign-ins waiting for the database never wait behind a long one.
const pruneBatch = 1000

// The prune statements, each served by an index (migration 0008).
var pruneStatements = []string{
	// A full bucket limits nothing.
	"DELETE FROM login_buckets WHERE key IN (SELECT key FROM login_buckets WHERE tat < ? LIMIT ?)",
	// Failures that lock and throttle nothing any more, from networks no success
	// makes familiar.
	"DELETE FROM login_failures WHERE (username, source) IN (SELECT username, source FROM login_failures WHERE forget_at < ? LIMIT ?)",
	// Expired tokens, ended or not: they open nothing.
	"DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)",
}

// PruneSignIns forgets what the sign-in limits and the tokens no longer need, a batch
// at a time, and reports how many rows it deleted. serve runs it on a ticker, never
// in a request: a request pays for its own rows only.
func (db *DB) PruneSignIns(ctx context.Context, now time.Time) (int, error) {
	args := [][]any{{ms(now), pruneBatch}, {ms(now), pruneBatch}, {FormatTime(now), pruneBatch}}
	total := 0
	for i, q := range pruneStatements {
		for {
			res, err := db.ExecContext(ctx, q, args[i]...)
			if err != nil {
				return total, err
			}
			n, _ := res.RowsAffected()
			total += int(n)
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// The known-device credential: a client that signed in with the account's current
// password keeps it (a cookie) and is, from any network, as familiar as the
// networks the account signs in from — the account's throttle of unfamiliar
// clients, which an attacker guessing from many networks fills, does not refuse it.
// It is
//
//	base64url(epoch "." issued-unix-seconds "." username) "." base64url(HMAC-SHA256(key, "baocun-device-v1" 0x00 payload))
//
// under a key the database holds (settings "device_key", made at Open): anyone who
// can read the key can read the password hashes too, and guess offline faster than
// any throttle lets them online. The epoch binds it to the password: a reset, a
// change or disabling forgets every device, a thief's included.
const deviceKeySetting = "device_key"

func (db *DB) deviceMAC(payload string) []byte {
	m := hmac.New(sha256.New, db.deviceKey)
	m.Write([]byte("baocun-device-v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// deviceCredential is a new known-device credential for username at epoch.
func (db *DB) deviceCredential(username string, epoch int64, now time.Time) string {
	if len(db.deviceKey) == 0 {
		return ""
	}
	payload := strconv.FormatInt(epoch, 10) + "." + strconv.FormatInt(now.Unix(), 10) + "." + username
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(db.deviceMAC(payload))
}

// knownDevice reports whether cred is a known-device credential of username at
// epoch, issued within baocun.KnownDeviceFor.
func (db *DB) knownDevice(cred, username string, epoch int64, now time.Time) bool {
	if cred == "" || len(cred) > 512 || len(db.deviceKey) == 0 {
		return false
	}
	p, m, ok := strings.Cut(cred, ".")
	if !ok {
		return false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, db.deviceMAC(string(payload))) {
		return false
	}
	e, rest, _ := strings.Cut(string(payload), ".")
	issued, name, _ := strings.Cut(rest, ".")
	sec, err := strconv.ParseInt(issued, 10, 64)
	if err != nil || name != username || e != strconv.FormatInt(epoch, 10) {
		return false
	}
	at := time.Unix(sec, 0)
	return now.Sub(at) < baocun.KnownDeviceFor && at.Before(now.Add(time.Minute))
}

// loadDeviceKey reads the known-device key, making it on a database that has none
// (two instances starting at once keep the first one's).
func (db *DB) loadDeviceKey(ctx context.Context) error {
	buf := make([]byte, 32)
	rand.Read(buf)
	// In a transaction (BEGIN IMMEDIATE on SQLite): instances opening one database at
	// once each wait their turn, where a bare INSERT found another's write committed
	// since its snapshot and failed at once with SQLITE_BUSY.
	var v string
	if err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
			deviceKeySetting, hex.EncodeToString(buf), FormatTime(time.Now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", deviceKeySetting).Scan(&v)
	}); err != nil {
		return fmt.Errorf("database %s: device key: %w", db.name, err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 32 {
		return fmt.Errorf("database %s: device key in settings is not 32 hex bytes", db.name)
	}
	db.deviceKey = key
	return nil
}
