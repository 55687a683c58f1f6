package gateway_test

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// refusedFlood opens n connections at once from 127.0.0.10 and up (200 addresses) and returns, for
// each, what it read before moat closed it, or the error. replied counts the connections that read
// want (the refusal) and the close.
func refusedFlood(addr string, n int, want string, replied *atomic.Int64) []string {
	out := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialErr(addr, floodAddr(i))
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
			if out[i] == want {
				replied.Add(1)
			}
		}()
	}
	wg.Wait()
	return out
}

// floodAddr is the address of a flood's i-th connection.
func floodAddr(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i%200) }

// refusalBurst and refusalRate are refuse.go's pace: refusals beyond a burst of 100 wait their
// turn, 500 a second.
const (
	refusalBurst = 100
	refusalRate  = 500
)

// pacedEnv serves the loopback /24, each address with one connection at most (maxclients-per-ip), with
// the refusals paced on a test clock, and holds the flood addresses' one connection each: a flood is
// then refused for maxclients, a refusal of an accepted net.Conn, which is paced (an address the
// whitelist refuses is refused at accept, at once, on Linux: TestAddressRefusalsAreNotPaced).
func pacedEnv(t *testing.T) (*env, *testClock) {
	clock := newTestClock()
	snap := compile([]allowlist.Group{group(t, "default", "127.0.0.0/24")})
	snap.MaxClientsPerIP = 1
	e := newEnv(t, snap, withClock(clock))
	for i := range 200 {
		expectAdmitted(t, e.addr, floodAddr(i))
	}
	return e, clock
}

// waitPaced waits until the refusals of a flood of n connections on a clock that stands still are
// where the pace puts them: the burst answered, the rest waiting their turn.
func waitPaced(t *testing.T, e *env, n int, replied *atomic.Int64) {
	t.Helper()
	if !eventually(replyTimeout, func() bool {
		return replied.Load() == refusalBurst &&
			e.counter("moat_refusals_paced_total", map[string]string{"instance": "r-test"}) == float64(n-refusalBurst)
	}) {
		t.Fatalf("flood of %d on a clock standing still: %d answered, %v paced; want %d answered, the rest paced",
			n, replied.Load(), e.counter("moat_refusals_paced_total", map[string]string{"instance": "r-test"}), refusalBurst)
	}
}

// A connect-and-refuse flood of connections refused after accept (here for maxclients-per-ip) is paced
// (beyond 500 refusals a second its connections wait their turn) but every refused client still gets
// its reply, and clients being served, old and new, are not held up.
func TestRefusalFloodIsPaced(t *testing.T) {
	t.Parallel()
	e, clock := pacedEnv(t)
	served := expectAdmitted(t, e.addr, "127.0.0.2")
	var replied atomic.Int64
	done := make(chan []string)
	go func() { done <- refusedFlood(e.addr, 800, maxClientsText, &replied) }()
	waitPaced(t, e, 800, &replied)
	// While refusals wait (the clock stands still), an established client and a new one are served.
	if got := served.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING during the flood: %q", got)
	}
	expectAdmitted(t, e.addr, "127.0.0.3")
	// Each 100 ms on the clock, 50 more have their turn, and no more.
	want := int64(refusalBurst)
	for want < 800 {
		clock.Advance(100 * time.Millisecond)
		want += refusalRate / 10
		after := time.Duration(want-refusalBurst) * time.Second / refusalRate
		if !eventually(replyTimeout, func() bool { return replied.Load() >= want }) {
			t.Fatalf("%d refusals answered %v after the burst, want %d", replied.Load(), after, want)
		}
		time.Sleep(clockSettle)
		if got := replied.Load(); got != want {
			t.Fatalf("%d refusals answered %v after the burst, want %d", got, after, want)
		}
	}
	for i, got := range <-done {
		if got != maxClientsText {
			t.Fatalf("refused connection %d read %q, want %q then the close", i, got, maxClientsText)
		}
	}
	if got := e.refused("max_clients"); got != 800 {
		t.Errorf("moat_connections_refused_total{reason=max_clients} = %v, want 800", got)
	}
}

// Closing the instance refuses what waits at once: on a clock that stands still, nothing but the
// close lets the waiting refusals go (else their reads time out).
func TestRefusalsWaitingAtClose(t *testing.T) {
	t.Parallel()
	e, _ := pacedEnv(t)
	var replied atomic.Int64
	done := make(chan []string)
	go func() { done <- refusedFlood(e.addr, 600, maxClientsText, &replied) }()
	waitPaced(t, e, 600, &replied)
	e.gw.Close()
	for i, got := range <-done {
		if got != maxClientsText {
			t.Fatalf("connection %d read %q, want %q then the close", i, got, maxClientsText)
		}
	}
}
