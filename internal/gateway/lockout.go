package gateway

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/snapshot"
)

// lockout is the brute-force lockout of one instance (A5): an address with AuthLockoutThreshold failed
// logins within AuthLockoutWindow is refused for AuthLockoutDuration — new connections at accept, AUTH
// on its open connections without looking at the password. A successful login clears the count. It is
// safe for concurrent use; while nothing is tracked, locked costs one atomic load.
type lockout struct {
	tracked atomic.Int64 // len(m), read without the lock
	mu      sync.Mutex
	m       map[netip.Addr]*lockState
}

type lockState struct {
	since time.Time // start of the counting window
	fails int
	until time.Time // refused until then (zero: not locked)
}

// maxLockoutTracked bounds the addresses tracked: past it, entries that expired are dropped first, and
// if none did, the new address is not tracked (a flood of distinct addresses cannot grow memory).
const maxLockoutTracked = 100_000

// locked reports whether addr is locked out now.
func (l *lockout) locked(addr netip.Addr) bool {
	if l.tracked.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[addr]
	return st != nil && time.Now().Before(st.until)
}

// fail counts a failed login from addr under snap's settings and reports whether it locks addr out now.
func (l *lockout) fail(addr netip.Addr, snap *snapshot.Snapshot, now time.Time) bool {
	if snap.AuthLockoutThreshold <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[addr]
	if st == nil {
		if len(l.m) >= maxLockoutTracked && !l.expire(now, snap.AuthLockoutWindow) {
			return false
		}
		if l.m == nil {
			l.m = map[netip.Addr]*lockState{}
		}
		st = &lockState{since: now}
		l.m[addr] = st
		l.tracked.Store(int64(len(l.m)))
	}
	if now.Sub(st.since) > snap.AuthLockoutWindow {
		st.since, st.fails = now, 0
	}
	st.fails++
	if st.fails < snap.AuthLockoutThreshold || now.Before(st.until) {
		return false
	}
	st.until = now.Add(snap.AuthLockoutDuration)
	st.since, st.fails = now, 0
	return true
}

// succeed clears addr's count after a successful login (a lockout in force stays).
func (l *lockout) succeed(addr netip.Addr, now time.Time) {
	if l.tracked.Load() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.m[addr]; st != nil && !now.Before(st.until) {
		delete(l.m, addr)
		l.tracked.Store(int64(len(l.m)))
	}
}

// expire drops entries neither locked nor counting within window; it reports whether any went. mu held.
func (l *lockout) expire(now time.Time, window time.Duration) bool {
	n := len(l.m)
	for a, st := range l.m {
		if !now.Before(st.until) && now.Sub(st.since) > window {
			delete(l.m, a)
		}
	}
	l.tracked.Store(int64(len(l.m)))
	return len(l.m) < n
}
