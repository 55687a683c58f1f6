package console

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// spend reserves attempts for addr until none is left and returns how many it got.
func spend(f *failureLimiter, addr netip.Addr, now time.Time) int {
	n := 0
	for f.reserve(addr, now) {
		n++
	}
	return n
}

// A source gets its burst, then one attempt per interval; a refund gives one back.
func TestFailureLimiterBurstAndRefill(t *testing.T) {
	f := newFailureLimiter(5, 12*time.Second, 100)
	a := netip.MustParseAddr("192.0.2.1")
	if n := spend(f, a, t0); n != 5 {
		t.Fatalf("burst: %d attempts, want 5", n)
	}
	if f.reserve(a, t0.Add(11*time.Second)) {
		t.Fatal("an attempt before the interval passed")
	}
	if n := spend(f, a, t0.Add(12*time.Second)); n != 1 {
		t.Fatalf("after one interval: %d attempts, want 1", n)
	}
	f.refund(a, t0.Add(12*time.Second))
	if n := spend(f, a, t0.Add(12*time.Second)); n != 1 {
		t.Fatalf("after a refund: %d attempts, want 1", n)
	}
}

// IPv6 sources are grouped by /64 (rotating addresses inside one /64 is no fresh start), IPv4 sources
// by address, and an IPv4-mapped IPv6 address is its IPv4 address.
func TestFailureLimiterSources(t *testing.T) {
	f := newFailureLimiter(5, 12*time.Second, 100)
	spend(f, netip.MustParseAddr("2001:db8:1:2::1"), t0)
	spend(f, netip.MustParseAddr("198.51.100.7"), t0)
	for addr, want := range map[string]bool{
		"2001:db8:1:2::ffff:1":      false, // same /64: blocked
		"2001:db8:1:2:abcd::9%eth0": false,
		"2001:db8:1:3::1":           true, // next /64
		"::ffff:198.51.100.7":       false,
		"198.51.100.8":              true,
	} {
		if got := f.reserve(netip.MustParseAddr(addr), t0); got != want {
			t.Errorf("%s: attempt allowed %v, want %v", addr, got, want)
		}
	}
}

// Issue 16, finding 3: 4,100 junk attempts from distinct addresses used to reset the limiter and give a
// blocked address five fresh attempts. Now memory is bounded by forgetting the least recently seen
// sources only: the blocked address stays blocked, and at the bound the oldest are the ones forgotten.
func TestFailureLimiterEvictsOldestOnly(t *testing.T) {
	f := newFailureLimiter(5, 12*time.Second, defaultMaxSources)
	blocked := netip.MustParseAddr("192.0.2.1")
	spend(f, blocked, t0)
	for i := range 4100 {
		f.reserve(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
	}
	if f.reserve(blocked, t0) {
		t.Fatal("4,100 other sources gave a blocked address a fresh attempt")
	}

	small := newFailureLimiter(5, 12*time.Second, 3)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")}
	for _, a := range addrs {
		spend(small, a, t0)
	}
	small.reserve(addrs[0], t0)                         // seen again: now the most recent
	small.reserve(netip.MustParseAddr("192.0.2.4"), t0) // a fourth source: 192.0.2.2 is the oldest
	if n := small.tracked(); n != 3 {
		t.Fatalf("tracking %d sources, bound 3", n)
	}
	// 192.0.2.2 forgotten, the others still blocked (checked last: checking it tracks it again).
	for _, i := range []int{0, 2, 1} {
		if got, want := small.reserve(addrs[i], t0), i == 1; got != want {
			t.Errorf("%s: attempt allowed %v, want %v", addrs[i], got, want)
		}
	}
}

// At most parallel derivations run and at most queue wait; the next is turned away at once.
func TestHashGateBoundsRunningAndWaiting(t *testing.T) {
	g := newHashGate(1, 2, 1000)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) } // the rate never limits
	if !g.enter(context.Background(), at(1)) {
		t.Fatal("first enter refused")
	}
	entered := make(chan bool, 2)
	for i := range 2 {
		go func() { entered <- g.enter(context.Background(), at(2+i)) }()
	}
	for deadline := time.Now().Add(5 * time.Second); g.waiting.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want 2", g.waiting.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if g.enter(context.Background(), at(10)) {
		t.Fatal("an enter with the slot taken and the queue full was not turned away")
	}
	g.leave()
	for i := range 2 {
		if !<-entered {
			t.Fatalf("waiter %d refused", i)
		}
		g.leave()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !g.enter(ctx, at(20)) { // a free slot is taken even with an ended context
		t.Fatal("free slot refused")
	}
	g.leave()
}

// Beyond its burst (parallel+queue), the gate lets perSecond derivations start a second.
func TestHashGateRate(t *testing.T) {
	g := newHashGate(1, 1, 2)
	for i := range 2 {
		if !g.enter(context.Background(), t0) {
			t.Fatalf("enter %d of the burst refused", i+1)
		}
		g.leave()
	}
	if g.enter(context.Background(), t0) {
		t.Fatal("an enter over the rate was let in")
	}
	if !g.enter(context.Background(), t0.Add(500*time.Millisecond)) {
		t.Fatal("an enter half a second later (rate 2/s) was refused")
	}
	g.leave()
}
