package gateway_test

import (
	"testing"
	"time"
)

// Sessions that may never park (park.go): TLS, a PROXY header from a trusted load balancer, an instance
// with an idle timeout. Each test idles such a session past the time to park beside a plain session of
// the same instance, which does park.

// idlePastParking is how long these tests leave a session idle: the 2 s after which an idle session is
// asked to park, and three of the sweeper's 1 s periods.
const idlePastParking = 5 * time.Second

// plainIdle admits a plain session from 127.0.0.3 that sets the key "plain" and goes idle.
func plainIdle(t *testing.T, e *env) *client {
	t.Helper()
	c := expectAdmitted(t, e.addr, "127.0.0.3")
	mustDo(t, c, "+OK\r\n", "SET", "plain", "p")
	return c
}

// expectNeverParks checks that c, a session of e on a shared lane, does not park: c sets a key and goes
// idle, and so, after it, does a plain session. Once idlePastParking has passed, the plain session is
// parked and nothing else is (moat_connections_parked never above 1 meanwhile), and once the plain
// client has sent and had its reply, nothing is parked — a parked socket leaves the waiting room only as
// its client sends or hangs up, so c never parked. None moved to a dedicated lane, where no session
// parks. c then still answers: the key it set, and PING.
func expectNeverParks(t *testing.T, e *env, c *client) {
	t.Helper()
	mustDo(t, c, "+OK\r\n", "SET", "k", "v")
	since := time.Now()
	plain := plainIdle(t, e)
	for end := since.Add(idlePastParking); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got := e.parked(); got > 1 {
			t.Fatalf("moat_connections_parked = %v, want at most 1 (the plain session)", got)
		}
	}
	waitParked(t, e, 1)
	mustDo(t, plain, "$1\r\np\r\n", "GET", "plain")
	if got := e.parked(); got != 0 {
		t.Fatalf("moat_connections_parked = %v once the plain session woke, want 0: the other session parked", got)
	}
	wantMoved(t, e, 0)
	mustDo(t, c, "$1\r\nv\r\n", "GET", "k")
	mustDo(t, c, "+PONG\r\n", "PING")
}

// A TLS session never parks (the waiting room reads plain TCP); a plain one beside it does.
func TestTLSSessionNeverParks(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	f := newTLSFixture(t)
	e := newEnv(t, allowLoopback(t), withTLS(f.source(t, f.options("no"))))
	c, err := dialTLS(t, e.tlsAddr(), "127.0.0.2", f.clientConfig(nil))
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	expectNeverParks(t, e, c)
}

// A session that arrived with a PROXY header (v1 or v2) from a trusted load balancer never parks; a
// plain one beside it, from an address not trusted as a balancer, does.
func TestProxiedSessionNeverParks(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	for _, v := range []struct {
		name   string
		header func(t *testing.T) string
	}{
		{"v1", func(*testing.T) string { return headerV1("10.1.2.3", 40001) }},
		{"v2", func(t *testing.T) string { return headerV2(t, "10.1.2.3", 40001) }},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, proxySnap(t))
			c := dial(t, e.addr, lb)
			c.send(v.header(t))
			expectNeverParks(t, e, c)
		})
	}
}

// A session of an instance with an idle timeout never parks (the waiting room keeps no time); one
// admitted after the timeout is cleared does. The first, idle longer than the timeout afterwards, is
// closed as Redis closes it.
func TestIdleTimeoutSessionNeverParks(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	const timeout = time.Minute // on the test clock, which only the test moves
	e, clock := idleEnv(t, timeout)
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	// No timeout for connections from now on; c, admitted with it, keeps it (Publish, W9).
	e.gw.Publish(allowLoopback(t))
	expectNeverParks(t, e, c)
	expectIdleClose(t, c, clock, timeout)
}
