package allowlist

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// list parses a comma list that the test knows to be valid.
func list(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	ps, err := ParseList(s)
	if err != nil {
		t.Fatalf("ParseList(%q): %v", s, err)
	}
	return ps
}

// group builds a Group from a valid comma list.
func group(t testing.TB, name, attr, entries string) Group {
	t.Helper()
	return Group{Name: name, Attribute: attr, Entries: list(t, entries)}
}

// cloneGroups deep-copies groups, keeping the capacity of every Entries slice
// so that writes into spare capacity would be seen by sameGroups.
func cloneGroups(groups []Group) []Group {
	if groups == nil {
		return nil
	}
	out := make([]Group, len(groups))
	for i, g := range groups {
		out[i] = g
		if g.Entries != nil {
			e := make([]netip.Prefix, len(g.Entries), cap(g.Entries))
			copy(e[:cap(e)], g.Entries[:cap(g.Entries)])
			out[i].Entries = e
		}
	}
	return out
}

// sameGroups reports whether a and b hold the same groups, comparing the
// spare capacity of Entries too.
func sameGroups(a, b []Group) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Attribute != b[i].Attribute ||
			cap(a[i].Entries) != cap(b[i].Entries) ||
			!slices.Equal(a[i].Entries[:cap(a[i].Entries)], b[i].Entries[:cap(b[i].Entries)]) {
			return false
		}
	}
	return true
}

// leafErrors returns the errors joined in err (err itself if not joined).
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// checkErrs fails unless err wraps every sentinel in want (and is nil when
// want is empty), and its text holds every string in texts.
func checkErrs(t *testing.T, err error, want []error, texts ...string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want %v", want)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("error %q does not wrap %q", err, w)
		}
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// checkLeaves fails unless err joins exactly len(want) errors, the i-th
// wrapping want[i]: every problem reported, in input order, each in its class.
func checkLeaves(t *testing.T, err error, want []error) {
	t.Helper()
	leaves := leafErrors(err)
	if len(leaves) != len(want) {
		t.Fatalf("got %d errors %q; want %d: %v", len(leaves), err, len(want), want)
	}
	for i, w := range want {
		if !errors.Is(leaves[i], w) {
			t.Errorf("error %d is %q; want class %q", i, leaves[i], w)
		}
	}
}
