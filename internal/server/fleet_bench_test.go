package server

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/etcdtest"
)

// BenchmarkFleetPropagation measures how soon a whitelist change made through one gateway's API is
// enforced by another: 3 gateways in this process on a 3-member etcd cluster of Debian's etcd on
// loopback. Each iteration adds or removes 127.0.0.9 through gateway 1's API (a signed HTTP call) and,
// from the moment the call returns, watches gateway 3's published snapshot until it admits (or refuses)
// the address. It reports the latencies' p50, p99 and max in ms (the target: p50 ≤ 20, p99 ≤
// 100). Run: go test -run '^$' -bench FleetPropagation -benchtime 300x ./internal/server/
func BenchmarkFleetPropagation(b *testing.B) {
	c := etcdtest.StartCluster(b, 3)
	f := startFleet(b, 3, c.Endpoints())
	id := f.instance(b)
	addr := netip.MustParseAddr("127.0.0.9")
	far := f.gws[2]
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		admit := i%2 == 0
		mode := "Cover"
		if !admit {
			mode = "Delete"
		}
		if err := f.whitelist(b, 0, id, "bench", "127.0.0.9", mode); err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		for far.Gateway(id).Snapshot().Allow.Allows(addr) != admit {
			if time.Since(returned) > 10*time.Second {
				b.Fatalf("iteration %d: gateway 3 did not follow within 10 s", i)
			}
			time.Sleep(20 * time.Microsecond)
		}
		lat = append(lat, time.Since(returned))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
