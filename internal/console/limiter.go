package console

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/allowlist"
)

// Login rationing defaults (Config fields of the same meaning override them).
const (
	loginBurst          = 5                // failed logins a source may make at once
	loginEvery          = 12 * time.Second // then one more per this interval
	defaultMaxSources   = 65_536           // sources the limiter remembers; beyond, the least recently seen is forgotten
	defaultHashParallel = 1                // password derivations at once (each takes about 0.1 s of one core)
	defaultHashQueue    = 4                // password checks that may wait for one; more are turned away at once
	defaultHashRate     = 0.5              // password checks per second in all, after a burst of parallel+queue
)

// failureLimiter rations login attempts per source: a token bucket of burst attempts refilled one per
// every. An attempt takes its token before the credentials are checked (reserve), so concurrent
// attempts cannot outrun the count, and a successful one gives it back (refund). It remembers at most
// max sources, forgetting the least recently seen first; a forgotten source had at least its oldest
// attempt longest ago of all. It is safe for concurrent use.
type failureLimiter struct {
	burst int
	every time.Duration
	max   int

	mu    sync.Mutex
	order list.List // *bucket, most recently seen first
	byKey map[netip.Prefix]*list.Element
}

type bucket struct {
	key    netip.Prefix
	tokens float64
	at     time.Time // when tokens was computed
}

func newFailureLimiter(burst int, every time.Duration, max int) *failureLimiter {
	return &failureLimiter{burst: burst, every: every, max: max, byKey: map[netip.Prefix]*list.Element{}}
}

// bucketLocked returns key's bucket refilled to now, creating it (evicting the oldest if full).
func (f *failureLimiter) bucketLocked(key netip.Prefix, now time.Time) *bucket {
	if e := f.byKey[key]; e != nil {
		f.order.MoveToFront(e)
		b := e.Value.(*bucket)
		if d := now.Sub(b.at); d > 0 {
			b.tokens = min(float64(f.burst), b.tokens+float64(d)/float64(f.every))
			b.at = now
		}
		return b
	}
	for f.order.Len() >= f.max {
		old := f.order.Back()
		delete(f.byKey, old.Value.(*bucket).key)
		f.order.Remove(old)
	}
	b := &bucket{key: key, tokens: float64(f.burst), at: now}
	f.byKey[key] = f.order.PushFront(b)
	return b
}

// reserve takes one attempt for addr's source, or reports false (nothing taken) when it has none left.
func (f *failureLimiter) reserve(addr netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bucketLocked(allowlist.SourceOf(addr), now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refund gives back an attempt reserve took (the login succeeded, or was never evaluated).
func (f *failureLimiter) refund(addr netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bucketLocked(allowlist.SourceOf(addr), now)
	b.tokens = min(float64(f.burst), b.tokens+1)
}

// tracked returns how many sources the limiter remembers.
func (f *failureLimiter) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.order.Len()
}

// hashGate rations password derivations, the one expensive thing a stranger can make moat do: at most
// perSecond start each second (after a burst of parallel+queue), at most cap(slots) run at once and at
// most queue wait for a slot; an attempt beyond that is turned away at once, before any hashing. Under
// a flood, hashing thus takes at most perSecond × (one derivation's time) of CPU a second. It is safe
// for concurrent use.
type hashGate struct {
	rate    *rate.Limiter
	slots   chan struct{}
	queue   int32
	waiting atomic.Int32
}

func newHashGate(parallel, queue int, perSecond float64) *hashGate {
	return &hashGate{rate: rate.NewLimiter(rate.Limit(perSecond), parallel+queue), slots: make(chan struct{}, parallel), queue: int32(queue)}
}

// enter takes a slot, waiting in the queue if it has room; false: no slot (over the rate, the queue is
// full, or ctx ended while waiting). now is the caller's clock. A true enter must be followed by leave.
func (g *hashGate) enter(ctx context.Context, now time.Time) bool {
	if !g.rate.AllowN(now, 1) {
		return false
	}
	select {
	case g.slots <- struct{}{}:
		return true
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return false
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *hashGate) leave() { <-g.slots }
