package gateway

import (
	"testing"
)

// BenchmarkParkCandidates is one sweep's pass with 100,000 sessions, 1,000 of them awake: the sweeper
// looks at the awake ones alone, every parkSweep.
func BenchmarkParkCandidates(b *testing.B) {
	in := &Instance{sessions: make(map[*session]struct{})}
	for i := range 100_000 {
		s := &session{}
		in.sessions[s] = struct{}{}
		if i%100 == 0 {
			in.awake.add(s)
		} else {
			s.park.parked.Store(true)
		}
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
