package layers

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/moat-dev/moat/"

// dataPlane are the packages that serve connections; none may import the control plane, the server
// wiring, the console, the CLI or the config file.
var dataPlane = []string{
	"internal/resp", "internal/allowlist", "internal/acl", "internal/rediscmd", "internal/snapshot",
	"internal/backend", "internal/backend/engine", "internal/backend/spec", "internal/gateway", "internal/refused", "internal/redact",
}

// forbidden lists, per package (or every package under a prefix ending in "/"), the moat packages it
// must not import.
var forbidden = map[string][]string{
	// Leaves: what everything else builds on imports nothing above it.
	"internal/resp":               {"internal/"},
	"internal/allowlist":          {"internal/"},
	"internal/rediscmd":           {"internal/"},
	"internal/redact":             {"internal/"},
	"internal/refused":            {"internal/"},
	"internal/acl":                {"internal/"},
	"internal/controlplane/store": {"internal/"},
	// The snapshot is compiled data: it knows no connection and no backend.
	"internal/snapshot": {"internal/gateway", "internal/backend"},
	// Backends know nothing of clients.
	"internal/backend": {"internal/gateway", "internal/snapshot", "internal/acl"},
	// The in-process engine reads RESP and knows nothing else of moat.
	"internal/backend/engine": {"internal/gateway", "internal/snapshot", "internal/acl", "internal/backend"},
	// The model is pure types and validation.
	"internal/controlplane/model": {"internal/gateway", "internal/snapshot", "internal/backend", "internal/controlplane", "internal/controlplane/store"},
	// The control plane changes the model and publishes snapshots; it never reaches into a live
	// connection or a backend.
	"internal/controlplane": {"internal/gateway", "internal/backend", "internal/server", "internal/console"},
	// The API answers from the control plane and compiled snapshots; what a connection reads on refusal
	// is the verdict's (snapshot), what a backend is refused for is spec's.
	"internal/controlplane/api":      {"internal/gateway", "internal/backend", "internal/server", "internal/console"},
	"internal/controlplane/firewall": {"internal/gateway", "internal/backend", "internal/snapshot", "internal/controlplane"},
}

// debt are imports that break a rule today, each with the reason it is still there. Remove an entry
// when its import goes; never add one without a plan to remove it.
var debt = map[string]string{}

func TestDependenciesPointOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	if len(imports) < 10 {
		t.Fatalf("go list found only %d moat packages importing others: %q", len(imports), out)
	}
	for pkg, imps := range imports {
		for _, imp := range imps {
			if why, ok := debt[pkg+" -> "+imp]; ok {
				t.Logf("known: %s imports %s (%s)", pkg, imp, why)
				continue
			}
			if slices.Contains(dataPlane, pkg) && !slices.Contains(dataPlane, imp) {
				t.Errorf("%s (data plane) imports %s, outside the data plane", pkg, imp)
			}
			for _, bad := range forbidden[pkg] {
				if imp == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(imp, bad)) {
					t.Errorf("%s must not import %s", pkg, imp)
				}
			}
		}
	}
	// The debt list stays true: an entry whose import is gone must go too.
	for edge := range debt {
		from, to, _ := strings.Cut(edge, " -> ")
		if !slices.Contains(imports[from], to) {
			t.Errorf("debt %q: the import is gone; remove the entry", edge)
		}
	}
}

// The etcd server is linked into tests only (internal/etcdtest): moat's binary talks to etcd as a client.
func TestBinaryHasNoEtcdServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"cmd/moat").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.etcd.io/etcd/server/") || pkg == module+"internal/etcdtest" {
			t.Errorf("cmd/moat depends on %s: the etcd server belongs in tests only", pkg)
		}
	}
}
