package gateway

import (
	"testing"
)

// BenchmarkParkCandidates is one sweep's pass over 1,000 awake sessions. Parked sessions are not in the
// set, so this is what a sweep costs however many of them there are.
func BenchmarkParkCandidates(b *testing.B) {
	var in Instance
	for range 1000 {
		in.awake.add(&session{})
	}
	var idle []*session
	b.ReportAllocs()
	for b.Loop() {
		idle = in.parkCandidates(idle[:0])
	}
	if len(idle) != 1000 {
		b.Fatalf("%d candidates, want 1000", len(idle))
	}
}

// A session that may never park (a dedicated lane, TLS, …) leaves the awake set at the first sweep that
// sees it; the others stay, parkable or not at the moment.
func TestParkCandidatesDropNeverParking(t *testing.T) {
	var in Instance
	never, busy, idle := &session{}, &session{}, &session{}
	never.park.never.Store(true)
	busy.owed.Store(1)
	for _, s := range []*session{never, busy, idle} {
		in.awake.add(s)
	}
	for range 2 {
		if got := in.parkCandidates(nil); len(got) != 1 || got[0] != idle {
			t.Fatalf("candidates %v, want only the idle session %p", got, idle)
		}
		if _, ok := in.awake.m[never]; ok || len(in.awake.m) != 2 {
			t.Fatalf("awake set has %d sessions (never-parking one in it: %v), want the other 2", len(in.awake.m), ok)
		}
	}
}
