package gateway_test

import (
	"net/netip"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/gateway"
)

// API3 for the console: every refused connection is in the instance's activity report with its address
// and reason, counted like the metric, and admitted connections are not.
func TestRefusalsAreRecordedForTheConsole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2")}))
	expectRefused(t, e.addr, "127.0.0.3")
	expectRefused(t, e.addr, "127.0.0.3")
	expectRefused(t, e.addr, "127.0.0.4")
	expectAdmitted(t, e.addr, "127.0.0.2").c.Close()

	r := e.gw.Activity()
	got := map[netip.Addr]uint64{}
	for _, x := range r.Refusals {
		if x.Reason != gateway.ReasonIllegalAddress {
			t.Errorf("refusal %+v: reason %q, want %q", x, x.Reason, gateway.ReasonIllegalAddress)
		}
		got[x.Addr] = x.Count
	}
	want := map[netip.Addr]uint64{netip.MustParseAddr("127.0.0.3"): 2, netip.MustParseAddr("127.0.0.4"): 1}
	if len(got) != len(want) || got[netip.MustParseAddr("127.0.0.3")] != 2 || got[netip.MustParseAddr("127.0.0.4")] != 1 {
		t.Errorf("refusals = %v, want %v", got, want)
	}
	if r.Refusals[0].Addr != netip.MustParseAddr("127.0.0.4") {
		t.Errorf("most recent refusal first: got %s, want 127.0.0.4", r.Refusals[0].Addr)
	}
	if r.Total != 3 || r.Timeline[len(r.Timeline)-1] != 3 || float64(r.Total) != e.refused("illegal_address") {
		t.Errorf("Total %d, current minute %d, metric %v; want 3 each", r.Total, r.Timeline[len(r.Timeline)-1], e.refused("illegal_address"))
	}
}
