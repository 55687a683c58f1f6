package api

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// Limits are the API's budgets. Zero fields take the defaults (sign.Default* for the per-key ones and
// DefaultSource* below). Each access key has its own budget, spent only by calls its signature
// verified (sign.Verifier); before a key is known, each source address (IPv6: each /64) has a budget
// of failed authentications. Over a budget, calls get Throttling.User while every other key and
// address is served.
type Limits struct {
	KeyRate      rate.Limit // verified calls per second per access key, sustained
	KeyBurst     int        // verified calls per access key at once
	KeyNonces    int        // signature nonces remembered per access key (for 2× the timestamp window)
	Nonces       int        // signature nonces remembered for all keys together (bounds memory)
	SourceRate   rate.Limit // failed authentications per second per source address, sustained
	SourceBurst  int        // failed authentications per source address at once
	SourceMemory int        // source addresses tracked at most; the least recently seen is forgotten
}

// Defaults for the per-source budget.
const (
	DefaultSourceRate   = rate.Limit(1)
	DefaultSourceBurst  = 20
	DefaultSourceMemory = 10_000
)

// sourceLimits counts failed authentications per source address (an IPv6 address by its /64, so one
// host cannot rotate through its addresses). It tracks at most max addresses; when full, the least
// recently seen is forgotten (so a forgotten address had been quiet the longest). Safe for concurrent
// use.
type sourceLimits struct {
	rate  rate.Limit
	burst int
	max   int

	mu  sync.Mutex
	m   map[netip.Prefix]*list.Element // of *sourceEntry
	lru list.List                      // front: most recently seen
}

type sourceEntry struct {
	p   netip.Prefix
	lim *rate.Limiter
}

func newSourceLimits(l Limits) *sourceLimits {
	s := &sourceLimits{rate: l.SourceRate, burst: l.SourceBurst, max: l.SourceMemory, m: map[netip.Prefix]*list.Element{}}
	if s.rate <= 0 {
		s.rate = DefaultSourceRate
	}
	if s.burst <= 0 {
		s.burst = DefaultSourceBurst
	}
	if s.max <= 0 {
		s.max = DefaultSourceMemory
	}
	return s
}

// sourcePrefix is the accounting unit of remoteAddr ("ip:port"); ok=false if it is not an address.
func sourcePrefix(remoteAddr string) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(remoteAddr)
		if err != nil {
			return netip.Prefix{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Prefix{}, false
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	return allowlist.SourceOf(ap.Addr()), true
}

// blocked reports whether the source has no failed authentication left at now. It spends nothing.
func (s *sourceLimits) blocked(p netip.Prefix, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[p]
	if !ok {
		return false
	}
	s.lru.MoveToFront(e)
	return e.Value.(*sourceEntry).lim.TokensAt(now) < 1
}

// fail spends one failed authentication of the source at now.
func (s *sourceLimits) fail(p netip.Prefix, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[p]
	if !ok {
		if s.lru.Len() >= s.max {
			old := s.lru.Back()
			s.lru.Remove(old)
			delete(s.m, old.Value.(*sourceEntry).p)
		}
		e = s.lru.PushFront(&sourceEntry{p: p, lim: rate.NewLimiter(s.rate, s.burst)})
		s.m[p] = e
	}
	s.lru.MoveToFront(e)
	e.Value.(*sourceEntry).lim.AllowN(now, 1)
}

// len is the number of sources tracked.
func (s *sourceLimits) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// countsAsFailure reports whether a verification error is spent from the source's budget: every
// refusal of the signature, timestamp or nonce, not a key's own throttling or a server fault.
func countsAsFailure(err error) bool {
	for _, notSource := range []error{sign.ErrThrottlingUser, sign.ErrNonceCacheFull, sign.ErrServiceUnavailable} {
		if errors.Is(err, notSource) {
			return false
		}
	}
	return true
}

// authenticate verifies a call (verify), first refusing a source address that has no failed
// authentication left and afterwards spending one if verification failed. Calls moat made in-process
// (session.go) have no source budget.
func (h *Handler) authenticate(ctx context.Context, remoteAddr string, sr *sign.Request) (sign.Verified, error) {
	src, ok := sourcePrefix(remoteAddr)
	if !ok || inProcess(ctx) {
		return h.verify(ctx, sr)
	}
	if h.sources.blocked(src, time.Now()) {
		return sign.Verified{}, errSourceThrottled
	}
	v, err := h.verify(ctx, sr)
	if err != nil && countsAsFailure(err) {
		h.sources.fail(src, time.Now())
	}
	return v, err
}
