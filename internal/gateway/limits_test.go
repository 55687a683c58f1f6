package gateway_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// smallLimits is a snapshot admitting loopback with small protocol bounds.
func smallLimits(t *testing.T) *snapshot.Snapshot {
	s := allowLoopback(t)
	lim := resp.DefaultLimits()
	lim.MaxInline = 1024
	lim.MaxArgs = 8
	lim.MaxBulk = 1024
	s.Limits = lim
	return s
}

// Each protocol violation gets Redis 7.0's exact error text and the connection is closed; commands
// pipelined before it are answered first.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallLimits(t))
	cases := []struct {
		name string
		send string
		want string
	}{
		{"inline line too long", strings.Repeat("a", 2000), "-ERR Protocol error: too big inline request\r\n"},
		{"inline line too long with newline", "SET k " + strings.Repeat("v", 1100) + "\r\n", "-ERR Protocol error: too big inline request\r\n"},
		{"too many arguments", "*9\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"too many inline arguments", "a b c d e f g h i\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"multibulk count not a number", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"bulk too long", "*1\r\n$2000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"negative bulk length", "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"no bulk header", "*1\r\nx\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"unbalanced quotes", "SET k \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"quote not followed by space", "SET k \"abc\"d\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
	}
	refusals := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.addr, "127.0.0.2")
			c.send(tc.send)
			c.expect(tc.want)
			c.expectEOF(replyTimeout)
			refusals++

			// Pipelined after good commands: those are answered first, in order.
			c = dial(t, e.addr, "127.0.0.2")
			c.send("PING\r\n" + cmd("SET", "k", "v") + cmd("GET", "k") + tc.send)
			c.expect("+PONG\r\n")
			c.expect("+OK\r\n")
			c.expect(bulk("v"))
			c.expect(tc.want)
			c.expectEOF(replyTimeout)
			refusals++
		})
	}
	// Within the limits everything passes.
	c := dial(t, e.addr, "127.0.0.2")
	if got := c.do("SET", "k", strings.Repeat("v", 1024)); got != "+OK\r\n" {
		t.Fatalf("SET with a 1024-byte value: %q", got)
	}
	if got := c.do("MSET", "a", "1", "b", "2", "c", "3", "d"); !strings.HasPrefix(got, "-ERR wrong number of arguments") {
		t.Fatalf("8-argument MSET: %q", got)
	}
	c.send(strings.Repeat("x", 1000) + "\r\n")
	if got := c.readReply(); !strings.HasPrefix(got, "-ERR unknown command") {
		t.Fatalf("1000-byte inline command: %q", got)
	}
	if got := e.refused("protocol_error"); got != float64(refusals) {
		t.Errorf("moat_connections_refused_total{reason=protocol_error} = %v, want %d", got, refusals)
	}
}

// A bulk argument split across many writes is reassembled, and a protocol error after a partial command
// still closes the connection.
func TestProtocolErrorAfterSlowCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, smallLimits(t))
	c := dial(t, e.addr, "127.0.0.2")
	full := cmd("SET", "slow", "value") + "*1\r\n$x\r\n"
	for i := 0; i < len(full); i++ {
		c.send(full[i : i+1])
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	c.expect("+OK\r\n")
	c.expect("-ERR Protocol error: invalid bulk length\r\n")
	c.expectEOF(replyTimeout)
}

// An idle client is closed after the instance's timeout; activity resets the clock.
func TestIdleTimeoutClosesIdleClient(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	e, clock := idleEnv(t, timeout)

	c := dial(t, e.addr, "127.0.0.2")
	for i := 0; i < 5; i++ { // busy for longer than the timeout in total
		passIdle(clock, 1, timeout/2)
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING %d: %q", i, got)
		}
	}
	expectIdleClose(t, c, clock, timeout)

	// A client that never sends anything is idle too.
	silent := dial(t, e.addr, "127.0.0.3")
	expectIdleClose(t, silent, clock, timeout)

	// So is a client that stops in the middle of a command.
	partial := dial(t, e.addr, "127.0.0.4")
	partial.send("*2\r\n$3\r\nGET\r\n")
	expectIdleClose(t, partial, clock, timeout)
}

// A client waiting for a reply is not idle: a blocked BLPOP gets its reply, however long it takes.
// Afterwards the connection is idle again and the timeout applies.
func TestIdleTimeoutSparesBlockedClient(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	e, clock := idleEnv(t, timeout)
	admin := dial(t, e.srv.Addr, "") // redis-server itself, not through moat
	blocked := func(what string) {
		t.Helper()
		if !eventually(replyTimeout, func() bool { return e.blockedClients(admin) == "1" }) {
			t.Fatalf("%s never blocked on the backend (blocked_clients %s)", what, e.blockedClients(admin))
		}
	}

	c := dial(t, e.addr, "127.0.0.2")
	c.send(cmd("BLPOP", "nothing", "0.5"))
	blocked("BLPOP 0.5")
	passIdle(clock, 10, timeout) // ten idle timeouts pass while it waits
	r, err := c.readReplyErr(replyTimeout)
	if err != nil {
		t.Fatalf("blocked BLPOP lost its connection while 10 idle timeouts passed: %v", err)
	}
	if r != "*-1\r\n" {
		t.Fatalf("BLPOP 0.5: %q, want the timeout's nil", r)
	}
	// Woken by a push, too.
	c.send(cmd("BLPOP", "jobs", "0"))
	blocked("BLPOP 0")
	passIdle(clock, 3, timeout)
	other := dial(t, e.addr, "127.0.0.3")
	if got := other.do("RPUSH", "jobs", "j"); got != ":1\r\n" {
		t.Fatalf("RPUSH: %q", got)
	}
	c.expect(array(bulk("jobs"), bulk("j")))
	expectIdleClose(t, c, clock, timeout)
}

// A subscribed client waits for messages, not idly: the timeout does not apply to it (as in Redis).
func TestIdleTimeoutSparesSubscriber(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	e, clock := idleEnv(t, timeout)

	sub := dial(t, e.addr, "127.0.0.2")
	sub.send(cmd("SUBSCRIBE", "ch"))
	sub.expect(array(bulk("subscribe"), bulk("ch"), ":1\r\n"))
	mon := dial(t, e.addr, "127.0.0.4")
	if got := mon.do("MONITOR"); got != "+OK\r\n" {
		t.Fatalf("MONITOR: %q", got)
	}
	passIdle(clock, 4, timeout)
	pub := dial(t, e.addr, "127.0.0.3")
	if got := pub.do("PUBLISH", "ch", "still-there"); got != ":1\r\n" {
		t.Fatalf("PUBLISH after 4 idle timeouts: %q, want 1 subscriber (subscriber closed as idle?)", got)
	}
	sub.expect(array(bulk("message"), bulk("ch"), bulk("still-there")))
	if line := mon.readReply(); !strings.Contains(line, `"PUBLISH"`) && !strings.Contains(line, `"publish"`) {
		t.Fatalf("monitor line %q, want the PUBLISH", line)
	}
	// Unsubscribed, it is an ordinary connection again.
	sub.send(cmd("UNSUBSCRIBE"))
	sub.expect(array(bulk("unsubscribe"), bulk("ch"), ":0\r\n"))
	expectIdleClose(t, sub, clock, timeout)
}

// A client sending a long command slowly is active, not idle: each chunk restarts the clock, both for a
// command held whole and for one streamed through to the backend.
func TestIdleTimeoutSparesSlowUpload(t *testing.T) {
	t.Parallel()
	const timeout = time.Minute
	e, clock := idleEnv(t, timeout)
	for _, size := range []int{256 << 10, 2 << 20} { // below and above Limits.MaxBuffered (1 MiB)
		c := dial(t, e.addr, "127.0.0.2")
		value := strings.Repeat("v", size)
		raw := cmd("SET", "slow", value)
		const chunks = 12 // 12 × 0.6 timeouts: longer than the timeout in total, never idle for it
		step := len(raw)/chunks + 1
		for i := 0; i < len(raw); i += step {
			c.send(raw[i:min(i+step, len(raw))])
			passIdle(clock, 1, timeout*6/10)
		}
		if r, err := c.readReplyErr(replyTimeout); err != nil || r != "+OK\r\n" {
			t.Fatalf("SET of %d bytes sent over %v: %q, %v", size, chunks*timeout*6/10, r, err)
		}
		if got := c.do("STRLEN", "slow"); got != ":"+strconv.Itoa(size)+"\r\n" {
			t.Fatalf("STRLEN: %q", got)
		}
	}
}
