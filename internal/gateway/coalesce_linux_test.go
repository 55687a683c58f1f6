package gateway_test

import (
	"net"
	"strings"
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
// lane's pump does this; a dedicated lane's writes moat's own reply at once, as before.) The pump holds
// AUTH's reply for at most holdReplies, so on a loaded box some tries may come in two: the test asks
// for most, where writing AUTH's reply at once gives none.
func TestLocalReplyLeavesWithTheBackendsReplies(t *testing.T) {
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	for _, tc := range []struct {
		name, send, want string
	}{
		{"auth+ping", cmd("AUTH", "admin", "adminpw") + cmd("PING"), "+OK\r\n+PONG\r\n"},
		{"auth+get", cmd("AUTH", "admin", "adminpw") + cmd("GET", "nosuchkey"), "+OK\r\n$-1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			one := 0
			for range 20 {
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
				switch segs := dataSegsIn(t, c.c) - before; segs {
				case 1:
					one++
				case 2:
				default:
					t.Fatalf("the replies came in %d segments, want 1 (or 2 when the backend was slow)", segs)
				}
				c.c.Close()
			}
			if one < 10 {
				t.Fatalf("the replies came in one segment %d times of 20, want most", one)
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

// pauseBackend pauses the backend's clients for d (CLIENT PAUSE, as an operator or FAILOVER does; mode
// WRITE or ALL), and unpauses it when the test ends.
func pauseBackend(t *testing.T, e *env, d time.Duration, mode string) {
	t.Helper()
	adm := dial(t, e.srv.Addr, "127.0.0.1")
	if got := adm.do("CLIENT", "PAUSE", strconvItoa(int(d/time.Millisecond)), mode); got != "+OK\r\n" {
		t.Fatalf("CLIENT PAUSE: %q", got)
	}
	t.Cleanup(func() {
		if c, err := dialErr(e.srv.Addr, "127.0.0.1"); err == nil {
			c.c.SetDeadline(time.Now().Add(time.Second))
			c.c.Write([]byte(cmd("CLIENT", "UNPAUSE")))
			c.c.Close()
		}
	})
}

// Under CLIENT PAUSE WRITE redis-server answers a read and AUTH at once and postpones a write read with
// them: through moat too, the first reply comes at once — a reply is not held for a command the
// backend may postpone.
func TestRepliesAreNotHeldForAPausedWrite(t *testing.T) {
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	a := dial(t, e.addr, "127.0.0.1")
	mustDo(t, a, "+OK\r\n", "AUTH", "admin", "adminpw")
	mustDo(t, a, "+OK\r\n", "SET", "x", "1")
	pauseBackend(t, e, 3*time.Second, "WRITE")
	for _, tc := range []struct{ send, want string }{
		{cmd("GET", "x") + cmd("SET", "y", "2"), "$1\r\n1\r\n"},
		{cmd("AUTH", "admin", "adminpw") + cmd("SET", "y", "3"), "+OK\r\n"},
	} {
		start := time.Now()
		a.send(tc.send)
		if got, err := a.readReplyErr(time.Second); err != nil || got != tc.want {
			t.Fatalf("after %q: %q, %v after %v; want %q at once", tc.send, got, err, time.Since(start), tc.want)
		}
		if got, err := a.readReplyErr(5 * time.Second); err != nil || got != "+OK\r\n" {
			t.Fatalf("the write's reply once the pause ended: %q, %v", got, err)
		}
	}
}

// A reply is held for a prompt command's at most briefly (holdReplies): under CLIENT PAUSE ALL the
// backend postpones even a GET, and AUTH's reply still comes at once.
func TestRepliesAreHeldBriefly(t *testing.T) {
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	a := dial(t, e.addr, "127.0.0.1")
	mustDo(t, a, "+OK\r\n", "AUTH", "admin", "adminpw")
	mustDo(t, a, "+PONG\r\n", "PING") // the lane is dialled before the pause
	pauseBackend(t, e, 2*time.Second, "ALL")
	start := time.Now()
	a.send(cmd("AUTH", "admin", "adminpw") + cmd("GET", "x"))
	if got, err := a.readReplyErr(time.Second); err != nil || got != "+OK\r\n" {
		t.Fatalf("AUTH's reply: %q, %v after %v", got, err, time.Since(start))
	}
	if got, err := a.readReplyErr(5 * time.Second); err != nil || got != "$-1\r\n" {
		t.Fatalf("GET's reply once the pause ended: %q, %v", got, err)
	}
}

// A reply the backend sent before the session ended reaches the client: when the backend dies (its
// lane fails) or another client kills the session while a later command is postponed.
func TestRepliesSentBeforeTheEndArrive(t *testing.T) {
	for _, end := range []string{"backend dies", "client kill"} {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t, allowLoopback(t))
			a := dial(t, e.addr, "127.0.0.1")
			mustDo(t, a, "+OK\r\n", "SET", "x", "1")
			pauseBackend(t, e, 5*time.Second, "WRITE")
			a.send(cmd("GET", "x") + cmd("INCR", "n"))
			time.Sleep(200 * time.Millisecond) // GET's reply has reached moat
			if end == "backend dies" {
				e.srv.Stop()
			} else {
				k := dial(t, e.addr, "127.0.0.2")
				if got := k.do("CLIENT", "KILL", "ADDR", a.c.LocalAddr().String()); !strings.HasPrefix(got, "+OK") && got != ":1\r\n" {
					t.Fatalf("CLIENT KILL: %q", got)
				}
			}
			if got, err := a.readReplyErr(2 * time.Second); got != "$1\r\n1\r\n" {
				t.Fatalf("GET's reply, sent by the backend before the end: %q, %v", got, err)
			}
		})
	}
}
