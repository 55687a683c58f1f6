package acl

import (
	"strings"
	"testing"
)

// ReparseACLFile gives what ParseACLFile gives — the same users or the same error — whatever file prev
// was read from.
func TestReparseACLFileMatchesParse(t *testing.T) {
	tbl := mustDefault(t)
	for i, before := range aclFiles {
		prev, _ := ParseACLFile(tbl, Config{}, "users.acl", []byte(before)) // nil when it does not load
		for j, after := range aclFiles {
			want, werr := ParseACLFile(tbl, Config{}, "users.acl", []byte(after))
			got, gerr := ReparseACLFile(prev, tbl, Config{}, "users.acl", []byte(after))
			if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
				t.Fatalf("file %d after %d: error %v; ParseACLFile's %v", j, i, gerr, werr)
			}
			if werr == nil && strings.Join(got.List(), "\n") != strings.Join(want.List(), "\n") {
				t.Fatalf("file %d after %d:\n%s\n--- ParseACLFile:\n%s", j, i, strings.Join(got.List(), "\n"), strings.Join(want.List(), "\n"))
			}
		}
	}
}

// ReparseACLLines reads the lines as ParseACLFile reads them joined with "\n": line numbers in errors,
// NUL bytes and newlines inside a line included.
func TestReparseACLLinesMatchesParse(t *testing.T) {
	tbl := mustDefault(t)
	files := append(aclFiles, "user a on ~a\nuser b on ~b", "user a on ~a\x00x\nuser b on")
	for i, file := range files {
		lines := strings.Split(file, "\n")
		if i >= len(aclFiles) {
			lines = []string{"user c on", file, "user d on"} // a newline or a NUL inside one line
			file = strings.Join(lines, "\n")
		}
		want, werr := ParseACLFile(tbl, Config{}, "users.acl", []byte(file))
		got, gerr := ReparseACLLines(nil, tbl, Config{}, "users.acl", lines)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("file %d: error %v; ParseACLFile's %v", i, gerr, werr)
		}
		if werr == nil && strings.Join(got.List(), "\n") != strings.Join(want.List(), "\n") {
			t.Fatalf("file %d:\n%s\n--- ParseACLFile:\n%s", i, strings.Join(got.List(), "\n"), strings.Join(want.List(), "\n"))
		}
	}
}

// A user whose line did not change is the same *User; a changed line, a user changed in prev since it was
// read, and a prev read with other settings are compiled again.
func TestReparseACLFileReuses(t *testing.T) {
	tbl := mustDefault(t)
	file := "user a on >x ~a:* +get\nuser b on >y ~b:* +set\nuser c on nopass ~c:* +@read\n"
	prev, err := ParseACLFile(tbl, Config{}, "users.acl", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	next, err := ReparseACLFile(prev, tbl, Config{}, "users.acl", []byte(strings.Replace(file, "~b:*", "~bb:*", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if next.Get("a") != prev.Get("a") || next.Get("c") != prev.Get("c") {
		t.Error("users whose lines did not change were compiled again")
	}
	if b := next.Get("b"); b == prev.Get("b") || !strings.Contains(b.Describe(), " ~bb:* ") {
		t.Errorf("changed user b: %q", b.Describe())
	}

	changed := prev.Clone()
	if err := changed.SetUser("a", "+set"); err != nil {
		t.Fatal(err)
	}
	again, err := ReparseACLFile(changed, tbl, Config{}, "users.acl", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if again.Get("a") == changed.Get("a") || again.Get("a").Describe() != prev.Get("a").Describe() {
		t.Errorf("user a, changed since it was read: %q", again.Get("a").Describe())
	}
	if again.Get("b") != prev.Get("b") {
		t.Error("a clone's unchanged users were compiled again")
	}

	other, err := ReparseACLFile(prev, tbl, Config{AllChannels: true}, "users.acl", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if other.Get("a") == prev.Get("a") {
		t.Error("users compiled with other settings were reused")
	}
}

// WithScriptsNeedAllKeys is Clone then SetScriptsNeedAllKeys, and copies again only the users that
// changed since prev was made.
func TestWithScriptsNeedAllKeys(t *testing.T) {
	tbl := mustDefault(t)
	from, err := ParseACLFile(tbl, Config{ScriptsNeedAllKeys: true}, "users.acl", []byte("user a on nopass ~a:* +@all\nuser b on nopass ~b:* +@all\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := from.Clone()
	want.SetScriptsNeedAllKeys(false)
	prev := from.WithScriptsNeedAllKeys(false, nil, nil)
	check := func(name string, got *Users) {
		t.Helper()
		if got.Config() != want.Config() || strings.Join(got.List(), "\n") != strings.Join(want.List(), "\n") {
			t.Fatalf("%s: %v %q; want %v %q", name, got.Config(), got.List(), want.Config(), want.List())
		}
		for n, u := range got.All() {
			if u.scriptsNeedAllKeys || u == from.Get(n) {
				t.Fatalf("%s: user %s is not a copy without the scripting rule", name, n)
			}
		}
	}
	check("first", prev)

	next := from.Clone()
	if err := next.SetUser("b", "~b2:*"); err != nil {
		t.Fatal(err)
	}
	want = next.Clone()
	want.SetScriptsNeedAllKeys(false)
	got := next.WithScriptsNeedAllKeys(false, from, prev)
	check("next", got)
	if got.Get("a") != prev.Get("a") || got.Get("default") != prev.Get("default") {
		t.Error("unchanged users were copied again")
	}
	if got.Get("b") == prev.Get("b") {
		t.Error("the changed user was taken from prev")
	}
	if back := next.WithScriptsNeedAllKeys(true, from, prev); back.Get("a") == prev.Get("a") || !back.Get("a").scriptsNeedAllKeys {
		t.Error("a copy with the other setting was reused")
	}
}
