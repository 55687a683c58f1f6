package gateway_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// AUTH and ACL inside MULTI are queued and run at EXEC, their replies in their place in EXEC's array,
// and the commands after them are judged again at EXEC as the user the connection then is ("ACLs rules
// changed …"): byte for byte as redis-server 7.0.15, and with the same ACL LOG entries.
func TestACLAndAuthInMultiMatchRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	scripts := []namedScript{
		{"AUTH queued, later commands judged as its user", cmd("AUTH", "defpw") + cmd("MULTI") + cmd("SET", "other", "0") +
			cmd("AUTH", "alice", "apw") + cmd("ACL", "WHOAMI") + cmd("SET", "app:1", "v") + cmd("SET", "other", "v") +
			cmd("FLUSHALL") + cmd("PUBLISH", "news.1", "m") + cmd("PUBLISH", "x", "m") + cmd("SORT", "app:l", "BY", "w*") +
			cmd("GET", "app:1") + cmd("EXEC") + cmd("ACL", "WHOAMI") + cmd("GET", "other")},
		{"AUTH failures inside MULTI", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH", "alice", "wrong") +
			cmd("AUTH", "a", "b", "c", "d") + cmd("AUTH", "nobody", "x") + cmd("ACL", "WHOAMI") + cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"AUTH without arguments dooms it", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH") + cmd("AUTH", "bob", "x") +
			cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"discarded", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH", "admin", "adminpw") + cmd("DISCARD") +
			cmd("ACL", "WHOAMI") + cmd("GET", "other")},
		{"ACL changes inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "eve", "on", ">epw", "~e:*", "+get") +
			cmd("ACL", "GETUSER", "eve") + cmd("ACL", "DRYRUN", "eve", "GET", "x") + cmd("AUTH", "eve", "epw") + cmd("GET", "e:1") +
			cmd("GET", "x") + cmd("SET", "e:1", "v") + cmd("ACL", "WHOAMI") + cmd("EXEC") + cmd("ACL", "WHOAMI") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "eve")},
		{"own rules changed inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "admin", "-get") +
			cmd("GET", "x") + cmd("SET", "x", "1") + cmd("ACL", "SETUSER", "admin", "+get") + cmd("GET", "x") + cmd("EXEC")},
		{"ACL refused at queue time", cmd("AUTH", "bob", "x") + cmd("MULTI") + cmd("ACL", "WHOAMI") + cmd("ACL", "SETUSER", "bob", "+@all") +
			cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"ACL errors at EXEC", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "x y") + cmd("ACL", "CAT", "nope") +
			cmd("ACL", "GENPASS", "0") + cmd("ACL", "LOG", "RESET") + cmd("ACL", "USERS") + cmd("EXEC")},
		{"EXEC refused inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "fay", "on", ">fpw", "~*", "&*", "+@all") +
			cmd("AUTH", "fay", "fpw") + cmd("MULTI") + cmd("SET", "k", "1") + cmd("EXEC", "x") + cmd("GET", "k") + cmd("MULTI") +
			cmd("SET", "k", "2") + cmd("ACL", "SETUSER", "fay", "-exec") + cmd("EXEC") + cmd("EXEC") + cmd("GET", "k") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "fay")},
		{"inline and pipelined", "AUTH alice apw\r\nMULTI\r\nAUTH admin adminpw\r\nSET other 1\r\nEXEC\r\nGET other\r\n"},
		{"own user disabled", cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "hal", "on", ">hpw", "~*", "&*", "+@all") +
			cmd("AUTH", "hal", "hpw") + cmd("ACL", "SETUSER", "hal", "off") + cmd("SET", "k", "1") + cmd("ACL", "WHOAMI") +
			cmd("AUTH", "hal", "hpw") + cmd("ACL", "WHOAMI") + cmd("MULTI") + cmd("ACL", "SETUSER", "hal", "on") +
			cmd("ACL", "SETUSER", "hal", "off", "-get") + cmd("GET", "k") + cmd("INCR", "k") + cmd("EXEC") + cmd("GET", "k") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "hal")},
		{"restricted own user disabled", cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "ivy", "on", ">ipw", "~app:*", "+@all") +
			cmd("AUTH", "ivy", "ipw") + cmd("SET", "app:1", "v") + cmd("ACL", "SETUSER", "ivy", "off") + cmd("GET", "app:1") +
			cmd("EVAL", "return redis.call('get','app:1')", "0") + cmd("MULTI") + cmd("GET", "app:1") + cmd("GET", "other") + cmd("EXEC") + cmd("MULTI") + cmd("INCR", "app:2") + cmd("EXEC") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "ivy")},
		{"refused transaction of a user without DISCARD", cmd("AUTH", "admin", "adminpw") +
			cmd("ACL", "SETUSER", "kim", "on", ">kpw", "+set", "~object:1234", "+multi", "+exec") + cmd("AUTH", "kim", "kpw") +
			cmd("MULTI") + cmd("INCR", "foo") + cmd("EXEC") + cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "kim", "+incr") +
			cmd("AUTH", "kim", "kpw") + cmd("MULTI") + cmd("INCR", "object:1234") + cmd("EXEC") + cmd("AUTH", "alice", "apw") +
			cmd("MULTI") + cmd("SET", "app:1", "x") + cmd("EXEC") + cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "kim")},
		{"own user deleted inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "gil", "on", ">gpw", "~*", "&*", "+@all") +
			cmd("AUTH", "gil", "gpw") + cmd("MULTI") + cmd("SET", "k", "1") + cmd("ACL", "DELUSER", "gil") + cmd("GET", "k") + cmd("EXEC") + cmd("PING")},
	}
	sameScriptsAndLog(t, e, scripts, sameTranscript)
}

// HELLO inside MULTI is queued whatever its arguments and runs at EXEC, as in Redis 7.0.15: its AUTH
// logs in there (the later commands judged as that user), its SETNAME names the connection, its
// protocol applies from the next element of EXEC's array on, and its refusals (NOPROTO, syntax,
// WRONGPASS, a bad name) are elements of that array, not doomed transactions. HELLO's id is the
// connection's own (CLIENT ID), byte for byte as a redis-server with the same users.
func TestHelloInMultiMatchesRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	start := cmd("AUTH", "defpw") + cmd("CLIENT", "ID")
	scripts := []namedScript{
		{"HELLO 3 AUTH SETNAME", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "alice", "apw", "SETNAME", "nm") + cmd("ACL", "WHOAMI") +
			cmd("CLIENT", "GETNAME") + cmd("SET", "app:1", "v") + cmd("SET", "other", "v") + cmd("HGETALL", "app:h") + cmd("ACL", "GETUSER", "bob") +
			cmd("EXEC") + cmd("PING") + cmd("ACL", "WHOAMI") + cmd("HGETALL", "app:h") + cmd("HELLO") + cmd("GET", "other")},
		{"wrong password", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "alice", "bad", "SETNAME", "nm") + cmd("ACL", "WHOAMI") +
			cmd("CLIENT", "GETNAME") + cmd("EXEC") + cmd("PING") + cmd("HGETALL", "h")},
		{"disabled and unknown users", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "carol", "cpw") + cmd("HELLO", "2", "AUTH", "nobody", "x") +
			cmd("ACL", "WHOAMI") + cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"refusals are elements", start + cmd("MULTI") + cmd("HELLO", "4", "AUTH", "alice", "apw") + cmd("HELLO", "x") + cmd("HELLO", "-1") +
			cmd("HELLO", "3", "FOO") + cmd("HELLO", "3", "AUTH", "alice") + cmd("HELLO", "3", "SETNAME", "a b") + cmd("ACL", "WHOAMI") +
			cmd("EXEC") + cmd("PING") + cmd("ACL", "WHOAMI")},
		{"login kept when the name is refused", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "alice", "apw", "SETNAME", "a b") +
			cmd("ACL", "WHOAMI") + cmd("CLIENT", "GETNAME") + cmd("EXEC") + cmd("PING") + cmd("HGETALL", "h")},
		{"back to RESP2 inside EXEC", start + cmd("HELLO", "3") + cmd("MULTI") + cmd("HGETALL", "h") + cmd("HELLO", "2", "AUTH", "dave", "dpw") +
			cmd("HGETALL", "h") + cmd("ACL", "GETUSER", "bob") + cmd("EXEC") + cmd("ACL", "WHOAMI") + cmd("HGETALL", "h")},
		{"HELLO without AUTH", start + cmd("MULTI") + cmd("HELLO", "3", "SETNAME", "x") + cmd("HGETALL", "h") + cmd("HELLO") + cmd("EXEC") +
			cmd("CLIENT", "GETNAME") + cmd("HGETALL", "h")},
		{"after AUTH and ACL SETUSER", cmd("AUTH", "admin", "adminpw") + cmd("CLIENT", "ID") + cmd("MULTI") +
			cmd("ACL", "SETUSER", "eve", "on", ">epw", "~e:*", "+@all") + cmd("HELLO", "3", "AUTH", "eve", "epw") + cmd("GET", "e:1") +
			cmd("GET", "x") + cmd("AUTH", "admin", "adminpw") + cmd("HELLO", "2", "AUTH", "eve", "wrong") + cmd("EXEC") + cmd("ACL", "WHOAMI") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "eve")},
		{"discarded", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "alice", "apw", "SETNAME", "nm") + cmd("DISCARD") + cmd("ACL", "WHOAMI") +
			cmd("CLIENT", "GETNAME") + cmd("HGETALL", "h")},
		{"doomed", start + cmd("MULTI") + cmd("HELLO", "3", "AUTH", "alice", "apw") + cmd("NOSUCH") + cmd("EXEC") + cmd("ACL", "WHOAMI") +
			cmd("HGETALL", "h")},
		{"inline", "AUTH defpw\r\nCLIENT ID\r\nMULTI\r\nHELLO 3 AUTH alice apw\r\nHGETALL h\r\nEXEC\r\nACL WHOAMI\r\n"},
	}
	sameScriptsAndLog(t, e, scripts, sameTranscriptSelf)
}

// sameTranscriptSelf is sameTranscript for a script whose second reply is CLIENT ID: the id in each
// HELLO reply must be the connection's own, which differs between the two servers.
func sameTranscriptSelf(t *testing.T, oracle, moat, name, script string) {
	t.Helper()
	var out [2]string
	for i, to := range []struct{ addr, from string }{{oracle, "127.0.0.1"}, {moat, "127.0.0.2"}} {
		got, err := transcript(t, to.addr, to.from, script)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, to.addr, err)
		}
		m := selfIDReply.FindStringSubmatch(got)
		if m == nil {
			t.Fatalf("%s: no CLIENT ID reply second: %q", name, got)
		}
		out[i] = "+OK\r\n:SELF\r\n" + strings.ReplaceAll(got[len(m[0]):], "$2\r\nid\r\n:"+m[1]+"\r\n", "$2\r\nid\r\n:SELF\r\n")
	}
	if out[0] != out[1] {
		t.Errorf("%s:\nscript: %q\nredis:  %q\nmoat:   %q", name, script, out[0], out[1])
	}
}

// selfIDReply is a transcript's first two replies: +OK, then CLIENT ID's.
var selfIDReply = regexp.MustCompile(`^\+OK\r\n:(\d+)\r\n`)

// A HELLO … AUTH inside MULTI is judged when queued (whether the backend gets the HELLO) and runs at
// EXEC; when the users changed in between so that the login comes out otherwise, the connection is
// closed after EXEC's reply, which says the login failed. moat's view of the connection (CLIENT INFO)
// takes the protocol and name a HELLO inside EXEC set.
func TestHelloAuthInMultiJudgedAgainAtExec(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")

	for _, tc := range []struct {
		name   string
		hello  []string
		change []string // what admin changes between queueing and EXEC
	}{
		{"password changed", []string{"HELLO", "3", "AUTH", "alice", "apw", "SETNAME", "nm"}, []string{"ACL", "SETUSER", "alice", "resetpass", ">changed"}},
		{"user created", []string{"HELLO", "3", "AUTH", "eve", "epw"}, []string{"ACL", "SETUSER", "eve", "on", ">epw", "~*", "+@all"}},
	} {
		c := dial(t, e.addr, "127.0.0.2")
		c.do("AUTH", "defpw")
		c.expectOK("MULTI")
		c.expectQueued(tc.hello...)
		admin.expectOK(tc.change...)
		if got := c.do("EXEC"); got != "*1\r\n"+wrongPass {
			t.Errorf("%s: EXEC: %q", tc.name, got)
		}
		c.expectEOF(replyTimeout)
	}

	c := dial(t, e.addr, "127.0.0.2")
	c.do("AUTH", "defpw")
	c.expectOK("MULTI")
	c.expectQueued("HELLO", "3", "AUTH", "admin", "adminpw", "SETNAME", "nm")
	if got := c.do("EXEC"); !strings.HasPrefix(got, "*1\r\n%7\r\n") {
		t.Fatalf("EXEC: %q", got)
	}
	info := c.do("CLIENT", "INFO")
	for _, want := range []string{" name=nm ", " user=admin ", " resp=3"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO after HELLO in EXEC: %q lacks %q", info, want)
		}
	}
}

func (c *client) expectQueued(args ...string) {
	c.t.Helper()
	if got := c.do(args...); got != "+QUEUED\r\n" {
		c.t.Fatalf("%q: %q, want +QUEUED", args, got)
	}
}

// namedScript is a script of raw commands and its name.
type namedScript struct{ name, script string }

// sameScriptsAndLog runs each script against the oracle and moat from clean databases, compares the two
// with same, and then the ACL LOG entries all of them left.
func sameScriptsAndLog(t *testing.T, e *aclEnv, scripts []namedScript, same func(t *testing.T, oracle, moat, name, script string)) {
	t.Helper()
	var logWant, logGot []string
	for _, sc := range scripts {
		e.flush(t)
		same(t, e.oracle.Addr, e.addr, sc.name, sc.script)
		logWant = append(logWant, aclLogEntries(t, e.oracle.Addr, "127.0.0.1", "127.0.0.1")...)
		logGot = append(logGot, aclLogEntries(t, e.addr, "127.0.0.3", "127.0.0.2")...)
	}
	if len(logWant) == 0 || !slices.Equal(logGot, logWant) {
		t.Errorf("ACL LOG:\nredis: %q\nmoat:  %q", logWant, logGot)
	}
}
