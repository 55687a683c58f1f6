package gateway_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/gateway"
)

// testClock is a clock a test moves by hand (gateway.Config.Now), so that what time decides — the
// lockout's windows and durations — is tested without sleeping. Safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now is the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withClock runs the gateway on c.
func withClock(c *testClock) envOption {
	return func(cfg *gateway.Config) { cfg.Now = c.Now }
}

// lockoutEnv serves aclUsers from every loopback address with the brute-force lockout at these
// settings (per pair, per address), on a test clock.
func lockoutEnv(t *testing.T, pair, address int, window, duration time.Duration) (*env, *testClock) {
	t.Helper()
	s := withUsers(t, allowLoopback(t), aclUsers)
	s.AuthLockoutThreshold, s.AuthLockoutAddressThreshold = pair, address
	s.AuthLockoutWindow, s.AuthLockoutDuration = window, duration
	clock := newTestClock()
	return newEnv(t, s, withClock(clock)), clock
}

// guess sends n wrong passwords for user on c in one pipeline; each must get the wrong-password reply.
func guess(t *testing.T, c *client, user string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		b.WriteString(cmd("AUTH", user, "guess"+strconv.Itoa(i)))
	}
	c.send(b.String())
	for i := range n {
		if got := c.readReply(); got != wrongPass {
			t.Fatalf("wrong password %d for %s: %q", i, user, got)
		}
	}
}

// idleEnv serves every loopback address with the idle timeout d on a test clock.
func idleEnv(t *testing.T, d time.Duration) (*env, *testClock) {
	t.Helper()
	s := allowLoopback(t)
	s.IdleTimeout = d
	clock := newTestClock()
	return newEnv(t, s, withClock(clock)), clock
}

// clockSettle is real time long enough for several of the gateway's reads of an injected clock.
const clockSettle = 20 * time.Millisecond

// passIdle moves clock by n steps of d, each followed by clockSettle, so the gateway looks at it
// along the way.
func passIdle(clock *testClock, n int, d time.Duration) {
	for range n {
		clock.Advance(d)
		time.Sleep(clockSettle)
	}
}

// expectIdleClose checks the idle timeout on c, idle from now on: still open when clock has moved
// the timeout less a millisecond, closed by moat once it has moved the whole timeout. The gateway
// reads the clock for a client's last activity after the reply is written (and a new session's when
// it starts reading), which can be after the test moved it: if c is still open a second after the
// timeout, the clock moves one more timeout and c must close then.
func expectIdleClose(t *testing.T, c *client, clock *testClock, timeout time.Duration) {
	t.Helper()
	time.Sleep(clockSettle) // most often long enough for the gateway to have read the clock for c
	clock.Advance(timeout - time.Millisecond)
	c.expectNothing(clockSettle)
	clock.Advance(time.Millisecond)
	c.c.SetReadDeadline(time.Now().Add(time.Second))
	_, err := c.br.ReadByte()
	if errors.Is(err, io.EOF) {
		return
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("want EOF after the idle timeout, got %v", err)
	}
	clock.Advance(timeout)
	c.expectEOF(replyTimeout)
}
