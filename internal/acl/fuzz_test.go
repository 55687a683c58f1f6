package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// FuzzSetUser feeds ACL SETUSER arguments (one per space-separated word of the input) to the rule
// parser. It must never panic, and when the rules are accepted, parsing the rendering (ACL LIST's text)
// again must give the same permissions — except for the shapes redis-server 7.0.15 itself cannot
// render back (see renderQuirk).
func FuzzSetUser(f *testing.F) {
	for _, tc := range setUserErrors {
		f.Add(strings.Join(tc.rules, " "))
	}
	for _, tc := range checkCases {
		f.Add(tc.rules)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	tbl := mustDefault(f)
	for range 200 {
		f.Add(strings.Join(genRules(rng, tbl), " "))
	}
	f.Fuzz(func(t *testing.T, in string) {
		us := NewUsers(tbl, Config{})
		if err := us.SetUser("u", strings.Split(in, " ")...); err != nil {
			if !strings.HasPrefix(err.Error(), "ERR ") || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("bad error reply %q", err.Error())
			}
			return
		}
		u := us.Get("u")
		probesInStep(t, u)
		desc := u.Describe()
		_ = u.Info()
		if renderQuirk(u) {
			return
		}
		again := NewUsers(tbl, Config{})
		if err := again.SetUser("u", splitSpaces(desc)...); err != nil {
			t.Fatalf("rules %q render as %q, which does not parse: %v", in, desc, err)
		}
		v := again.Get("u")
		if got := v.Describe(); got != desc {
			t.Fatalf("rules %q render as %q, which renders as %q", in, desc, got)
		}
		if msg := samePermissions(u, v); msg != "" {
			t.Fatalf("rules %q render as %q: %s", in, desc, msg)
		}
	})
}

// renderQuirk reports users whose ACL LIST text does not read back the same in Redis either: a "*" key
// pattern that is not allkeys (from %RW~* or %R~* %W~*, rendered "~*"), first-args with spaces,
// quotes or parentheses, and selector patterns with quotes or parentheses (a selector's inside is split
// like a config line).
func renderQuirk(u *User) bool {
	for i, s := range u.allSelectors() {
		for _, kp := range s.keys {
			if kp.Pattern == "*" && kp.Perm == PermAll {
				return true
			}
			if i > 0 && strings.ContainsAny(kp.Pattern, "\"'()") {
				return true
			}
		}
		for _, c := range s.channels {
			if i > 0 && strings.ContainsAny(c.pattern, "\"'()") {
				return true
			}
		}
		for _, args := range s.firstArgs {
			for _, a := range args {
				if strings.ContainsAny(a, " \t\n\v\f\r\"'()") {
					return true
				}
			}
		}
	}
	return false
}

// samePermissions compares what two users allow: flags, passwords, and per selector the command bits,
// the first-args of denied commands, key and channel patterns.
func samePermissions(a, b *User) string {
	if a.enabled != b.enabled || a.nopass != b.nopass || a.sanitize != b.sanitize || !slices.Equal(a.passwords, b.passwords) {
		return "user flags or passwords differ"
	}
	as, bs := a.allSelectors(), b.allSelectors()
	if len(as) != len(bs) {
		return "selector count differs"
	}
	for i := range as {
		x, y := as[i], bs[i]
		if x.allKeys != y.allKeys || x.allChannels != y.allChannels || x.future != y.future {
			return "selector flags differ"
		}
		for id := range a.table.cmds {
			if x.allowed.get(id) != y.allowed.get(id) {
				return "command " + a.table.cmds[id].Name + " differs"
			}
			if !x.allowed.get(id) && !slices.Equal(x.firstArgs[id], y.firstArgs[id]) {
				return "first-args of " + a.table.cmds[id].Name + " differ"
			}
		}
		if len(x.keys) != len(y.keys) || len(x.channels) != len(y.channels) {
			return "pattern counts differ"
		}
		for j := range x.keys {
			if x.keys[j].Pattern != y.keys[j].Pattern || x.keys[j].Perm != y.keys[j].Perm {
				return "key pattern differs"
			}
		}
		for j := range x.channels {
			if x.channels[j].pattern != y.channels[j].pattern {
				return "channel pattern differs"
			}
		}
	}
	return ""
}

// probesInStep fails t unless every selector of u has one probe per key pattern, the pattern's own.
func probesInStep(t *testing.T, u *User) {
	t.Helper()
	for _, s := range u.allSelectors() {
		if len(s.probes) != len(s.keys) {
			t.Fatalf("%d probes for %d key patterns", len(s.probes), len(s.keys))
		}
		for i, kp := range s.keys {
			if want := newKeyProbe(kp.Pattern, kp.m, kp.Perm); s.probes[i] != want {
				t.Fatalf("pattern %q: probe %+v, want %+v", kp.Pattern, s.probes[i], want)
			}
		}
	}
}
