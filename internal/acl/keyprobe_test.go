package acl

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// keyAllowedByGlob is keyAllowed as Redis words it: some pattern grants need and GlobMatch matches.
func keyAllowedByGlob(s *Selector, key []byte, need Perm) bool {
	for _, kp := range s.keys {
		if kp.Perm&need == need && GlobMatch(kp.Pattern, key) {
			return true
		}
	}
	return false
}

// selectorOf builds a selector from patterns, the i-th granting perms[i%len(perms)] (0 counts as
// PermAll).
func selectorOf(patterns []string, perms []byte) *Selector {
	s := &Selector{}
	for i, p := range patterns {
		perm := PermAll
		if len(perms) > 0 {
			if v := Perm(perms[i%len(perms)]) & PermAll; v != 0 {
				perm = v
			}
		}
		s.addKey(p, perm)
	}
	return s
}

// checkKeyAllowed fails t when the probes and matchers disagree with GlobMatch on key for any need.
func checkKeyAllowed(t *testing.T, s *Selector, key []byte) {
	t.Helper()
	if len(s.probes) != len(s.keys) {
		t.Fatalf("%d probes for %d patterns", len(s.probes), len(s.keys))
	}
	for i, kp := range s.keys {
		if got, want := kp.m.match(key), GlobMatch(kp.Pattern, key); got != want {
			t.Fatalf("pattern %q (kind %d) on %q: compiled %v, GlobMatch %v", kp.Pattern, kp.m.kind, key, got, want)
		}
		if s.probes[i].perm != kp.Perm {
			t.Fatalf("pattern %q: probe grants %d, pattern %d", kp.Pattern, s.probes[i].perm, kp.Perm)
		}
	}
	for _, need := range []Perm{0, PermRead, PermWrite, PermAll} {
		if got, want := s.keyAllowed(key, need), keyAllowedByGlob(s, key, need); got != want {
			t.Fatalf("patterns %q, need %d, key %q: keyAllowed %v, GlobMatch %v", patternsOf(s), need, key, got, want)
		}
	}
}

func patternsOf(s *Selector) []string {
	out := make([]string, len(s.keys))
	for i, kp := range s.keys {
		out[i] = kp.String()
	}
	return out
}

// The shapes compileGlob recognises, on the keys where they are easiest to get wrong.
func TestCompiledShapes(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		kind    matchKind
		yes, no []string
	}{
		{"user:*:profile", matchPrefixSuffix, []string{"user:7:profile", "user::profile", "user:a:b:profile"}, []string{"user:profile", "user:7:profil", "user:", ":profile", "user:7:profilex"}},
		{"ab**ba", matchPrefixSuffix, []string{"abba", "abxba", "abbba"}, []string{"aba", "ab", "ba", ""}},
		{"a*a", matchPrefixSuffix, []string{"aa", "aba", "aaa"}, []string{"a", ""}},
		{"*:x", matchSuffix, []string{":x", "a:x", "::x"}, []string{"x", "", ":xa"}},
		{"**x", matchSuffix, []string{"x", "xx"}, []string{""}},
		{"tenant10:*", matchPrefix, []string{"tenant10:", "tenant10:42"}, []string{"tenant1:", "tenant10", "tenant100"}},
		{"*", matchAll, []string{"a", "\x00"}, []string{""}},
		{"", matchExact, []string{""}, []string{"a"}},
		{"a*b*", matchGlob, []string{"ab", "axbx"}, []string{"a"}},
		{"*a*", matchGlob, []string{"a", "bab"}, []string{"b"}},
		{"a?*b", matchGlob, []string{"axb"}, []string{"ab"}},
		{"a\\*b", matchGlob, []string{"a*b"}, []string{"axb"}},
	} {
		if m := compileGlob(tc.pattern); m.kind != tc.kind {
			t.Errorf("%q compiles to kind %d, want %d", tc.pattern, m.kind, tc.kind)
		}
		s := selectorOf([]string{tc.pattern}, nil)
		for _, key := range tc.yes {
			checkKeyAllowed(t, s, []byte(key))
			if !s.keyAllowed([]byte(key), PermRead) {
				t.Errorf("%q does not match %q", tc.pattern, key)
			}
		}
		for _, key := range tc.no {
			checkKeyAllowed(t, s, []byte(key))
			if s.keyAllowed([]byte(key), PermRead) {
				t.Errorf("%q matches %q", tc.pattern, key)
			}
		}
	}
}

// The benchmark user's patterns, with long literal starts (probed past their first 8 bytes),
// short keys and keys that share the probed word but not the rest.
func TestKeyProbesAgreeWithGlobMatch(t *testing.T) {
	patterns := []string{"tenant0:*", "tenant14:*", "shared:*", "user:*:profile", "k[0-9]", "a_very_long_literal_prefix:*",
		"a_very_long_literal_prefix:x", "b_very_long_literal_prefix:*:z", "*", "x", "*suffix", "??", ""}
	keys := []string{"", "k", "k7", "kk", "tenant0:", "tenant0:1", "tenant14:42", "tenant1", "xenant14:42", "user:7:profile",
		"a_very_long_literal_prefix:", "A_very_long_literal_prefix:", "a_very_long_literal_prefix:x", "b_very_long_literal_prefix::z",
		"b_very_long_literal_prefix:z", "x", "xsuffix", "suffix", "uffix"}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 2000 {
		n := 1 + rng.IntN(len(patterns))
		var ps []string
		for range n {
			ps = append(ps, patterns[rng.IntN(len(patterns))])
		}
		s := selectorOf(ps, []byte{byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(4))})
		for _, k := range keys {
			checkKeyAllowed(t, s, []byte(k))
		}
	}
}

// FuzzKeyPatterns compares the compiled matchers and the probes in front of them with GlobMatch, the
// line-by-line port of stringmatchlen: patterns are the input's lines, perms their permissions.
func FuzzKeyPatterns(f *testing.F) {
	f.Add("user:*:profile\ntenant14:*\nk[0-9]", []byte("user:7:profile"), []byte{1, 2, 3})
	f.Add("a_very_long_literal_prefix:*\n*x", []byte("a_very_long_literal_prefix:"), []byte{3})
	f.Add("ab*ba\n*a\na*", []byte("aba"), []byte{0})
	rng := rand.New(rand.NewPCG(13, 14))
	for range 100 {
		f.Add(randGlob(rng, 8)+"\n"+randGlob(rng, 8), []byte(randGlob(rng, 8)), []byte{byte(rng.IntN(4))})
	}
	f.Fuzz(func(t *testing.T, patterns string, key, perms []byte) {
		s := selectorOf(strings.Split(patterns, "\n"), perms)
		checkKeyAllowed(t, s, key)
		// Keys made from the patterns themselves reach the matchers past their probes.
		for _, kp := range s.keys {
			checkKeyAllowed(t, s, []byte(kp.Pattern))
			checkKeyAllowed(t, s, append([]byte(strings.ReplaceAll(kp.Pattern, "*", "")), key...))
			checkKeyAllowed(t, s, append(append([]byte{}, key...), strings.TrimLeft(kp.Pattern, "*")...))
		}
	})
}
