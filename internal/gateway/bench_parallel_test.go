package gateway_test

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRelayMovedParallel is 50 clients on dedicated lanes (CLIENT SETNAME moved them) beside shared
// lanes, each sending GET and reading its reply: what a turn in the move gate (ready.go) costs when every
// dedicated batch takes one, and the batches of many clients contend.
func BenchmarkRelayMovedParallel(b *testing.B) {
	benchRelayParallel(b, []string{"CLIENT", "SETNAME", "bench"})
}

// BenchmarkRelaySharedParallel is the same on shared lanes.
func BenchmarkRelaySharedParallel(b *testing.B) { benchRelayParallel(b, nil) }

func benchRelayParallel(b *testing.B, first []string) {
	e := newEnv(b, allowLoopback(b))
	const clients = 50
	var next atomic.Int64
	c0 := dial(b, e.addr, "127.0.0.2")
	if got := c0.do("SET", "bench:key", strings.Repeat("x", 64)); got != "+OK\r\n" {
		b.Fatalf("SET: %q", got)
	}
	want := bulk(strings.Repeat("x", 64))
	b.ReportAllocs()
	b.SetParallelism(clients / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := dial(b, e.addr, "127.0.1."+strconv.Itoa(int(next.Add(1))))
		c.c.SetDeadline(time.Now().Add(5 * time.Minute))
		if first != nil {
			if got := c.do(first...); got != "+OK\r\n" {
				b.Errorf("%s: %q", first[0], got)
				return
			}
		}
		for pb.Next() {
			if got := c.do("GET", "bench:key"); got != want {
				b.Errorf("GET: %q", got)
				return
			}
		}
	})
}
