package acl

import (
	"slices"
	"testing"
)

func TestBackendRulesReparse(t *testing.T) {
	tab := mustDefault(t)
	us := NewUsers(tab, Config{})
	if err := us.SetUser("u", "on", ">pw", "%R~ro:*", "~app:*", "&ch", "+@all", "-flushall", "(~sel:* +get)"); err != nil {
		t.Fatal(err)
	}
	rules := us.Get("u").BackendRules([]string{"config"})
	if !slices.Contains(rules, "-config") || !slices.Contains(rules, "%R~ro:*") {
		t.Fatalf("rules %q", rules)
	}
	if err := us.SetUser("copy", append([]string{"reset", "on", "nopass"}, rules...)...); err != nil {
		t.Fatalf("rules %q do not parse: %v", rules, err)
	}
	cp := us.Get("copy")
	for _, args := range [][]string{{"get", "app:1"}, {"get", "ro:1"}, {"set", "ro:1", "x"}, {"get", "sel:1"}, {"set", "sel:1", "x"}, {"config", "get", "x"}, {"flushall"}, {"publish", "ch", "m"}} {
		b := bytesArgs(args...)
		cmd, cerr := tab.Resolve(b)
		if cerr != nil {
			t.Fatalf("%q: %s", args, cerr.Reply)
		}
		want := us.Get("u").Check(cmd, b).Allowed() && args[0] != "config"
		if got := cp.Check(cmd, b).Allowed(); got != want {
			t.Errorf("%q: allowed %v, want %v", args, got, want)
		}
	}
}
