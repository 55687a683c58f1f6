package acl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// aclFiles are aclfile contents; each is loaded with ACL LOAD on a real server and with ParseACLFile,
// and the outcomes must be the same: the same error reply, or the same users.
var aclFiles = []string{
	"user default on nopass ~* &* +@all\nuser a on >x ~k* +get (~z* +set)\n",
	"user a on >x ~k* +get\n", // no default user: a fresh one is made
	"\n\n  user b  on  ~x   +get  \r\n\n",
	"user c on ~a\r\n\r\nuser d ( ~x  +get  )\n",
	"user e on ~a  ~b\tx +get\n",
	"user default on nopass ~* &* +@all\nuser b on +nosuch ~x %~y +get +bar\n",
	"user default on nopass ~* &* +@all\n\n  user c  on +@bogus  \n",
	"#comment\n",
	"user b on\nuser b off\n",
	"user e (~a +get) \"x y\"\n",
	"userx e\n",
	"user\n",
	"user a\x00b on\nuser c on\n",
	"user a b\x00c\n",
	"user a\tb on\n",
	"user f (~x\n", // unmatched, with no rule before it (redis-server 7.0.15 crashes when rules precede it)
	"user g on %R~ro:* %W~wo:* &news.* resetchannels &chat -@all +@read -get +select|0\n",
	"user h on " + strings.Repeat("+get ", 300) + "\n", // a line longer than one 1023-byte read
}

func TestACLFileMatchesACLLoad(t *testing.T) {
	tbl := mustDefault(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(path, []byte("user default on nopass ~* &* +@all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, rc := startRedis(t, "--aclfile", path)
	for _, content := range aclFiles {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		want := replyText(rc.do("ACL", "LOAD"))
		us, err := ParseACLFile(tbl, Config{}, path, []byte(content))
		got := "+OK"
		if err != nil {
			got = "-" + err.Error()
		}
		if got != want {
			t.Errorf("%q:\n  redis %q\n  moat  %q", content, want, got)
			continue
		}
		if err != nil {
			continue
		}
		list := rc.do("ACL", "LIST")
		mine := us.List()
		if len(list.Elems) != len(mine) {
			t.Errorf("%q: %d users in redis, %d in moat", content, len(list.Elems), len(mine))
			continue
		}
		for i, e := range list.Elems {
			if normalizeDescription(e.Str) != normalizeDescription(mine[i]) {
				t.Errorf("%q:\n  redis %s\n  moat  %s", content, e.Str, mine[i])
			}
		}
		// ACL SAVE writes what ACLFile writes (up to the order of single-command rules).
		if r := rc.do("ACL", "SAVE"); r.Str != "OK" {
			t.Fatalf("ACL SAVE: %s", r)
		}
		saved, _ := os.ReadFile(path)
		if normalizeFile(string(saved)) != normalizeFile(string(us.ACLFile())) {
			t.Errorf("ACL SAVE:\n%s\nmoat:\n%s", saved, us.ACLFile())
		}
	}
}

func normalizeFile(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, normalizeDescription(l))
	}
	return strings.Join(out, "\n")
}

// What ACLFile writes, ParseACLFile reads back to the same users.
func TestACLFileRoundTrip(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	for name, rules := range map[string][]string{
		"alice": {"on", ">pw", "~app:*", "%R~ro:*", "&news.*", "+@read", "-get", "+config|get", "+select|0", "(~x +set)"},
		"bob":   {"off", "nopass", "allkeys", "allchannels", "+@all", "-@dangerous"},
		"carol": {"reset"},
	} {
		if err := us.SetUser(name, rules...); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ParseACLFile(tbl, Config{}, "users.acl", us.ACLFile())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(back.List(), "\n") != strings.Join(us.List(), "\n") {
		t.Errorf("round trip:\n%s\n---\n%s", strings.Join(back.List(), "\n"), strings.Join(us.List(), "\n"))
	}
}
