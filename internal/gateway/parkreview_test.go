package gateway_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/acl"
)

// A RESP3 session (HELLO 3 on a shared lane) is still RESP3 after it parked and woke: moat's own
// replies (here ACL GETUSER's map) keep the protocol the client chose.
func TestParkedRESP3SessionStaysRESP3(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	c := dial(t, e.addr, "127.0.0.2")
	read := func(args ...string) acl.Value { t.Helper(); return c.value(args...) }
	if v := read("HELLO", "3", "AUTH", "admin", "adminpw"); v.Kind != acl.KindMap {
		t.Fatalf("HELLO 3: %v, want a map", v)
	}
	if v := read("ACL", "GETUSER", "alice"); v.Kind != acl.KindMap {
		t.Fatalf("ACL GETUSER before parking: %v, want a RESP3 map", v)
	}
	waitParked(t, e, 1)
	if v := read("ACL", "GETUSER", "alice"); v.Kind != acl.KindMap {
		t.Errorf("ACL GETUSER after waking: %v, want a RESP3 map", v)
	}
	if v := read("HGETALL", "nokey"); v.Kind != acl.KindMap {
		t.Errorf("HGETALL after waking: %v, want the backend's RESP3 map", v)
	}
}

// A long command (over 1 MiB, streamed through) that moat refuses and discards, streamed slowly for
// longer than the idle time, is not cut off by the sweeper's request to park: the client gets its
// NOPERM and the connection goes on.
func TestSlowRefusedLongCommandIsNotCutByParking(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	c := dial(t, e.addr, "127.0.0.2")
	mustDo(t, c, "+OK\r\n", "AUTH", "alice", "apw")
	const chunks, size = 10, 10 * 200 << 10
	c.send("*3\r\n$3\r\nSET\r\n$6\r\nsecret\r\n$" + strconv.Itoa(size) + "\r\n")
	chunk := strings.Repeat("x", size/chunks)
	for range chunks { // ~5 s: two sweeps past the idle time
		time.Sleep(500 * time.Millisecond)
		c.send(chunk)
	}
	c.send("\r\n")
	if got, err := c.readReplyErr(replyTimeout); err != nil || !strings.HasPrefix(got, "-NOPERM") {
		t.Fatalf("SET secret streamed slowly: %q, %v; want NOPERM", got, err)
	}
	mustDo(t, c, "+PONG\r\n", "PING")
}

// value sends a command and reads its reply as a value (RESP2 or RESP3).
func (c *client) value(args ...string) acl.Value {
	c.t.Helper()
	c.send(cmd(args...))
	c.c.SetReadDeadline(time.Now().Add(replyTimeout))
	v, err := acl.ReadValue(c.br)
	if err != nil {
		c.t.Fatalf("%q: %v", args, err)
	}
	return v
}

// CLIENT LIST, run while parked sessions wake, reads each session's local address safely: the waiting
// room's connection, once closed by its event loop as the socket leaves the room, has none (its
// addresses are cleared on the loop's goroutine).
func TestClientListWhileParkedSessionsWake(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	const n = 200
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = expectAdmitted(t, e.addr, "127.0.2."+strconv.Itoa(i%250+1))
	}
	admin := expectAdmitted(t, e.addr, "127.0.0.4")
	for range 2 {
		waitParked(t, e, n+1)
		stop := make(chan struct{})
		listed := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					listed <- nil
					return
				default:
				}
				admin.send(cmd("CLIENT", "LIST"))
				if got, err := admin.readReplyErr(replyTimeout); err != nil || !strings.HasPrefix(got, "$") {
					listed <- fmt.Errorf("CLIENT LIST: %q, %v", truncate(got), err)
					return
				}
			}
		}()
		for _, c := range cs {
			c.send(cmd("PING"))
		}
		for i, c := range cs {
			if got, err := c.readReplyErr(replyTimeout); err != nil || got != "+PONG\r\n" {
				t.Fatalf("client %d: %q, %v", i, got, err)
			}
		}
		close(stop)
		if err := <-listed; err != nil {
			t.Fatal(err)
		}
	}
}

// Clients that end while parked: one sends a command and closes at once (its session ends, the
// command runs), one sends a pipeline and half-closes (every reply comes, then EOF). Nothing is left
// counted: no active or parked connection.
func TestParkedClientSendsAndEnds(t *testing.T) {
	t.Parallel()
	e, a, b := twoParked(t)
	a.send(cmd("SET", "gone", "1"))
	a.c.Close()
	b.send(cmd("SET", "half", "2") + cmd("GET", "half") + cmd("PING"))
	b.c.(*net.TCPConn).CloseWrite()
	for _, want := range []string{"+OK\r\n", bulk("2"), "+PONG\r\n"} {
		if got := b.readReply(); got != want {
			t.Fatalf("half-closed client: %q, want %q", got, want)
		}
	}
	b.expectEOF(replyTimeout)
	if !eventually(10*time.Second, func() bool { return e.activeConns() == 0 && e.parked() == 0 }) {
		t.Fatalf("active %v, parked %v after both ended, want 0 and 0", e.activeConns(), e.parked())
	}
	c := expectAdmitted(t, e.addr, "127.0.0.4")
	mustDo(t, c, bulk("1"), "GET", "gone")
}

// A parked session's user deleted while it waits: its connection is closed at once, as Redis closes a
// deleted user's connections; the others' go on.
func TestParkedSessionOfDeletedUser(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	alice := dial(t, e.addr, "127.0.0.2")
	mustDo(t, alice, "+OK\r\n", "AUTH", "alice", "apw")
	admin := dial(t, e.addr, "127.0.0.3")
	mustDo(t, admin, "+OK\r\n", "AUTH", "admin", "adminpw")
	waitParked(t, e, 2)
	var rest [][]string
	for _, u := range aclUsers {
		if u[0] != "alice" {
			rest = append(rest, u)
		}
	}
	snap := withUsers(t, allowLoopback(t), rest)
	snap.SharedLanes = e.gw.Snapshot().SharedLanes
	e.gw.Publish(snap) // closes alice's connection, parked or not, before it returns
	alice.expectEOF(replyTimeout)
	mustDo(t, admin, "+OK\r\n", "SET", "k", "v")
}

// Connection state a client set holds past the idle time: CLIENT REPLY OFF (nothing answered until
// CLIENT REPLY ON) and CLIENT SETNAME. Such a session (on a dedicated lane) does not park at all.
func TestConnectionStateAcrossPark(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	mustDo(t, c, "+OK\r\n", "CLIENT", "SETNAME", "app")
	c.send(cmd("CLIENT", "REPLY", "OFF"))
	time.Sleep(4 * time.Second) // two sweeps past the idle time: parked if it may
	c.send(cmd("SET", "k", "v") + cmd("CLIENT", "REPLY", "ON"))
	mustDo(t, c, "+OK\r\n", "PING") // the "+OK" is CLIENT REPLY ON's, then PING's reply
	if got := c.readReply(); got != "+PONG\r\n" {
		t.Fatalf("after CLIENT REPLY ON: %q, want +PONG (the SET sent under OFF was answered?)", got)
	}
	mustDo(t, c, bulk("app"), "CLIENT", "GETNAME")
	mustDo(t, c, bulk("v"), "GET", "k")
	if got := e.parked(); got != 0 {
		t.Errorf("moat_connections_parked = %v: a session with connection state of its own parked", got)
	}
}
