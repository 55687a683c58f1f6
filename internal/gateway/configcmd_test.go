package gateway_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// SetParams makes publishingStore a ConfigStore, doing what the control plane's ModifyInstanceConfig
// does: requirepass edits the default user (acl.Users.SetRequirePass) and is the snapshot's RequirePass,
// acllog-max-len and maxclients are the snapshot's.
func (p *publishingStore) SetParams(_, _, _ string, values map[string]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp := *p.base
	us := p.base.Users.Clone()
	for name, v := range values {
		switch name {
		case "requirepass":
			if err := us.SetRequirePass(v); err != nil {
				return err
			}
			cp.RequirePass = v
		case "acllog-max-len", "maxclients":
			n, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			if name == "maxclients" {
				cp.MaxClients = n
			} else {
				cp.ACLLogMaxLen = n
			}
		default:
			return fmt.Errorf("parameter %q: not one of moat's", name)
		}
	}
	cp.Users = us
	cp.DefaultUserNoPass = us.Get("default").NoPass()
	p.base = &cp
	p.gw.Publish(&cp)
	return nil
}

// CONFIG SET and GET of requirepass and acllog-max-len, and ACL LOAD and SAVE, through moat are byte for
// byte what redis-server 7.0.15 (started without an aclfile) answers with the same users — alone,
// pipelined, inline, inside MULTI, refused by a user's rules — and leave the same ACL LOG; the backend's
// own password never changes.
func TestConfigOfMoatsParametersMatchesRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	backendBefore := dial(t, e.srv.Addr, "127.0.0.1").do("ACL", "LIST")
	admin := cmd("AUTH", "admin", "adminpw")
	restore := cmd("CONFIG", "SET", "requirepass", "defpw")
	scripts := []namedScript{
		{"requirepass set, used and read", admin + cmd("CONFIG", "GET", "requirepass") + cmd("CONFIG", "SET", "requirepass", "n3w") +
			cmd("CONFIG", "GET", "requirepass") + cmd("CONFIG", "GET", "REQUIREPASS", "requirepass") + cmd("ACL", "GETUSER", "default") +
			cmd("AUTH", "defpw") + cmd("AUTH", "n3w") + cmd("ACL", "WHOAMI") + cmd("ACL", "SETUSER", "default", "resetpass", ">other") +
			cmd("CONFIG", "GET", "requirepass") + cmd("AUTH", "other") + cmd("CONFIG", "SET", "RequirePass", "") + cmd("ACL", "GETUSER", "default") +
			cmd("AUTH", "anything") + cmd("CONFIG", "SET", "requirepass", "abc\x00def") + cmd("AUTH", "abc") + cmd("AUTH", "abc\x00def") +
			restore + cmd("AUTH", "defpw") + cmd("CONFIG", "GET", "requirepass")},
		{"errors", admin + cmd("CONFIG", "SET", "requirepass", "a", "requirepass", "b") + cmd("CONFIG", "SET", "requirepass") +
			cmd("CONFIG", "SET", "requirepass", "a", "b") + cmd("CONFIG", "SET", "acllog-max-len", "abc") +
			cmd("CONFIG", "SET", "acllog-max-len", "-1") + cmd("CONFIG", "SET", "acllog-max-len", "-0") +
			cmd("CONFIG", "SET", "acllog-max-len", "01") + cmd("CONFIG", "SET", "acllog-max-len", "99999999999999999999") +
			cmd("CONFIG", "SET", "requirepass", "x", "acllog-max-len", "nope") + cmd("AUTH", "defpw") + cmd("CONFIG", "GET", "acllog-max-len")},
		{"refused by the user's rules", cmd("AUTH", "alice", "apw") + cmd("CONFIG", "SET", "requirepass", "x") +
			cmd("CONFIG", "GET", "requirepass") + cmd("CONFIG", "SET", "acllog-max-len", "1") + cmd("ACL", "LOAD") +
			cmd("AUTH", "bob", "x") + cmd("CONFIG", "SET", "requirepass", "y") + cmd("AUTH", "defpw")},
		{"ACL LOAD and SAVE", admin + cmd("ACL", "LOAD") + cmd("ACL", "SAVE") + cmd("ACL", "save") + cmd("ACL", "LOAD", "x") +
			cmd("MULTI") + cmd("ACL", "SAVE") + cmd("SET", "k", "1") + cmd("EXEC") + cmd("GET", "k")},
		{"inside MULTI", admin + cmd("MULTI") + cmd("CONFIG", "SET", "requirepass", "m1") + cmd("CONFIG", "GET", "requirepass") +
			cmd("CONFIG", "SET", "acllog-max-len", "77") + cmd("CONFIG", "GET", "acllog-max-len") + cmd("SET", "k", "v") +
			cmd("CONFIG", "SET", "acllog-max-len", "x") + cmd("EXEC") + cmd("AUTH", "m1") + cmd("CONFIG", "GET", "acllog-max-len") +
			cmd("MULTI") + cmd("CONFIG", "SET", "acllog-max-len", "128") + cmd("CONFIG", "SET", "requirepass", "defpw") + cmd("EXEC") +
			cmd("AUTH", "defpw")},
		{"pipelined and inline", "AUTH admin adminpw\r\nCONFIG SET requirepass p2\r\nAUTH p2\r\nCONFIG GET requirepass\r\n" +
			"CONFIG SET acllog-max-len 128\r\nCONFIG SET requirepass defpw\r\nAUTH defpw\r\n"},
		// Last: the log keeps 2 entries, which sameScriptsAndLog then compares.
		{"acllog-max-len bounds ACL LOG", admin + cmd("CONFIG", "SET", "acllog-max-len", "2") + cmd("CONFIG", "GET", "acllog-max-len") +
			cmd("AUTH", "alice", "apw") + cmd("SET", "other", "1") + cmd("GET", "x1") + cmd("FLUSHALL") + cmd("PUBLISH", "c", "m") +
			cmd("AUTH", "nobody", "x") + cmd("AUTH", "admin", "adminpw") + cmd("ACL", "LOG", "RESET") + cmd("GET", "y")},
	}
	sameScriptsAndLog(t, e, scripts, sameTranscript)

	if got := dial(t, e.srv.Addr, "127.0.0.1").do("ACL", "LIST"); got != backendBefore {
		t.Errorf("the backend's users changed: %q, were %q", got, backendBefore)
	}
	if got := dial(t, e.srv.Addr, "127.0.0.1").do("CONFIG", "GET", "requirepass"); got != "*2\r\n$11\r\nrequirepass\r\n$0\r\n\r\n" {
		t.Errorf("the backend's requirepass: %q", got)
	}
}

// CONFIG GET of moat's parameters over RESP3 is a map, as in Redis.
func TestConfigGetOverRESP3MatchesRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	var got [2]string
	for i, to := range []struct{ addr, from string }{{e.oracle.Addr, "127.0.0.1"}, {e.addr, "127.0.0.2"}} {
		c := dial(t, to.addr, to.from)
		if r := c.do("HELLO", "3", "AUTH", "admin", "adminpw"); !strings.HasPrefix(r, "%") {
			t.Fatalf("HELLO 3 on %s: %q", to.addr, r)
		}
		// One name a command: Redis orders several by a hash with a per-process seed.
		got[i] = c.do("CONFIG", "SET", "requirepass", "r3") + c.do("CONFIG", "GET", "requirepass") +
			c.do("CONFIG", "GET", "AclLog-Max-Len", "acllog-max-len") + c.do("CONFIG", "SET", "requirepass", "defpw")
	}
	if got[0] != got[1] {
		t.Errorf("RESP3:\nredis: %q\nmoat:  %q", got[0], got[1])
	}
}

// Where moat cannot do as Redis does, it says so: acllog-max-len above the control plane's bound. A
// CONFIG SET that mixes moat's parameters with the backend's is applied (configmix_test.go).
func TestConfigSetOfMoatsParametersLimits(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	for _, q := range []struct {
		args []string
		want string
	}{
		{[]string{"CONFIG", "SET", "acllog-max-len", "100001"},
			"-ERR CONFIG SET failed (possibly related to argument 'acllog-max-len') - argument must be between 0 and 100000 inclusive\r\n"},
		{[]string{"CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "acllog-max-len", "100001"},
			"-ERR CONFIG SET failed (possibly related to argument 'acllog-max-len') - argument must be between 0 and 100000 inclusive\r\n"},
		{[]string{"CONFIG", "GET", "acllog-max-len"}, "*2\r\n$14\r\nacllog-max-len\r\n$3\r\n128\r\n"},
		{[]string{"AUTH", "defpw"}, "+OK\r\n"},
	} {
		if got := c.do(q.args...); got != q.want {
			t.Errorf("%q: %q, want %q", q.args, got, q.want)
		}
	}
}

// Inside MULTI, a CONFIG SET requirepass changes the transaction's idea of the default user as EXEC
// will: a HELLO … AUTH default with the new password queued after it is judged to succeed (the backend
// gets the HELLO) and does, so the connection stays open as the default user, as in Redis.
func TestConfigSetRequirePassThenHelloAuthInMulti(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, aclUsers)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	c.expectOK("MULTI")
	for _, args := range [][]string{{"CONFIG", "SET", "requirepass", "m2"}, {"HELLO", "2", "AUTH", "default", "m2"}, {"ACL", "WHOAMI"}} {
		if got := c.do(args...); got != "+QUEUED\r\n" {
			t.Fatalf("%q in MULTI: %q", args, got)
		}
	}
	got := c.do("EXEC")
	if !strings.HasPrefix(got, "*3\r\n+OK\r\n*14\r\n") || !strings.HasSuffix(got, "$7\r\ndefault\r\n") {
		t.Fatalf("EXEC: %q", got)
	}
	if got := c.do("ACL", "WHOAMI"); got != "$7\r\ndefault\r\n" {
		t.Errorf("after EXEC: %q", got)
	}
	c.expectOK("CONFIG", "SET", "requirepass", "defpw")
}
