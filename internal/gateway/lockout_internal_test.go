package gateway

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/snapshot"
)

func lockoutSnap(pair, address int) *snapshot.Snapshot {
	return &snapshot.Snapshot{AuthLockoutThreshold: pair, AuthLockoutAddressThreshold: address,
		AuthLockoutWindow: time.Minute, AuthLockoutDuration: 5 * time.Minute}
}

// manualClock is a clock the test moves.
type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time { return c.t }

// testLockout is a lockout on a manual clock, with tables of at most limit entries (0: the defaults).
func testLockout(limit int) (*lockout, *manualClock) {
	mc := &manualClock{t: time.Unix(1e9, 0)}
	return &lockout{clk: clock{now: mc.now}, maxPairs: limit, maxAddrs: limit}, mc
}

// failOnce runs one failed attempt of user from addr, reporting the lock begin found.
func failOnce(l *lockout, addr netip.Addr, user string, s *snapshot.Snapshot) lockScope {
	at, sc := l.begin(addr, user, s)
	if sc == lockNone {
		l.end(at, s, false)
	}
	return sc
}

// succeedOnce runs one successful attempt of user from addr, reporting the lock begin found.
func succeedOnce(l *lockout, addr netip.Addr, user string, s *snapshot.Snapshot) lockScope {
	at, sc := l.begin(addr, user, s)
	if sc == lockNone {
		l.end(at, s, true)
	}
	return sc
}

// Attempts in flight count as failures: with threshold 3, three attempts judged on three connections
// at once leave no room for a fourth until they end; a success among them frees its place, and three
// failures then lock.
func TestLockoutCountsAttemptsInFlight(t *testing.T) {
	l, _ := testLockout(0)
	s := lockoutSnap(3, 0)
	a := netip.MustParseAddr("192.0.2.1")
	var inFlight []attempt
	for i := range 3 {
		at, sc := l.begin(a, "alice", s)
		if sc != lockNone {
			t.Fatalf("attempt %d in flight: %v", i, sc)
		}
		inFlight = append(inFlight, at)
	}
	if _, sc := l.begin(a, "alice", s); sc != lockByPair {
		t.Fatalf("a fourth attempt while three are in flight: %v, want refused", sc)
	}
	l.end(inFlight[0], s, true)
	at, sc := l.begin(a, "alice", s)
	if sc != lockNone {
		t.Fatalf("after one of them succeeded: %v", sc)
	}
	l.end(inFlight[1], s, false)
	l.end(inFlight[2], s, false)
	if lp, _ := l.end(at, s, false); !lp {
		t.Fatal("the third failure did not lock")
	}
	if _, sc := l.begin(a, "alice", s); sc != lockByPair {
		t.Fatalf("after three failures: %v, want locked", sc)
	}
}

// A success clears its own pair only: the address's count of failures stays.
func TestLockoutSuccessKeepsAddressCount(t *testing.T) {
	l, _ := testLockout(0)
	s := lockoutSnap(10, 5)
	a := netip.MustParseAddr("192.0.2.2")
	for i := range 4 {
		failOnce(l, a, "user"+strconv.Itoa(i), s)
		if sc := succeedOnce(l, a, "mine", s); sc != lockNone {
			t.Fatalf("own login %d: %v", i, sc)
		}
	}
	if st := l.status(a, "mine", s); st.AddressFailures != 4 || st.PairFailures != 0 {
		t.Fatalf("after 4 failures and 4 successes: %+v", st)
	}
	if sc := failOnce(l, a, "user9", s); sc != lockNone {
		t.Fatalf("fifth failure: %v", sc)
	}
	if sc := succeedOnce(l, a, "mine", s); sc != lockByAddress {
		t.Fatalf("own login after the address threshold: %v, want the address locked", sc)
	}
}

// A flood of distinct addresses and user names cannot grow the tables past their bounds; a lock in
// force survives the flood and the sweeps; idle entries make room again once their window passed.
func TestLockoutBoundedUnderFlood(t *testing.T) {
	const limit = 2000
	l, clock := testLockout(limit)
	s := lockoutSnap(3, 100)
	victim := netip.MustParseAddr("198.51.100.9")
	for range 3 {
		failOnce(l, victim, "alice", s)
	}
	base := netip.MustParseAddr("2001:db8::").As16()
	for i := range 3 * limit {
		b := base
		b[12], b[13], b[14], b[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		failOnce(l, netip.AddrFrom16(b), "u"+strconv.Itoa(i%7), s)
		if i%500 == 0 {
			clock.t = clock.t.Add(2 * time.Second) // sweeps may run; nothing is idle yet
		}
	}
	flooder := netip.MustParseAddr("203.0.113.1")
	for i := range 3 * limit {
		failOnce(l, flooder, "name"+strconv.Itoa(i), lockoutSnap(3, 0))
	}
	if len(l.pairs) > limit || len(l.addrs) > limit {
		t.Fatalf("tables grew past their bounds: %d pairs, %d addresses", len(l.pairs), len(l.addrs))
	}
	if sc := failOnce(l, victim, "alice", s); sc != lockByPair {
		t.Fatalf("the victim's lock after the flood: %v, want it in force", sc)
	}
	clock.t = clock.t.Add(2 * time.Minute)
	fresh := netip.MustParseAddr("198.51.100.10")
	failOnce(l, fresh, "bob", s)
	if st := l.status(fresh, "bob", s); st.PairFailures != 1 || st.AddressFailures != 1 {
		t.Fatalf("a new address once the flood's window passed: %+v, want it tracked", st)
	}
	if sc := failOnce(l, victim, "alice", s); sc != lockByPair {
		t.Fatalf("the victim's lock after the sweep: %v, want it in force", sc)
	}
}

// An attempt that found its table full is not counted, and its end touches no count another attempt
// of the same key made once there was room.
func TestLockoutUntrackedAttemptEndsCleanly(t *testing.T) {
	l, clock := testLockout(1)
	s := lockoutSnap(3, 0)
	a := netip.MustParseAddr("192.0.2.3")
	failOnce(l, a, "filler", s)
	untracked, _ := l.begin(a, "alice", s)
	if untracked.pair != nil {
		t.Fatal("an attempt was tracked in a full table")
	}
	clock.t = clock.t.Add(2 * time.Minute) // the filler is idle: the next full table is swept
	tracked, _ := l.begin(a, "alice", s)
	if tracked.pair == nil {
		t.Fatal("no room after the sweep")
	}
	l.end(untracked, s, false)
	if st := l.status(a, "alice", s); st.PairFailures != 0 || tracked.pair.pending != 1 {
		t.Fatalf("after the untracked attempt failed: %+v, pending %d", st, tracked.pair.pending)
	}
	l.end(tracked, s, false)
	if st := l.status(a, "alice", s); st.PairFailures != 1 {
		t.Fatalf("after the tracked attempt failed: %+v", st)
	}
}

// An IPv6 client is counted by its /64: rotating through its addresses neither escapes a pair's lock
// nor the address threshold, while another /64 and IPv4 clients are counted apart. An IPv4-mapped
// address is its IPv4 address.
func TestLockoutCountsIPv6ByPrefix(t *testing.T) {
	l, _ := testLockout(0)
	s := lockoutSnap(3, 10)
	in := func(i int) netip.Addr { return netip.MustParseAddr("fd01::" + strconv.FormatInt(int64(i), 16)) }
	for i := range 3 {
		if sc := failOnce(l, in(i+1), "carol", s); sc != lockNone {
			t.Fatalf("failure %d: %v", i+1, sc)
		}
	}
	if sc := succeedOnce(l, in(0x9999), "carol", s); sc != lockByPair {
		t.Errorf("carol from another address of the /64: %v, want the pair locked", sc)
	}
	if sc := succeedOnce(l, netip.MustParseAddr("fd01:0:0:1::1"), "carol", s); sc != lockNone {
		t.Errorf("carol from the next /64: %v", sc)
	}
	for i := range 7 { // two guesses an address, names sprayed: the /64's count reaches 10
		failOnce(l, in(0x100+i), "user"+strconv.Itoa(i), s)
	}
	if sc := succeedOnce(l, in(0x200), "dave", s); sc != lockByAddress {
		t.Errorf("after 10 failures across the /64: %v, want it locked", sc)
	}
	if st := l.status(in(0xabc), "dave", s); st.AddressUntil.IsZero() {
		t.Errorf("status from the /64: %+v, want it locked", st)
	}
	v4 := netip.MustParseAddr("192.0.2.7")
	for range 3 {
		failOnce(l, netip.AddrFrom16(v4.As16()), "erin", s)
	}
	if sc := succeedOnce(l, v4, "erin", s); sc != lockByPair {
		t.Errorf("erin from the IPv4 address after 3 failures from its mapped form: %v", sc)
	}
}
