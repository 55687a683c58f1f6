package acl

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ReparseACLLines from a set read from lines gives what reading every line gives — the same users or
// the same error — after edits of every kind (a user's rules changed, users added and deleted, blank
// lines, duplicates, bad lines, "default" added and taken, a line holding a newline); when it loads, the
// users it says changed (ChangedFrom) are exactly the ones that are not the same *User as before.
func TestReparseACLLinesPatch(t *testing.T) {
	tbl := mustDefault(t)
	edits := []func(r *rand.Rand, lines []string, i int) []string{
		func(r *rand.Rand, l []string, i int) []string { // a user's rules
			k := r.IntN(len(l))
			l[k] = strings.TrimSpace(l[k]) + fmt.Sprintf(" ~e%d:*", i)
			return l
		},
		func(r *rand.Rand, l []string, i int) []string { // a user added
			return slices.Insert(l, r.IntN(len(l)+1), fmt.Sprintf("user n%d on >p%d ~n:* +get", i, i))
		},
		func(r *rand.Rand, l []string, _ int) []string { // a user deleted
			k := r.IntN(len(l))
			return slices.Delete(l, k, k+1)
		},
		func(r *rand.Rand, l []string, _ int) []string { return slices.Insert(l, r.IntN(len(l)+1), "  ") },
		func(r *rand.Rand, l []string, _ int) []string { // a duplicate
			return slices.Insert(l, r.IntN(len(l)+1), l[r.IntN(len(l))])
		},
		func(r *rand.Rand, l []string, _ int) []string { return slices.Insert(l, r.IntN(len(l)+1), "usr x on") },
		func(r *rand.Rand, l []string, _ int) []string {
			return slices.Insert(l, r.IntN(len(l)+1), "user y on +nosuch")
		},
		func(r *rand.Rand, l []string, _ int) []string { return append(l, "user default on nopass ~* +@all") },
		func(r *rand.Rand, l []string, _ int) []string {
			return slices.DeleteFunc(l, func(s string) bool { return strings.HasPrefix(s, "user default ") })
		},
	}
	r := rand.New(rand.NewPCG(1, 2))
	lines := []string{"user a on >x ~a:* +get", "user b on >y ~b:* +set", "user c on nopass ~c:* +@read"}
	prev, err := ReparseACLLines(nil, tbl, Config{}, "acl", lines)
	if err != nil {
		t.Fatal(err)
	}
	patched := 0
	for i := range 601 {
		next := edits[r.IntN(len(edits))](r, slices.Clone(lines), i)
		if i == 600 { // last, as it is never read as a patch: fgets reads it as two lines
			next = slices.Insert(slices.Clone(lines), r.IntN(len(lines)+1), "user z on\nuser w on")
		}
		if len(next) == 0 {
			continue
		}
		want, werr := ParseACLFile(tbl, Config{}, "acl", []byte(strings.Join(next, "\n")))
		got, gerr := ReparseACLLines(prev, tbl, Config{}, "acl", next)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("edit %d: error %v; ParseACLFile's %v", i, gerr, werr)
		}
		if werr != nil {
			continue
		}
		if g, w := strings.Join(got.List(), "\n"), strings.Join(want.List(), "\n"); g != w {
			t.Fatalf("edit %d:\n%s\n--- ParseACLFile:\n%s", i, g, w)
		}
		if names, ok := got.ChangedFrom(prev); ok {
			patched++
			var differ []string
			for _, n := range slices.Concat(prev.Names(), got.Names()) {
				if prev.Get(n) != got.Get(n) {
					differ = append(differ, n)
				}
			}
			slices.Sort(differ)
			if differ = slices.Compact(differ); !slices.Equal(names, differ) {
				t.Fatalf("edit %d: ChangedFrom says %q; the users that differ are %q", i, names, differ)
			}
		}
		prev, lines = got, next
	}
	if patched < 100 {
		t.Errorf("%d edits read as a patch", patched)
	}
}

// A one-user change among many is read as that line alone: the other users are the same, and
// ChangedFrom names that user; once either set is changed in place, nothing is known.
func TestReparseACLLinesChangedFrom(t *testing.T) {
	tbl := mustDefault(t)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf("user u%03d on >p ~k%d:* +get", i, i))
	}
	prev, err := ReparseACLLines(nil, tbl, Config{}, "acl", lines)
	if err != nil {
		t.Fatal(err)
	}
	next := slices.Clone(lines)
	next[250] += " +set"
	got, err := ReparseACLLines(prev, tbl, Config{}, "acl", next)
	if err != nil {
		t.Fatal(err)
	}
	if names, ok := got.ChangedFrom(prev); !ok || !slices.Equal(names, []string{"u250"}) {
		t.Fatalf("ChangedFrom: %q, %v", names, ok)
	}
	if got.Get("u249") != prev.Get("u249") || got.Get("u250") == prev.Get("u250") || got.Len() != prev.Len() {
		t.Error("the unchanged users were not kept, or the changed one was")
	}
	if _, ok := prev.ChangedFrom(got); ok {
		t.Error("ChangedFrom the other way round")
	}
	scripts := got.WithScriptsNeedAllKeys(false, nil, nil)
	prevScripts := prev.WithScriptsNeedAllKeys(false, nil, nil)
	fast := got.WithScriptsNeedAllKeys(false, prev, prevScripts)
	if g, w := strings.Join(fast.List(), "\n"), strings.Join(scripts.List(), "\n"); g != w || fast.Config() != scripts.Config() {
		t.Fatalf("WithScriptsNeedAllKeys from the previous copy:\n%s\n--- made whole:\n%s", g, w)
	}
	if names, ok := fast.ChangedFrom(prevScripts); !ok || !slices.Equal(names, []string{"u250"}) || fast.Get("u1") != prevScripts.Get("u1") {
		t.Fatalf("the copy's ChangedFrom: %q, %v", names, ok)
	}
	c := got.Clone()
	if err := c.SetUser("u1", "+del"); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.ChangedFrom(got); ok {
		t.Error("a clone changed in place says what it changed from")
	}
	if err := prev.SetUser("u2", "+del"); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.ChangedFrom(prev); ok {
		t.Error("ChangedFrom a set changed in place since")
	}
}

// userMap behaves as a plain map through sets, deletes, clones (which do not see each other's changes,
// whichever of them changes, and however often) and its growth into more shards.
func TestUserMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	users := make([]*User, 3000)
	for i := range users {
		users[i] = &User{name: fmt.Sprint("u", i)}
	}
	type copyOf struct {
		m     userMap
		plain map[string]*User
	}
	copies := []*copyOf{{newUserMap(0), map[string]*User{}}}
	for _, u := range users[:200] {
		copies[0].m.set(u.name, u)
		copies[0].plain[u.name] = u
	}
	for i := range 20000 {
		c := copies[r.IntN(len(copies))]
		if i < 10000 {
			c = copies[0] // first one map growing, cloned as it goes
		}
		u := users[r.IntN(len(users))]
		if r.IntN(3) == 0 {
			if c.m.del(u.name) != (c.plain[u.name] != nil) {
				t.Fatalf("op %d: del %s", i, u.name)
			}
			delete(c.plain, u.name)
		} else {
			c.m.set(u.name, u)
			c.plain[u.name] = u
		}
		if i%50 == 0 {
			copies = append(copies, &copyOf{c.m.clone(), maps.Clone(c.plain)})
		}
	}
	if len(copies[0].m.shards) < 16 {
		t.Errorf("%d users in %d shards", copies[0].m.len(), len(copies[0].m.shards))
	}
	for i, c := range copies {
		got := map[string]*User{}
		for name, u := range c.m.all() {
			got[name] = u
		}
		if !maps.Equal(got, c.plain) || c.m.len() != len(c.plain) {
			t.Fatalf("copy %d: %d users iterated, len %d; want %d", i, len(got), c.m.len(), len(c.plain))
		}
		for _, u := range users {
			if c.m.get(u.name) != c.plain[u.name] {
				t.Fatalf("copy %d: get %s", i, u.name)
			}
		}
	}
}
