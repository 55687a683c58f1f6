package gateway_test

import (
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
