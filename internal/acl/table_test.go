package acl

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestDefaultTableShape(t *testing.T) {
	tbl := mustDefault(t)
	// §2.10, checked live on 7.0.15: 240 top-level commands, 366 with subcommands, 193 with key specs.
	if got := len(tbl.Commands()); got != 240 {
		t.Errorf("top-level commands = %d, want 240", got)
	}
	if tbl.Len() != 366 {
		t.Errorf("commands and subcommands = %d, want 366", tbl.Len())
	}
	withSpecs, movable := 0, 0
	for _, c := range tbl.cmds {
		if len(c.KeySpecs) > 0 {
			withSpecs++
		}
		if c.HasFlag("movablekeys") {
			movable++
		}
		if c.cats == 0 {
			t.Errorf("%s has no known category", c.Name)
		}
	}
	if withSpecs != 193 || movable != 25 {
		t.Errorf("with key specs %d (want 193), movablekeys %d (want 25)", withSpecs, movable)
	}
	for _, tc := range []struct {
		name string
		cats []Category
	}{
		{"set", []Category{CatWrite, CatString, CatSlow}},
		{"config|get", []Category{CatAdmin, CatSlow, CatDangerous}},
		{"client|id", []Category{CatSlow, CatConnection}},
	} {
		c := tbl.Lookup(tc.name)
		if c == nil {
			t.Fatalf("%s missing", tc.name)
		}
		var want Categories
		for _, cat := range tc.cats {
			want |= 1 << cat
		}
		if c.cats != want {
			t.Errorf("%s categories = %v, want %v", tc.name, c.Categories, tc.cats)
		}
	}
	if !tbl.Lookup("auth").noAuth || tbl.Lookup("get").noAuth {
		t.Error("no_auth flag not compiled")
	}
	if c := tbl.Lookup("CONFIG|GET"); c == nil || c.Parent() != tbl.Lookup("config") {
		t.Error("case-insensitive subcommand lookup failed")
	}
	for _, bad := range []string{"", "|get", "get|x", "config|get|x", "config|", "nosuch"} {
		if tbl.Lookup(bad) != nil {
			t.Errorf("Lookup(%q) found a command", bad)
		}
	}
}

// The committed table must be exactly what the loader builds from a live redis-server 7.0.15, in RESP2
// and in RESP3.
func TestLiveCommandReplyEqualsCommittedTable(t *testing.T) {
	want := mustDefault(t)
	wantJSON, err := want.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wantJSON, commandsJSON) {
		t.Error("re-marshalling commands.json does not give the committed bytes")
	}
	_, rc := startRedis(t)
	for _, proto := range []string{"2", "3"} {
		rc.do("HELLO", proto)
		reply := rc.do("COMMAND")
		got, err := FromCommandReply(reply, want.Source)
		if err != nil {
			t.Fatalf("RESP%s: %v", proto, err)
		}
		gotJSON, _ := got.MarshalJSON()
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("RESP%s: table from the live COMMAND reply differs from commands.json:\n%s", proto,
				firstDiff(string(gotJSON), string(wantJSON)))
		}
	}
}

func TestReadCommandReplyErrors(t *testing.T) {
	for _, in := range []string{
		"-ERR unknown command 'COMMAND'\r\n",
		"*1\r\n:1\r\n",
		"*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n:1\r\n$1\r\nx\r\n",
		"*2\r\n",
		"",
	} {
		if _, err := ReadCommandReply(bufio.NewReader(strings.NewReader(in)), "test"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	// A minimal 6-element entry (an old server) loads with no categories or key specs.
	tbl, err := ReadCommandReply(bufio.NewReader(strings.NewReader(
		"*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n")), "old")
	if err != nil || tbl.Lookup("get") == nil || tbl.Lookup("get").Arity != 2 {
		t.Fatalf("old-style entry: %v", err)
	}
}

func firstDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return "got:  " + x + "\nwant: " + y
		}
	}
	return ""
}

func TestCategoryNames(t *testing.T) {
	want := "keyspace read write set sortedset list hash string bitmap hyperloglog geo stream pubsub admin fast slow blocking dangerous connection transaction scripting"
	if got := strings.Join(CategoryNames(), " "); got != want {
		t.Errorf("ACL CAT = %s", got)
	}
	if _, ok := CategoryByName("\u212Aeyspace"); ok {
		t.Error("Unicode folding accepted (Kelvin sign)")
	}
	if c, ok := CategoryByName("SortedSet"); !ok || c != CatSortedSet {
		t.Error("case-insensitive category lookup failed")
	}
	tbl := mustDefault(t)
	cmds, err := tbl.CategoryCommands("connection")
	if err != nil || !slices.Contains(cmds, "client|id") || slices.Contains(cmds, "client") {
		t.Errorf("ACL CAT connection = %v, %v", cmds, err)
	}
	if _, err := tbl.CategoryCommands("nosuch"); err == nil || err.Error() != "ERR Unknown category 'nosuch'" {
		t.Errorf("unknown category: %v", err)
	}
}
