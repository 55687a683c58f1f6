package rediscmd_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/rediscmd"
)

// ParseRenames never panics, and what it accepts is coherent: every renamed name leads to a real
// top-level command, and a command renamed away is either removed or reachable under one other name.
func FuzzParseRenames(f *testing.F) {
	for _, s := range []string{"", "CONFIG CFG", `FLUSHALL ""`, "get x, set get", "config a, a b", `config ''`,
		"nosuch x", "config get", "config\n cfg", "a b c", ",,,", "CONFIG \"\"\"", "KEYS " + strings.Repeat("k", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := rediscmd.ParseRenames(s)
		if err != nil {
			if !r.Empty() {
				t.Fatalf("ParseRenames(%q) failed but returned renames", s)
			}
			return
		}
		fields := strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == '\n' || c == ' ' || c == '\t' })
		reach := map[string]map[string]bool{} // original → names that now mean it
		for _, f := range fields {
			name := strings.ToLower(f)
			v, ok := r.Lookup(name)
			if !ok {
				continue
			}
			if c, known := rediscmd.Canonical(v.Original); !known || c != v.Original || strings.Contains(v.Original, "|") {
				t.Fatalf("ParseRenames(%q): %q leads to %q, not a command", s, name, v.Original)
			}
			if !v.Removed {
				if reach[v.Original] == nil {
					reach[v.Original] = map[string]bool{}
				}
				reach[v.Original][name] = true
			}
		}
		for orig, names := range reach {
			if len(names) > 1 {
				t.Fatalf("ParseRenames(%q): %q reachable under %v", s, orig, names)
			}
		}
	})
}
