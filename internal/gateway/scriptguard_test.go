package gateway_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/redistest"
)

// The class "a command the instance removed or renamed away runs on the backend" (N4), tried on every
// path a command can take to the backend: direct, pipelined, inline, inside MULTI, RESP3, under CLIENT
// REPLY OFF/SKIP, on shared and dedicated lanes, and inside scripts and functions (EVAL, EVALSHA,
// EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO, FUNCTION LOAD/RESTORE). The backend is a plain redis-server: it
// has no renames of its own, so each removed command would run if moat let it through. After every
// path, the data written first must still be there and CONFIG must be untouched.

const guardRenames = `FLUSHALL "",FLUSHDB "",CONFIG CFG,DEL REMOVE`

// denied starts redis-server 7.0.15's reply to a script calling a command its user may not run.
const denied = "-ERR The user executing the script can't run this command or subcommand"

// scriptLib is a function library whose functions call removed and renamed-away commands.
const scriptLib = "#!lua name=attack\n" +
	"redis.register_function('wipe', function() return redis.call('flushall') end)\n" +
	"redis.register_function{function_name='wipe_ro', callback=function() return redis.call('flushdb') end, flags={'no-writes'}}\n" +
	"redis.register_function('cfg', function() return redis.call('config','set','maxmemory-policy','allkeys-lru') end)\n" +
	"redis.register_function('get', function(keys) return redis.call('get', keys[1]) end)\n"

func TestScriptGuardNoPathRunsARemovedCommand(t *testing.T) {
	t.Parallel()
	for _, lanes := range []int{2, 0} {
		t.Run("lanes="+strconv.Itoa(lanes), func(t *testing.T) {
			t.Parallel()
			s := renamed(t, guardRenames)
			s.SharedLanes = lanes
			e := newEnv(t, s)
			direct := dial(t, e.srv.Addr, "127.0.0.1")
			if got := e.be.ScriptGuard(); got.State != backend.GuardReady {
				t.Fatalf("guard state %v (%v), want ready", got.State, got.Err)
			}
			direct.expectOK("SET", "canary", "alive")
			policy := direct.do("CONFIG", "GET", "maxmemory-policy")
			c := dial(t, e.addr, "127.0.0.2")
			// The library is loaded through moat: FUNCTION runs as the script user too, and loading
			// code that merely names a removed command is allowed (Redis allows it).
			if got := c.do("FUNCTION", "LOAD", scriptLib); got != bulk("attack") {
				t.Fatalf("FUNCTION LOAD: %q", got)
			}
			sha := strings.TrimSuffix(strings.TrimPrefix(c.do("SCRIPT", "LOAD", "return redis.call('flushall')"), "$40\r\n"), "\r\n")
			paths := []struct {
				name string
				send string
				want []string // prefixes of each reply, in order
			}{
				{"direct removed", cmd("FLUSHALL"), []string{"-ERR unknown command 'FLUSHALL'"}},
				{"direct renamed away", cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), []string{"-ERR unknown command 'CONFIG'"}},
				{"inline", "FLUSHDB\r\n", []string{"-ERR unknown command 'FLUSHDB'"}},
				{"eval", cmd("EVAL", "return redis.call('flushall')", "0"), []string{denied}},
				{"eval pcall", cmd("EVAL", "return redis.pcall('FLUSHDB')", "0"), []string{denied}},
				{"eval renamed original", cmd("EVAL", "return redis.call('config','set','maxmemory-policy','allkeys-lru')", "0"), []string{"-ERR"}},
				// As in redis-server with the same renames: the backend does not know the new name.
				{"eval new name", cmd("EVAL", "return redis.call('cfg','get','maxmemory')", "0"), []string{"-ERR Unknown Redis command called from script"}},
				{"evalsha", cmd("EVALSHA", sha, "0"), []string{denied}},
				{"eval_ro", cmd("EVAL_RO", "return redis.pcall('flushall')", "0"), []string{"-"}},
				{"evalsha_ro", cmd("EVALSHA_RO", sha, "0"), []string{"-"}},
				{"fcall", cmd("FCALL", "wipe", "0"), []string{denied}},
				{"fcall config", cmd("FCALL", "cfg", "0"), []string{"-ERR"}}, // CONFIG is noscript anyway
				{"eval renamed-away original", cmd("EVAL", "return redis.call('del','canary')", "0"), []string{denied}},
				{"eval renamed-away original, pcall", cmd("EVAL", "return redis.pcall('DEL','canary')", "0"), []string{denied}},
				{"direct new name of a script-callable command", cmd("REMOVE", "nothing"), []string{":0"}},
				{"fcall_ro", cmd("FCALL_RO", "wipe_ro", "0"), []string{"-"}},
				{"pipelined", cmd("SET", "p", "1") + cmd("EVAL", "return redis.call('flushall')", "0") + cmd("GET", "p") + cmd("CFG", "GET", "maxmemory"),
					[]string{"+OK", denied, "$1\r\n1", "*2\r\n$9\r\nmaxmemory"}},
				{"multi", cmd("MULTI") + cmd("SET", "m", "1") + cmd("EVAL", "return redis.call('flushall')", "0") + cmd("FCALL", "get", "1", "m") + cmd("EXEC"),
					[]string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3\r\n+OK\r\n" + denied}},
				{"multi good", cmd("MULTI") + cmd("EVAL", "return redis.call('get',KEYS[1])", "1", "canary") + cmd("CFG", "GET", "maxmemory") + cmd("EVAL", "return 7", "0") + cmd("EXEC"),
					[]string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3\r\n$5\r\nalive\r\n*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n:7\r\n"}},
				{"reply skip", cmd("CLIENT", "REPLY", "SKIP") + cmd("EVAL", "return redis.call('flushall')", "0") + cmd("ECHO", "after"), []string{"$5\r\nafter"}},
				{"reply off", cmd("CLIENT", "REPLY", "OFF") + cmd("EVAL", "return redis.call('flushall')", "0") + cmd("FCALL", "wipe", "0") + cmd("CLIENT", "REPLY", "ON") + cmd("EVAL", "return redis.call('get',KEYS[1])", "1", "canary"),
					[]string{"+OK", "$5\r\nalive"}},
				{"resp3", cmd("HELLO", "3") + cmd("EVAL", "return redis.call('flushall')", "0") + cmd("FCALL", "get", "1", "canary") + cmd("HELLO", "2"),
					[]string{"%7", denied, "$5\r\nalive", "*14"}},
			}
			for _, p := range paths {
				c := dial(t, e.addr, "127.0.0.3")
				c.send(p.send)
				for i, w := range p.want {
					if got := c.readReply(); !strings.HasPrefix(got, w) {
						t.Errorf("%s: reply %d = %q, want it to start with %q", p.name, i, truncate(got), w)
					}
				}
				// The connection still works, as the backend login: a renamed command runs under its new name.
				if got := c.do("CFG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n$9\r\nmaxmemory") {
					t.Errorf("%s: CFG GET after: %q", p.name, got)
				}
				if got := direct.do("GET", "canary"); got != bulk("alive") {
					t.Fatalf("%s: the canary is gone (%q): a removed command ran", p.name, got)
				}
				if got := direct.do("CONFIG", "GET", "maxmemory-policy"); got != policy {
					t.Fatalf("%s: CONFIG changed: %q, was %q", p.name, got, policy)
				}
				c.c.Close()
			}
			// A large script argument (over what moat holds at once: streamed to the backend) is still
			// sent between the AUTHs.
			c.send(cmd("EVAL", "redis.call('flushall') return #ARGV[1]", "0", strings.Repeat("x", 3<<20)))
			if got := c.readReply(); !strings.HasPrefix(got, denied) {
				t.Errorf("large EVAL: %q", truncate(got))
			}
			if got := direct.do("DBSIZE"); got == ":0\r\n" {
				t.Fatal("the backend was emptied")
			}
		})
	}
}

// The backend's script user comes back after a backend restart, before any script runs on it, and a
// rename-command change reaches it before new connections are served.
func TestScriptGuardSurvivesRestartAndFollowsRenames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, renamed(t, guardRenames))
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	direct.expectOK("SET", "canary", "alive")
	e.srv.Restart(t) // not persisted: the canary and the ACL user are gone
	direct = dial(t, e.srv.Addr, "127.0.0.1")
	direct.expectOK("SET", "canary", "alive")
	if !eventually(5*time.Second, func() bool {
		c, err := dialErr(e.addr, "127.0.0.2")
		if err != nil {
			return false
		}
		defer c.c.Close()
		c.t = t
		got, _ := c.readAfter(cmd("EVAL", "return redis.call('flushall')", "0"))
		t.Logf("after restart: %q", got)
		return strings.HasPrefix(got, denied)
	}) {
		t.Fatal("EVAL of a removed command after a backend restart was not refused")
	}
	if got := direct.do("GET", "canary"); got != bulk("alive") {
		t.Fatalf("canary after restart: %q", got)
	}
	// FLUSHALL is allowed again, SET is removed: new connections' scripts follow.
	e.gw.Publish(renamed(t, `SET ""`))
	c := dial(t, e.addr, "127.0.0.3")
	if got := c.do("EVAL", "return redis.call('set','x','1')", "0"); !strings.HasPrefix(got, denied) {
		t.Errorf("EVAL SET after SET was removed: %q", got)
	}
	c.expectOK("EVAL", "return redis.call('flushall')", "0")
	// Nothing renamed: scripts are sent as they are.
	e.gw.Publish(allowLoopback(t))
	if got := e.be.ScriptGuard().State; got != backend.GuardOff {
		t.Errorf("guard state with nothing renamed: %v", got)
	}
	c = dial(t, e.addr, "127.0.0.4")
	c.expectOK("EVAL", "return redis.call('set','x','1')", "0")
}

// Where the backend cannot refuse commands inside scripts — no ACL users, or moat's login may not manage
// them — scripts and functions are refused while anything is renamed, unless unguarded-scripts accepts
// the risk.
func TestScriptGuardRefusesWhatItCannotGuard(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	direct := dial(t, srv.Addr, "127.0.0.1")
	direct.expectOK("ACL", "SETUSER", "app", "on", ">apppw", "~*", "&*", "+@all", "-@admin")
	be, gw, addr := startOn(t, "r-noperm", "redis://app:apppw@"+srv.Addr, renamed(t, guardRenames))
	if g := be.ScriptGuard(); g.State != backend.GuardFailed || !strings.Contains(g.Err.Error(), "may not manage ACL users") {
		t.Fatalf("guard: %v %v", g.State, g.Err)
	}
	c := dial(t, addr, "127.0.0.2")
	want := "-ERR scripts and functions are disabled on this instance"
	for _, args := range [][]string{{"EVAL", "return 1", "0"}, {"EVALSHA_RO", strings.Repeat("a", 40), "0"}, {"FCALL", "f", "0"}, {"FUNCTION", "LIST"}} {
		if got := c.do(args...); !strings.HasPrefix(got, want) {
			t.Errorf("%v: %q", args, got)
		}
	}
	c.send(cmd("MULTI") + cmd("EVAL", "return 1", "0") + cmd("EXEC"))
	c.expect("+OK\r\n")
	if got := c.readReply(); !strings.HasPrefix(got, want) {
		t.Errorf("EVAL in MULTI: %q", got)
	}
	if got := c.readReply(); !strings.HasPrefix(got, "-EXECABORT") {
		t.Errorf("EXEC: %q", got)
	}
	// The operator accepts the risk: scripts run unguarded (and can call what was removed).
	open := renamed(t, guardRenames)
	open.UnguardedScripts = true
	gw.Publish(open)
	c = dial(t, addr, "127.0.0.3")
	c.expectOK("EVAL", "return redis.call('set','k','v')", "0")
}

// The embedded engine has no ACL users: with anything renamed, scripts are refused by moat itself.
func TestScriptGuardEmbeddedEngine(t *testing.T) {
	t.Parallel()
	be, _, addr := startOn(t, "r-emb", "embedded", renamed(t, `FLUSHALL ""`))
	if g := be.ScriptGuard(); g.State != backend.GuardNoACL {
		t.Fatalf("guard: %v %v", g.State, g.Err)
	}
	c := dial(t, addr, "127.0.0.2")
	if got := c.do("EVAL", "return redis.call('flushall')", "0"); !strings.HasPrefix(got, "-ERR scripts and functions are disabled on this instance") {
		t.Errorf("EVAL: %q", got)
	}
}

// readAfter sends raw and reads one reply, reporting errors instead of failing the test.
func (c *client) readAfter(raw string) (string, error) {
	c.c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := c.c.Write([]byte(raw)); err != nil {
		return "", err
	}
	return c.readReplyErr(replyTimeout)
}
