package gateway_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CLIENT subcommands moat answers reply to mistakes exactly as redis-server does.
func TestClientCommandErrorsMatchRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	script := cmd("CLIENT", "KILL") +
		cmd("CLIENT", "KILL", "1.2.3.4:5") +
		cmd("CLIENT", "KILL", "ID", "999999") +
		cmd("CLIENT", "KILL", "FOO", "bar") +
		cmd("CLIENT", "KILL", "ID", "abc") + cmd("CLIENT", "KILL", "ID", "0") + cmd("CLIENT", "KILL", "id", "-1") + cmd("CLIENT", "KILL", "ID", "007") +
		cmd("CLIENT", "KILL", "addr", "1.2.3.4:5", "skipme") +
		cmd("CLIENT", "KILL", "SKIPME", "maybe") +
		cmd("CLIENT", "KILL", "USER", "nobody") + cmd("CLIENT", "KILL", "USER", "x\r\ny") +
		cmd("CLIENT", "KILL", "TYPE", "foo") + cmd("CLIENT", "KILL", "TYPE", "master") + cmd("CLIENT", "KILL", "type", "REPLICA") + cmd("CLIENT", "KILL", "TYPE", "slave") +
		cmd("CLIENT", "KILL", "LADDR", "1.2.3.4:5") + cmd("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "no") +
		cmd("CLIENT", "LIST", "TYPE", "foo") + cmd("CLIENT", "LIST", "foo") + cmd("CLIENT", "LIST", "ID", "x") +
		cmd("CLIENT", "LIST", "ID", "999999", "999998") + cmd("CLIENT", "LIST", "TYPE") + cmd("CLIENT", "LIST", "ID") +
		cmd("CLIENT", "LIST", "TYPE", "master") + cmd("CLIENT", "LIST", "ID", "1", "+2") +
		cmd("CLIENT", "INFO", "x") + cmd("CLIENT", "ID", "x") + cmd("client", "id", "x", "y")
	want, err := transcript(t, e.srv.Addr, "127.0.0.1", script)
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	got, err := transcript(t, e.addr, "127.0.0.2", script)
	if err != nil {
		t.Fatalf("moat: %v", err)
	}
	if got != want {
		t.Errorf("replies differ\nredis: %q\nmoat:  %q", want, got)
	}
}

var clientLine = regexp.MustCompile(`^id=(\d+) addr=(\S+) laddr=(\S+) fd=(-?\d+) name=(\S*) age=\d+ idle=\d+ flags=(\S+) db=(\d+) sub=(\d+) psub=(\d+) ssub=(\d+) multi=(-?\d+) qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ multi-mem=0 rbs=\d+ rbp=\d+ obl=\d+ oll=0 omem=0 tot-mem=\d+ events=r cmd=(\S+) user=(\S+) redir=-1 resp=([23]) instance=(\S+)$`)

// clientLines parses a CLIENT LIST or CLIENT INFO reply (RESP2 bulk) into field maps by ID.
func clientLines(t testing.TB, reply string) map[string]map[string]string {
	t.Helper()
	if !strings.HasPrefix(reply, "$") {
		t.Fatalf("CLIENT LIST reply %q is not a bulk string", reply)
	}
	body := reply[strings.Index(reply, "\r\n")+2 : len(reply)-2]
	if n, _ := strconv.Atoi(reply[1:strings.Index(reply, "\r\n")]); n != len(body) {
		t.Fatalf("bulk length %d for %d bytes", n, len(body))
	}
	out := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if line == "" {
			continue
		}
		if !clientLine.MatchString(line) {
			t.Fatalf("CLIENT LIST line %q does not have Redis 7.0's fields", line)
		}
		f := map[string]string{}
		for _, kv := range strings.Split(line, " ") {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		out[f["id"]] = f
	}
	return out
}

// CLIENT LIST / INFO / ID show moat's view: real client addresses and ports, moat's listener, the
// instance, moat's IDs, the state moat saw the backend accept (name, db, protocol, subscriptions, MULTI).
func TestClientListShowsMoatsView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	a := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	sub := dial(t, e.addr, "127.0.0.4")
	idA, idB, idSub := clientID(t, a), clientID(t, b), clientID(t, sub)
	if idA == idB || idB == idSub {
		t.Fatalf("IDs %s %s %s are not distinct", idA, idB, idSub)
	}
	b.expectOK("CLIENT", "SETNAME", "worker-7")
	b.expectOK("SELECT", "3")
	b.expect2("MULTI", "+OK\r\n")
	b.expect2("SET", "+QUEUED\r\n", "x", "1")
	sub.send(cmd("SUBSCRIBE", "news"))
	sub.readReply()

	lines := clientLines(t, a.do("CLIENT", "LIST"))
	if len(lines) != 3 {
		t.Fatalf("CLIENT LIST has %d lines, want 3: %v", len(lines), lines)
	}
	for id, from := range map[string]*client{idA: a, idB: b, idSub: sub} {
		l := lines[id]
		if l["addr"] != from.c.LocalAddr().String() || l["laddr"] != e.addr || l["instance"] != "r-test" || l["user"] != "default" {
			t.Errorf("client %s: addr=%s laddr=%s instance=%s user=%s; want addr=%s laddr=%s instance=r-test user=default",
				id, l["addr"], l["laddr"], l["instance"], l["user"], from.c.LocalAddr(), e.addr)
		}
		if fd, _ := strconv.Atoi(l["fd"]); fd <= 2 {
			t.Errorf("client %s: fd=%s", id, l["fd"])
		}
	}
	if l := lines[idA]; l["cmd"] != "client|list" || l["flags"] != "N" || l["db"] != "0" || l["multi"] != "-1" {
		t.Errorf("the listing client: %v", l)
	}
	if l := lines[idB]; l["name"] != "worker-7" || l["db"] != "3" || l["flags"] != "x" || l["multi"] != "1" || l["cmd"] != "set" {
		t.Errorf("named client in MULTI on db 3: %v", l)
	}
	if l := lines[idSub]; l["flags"] != "P" || l["sub"] != "1" || l["cmd"] != "subscribe" {
		t.Errorf("subscriber: %v", l)
	}
	b.expect2("EXEC", array("+OK\r\n"))

	// Filters.
	if got := clientLines(t, a.do("CLIENT", "LIST", "TYPE", "pubsub")); len(got) != 1 || got[idSub] == nil {
		t.Errorf("CLIENT LIST TYPE pubsub: %v", got)
	}
	if got := clientLines(t, a.do("CLIENT", "LIST", "TYPE", "normal")); len(got) != 2 || got[idSub] != nil {
		t.Errorf("CLIENT LIST TYPE normal: %v", got)
	}
	if got := clientLines(t, a.do("CLIENT", "LIST", "ID", idB, "999999", idA)); len(got) != 2 || got[idA] == nil || got[idB] == nil {
		t.Errorf("CLIENT LIST ID: %v", got)
	}
	info := clientLines(t, b.do("CLIENT", "INFO"))
	if len(info) != 1 || info[idB]["cmd"] != "client|info" || info[idB]["multi"] != "-1" {
		t.Errorf("CLIENT INFO: %v", info)
	}
	// RESP3: a verbatim string; resp=3.
	if got := b.do("HELLO", "3", "SETNAME", "w8"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	v := b.do("CLIENT", "INFO")
	if !strings.HasPrefix(v, "=") || !strings.Contains(v, "\r\ntxt:id="+idB+" ") || !strings.Contains(v, " name=w8 ") || !strings.Contains(v, " resp=3 ") {
		t.Errorf("CLIENT INFO in RESP3: %q", v)
	}
	// RESET: name and db cleared.
	b.expect2("RESET", "+RESET\r\n")
	if l := clientLines(t, a.do("CLIENT", "LIST", "ID", idB))[idB]; l["name"] != "" || l["db"] != "0" || l["resp"] != "2" {
		t.Errorf("after RESET: %v", l)
	}
}

// CLIENT KILL acts on moat's connections: by address (old and new form), ID, user, type, skipme.
func TestClientKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	admin := dial(t, e.addr, "127.0.0.2")
	victim := dial(t, e.addr, "127.0.0.3")
	victim.expectOK("SET", "k", "v")
	admin.expect2("CLIENT", "+OK\r\n", "KILL", victim.c.LocalAddr().String())
	victim.expectEOF(replyTimeout)
	admin.expect2("CLIENT", "-ERR No such client\r\n", "KILL", victim.c.LocalAddr().String())

	v2 := dial(t, e.addr, "127.0.0.3")
	admin.expect2("CLIENT", ":1\r\n", "KILL", "ID", clientID(t, v2))
	v2.expectEOF(replyTimeout)

	s := dial(t, e.addr, "127.0.0.4")
	s.send(cmd("SUBSCRIBE", "c"))
	s.readReply()
	n := expectAdmitted(t, e.addr, "127.0.0.5") // registered before the kill looks for it
	admin.expect2("CLIENT", ":1\r\n", "KILL", "TYPE", "pubsub")
	s.expectEOF(replyTimeout)
	admin.expect2("CLIENT", ":1\r\n", "KILL", "LADDR", e.addr, "ADDR", n.c.LocalAddr().String())
	n.expectEOF(replyTimeout)

	// USER default: everyone but the caller (SKIPME yes is the default) ...
	others := []*client{dial(t, e.addr, "127.0.0.6"), dial(t, e.addr, "127.0.0.7")}
	for _, o := range others {
		o.expect2("PING", "+PONG\r\n")
	}
	admin.expect2("CLIENT", ":2\r\n", "KILL", "USER", "default")
	for _, o := range others {
		o.expectEOF(replyTimeout)
	}
	// ... and with SKIPME no, the caller too, after its reply.
	admin.expect2("CLIENT", ":1\r\n", "KILL", "USER", "default", "SKIPME", "no")
	admin.expectEOF(replyTimeout)

	// Silent under CLIENT REPLY OFF, but it still kills.
	k := dial(t, e.addr, "127.0.0.2")
	target := dial(t, e.addr, "127.0.0.8")
	id := clientID(t, target)
	k.send(cmd("CLIENT", "REPLY", "OFF") + cmd("CLIENT", "KILL", "ID", id) + cmd("CLIENT", "REPLY", "ON"))
	k.expect("+OK\r\n")
	target.expectEOF(replyTimeout)
	// CLIENT REPLY SKIP over a command moat answers: the backend's skip is used up too.
	k.send(cmd("CLIENT", "REPLY", "SKIP") + cmd("CLIENT", "LIST") + cmd("ECHO", "next"))
	k.expect(bulk("next"))
	k.expectNothing(50 * time.Millisecond)
}

// Inside MULTI the CLIENT subcommands moat answers are queued and answered at EXEC, as in Redis
// (TestClientCommandsInMulti); CLIENT UNBLOCK and TRACKING REDIRECT name clients by moat's IDs.
func TestClientCommandsMoatRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	id := clientID(t, c)
	c.send(cmd("MULTI") + cmd("SET", "m", "1") + cmd("CLIENT", "ID") + cmd("EXEC") + cmd("GET", "m"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", array("+OK\r\n", ":"+id+"\r\n"), bulk("1")} {
		c.expect(want)
	}
	// A client without a backend connection of its own is neither blocked nor a redirect target.
	c.expect2("CLIENT", ":0\r\n", "UNBLOCK", clientID(t, c))
	c.expect2("CLIENT", "-ERR The client ID you want redirect to does not exist\r\n", "TRACKING", "on", "REDIRECT", "999999")
	c.expect2("CLIENT", "+OK\r\n", "TRACKING", "on", "BCAST") // no REDIRECT: the backend's business
	c.expect2("CLIENT", "-ERR wrong number of arguments for 'client|unblock' command\r\n", "UNBLOCK")
}

// expectOK sends a command and expects +OK.
func (c *client) expectOK(args ...string) {
	c.t.Helper()
	if got := c.do(args...); got != "+OK\r\n" {
		c.t.Fatalf("%q: %q, want +OK", args, got)
	}
}

// expect2 sends name args… and expects want.
func (c *client) expect2(name, want string, args ...string) {
	c.t.Helper()
	if got := c.do(append([]string{name}, args...)...); got != want {
		c.t.Fatalf("%s %q: %q, want %q", name, args, got, want)
	}
}
