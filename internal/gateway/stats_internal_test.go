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

// INFO's text with moat's figures: Clients' two fields; total_commands_processed and
// total_error_replies summed; a backend's errorstat and cmdstat line summed, moat's others added at the
// end of their section; latencystats lines added at the backend's percentiles; sections the reply
// lacks are not added, and a reply without any of them is unchanged.
func TestInfoEditorMergesStatistics(t *testing.T) {
	var set, auth, list cmdCounts
	set = cmdCounts{name: "set", rejected: 2}
	auth = cmdCounts{name: "auth", calls: 2, usec: 10, failed: 1}
	auth.hist[0], auth.hist[3] = 1, 1
	list = cmdCounts{name: "client|list", calls: 1, usec: 3}
	list.hist[2] = 1
	editor := func() *infoEditor {
		cmds := []cmdCounts{auth, list, set}
		return &infoEditor{connected: "7", maxClients: "100", cmds: cmds, used: make([]bool, len(cmds)),
			errors: map[string]int64{"ERR": 1, "NOPERM": 2}, errorsTotal: 3, calls: 3}
	}
	body := "# Clients\r\nconnected_clients:5\r\nmaxclients:10000\r\nblocked_clients:0\r\n\r\n" +
		"# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:10\r\ntotal_error_replies:2\r\n\r\n" +
		"# Errorstats\r\nerrorstat_ERR:count=2\r\n\r\n" +
		"# Commandstats\r\ncmdstat_set:calls=4,usec=8,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_get:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Latencystats\r\nlatency_percentiles_usec_set:p0=1.003,p100=2.007\r\n"
	want := "# Clients\r\nconnected_clients:7\r\nmaxclients:100\r\nblocked_clients:0\r\n\r\n" +
		"# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:13\r\ntotal_error_replies:5\r\n\r\n" +
		"# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_NOPERM:count=2\r\n\r\n" +
		"# Commandstats\r\ncmdstat_set:calls=4,usec=8,usec_per_call=2.00,rejected_calls=2,failed_calls=0\r\n" +
		"cmdstat_get:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_auth:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=1\r\n" +
		"cmdstat_client|list:calls=1,usec=3,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n\r\n" +
		"# Latencystats\r\nlatency_percentiles_usec_set:p0=1.003,p100=2.007\r\n" +
		"latency_percentiles_usec_auth:p0=0.000,p100=8.255\r\nlatency_percentiles_usec_client|list:p0=2.064,p100=4.127\r\n"
	for _, tc := range []struct{ body, want string }{
		{body, want},
		{"# Server\r\nredis_version:7.0.15\r\n", "# Server\r\nredis_version:7.0.15\r\n"},
		{"# Commandstats\r\n", "# Commandstats\r\ncmdstat_auth:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=1\r\n" +
			"cmdstat_client|list:calls=1,usec=3,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n" +
			"cmdstat_set:calls=0,usec=0,usec_per_call=0.00,rejected_calls=2,failed_calls=0\r\n"},
		{"# Latencystats\r\n", "# Latencystats\r\nlatency_percentiles_usec_auth:p50=1.031,p99=8.255,p99.9=8.255\r\n" +
			"latency_percentiles_usec_client|list:p50=4.127,p99=4.127,p99.9=4.127\r\n"},
	} {
		if got := string(editor().edit(nil, []byte(tc.body))); got != tc.want {
			t.Errorf("INFO %q:\ngot  %q\nwant %q", tc.body, got, tc.want)
		}
	}
}
