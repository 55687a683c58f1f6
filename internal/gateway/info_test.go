package gateway_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// infoLines are the "name:value" lines of an INFO reply's Clients section, in order.
func infoLines(t *testing.T, reply string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(reply, "# Clients\r\n")
	if !ok {
		t.Fatalf("INFO without a Clients section: %q", truncate(reply))
	}
	section, _, _ := strings.Cut(rest, "\r\n\r\n")
	return strings.Split(strings.TrimSuffix(section, "\r\n"), "\r\n")
}

// infoField is the value of field in an INFO reply ("" when absent).
func infoField(reply, field string) string {
	_, v, ok := strings.Cut(reply, "\r\n"+field+":")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, "\r\n")
	return v
}

// INFO's connected_clients through moat counts moat's clients of the instance, and maxclients is moat's,
// as redis-server counts its own with the same clients: Redis's "CLIENT KILL SKIPME YES/NO will kill
// all clients" (unit/introspection) — 3 clients, CLIENT KILL SKIPME yes kills connected_clients - 1 —
// answers the same on both. The other fields of the section are the backend's, in Redis's order.
func TestInfoClientsIsMoats(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	var got [2]string
	for i, to := range []struct{ addr, from string }{{e.oracle.Addr, "127.0.0.1"}, {e.addr, "127.0.0.2"}} {
		admin := dial(t, to.addr, to.from)
		admin.expectOK("AUTH", "admin", "adminpw")
		waitClients(t, admin, 1)
		for range 2 {
			dial(t, to.addr, to.from).expectOK("AUTH", "defpw")
		}
		info := admin.do("INFO", "clients")
		var names []string
		for _, l := range infoLines(t, info) {
			name, _, _ := strings.Cut(l, ":")
			names = append(names, name)
		}
		got[i] = strings.Join(names, ",") + " connected_clients:" + infoField(info, "connected_clients") +
			" maxclients:" + infoField(info, "maxclients") + " kill:" + admin.do("CLIENT", "KILL", "SKIPME", "yes")
		waitClients(t, admin, 1)
		admin.expectOK("CONFIG", "SET", "maxclients", "77")
		info = admin.do("INFO")
		got[i] += " after:" + infoField(info, "connected_clients") + "," + infoField(info, "maxclients")
	}
	want := "connected_clients,cluster_connections,maxclients,client_recent_max_input_buffer,client_recent_max_output_buffer," +
		"blocked_clients,tracking_clients,clients_in_timeout_table connected_clients:3 maxclients:10000 kill::2\r\n after:1,77"
	if got[0] != want || got[1] != got[0] {
		t.Errorf("INFO clients and CLIENT KILL SKIPME yes:\nredis: %q\nmoat:  %q\nwant:  %q", got[0], got[1], want)
	}
	if info := dial(t, e.srv.Addr, "127.0.0.1").do("INFO", "clients"); infoField(info, "maxclients") != "10000" {
		t.Errorf("the backend's own INFO clients: %q", info)
	}
}

// Every INFO that answers the Clients section has moat's connected_clients and maxclients — no section
// named, "default", "all", "everything", "clients" in any case, beside others, over RESP3 (a verbatim
// string) — and its reply stays a well-formed frame; one without it is the backend's. A client calling
// INFO stays on its shared lane.
func TestInfoSectionsHoldingClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	other := dial(t, e.addr, "127.0.0.3")
	other.expect2("PING", "+PONG\r\n")
	waitClients(t, c, 2)
	for _, args := range [][]string{{}, {"clients"}, {"CLIENTS"}, {"default"}, {"All"}, {"everything"}, {"server", "clients"}, {"memory", "default"}} {
		reply := c.do(append([]string{"INFO"}, args...)...)
		if got := infoField(reply, "connected_clients"); got != "2" || !strings.HasPrefix(reply, "$") {
			t.Errorf("INFO %q: connected_clients %q in %q", args, got, truncate(reply))
		}
	}
	for _, args := range [][]string{{"server"}, {"memory", "stats"}} {
		if reply := c.do(append([]string{"INFO"}, args...)...); strings.Contains(reply, "# Clients") {
			t.Errorf("INFO %q: %q", args, truncate(reply))
		}
	}
	if r := c.do("HELLO", "3"); !strings.HasPrefix(r, "%") {
		t.Fatalf("HELLO 3: %q", r)
	}
	if reply := c.do("INFO", "clients"); !strings.HasPrefix(reply, "=") || !strings.Contains(reply, "txt:# Clients\r\nconnected_clients:2\r\n") {
		t.Errorf("INFO clients over RESP3: %q", reply)
	}
	if testLanes > 0 {
		if n := e.counter("moat_sessions_moved_dedicated_total", map[string]string{"instance": "r-test"}); n != 0 {
			t.Errorf("sessions moved to a dedicated lane: %v, want 0", n)
		}
	}
}

// An INFO reply that reaches moat in pieces (a trickling backend: 1 KiB at a time), longer than the
// shared lane's reader passes in one write (16 KiB: it streams it to the session), is rewritten whole,
// also when the pump takes its first part before the rest has come (which the commands sent meanwhile
// make likely, not certain).
func TestInfoRewrittenWhenItArrivesInPieces(t *testing.T) {
	t.Parallel()
	p := newTapProxy(t)
	p.trickle = true
	p.forwardTo(redistest.Start(t).Addr)
	e := newEnv(t, allowLoopback(t), withBackend(t, "redis://"+p.addr()))
	c := dial(t, e.addr, "127.0.0.2")
	// Errors and commands enough to make INFO everything longer than 16 KiB.
	var b strings.Builder
	for i := range 128 {
		b.WriteString(cmd("EVAL", "return redis.error_reply('"+errCode(i)+" x')", "0"))
	}
	for _, args := range [][]string{{"SET", "k", "1"}, {"GET", "k"}, {"INCR", "n"}, {"DECR", "n"}, {"APPEND", "a", "b"}, {"STRLEN", "a"},
		{"EXISTS", "a"}, {"TYPE", "a"}, {"TTL", "a"}, {"PTTL", "a"}, {"EXPIRE", "a", "100"}, {"PERSIST", "a"}, {"LPUSH", "l", "a"},
		{"RPUSH", "l", "b"}, {"LLEN", "l"}, {"LRANGE", "l", "0", "-1"}, {"LPOP", "l"}, {"RPOP", "l"}, {"SADD", "s", "a"},
		{"SMEMBERS", "s"}, {"SCARD", "s"}, {"HSET", "h", "f", "v"}, {"HGET", "h", "f"}, {"HGETALL", "h"}, {"ZADD", "z", "1", "a"},
		{"ZRANGE", "z", "0", "-1"}, {"ZCARD", "z"}, {"ECHO", "x"}, {"DBSIZE"}, {"TIME"}, {"LASTSAVE"}, {"STRLEN", "k"},
		{"GETRANGE", "k", "0", "1"}, {"SETRANGE", "k", "0", "2"}, {"MGET", "k"}, {"MSET", "m", "1"}, {"INCRBY", "n", "2"},
		{"HLEN", "h"}, {"HKEYS", "h"}, {"HVALS", "h"}, {"SISMEMBER", "s", "a"}, {"ZSCORE", "z", "a"}, {"DEL", "a"}} {
		b.WriteString(cmd(args...))
	}
	c.send(b.String())
	for range 128 + 43 {
		c.readReply()
	}
	waitClients(t, c, 1)
	// Commands moat answers itself, sent while the reply trickles in, wake the pump, which then takes
	// the part of the reply the lane has passed on so far.
	c.send(cmd("INFO", "everything"))
	for range 30 {
		time.Sleep(2 * time.Millisecond)
		c.send(cmd("AUTH", "nobody", "x"))
	}
	reply := c.readReply()
	for range 30 {
		c.expect("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	}
	if len(reply) <= 16<<10 || infoField(reply, "connected_clients") != "1" || infoField(reply, "errorstat_"+errCode(127)) != "count=1" {
		t.Errorf("INFO everything (%d bytes): connected_clients %q, %q", len(reply), infoField(reply, "connected_clients"), truncate(reply))
	}
}

// errCode is the i-th error code of 29 characters.
func errCode(i int) string { return "E" + strings.Repeat("0", 24) + strconv.Itoa(1000+i) }
