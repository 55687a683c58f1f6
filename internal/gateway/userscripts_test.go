package gateway_test

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/snapshot"
)

// scriptUsers are restricted users whose scripts run as their backend identities (issue 18): one by a
// key pattern, one by read/write patterns, denied categories and a selector.
var scriptUsers = [][]string{
	{"default", "resetpass", ">defpw"},
	{"app", "on", ">apw", "~app:*", "+@all"},
	{"ro", "on", ">rpw", "%R~ro:*", "~rw:*", "+@all", "-@dangerous", "(~sel:* +get +eval +evalsha +fcall)"},
	{"admin", "on", ">adminpw", "~*", "&*", "+@all"},
	{"sub", "on", ">spw", "~app:*", "&x", "+@all"},
}

const (
	getKey     = "return redis.call('get',KEYS[1])"
	setKey     = "return redis.call('set',KEYS[1],'x')"
	getSecret  = "return redis.call('get','secret')"
	funcLib    = "#!lua name=ulib\nredis.register_function('uget', function(keys, args) return redis.call('get', keys[1]) end)\nredis.register_function('uset', function(keys, args) return redis.call('set', keys[1], 'f') end)"
	getKeySHA1 = "b4b2e4f9b4e6e5e1b0b9f5b1a6c3e5a0e4c1d2b3" // unknown: NOSCRIPT on both
)

// Scripts and functions of restricted users get the backend's own judgement, byte for byte as a
// redis-server holding the same users: keys declared and undeclared, allowed and denied, read-only
// patterns, selectors, EVALSHA, FCALL, scripts inside MULTI, all pipelined after AUTH.
func TestRestrictedUsersScriptsMatchRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), scriptUsers))
	oracle := aclOracle(t, scriptUsers)
	if !e.gw.IdentitiesReady() {
		t.Fatal("identities not ready against a redis-server 7 whose default user may manage users")
	}
	for _, addr := range []string{e.srv.Addr, oracle.Addr} {
		c := dial(t, addr, "127.0.0.1")
		if addr == oracle.Addr {
			c.do("AUTH", "admin", "adminpw")
		}
		if got := c.do("FUNCTION", "LOAD", "REPLACE", funcLib); got != bulk("ulib") {
			t.Fatalf("FUNCTION LOAD on %s: %q", addr, got)
		}
		c.do("MSET", "app:1", "a", "secret", "s", "ro:1", "r", "rw:1", "w", "sel:1", "z")
		c.c.Close()
	}
	scripts := []struct{ name, script string }{
		{"app: declared, undeclared, allowed, denied", cmd("AUTH", "app", "apw") +
			cmd("EVAL", getKey, "1", "app:1") + cmd("EVAL", getKey, "1", "secret") + cmd("EVAL", getSecret, "0") +
			cmd("EVAL", "return 1", "0") + cmd("EVAL", setKey, "1", "app:2") + cmd("GET", "app:2") +
			cmd("EVAL", "return redis.call('set','other','x')", "1", "app:1") + cmd("GET", "secret") +
			cmd("EVAL", "return redis.call('publish','ch','m')", "0") + cmd("EVAL_RO", setKey, "1", "app:3")},
		{"app: EVALSHA and SCRIPT", cmd("AUTH", "app", "apw") + cmd("SCRIPT", "LOAD", getSecret) +
			cmd("EVALSHA", sha1hex(getSecret), "0") + cmd("EVALSHA", getKeySHA1, "0") + cmd("SCRIPT", "EXISTS", sha1hex(getSecret)) +
			cmd("EVALSHA_RO", sha1hex(getSecret), "0")},
		{"app: functions", cmd("AUTH", "app", "apw") + cmd("FCALL", "uget", "1", "app:1") + cmd("FCALL", "uget", "1", "secret") +
			cmd("FCALL", "uset", "1", "app:4") + cmd("FCALL_RO", "uget", "1", "app:1") + cmd("FUNCTION", "LIST", "LIBRARYNAME", "nomatch")},
		{"app: scripts in MULTI", cmd("AUTH", "app", "apw") + cmd("MULTI") + cmd("EVAL", getKey, "1", "app:1") +
			cmd("EVAL", getSecret, "0") + cmd("EVAL", getKey, "1", "secret") + cmd("EXEC") +
			cmd("MULTI") + cmd("EVAL", getKey, "1", "app:1") + cmd("INCR", "app:n") + cmd("EXEC")},
		{"ro: read patterns and a selector", cmd("AUTH", "ro", "rpw") + cmd("EVAL", getKey, "1", "ro:1") +
			cmd("EVAL", setKey, "1", "ro:1") + cmd("EVAL", getKey, "1", "rw:1") + cmd("EVAL", setKey, "1", "rw:1") +
			cmd("EVAL", getKey, "1", "sel:1") + cmd("EVAL", "return redis.call('get','sel:1')", "0") +
			cmd("EVAL", "return redis.call('flushall')", "0") + cmd("EVAL", "return redis.call('keys','*')", "0") +
			cmd("FCALL", "uget", "1", "sel:1") + cmd("FCALL", "uset", "1", "rw:2") + cmd("GET", "ro:1")},
		{"app: a transaction first", cmd("AUTH", "app", "apw") + cmd("MULTI") + cmd("EVAL", getKey, "1", "app:1") +
			cmd("EVAL", getSecret, "0") + cmd("EXEC") + cmd("EVAL", "return 1", "0")},
		{"a RESP2 subscriber's scripts", cmd("AUTH", "sub", "spw") + cmd("SUBSCRIBE", "x") + cmd("EVAL", "return 1", "0") +
			cmd("FUNCTION", "LIST") + cmd("FCALL", "uget", "1", "app:1") + cmd("PING") + cmd("UNSUBSCRIBE", "x") + cmd("EVAL", getKey, "1", "app:1")},
		{"the user changes within a pipeline", cmd("AUTH", "app", "apw") + cmd("EVAL", getKey, "1", "app:1") +
			cmd("AUTH", "ro", "rpw") + cmd("EVAL", getKey, "1", "app:1") + cmd("EVAL", getKey, "1", "ro:1") +
			cmd("AUTH", "admin", "adminpw") + cmd("EVAL", getSecret, "0") + cmd("AUTH", "app", "apw") + cmd("EVAL", getSecret, "0")},
	}
	for _, sc := range scripts {
		sameTranscript(t, oracle.Addr, e.addr, sc.name, sc.script)
	}
}

// The identities follow the users: a change of a user's key patterns reaches its identity before the
// user's next script, a deleted user's identity is deleted, and after a backend restart (which loses
// every ACL user) a new connection's scripts are judged again, never run as moat's login.
func TestRestrictedUserIdentitySync(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), scriptUsers))
	app := dial(t, e.addr, "127.0.0.2")
	app.do("AUTH", "app", "apw")
	if got := app.do("EVAL", getSecret, "0"); !strings.HasPrefix(got, "-ERR The user executing the script can't access") {
		t.Fatalf("EVAL of an undeclared denied key: %q", got)
	}
	if got := app.do("EVAL", getKey, "1", "secret"); !strings.HasPrefix(got, "-NOPERM") {
		t.Fatalf("EVAL of a declared denied key: %q", got)
	}
	ident := backend.IdentityName("r-test", "app")
	if got := e.gw.UserScripts("app"); !strings.Contains(got, ident) || e.gw.UserScripts("admin") != "" {
		t.Errorf("UserScripts app: %q; admin: %q", got, e.gw.UserScripts("admin"))
	}
	be := dial(t, e.srv.Addr, "127.0.0.1")
	if got := be.do("ACL", "GETUSER", ident); !strings.Contains(got, "~app:*") {
		t.Fatalf("the backend's identity: %q", got)
	}

	changed := slices.Clone(scriptUsers)
	changed[1] = []string{"app", "on", ">apw", "~app:*", "~secret", "+@all"}
	e.gw.Publish(withUsers(t, allowLoopback(t), changed))
	if got := app.do("EVAL", getSecret, "0"); got != "$-1\r\n" && got != bulk("s") {
		t.Errorf("EVAL of the newly allowed key on the same connection: %q", got)
	}
	if got := be.do("ACL", "GETUSER", ident); !strings.Contains(got, "~secret") {
		t.Errorf("the backend's identity after the change: %q", got)
	}

	e.srv.Restart(t)
	be = dial(t, e.srv.Addr, "127.0.0.1")
	be.do("SET", "secret", "s")
	if got := be.do("ACL", "GETUSER", ident); got != "$-1\r\n" {
		t.Fatalf("the identity after a restart: %q", got)
	}
	ro := dial(t, e.addr, "127.0.0.3")
	ro.do("AUTH", "ro", "rpw")
	if got := ro.do("EVAL", getSecret, "0"); !strings.HasPrefix(got, "-ERR The user executing the script can't access") {
		t.Errorf("a new connection's EVAL of a denied key after a backend restart: %q", got)
	}
	if got := ro.do("EVAL", "return 1", "0"); got != ":1\r\n" {
		t.Errorf("EVAL return 1 after a restart: %q", got)
	}

	changed = slices.DeleteFunc(changed, func(u []string) bool { return u[0] == "ro" })
	e.gw.Publish(withUsers(t, allowLoopback(t), changed))
	if got := be.do("ACL", "GETUSER", backend.IdentityName("r-test", "ro")); got != "$-1\r\n" {
		t.Errorf("the deleted user's identity: %q", got)
	}
	ro.expectEOF(replyTimeout)
}

// sha1hex is a script's SHA1 digest as EVALSHA takes it.
func sha1hex(script string) string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// With rename-command, a restricted user's identity lacks the originals too: its scripts cannot call
// them, and on its connection, once it runs as the identity, renamed commands are refused by moat.
func TestRestrictedUserIdentityWithRenames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, renamed(t, guardRenames), scriptUsers))
	app := dial(t, e.addr, "127.0.0.2")
	app.do("AUTH", "app", "apw")
	if got := app.do("CFG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Fatalf("CFG before any script: %q", got)
	}
	if got := app.do("EVAL", "return redis.call('del',KEYS[1])", "1", "app:1"); !strings.HasPrefix(got, "-ERR The user executing the script can't run this command or subcommand") {
		t.Errorf("DEL (renamed REMOVE) inside a script: %q", got)
	}
	if got := app.do("EVAL", setKey, "1", "app:1"); got != "+OK\r\n" {
		t.Errorf("an allowed script: %q", got)
	}
	if got := app.do("CFG", "GET", "maxmemory"); got != "-ERR renamed commands are unavailable on this connection: it runs as its ACL user's backend identity since its first script (its rules exclude the original names)\r\n" {
		t.Errorf("CFG after a script: %q", got)
	}
	if got := app.do("GET", "app:1"); got != bulk("x") {
		t.Errorf("GET after a script: %q", got)
	}
}

// Where moat's backend login may not manage ACL users, restricted users' scripts keep moat's
// conservative refusal (the NOPERM of the command); unrestricted users' scripts run.
func TestRestrictedUserScriptsWithoutIdentities(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	direct := dial(t, srv.Addr, "127.0.0.1")
	direct.expectOK("ACL", "SETUSER", "login", "on", ">lpw", "~*", "&*", "+@all", "-@admin")
	users := append(slices.Clone(scriptUsers), []string{"cmds", "on", ">cpw", "~*", "&*", "+@all", "-@dangerous"})
	_, gw, addr := startOn(t, "r-noident", "redis://login:lpw@"+srv.Addr, withUsers(t, allowLoopback(t), users))
	if gw.IdentitiesReady() {
		t.Fatal("identities ready for a login without +acl|setuser")
	}
	if got := gw.UserScripts("app"); !strings.HasPrefix(got, "scripts and functions are refused (NOPERM): ") {
		t.Errorf("UserScripts app: %q", got)
	}
	app := dial(t, addr, "127.0.0.2")
	app.do("AUTH", "app", "apw")
	if got := app.do("EVAL", "return 1", "0"); got != "-NOPERM this user has no permissions to run the 'eval' command\r\n" {
		t.Errorf("EVAL by a restricted user: %q", got)
	}
	// All keys and channels but not all commands: a script would run FLUSHALL for it unjudged.
	cmds := dial(t, addr, "127.0.0.3")
	cmds.do("AUTH", "cmds", "cpw")
	if got := cmds.do("EVAL", "return redis.call('flushall')", "0"); got != "-NOPERM this user has no permissions to run the 'eval' command\r\n" {
		t.Errorf("EVAL by a user without -@dangerous: %q", got)
	}
	if got := gw.UserScripts("cmds"); !strings.HasPrefix(got, "scripts and functions are refused (NOPERM): ") {
		t.Errorf("UserScripts cmds: %q", got)
	}
	admin := dial(t, addr, "127.0.0.3") // unrestricted
	admin.do("AUTH", "admin", "adminpw")
	if got := admin.do("EVAL", "return 1", "0"); got != ":1\r\n" {
		t.Errorf("EVAL by admin: %q", got)
	}
}

// publishingStore is a UserStore that does what the control plane does: apply the change to a copy of
// the users and publish a snapshot holding them.
type publishingStore struct {
	mu   sync.Mutex
	gw   *gateway.Instance
	base *snapshot.Snapshot
}

// newPublishingEnv is newEnv with users, changed through a publishingStore, and Redis's default
// maxclients (10000).
func newPublishingEnv(t *testing.T, users [][]string, opts ...envOption) *env {
	t.Helper()
	snap := withUsers(t, allowLoopback(t), users)
	snap.MaxClients = 10000
	store := &publishingStore{base: snap}
	e := newEnv(t, snap, append([]envOption{func(c *gateway.Config) { c.Users = store }}, opts...)...)
	store.mu.Lock() // a client may change users as soon as the instance listens
	store.gw = e.gw
	store.mu.Unlock()
	return e
}

func (p *publishingStore) ChangeUsers(_, _, _, _ string, fn func(*acl.Users) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	us := p.base.Users.Clone()
	if err := fn(us); err != nil {
		return err
	}
	cp := *p.base
	cp.Users = us
	p.base = &cp
	p.gw.Publish(&cp)
	return nil
}

// ACL SETUSER and DELUSER through moat reach the backend identities: a key pattern granted by an
// administrator is granted inside the user's scripts at its next one; the deleted user's identity is gone.
func TestACLChangesThroughMoatReachIdentities(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, scriptUsers)
	app := dial(t, e.addr, "127.0.0.2")
	app.do("AUTH", "app", "apw")
	if got := app.do("EVAL", getSecret, "0"); !strings.HasPrefix(got, "-ERR The user executing the script can't access") {
		t.Fatalf("EVAL of an undeclared denied key: %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.3")
	admin.do("AUTH", "admin", "adminpw")
	admin.expectOK("SET", "secret", "s")
	admin.expectOK("ACL", "SETUSER", "app", "~secret")
	if got := app.do("EVAL", getSecret, "0"); got != bulk("s") {
		t.Errorf("EVAL of the key just granted: %q", got)
	}
	admin.expectOK("ACL", "SETUSER", "app", "resetkeys", "~app:*")
	if got := app.do("EVAL", getSecret, "0"); !strings.HasPrefix(got, "-ERR The user executing the script can't access") {
		t.Errorf("EVAL of the key just revoked: %q", got)
	}
	if got := admin.do("ACL", "DELUSER", "app"); got != ":1\r\n" {
		t.Fatalf("ACL DELUSER app: %q", got)
	}
	be := dial(t, e.srv.Addr, "127.0.0.1")
	if got := be.do("ACL", "GETUSER", backend.IdentityName("r-test", "app")); got != "$-1\r\n" {
		t.Errorf("the deleted user's identity: %q", got)
	}
	app.expectEOF(replyTimeout)
}

// CLIENT REPLY OFF and SKIP in force when the connection switches to its identity: the switch still
// sees its replies, and the client sees exactly what Redis would send.
func TestRestrictedUserScriptsUnderClientReply(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), scriptUsers))
	oracle := aclOracle(t, scriptUsers)
	for _, sc := range []struct{ name, script string }{
		{"OFF", cmd("AUTH", "app", "apw") + cmd("CLIENT", "REPLY", "OFF") + cmd("EVAL", setKey, "1", "app:r") +
			cmd("EVAL", getSecret, "0") + cmd("CLIENT", "REPLY", "ON") + cmd("GET", "app:r") + cmd("EVAL", "return 1", "0")},
		{"SKIP", cmd("AUTH", "app", "apw") + cmd("CLIENT", "REPLY", "SKIP") + cmd("EVAL", "return 2", "0") +
			cmd("EVAL", "return 3", "0") + cmd("CLIENT", "REPLY", "SKIP") + cmd("EVAL", getSecret, "0") + cmd("PING")},
	} {
		sameTranscript(t, oracle.Addr, e.addr, sc.name, sc.script)
	}
}

// Denials inside a restricted user's scripts, which its backend identity refuses and logs, are in
// moat's ACL LOG too: with the user's name, context lua, the key or command — the same entries, in the
// same order and counts, as a redis-server holding the users writes, commands sent one at a time.
func TestScriptDenialsInACLLog(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newEnv(t, withUsers(t, allowLoopback(t), scriptUsers)), oracle: aclOracle(t, scriptUsers)}
	e.flush(t)
	steps := [][]string{
		{"AUTH", "app", "apw"}, {"EVAL", getSecret, "0"}, {"EVAL", "return redis.call('set','other','x')", "1", "app:1"},
		{"GET", "secret"}, {"FCALL", "uget", "1", "secret"}, {"EVAL", getSecret, "0"}, {"EVAL", "return redis.call('flushall')", "0"},
		{"MULTI"}, {"EVAL", getSecret, "0"}, {"EVAL", getKey, "1", "app:1"}, {"EXEC"},
		{"AUTH", "ro", "rpw"}, {"EVAL", setKey, "1", "ro:1"}, {"EVAL", getKey, "1", "sel:1"}, {"EVAL", "return redis.call('keys','*')", "0"},
	}
	for _, srv := range []struct{ addr, from string }{{e.oracle.Addr, "127.0.0.1"}, {e.addr, "127.0.0.2"}} {
		c := dial(t, srv.addr, srv.from)
		for _, s := range steps {
			c.do(s...)
		}
		c.c.Close()
	}
	want, got := aclLogEntries(t, e.oracle.Addr, "127.0.0.1", "127.0.0.1"), aclLogEntries(t, e.addr, "127.0.0.3", "127.0.0.2")
	if !slices.Contains(want, "count=3 reason=key context=lua object=secret username=app") || !slices.Equal(got, want) {
		t.Errorf("ACL LOG:\nredis: %q\nmoat:  %q", want, got)
	}
}

// A script queued after an AUTH or an ACL change of its transaction runs at EXEC as the identity the
// connection had when MULTI came, since no identity can be switched inside MULTI: moat refuses it in its
// place in EXEC's array unless that identity is the one Redis would run it as (the same user, with the
// same rules). It never runs with the rights of the user from before the AUTH.
func TestScriptsAfterALoginInTheTransaction(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, scriptUsers)
	if !e.gw.IdentitiesReady() {
		t.Fatal("identities not ready")
	}
	admin := dial(t, e.addr, "127.0.0.2")
	admin.expectOK("AUTH", "admin", "adminpw")
	admin.expectOK("MSET", "app:1", "a", "secret", "s")
	const refused = "-ERR scripts and functions cannot run after AUTH or an ACL change in the same transaction"
	writeSecret := "redis.call('set','secret','pwned') return redis.call('get','secret')"
	for _, tc := range []struct {
		name  string
		login []string   // before MULTI
		tx    [][]string // inside it
		want  []string   // EXEC's elements, each a prefix of the element's raw reply
	}{
		{"an administrator's script after AUTH as a restricted user", []string{"admin", "adminpw"},
			[][]string{{"AUTH", "app", "apw"}, {"EVAL", writeSecret, "0"}, {"GET", "app:1"}},
			[]string{"+OK", refused, "$1\r\na"}},
		{"a restricted user's script after AUTH as an administrator", []string{"app", "apw"},
			[][]string{{"AUTH", "admin", "adminpw"}, {"EVAL", getSecret, "0"}},
			[]string{"+OK", refused}},
		{"a restricted user's script after AUTH as another", []string{"app", "apw"},
			[][]string{{"AUTH", "ro", "rpw"}, {"EVAL", "return redis.call('get','ro:1')", "0"}},
			[]string{"+OK", refused}},
		{"a HELLO's login", []string{"admin", "adminpw"},
			[][]string{{"HELLO", "2", "AUTH", "app", "apw"}, {"FCALL", "nosuch", "0"}},
			[]string{"*", refused}},
		{"the same user again: runs as Redis runs it", []string{"app", "apw"},
			[][]string{{"AUTH", "app", "apw"}, {"EVAL", getKey, "1", "app:1"}, {"EVAL", getSecret, "0"}},
			[]string{"+OK", "$1\r\na", "-ERR The user executing the script can't access at least one of the keys"}},
		{"another user's rules changed", []string{"admin", "adminpw"},
			[][]string{{"ACL", "SETUSER", "newbie", "on", ">npw"}, {"EVAL", "return 1", "0"}},
			[]string{"+OK", ":1"}},
		{"the user's own rules changed (last: they stay changed)", []string{"app", "apw"},
			[][]string{{"ACL", "SETUSER", "app", "resetkeys", "~x:*"}, {"EVAL", "return redis.call('get','app:1')", "0"}},
			[]string{"+OK", refused}},
	} {
		c := dial(t, e.addr, "127.0.0.3")
		c.expectOK(append([]string{"AUTH"}, tc.login...)...)
		c.expectOK("MULTI")
		for _, args := range tc.tx {
			if got := c.do(args...); got != "+QUEUED\r\n" {
				t.Fatalf("%s: %v: %q", tc.name, args, got)
			}
		}
		got := c.do("EXEC")
		elems := strings.SplitAfterN(got, "\r\n", 2)
		if elems[0] != "*"+strconv.Itoa(len(tc.want))+"\r\n" {
			t.Fatalf("%s: EXEC: %q", tc.name, got)
		}
		rest := elems[1]
		for i, w := range tc.want {
			if !strings.HasPrefix(rest, w) {
				t.Errorf("%s: EXEC element %d: %q, want it to begin %q", tc.name, i, rest, w)
				break
			}
			if w == "*" { // HELLO's map: skip to the next element by the refusal's text
				rest = rest[strings.Index(rest, "-ERR"):]
				continue
			}
			rest = rest[strings.Index(rest, "\r\n")+2:]
			if strings.HasPrefix(w, "$") {
				rest = rest[strings.Index(rest, "\r\n")+2:]
			}
		}
		c.c.Close()
	}
	if got := admin.do("GET", "secret"); got != bulk("s") {
		t.Errorf("secret after the transactions: %q", got)
	}
}
