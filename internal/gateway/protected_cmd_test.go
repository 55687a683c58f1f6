package gateway_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/snapshot"
)

// startOn starts a gateway serving snap in front of the backend spec; it returns the backend, the
// gateway and its address.
func startOn(t *testing.T, id, spec string, snap *snapshot.Snapshot) (backend.Backend, *gateway.Instance, string) {
	t.Helper()
	be, err := backend.Open(spec, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	gw, err := gateway.Start(gateway.Config{ID: id, Listen: []string{"127.0.0.1:0"}, Backend: be,
		Log: testLogger(t), Metrics: gateway.NewMetrics()}, snap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return be, gw, gw.Addrs()[0].String()
}

// enable-debug-command and enable-module-command, with Redis's values: no refuses with Redis 7.0.15's
// text; yes forwards (the backend's own setting then applies); local forwards for loopback clients only.
func TestEnableDebugAndModuleCommand(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--enable-debug-command", "yes", "--enable-module-command", "yes")
	snap := allowLoopback(t)
	_, gw, addr := startOn(t, "r-debug", "redis://"+srv.Addr, snap)
	c := dial(t, addr, "127.0.0.2")
	for _, args := range [][]string{{"DEBUG", "SLEEP", "0"}, {"MODULE", "UNLOAD", "nomod"}} {
		if got := c.do(args...); !strings.HasPrefix(got, "-ERR "+args[0]+" command not allowed. If the enable-") {
			t.Errorf("%v with the default no: %q", args, got)
		}
	}
	yes := allowLoopback(t)
	yes.DebugCommand, yes.ModuleCommand = snapshot.EnableYes, snapshot.EnableYes
	gw.Publish(yes)
	c.expectOK("DEBUG", "SLEEP", "0")
	if got := c.do("MODULE", "LIST"); got != "*0\r\n" {
		t.Errorf("MODULE LIST with yes: %q", got)
	}
	// A DEBUG SLEEP takes its client off the shared lane: the others are not held up behind it.
	c.send(cmd("DEBUG", "SLEEP", "0.3"))
	other := dial(t, addr, "127.0.0.3")
	if got := other.do("PING"); got != "+PONG\r\n" {
		t.Errorf("PING beside DEBUG SLEEP: %q", got)
	}
	c.expect("+OK\r\n")
	local := allowLoopback(t)
	local.DebugCommand = snapshot.EnableLocal
	gw.Publish(local)
	// Every test client is on loopback, which local allows (loopback as protected mode defines it).
	c.expectOK("DEBUG", "SLEEP", "0")
	if got := c.do("MODULE", "UNLOAD", "nomod"); !strings.HasPrefix(got, "-ERR MODULE command not allowed") {
		t.Errorf("MODULE with no: %q", got)
	}
	for _, e := range []struct {
		v    string
		want snapshot.Enable
	}{{"no", snapshot.EnableNo}, {"yes", snapshot.EnableYes}, {"local", snapshot.EnableLocal}, {"", snapshot.EnableNo}} {
		if got := snapshot.ParseEnable(e.v); got != e.want {
			t.Errorf("ParseEnable(%q) = %v", e.v, got)
		}
	}
	if snapshot.EnableLocal.Allows(false) || !snapshot.EnableLocal.Allows(true) || snapshot.EnableNo.Allows(true) {
		t.Error("Enable.Allows")
	}
}

// With requirepass, an unauthenticated client still sees DEBUG's refusal first (Redis's order), and
// NOAUTH once DEBUG is enabled.
func TestEnableDebugCommandCheckOrder(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--enable-debug-command", "yes")
	snap := withUsers(t, allowLoopback(t), [][]string{{"default", "on", ">pw", "~*", "&*", "+@all"}})
	_, gw, addr := startOn(t, "r-debug-order", "redis://"+srv.Addr, snap)
	c := dial(t, addr, "127.0.0.2")
	if got := c.do("DEBUG", "SLEEP", "0"); !strings.HasPrefix(got, "-ERR DEBUG command not allowed") {
		t.Errorf("DEBUG before AUTH, no: %q", got)
	}
	yes := withUsers(t, allowLoopback(t), [][]string{{"default", "on", ">pw", "~*", "&*", "+@all"}})
	yes.DebugCommand = snapshot.EnableYes
	gw.Publish(yes)
	c = dial(t, addr, "127.0.0.3")
	if got := c.do("DEBUG", "SLEEP", "0"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("DEBUG before AUTH, yes: %q", got)
	}
	c.expectOK("AUTH", "pw")
	c.expectOK("DEBUG", "SLEEP", "0")
}

// Redis refuses only the subcommands with the PROTECTED flag (DEBUG; MODULE LOAD, LOADEX, UNLOAD) under
// enable-module-command no, after the unknown-subcommand and arity checks: MODULE LIST and HELP run.
// Every reply through moat is the same bytes as a redis-server's with its defaults, for a free
// connection and for a restricted user, inside MULTI too.
func TestModuleSubcommandsAsRedis(t *testing.T) {
	t.Parallel()
	seqs := [][][]string{
		{{"MODULE", "LIST"}}, {{"module", "help"}}, {{"MODULE", "LOAD", "/nonexistent.so"}},
		{{"MODULE", "LOADEX", "/nonexistent.so", "ARGS", "a"}}, {{"MODULE", "UNLOAD", "nomod"}},
		{{"MODULE", "LOAD"}}, {{"MODULE", "UNLOAD"}}, {{"MODULE", "UNLOAD", "a", "b"}}, {{"MODULE", "NOSUCH"}},
		{{"MODULE"}}, {{"DEBUG"}}, {{"DEBUG", "SLEEP", "0"}},
		{{"MULTI"}, {"MODULE", "LIST"}, {"MODULE", "HELP"}, {"EXEC"}},
		{{"MULTI"}, {"MODULE", "LIST"}, {"MODULE", "UNLOAD", "nomod"}, {"EXEC"}},
	}
	for _, tc := range []struct {
		name  string
		users [][]string // nil: no ACL users (a free connection)
	}{
		{"free", nil},
		{"restricted", [][]string{{"default", "on", "nopass", "~*", "&*", "+@all", "-flushall"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			snap := allowLoopback(t)
			oracle := redistest.Start(t)
			if tc.users != nil {
				snap = withUsers(t, snap, tc.users)
				oracle = aclOracle(t, tc.users)
			}
			srv := redistest.Start(t)
			_, _, addr := startOn(t, "r-module-"+tc.name, "redis://"+srv.Addr, snap)
			through, direct := dial(t, addr, "127.0.0.2"), dial(t, oracle.Addr, "127.0.0.1")
			for _, seq := range seqs {
				for _, args := range seq {
					if got, want := through.do(args...), direct.do(args...); got != want {
						t.Errorf("%v in %v: moat %q, redis %q", args, seq, got, want)
					}
				}
			}
		})
	}
}
