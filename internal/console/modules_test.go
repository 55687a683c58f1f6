package console_test

import (
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// scripts returns the path of every script under assets/static (app.js, js/…), slash-separated and
// relative to it, sorted. There must be app.js.
func scripts(t *testing.T) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(os.DirFS("assets/static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".js") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out, "app.js") {
		t.Fatalf("no app.js among the scripts %v", out)
	}
	slices.Sort(out)
	return out
}

// importSpec finds the module specifier of each static import (import … from '…', import '…').
var importSpec = regexp.MustCompile(`(?m)^\s*import\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]`)

// The console page loads its script as a native ES module, and the browser can load every module it
// imports: each is served, without a build step, from the binary as text/javascript (browsers refuse
// a module of any other type), under a Content-Security-Policy that allows the console's own scripts
// and nothing else. Every import is a relative path (no package, no other host), and every script in
// assets/static is reached from app.js (none is left over).
func TestConsoleModulesAreServed(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginPassword()
	res := b.do("GET", "/console/", nil, nil)
	page := readAll(t, res)
	if !strings.Contains(page, `<script type="module" src="static/app.js"></script>`) {
		t.Fatalf("the console page does not load static/app.js as a module:\n%s", page)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("Content-Security-Policy %q does not limit scripts to the console's own", csp)
	}
	seen := map[string]bool{"app.js": true}
	for queue := []string{"app.js"}; len(queue) > 0; queue = queue[1:] {
		name := queue[0]
		res := b.do("GET", "/console/static/"+name, nil, nil)
		body := readAll(t, res)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET static/%s: %d %q, want 200 text/javascript", name, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
			t.Errorf("static/%s: Content-Security-Policy %q", name, csp)
		}
		for _, m := range importSpec.FindAllStringSubmatch(body, -1) {
			spec := m[1]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("static/%s imports %q: not a relative path to the console's own module", name, spec)
				continue
			}
			dep := path.Join(path.Dir(name), spec)
			if !seen[dep] {
				seen[dep] = true
				queue = append(queue, dep)
			}
		}
	}
	for _, name := range scripts(t) {
		if !seen[name] {
			t.Errorf("static/%s is not imported by app.js or any module it imports", name)
		}
	}
	for _, p := range []string{"/console/static/js", "/console/static/js/", "/console/static/js/../../console.go", "/console/static/js/nothing.js"} {
		res := b.do("GET", p, nil, nil)
		if readAll(t, res); res.StatusCode == http.StatusOK {
			t.Errorf("GET %s: %d, want 404 (or the mux's redirect to the cleaned path)", p, res.StatusCode)
		}
	}
}
