package gateway_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/snapshot"
)

// aclUsers are the users of the differential tests, as ACL SETUSER arguments: moat holds them in its
// snapshot, the oracle redis-server gets the same commands.
var aclUsers = [][]string{
	{"default", "resetpass", ">defpw"},
	{"alice", "on", ">apw", "~app:*", "&news.*", "+@all", "-@dangerous"},
	{"bob", "on", "nopass", "~*", "&*", "-@all", "+@connection", "+get"},
	{"carol", "off", ">cpw", "~*", "&*", "+@all"},
	{"dave", "on", ">dpw", "%R~ro:*", "%W~wo:*", "+@all", "-@dangerous"},
	{"admin", "on", ">adminpw", "~*", "&*", "+@all"},
}

// withUsers returns s with these users (ACL SETUSER argument lists, name first), compiled against
// redis-server 7.0.15's command table with moat's scripting rule, as the control plane compiles them.
func withUsers(t testing.TB, s *snapshot.Snapshot, users [][]string) *snapshot.Snapshot {
	t.Helper()
	tbl, err := acl.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	us := acl.NewUsers(tbl, acl.Config{ScriptsNeedAllKeys: true})
	for _, u := range users {
		if err := us.SetUser(u[0], u[1:]...); err != nil {
			t.Fatalf("SetUser %q: %v", u, err)
		}
	}
	s.Users = us
	s.DefaultUserNoPass = us.Get("default").NoPass()
	return s
}

// aclOracle starts a redis-server with the same users.
func aclOracle(t *testing.T, users [][]string) *redistest.Server {
	t.Helper()
	o := redistest.Start(t)
	c := dial(t, o.Addr, "127.0.0.1")
	defer c.c.Close()
	for _, u := range users[1:] { // default last: it gets a password
		if got := c.do(append([]string{"ACL", "SETUSER"}, u...)...); got != "+OK\r\n" {
			t.Fatalf("oracle ACL SETUSER %q: %q", u, got)
		}
	}
	if got := c.do(append([]string{"ACL", "SETUSER"}, users[0]...)...); got != "+OK\r\n" {
		t.Fatalf("oracle ACL SETUSER %q: %q", users[0], got)
	}
	return o
}

// aclEnv is moat with aclUsers in front of a redis-server without any, beside an oracle with them.
type aclEnv struct {
	*env
	oracle *redistest.Server
}

func newACLEnv(t *testing.T) *aclEnv {
	t.Helper()
	return &aclEnv{env: newEnv(t, withUsers(t, allowLoopback(t), aclUsers)), oracle: aclOracle(t, aclUsers)}
}

// flush empties both databases and the oracle's ACL LOG.
func (e *aclEnv) flush(t *testing.T) {
	t.Helper()
	o := dial(t, e.oracle.Addr, "127.0.0.1")
	o.do("AUTH", "admin", "adminpw")
	o.do("FLUSHALL")
	o.do("ACL", "LOG", "RESET")
	o.c.Close()
	b := dial(t, e.srv.Addr, "127.0.0.1")
	b.do("FLUSHALL")
	b.c.Close()
	m := dial(t, e.addr, "127.0.0.3")
	m.do("AUTH", "admin", "adminpw")
	m.do("ACL", "LOG", "RESET")
	m.c.Close()
}

// A1–A3 against the oracle: a client sees the same bytes from moat as from a redis-server 7.0.15 that has
// the users itself — check order (unknown command and arity before NOAUTH), AUTH's forms and errors,
// NOPERM texts for commands, keys and channels in pipelines, transactions doomed at queue time, RESET,
// and the ACL subcommands whose replies do not depend on hash order.
func TestACLMatchesRedis(t *testing.T) {
	t.Parallel()
	e := newACLEnv(t)
	scripts := []struct{ name, script string }{
		{"check order before AUTH", cmd("FOO", "x") + cmd("GET") + cmd("GET", "k") + cmd("PING") + cmd("ACL", "WHOAMI") +
			cmd("AUTH") + cmd("AUTH", "a", "b", "c") + cmd("CLIENT", "NOSUCH") + cmd("AUTH", "defpw") + cmd("GET", "k") + cmd("ACL", "WHOAMI")},
		{"AUTH forms", cmd("AUTH", "alice", "wrong") + cmd("AUTH", "alice", "apw") + cmd("ACL", "WHOAMI") +
			cmd("AUTH", "carol", "cpw") + cmd("ACL", "WHOAMI") + cmd("AUTH", "nobody", "x") + cmd("AUTH", "bob", "anything") +
			cmd("ACL", "WHOAMI") + cmd("SET", "k", "v") + cmd("GET", "k") + cmd("AUTH", "wrong") + cmd("AUTH", "defpw") + cmd("ACL", "WHOAMI")},
		{"pipeline of allowed and denied", cmd("AUTH", "alice", "apw") + cmd("SET", "app:1", "v") + cmd("SET", "other", "v") +
			cmd("GET", "app:1") + cmd("MGET", "app:1", "other") + cmd("FLUSHALL") + cmd("PUBLISH", "news.1", "m") +
			cmd("PUBLISH", "other", "m") + cmd("KEYS", "*") + cmd("DEBUG", "SLEEP", "0") + cmd("CONFIG", "GET", "maxmemory") +
			cmd("CONFIG", "SET", "maxmemory", "0") + cmd("GET", "app:1")},
		{"key permissions", cmd("AUTH", "dave", "dpw") + cmd("SET", "wo:1", "v") + cmd("GET", "wo:1") + cmd("GET", "ro:1") +
			cmd("SET", "ro:1", "v") + cmd("COPY", "wo:1", "ro:2") + cmd("LMOVE", "ro:l", "wo:l", "LEFT", "RIGHT") +
			cmd("SORT", "wo:1", "BY", "x") + cmd("SET", "wo:2", "v", "GET")},
		{"transaction doomed at queue time", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("SET", "app:1", "x") +
			cmd("SET", "other", "x") + cmd("EXEC") + cmd("GET", "app:1") + cmd("MULTI") + cmd("SET", "app:2", "y") +
			cmd("INCR", "app:3") + cmd("EXEC") + cmd("MGET", "app:2", "app:3")},
		{"channels", cmd("AUTH", "alice", "apw") + cmd("SUBSCRIBE", "other") + cmd("PSUBSCRIBE", "n*") + cmd("SUBSCRIBE", "news.a", "news.b") +
			cmd("PSUBSCRIBE", "news.*") + cmd("UNSUBSCRIBE", "news.a", "news.b") + cmd("PUNSUBSCRIBE") + cmd("PING")}, // named: the servers differ in hash order
		{"RESET forgets the login", cmd("AUTH", "alice", "apw") + cmd("ACL", "WHOAMI") + cmd("RESET") + cmd("ACL", "WHOAMI") +
			cmd("GET", "x") + cmd("AUTH", "bob", "x") + cmd("ACL", "WHOAMI") + cmd("GET", "x") + cmd("SET", "x", "1")},
		{"HELLO refusals", cmd("HELLO") + cmd("HELLO", "3") + cmd("HELLO", "x") + cmd("HELLO", "-1") + cmd("HELLO", "4", "AUTH", "alice", "apw") +
			cmd("HELLO", "3", "FOO") + cmd("HELLO", "3", "AUTH", "alice") + cmd("HELLO", "3", "AUTH", "alice", "bad") +
			cmd("HELLO", "2", "AUTH", "carol", "cpw") + cmd("GET", "x")},
		{"ACL subcommands", cmd("AUTH", "defpw") + cmd("ACL", "WHOAMI") + cmd("ACL", "USERS") + cmd("ACL", "GETUSER", "alice") +
			cmd("ACL", "GETUSER", "dave") + cmd("ACL", "GETUSER", "nobody") + cmd("ACL", "DRYRUN", "alice", "SET", "other", "v") +
			cmd("ACL", "DRYRUN", "alice", "GET", "app:1") + cmd("ACL", "DRYRUN", "alice", "FLUSHALL") + cmd("ACL", "DRYRUN", "nobody", "GET", "x") +
			cmd("ACL", "DRYRUN", "alice", "NOSUCH") + cmd("ACL", "CAT") + cmd("ACL", "CAT", "nope") + cmd("ACL", "HELP") +
			cmd("ACL", "LOG", "x") + cmd("ACL", "GENPASS", "0") + cmd("ACL", "NOSUCH") + cmd("ACL", "CAT", "a", "b") + cmd("ACL")},
		{"ACL subcommands a user may not run", cmd("AUTH", "bob", "x") + cmd("ACL", "WHOAMI") + cmd("ACL", "USERS") +
			cmd("ACL", "SETUSER", "eve", "on") + cmd("ACL", "DELUSER", "alice") + cmd("AUTH", "alice", "apw") + cmd("ACL", "LIST") +
			cmd("ACL", "SETUSER", "eve")},
	}
	for _, sc := range scripts {
		e.flush(t)
		sameTranscript(t, e.oracle.Addr, e.addr, sc.name, sc.script)
	}
}

// sameTranscript sends script to the oracle and to moat and reports a difference in their replies.
func sameTranscript(t *testing.T, oracle, moat, name, script string) {
	t.Helper()
	want, err := transcript(t, oracle, "127.0.0.1", script)
	if err != nil {
		t.Fatalf("%s: redis-server: %v", name, err)
	}
	got, err := transcript(t, moat, "127.0.0.2", script)
	if err != nil {
		t.Fatalf("%s: moat: %v", name, err)
	}
	if got != want {
		t.Errorf("%s:\nscript: %q\nredis:  %q\nmoat:   %q", name, script, want, got)
	}
}

// ACL LOG (A3): the same denials and failed logins give the same entries as in redis-server — count,
// reason, context, object, username — newest first and grouped as Redis groups them.
func TestACLLogMatchesRedis(t *testing.T) {
	t.Parallel()
	e := newACLEnv(t)
	e.flush(t)
	script := cmd("AUTH", "alice", "wrong") + cmd("AUTH", "alice", "wrong") + cmd("AUTH", "nobody", "x") + cmd("AUTH", "alice", "apw") +
		cmd("SET", "other", "v") + cmd("FLUSHALL") + cmd("PUBLISH", "chan", "m") + cmd("MULTI") + cmd("GET", "other") + cmd("DISCARD") +
		cmd("SET", "other", "v") + cmd("HELLO", "2", "AUTH", "dave", "bad")
	for _, addr := range []struct{ target, from string }{{e.oracle.Addr, "127.0.0.1"}, {e.addr, "127.0.0.2"}} {
		if _, err := transcript(t, addr.target, addr.from, script); err != nil {
			t.Fatal(err)
		}
	}
	want, got := aclLogEntries(t, e.oracle.Addr, "127.0.0.1", "127.0.0.1"), aclLogEntries(t, e.addr, "127.0.0.3", "127.0.0.2")
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("ACL LOG:\nredis: %q\nmoat:  %q", want, got)
	}
	if n := e.counter("moat_acl_refusals_total", map[string]string{"instance": "r-test", "reason": "auth"}); n != 4 {
		t.Errorf("auth refusals counted: %v, want 4", n)
	}
}

// HELLO AUTH (A2) logs in and switches the protocol; the backend gets HELLO without the credentials (it
// has no user alice, so it would refuse them), and moat's own replies are then RESP3: a map for ACL
// GETUSER with a set of flags, a map per ACL LOG entry with a double for age-seconds, null for no user.
func TestHelloAuthAndRESP3Replies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	c := dial(t, e.addr, "127.0.0.2")
	read := func(args ...string) acl.Value { t.Helper(); return c.value(args...) }
	v := read("HELLO", "3", "AUTH", "alice", "apw", "SETNAME", "app")
	if v.Kind != acl.KindMap || mapGet(v, "proto").Int != 3 || mapGet(v, "server").Str != "redis" {
		t.Fatalf("HELLO 3 AUTH alice: %v, want the backend's RESP3 map", v)
	}
	if v := read("ACL", "WHOAMI"); v.Str != "alice" {
		t.Errorf("ACL WHOAMI after HELLO AUTH: %v", v)
	}
	if v := read("SET", "other", "v"); v.Kind != acl.KindError || !strings.HasPrefix(v.Str, "NOPERM") {
		t.Errorf("SET other as alice: %v", v)
	}
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")
	admin.send(cmd("HELLO", "3"))
	if _, err := acl.ReadValue(admin.br); err != nil {
		t.Fatal(err)
	}
	c, admin = admin, c // read() uses c
	if v := read("CLIENT", "LIST"); !strings.Contains(v.Str, " name=app ") || !strings.Contains(v.Str, " user=alice ") || !strings.Contains(v.Str, " resp=3 ") {
		t.Errorf("CLIENT LIST: %v, want alice's connection named app in RESP3", v)
	}
	u := read("ACL", "GETUSER", "alice")
	if u.Kind != acl.KindMap || mapGet(u, "flags").Kind != acl.KindSet || mapGet(u, "keys").Str != "~app:*" {
		t.Errorf("ACL GETUSER alice in RESP3: %v", u)
	}
	if n := read("ACL", "GETUSER", "nobody"); n.Kind != acl.KindNull {
		t.Errorf("ACL GETUSER nobody in RESP3: %v, want null", n)
	}
	log := read("ACL", "LOG", "1")
	if len(log.Elems) != 1 || log.Elems[0].Kind != acl.KindMap || mapGet(log.Elems[0], "age-seconds").Kind != acl.KindDouble ||
		mapGet(log.Elems[0], "object").Str != "other" || mapGet(log.Elems[0], "username").Str != "alice" {
		t.Errorf("ACL LOG 1 in RESP3: %v", log)
	}
	_ = admin
}

// AUTH's one-argument "user:password" form (moat's, the managed-cloud form): the default user's password
// is tried first, then the part before the first ':' as a user name.
func TestAuthUserColonPassword(t *testing.T) {
	t.Parallel()
	users := append([][]string{{"default", "on", "nopass", "~*", "&*", "+@all"}}, aclUsers[1:]...)
	users = append(users, []string{"erin", "on", ">p:w", "~*", "+@all"})
	e := newEnv(t, withUsers(t, allowLoopback(t), users))
	c := dial(t, e.addr, "127.0.0.2")
	for _, step := range []struct{ auth, reply, whoami string }{
		{"alice:apw", "+OK\r\n", "alice"},
		{"alice:wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "alice"},
		{"erin:p:w", "+OK\r\n", "erin"}, // the password may hold ':'
		{"nobody:x", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", "erin"},
		{"carol:cpw", "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "erin"},
		{"plain", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", "erin"},
	} {
		if got := c.do("AUTH", step.auth); got != step.reply {
			t.Errorf("AUTH %s: %q, want %q", step.auth, got, step.reply)
		}
		if got := c.do("ACL", "WHOAMI"); got != bulk(step.whoami) {
			t.Errorf("after AUTH %s: ACL WHOAMI %q, want %s", step.auth, got, step.whoami)
		}
	}
	// With a default password, the whole argument is tried as it first.
	e2 := newEnv(t, withUsers(t, allowLoopback(t), append(aclUsers, []string{"default", ">x:y"})))
	d := dial(t, e2.addr, "127.0.0.2")
	if got := d.do("AUTH", "x:y"); got != "+OK\r\n" {
		t.Errorf("AUTH x:y with default password x:y: %q", got)
	}
	if got := d.do("ACL", "WHOAMI"); got != bulk("default") {
		t.Errorf("ACL WHOAMI: %q", got)
	}
}

// A restricted user's script runs on the backend as the user's identity (issue 18; it replaced moat's
// scripting rule, acl.Config.ScriptsNeedAllKeys, wherever the backend holds identities): a key it does
// not declare is refused by the backend as Redis refuses it; an unrestricted user's script runs as moat's
// login.
func TestScriptsNeedAllKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	alice := dial(t, e.addr, "127.0.0.2")
	alice.do("AUTH", "alice", "apw")
	if got := alice.do("EVAL", "return redis.call('SET', 'other', 'x')", "1", "app:1"); !strings.HasPrefix(got, "-ERR The user executing the script can't access at least one of the keys mentioned in the command arguments script: ") {
		t.Errorf("EVAL by alice: %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")
	if got := admin.do("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "app:1"); got != "+OK\r\n" {
		t.Errorf("EVAL by admin: %q", got)
	}
}

// Rules change under a connection (A3): a published change to its user applies from its next command,
// a deleted user's connections are closed, others' are not; a disabled user's keep working and only new
// logins fail, as in Redis 7.0; CLIENT KILL USER works on moat's users.
func TestUserChangesReachEstablishedConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	alice, dave, bob := dial(t, e.addr, "127.0.0.2"), dial(t, e.addr, "127.0.0.3"), dial(t, e.addr, "127.0.0.4")
	alice.do("AUTH", "alice", "apw")
	dave.do("AUTH", "dave", "dpw")
	bob.do("AUTH", "bob", "x")
	if got := alice.do("SET", "app:1", "v"); got != "+OK\r\n" {
		t.Fatalf("SET app:1: %q", got)
	}
	changed := slices.Clone(aclUsers)
	changed[1] = []string{"alice", "on", ">apw", "~app:*", "-@all", "+get"} // read-only now
	changed = slices.DeleteFunc(changed, func(u []string) bool { return u[0] == "dave" })
	e.gw.Publish(withUsers(t, allowLoopback(t), changed))
	if got := alice.do("SET", "app:1", "w"); got != "-NOPERM this user has no permissions to run the 'set' command\r\n" {
		t.Errorf("SET after the change: %q", got)
	}
	if got := alice.do("GET", "app:1"); got != bulk("v") {
		t.Errorf("GET after the change: %q", got)
	}
	dave.expectEOF(replyTimeout)
	if got := bob.do("GET", "x"); got != "$-1\r\n" {
		t.Errorf("bob, untouched: %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.5")
	admin.do("AUTH", "admin", "adminpw")
	if got := admin.do("CLIENT", "KILL", "USER", "nobody"); got != "-ERR No such user 'nobody'\r\n" {
		t.Errorf("CLIENT KILL USER nobody: %q", got)
	}
	if got := admin.do("CLIENT", "KILL", "USER", "bob"); got != ":1\r\n" {
		t.Errorf("CLIENT KILL USER bob: %q", got)
	}
	bob.expectEOF(replyTimeout)
	// Disabling refuses new logins; the connection keeps working.
	changed[1] = []string{"alice", "off", ">apw", "~app:*", "-@all", "+get"}
	e.gw.Publish(withUsers(t, allowLoopback(t), changed))
	if got := alice.do("GET", "app:1"); got != bulk("v") {
		t.Errorf("GET by the disabled user's connection: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.6").do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("a new login of the disabled user: %q", got)
	}
}

// mapGet returns the value of key in a map reply.
func mapGet(v acl.Value, key string) acl.Value {
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == key {
			return v.Elems[i+1]
		}
	}
	return acl.Value{}
}

// Until a client has authenticated, Redis bounds what it may send (10 arguments, 16 KiB per argument)
// and closes the connection with a protocol error past that; the commands after a successful AUTH in
// the same pipeline get the ordinary limits. moat answers the same bytes.
func TestUnauthenticatedLimitsMatchRedis(t *testing.T) {
	t.Parallel()
	e := newACLEnv(t)
	big := strings.Repeat("v", 20000)
	eleven := []string{"MSET"}
	for i := range 5 {
		eleven = append(eleven, "k"+string(rune('a'+i)), "v")
	}
	noauth := "-NOAUTH Authentication required.\r\n"
	for _, sc := range []struct{ name, script, want string }{
		// Redis closes these with the rest of the pipeline unread, so its side may end in a reset
		// before the client reads it all: its replies are written out here.
		{"eleven arguments", cmd("PING") + cmd(eleven...) + cmd("PING"), noauth + "-ERR Protocol error: unauthenticated multibulk length\r\n"},
		{"a long argument", cmd("PING") + cmd("SET", "k", big) + cmd("PING"), noauth + "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"a failed AUTH keeps the bounds", cmd("AUTH", "bad") + cmd("SET", "k", big) + cmd("PING"), wrongPass + "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"AUTH first, then the same", cmd("AUTH", "defpw") + cmd(eleven...) + cmd("SET", "k", big) + cmd("STRLEN", "k"), ""},
	} {
		e.flush(t)
		want := sc.want
		if want == "" {
			var err error
			if want, err = transcript(t, e.oracle.Addr, "127.0.0.1", sc.script); err != nil {
				t.Fatalf("%s: redis-server: %v", sc.name, err)
			}
		}
		// Closing with input unread ends in a reset, as Redis's does, which may come while the client
		// still writes: what was read before it counts.
		got := untilReset(t, e.addr, "127.0.0.2", sc.script)
		if got != want {
			t.Errorf("%s:\nwant: %q\nmoat: %q", sc.name, want, got)
		}
	}
}

// A command too long for moat to hold (over 1 MiB) is judged by what moat has read of it, strictly:
// keys at fixed positions are checked (needing read and write), keys that may lie in the part not read
// yet are refused unless the user has all keys — so no key slips past in a long command's tail.
func TestLongCommandsUnderACLRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	big := strings.Repeat("v", 2<<20)
	alice := dial(t, e.addr, "127.0.0.2")
	alice.do("AUTH", "alice", "apw")
	keyDenied := "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "app:1", big}, "+OK\r\n"},
		{[]string{"APPEND", "app:1", big}, ":" + strconv.Itoa(4<<20) + "\r\n"},
		{[]string{"SET", "other", big}, keyDenied},
		{[]string{"MSET", "app:2", "x", "app:3", big, "other", "v"}, keyDenied},
		{[]string{"PUBLISH", "news.1", big}, "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"},
		{[]string{"STRLEN", "app:1"}, ":" + strconv.Itoa(4<<20) + "\r\n"},
	} {
		if got := alice.do(step.args...); got != step.want {
			t.Errorf("%s %s …: %q, want %q", step.args[0], step.args[1], got, step.want)
		}
	}
	backend := dial(t, e.srv.Addr, "127.0.0.1")
	if got := backend.do("EXISTS", "other", "app:2", "app:3"); got != ":0\r\n" {
		t.Errorf("refused long commands reached the backend: EXISTS %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")
	if got := admin.do("MSET", "app:2", "x", "app:3", big, "other", "v"); got != "+OK\r\n" {
		t.Errorf("MSET by a user with all keys: %q", got)
	}
}

// untilReset sends script from src, ends its input, and returns everything read until the server
// closes the connection or resets it; write errors (the server closed first) are not failures.
func untilReset(t *testing.T, addr, src, script string) string {
	t.Helper()
	c := dial(t, addr, src)
	defer c.c.Close()
	c.c.SetDeadline(time.Now().Add(replyTimeout))
	c.c.Write([]byte(script))
	c.c.(*net.TCPConn).CloseWrite()
	out, err := io.ReadAll(c.br)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading from %s: %v", addr, err)
	}
	return string(out)
}

// aclLogEntries reads ACL LOG at addr (from, as admin) and returns each entry's fields but age-seconds
// and client-info, which are checked to be there and to name the client at scripted.
func aclLogEntries(t *testing.T, addr, from, scripted string) []string {
	t.Helper()
	c := dial(t, addr, from)
	defer c.c.Close()
	c.do("AUTH", "admin", "adminpw")
	c.send(cmd("ACL", "LOG"))
	v, err := acl.ReadValue(bufio.NewReader(c.br))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, entry := range v.Elems {
		var fields []string
		for i := 0; i+1 < len(entry.Elems); i += 2 {
			k, val := entry.Elems[i].Str, entry.Elems[i+1]
			switch k {
			case "age-seconds":
				if val.Str == "" {
					t.Errorf("age-seconds is empty: %v", entry)
				}
			case "client-info":
				if !strings.Contains(val.Str, " addr="+scripted+":") || !strings.Contains(val.Str, " user=") {
					t.Errorf("client-info %q does not name the client", val.Str)
				}
			case "count":
				fields = append(fields, k+"="+val.String())
			default:
				fields = append(fields, k+"="+val.Str)
			}
		}
		out = append(out, strings.Join(fields, " "))
	}
	return out
}
