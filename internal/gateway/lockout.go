package gateway

import (
	"cmp"
	"net/netip"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/snapshot"
)

// lockout is the brute-force lockout of one instance (A5). Failed logins are counted twice, by source:
// an IPv4 address, or an IPv6 /64 (lockSource):
//
//   - per (address, user name): AuthLockoutThreshold failures within AuthLockoutWindow lock that pair;
//   - per address, across user names: AuthLockoutAddressThreshold failures within the same window lock
//     every login from the address (spraying many names from one address).
//
// Either lock lasts AuthLockoutDuration. A locked login is answered by the caller exactly as a wrong
// password; the lockout never refuses a connection. Logins refused because of a lock count nowhere, so
// a client that retries a wrong password forever adds at most AuthLockoutThreshold failures per
// lockout to its address: behind a NAT it locks only its own pair, not the other users of the address.
// A success clears its own pair's count, never the address's, so logging in as another user (or
// through a nopass user) between guesses does not reset anything.
//
// An attempt is counted as a failure from the moment it is judged (begin) until its result is known
// (end), so attempts racing on many connections cannot get past the threshold together.
//
// Memory is bounded: at most maxLockoutPairs pairs and maxLockoutAddrs addresses are tracked. When a
// table is full, entries that are neither locked, in flight nor counting within the window are swept
// (at most once a second); a key that still finds no room is not tracked (its attempt is judged, and
// the other table still counts it). The state is per process: each gateway counts what it sees.
//
// The zero value is ready to use (with the wall clock); it is safe for concurrent use.
type lockout struct {
	clk clock // the zero value: the wall clock
	// maxPairs and maxAddrs bound the tables (0: maxLockoutPairs, maxLockoutAddrs).
	maxPairs, maxAddrs int

	mu    sync.Mutex
	pairs map[lockPair]*lockCount
	addrs map[netip.Addr]*lockCount
	swept time.Time // last sweep of a full table
}

// lockPair is the key of a per-user count: an address and the user name tried ("" stands for every
// name that is not a user of the instance, so a flood of invented names is one pair per address).
type lockPair struct {
	addr netip.Addr
	user string
}

// lockCount counts one key's failures within its window.
type lockCount struct {
	since   time.Time // start of the counting window
	fails   int       // failures since then
	pending int       // attempts judged and not yet ended, counted as failures until they end
	until   time.Time // locked until then (zero: not locked)
}

// Bounds of the lockout tables; an entry costs about 100 bytes.
const (
	maxLockoutPairs = 100_000
	maxLockoutAddrs = 100_000
	lockoutSweepGap = time.Second // a full table is swept at most this often
)

// lockScope says what locked a login.
type lockScope uint8

const (
	lockNone      lockScope = iota
	lockByPair              // the (address, user) pair
	lockByAddress           // the address, for every user name
)

// attempt is a login attempt begin let through, pending in the counts it names (nil: not counted
// there: the lockout is off, the table was full, or the address count is off).
type attempt struct {
	key           lockPair
	pair, address *lockCount
}

// begin judges a login attempt as user from addr under snap's settings: when it is locked out, begin
// says by what and counts nothing; otherwise the attempt is counted as in flight and the caller must
// pass it to end with its result. With the lockout off (a zero threshold) nothing is counted.
func (l *lockout) begin(addr netip.Addr, user string, snap *snapshot.Snapshot) (attempt, lockScope) {
	addr = lockSource(addr)
	at := attempt{key: lockPair{addr, user}}
	if snap.AuthLockoutThreshold <= 0 {
		return at, lockNone
	}
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p, a := l.pairs[at.key], l.addrs[addr]
	switch {
	case a.blocks(now, snap.AuthLockoutAddressThreshold, snap.AuthLockoutWindow):
		return at, lockByAddress
	case p.blocks(now, snap.AuthLockoutThreshold, snap.AuthLockoutWindow):
		return at, lockByPair
	}
	if p == nil {
		p = track(l, &l.pairs, at.key, cmp.Or(l.maxPairs, maxLockoutPairs), now, snap.AuthLockoutWindow)
	}
	if a == nil && snap.AuthLockoutAddressThreshold > 0 {
		a = track(l, &l.addrs, addr, cmp.Or(l.maxAddrs, maxLockoutAddrs), now, snap.AuthLockoutWindow)
	}
	p.start(now, snap.AuthLockoutWindow)
	a.start(now, snap.AuthLockoutWindow)
	at.pair, at.address = p, a
	return at, lockNone
}

// end records the result of an attempt begin let through, under the same snap. A failure counts
// towards the pair and the address; end reports which of them it locked now. A success clears the
// pair's count only.
func (l *lockout) end(at attempt, snap *snapshot.Snapshot, ok bool) (lockedPair, lockedAddr bool) {
	if at.pair == nil && at.address == nil {
		return false, false
	}
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		lockedPair = at.pair.fail(now, snap.AuthLockoutThreshold, snap.AuthLockoutDuration)
		lockedAddr = at.address.fail(now, snap.AuthLockoutAddressThreshold, snap.AuthLockoutDuration)
		return lockedPair, lockedAddr
	}
	if p := at.pair; p != nil {
		p.pending--
		p.fails = 0
		if p.idle(now, -1) && l.pairs[at.key] == p {
			delete(l.pairs, at.key)
		}
	}
	if a := at.address; a != nil {
		a.pending--
		if a.fails == 0 && a.idle(now, -1) && l.addrs[at.key.addr] == a {
			delete(l.addrs, at.key.addr)
		}
	}
	return false, false
}

// LockoutStatus is what the lockout holds on logging in as a user from an address, at one moment.
type LockoutStatus struct {
	// PairUntil and AddressUntil are the ends of the locks in force (zero: not locked): of the (address,
	// user) pair, and of the address for every user name.
	PairUntil, AddressUntil time.Time
	// PairFailures and AddressFailures are the failures counted within the current window.
	PairFailures, AddressFailures int
}

// LockedOut reports whether a login is locked out now, by either lock.
func (s LockoutStatus) LockedOut() bool { return !s.PairUntil.IsZero() || !s.AddressUntil.IsZero() }

// status returns the lockout's state for user from addr under snap's settings.
func (l *lockout) status(addr netip.Addr, user string, snap *snapshot.Snapshot) LockoutStatus {
	addr = lockSource(addr)
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var s LockoutStatus
	s.PairUntil, s.PairFailures = l.pairs[lockPair{addr, user}].state(now, snap.AuthLockoutWindow)
	s.AddressUntil, s.AddressFailures = l.addrs[addr].state(now, snap.AuthLockoutWindow)
	return s
}

// lockSource is what the lockout counts an address as: its source block's address
// (allowlist.SourceOf: an IPv6 client by its /64, or it could try a few passwords from each of its
// 2^64 addresses), as the API and the console count sources.
func lockSource(a netip.Addr) netip.Addr { return allowlist.SourceOf(a).Addr() }

// blocks reports whether c refuses an attempt now: locked, or its failures and attempts in flight have
// reached threshold (0: never). A nil c blocks nothing.
func (c *lockCount) blocks(now time.Time, threshold int, window time.Duration) bool {
	if c == nil || threshold <= 0 {
		return false
	}
	if now.Before(c.until) {
		return true
	}
	fails := c.fails
	if now.Sub(c.since) > window {
		fails = 0
	}
	return fails+c.pending >= threshold
}

// start counts an attempt in flight, opening a new window if the last one passed. A nil c (not
// tracked) does nothing.
func (c *lockCount) start(now time.Time, window time.Duration) {
	if c == nil {
		return
	}
	if now.Sub(c.since) > window {
		c.since, c.fails = now, 0
	}
	c.pending++
}

// fail turns an attempt in flight into a failure and reports whether it locks c now (threshold 0:
// never). A nil c does nothing.
func (c *lockCount) fail(now time.Time, threshold int, duration time.Duration) bool {
	if c == nil {
		return false
	}
	c.pending--
	c.fails++
	if threshold <= 0 || c.fails < threshold {
		return false
	}
	c.until = now.Add(duration)
	c.since, c.fails = now, 0
	return true
}

// state is c's lock end (zero when not locked now) and its failures within the window now.
func (c *lockCount) state(now time.Time, window time.Duration) (until time.Time, fails int) {
	if c == nil {
		return time.Time{}, 0
	}
	if now.Before(c.until) {
		until = c.until
	}
	if now.Sub(c.since) <= window {
		fails = c.fails
	}
	return until, fails
}

// idle reports whether c can be forgotten: not locked, nothing in flight, its window passed (a negative
// window: whatever it counted).
func (c *lockCount) idle(now time.Time, window time.Duration) bool {
	return c.pending <= 0 && !now.Before(c.until) && now.Sub(c.since) > window
}

// track adds a new count for k to *m, sweeping a full table first (at most once per lockoutSweepGap);
// it returns nil when there is still no room. l.mu held.
func track[K comparable](l *lockout, m *map[K]*lockCount, k K, limit int, now time.Time, window time.Duration) *lockCount {
	if *m == nil {
		*m = make(map[K]*lockCount)
	}
	if len(*m) >= limit {
		if now.Sub(l.swept) < lockoutSweepGap {
			return nil
		}
		l.swept = now
		l.sweep(now, window)
		if len(*m) >= limit {
			return nil
		}
	}
	c := &lockCount{since: now}
	(*m)[k] = c
	return c
}

// sweep forgets the idle entries of both tables. l.mu held.
func (l *lockout) sweep(now time.Time, window time.Duration) {
	for k, c := range l.pairs {
		if c.idle(now, window) {
			delete(l.pairs, k)
		}
	}
	for k, c := range l.addrs {
		if c.idle(now, window) {
			delete(l.addrs, k)
		}
	}
}

// Lockout returns the brute-force lockout's state on logging in as user from addr (A5), as the next
// AUTH would find it: this process's counts only. Safe for concurrent use.
func (in *Instance) Lockout(addr netip.Addr, user string) LockoutStatus {
	snap := in.snap.Load()
	return in.lockout.status(addr, lockKey(in.usersOf(snap), user), snap)
}

// lockKey is the user part of a login's pair: the name of a user of the instance, or "" for every
// name that is not one, so that a flood of invented names is one pair per address.
func lockKey(us *acl.Users, name string) string {
	if us.Get(name) == nil {
		return ""
	}
	return name
}
