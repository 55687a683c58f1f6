package gateway_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// benchRelay sends b.N commands through the gateway to redis-server, depth at a time in one write, and
// reads every reply. Allocations reported include the client side's (none per command) and moat's.
func benchRelay(b *testing.B, depth int) {
	e := newEnv(b, allowLoopback(b))
	c := dial(b, e.addr, "127.0.0.2")
	if got := c.do("SET", "bench:key", strings.Repeat("x", 64)); got != "+OK\r\n" {
		b.Fatalf("SET: %q", got)
	}
	one := []byte(cmd("GET", "bench:key"))
	batch := bytes.Repeat(one, depth)
	want := []byte(bulk(strings.Repeat("x", 64)))
	bw := bufio.NewWriter(io.Discard)
	var info resp.ReplyInfo
	c.c.SetDeadline(time.Now().Add(5 * time.Minute))

	b.ReportAllocs()
	b.SetBytes(int64(len(one) + len(want)))
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += depth {
		n := min(depth, b.N-sent)
		if _, err := c.c.Write(batch[:n*len(one)]); err != nil {
			b.Fatalf("write: %v", err)
		}
		for i := 0; i < n; i++ {
			if err := resp.CopyReply(bw, c.br, &info); err != nil {
				b.Fatalf("read reply: %v", err)
			}
			if info.Type != '$' {
				b.Fatalf("reply type %q, want a bulk string", info.Type)
			}
		}
	}
	b.StopTimer()
}

// BenchmarkRelaySingle is one command per round trip (redis-benchmark -P 1).
func BenchmarkRelaySingle(b *testing.B) { benchRelay(b, 1) }

// BenchmarkRelayPipeline16 is 16 commands per write (redis-benchmark -P 16).
func BenchmarkRelayPipeline16(b *testing.B) { benchRelay(b, 16) }
