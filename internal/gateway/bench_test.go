package gateway_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// benchRelay sends b.N commands through the gateway to redis-server, depth at a time in one write, and
// reads every reply. Allocations reported include the client side's (none per command) and moat's.
func benchRelay(b *testing.B, depth int) {
	benchRelayAs(b, depth, allowLoopback(b))
}

// benchRelayAs is benchRelay under snapshot snap, after the commands first (each answered +OK: AUTH,
// CLIENT SETNAME).
func benchRelayAs(b *testing.B, depth int, snap *snapshot.Snapshot, first ...[]string) {
	e := newEnv(b, snap)
	c := dial(b, e.addr, "127.0.0.2")
	for _, f := range first {
		if got := c.do(f...); got != "+OK\r\n" {
			b.Fatalf("%s: %q", f[0], got)
		}
	}
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

// BenchmarkRelaySingleMoved and BenchmarkRelayPipeline16Moved are the same for a client that CLIENT
// SETNAME moved to a dedicated lane: each batch yields once and looks at the move gate (ready.go).
func BenchmarkRelaySingleMoved(b *testing.B) {
	benchRelayAs(b, 1, allowLoopback(b), []string{"CLIENT", "SETNAME", "bench"})
}

func BenchmarkRelayPipeline16Moved(b *testing.B) {
	benchRelayAs(b, 16, allowLoopback(b), []string{"CLIENT", "SETNAME", "bench"})
}

// aclBenchUser has 20 key patterns and 5 categories (as acl.BenchmarkCheck's user), and matches
// bench:key with its last pattern.
var aclBenchUser = func() []string {
	u := []string{"bench", "on", ">pw", "+@read", "+@write", "+@string", "+@hash", "+@connection"}
	for i := range 19 {
		u = append(u, "~tenant"+strings.Repeat("x", i)+":*")
	}
	return append(u, "~bench:*")
}()

// BenchmarkRelaySingleACL and BenchmarkRelayPipeline16ACL are the same with every command judged for
// that user: the cost of the ACL check on the hot path.
func BenchmarkRelaySingleACL(b *testing.B) {
	benchRelayAs(b, 1, withUsers(b, allowLoopback(b), [][]string{aclBenchUser}), []string{"AUTH", "bench", "pw"})
}

func BenchmarkRelayPipeline16ACL(b *testing.B) {
	benchRelayAs(b, 16, withUsers(b, allowLoopback(b), [][]string{aclBenchUser}), []string{"AUTH", "bench", "pw"})
}

// benchRelayValue GETs a value of size bytes through the gateway b.N times, one at a time: the cost of
// relaying long replies (throughput in MB/s).
func benchRelayValue(b *testing.B, size int) {
	if testing.Short() && size > 1<<20 {
		b.Skip("values over 1 MiB: run without -short")
	}
	e := newEnv(b, allowLoopback(b))
	c := dial(b, e.addr, "127.0.0.2")
	setValue(b, e, "bench:big", size)
	one := []byte(cmd("GET", "bench:big"))
	bw := bufio.NewWriter(io.Discard)
	var info resp.ReplyInfo
	c.c.SetDeadline(time.Now().Add(5 * time.Minute))

	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if _, err := c.c.Write(one); err != nil {
			b.Fatalf("write: %v", err)
		}
		if err := resp.CopyReply(bw, c.br, &info); err != nil {
			b.Fatalf("read reply: %v", err)
		}
		if info.Type != '$' {
			b.Fatalf("reply type %q, want a bulk string", info.Type)
		}
	}
	b.StopTimer()
}

// BenchmarkRelayValue1MiB and BenchmarkRelayValue64MiB relay long replies to a client that reads at
// once.
func BenchmarkRelayValue1MiB(b *testing.B)  { benchRelayValue(b, 1<<20) }
func BenchmarkRelayValue64MiB(b *testing.B) { benchRelayValue(b, 64<<20) }
