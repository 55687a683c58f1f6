package gateway_test

import (
	"net"
	"testing"
	"time"
)

// BenchmarkAcceptPlain is a client's whole life on a plain listener: connect from an allowed address,
// PING through to redis-server, hang up (redis-benchmark -k 0). It measures the accept path, the session
// start and the backend dial together; allocations are the client's and moat's.
func BenchmarkAcceptPlain(b *testing.B) {
	e := newEnv(b, allowLoopback(b))
	ping := []byte(cmd("PING"))
	buf := make([]byte, 64)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		c.SetDeadline(time.Now().Add(replyTimeout))
		if _, err := c.Write(ping); err != nil {
			b.Fatalf("write: %v", err)
		}
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
			b.Fatalf("PING: %q %v", buf[:n], err)
		}
		c.Close()
	}
}
