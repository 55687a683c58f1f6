package gateway_test

import (
	"strings"
	"testing"
	"time"
)

// blockedClients returns redis-server's blocked_clients count, asked directly (not through moat).
func (e *env) blockedClients(admin *client) string {
	info := admin.do("INFO", "clients")
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
			return v
		}
	}
	e.t.Fatalf("INFO clients has no blocked_clients: %q", truncate(info))
	return ""
}

// A client blocked in XREAD BLOCK through moat is released by an XADD from another client, and its
// reply comes in order: after the replies to the commands pipelined before it, before the replies to
// those pipelined after it.
func TestXReadBlockWakesOnXAdd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	reader := dial(t, e.addr, "127.0.0.2")
	writer := dial(t, e.addr, "127.0.0.3")
	admin := dial(t, e.srv.Addr, "")

	if got := writer.do("XADD", "events", "1-1", "kind", "old"); got != bulk("1-1") {
		t.Fatalf("XADD 1-1: %q", got)
	}
	// One write: two commands, the blocking read of what comes after the last entry ($), one more.
	reader.send(cmd("SET", "before", "1") + cmd("PING") +
		cmd("XREAD", "COUNT", "10", "BLOCK", "0", "STREAMS", "events", "$") + cmd("GET", "before"))
	reader.expect("+OK\r\n")
	reader.expect("+PONG\r\n")
	// Wait until redis-server holds the XREAD blocked, so the XADD below is one it must wait for.
	if !eventually(replyTimeout, func() bool { return e.blockedClients(admin) == "1" }) {
		t.Fatalf("XREAD BLOCK never blocked on the backend (blocked_clients %s)", e.blockedClients(admin))
	}
	reader.expectNothing(100 * time.Millisecond) // neither the XREAD nor the GET behind it is answered yet

	if got := writer.do("XADD", "events", "2-1", "kind", "new"); got != bulk("2-1") {
		t.Fatalf("XADD 2-1: %q", got)
	}
	reader.expect(array(array(bulk("events"), array(array(bulk("2-1"), array(bulk("kind"), bulk("new")))))))
	reader.expect(bulk("1"))

	// The connection is usable afterwards, and a timed-out XREAD BLOCK gets its nil, in order.
	reader.send(cmd("XREAD", "BLOCK", "50", "STREAMS", "events", "$") + cmd("PING"))
	reader.expect("*-1\r\n")
	reader.expect("+PONG\r\n")
	if got := e.blockedClients(admin); got != "0" {
		t.Fatalf("blocked_clients %s after the timeout", got)
	}
}
