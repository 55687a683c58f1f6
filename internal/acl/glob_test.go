package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestGlobMatchCases(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", false}, // Redis: '*' needs at least the loop to run; an empty string never enters it
		{"", "", true},
		{"*", "abc", true},
		{"a*", "a", true},
		{"a*", "", false},
		{"app:*", "app:1", true},
		{"app:*", "app", false},
		{"app:*", "App:1", false},
		{"a/*", "a/b/c", true}, // unlike path.Match, '*' crosses '/'
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-c]llo", "hbllo", true},
		{"h[c-a]llo", "hbllo", true}, // reversed range
		{"h[\\]]llo", "h]llo", true},
		{"h\\*llo", "h*llo", true},
		{"h\\*llo", "hello", false},
		{"\\", "\\", true},  // a trailing backslash is literal
		{"[abc", "a", true}, // unterminated set: lenient
		{"[abc", "ab", false},
		{"[", "x", false},
		{"[^", "x", true},
		{"a[", "ab", false},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbx", false},
		{"[\x80-\xff]", "\x90", true},
		{"[a-\xff]", "b", false}, // C compares signed chars: 0xff is -1, so the range is -1..'a'
		{"[\xff-a]", "\x00", true},
	} {
		if got := GlobMatch(tc.pattern, []byte(tc.s)); got != tc.want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
		m := compileGlob(tc.pattern)
		if got := m.match([]byte(tc.s)); got != tc.want {
			t.Errorf("compiled %q (kind %d) on %q = %v, want %v", tc.pattern, m.kind, tc.s, got, tc.want)
		}
	}
}

// The nesting limit of CVE-2024-31228 as seen live: 1000 "*a" groups still match, 1001 do not.
func TestGlobNestingLimit(t *testing.T) {
	s := []byte(strings.Repeat("a", 1100))
	if !GlobMatch(strings.Repeat("*a", 1000), s) {
		t.Error("1000 nested stars should match")
	}
	if GlobMatch(strings.Repeat("*a", 1001), s) {
		t.Error("1001 nested stars should give up")
	}
	if !GlobMatch(strings.Repeat("a*", 1001), s) {
		t.Error("a trailing star does not recurse")
	}
}

var globAlphabet = []string{"a", "b", "c", "*", "?", "[", "]", "^", "-", "\\", "\x80", "\xff", "z", ":"}

func randGlob(rng *rand.Rand, maxLen int) string {
	var b strings.Builder
	for range rng.IntN(maxLen + 1) {
		b.WriteString(globAlphabet[rng.IntN(len(globAlphabet))])
	}
	return b.String()
}

// The compiled matcher must agree with GlobMatch (the line-by-line port of stringmatchlen) everywhere.
func TestCompiledGlobEqualsGlobMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	prefixes := []string{"app:*", "app:**", "*", "", "x", "cache:user:*", "a\\*", "ab"}
	for i := range 20000 {
		var p string
		if i%4 == 0 {
			p = prefixes[rng.IntN(len(prefixes))]
		} else {
			p = randGlob(rng, 7)
		}
		s := []byte(randGlob(rng, 7))
		if i%3 == 0 && len(p) > 0 {
			s = append([]byte(strings.TrimRight(p, "*")), s...)
		}
		m := compileGlob(p)
		if got, want := m.match(s), GlobMatch(p, s); got != want {
			t.Fatalf("pattern %q string %q: compiled %v, GlobMatch %v", p, s, got, want)
		}
	}
}

// GlobMatch against the real stringmatchlen: KEYS <pattern> on a server holding a fixed set of keys.
func TestGlobMatchEqualsRedisKeys(t *testing.T) {
	_, rc := startRedis(t)
	rng := rand.New(rand.NewPCG(5, 6))
	keys := map[string]bool{}
	for len(keys) < 300 {
		k := randGlob(rng, 6)
		if k != "" {
			keys[k] = true
		}
	}
	var set [][]string
	for k := range keys {
		set = append(set, []string{"SET", k, "1"})
	}
	rc.pipeline(set)
	var patterns []string
	for range 600 {
		p := randGlob(rng, 6)
		if p != "*" { // KEYS * skips matching altogether
			patterns = append(patterns, p)
		}
	}
	cmds := make([][]string, len(patterns))
	for i, p := range patterns {
		cmds[i] = []string{"KEYS", p}
	}
	replies := rc.pipeline(cmds)
	for i, p := range patterns {
		var want, got []string
		for _, e := range replies[i].Elems {
			want = append(want, e.Str)
		}
		for k := range keys {
			if GlobMatch(p, []byte(k)) {
				got = append(got, k)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("KEYS %q: redis %q, moat %q", p, want, got)
		}
	}
}
