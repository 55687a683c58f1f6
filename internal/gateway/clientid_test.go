package gateway_test

import (
	"strings"
	"testing"
)

// Client IDs that mean one thing (clientid.go): the ID CLIENT ID gives is the one CLIENT UNBLOCK,
// CLIENT TRACKING … REDIRECT and CLIENT KILL ID take, though the backend knows the client by another.

// CLIENT UNBLOCK with moat's ID unblocks that client's BLPOP on the backend: as a timeout (nil reply)
// by default, with Redis's UNBLOCKED error with ERROR; a client not blocked is not unblocked (0).
func TestClientUnblockTakesMoatIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	admin := dial(t, e.srv.Addr, "127.0.0.1")
	r := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	id := clientID(t, b)
	r.expect2("CLIENT", ":0\r\n", "UNBLOCK", id) // not blocked yet
	for _, tc := range []struct{ mode, want string }{
		{"TIMEOUT", "*-1\r\n"},
		{"ERROR", "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"},
	} {
		b.send(cmd("BLPOP", "q", "0"))
		if !eventually(replyTimeout, func() bool { return e.blockedClients(admin) == "1" }) {
			t.Fatalf("BLPOP never blocked on the backend (blocked_clients %s)", e.blockedClients(admin))
		}
		r.expect2("CLIENT", ":1\r\n", "UNBLOCK", id, tc.mode)
		b.expect(tc.want)
	}
	r.expect2("CLIENT", ":0\r\n", "UNBLOCK", id)
	r.expect2("CLIENT", "-ERR value is not an integer or out of range\r\n", "UNBLOCK", "x")
	r.expect2("CLIENT", "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n", "UNBLOCK", id, "later")
}

// Client-side caching with REDIRECT, as Redis's tracking tests set it up: a client learns its ID,
// subscribes to __redis__:invalidate, and another client's tracking is redirected to it by that ID.
// CLIENT KILL ID with the same ID then closes it.
func TestClientTrackingRedirectTakesMoatIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	rd := dial(t, e.addr, "127.0.0.2")
	r := dial(t, e.addr, "127.0.0.3")
	w := dial(t, e.addr, "127.0.0.4")
	id := clientID(t, rd)
	rd.send(cmd("SUBSCRIBE", "__redis__:invalidate"))
	rd.expect(array(bulk("subscribe"), bulk("__redis__:invalidate"), ":1\r\n"))

	r.expectOK("CLIENT", "TRACKING", "on", "REDIRECT", id)
	mustDo(t, w, "+OK\r\n", "SET", "a", "1")
	mustDo(t, r, bulk("1"), "GET", "a")
	mustDo(t, w, ":2\r\n", "INCR", "a")
	rd.expect(array(bulk("message"), bulk("__redis__:invalidate"), array(bulk("a"))))

	r.expectOK("CLIENT", "TRACKING", "off")
	r.expectOK("CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", id, "PREFIX", "b:")
	mustDo(t, w, "+OK\r\n", "SET", "b:1", "x")
	rd.expect(array(bulk("message"), bulk("__redis__:invalidate"), array(bulk("b:1"))))

	r.expect2("CLIENT", ":"+id+"\r\n", "GETREDIR")
	redirect := bulk("redirect") + ":" + id + "\r\n"
	if got := r.do("CLIENT", "TRACKINGINFO"); !strings.Contains(got, redirect) {
		t.Errorf("CLIENT TRACKINGINFO: %q, want redirect %s", got, id)
	}

	w.expect2("CLIENT", ":1\r\n", "KILL", "ID", id)
	rd.expectEOF(replyTimeout)
	// The target is gone: the next invalidation finds the redirect broken, which tracking reports, still
	// naming moat's ID.
	mustDo(t, w, "+OK\r\n", "SET", "b:2", "x")
	if !eventually(replyTimeout, func() bool {
		got := r.do("CLIENT", "TRACKINGINFO")
		return strings.Contains(got, "broken_redirect") && strings.Contains(got, redirect)
	}) {
		t.Errorf("CLIENT TRACKINGINFO after the target was killed: %q", r.do("CLIENT", "TRACKINGINFO"))
	}
}

// HELLO's id is moat's ID of the connection, as CLIENT ID says, on a shared lane (RESP2 and RESP3)
// and on a dedicated one.
func TestHelloIDIsMoatID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	id := clientID(t, c)
	want := bulk("id") + ":" + id + "\r\n"
	for _, step := range [][]string{{"HELLO", "3"}, {"HELLO", "2"}, {"SELECT", "0"}, {"HELLO", "3"}, {"HELLO"}} {
		got := c.do(step...)
		if step[0] == "HELLO" && !strings.Contains(got, want) {
			t.Errorf("%q: %q, want id %s", step, truncate(got), id)
		}
	}
}

// MONITOR lines name the client as CLIENT LIST does: the address of a client with its own backend
// connection, not moat's end of that connection.
func TestMonitorShowsClientAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	mon := dial(t, e.addr, "127.0.0.2")
	c := dial(t, e.addr, "127.0.0.3")
	mustDo(t, c, "+OK\r\n", "SELECT", "0") // its own backend connection
	mon.expectOK("MONITOR")
	mustDo(t, c, "+OK\r\n", "SET", "mk", "v")
	want := "[0 " + c.c.LocalAddr().String() + "] \"SET\" \"mk\" \"v\""
	for {
		line := mon.readReply()
		if strings.Contains(line, "\"mk\"") {
			if !strings.Contains(line, want) {
				t.Fatalf("MONITOR line %q, want it to contain %q", line, want)
			}
			break
		}
	}
}
