package api

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// errors.go is the package's one table of error codes: no other source file calls invalid or builds
// an Error literal, so no other file can spell a code. The check reads the package's own Go files.
func TestErrorCodesOnlyInErrorsGo(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if name == "errors.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, pos := range inlineCodes(fset, f) {
			t.Errorf("%s: an error code spelled outside errors.go (invalid(...) or Error{...}): add a sentinel or constructor there", pos)
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files; the package has more: is the test run in the package directory?", checked)
	}
}

// The check above does catch an inline code (it is not vacuous): the same walk over a source that
// spells one finds it.
func TestErrorCodeCheckFindsInlineCodes(t *testing.T) {
	src := `package api
func f() error { return invalid("Some.Code", "msg") }
func g() error { return &Error{400, "Other.Code", "msg"} }`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := len(inlineCodes(fset, f))
	if found != 2 {
		t.Fatalf("found %d inline codes, want 2", found)
	}
}

// inlineCodes returns where f builds an API error itself: a call of invalid or an Error literal,
// the two ways a code is spelled.
func inlineCodes(fset *token.FileSet, f *ast.File) []token.Position {
	var at []token.Position
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "invalid" {
				at = append(at, fset.Position(n.Pos()))
			}
		case *ast.CompositeLit:
			if id, ok := n.Type.(*ast.Ident); ok && id.Name == "Error" {
				at = append(at, fset.Position(n.Pos()))
			}
		}
		return true
	})
	return at
}

// A 500 hides its cause from the caller but logs it, redacted, with the request id the caller sees.
func TestInternalErrorLogsItsCause(t *testing.T) {
	var logged bytes.Buffer
	h := &Handler{log: slog.New(slog.NewTextHandler(&logged, nil))}
	c := &call{h: h, r: httptest.NewRequest(http.MethodPost, "/", nil), action: "CreateInstance", requestID: "REQ-1"}
	rec := httptest.NewRecorder()
	cause := fmt.Errorf("store: %w", errors.New("opening redis://:hunter2@10.0.0.1:6379: disk full"))
	h.writeError(rec, c, cause)

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if body := rec.Body.String(); strings.Contains(body, "disk full") || !strings.Contains(body, "InternalError") {
		t.Errorf("answer %s: want InternalError without the cause", body)
	}
	line := logged.String()
	for _, want := range []string{"API call failed", "REQ-1", "CreateInstance", "disk full"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "hunter2") {
		t.Errorf("log %q shows the password", line)
	}
}

// A caller's mistake is answered, not logged as a failure.
func TestCallerErrorIsNotLogged(t *testing.T) {
	var logged bytes.Buffer
	h := &Handler{log: slog.New(slog.NewTextHandler(&logged, nil))}
	c := &call{h: h, r: httptest.NewRequest(http.MethodPost, "/", nil), action: "DescribeAuditLogs", requestID: "REQ-2"}
	rec := httptest.NewRecorder()
	h.writeError(rec, c, badLogType("Nope"))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "InvalidLogType.ValueNotSupported") {
		t.Errorf("answer %d %s", rec.Code, rec.Body.String())
	}
	if logged.Len() != 0 {
		t.Errorf("logged %q for a caller's mistake", logged.String())
	}
}

// A signature mismatch is logged without the string to sign its answer carries: that holds the call's
// parameter values, a password being set among them. Other authentication errors keep their text.
func TestSignatureMismatchLogsNoParameters(t *testing.T) {
	mismatch := &sign.Error{Code: sign.CodeSignatureDoesNotMatch, Status: http.StatusBadRequest,
		Message: "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&Config%3D%257B%2522requirepass%2522%253A%2522LeakPW%2522%257D"}
	if got := authLogText(mismatch); strings.Contains(got, "LeakPW") || !strings.Contains(got, sign.CodeSignatureDoesNotMatch) {
		t.Errorf("mismatch logged as %q", got)
	}
	used := &sign.Error{Code: sign.CodeSignatureNonceUsed, Status: http.StatusBadRequest, Message: "Specified signature nonce was used already."}
	if got := authLogText(used); got != used.Error() {
		t.Errorf("nonce refusal logged as %q", got)
	}
}
