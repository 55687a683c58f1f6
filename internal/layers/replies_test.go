package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// replyTables are the files that may spell a client-facing error: one table per layer of the data
// plane. Everything else builds its replies from them.
var replyTables = map[string]bool{
	"internal/gateway/replies.go":        true,
	"internal/acl/replies.go":            true,
	"internal/resp/protoerrors.go":       true,
	"internal/snapshot/replies.go":       true,
	"internal/backend/engine/replies.go": true,
}

// repliesRead are the data-plane packages that write nothing to clients: they only read the backend's
// replies (and compare them with Redis's error codes).
var repliesRead = map[string]bool{"internal/backend": true}

// errorCode matches a string that spells a Redis error reply: an error code of Redis 7.0.15's, with or
// without the '-' of the wire form, and a text after it. A bare code ("NOPERM", "ERR ") is a prefix
// moat reads replies by, not a reply.
var errorCode = regexp.MustCompile(`^-?(ERR|NOPERM|NOAUTH|WRONGPASS|EXECABORT|DENIED|NOPROTO|WRONGTYPE|BUSY|NOSCRIPT|LOADING|READONLY|MISCONF|OOM|CROSSSLOT|NOTBUSY|UNKILLABLE|BUSYKEY|NOGROUP|MASTERDOWN|MOVED|ASK|TRYAGAIN|CLUSTERDOWN|NOREPLICAS) [^ ]`)

// inlineReplies returns the positions of string literals in f that spell an error reply.
func inlineReplies(fset *token.FileSet, f *ast.File) []token.Position {
	var out []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if s, err := strconv.Unquote(lit.Value); err == nil && errorCode.MatchString(s) {
			out = append(out, fset.Position(lit.Pos()))
		}
		return true
	})
	return out
}

// Every error reply a client can read from the data plane is spelled in its layer's reply table, in
// Redis's wording; a reply written anywhere else fails this test.
func TestClientErrorsOnlyInReplyTables(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	for _, dir := range dataPlane {
		if repliesRead[dir] {
			continue
		}
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			rel := strings.TrimPrefix(filepath.ToSlash(path), "../../")
			if strings.HasSuffix(rel, "_test.go") || replyTables[rel] {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, pos := range inlineReplies(fset, f) {
				t.Errorf("%s: a client error spelled outside its layer's reply table: move it to the table", pos)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d files; the data plane has more: is the test run in its package directory?", checked)
	}
}

// The check above is not vacuous: the same walk finds replies spelled inline.
func TestReplyCheckFindsInlineReplies(t *testing.T) {
	src := `package x
var a = []byte("-ERR no such thing\r\n")
func f() string { return "NOPERM this user has no permissions" }
var ok = "ERRATIC" + "GET key"`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inlineReplies(fset, f)); n != 2 {
		t.Fatalf("found %d inline replies, want 2", n)
	}
}
