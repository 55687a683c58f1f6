package gateway_test

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
)

// diffUsers are the users of the differential test (issue 18, item 8): each restricted another way.
var diffUsers = [][]string{
	{"default", "resetpass", ">defpw"},
	{"admin", "on", ">adminpw", "~*", "&*", "+@all"},
	{"app", "on", ">apw", "~app:*", "+@all"},
	{"alice", "on", ">alpw", "~app:*", "&news.*", "+@all", "-@dangerous"},
	{"ro", "on", ">rpw", "%R~ro:*", "~rw:*", "+@all", "-@dangerous", "(~sel:* +get +eval +evalsha +fcall)"},
	{"dave", "on", ">dpw", "%R~ro:*", "%W~wo:*", "~app:*", "+@all", "-@dangerous"},
	{"bob", "on", "nopass", "~*", "&*", "-@all", "+@connection", "+get", "+multi", "+exec", "+discard"},
	{"reader", "on", ">rdpw", "~*", "&*", "+@read", "+@connection", "+@transaction", "+eval", "+fcall", "+evalsha"},
}

// diffKeys are the keys the generated commands touch: allowed to some users, denied to others.
var diffKeys = []string{"app:1", "app:2", "app:l", "ro:1", "rw:1", "wo:1", "sel:1", "secret", "other", "w1"}

const diffScript = "return redis.call('get',KEYS[1])"

// diffCommands builds one generated command (as RESP, or inline when the pick says so).
var diffCommands = []func(r *rand.Rand, k func() string) string{
	func(r *rand.Rand, k func() string) string { return cmd("GET", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("SET", k(), "v") },
	func(r *rand.Rand, k func() string) string { return cmd("INCR", "app:n") },
	func(r *rand.Rand, k func() string) string { return cmd("MGET", k(), k()) },
	func(r *rand.Rand, k func() string) string { return cmd("DEL", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("COPY", k(), k()) },
	func(r *rand.Rand, k func() string) string { return cmd("RPUSH", "app:l", "3", "1", "2") },
	func(r *rand.Rand, k func() string) string { return cmd("SORT", "app:l") },
	func(r *rand.Rand, k func() string) string { return cmd("SORT", "app:l", "BY", "w*") },
	func(r *rand.Rand, k func() string) string { return cmd("SORT", "app:l", "BY", "nosort", "GET", "#") },
	func(r *rand.Rand, k func() string) string { return cmd("SORT", "app:l", "GET", "app:*") },
	func(r *rand.Rand, k func() string) string { return cmd("SORT_RO", k(), "BY", "app:*") },
	func(r *rand.Rand, k func() string) string { return cmd("PUBLISH", "news.1", "m") },
	func(r *rand.Rand, k func() string) string { return cmd("PUBLISH", "other", "m") },
	func(r *rand.Rand, k func() string) string { return cmd("EVAL", diffScript, "1", k()) },
	func(r *rand.Rand, k func() string) string {
		return cmd("EVAL", "return redis.call('get','"+k()+"')", "0")
	},
	func(r *rand.Rand, k func() string) string {
		return cmd("EVAL", "return redis.call('set',KEYS[1],'s')", "1", k())
	},
	func(r *rand.Rand, k func() string) string { return cmd("EVAL", "return 1", "0") },
	func(r *rand.Rand, k func() string) string {
		return cmd("EVAL_RO", "return redis.call('set','app:1','x')", "0")
	},
	func(r *rand.Rand, k func() string) string { return cmd("EVALSHA", sha1hex(diffScript), "1", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("SCRIPT", "EXISTS", sha1hex(diffScript)) },
	func(r *rand.Rand, k func() string) string { return cmd("FCALL", "uget", "1", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("FCALL", "uset", "1", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("FCALL_RO", "uget", "1", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("FUNCTION", "LIST", "LIBRARYNAME", "nomatch") }, // (one library's functions come in hash order)
	func(r *rand.Rand, k func() string) string { return cmd("FUNCTION", "DELETE", "nolib") },
	func(r *rand.Rand, k func() string) string {
		return cmd("MULTI") + cmd("GET", k()) + cmd("SET", k(), "m") + cmd("EVAL", diffScript, "1", k()) + cmd("EXEC")
	},
	func(r *rand.Rand, k func() string) string {
		return cmd("MULTI") + cmd("INCR", "app:n") + cmd("FLUSHALL") + cmd("EXEC")
	},
	func(r *rand.Rand, k func() string) string {
		return cmd("MULTI") + cmd("SET", k(), "d") + cmd("DISCARD")
	},
	func(r *rand.Rand, k func() string) string { return "GET " + k() + "\r\n" },
	func(r *rand.Rand, k func() string) string { return "SET " + k() + " \"a b\"\r\n" },
	func(r *rand.Rand, k func() string) string { return cmd("ACL", "WHOAMI") },
	func(r *rand.Rand, k func() string) string { return cmd("ACL", "DRYRUN", "app", "GET", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("KEYS", "nomatch*") },
	func(r *rand.Rand, k func() string) string { return cmd("CONFIG", "GET", "maxmemory") },
	func(r *rand.Rand, k func() string) string { return cmd("NOSUCH", k()) },
	func(r *rand.Rand, k func() string) string { return cmd("GET") },
	func(r *rand.Rand, k func() string) string { return cmd("PING") },
}

// diffScriptFor is one user's generated transcript: a failed AUTH and commands refused before logging
// in (pipelined and inline), then the login and n generated commands, then QUIT.
func diffScriptFor(user, pass string, seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	key := func() string { return diffKeys[r.IntN(len(diffKeys))] }
	var b strings.Builder
	b.WriteString(cmd("AUTH", user, "wrong") + cmd("GET", "app:1") + "GET app:1\r\n" + cmd("EVAL", "return 1", "0") +
		cmd("MULTI") + cmd("GET", "x") + cmd("EXEC") + "AUTH " + user + " wrong too\r\n" + cmd("AUTH", user, pass))
	for range n {
		b.WriteString(diffCommands[r.IntN(len(diffCommands))](r, key))
	}
	b.WriteString(cmd("QUIT"))
	return b.String()
}

// The differential test (issue 18, item 8): for every user, a few hundred generated commands — scripts
// touching declared and undeclared keys, FUNCTION/FCALL, SORT … BY/GET, MULTI with denied commands,
// pipelined and inline commands after a failed AUTH — get byte-identical replies from moat (default
// settings) in front of a plain redis-server and from a redis-server holding the same users; and both
// log the same denials — inside scripts too — with the same user names. (The entries' grouping is not
// compared: moat mirrors a script's denials from the backend when it reads the script's reply, after the
// backend has run the commands pipelined behind it, so Redis's grouping of neighbouring entries can
// count them into other entries.)
func TestDifferentialACL(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newEnv(t, withUsers(t, allowLoopback(t), diffUsers)), oracle: aclOracle(t, diffUsers)}
	if !e.gw.IdentitiesReady() {
		t.Fatal("identities not ready against a redis-server 7 whose default user may manage users")
	}
	commands, luaKinds := 0, 0
	for i, u := range diffUsers {
		pass := strings.TrimPrefix(u[slices.IndexFunc(u, func(s string) bool { return strings.HasPrefix(s, ">") || s == "nopass" })], ">")
		for _, addr := range []string{e.srv.Addr, e.oracle.Addr} {
			c := dial(t, addr, "127.0.0.1")
			if addr == e.oracle.Addr {
				c.do("AUTH", "admin", "adminpw")
			}
			c.do("FLUSHALL")
			c.do("ACL", "LOG", "RESET")
			c.do("SCRIPT", "FLUSH")
			if got := c.do("FUNCTION", "LOAD", "REPLACE", funcLib); got != bulk("ulib") {
				t.Fatalf("FUNCTION LOAD on %s: %q", addr, got)
			}
			c.do("MSET", "app:1", "a", "secret", "s", "ro:1", "r", "rw:1", "w", "sel:1", "z", "w1", "1", "w2", "2")
			c.do("SCRIPT", "LOAD", diffScript)
			c.c.Close()
		}
		m := dial(t, e.addr, "127.0.0.3")
		m.do("AUTH", "admin", "adminpw")
		m.do("ACL", "LOG", "RESET")
		m.c.Close()
		script := diffScriptFor(u[0], pass, uint64(i), 300)
		commands += 300
		sameTranscript(t, e.oracle.Addr, e.addr, "user "+u[0], script)
		want, got := aclLogTotals(t, e.oracle.Addr, "127.0.0.1"), aclLogTotals(t, e.addr, "127.0.0.3")
		if !maps.Equal(got, want) || len(want) == 0 {
			t.Errorf("ACL LOG totals for %s:\nredis: %v\nmoat:  %v", u[0], want, got)
		}
		for k := range want {
			if strings.Contains(k, " lua ") {
				luaKinds++
			}
		}
	}
	if luaKinds == 0 {
		t.Error("no denial inside a script was logged: the scripts test nothing")
	}
	t.Logf("%d users, %d generated commands each (%d in all)", len(diffUsers), 300, commands)
}

// aclLogTotals reads the whole ACL LOG at addr (from, as admin) and sums the counts of each kind of
// entry: reason, context, object, username.
func aclLogTotals(t *testing.T, addr, from string) map[string]int64 {
	t.Helper()
	c := dial(t, addr, from)
	defer c.c.Close()
	c.do("AUTH", "admin", "adminpw")
	c.send(cmd("ACL", "LOG", "1000"))
	v, err := acl.ReadValue(c.br)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, entry := range v.Elems {
		f := map[string]acl.Value{}
		for i := 0; i+1 < len(entry.Elems); i += 2 {
			f[entry.Elems[i].Str] = entry.Elems[i+1]
		}
		out[f["reason"].Str+" "+f["context"].Str+" "+f["object"].Str+" "+f["username"].Str] += f["count"].Int
	}
	return out
}
