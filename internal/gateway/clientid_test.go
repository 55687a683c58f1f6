package gateway_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
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

// A monitor sees no AUTH line of moat's own: a restricted user's script switches its backend
// connection to the user's backend identity with AUTH (identity.go), which the backend's MONITOR shows;
// the script itself is shown, under the client's address.
func TestMonitorHidesMoatsAuth(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, scriptUsers)
	mon := dial(t, e.addr, "127.0.0.2")
	mon.do("AUTH", "admin", "adminpw")
	mon.expectOK("MONITOR")
	app := dial(t, e.addr, "127.0.0.3")
	app.do("AUTH", "app", "apw")
	mustDo(t, app, ":1\r\n", "EVAL", "return 1", "0")
	mustDo(t, app, "+OK\r\n", "SET", "app:mon", "v")
	for {
		line := mon.readReply()
		if strings.Contains(strings.ToUpper(line), `"AUTH"`) {
			t.Errorf("MONITOR shows moat's AUTH: %q", line)
		}
		if strings.Contains(line, `"EVAL"`) && !strings.Contains(line, "[0 "+app.c.LocalAddr().String()+"] ") {
			t.Errorf("MONITOR line of the script %q does not name the client", line)
		}
		if strings.Contains(line, `"app:mon"`) {
			break
		}
	}
}

// withUnixBackend puts moat in front of a redis-server reached by a unix:// URL instead.
func withUnixBackend(t *testing.T) envOption {
	_, sock := redistest.StartUnix(t)
	be, err := backend.Open("unix://"+sock, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("backend.Open unix://%s: %v", sock, err)
	}
	t.Cleanup(func() { be.Close() })
	return func(c *gateway.Config) { c.Backend = be }
}

// Behind a unix:// backend, where every backend connection has the socket's address, moat's IDs still
// reach the right client: CLIENT UNBLOCK unblocks it, tracking redirects to it and reports its loss
// (tracking-redir-broken) by moat's ID.
func TestClientIDsBehindUnixSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t), withUnixBackend(t))
	r := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	id := clientID(t, b)
	b.send(cmd("BLPOP", "q", "0"))
	if !eventually(replyTimeout, func() bool { return r.do("CLIENT", "UNBLOCK", id) == ":1\r\n" }) {
		t.Fatalf("CLIENT UNBLOCK %s never unblocked the BLPOP", id)
	}
	b.expect("*-1\r\n")
	trackingRedirBroken(t, e.addr, "127.0.0.4")
}

// The client whose tracking redirects to a client that is gone is told so in RESP3 with the ID it
// named, through moat as from redis-server.
func TestTrackingRedirBrokenNamesMoatID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	trackingRedirBroken(t, e.srv.Addr, "127.0.0.1")
	trackingRedirBroken(t, e.addr, "127.0.0.2")
}

// trackingRedirBroken redirects a RESP3 client's tracking to a subscribed client at addr, checks an
// invalidation reaches the target, kills the target, and expects tracking-redir-broken naming it.
func trackingRedirBroken(t *testing.T, addr, from string) {
	t.Helper()
	rd, r, w := dial(t, addr, from), dial(t, addr, from), dial(t, addr, from)
	w.do("DEL", "rb")
	id := clientID(t, rd)
	rd.send(cmd("SUBSCRIBE", "__redis__:invalidate"))
	rd.expect(array(bulk("subscribe"), bulk("__redis__:invalidate"), ":1\r\n"))
	if got := r.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("%s: HELLO 3: %q", addr, got)
	}
	r.expectOK("CLIENT", "TRACKING", "on", "REDIRECT", id)
	mustDo(t, r, "_\r\n", "GET", "rb")
	mustDo(t, w, "+OK\r\n", "SET", "rb", "1")
	rd.expect(array(bulk("message"), bulk("__redis__:invalidate"), array(bulk("rb"))))
	mustDo(t, r, bulk("1"), "GET", "rb")
	w.expect2("CLIENT", ":1\r\n", "KILL", "ID", id)
	rd.expectEOF(replyTimeout)
	mustDo(t, w, "+OK\r\n", "SET", "rb", "2")
	r.expect(push(bulk("tracking-redir-broken"), ":"+id+"\r\n"))
}

// A redirect target that only asked its ID (no blocking command, no subscription yet), as in Redis's
// "RESP3 based basic redirect invalidation with client reply off": CLIENT ID gives it a backend
// connection of its own, so REDIRECT to it is accepted, and what Redis sends a redirect target reaches
// it through moat byte for byte as from redis-server: a RESP3 target gets the invalidate push (CLIENT
// REPLY OFF does not silence it); a RESP2 target nothing until it subscribes, then the
// __redis__:invalidate message.
func TestTrackingRedirectToClientThatAskedItsID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	for _, proto := range []string{"3", "2"} {
		want := redirectToIDOnly(t, e.srv.Addr, "127.0.0.1", "direct"+proto, proto)
		got := redirectToIDOnly(t, e.addr, "127.0.0.2", "moat"+proto, proto)
		if got != want {
			t.Errorf("RESP%s target: moat %q, redis %q", proto, got, want)
		}
	}
}

// redirectToIDOnly redirects a client's tracking at addr to a target that sent only HELLO proto and
// CLIENT ID, invalidates a key (named key) it read, and returns what the target received from CLIENT
// REPLY OFF on, with the key's name as "K".
func redirectToIDOnly(t *testing.T, addr, from, key, proto string) string {
	t.Helper()
	target, r, w := dial(t, addr, from), dial(t, addr, from), dial(t, addr, from)
	if got := target.do("HELLO", proto); !strings.HasPrefix(got, "%") && !strings.HasPrefix(got, "*") {
		t.Fatalf("%s: HELLO %s: %q", addr, proto, got)
	}
	id := clientID(t, target)
	r.expectOK("CLIENT", "TRACKING", "on", "REDIRECT", id)
	mustDo(t, w, "+OK\r\n", "SET", key, "1")
	mustDo(t, r, bulk("1"), "GET", key)
	var out strings.Builder
	if proto == "3" {
		target.send(cmd("CLIENT", "REPLY", "OFF"))
		mustDo(t, w, "+OK\r\n", "SET", key, "2")
		out.WriteString(target.readReply())
		target.send(cmd("CLIENT", "REPLY", "ON") + cmd("PING"))
		out.WriteString(target.readReply() + target.readReply())
	} else {
		mustDo(t, w, "+OK\r\n", "SET", key, "2") // a RESP2 target outside pub/sub gets nothing
		mustDo(t, r, bulk("2"), "GET", key)
		out.WriteString(target.do("PING"))
		target.send(cmd("SUBSCRIBE", "__redis__:invalidate"))
		out.WriteString(target.readReply())
		mustDo(t, w, "+OK\r\n", "SET", key, "3")
		out.WriteString(target.readReply())
	}
	r.expect2("CLIENT", ":"+id+"\r\n", "GETREDIR")
	return strings.ReplaceAll(out.String(), "$"+strconvItoa(len(key))+"\r\n"+key+"\r\n", "$1\r\nK\r\n")
}
