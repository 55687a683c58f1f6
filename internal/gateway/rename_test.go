package gateway_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/snapshot"
)

// renamed returns a loopback snapshot with these rename-command directives.
func renamed(t testing.TB, directives string) *snapshot.Snapshot {
	t.Helper()
	r, err := rediscmd.ParseRenames(directives)
	if err != nil {
		t.Fatalf("ParseRenames(%q): %v", directives, err)
	}
	s := allowLoopback(t)
	s.Renames = r
	return s
}

// N4, against the oracle: a redis-server started with the same rename-command lines answers every
// script exactly as moat does in front of a redis-server without them — the unknown-command texts, the
// renamed commands, a transaction doomed by a removed command, CLIENT REPLY SKIP over one.
func TestRenameCommandMatchesRedis(t *testing.T) {
	t.Parallel()
	const long = "CONFIG_b840fc02d524045429941cc15f59e41cb7be6c52"
	oracle := redistest.Start(t, "--rename-command", "CONFIG", "CFG", "--rename-command", "FLUSHALL", "",
		"--rename-command", "KEYS", long, "--rename-command", "GET", "FETCH")
	e := newEnv(t, renamed(t, `CONFIG CFG, FLUSHALL "", KEYS `+long+`,GET FETCH`))
	scripts := map[string]string{
		"renamed away":        cmd("CONFIG", "GET", "maxmemory") + cmd("config", "get", "maxmemory") + cmd("CoNfIg"),
		"new name":            cmd("CFG", "GET", "maxmemory") + cmd("cfg", "get", "maxmemory"),
		"removed":             cmd("FLUSHALL") + cmd("flushall", "ASYNC"),
		"long new name":       cmd("SET", "k", "v") + cmd(long, "*") + cmd(strings.ToLower(long), "k*") + cmd("KEYS", "*"),
		"renamed to a freed":  cmd("SET", "k", "v") + cmd("FETCH", "k") + cmd("GET", "k"),
		"inline":              "cfg get maxmemory\r\nconfig get maxmemory\r\nFETCH k\r\n",
		"unknown text bounds": cmd("FLUSHALL", strings.Repeat("a", 100), strings.Repeat("b", 100), "c") + cmd("FLUSHALL", "x\r\ny", "n\x00ul", "") + cmd("CONFIG", "\x00"),
		"long arg":            cmd("CONFIG", strings.Repeat("z", 300)),
		"doomed transaction":  cmd("MULTI") + cmd("SET", "a", "1") + cmd("CONFIG", "GET", "x") + cmd("SET", "b", "2") + cmd("EXEC") + cmd("MGET", "a", "b"),
		"good transaction":    cmd("MULTI") + cmd("CFG", "GET", "maxmemory") + cmd("FETCH", "a") + cmd("EXEC"),
		"discarded":           cmd("MULTI") + cmd("FLUSHALL") + cmd("DISCARD") + cmd("PING"),
		"reply skip":          cmd("CLIENT", "REPLY", "SKIP") + cmd("CONFIG", "GET", "x") + cmd("PING") + cmd("ECHO", "after"),
		"reply off":           cmd("CLIENT", "REPLY", "OFF") + cmd("FLUSHALL") + cmd("SET", "q", "1") + cmd("CLIENT", "REPLY", "ON") + cmd("FETCH", "q"),
		"watch and doom":      cmd("WATCH", "w") + cmd("MULTI") + cmd("FLUSHALL") + cmd("EXEC") + cmd("SET", "w", "1") + cmd("MULTI") + cmd("FETCH", "w") + cmd("EXEC"),
	}
	for name, script := range scripts {
		want, err := transcript(t, oracle.Addr, "127.0.0.1", script)
		if err != nil {
			t.Fatalf("%s: redis-server: %v", name, err)
		}
		got, err := transcript(t, e.addr, "127.0.0.2", script)
		if err != nil {
			t.Fatalf("%s: moat: %v", name, err)
		}
		if got != want {
			t.Errorf("%s:\nscript: %q\nredis:  %q\nmoat:   %q", name, script, want, got)
		}
		for _, c := range []string{oracle.Addr, e.srv.Addr} {
			d := dial(t, c, "127.0.0.1")
			d.send(cmd("FLUSHDB"))
			d.readReply()
			d.c.Close()
		}
	}
}

// N4: the backend always gets the original name (it has no renames: it would refuse CFG), and
// rename-command applies to new connections without restart; established ones keep theirs.
func TestRenameCommandAppliesToNewConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	before := dial(t, e.addr, "127.0.0.2")
	if got := before.do("CONFIG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Fatalf("CONFIG GET before renaming: %q", got)
	}
	e.gw.Publish(renamed(t, "CONFIG CFG"))
	after := dial(t, e.addr, "127.0.0.3")
	if got := after.do("CFG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CFG GET on a new connection: %q", got)
	}
	if got := after.do("CONFIG", "GET", "maxmemory"); got != "-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory' \r\n" {
		t.Errorf("CONFIG GET on a new connection: %q", got)
	}
	if got := before.do("CONFIG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CONFIG GET on the connection made before the change: %q", got)
	}
	// Pipelined with ordinary commands, in order.
	after.send(cmd("SET", "p", "1") + cmd("CONFIG", "GET", "x") + cmd("CFG", "GET", "maxmemory") + cmd("GET", "p"))
	after.expect("+OK\r\n")
	after.expect("-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'x' \r\n")
	if got := after.readReply(); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("pipelined CFG GET: %q", got)
	}
	after.expect(bulk("1"))
	// CLIENT LIST reports the original name.
	id := clientID(t, after)
	if got := after.do("CFG", "RESETSTAT"); got != "+OK\r\n" {
		t.Fatalf("CFG RESETSTAT: %q", got)
	}
	if info := before.do("CLIENT", "LIST", "ID", id); !strings.Contains(info, " cmd=config|resetstat ") {
		t.Errorf("CLIENT LIST of the renaming connection: %q, want cmd=config|resetstat", info)
	}
}

// clientID returns c's moat connection ID.
func clientID(t testing.TB, c *client) string {
	t.Helper()
	r := c.do("CLIENT", "ID")
	if !strings.HasPrefix(r, ":") {
		t.Fatalf("CLIENT ID: %q", r)
	}
	return strings.TrimSpace(r[1:])
}

// N4 with ACLs: rules keep using original names. A user allowed config|get runs it under its new name;
// the NOPERM text and ACL DRYRUN name the original command; the old name is unknown, as for everyone.
func TestRenamedCommandsUnderACLRules(t *testing.T) {
	t.Parallel()
	users := append([][]string{}, aclUsers...)
	users = append(users, []string{"ops", "on", ">o", "~*", "-@all", "+config|get", "+ping"})
	s := withUsers(t, renamed(t, "CONFIG CFG"), users)
	e := newEnv(t, s)
	ops := dial(t, e.addr, "127.0.0.2")
	ops.do("AUTH", "ops", "o")
	if got := ops.do("CFG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CFG GET by a user allowed config|get: %q", got)
	}
	if got := ops.do("CFG", "SET", "maxmemory", "0"); got != "-NOPERM this user has no permissions to run the 'config|set' command\r\n" {
		t.Errorf("CFG SET: %q", got)
	}
	if got := ops.do("CONFIG", "GET", "maxmemory"); got != "-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory' \r\n" {
		t.Errorf("the old name: %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")
	if got := admin.do("ACL", "DRYRUN", "ops", "CONFIG", "SET", "maxmemory", "0"); got != bulk("This user has no permissions to run the 'config|set' command") {
		t.Errorf("ACL DRYRUN with the original name: %q", got)
	}
}
