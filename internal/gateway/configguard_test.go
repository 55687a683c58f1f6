package gateway_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// A client allowed CONFIG cannot rewire the backend through moat: CONFIG SET of where it listens, who
// logs in to it and where it writes files is refused with Redis's protected-config text, on every path
// (alone, among other pairs, in a pipeline, inside MULTI, over RESP3), and the backend keeps its
// settings; other parameters are set as before. (CONFIG SET requirepass sets moat's own default user's
// password instead: configcmd_test.go.)
func TestConfigSetCannotRewireTheBackend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	before := map[string]string{}
	guarded := []string{"requirepass", "masterauth", "masteruser", "bind", "port", "protected-mode", "tls-port", "tls-auth-clients", "dir", "dbfilename"}
	for _, p := range guarded {
		before[p] = direct.do("CONFIG", "GET", p)
	}
	c := dial(t, e.addr, "127.0.0.2")
	refused := func(name string) string {
		return "-ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set protected config\r\n"
	}
	for _, args := range [][]string{
		{"CONFIG", "SET", "MasterAuth", "x"},
		{"CONFIG", "SET", "masteruser", "x"},
		{"CONFIG", "SET", "bind", "0.0.0.0"},
		{"CONFIG", "SET", "port", "6399"},
		{"CONFIG", "SET", "protected-mode", "no"},
		{"CONFIG", "SET", "tls-port", "6400"},
		{"CONFIG", "SET", "masterauth", "x"},
		{"CONFIG", "SET", "dir", "/tmp"},
		{"CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "bind", "0.0.0.0"},
	} {
		name := args[len(args)-2]
		if got := c.do(args...); got != refused(name) {
			t.Errorf("%v: %q, want %q", args, got, refused(name))
		}
	}
	// Pipelined, then inside MULTI (the transaction is discarded, as for any command refused while
	// queueing), then over RESP3.
	c.send(cmd("CONFIG", "SET", "masterauth", "x") + cmd("PING"))
	c.expect(refused("masterauth"))
	c.expect("+PONG\r\n")
	c.expectOK("MULTI")
	if got := c.do("CONFIG", "SET", "port", "1"); got != refused("port") {
		t.Errorf("CONFIG SET port in MULTI: %q", got)
	}
	if got := c.do("EXEC"); !strings.HasPrefix(got, "-EXECABORT") {
		t.Errorf("EXEC after a refused CONFIG SET: %q", got)
	}
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	if got := c.do("CONFIG", "SET", "protected-mode", "no"); got != refused("protected-mode") {
		t.Errorf("CONFIG SET protected-mode over RESP3: %q", got)
	}
	for _, p := range guarded {
		if got := direct.do("CONFIG", "GET", p); got != before[p] {
			t.Errorf("the backend's %s changed: %q, was %q", p, got, before[p])
		}
	}
	// Other parameters are the backend's to judge, as before.
	c.expectOK("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	if got := direct.do("CONFIG", "GET", "maxmemory-policy"); !strings.Contains(got, "allkeys-lru") {
		t.Errorf("maxmemory-policy on the backend: %q", got)
	}
}

// CONFIG GET never shows the backend's passwords: a pattern matching requirepass, masterauth or a TLS
// key's passphrase is answered by the backend with those values hidden (requirepass is moat's, as CONFIG
// GET requirepass answers it), alone, pipelined and over RESP3; inside MULTI it is refused, not queued.
// Other parameters come as the backend gives them.
func TestConfigGetHidesTheBackendsPasswords(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--requirepass", "backend-secret-1", "--masterauth", "backend-secret-2")
	_, _, addr := startOn(t, "r-cfgget", "redis://:backend-secret-1@"+srv.Addr, allowLoopback(t))
	c := dial(t, addr, "127.0.0.2")
	noSecret := func(what, got string) {
		t.Helper()
		if strings.Contains(got, "backend-secret") {
			t.Errorf("%s shows a backend password: %q", what, truncate(got))
		}
	}
	all := c.do("CONFIG", "GET", "*")
	noSecret("CONFIG GET *", all)
	for _, want := range []string{"$11\r\nrequirepass\r\n$0\r\n\r\n", "$10\r\nmasterauth\r\n$0\r\n\r\n", "$9\r\nmaxmemory\r\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("CONFIG GET * lacks %q", want)
		}
	}
	if got := c.do("CONFIG", "GET", "MASTER*"); !strings.Contains(got, "masterauth\r\n$0\r\n\r\n") || !strings.Contains(got, "masteruser") {
		t.Errorf("CONFIG GET MASTER*: %q", got)
	}
	noSecret("CONFIG GET requirepass", c.do("CONFIG", "GET", "requirepass"))
	if got := c.do("CONFIG", "GET", "requirepass", "maxmemory"); !strings.Contains(got, "$11\r\nrequirepass\r\n$0\r\n\r\n") ||
		!strings.Contains(got, "$9\r\nmaxmemory\r\n$1\r\n0\r\n") {
		t.Errorf("CONFIG GET requirepass maxmemory: %q", truncate(got))
	}
	if got := c.do("CONFIG", "GET", "maxmemory"); got != "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n" {
		t.Errorf("CONFIG GET maxmemory: %q", got)
	}
	c.send(cmd("CONFIG", "GET", "*pass*") + cmd("PING"))
	noSecret("pipelined CONFIG GET *pass*", c.readReply())
	c.expect("+PONG\r\n")
	c.expectOK("MULTI")
	if got := c.do("CONFIG", "GET", "*"); !strings.HasPrefix(got, "-ERR CONFIG GET of a pattern matching a password parameter") {
		t.Errorf("CONFIG GET * in MULTI: %q", got)
	}
	if got := c.do("EXEC"); !strings.HasPrefix(got, "-EXECABORT") {
		t.Errorf("EXEC: %q", got)
	}
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	got := c.do("CONFIG", "GET", "*auth*")
	noSecret("CONFIG GET *auth* over RESP3", got)
	if !strings.HasPrefix(got, "%") || !strings.Contains(got, "masterauth\r\n$0\r\n\r\n") {
		t.Errorf("CONFIG GET *auth* over RESP3: %q", got)
	}
}

// On the embedded engine, which has no CONFIG, the backend's wiring is refused with the same
// protected-config text (there is no value to keep), not as an unreachable backend.
func TestConfigSetWiringOnTheEmbeddedEngine(t *testing.T) {
	t.Parallel()
	_, _, addr := startOn(t, "r-emb", "embedded", allowLoopback(t))
	c := dial(t, addr, "127.0.0.2")
	for _, name := range []string{"protected-mode", "dir", "bind"} {
		want := "-ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set protected config\r\n"
		if got := c.do("CONFIG", "SET", name, "x"); got != want {
			t.Errorf("CONFIG SET %s: %q", name, got)
		}
	}
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Errorf("PING: %q", got)
	}
}
