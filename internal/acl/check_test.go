package acl

import (
	"fmt"
	"strings"
	"testing"
)

const (
	permKey     = "NOPERM this user has no permissions to access one of the keys used as arguments"
	permChannel = "NOPERM this user has no permissions to access one of the channels used as arguments"
)

func permCmd(name string) string {
	return "NOPERM this user has no permissions to run the '" + name + "' command"
}

// checkCases read like the reference: rules, a command line, and the reply the client gets ("" when the
// command is allowed). Each case is also run through ACL DRYRUN on a real server.
var checkCases = []struct {
	rules string
	cmd   string
	want  string
}{
	// Commands and categories.
	{"on >pw ~app:* +@read", "GET app:1", ""},
	{"on >pw ~app:* +@read", "SET app:1 v", permCmd("set")},
	{"on ~* +get", "get x", ""},
	{"on ~* +@all -@dangerous", "FLUSHALL", permCmd("flushall")},
	{"on ~* +@all -@dangerous", "keys *", permCmd("keys")},
	{"on ~* -@all +@string -set", "set k v", permCmd("set")},
	{"on ~* -@all +@string -set", "append k v", ""},
	{"on nocommands", "ping", permCmd("ping")},
	{"on allcommands", "ping", ""},
	// AUTH, HELLO, QUIT and RESET always pass the command check.
	{"on -@all", "auth x", ""},
	{"on -@all", "hello 3", ""},
	// Containers and subcommands.
	{"on +config", "config get maxmemory", ""},
	{"on +config -config|set", "config set maxmemory 1", permCmd("config|set")},
	{"on +config|get", "config get maxmemory", ""},
	{"on +config|get", "config set maxmemory 1", permCmd("config|set")},
	{"on +@slow", "client id", ""}, // the CLIENT container is @slow and takes its subcommands along
	{"on +@fast", "client id", permCmd("client|id")},
	{"on +@connection", "client setname x", ""}, // subcommands are in their own categories
	{"on +@all -@admin", "client kill 1.2.3.4:5", permCmd("client|kill")},
	{"on +@all -@admin", "client id", ""},
	// The deprecated first-arg form.
	{"on +select|0", "select 0", ""},
	{"on +select|0", "SELECT 1", permCmd("select")},
	{"on +debug|object", "debug OBJECT k", ""},
	{"on +select|0 +select", "select 5", ""},
	{"on +select|0 -select", "select 0", permCmd("select")}, // -select drops the first-arg allow
	// Key patterns and their permissions.
	{"on +@all ~app:*", "mget app:1 app:2", ""},
	{"on +@all ~app:*", "mget app:1 other", permKey},
	{"on +@all %R~ro:*", "get ro:1", ""},
	{"on +@all %R~ro:*", "set ro:1 v", permKey},
	{"on +@all %W~wo:*", "set wo:1 v", ""},
	{"on +@all %W~wo:*", "get wo:1", permKey},
	{"on +@all %W~wo:*", "set wo:1 v GET", permKey},        // SET … GET reads the key
	{"on +@all %R~k %W~k", "set k v GET", ""},              // permissions of one pattern added twice merge
	{"on +@all %R~src %W~dst", "copy src dst", ""},         // a read key and a written key
	{"on +@all %R~src %W~dst", "copy dst src", permKey},    // the other way round
	{"on +@all %R~*", "exists secret", ""},                 // existence tests need no permission bit
	{"on +@all %R~app:*", "type other", permKey},           // … but a matching pattern
	{"on +@all %R~k", "bitfield k GET u8 0", ""},           // BITFIELD with only GET is a read
	{"on +@all %R~k", "bitfield k INCRBY u8 0 1", permKey}, // … else a write
	{"on +@all ~app:*", "eval s 2 app:1 app:2", ""},
	{"on +@all ~app:*", "eval s 2 app:1 other", permKey},
	{"on +@all ~app:*", "eval s 0 anything", ""}, // only declared keys are judged
	{"on +@all ~app:*", "zunionstore app:d 2 app:1 secret", permKey},
	{"on +@all ~app:*", "sort app:1 STORE other", permKey},
	{"on +@all ~app:*", "migrate h 6379 \"\" 0 1000 KEYS app:1 other", permKey},
	{"on +@all ~*", "migrate h 6379 \"\" 0 1000 KEYS app:1 other", ""},
	{"on +@all ~\"\"", "get \"\"", ""},     // an empty pattern matches the empty key…
	{"on +@all ~*", "get \"\"", ""},        // … allkeys does too (no check at all)
	{"on +@all %R~*", "get \"\"", permKey}, // … but a '*' pattern needs one byte
	{"on +@all ~a\\*b", "get a*b", ""},
	{"on +@all ~a\\*b", "get axb", permKey},
	// Channels: glob for channels, literal for PSUBSCRIBE patterns; the UNSUBSCRIBE family is free.
	{"on +@all &news.*", "publish news.sport hi", ""},
	{"on +@all &news.*", "publish other hi", permChannel},
	{"on +@all &news.*", "subscribe news.a news.b", ""},
	{"on +@all &news.*", "subscribe news.a other", permChannel},
	{"on +@all &news.*", "psubscribe news.*", ""},
	{"on +@all &news.*", "psubscribe news.s*", permChannel},
	{"on +@all &news.*", "unsubscribe other", ""},
	{"on +@all resetchannels", "spublish ch m", permChannel},
	{"on +@all allchannels", "ssubscribe ch", ""},
	{"on +@all", "publish ch m", permChannel}, // 7.0: no channels by default
	// Selectors: any one selector must allow the command with all its keys; they do not add up.
	{"on +get ~app:* (+set ~cache:*)", "set cache:1 v", ""},
	{"on +get ~app:* (+set ~cache:*)", "set app:1 v", permKey}, // key error outranks command error
	{"on +get ~app:* (+set ~cache:*)", "get cache:1", permKey},
	{"on +get ~app:* (+set ~cache:*)", "incr app:1", permCmd("incr")},
	{"on +@all %R~x (%W~x)", "getset x v", permKey}, // read in one, write in another: not additive
	{"on +@all %R~x (%W~x +@all)", "set x v", ""},
	{"on +@all ~a &c1 (+@all ~* &c2)", "publish c2 m", ""},
	{"on -@all (+publish &c1) (+publish ~* &c2)", "publish c3 m", permChannel},
}

func splitCommandLine(t *testing.T, line string) []string {
	t.Helper()
	args, ok := splitArgs(line)
	if !ok {
		t.Fatalf("bad command line %q", line)
	}
	return args
}

func TestCheckCases(t *testing.T) {
	tbl := mustDefault(t)
	_, rc := startRedis(t)
	us := NewUsers(tbl, Config{})
	for i, tc := range checkCases {
		name := fmt.Sprintf("case%d", i)
		rules := splitCommandLine(t, tc.rules)
		if err := us.SetUser(name, rules...); err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		args := bytesArgs(splitCommandLine(t, tc.cmd)...)
		c, cerr := tbl.Resolve(args)
		if cerr != nil {
			t.Fatalf("%q: %v", tc.cmd, cerr)
		}
		d := us.Get(name).Check(c, args)
		if got := d.Reply(); got != tc.want {
			t.Errorf("%q + %q:\n  got  %q\n  want %q", tc.rules, tc.cmd, got, tc.want)
		}
		if (tc.want == "") != d.Allowed() {
			t.Errorf("%q + %q: Allowed() = %v", tc.rules, tc.cmd, d.Allowed())
		}
		// The same judgement from redis-server: ACL DRYRUN.
		if r := rc.do(append([]string{"ACL", "SETUSER", name}, rules...)...); r.Str != "OK" {
			t.Fatalf("redis: ACL SETUSER %q: %s", rules, r)
		}
		want := replyText(rc.do(append([]string{"ACL", "DRYRUN", name}, splitCommandLine(t, tc.cmd)...)...))
		if got := d.DryRunText(args); got != strings.TrimPrefix(want, "+") {
			t.Errorf("%q + %q: DRYRUN redis %q, moat %q", tc.rules, tc.cmd, want, got)
		}
	}
}

func TestDecisionTexts(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	if err := us.SetUser("u", "on", "+@all", "~app:*", "&news"); err != nil {
		t.Fatal(err)
	}
	u := us.Get("u")
	for _, tc := range []struct {
		cmd                     string
		reason                  Reason
		pos                     int
		object, dryrun, execMsg string
	}{
		{"get other", DeniedKey, 1, "other", "This user has no permissions to access the 'other' key", "no permission to touch the specified keys"},
		{"mget app:1 app:2 x", DeniedKey, 3, "x", "This user has no permissions to access the 'x' key", "no permission to touch the specified keys"},
		{"publish chat m", DeniedChannel, 1, "chat", "This user has no permissions to access the 'chat' channel", "no permission to access one of the channels used as arguments"},
	} {
		args := bytesArgs(splitCommandLine(t, tc.cmd)...)
		c, _ := tbl.Resolve(args)
		d := u.Check(c, args)
		if d.Reason != tc.reason || d.Pos != tc.pos || d.Object(args) != tc.object || d.DryRunText(args) != tc.dryrun ||
			!strings.HasSuffix(d.ExecReply(), "for the following reason: "+tc.execMsg) {
			t.Errorf("%q: %+v object %q dryrun %q exec %q", tc.cmd, d, d.Object(args), d.DryRunText(args), d.ExecReply())
		}
	}
	if err := us.SetUser("v", "on", "+get"); err != nil {
		t.Fatal(err)
	}
	args := bytesArgs("config", "get", "x")
	c, _ := tbl.Resolve(args)
	d := us.Get("v").Check(c, args)
	if d.Reason != DeniedCommand || d.Object(args) != "config|get" || d.Reason.String() != "command" {
		t.Errorf("command denial: %+v %q", d, d.Object(args))
	}
	if d.ExecReply() != "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand" {
		t.Errorf("exec reply %q", d.ExecReply())
	}
}

func TestResolveReplies(t *testing.T) {
	tbl := mustDefault(t)
	_, rc := startRedis(t)
	for _, line := range [][]string{
		{"nosuch"}, {"nosuch", "a", "b"}, {"NoSuch", "x\r\ny"}, {"nosuch", strings.Repeat("a", 200), "b"},
		{"config", "nosub"}, {"Config", "nosub", "x"}, {"config"}, {"get"}, {"get", "a", "b"}, {"acl", "help", "x"},
		{"client", "kill"}, {"nosuch", strings.Repeat("b", 100), strings.Repeat("c", 100)},
	} {
		want := replyText(rc.do(line...))
		_, err := tbl.Resolve(bytesArgs(line...))
		if err == nil {
			t.Errorf("%q: resolved, redis says %s", line, want)
			continue
		}
		if "-"+err.Reply != want {
			t.Errorf("%q:\n  redis %q\n  moat  %q", line, want, "-"+err.Reply)
		}
	}
	for _, line := range [][]string{{"GET", "k"}, {"config", "GET", "x"}, {"client", "kill", "1.2.3.4:5"}} {
		c, err := tbl.Resolve(bytesArgs(line...))
		if err != nil || c == nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}

// SORT's own BY/GET rule, checked by running SORT as the user on a real server.
func TestSortByGetMatchesRedis(t *testing.T) {
	tbl := mustDefault(t)
	srv, admin := startRedis(t)
	us := NewUsers(tbl, Config{})
	users := [][]string{
		{"on", ">pw", "+@all", "~app:*"},
		{"on", ">pw", "+@all", "%R~*"},
		{"on", ">pw", "+@all", "allkeys"},
		{"on", ">pw", "+@all", "~app:*", "(+sort %R~*)"},
		{"on", ">pw", "+@all", "%W~*", "~app:*"},
		{"on", ">pw", "+@all", "~app:*", "(+get %R~*)"},
	}
	lines := []string{
		"SORT app:1 BY w_*", "SORT app:1 BY nosort", "SORT app:1 GET o_*", "SORT app:1 LIMIT 0 1 GET #",
		"SORT app:1 LIMIT x 1 GET #", "SORT app:1 bogus GET x", "SORT_RO app:1 GET x", "SORT_RO app:1 STORE d GET x",
		"SORT app:1 STORE app:2 BY w_*", "sort app:1 desc alpha by w_*", "SORT app:1 BY", "SORT app:1 ALPHA",
	}
	denials := 0
	for i, rules := range users {
		name := fmt.Sprintf("s%d", i)
		if err := us.SetUser(name, rules...); err != nil {
			t.Fatal(err)
		}
		admin.do(append([]string{"ACL", "SETUSER", name}, rules...)...)
		c := dialRedis(t, srv.Addr)
		if r := c.do("AUTH", name, "pw"); r.Str != "OK" {
			t.Fatal(r)
		}
		for _, line := range lines {
			words := splitCommandLine(t, line)
			args := bytesArgs(words...)
			cmd, cerr := tbl.Resolve(args)
			if cerr != nil {
				t.Fatal(cerr)
			}
			redis := replyText(c.do(words...))
			u := us.Get(name)
			d := u.Check(cmd, args)
			switch {
			case !d.Allowed():
				if redis != "-"+d.Reply() {
					t.Errorf("%v %q: redis %q, moat %q", rules, line, redis, d.Reply())
				}
			case u.SortDenied(cmd, args) != "":
				denials++
				if redis != "-"+u.SortDenied(cmd, args) {
					t.Errorf("%v %q: redis %q, moat %q", rules, line, redis, u.SortDenied(cmd, args))
				}
			case strings.Contains(redis, "option of SORT denied") || strings.HasPrefix(redis, "-NOPERM"):
				t.Errorf("%v %q: redis %q, moat allows it", rules, line, redis)
			}
		}
	}
	if denials < 10 {
		t.Errorf("only %d SORT denials exercised", denials)
	}
}

// ScriptsNeedAllKeys: with it, a user restricted by key or channel patterns, or by commands, may not
// run scripts at all: nothing would judge what they run.
func TestScriptsNeedAllKeys(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{ScriptsNeedAllKeys: true})
	_ = us.SetUser("restricted", "on", "+@all", "~app:*", "&*")
	_ = us.SetUser("nochannels", "on", "+@all", "~*")
	_ = us.SetUser("full", "on", "+@all", "~*", "&*")
	_ = us.SetUser("selector", "on", "+@all", "~app:*", "(+eval ~* &*)", "(+@all ~* &*)")
	_ = us.SetUser("evalonly", "on", "+@all", "~app:*", "(+eval ~* &*)")
	_ = us.SetUser("commands", "on", "+@all", "-@dangerous", "~*", "&*")
	for _, tc := range []struct {
		user, cmd, want string
	}{
		{"restricted", "eval s 1 app:1", permCmd("eval")},
		{"restricted", "fcall f 0", permCmd("fcall")},
		{"restricted", "script flush", permCmd("script|flush")},
		{"restricted", "get app:1", ""},
		{"nochannels", "evalsha x 0", permCmd("evalsha")},
		{"full", "eval s 1 anything", ""},
		{"selector", "eval s 1 anything", ""},
		{"selector", "fcall f 0", ""},
		{"evalonly", "eval s 1 anything", permCmd("eval")},
		{"commands", "eval s 0", permCmd("eval")},
		{"commands", "get anything", ""},
	} {
		args := bytesArgs(splitCommandLine(t, tc.cmd)...)
		c, _ := tbl.Resolve(args)
		if got := us.Get(tc.user).Check(c, args).Reply(); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.user, tc.cmd, got, tc.want)
		}
	}
	// Off again: Redis's own rule, only the declared keys count.
	us.SetScriptsNeedAllKeys(false)
	args := bytesArgs("eval", "s", "1", "app:1")
	c, _ := tbl.Resolve(args)
	if d := us.Get("restricted").Check(c, args); !d.Allowed() {
		t.Errorf("without the rule: %q", d.Reply())
	}
}

func TestRebind(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	_ = us.SetUser("alice", "on", ">pw", "~app:*", "%R~ro:*", "&news", "+@read", "-get", "+select|0", "(~x +set)")
	other, err := ParseJSON(commandsJSON)
	if err != nil {
		t.Fatal(err)
	}
	re, err := us.Rebind(other)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(re.List(), "\n") != strings.Join(us.List(), "\n") || re.Get("alice").Table() != other {
		t.Errorf("rebind changed the users:\n%s", strings.Join(re.List(), "\n"))
	}
	// A table without a command the rules name cannot take the users.
	small, err := FromCommandReply(Value{Kind: KindArray, Elems: []Value{
		{Kind: KindArray, Elems: []Value{{Kind: KindBulk, Str: "get"}, {Kind: KindInt, Int: 2}, {Kind: KindArray},
			{Kind: KindInt, Int: 1}, {Kind: KindInt, Int: 1}, {Kind: KindInt, Int: 1}}},
	}}, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	_ = us.SetUser("bob", "on", "+set")
	if _, err := us.Rebind(small); err == nil {
		t.Error("rebinding to a table without SET succeeded")
	}
}

// Connections check with the *User they hold while the control plane changes the set and publishes
// clones: no data race, and a held user keeps its rules.
func TestCheckConcurrentWithChanges(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	_ = us.SetUser("u", "on", "+get", "~app:*")
	held := us.Clone().Get("u")
	args := bytesArgs("get", "app:1")
	cmd, _ := tbl.Resolve(args)
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 2000 {
				ok = ok && held.Check(cmd, args).Allowed()
			}
			done <- ok
		}()
	}
	for i := range 200 {
		_ = us.SetUser("u", "-get", fmt.Sprintf("~k%d", i), "(+set ~x)")
		_ = us.Clone()
	}
	for range 4 {
		if !<-done {
			t.Error("a held user changed under a concurrent SetUser")
		}
	}
	if us.Get("u").Check(cmd, args).Allowed() {
		t.Error("the new user should be denied GET")
	}
}

// Unrestricted is exactly "Check allows everything": it holds for the rules that grant all commands,
// keys and channels on an enabled user, and for no narrower rule set.
func TestUnrestricted(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	cases := []struct {
		rules string
		want  bool
	}{
		{"on nopass ~* &* +@all", true},
		{"on >pw allkeys allchannels allcommands", true},
		{"on >pw ~* &* +@all (~x +get)", true}, // selectors only add
		{"off nopass ~* &* +@all", false},
		{"on nopass ~* &* +@all -flushall", false},
		{"on nopass ~app:* &* +@all", false},
		{"on nopass %R~* &* +@all", false},
		{"on nopass ~* resetchannels +@all", false},
		{"on nopass ~* &* -@all +@read +@write", false},
	}
	for i, tc := range cases {
		name := fmt.Sprintf("u%d", i)
		if err := us.SetUser(name, splitCommandLine(t, tc.rules)...); err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		if got := us.Get(name).Unrestricted(); got != tc.want {
			t.Errorf("%q: Unrestricted() = %v, want %v", tc.rules, got, tc.want)
		}
	}
	if !us.Get("default").Unrestricted() {
		t.Error("a fresh default user is not Unrestricted")
	}
	var none *User
	if none.Unrestricted() {
		t.Error("a nil user is Unrestricted")
	}
}

// CheckHeld judges the start of a command line strictly: it never allows what Check would refuse for
// some completion of the line, and allows fixed-position keys the user may read and write.
func TestCheckHeld(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{ScriptsNeedAllKeys: true})
	for _, u := range [][]string{
		{"app", "on", "~app:*", "&news.*", "+@all"},
		{"ro", "on", "%R~app:*", "+@all"},
		{"all", "on", "~*", "&*", "+@all"},
		{"sel", "on", "+get", "(~app:* +@all)"},
	} {
		if err := us.SetUser(u[0], u[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		user, held string
		want       Reason
	}{
		{"app", "SET app:1", Allowed},
		{"app", "SET other", DeniedKey},
		{"ro", "SET app:1", DeniedKey}, // read-only patterns never do for an unseen SET … GET
		{"ro", "GET app:1", DeniedKey}, // both are needed whatever the command
		{"app", "MSET app:1 x app:2", DeniedKey},
		{"all", "MSET app:1 x app:2", Allowed},
		{"app", "PUBLISH news.1", DeniedChannel},
		{"all", "PUBLISH news.1", Allowed},
		{"app", "EVAL", DeniedCommand}, // scripts need all keys
		{"app", "FLUSHALL", Allowed},
		{"sel", "SET app:1", Allowed}, // by the selector
		{"sel", "SET other", DeniedKey},
	} {
		args := bytesArgs(splitCommandLine(t, tc.held)...)
		cmd := tbl.LookupArgs(args)
		if got := us.Get(tc.user).CheckHeld(cmd, args).Reason; got != tc.want {
			t.Errorf("%s: %q: %v, want %v", tc.user, tc.held, got, tc.want)
		}
	}
	if tbl.LookupArgs(bytesArgs("NOSUCH")) != nil || tbl.LookupArgs(nil) != nil {
		t.Error("LookupArgs found an unknown command")
	}
}
