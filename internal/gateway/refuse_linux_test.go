package gateway_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// On Linux an address the whitelist refuses is refused at accept, at once, whatever the pace: on a clock
// that stands still, a flood of 800 is answered whole, nothing is paced, every refusal is counted, and
// clients being served, old and new, go on.
func TestAddressRefusalsAreNotPaced(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2,127.0.0.3")}), withClock(clock))
	served := expectAdmitted(t, e.addr, "127.0.0.2")
	var replied atomic.Int64
	for i, got := range refusedFlood(e.addr, 800, illegalAddress, &replied) {
		if got != illegalAddress {
			t.Fatalf("refused connection %d read %q, want %q then the close", i, got, illegalAddress)
		}
	}
	if got := e.counter("moat_refusals_paced_total", map[string]string{"instance": "r-test"}); got != 0 {
		t.Errorf("moat_refusals_paced_total = %v, want 0", got)
	}
	if got := e.refused("illegal_address"); got != 800 {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want 800", got)
	}
	if got := served.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after the flood: %q", got)
	}
	expectAdmitted(t, e.addr, "127.0.0.3")
}

// BenchmarkRefusedConnection is a refused client's whole life: connect from an address the whitelist
// refuses, read "-ERR illegal address" and the close. Client and moat together; compare with
// BenchmarkAcceptPlain.
func BenchmarkRefusedConnection(b *testing.B) {
	e := newEnv(b, compile([]allowlist.Group{group(b, "default", "127.0.0.2")}))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.50")}}
	buf := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		c.SetDeadline(time.Now().Add(replyTimeout))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != illegalAddress {
			b.Fatalf("read %q, %v; want %q", buf[:n], err, illegalAddress)
		}
		c.Close()
	}
}
