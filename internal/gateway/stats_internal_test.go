package gateway

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The latency buckets' upper bounds, in µs, are where Redis 7.0.15's LATENCY HISTOGRAM reads its HDR
// histogram: 1, 2, 4, 8, 16, 33 … as redis-server shows them (DEBUG SLEEP 0.0001 … 0.1 gave 264, 528,
// 2113, 4227, 33816, 135266).
func TestHistogramBucketsAreRedis(t *testing.T) {
	want := []int64{1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
		270532, 541065, 1082130}
	var got []int64
	for k := range histBuckets {
		got = append(got, histTop(k)/1000)
	}
	if !slices.Equal(got, want) {
		t.Errorf("bucket bounds (µs): %v, want %v", got, want)
	}
}

// histBucket puts a duration in the first bucket whose upper bound holds it (a linear oracle beside
// it), on generated durations with a fixed seed and at every bound.
func TestHistogramBucketOfDuration(t *testing.T) {
	oracle := func(ns int64) int {
		k := 0
		for k < histBuckets-1 && ns > histTop(k) {
			k++
		}
		return k
	}
	r := rand.New(rand.NewPCG(1, 2))
	var ns []int64
	for k := range histBuckets {
		ns = append(ns, histTop(k)-1, histTop(k), histTop(k)+1)
	}
	for range 10000 {
		ns = append(ns, r.Int64N(int64(2*time.Second)))
	}
	for _, n := range append(ns, 0, 1) {
		if got, want := histBucket(n), oracle(n); got != want {
			t.Fatalf("histBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

// A percentile is the bound of the bucket where the count reaches it (at least one call), the lowest
// value of that bucket for p0, as Redis's hdr_value_at_percentile.
func TestHistogramPercentiles(t *testing.T) {
	var c cmdCounts
	c.hist[0], c.hist[3], c.hist[10] = 50, 49, 1 // 100 calls
	for _, tc := range []struct {
		p    float64
		want int64
	}{{0, 0}, {1, histTop(0)}, {50, histTop(0)}, {50.5, histTop(3)}, {99, histTop(3)}, {99.9, histTop(10)}, {100, histTop(10)}} {
		if got := c.percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %d, want %d", tc.p, got, tc.want)
		}
	}
	c = cmdCounts{}
	c.hist[4] = 1
	if got, want := c.percentile(0), histTop(3)+1; got != want {
		t.Errorf("p0 of one call = %d, want %d", got, want)
	}
}

// Counting a call moat answered, with an error reply, allocates nothing once its command and error
// prefix were counted before.
func BenchmarkNoteCall(b *testing.B) {
	_, s := decideBench(b)
	e := s.in.cmds.get("auth")
	reply := []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	s.in.noteCall(e, time.Microsecond, reply)
	b.ReportAllocs()
	for b.Loop() {
		s.in.noteCall(e, 3*time.Microsecond, reply)
	}
}
