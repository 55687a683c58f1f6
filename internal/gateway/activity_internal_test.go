package gateway

import (
	"net/netip"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/refused"
)

// fakeClock is a settable clock for the recorder.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestActivity() (*Activity, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 30, 0, time.UTC)}
	return &Activity{now: c.now}, c
}

// The recorder counts per (address, reason), lists the most recently seen first, and keeps first and
// last times.
func TestActivityCountsPerAddressAndReason(t *testing.T) {
	a, clock := newTestActivity()
	x, y := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	start := clock.t
	a.record(x, ReasonIllegalAddress)
	clock.t = clock.t.Add(time.Second)
	a.record(y, ReasonIllegalAddress)
	clock.t = clock.t.Add(time.Second)
	a.record(x, ReasonIllegalAddress)
	a.record(x, ReasonProtocolError)

	r := a.Report()
	want := []struct {
		addr   netip.Addr
		reason string
		count  uint64
		first  time.Time
	}{
		{x, ReasonIllegalAddress, 2, start},
		{x, ReasonProtocolError, 1, start.Add(2 * time.Second)},
		{y, ReasonIllegalAddress, 1, start.Add(time.Second)},
	}
	if len(r.Refusals) != len(want) {
		t.Fatalf("got %d refusals, want %d: %+v", len(r.Refusals), len(want), r.Refusals)
	}
	for i, w := range want {
		g := r.Refusals[i]
		if g.Addr != w.addr || g.Reason != w.reason || g.Count != w.count || !g.FirstSeen.Equal(w.first) {
			t.Errorf("refusal %d = %+v, want %s %s count %d first %v", i, g, w.addr, w.reason, w.count, w.first)
		}
	}
	if r.Total != 4 {
		t.Errorf("Total = %d, want 4", r.Total)
	}
}

// The timeline holds one count per minute for the last hour, oldest first; minutes that fall out of the
// hour are not counted, and a bucket reused for a later minute starts from zero.
func TestActivityTimeline(t *testing.T) {
	a, clock := newTestActivity()
	addr := netip.MustParseAddr("192.0.2.1")
	t0 := clock.t
	a.record(addr, ReasonIllegalAddress) // minute 0
	clock.t = t0.Add(59 * time.Minute)
	a.record(addr, ReasonIllegalAddress) // minute 59: the last bucket
	a.record(addr, ReasonIllegalAddress)

	r := a.Report()
	if len(r.Timeline) != refused.Buckets {
		t.Fatalf("timeline has %d buckets, want %d", len(r.Timeline), refused.Buckets)
	}
	if r.Timeline[0] != 1 || r.Timeline[refused.Buckets-1] != 2 {
		t.Errorf("timeline first/last = %d/%d, want 1/2", r.Timeline[0], r.Timeline[refused.Buckets-1])
	}
	if !r.TimelineStart.Equal(t0.Truncate(time.Minute)) {
		t.Errorf("TimelineStart = %v, want %v", r.TimelineStart, t0.Truncate(time.Minute))
	}

	clock.t = t0.Add(60 * time.Minute) // minute 0 leaves the window; its bucket is reused for minute 60
	a.record(addr, ReasonIllegalAddress)
	r = a.Report()
	var sum uint64
	for _, n := range r.Timeline {
		sum += n
	}
	if sum != 3 || r.Timeline[refused.Buckets-1] != 1 || r.Timeline[refused.Buckets-2] != 2 {
		t.Errorf("after an hour: timeline sum %d, last two %d,%d; want 3, 2,1", sum, r.Timeline[refused.Buckets-2], r.Timeline[refused.Buckets-1])
	}
	if r.Total != 4 {
		t.Errorf("Total = %d, want 4", r.Total)
	}

	clock.t = t0.Add(3 * time.Hour) // nothing recorded for two hours: the whole timeline is zero
	for i, n := range a.Report().Timeline {
		if n != 0 {
			t.Fatalf("bucket %d = %d after two idle hours, want 0", i, n)
		}
	}
}

// A scan from many addresses keeps memory bounded and forgets the least recently seen addresses first;
// an address seen again recently survives.
func TestActivityIsBounded(t *testing.T) {
	a, clock := newTestActivity()
	keep := netip.MustParseAddr("198.51.100.7")
	const scan = 10 * activityAddrs
	const repeats = (scan + 99) / 100 // i = 0, 100, 200, …
	for i := 0; i < scan; i++ {
		clock.t = clock.t.Add(time.Millisecond)
		a.record(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), ReasonIllegalAddress)
		if i%100 == 0 {
			a.record(keep, ReasonIllegalAddress)
		}
		if n := len(a.pairs); n > activityAddrs {
			t.Fatalf("after %d refusals %d pairs are kept, bound is %d", i+1, n, activityAddrs)
		}
	}
	r := a.Report()
	found := false
	for _, x := range r.Refusals {
		if x.Addr == keep {
			found = true
			if x.Count != repeats {
				t.Errorf("the repeated address has count %d, want %d", x.Count, repeats)
			}
		}
		if x.Addr == netip.AddrFrom4([4]byte{10, 0, 0, 0}) {
			t.Errorf("the first, oldest address is still kept")
		}
	}
	if !found {
		t.Errorf("the address refused every 100 refusals was forgotten")
	}
	if want := uint64(scan + repeats); r.Total != want {
		t.Errorf("Total = %d, want %d", r.Total, want)
	}
}

// The zero value works, and all pairs seen at one instant are still bounded.
func TestActivityZeroValueAndSameInstant(t *testing.T) {
	var a Activity
	frozen := time.Now()
	a.now = func() time.Time { return frozen }
	for i := 0; i < 3*activityAddrs; i++ {
		a.record(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), ReasonIllegalAddress)
	}
	if n := len(a.Report().Refusals); n > activityAddrs || n == 0 {
		t.Fatalf("%d pairs kept, want 1..%d", n, activityAddrs)
	}
}

// The cost on the refusal path: an address already known allocates nothing.
func BenchmarkActivityRecordKnown(b *testing.B) {
	var a Activity
	addr := netip.MustParseAddr("10.9.8.7")
	b.ReportAllocs()
	for b.Loop() {
		a.record(addr, ReasonIllegalAddress)
	}
}

// A scan: every refusal from a new address (evictions included).
func BenchmarkActivityRecordScan(b *testing.B) {
	var a Activity
	addrs := make([]netip.Addr, 1<<16)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.record(addrs[i&(len(addrs)-1)], ReasonIllegalAddress)
		i++
	}
}
