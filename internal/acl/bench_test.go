package acl

import (
	"fmt"
	"testing"
)

// benchUser is the benchmark user: 20 key patterns (prefixes, read-only and write-only ones,
// two general globs) and 5 categories.
func benchUser(b *testing.B) (*Table, *User) {
	tbl := mustDefault(b)
	rules := []string{"on", ">pw", "+@read", "+@write", "+@string", "+@hash", "+@connection"}
	for i := range 15 {
		rules = append(rules, fmt.Sprintf("~tenant%d:*", i))
	}
	rules = append(rules, "%R~shared:*", "%R~config:*", "%W~events:*", "~user:*:profile", "~k[0-9]")
	us := NewUsers(tbl, Config{})
	if err := us.SetUser("bench", rules...); err != nil {
		b.Fatal(err)
	}
	return tbl, us.Get("bench")
}

func BenchmarkCheck(b *testing.B) {
	tbl, u := benchUser(b)
	for _, tc := range []struct {
		name, want string
		args       [][]byte
	}{
		{"get-first-pattern", "", bytesArgs("GET", "tenant0:42")},
		{"get-15th-pattern", "", bytesArgs("GET", "tenant14:42")},
		{"set-15th-pattern", "", bytesArgs("SET", "tenant14:42", "v")},
		{"set-glob-pattern", "", bytesArgs("SET", "user:7:profile", "v")},
		{"get-last-pattern", "", bytesArgs("GET", "k7")}, // every pattern tried, the last a general glob
		{"mget-3-keys", "", bytesArgs("MGET", "tenant3:1", "shared:x", "k7")},
		{"get-no-pattern", replyNoPermKey, bytesArgs("GET", "other:1")},
		{"denied-command", "NOPERM this user has no permissions to run the 'config|get' command", bytesArgs("CONFIG", "GET", "x")},
	} {
		cmd, err := tbl.Resolve(tc.args)
		if err != nil {
			b.Fatal(err)
		}
		if got := u.Check(cmd, tc.args).Reply(); got != tc.want {
			b.Fatalf("%s: %q", tc.name, got)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				u.Check(cmd, tc.args)
			}
		})
	}
}

// BenchmarkResolveAndCheck adds the command lookup and arity check the gateway does first.
func BenchmarkResolveAndCheck(b *testing.B) {
	tbl, u := benchUser(b)
	args := bytesArgs("get", "tenant14:42")
	b.ReportAllocs()
	for b.Loop() {
		cmd, err := tbl.Resolve(args)
		if err != nil || !u.Check(cmd, args).Allowed() {
			b.Fatal("denied")
		}
	}
}

// The hot path allocates nothing (the target is 0 allocs per command).
func TestCheckDoesNotAllocate(t *testing.T) {
	tbl := mustDefault(t)
	us := NewUsers(tbl, Config{})
	if err := us.SetUser("u", "on", "+@all", "~app:*", "%R~ro:*", "&news.*", "(~x +get)"); err != nil {
		t.Fatal(err)
	}
	u := us.Get("u")
	for _, line := range [][]string{
		{"GET", "app:1"}, {"get", "other"}, {"MSET", "app:1", "v", "app:2", "v"}, {"PUBLISH", "news.a", "m"},
		{"eval", "s", "2", "app:1", "app:2"}, {"set", "app:1", "v", "GET"}, {"config", "get", "x"},
	} {
		args := bytesArgs(line...)
		allocs := testing.AllocsPerRun(100, func() {
			cmd, _ := tbl.Resolve(args)
			u.Check(cmd, args)
		})
		if allocs != 0 {
			t.Errorf("%q: %v allocs", line, allocs)
		}
	}
}
