package acl

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func modErr(rule, msg string) string {
	return "ERR Error in ACL SETUSER modifier '" + rule + "': " + msg
}

// setUserErrors: one ACL SETUSER call and its exact reply ("" for OK). Every case is also sent to a real
// server.
var setUserErrors = []struct {
	rules []string
	want  string
}{
	{[]string{"on", ">pw", "~app:*", "+@read"}, ""},
	{[]string{"+nosuch"}, modErr("+nosuch", "Unknown command or category name in ACL")},
	{[]string{"+@nosuch"}, modErr("+@nosuch", "Unknown command or category name in ACL")},
	{[]string{"-select|0"}, modErr("-select|0", "Unknown command or category name in ACL")},
	{[]string{"+config|get|x"}, modErr("+config|get|x", "Allowing first-arg of a subcommand is not supported")},
	{[]string{"+DEBUG|"}, modErr("+DEBUG|", "Syntax error")},
	{[]string{"+config|nosub"}, modErr("+config|nosub", "Unknown command or category name in ACL")},
	{[]string{"%~x"}, modErr("%~x", "Syntax error")},
	{[]string{"%"}, modErr("%", "Syntax error")},
	{[]string{"%RR~x"}, modErr("%RR~x", "Syntax error")},
	{[]string{"%R"}, ""}, // an empty read pattern, as in Redis
	{[]string{"~a b"}, modErr("~a b", "Syntax error")},
	{[]string{"~a\tb"}, modErr("~a\tb", "Syntax error")},
	{[]string{"&a\vb"}, modErr("&a\vb", "Syntax error")},
	{[]string{"~*", "~x"}, modErr("~x", "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")},
	{[]string{"allkeys", "%R~x"}, modErr("%R~x", "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")},
	{[]string{"&*", "&x"}, modErr("&x", "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")},
	{[]string{"<nosuch"}, modErr("<nosuch", "The password you are trying to remove from the user does not exist")},
	{[]string{"#abc"}, modErr("#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")},
	{[]string{"#" + strings.ToUpper(HashPassword([]byte("x")))}, modErr("#"+strings.ToUpper(HashPassword([]byte("x"))), "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")},
	{[]string{"bogus"}, modErr("bogus", "Syntax error")},
	{[]string{"("}, "ERR Unmatched parenthesis in acl selector starting at '('."},
	{[]string{"on", "(~x", "+get"}, "ERR Unmatched parenthesis in acl selector starting at '(~x'."},
	{[]string{"(~x", "%~y)"}, modErr("(~x %~y)", "Syntax error")},
	{[]string{"(~x", "(~y", "+get)"}, ""},              // a second '(' starts the selector again
	{[]string{"(", "~\"q", ")"}, ""},                   // unbalanced quotes inside: an empty selector
	{[]string{"(on)"}, modErr("(on)", "Syntax error")}, // user rules are not selector rules
	{[]string{"()"}, ""},
	{[]string{")"}, modErr(")", "Syntax error")},
	{[]string{"(~\"a b\")"}, modErr("(~\"a b\")", "Syntax error")},
	{[]string{"+get\x00xyz"}, ""},                       // C string functions stop at the NUL
	{[]string{"on\x00junk", "allkeys\x00junk"}, ""},     // keywords too
	{[]string{"~x\x00y"}, modErr("~x", "Syntax error")}, // but patterns keep it, and reject it; the reply stops at it
	{[]string{"+nosuch\r\nx"}, modErr("+nosuch  x", "Unknown command or category name in ACL")},
	{[]string{"", "on"}, ""},
	{[]string{"+@READ", "+GET", "ON", "AllKeys"}, ""},
}

func TestSetUserErrorTexts(t *testing.T) {
	tbl := mustDefault(t)
	_, rc := startRedis(t)
	us := NewUsers(tbl, Config{})
	for i, tc := range setUserErrors {
		name := fmt.Sprintf("e%d", i)
		got := ""
		if err := us.SetUser(name, tc.rules...); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%q:\n  got  %q\n  want %q", tc.rules, got, tc.want)
		}
		redis := strings.TrimPrefix(replyText(rc.do(append([]string{"ACL", "SETUSER", name}, tc.rules...)...)), "-")
		if redis == "+OK" {
			redis = ""
		}
		if redis != tc.want {
			t.Errorf("%q: redis says %q", tc.rules, redis)
		}
	}
	for _, name := range []string{"a b", "a\x00b", "a\tb"} {
		err := us.SetUser(name, "on")
		if err == nil || err.Error() != "ERR Usernames can't contain spaces or null characters" {
			t.Errorf("user %q: %v", name, err)
		}
	}
}

// A failing rule changes nothing, also on an existing user.
func TestSetUserIsAtomic(t *testing.T) {
	us := NewUsers(mustDefault(t), Config{})
	if err := us.SetUser("alice", "on", ">pw", "~app:*", "+get"); err != nil {
		t.Fatal(err)
	}
	before := us.Get("alice")
	desc := before.Describe()
	if err := us.SetUser("alice", "off", "resetpass", "~x", "+nosuch"); err == nil {
		t.Fatal("no error")
	}
	if us.Get("alice") != before || us.Get("alice").Describe() != desc {
		t.Errorf("failed SETUSER changed the user: %s", us.Get("alice").Describe())
	}
	if err := us.SetUser("bob", "on", "+nosuch"); err == nil || us.Get("bob") != nil {
		t.Error("failed SETUSER created the user")
	}
	// Users handed out earlier are never changed by a later SETUSER.
	if err := us.SetUser("alice", "off", "-get"); err != nil {
		t.Fatal(err)
	}
	if !before.Enabled() || before.Describe() != desc {
		t.Error("a held *User changed")
	}
}

func TestPasswords(t *testing.T) {
	us := NewUsers(mustDefault(t), Config{})
	if !us.DefaultAuthenticated() || us.Authenticate("default", []byte("anything")) == nil {
		t.Fatal("fresh default user must be nopass")
	}
	if err := us.SetRequirePass("s3cret"); err != nil {
		t.Fatal(err)
	}
	if us.DefaultAuthenticated() || us.Authenticate("default", []byte("x")) != nil || us.Authenticate("default", []byte("s3cret")) == nil {
		t.Error("requirepass not applied")
	}
	if err := us.SetUser("u", "on", ">a", ">b\x00c", "#"+HashPassword([]byte("d"))); err != nil {
		t.Fatal(err)
	}
	for pw, ok := range map[string]bool{"a": true, "b\x00c": true, "b": false, "d": true, "": false} {
		if got := us.Authenticate("u", []byte(pw)) != nil; got != ok {
			t.Errorf("password %q: %v", pw, got)
		}
	}
	_ = us.SetUser("u", "<a", "!"+HashPassword([]byte("d")))
	if us.Authenticate("u", []byte("a")) != nil || us.Authenticate("u", []byte("d")) != nil {
		t.Error("removed passwords still work")
	}
	_ = us.SetUser("u", "off")
	if us.Authenticate("u", []byte("b\x00c")) != nil {
		t.Error("a disabled user authenticated")
	}
	_ = us.SetUser("u", "on", "nopass")
	if us.Authenticate("u", []byte("whatever")) == nil || len(us.Get("u").PasswordHashes()) != 0 {
		t.Error("nopass")
	}
	_ = us.SetUser("u", "resetpass")
	if us.Authenticate("u", []byte("whatever")) != nil {
		t.Error("resetpass must lock the user out")
	}
	if us.Authenticate("nosuch", nil) != nil {
		t.Error("unknown user authenticated")
	}
	if n, err := us.DelUser("u", "nosuch"); n != 1 || err != nil {
		t.Errorf("DelUser = %d, %v", n, err)
	}
	if _, err := us.DelUser("x", "default"); err == nil || err.Error() != "ERR The 'default' user cannot be removed" {
		t.Errorf("deleting default: %v", err)
	}
}

// The 7.0.15 test "ACL GETUSER provides reasonable results": for every category, "reset +@all -@cat"
// renders as "+@all -@cat" and "reset -@all +@cat" as "-@all +@cat".
func TestRenderSingleCategory(t *testing.T) {
	us := NewUsers(mustDefault(t), Config{})
	for _, cat := range CategoryNames() {
		_ = us.SetUser("additive", "reset", "+@all", "-@"+cat)
		if got := us.Get("additive").Info().Commands; got != "+@all -@"+cat {
			t.Errorf("reset +@all -@%s renders %q", cat, got)
		}
		_ = us.SetUser("restrictive", "reset", "-@all", "+@"+cat)
		if got := us.Get("restrictive").Info().Commands; got != "-@all +@"+cat {
			t.Errorf("reset -@all +@%s renders %q", cat, got)
		}
	}
}

// ACL GETUSER as data equals redis-server's reply (single-command rules compared as sets).
func TestGetUserInfoMatchesRedis(t *testing.T) {
	us := NewUsers(mustDefault(t), Config{})
	_, rc := startRedis(t)
	for i, rules := range [][]string{
		{"on", ">pw", "#" + HashPassword([]byte("x")), "~app:*", "%R~ro:*", "%W~wo:*", "&news.*", "&chat", "+@read", "-get", "+config|get", "+select|0", "(~x +set)", "(&* -@all +publish)"},
		{"reset"},
		{},
		{"nopass", "skip-sanitize-payload", "allkeys", "allchannels", "+@all", "-@dangerous", "+flushdb"},
		{"+@all", "-config", "+config|get", "-client|kill"},
	} {
		name := fmt.Sprintf("g%d", i)
		if err := us.SetUser(name, rules...); err != nil {
			t.Fatal(err)
		}
		rc.do(append([]string{"ACL", "SETUSER", name}, rules...)...)
		got := us.Get(name).Info()
		r := rc.do("ACL", "GETUSER", name)
		fields := map[string]Value{}
		for j := 0; j+1 < len(r.Elems); j += 2 {
			fields[r.Elems[j].Str] = r.Elems[j+1]
		}
		flags, _ := texts(fields["flags"])
		pw, _ := texts(fields["passwords"])
		if !slices.Equal(flags, got.Flags) || !slices.Equal(pw, got.Passwords) {
			t.Errorf("%q: flags %q/%q passwords %q/%q", rules, flags, got.Flags, pw, got.Passwords)
		}
		check := func(what string, want Value, si SelectorInfo) {
			sm := map[string]string{}
			for j := 0; j+1 < len(want.Elems); j += 2 {
				sm[want.Elems[j].Str] = want.Elems[j+1].Str
			}
			if sm == nil || normalizeDescription(sm["commands"]) != normalizeDescription(si.Commands) ||
				sm["keys"] != si.Keys || sm["channels"] != si.Channels {
				t.Errorf("%q %s:\n  redis %q\n  moat  %+v", rules, what, sm, si)
			}
		}
		check("root", Value{Elems: []Value{{Str: "commands"}, fields["commands"], {Str: "keys"}, fields["keys"], {Str: "channels"}, fields["channels"]}}, got.SelectorInfo)
		if len(fields["selectors"].Elems) != len(got.Selectors) {
			t.Fatalf("%q: %d selectors in redis, %d in moat", rules, len(fields["selectors"].Elems), len(got.Selectors))
		}
		for j, s := range fields["selectors"].Elems {
			check(fmt.Sprintf("selector %d", j), s, got.Selectors[j])
		}
	}
}
