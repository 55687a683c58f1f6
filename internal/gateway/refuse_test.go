package gateway_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// refusedFlood opens n connections at once from refused addresses (127.0.0.10 and up) and returns,
// for each, what it read before moat closed it, or the error.
func refusedFlood(addr string, n int) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialErr(addr, fmt.Sprintf("127.0.0.%d", 10+i%200))
			if err != nil {
				out[i] = "dial: " + err.Error()
				return
			}
			defer c.c.Close()
			c.c.SetReadDeadline(time.Now().Add(15 * time.Second))
			b, err := io.ReadAll(c.br)
			if err != nil {
				out[i] = "read: " + err.Error()
				return
			}
			out[i] = string(b)
		}()
	}
	wg.Wait()
	return out
}

// A connect-and-refuse flood is paced (beyond 500 refusals a second its connections wait their turn)
// but every refused client still gets "-ERR illegal address", and clients being served, old and new,
// are not held up.
func TestRefusalFloodIsPaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2,127.0.0.3")}))
	served := expectAdmitted(t, e.addr, "127.0.0.2")
	done := make(chan []string)
	go func() { done <- refusedFlood(e.addr, 800) }()
	if !eventually(5*time.Second, func() bool {
		return e.counter("moat_refusals_paced_total", map[string]string{"instance": "r-test"}) > 0
	}) {
		t.Fatal("moat_refusals_paced_total stayed 0 under a flood of 800 connections")
	}
	// While refusals wait, an established client and a new one are served at once.
	start := time.Now()
	if got := served.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING during the flood: %q", got)
	}
	expectAdmitted(t, e.addr, "127.0.0.3")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("serving during the flood took %v", d)
	}
	for i, got := range <-done {
		if got != illegalAddress {
			t.Fatalf("refused connection %d read %q, want %q then the close", i, got, illegalAddress)
		}
	}
	if got := e.refused("illegal_address"); got != 800 {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want 800", got)
	}
}

// Closing the instance refuses what waits at once.
func TestRefusalsWaitingAtClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2")}))
	done := make(chan []string)
	go func() { done <- refusedFlood(e.addr, 600) }()
	if !eventually(5*time.Second, func() bool {
		return e.counter("moat_refusals_paced_total", map[string]string{"instance": "r-test"}) > 0
	}) {
		t.Fatal("no refusal was paced")
	}
	start := time.Now()
	e.gw.Close()
	for i, got := range <-done {
		// Connections still in the kernel's accept queue, or dialled after the listener closed, are
		// reset or refused by the kernel; every one moat accepted got its reply.
		if got != illegalAddress && !strings.HasPrefix(got, "dial:") && !strings.Contains(got, "connection reset") {
			t.Fatalf("connection %d read %q", i, got)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the waiting refusals took %v after Close", d)
	}
}
