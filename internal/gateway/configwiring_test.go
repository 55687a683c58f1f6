package gateway_test

import (
	"bufio"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/redistest"
)

// configPairs parses a CONFIG GET reply (RESP2) into its name, value pairs.
func configPairs(t *testing.T, reply string) [][2]string {
	t.Helper()
	v, err := acl.ReadValue(bufio.NewReader(strings.NewReader(reply)))
	if err != nil || v.Kind != acl.KindArray {
		t.Fatalf("CONFIG GET reply %q: %v", truncate(reply), err)
	}
	out := make([][2]string, 0, len(v.Elems)/2)
	for i := 0; i+1 < len(v.Elems); i += 2 {
		out = append(out, [2]string{v.Elems[i].Str, v.Elems[i+1].Str})
	}
	return out
}

// sanitySkip is the skip list of Redis 7.0.15's "CONFIG sanity" test (tests/unit/introspection.tcl:246),
// the TLS parameters included as it adds them when the suite runs without TLS.
var sanitySkip = strings.Fields(`rdbchecksum daemonize io-threads-do-reads tcp-backlog always-show-logo
	syslog-enabled cluster-enabled disable-thp aclfile unixsocket pidfile syslog-ident appendfilename
	appenddirname supervised syslog-facility databases io-threads logfile unixsocketperm replicaof slaveof
	requirepass server_cpulist bio_cpulist aof_rewrite_cpulist bgsave_cpulist set-proc-title
	cluster-config-file cluster-port oom-score-adj oom-score-adj-values enable-protected-configs
	enable-debug-command enable-module-command dbfilename logfile dir socket-mark-id
	tls-prefer-server-ciphers tls-session-cache-timeout tls-session-cache-size tls-session-caching
	tls-cert-file tls-key-file tls-client-cert-file tls-client-key-file tls-dh-params-file tls-ca-cert-file
	tls-ca-cert-dir tls-protocols tls-ciphers tls-ciphersuites tls-port`)

// Redis's "CONFIG sanity" through moat: CONFIG SET of every parameter CONFIG GET * shows (its skip list
// aside) to the value shown answers +OK — bind, port, protected-mode, masterauth, masteruser,
// bind-source-addr and the TLS switches among them, which moat never sends the backend — and CONFIG GET *
// shows the same values after.
func TestConfigSanityThroughMoat(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	before := configPairs(t, c.do("CONFIG", "GET", "*"))
	var wiring []string
	for _, p := range before {
		if slices.Contains(sanitySkip, p[0]) {
			continue
		}
		if got := c.do("CONFIG", "SET", p[0], p[1]); got != "+OK\r\n" {
			t.Errorf("CONFIG SET %s %q: %q", p[0], p[1], got)
		}
		switch {
		case p[0] == "bind", p[0] == "port", p[0] == "protected-mode", p[0] == "masterauth", strings.HasPrefix(p[0], "tls-"):
			wiring = append(wiring, p[0])
		}
	}
	if len(wiring) < 8 {
		t.Errorf("CONFIG GET * showed only these parameters of the backend's wiring: %v", wiring)
	}
	after := configPairs(t, c.do("CONFIG", "GET", "*"))
	// Beside moat's own parameter, all or none: applied together here.
	if port := configPairs(t, c.do("CONFIG", "GET", "port"))[0][1]; c.do("CONFIG", "SET", "port", port, "requirepass", "newpw") != "+OK\r\n" {
		t.Errorf("CONFIG SET port %s requirepass newpw refused", port)
	}
	c.expectOK("AUTH", "newpw")
	c.expectOK("AUTH", "admin", "adminpw")
	// dir is a protected config, which Redis refuses under enable-protected-configs no (its default) even
	// to its value.
	dir := configPairs(t, c.do("CONFIG", "GET", "dir"))[0][1]
	if got, want := c.do("CONFIG", "SET", "dir", dir), dial(t, e.srv.Addr, "127.0.0.1").do("CONFIG", "SET", "dir", dir); got != want {
		t.Errorf("CONFIG SET dir %s: moat %q, redis %q", dir, got, want)
	}
	want := map[string]string{}
	for _, p := range before {
		want[p[0]] = p[1]
	}
	for _, p := range after {
		if !slices.Contains(sanitySkip, p[0]) && want[p[0]] != p[1] {
			t.Errorf("config %s mismatch, expecting %q but got %q", p[0], want[p[0]], p[1])
		}
	}
}

// A CONFIG SET of the backend's wiring to the value the backend has is answered byte for byte as the
// backend itself answers it — +OK, alone or beside other parameters; Redis's immutable, protected and
// duplicate refusals; the first failing pair named when another fails — and the backend's parameters
// end as the backend's own CONFIG SET leaves them. A different value stays refused as a protected config
// and changes nothing; so do the non-empty passwords, even the right one.
func TestConfigSetWiringToItsValue(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--enable-protected-configs", "local", "--masterauth", "mpw", "--masteruser", "repl")
	_, _, addr := startOn(t, "r-wiring", "redis://"+srv.Addr, allowLoopback(t))
	c := dial(t, addr, "127.0.0.2")
	direct := dial(t, srv.Addr, "127.0.0.1")
	cur := func(name string) string { return configPairs(t, direct.do("CONFIG", "GET", name))[0][1] }
	bind, port, dir := cur("bind"), cur("port"), cur("dir")
	state := func() string {
		var b strings.Builder
		for _, p := range []string{"hz", "maxmemory-policy", "bind", "port", "protected-mode", "dir", "masterauth", "masteruser"} {
			b.WriteString(direct.do("CONFIG", "GET", p))
		}
		return b.String()
	}
	// Same values: moat first, then the backend directly, which must answer the same and leave the same.
	for _, args := range [][]string{
		{"bind", bind},
		{"PORT", port},
		{"protected-mode", "YES"},
		{"masteruser", "repl"},
		{"tls-replication", "no", "tls-auth-clients", "Yes"},
		{"hz", "15", "port", port, "bind", bind},
		{"dir", dir, "dbfilename", "dump.rdb"},
		{"unixsocketperm", "0"},
		{"aclfile", ""},
		{"hz", "16", "unixsocket", ""},
		{"port", port, "Port", port},
		{"nosuch", "1", "port", port},
		{"port", port, "nosuch", "1"},
		{"port", port, "maxmemory-policy", "bogus"},
		{"maxmemory-policy", "allkeys-lru", "port", port, "hz", "nope"},
		{"maxmemory-policy", "allkeys-lfu", "bind", bind, "hz", "17"},
	} {
		before := state()
		got := c.do(append([]string{"CONFIG", "SET"}, args...)...)
		viaMoat := state()
		want := direct.do(append([]string{"CONFIG", "SET"}, args...)...)
		if got != want {
			t.Errorf("CONFIG SET %q: moat %q, redis %q", args, got, want)
		}
		if after := state(); viaMoat != after {
			t.Errorf("CONFIG SET %q: through moat left %q, redis %q (before: %q)", args, viaMoat, after, before)
		}
	}
	refused := func(name string) string {
		return "-ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set protected config\r\n"
	}
	before := state()
	for _, q := range []struct {
		args []string
		want string
	}{
		{[]string{"bind", "0.0.0.0"}, refused("bind")},
		{[]string{"bind", bind + " "}, refused("bind")},
		{[]string{"port", "0" + port}, refused("port")},
		{[]string{"protected-mode", "no"}, refused("protected-mode")},
		{[]string{"masterauth", "mpw"}, refused("masterauth")}, // the right password: no oracle for it
		{[]string{"masterauth", ""}, refused("masterauth")},
		{[]string{"hz", "20", "port", port, "bind", "0.0.0.0"}, refused("bind")},
		{[]string{"Port", port, "hz", "21", "maxmemory-policy", "allkeys-random", "tls-port", "1"}, refused("tls-port")},
		{[]string{"tls-nosuch", "x"}, refused("tls-nosuch")},
		{[]string{"unixsocketperm", "777"}, refused("unixsocketperm")},
	} {
		if got := c.do(append([]string{"CONFIG", "SET"}, q.args...)...); got != q.want {
			t.Errorf("CONFIG SET %q: %q, want %q", q.args, got, q.want)
		}
	}
	if after := state(); after != before {
		t.Errorf("refused CONFIG SETs changed the backend: %q, was %q", after, before)
	}
	// Pipelined and inline, then over RESP3.
	c.send(cmd("CONFIG", "SET", "port", port, "hz", "22") + "CONFIG SET bind " + bind + "\r\n" + cmd("PING"))
	c.expect("+OK\r\n")
	c.expect("+OK\r\n")
	c.expect("+PONG\r\n")
	if got := direct.do("CONFIG", "GET", "hz"); got != "*2\r\n$2\r\nhz\r\n$2\r\n22\r\n" {
		t.Errorf("hz after CONFIG SET port … hz 22: %q", got)
	}
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	c.expectOK("CONFIG", "SET", "protected-mode", "yes")
	// Inside MULTI it is refused as before, dooming the transaction.
	c.expectOK("MULTI")
	if got := c.do("CONFIG", "SET", "port", port); got != refused("port") {
		t.Errorf("CONFIG SET port in MULTI: %q", got)
	}
	if got := c.do("EXEC"); !strings.HasPrefix(got, "-EXECABORT") {
		t.Errorf("EXEC: %q", got)
	}
}
