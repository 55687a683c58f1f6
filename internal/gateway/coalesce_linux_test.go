package gateway_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dataSegsIn is how many segments carrying data c's socket has received (TCP_INFO tcpi_data_segs_in).
func dataSegsIn(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return info.Data_segs_in
}

// A reply of moat's own (AUTH's) and the backend's replies to the commands read with it leave in one
// write, as redis-server writes the replies of what it read at once: a client that connects, AUTHs and
// sends its command in one packet (redis-benchmark does) gets one segment back, not two. (The shared
// lane's pump does this; a dedicated lane's writes moat's own reply at once, as before.)
func TestLocalReplyLeavesWithTheBackendsReplies(t *testing.T) {
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	for _, tc := range []struct {
		name, send, want string
	}{
		{"auth+ping", cmd("AUTH", "admin", "adminpw") + cmd("PING"), "+OK\r\n+PONG\r\n"},
		{"auth+set+get", cmd("AUTH", "admin", "adminpw") + cmd("SET", "k", "v") + cmd("GET", "k"), "+OK\r\n+OK\r\n$1\r\nv\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 { // the old pump wrote AUTH's reply at once, the backend's a round trip later
				c := dial(t, e.addr, "127.0.0.1")
				before := dataSegsIn(t, c.c)
				c.send(tc.send)
				got := make([]byte, 0, len(tc.want))
				c.c.SetReadDeadline(time.Now().Add(replyTimeout))
				for len(got) < len(tc.want) {
					buf := make([]byte, 256)
					n, err := c.br.Read(buf)
					if err != nil {
						t.Fatalf("read after %q: %v", got, err)
					}
					got = append(got, buf[:n]...)
				}
				if string(got) != tc.want {
					t.Fatalf("replies %q, want %q", got, tc.want)
				}
				if segs := dataSegsIn(t, c.c) - before; segs != 1 {
					t.Fatalf("the replies came in %d segments, want 1", segs)
				}
				c.c.Close()
			}
		})
	}
}

// A reply of moat's own is not held for a command whose reply may wait: BLPOP, which moves to a
// dedicated lane, and a script, which may run without bound. Its reply comes at once, as redis-server's
// does before it blocks.
func TestLocalReplyDoesNotWaitForABlockingCommand(t *testing.T) {
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	for _, tc := range []struct {
		name, send string
	}{
		{"blpop", cmd("BLPOP", "nosuchlist", "3")},
		{"script", cmd("EVAL", "local t = redis.call('TIME') while true do local n = redis.call('TIME') if (n[1]-t[1])*1000000+(n[2]-t[2]) > 1500000 then return 1 end end", "0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.addr, "127.0.0.1")
			c.send(cmd("AUTH", "admin", "adminpw") + tc.send)
			start := time.Now()
			if got, err := c.readReplyErr(time.Second); err != nil || got != "+OK\r\n" {
				t.Fatalf("AUTH's reply: %q, %v", got, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("AUTH's reply took %v", d)
			}
			if got, err := c.readReplyErr(5 * time.Second); err != nil || got == "" {
				t.Fatalf("the second reply: %q, %v", got, err)
			}
		})
	}
}
