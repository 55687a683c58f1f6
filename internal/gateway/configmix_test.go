package gateway_test

import (
	"strings"
	"testing"
)

// mixedParams are the parameters the mixed CONFIG SET tests change: the backend's and moat's.
var mixedParams = []string{"hz", "maxmemory-policy", "maxmemory", "requirepass", "acllog-max-len"}

// configState is what CONFIG GET answers for each of mixedParams on addr (as admin).
func configState(t *testing.T, addr, from string) string {
	t.Helper()
	c := dial(t, addr, from)
	defer c.c.Close()
	c.expectOK("AUTH", "admin", "adminpw")
	var b strings.Builder
	for _, p := range mixedParams {
		b.WriteString(c.do("CONFIG", "GET", p))
	}
	return b.String()
}

// A CONFIG SET naming moat's parameters and the backend's is applied all or none, as one CONFIG SET of
// redis-server 7.0.15: byte for byte the same replies — success; a failure of the backend's part
// (unknown, duplicate, bad value), of moat's part (duplicate, bad value), first of either by Redis's
// two passes — alone and pipelined with commands that depend on it, and after each script the
// backend's and moat's parameters are what redis-server's are.
func TestConfigSetMixedMatchesRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	admin := cmd("AUTH", "admin", "adminpw")
	backendGet := cmd("CONFIG", "GET", "hz") + cmd("CONFIG", "GET", "maxmemory-policy")
	moatGet := cmd("CONFIG", "GET", "requirepass") + cmd("CONFIG", "GET", "acllog-max-len")
	scripts := []namedScript{
		{"success", admin + cmd("CONFIG", "SET", "hz", "12", "acllog-max-len", "9", "maxmemory-policy", "allkeys-lru") +
			backendGet + moatGet + cmd("CONFIG", "SET", "ACLLOG-MAX-LEN", "10", "Hz", "13") + backendGet + moatGet},
		{"the backend's value refused", admin + cmd("CONFIG", "SET", "acllog-max-len", "3", "maxmemory-policy", "bogus", "hz", "20") +
			cmd("CONFIG", "SET", "requirepass", "never", "maxmemory", "lots") + backendGet + moatGet},
		{"moat's value refused", admin + cmd("CONFIG", "SET", "hz", "21", "acllog-max-len", "nope", "maxmemory-policy", "volatile-lru") +
			cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-random", "acllog-max-len", "-1") + backendGet + moatGet},
		{"the first failure is named", admin +
			cmd("CONFIG", "SET", "acllog-max-len", "nope", "maxmemory-policy", "bogus") +
			cmd("CONFIG", "SET", "maxmemory-policy", "bogus", "acllog-max-len", "nope") +
			cmd("CONFIG", "SET", "acllog-max-len", "nope", "nosuch", "1") +
			cmd("CONFIG", "SET", "nosuch", "1", "requirepass", "a", "requirepass", "b") +
			cmd("CONFIG", "SET", "requirepass", "a", "REQUIREPASS", "b", "nosuch", "1") +
			cmd("CONFIG", "SET", "hz", "10", "requirepass", "x", "HZ", "11") +
			cmd("CONFIG", "SET", "hz", "10", "requirepass", "x", "acllog-max-len", "x", "hz", "11") +
			cmd("CONFIG", "SET", "maxmemory", "bad", "acllog-max-len", "1", "acllog-max-len", "2") +
			cmd("CONFIG", "SET", "ACLLOG-MAX-LEN", "abc") + cmd("CONFIG", "SET", "acllog-max-len", "abc", "requirepass", "a", "RequirePass", "b") +
			backendGet + moatGet},
		{"pipelined and inline", admin + cmd("CONFIG", "SET", "hz", "30") + cmd("CONFIG", "SET", "hz", "31", "requirepass", "mixpw") +
			cmd("CONFIG", "GET", "hz") + cmd("AUTH", "mixpw") + "CONFIG SET requirepass defpw hz 32\r\n" + cmd("AUTH", "defpw") +
			cmd("CONFIG", "SET", "hz", "33", "acllog-max-len", "x") + backendGet + moatGet},
		{"refused by the user's rules", cmd("AUTH", "alice", "apw") + cmd("CONFIG", "SET", "hz", "40", "requirepass", "x") +
			cmd("AUTH", "defpw")},
		{"put back", admin + cmd("CONFIG", "SET", "hz", "10", "maxmemory-policy", "noeviction", "acllog-max-len", "128") +
			backendGet + moatGet},
	}
	sameScriptsAndLog(t, e, scripts, sameTranscript)
	if got, want := configState(t, e.addr, "127.0.0.2"), configState(t, e.oracle.Addr, "127.0.0.1"); got != want {
		t.Errorf("parameters after the scripts:\nmoat:  %q\nredis: %q", got, want)
	}
}

// After each mixed CONFIG SET, what moat's backend holds (asked directly) and moat's own parameters are
// exactly what a failure leaves: nothing changed, the backend's part set back when moat's failed.
func TestConfigSetMixedLeavesNothingOnFailure(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	backend := dial(t, e.srv.Addr, "127.0.0.1")
	state := func() string {
		return backend.do("CONFIG", "GET", "hz") + backend.do("CONFIG", "GET", "maxmemory-policy") +
			c.do("CONFIG", "GET", "requirepass") + c.do("CONFIG", "GET", "acllog-max-len")
	}
	before := state()
	for _, q := range []struct {
		args []string
		want string
	}{
		{[]string{"CONFIG", "SET", "hz", "25", "maxmemory-policy", "allkeys-lru", "acllog-max-len", "abc"},
			"-ERR CONFIG SET failed (possibly related to argument 'acllog-max-len') - argument couldn't be parsed into an integer\r\n"},
		{[]string{"CONFIG", "SET", "hz", "25", "acllog-max-len", "100001"},
			"-ERR CONFIG SET failed (possibly related to argument 'acllog-max-len') - argument must be between 0 and 100000 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "requirepass", "z", "maxmemory-policy", "bogus"},
			"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n"},
		{[]string{"CONFIG", "SET", "requirepass", "z", "hz", "26", "bind", "0.0.0.0"},
			"-ERR CONFIG SET failed (possibly related to argument 'bind') - can't set protected config\r\n"},
	} {
		if got := c.do(q.args...); got != q.want {
			t.Errorf("%q: %q, want %q", q.args, got, q.want)
		}
		if got := state(); got != before {
			t.Errorf("after %q: %q, was %q", q.args, got, before)
		}
	}
	c.expectOK("CONFIG", "SET", "hz", "27", "requirepass", "both")
	if got := backend.do("CONFIG", "GET", "hz"); got != "*2\r\n$2\r\nhz\r\n$2\r\n27\r\n" {
		t.Errorf("the backend's hz after success: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.3").do("AUTH", "both"); got != "+OK\r\n" {
		t.Errorf("AUTH with the requirepass set beside hz: %q", got)
	}
}

// Inside MULTI a mixed CONFIG SET is refused and dooms the transaction (moat cannot apply it at EXEC), as
// before; moat's parameters alone are queued and run at EXEC (TestConfigOfMoatsParametersMatchesRedis).
func TestConfigSetMixedInMulti(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	c.expectOK("MULTI")
	for _, q := range [][2]string{
		{cmd("CONFIG", "SET", "hz", "50", "acllog-max-len", "4"), "-ERR CONFIG SET failed (possibly related to argument 'acllog-max-len') - can't set protected config\r\n"},
		{cmd("EXEC"), "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{cmd("CONFIG", "GET", "acllog-max-len"), "*2\r\n$14\r\nacllog-max-len\r\n$3\r\n128\r\n"},
	} {
		c.send(q[0])
		if got := c.readReply(); got != q[1] {
			t.Errorf("%q: %q, want %q", q[0], got, q[1])
		}
	}
	if got := dial(t, e.srv.Addr, "127.0.0.1").do("CONFIG", "GET", "hz"); got != "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n" {
		t.Errorf("the backend's hz: %q", got)
	}
}

// CONFIG GET naming moat's parameters beside the backend's answers moat's values for moat's (the
// backend's order: several names come in a per-process hash order in Redis too); inside MULTI, where
// EXEC's array is not rewritten, requirepass beside others is refused.
func TestConfigGetOfMoatsParametersBesideOthers(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	c.expectOK("CONFIG", "SET", "requirepass", "beside", "acllog-max-len", "9")
	got := c.do("CONFIG", "GET", "hz", "REQUIREPASS", "acllog-max-len")
	for _, want := range []string{"*6\r\n", "$2\r\nhz\r\n$2\r\n10\r\n", "$11\r\nREQUIREPASS\r\n$6\r\nbeside\r\n", "$14\r\nacllog-max-len\r\n$1\r\n9\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("CONFIG GET hz REQUIREPASS acllog-max-len: %q lacks %q", got, want)
		}
	}
	c.expectOK("MULTI")
	if got := c.do("CONFIG", "GET", "requirepass", "hz"); !strings.HasPrefix(got, "-ERR CONFIG GET of a pattern matching a password parameter") {
		t.Errorf("CONFIG GET requirepass hz in MULTI: %q", got)
	}
	if got := c.do("EXEC"); !strings.HasPrefix(got, "-EXECABORT") {
		t.Errorf("EXEC: %q", got)
	}
	c.expectOK("CONFIG", "SET", "requirepass", "defpw", "acllog-max-len", "128")
}
