package gateway_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/gateway"
)

// backendMaxClients is what the backend itself (asked directly) answers to CONFIG GET maxclients.
func backendMaxClients(t *testing.T, e *env) string {
	t.Helper()
	c := dial(t, e.srv.Addr, "127.0.0.1")
	defer c.c.Close()
	return c.do("CONFIG", "GET", "maxclients")
}

// Redis's CONFIG GET maxclients reply for its default.
const maxClientsDefault = "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"

// CONFIG SET and GET of maxclients through moat are byte for byte what redis-server 7.0.15 answers —
// values refused (not a number, out of 1–4294967295, a name twice), mixed with the backend's
// parameters, a glob, inside MULTI, refused by the user's rules — and the backend's own maxclients
// never changes.
func TestConfigMaxClientsMatchesRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	admin := cmd("AUTH", "admin", "adminpw")
	get := cmd("CONFIG", "GET", "maxclients")
	set := func(v ...string) string { return cmd(append([]string{"CONFIG", "SET"}, v...)...) }
	scripts := []namedScript{
		{"values", admin + get + cmd("CONFIG", "GET", "MaxClients") + set("maxclients", "abc") + set("maxclients", "-1") +
			set("maxclients", "0") + set("maxclients", "-0") + set("maxclients", "01") + set("maxclients", "+5") +
			set("maxclients", "") + set("maxclients", "4294967296") + set("maxclients", "99999999999999999999") +
			set("maxclients", "10000") + set("MAXCLIENTS", "5000") + get + cmd("CONFIG", "GET", "maxc*") +
			set("maxclients", "5000", "maxclients", "6000") + set("maxclients", "x", "requirepass", "y") + get +
			set("maxclients", "10000") + get},
		{"beside the backend's", admin + set("hz", "11", "maxclients", "x") + set("maxclients", "4000", "hz", "bogus") +
			cmd("CONFIG", "GET", "hz") + get + set("maxclients", "4000", "hz", "12") + cmd("CONFIG", "GET", "hz") + get +
			cmd("CONFIG", "GET", "maxc*") + set("hz", "10", "maxclients", "10000") + cmd("CONFIG", "GET", "hz") + get},
		{"inside MULTI", admin + cmd("MULTI") + set("maxclients", "700") + get + set("maxclients", "x") + cmd("EXEC") +
			get + cmd("MULTI") + set("maxclients", "10000") + cmd("EXEC") + get},
		{"pipelined after a CONFIG GET of a glob", admin + cmd("CONFIG", "GET", "maxc*") + set("maxclients", "6000") +
			cmd("CONFIG", "GET", "require*") + set("requirepass", "zz") + cmd("CONFIG", "GET", "maxc*") +
			cmd("CONFIG", "GET", "require*") + set("maxclients", "10000", "requirepass", "defpw")},
		{"refused by the user's rules", cmd("AUTH", "alice", "apw") + set("maxclients", "5") + get + cmd("AUTH", "defpw") + get},
	}
	sameScriptsAndLog(t, e, scripts, sameTranscript)
	if got := backendMaxClients(t, e.env); got != maxClientsDefault {
		t.Errorf("the backend's maxclients: %q", got)
	}
}

// waitClients waits until the server c is connected to has n clients (CLIENT LIST: moat's own through
// moat), so that connections closed earlier are not counted.
func waitClients(t *testing.T, c *client, n int) {
	t.Helper()
	if !eventually(replyTimeout, func() bool {
		return strings.Count(c.do("CLIENT", "LIST"), " addr=") == n
	}) {
		t.Fatalf("the server's clients never came to %d: %q", n, c.do("CLIENT", "LIST"))
	}
}

// CONFIG SET maxclients 3 through moat makes moat refuse a fourth client with Redis's reply, as
// redis-server does after the same command; lowered below the clients connected, it closes none of
// them and refuses the next. The backend's own maxclients never changes.
func TestConfigSetMaxClientsLimitsMoatsClients(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	var refusals [2]string
	for i, to := range []struct{ addr, from string }{{e.oracle.Addr, "127.0.0.1"}, {e.addr, "127.0.0.2"}} {
		admin := dial(t, to.addr, to.from)
		admin.expectOK("AUTH", "admin", "adminpw")
		waitClients(t, admin, 1)
		admin.expectOK("CONFIG", "SET", "maxclients", "3")
		if got := admin.do("CONFIG", "GET", "maxclients"); got != "*2\r\n$10\r\nmaxclients\r\n$1\r\n3\r\n" {
			t.Errorf("%s: CONFIG GET maxclients: %q", to.addr, got)
		}
		open := []*client{admin, dial(t, to.addr, to.from), dial(t, to.addr, to.from)}
		for _, c := range open[1:] {
			c.expectOK("AUTH", "defpw")
		}
		fourth := dial(t, to.addr, to.from)
		refusals[i] = fourth.readReply()
		fourth.expectEOF(replyTimeout)
		waitClients(t, admin, 3)

		admin.expectOK("CONFIG", "SET", "maxclients", "1")
		for _, c := range open {
			c.expect2("PING", "+PONG\r\n")
		}
		next := dial(t, to.addr, to.from)
		if got := next.readReply(); got != maxClientsText {
			t.Errorf("%s: a client over the lowered limit: %q", to.addr, got)
		}
		next.expectEOF(replyTimeout)
		admin.expectOK("CONFIG", "SET", "maxclients", "10000")
	}
	if refusals[0] != maxClientsText || refusals[1] != refusals[0] {
		t.Errorf("the fourth client:\nredis: %q\nmoat:  %q", refusals[0], refusals[1])
	}
	if got := backendMaxClients(t, e.env); got != maxClientsDefault {
		t.Errorf("the backend's maxclients: %q", got)
	}
}

// A maxclients above what the process can serve is refused as redis-server refuses it (config.c,
// updateMaxclients), naming the most it can: its open-files limit less 32; a value unchanged is not
// checked, as Redis checks only a new one; beside the backend's parameters the backend's refusal of a
// value comes first, and moat's refusal leaves the backend's unchanged.
func TestConfigSetMaxClientsBeyondOpenFiles(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers, func(c *gateway.Config) { c.OpenFiles = 1000 })
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	for _, q := range []struct {
		args []string
		want string
	}{
		{[]string{"CONFIG", "SET", "maxclients", "10000"}, "+OK\r\n"}, // unchanged, though above 968
		{[]string{"CONFIG", "SET", "maxclients", "969"}, unservable(968)},
		{[]string{"CONFIG", "SET", "hz", "11", "MaxClients", "4294967295"}, unservable(968)},
		{[]string{"CONFIG", "SET", "maxclients", "969", "hz", "bogus"},
			"-ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer\r\n"},
		{[]string{"CONFIG", "GET", "maxclients"}, maxClientsDefault},
		{[]string{"CONFIG", "GET", "hz"}, "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"},
		{[]string{"CONFIG", "SET", "maxclients", "968"}, "+OK\r\n"},
		{[]string{"CONFIG", "GET", "maxclients"}, "*2\r\n$10\r\nmaxclients\r\n$3\r\n968\r\n"},
	} {
		if got := c.do(q.args...); got != q.want {
			t.Errorf("%q: %q, want %q", q.args, got, q.want)
		}
	}

}

// unservable is Redis's refusal of a maxclients above the most it can serve.
func unservable(most int) string {
	return "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with " +
		strconv.Itoa(most) + "\r\n"
}
