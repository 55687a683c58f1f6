package redistest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Front is a TCP front whose target can change between connections, as a DNS name or a load balancer
// does on failover: each accepted connection is piped to the target current at accept time. Safe for
// concurrent use.
type Front struct {
	Addr   string // "127.0.0.1:port" to connect to
	target atomic.Value
}

// StartFront listens on 127.0.0.1 and forwards to target until the test ends.
func StartFront(t testing.TB, target string) *Front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: front: %v", err)
	}
	f := &Front{Addr: ln.Addr().String()}
	f.target.Store(target)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", f.target.Load().(string))
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return f
}

// Switch makes new connections go to target; connections already made keep theirs.
func (f *Front) Switch(target string) { f.target.Store(target) }
