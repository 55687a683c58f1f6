package gateway_test

import (
	"net"
	"strings"
	"testing"
)

// A busy client (its reads held: arrivals.hold) that sends a command and resets its connection at once
// is seen gone, whether the command's reply comes at once (the write finds the reset), never (WAIT
// with no replica, a blocking pop: the reader reads again first) or is moat's own.
func TestResetBehindLastCommandIsSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	admin := dial(t, e.addr, "127.0.0.2")
	for _, last := range []string{cmd("GET", "k"), cmd("WAIT", "1", "0"), cmd("BLPOP", "nolist", "0"), cmd("PING"), cmd("EVAL", "return 1", "0")} {
		c := dial(t, e.addr, "127.0.0.3")
		for range 16 { // busy: its reads are held (gateway.holdAfter is 8)
			c.expect2("PING", "+PONG\r\n")
		}
		tc := c.c.(*net.TCPConn)
		tc.SetLinger(0)
		if _, err := tc.Write([]byte(last)); err != nil {
			t.Fatal(err)
		}
		tc.Close() // a reset right behind the command
		if !eventually(replyTimeout, func() bool { return !strings.Contains(admin.do("CLIENT", "LIST"), "addr=127.0.0.3:") }) {
			t.Fatalf("after %q and a reset, the session is still there: %q", last, admin.do("CLIENT", "LIST"))
		}
	}
}
