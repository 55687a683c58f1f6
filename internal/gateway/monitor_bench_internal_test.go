package gateway

import (
	"hash/maphash"
	"net/netip"
	"strconv"
	"testing"

	"github.com/moat-dev/moat/internal/resp"
)

// BenchmarkMonitorRecord is what a shared lane spends per batch of 16 SETs while a client monitors
// (laneRing.record); nothing is spent while nobody does (lane.submit's one atomic load).
func BenchmarkMonitorRecord(b *testing.B) {
	cmds := make([]resp.Command, 16)
	acts := make([]act, len(cmds))
	for i := range cmds {
		raw := resp.AppendArray(nil, 3)
		for _, a := range []string{"SET", "key:" + strconv.Itoa(i), "value"} {
			raw = resp.AppendBulk(raw, []byte(a))
		}
		cmds[i].Raw = raw
	}
	s := &session{}
	s.client.addrPort = netip.MustParseAddrPort("127.0.0.3:50312")
	seed := maphash.MakeSeed()
	var r laneRing
	b.ReportAllocs()
	for b.Loop() {
		r.record(seed, s, cmds, acts)
	}
}
