package allowlist

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// groupsOf builds groups from "name=entries" words, e.g. "default=127.0.0.1 dev=10.0.0.0/8".
func groupsOf(t testing.TB, spec string) []Group {
	t.Helper()
	var gs []Group
	for _, word := range strings.Fields(spec) {
		name, entries, _ := strings.Cut(word, "=")
		gs = append(gs, group(t, name, "", entries))
	}
	return gs
}

// boundOf builds one bound security group "sg-1" whose hosts each have one
// address; no addresses means a bound group without hosts.
func boundOf(addrs ...string) []Bound {
	b := Bound{SecurityGroup: "sg-1"}
	for i, a := range addrs {
		b.Hosts = append(b.Hosts, Host{ID: "i-" + string(rune('a'+i)), Name: "host", Addrs: []netip.Addr{netip.MustParseAddr(a)}})
	}
	return []Bound{b}
}

// W6, W8: the effective allow set.
func TestAllows(t *testing.T) {
	tests := []struct {
		name    string
		groups  string
		bound   []Bound
		allow   []string
		deny    []string
		entries int // Entries()
	}{
		{name: "only 127.0.0.1 denies everything, loopback included", groups: "default=127.0.0.1",
			deny: []string{"127.0.0.1", "::1", "10.0.0.1", "::ffff:127.0.0.1", "0.0.0.0"}, entries: 0},
		{name: "127.0.0.1 in several groups still denies everything", groups: "default=127.0.0.1 other=127.0.0.1",
			deny: []string{"127.0.0.1", "10.0.0.1"}, entries: 0},
		{name: "another entry voids 127.0.0.1", groups: "default=127.0.0.1,10.0.0.1",
			allow: []string{"10.0.0.1"}, deny: []string{"127.0.0.1", "10.0.0.2"}, entries: 1},
		{name: "an entry in another group voids 127.0.0.1", groups: "default=127.0.0.1 dev=10.0.0.0/8",
			allow: []string{"10.1.2.3", "10.255.255.255"}, deny: []string{"127.0.0.1", "11.0.0.0"}, entries: 1},
		{name: "binding an empty security group voids 127.0.0.1", groups: "default=127.0.0.1", bound: boundOf(),
			deny: []string{"127.0.0.1", "10.0.0.1"}, entries: 0},
		{name: "host addresses of bound groups", groups: "default=127.0.0.1", bound: boundOf("10.0.0.5", "2001:db8::5"),
			allow: []string{"10.0.0.5", "2001:db8::5", "::ffff:10.0.0.5"}, deny: []string{"10.0.0.6", "127.0.0.1", "2001:db8::6"}, entries: 2},
		{name: "a host at 127.0.0.1 is a host", groups: "default=127.0.0.1", bound: boundOf("127.0.0.1"),
			allow: []string{"127.0.0.1"}, deny: []string{"127.0.0.2"}, entries: 1},
		{name: "mapped host address", groups: "default=127.0.0.1", bound: boundOf("::ffff:10.0.0.9"),
			allow: []string{"10.0.0.9", "::ffff:10.0.0.9"}, deny: []string{"10.0.0.8"}, entries: 1},
		{name: "127.0.0.2 is an ordinary entry", groups: "default=127.0.0.1,127.0.0.2",
			allow: []string{"127.0.0.2"}, deny: []string{"127.0.0.1"}, entries: 1},
		{name: "127.0.0.0/8 is an ordinary entry", groups: "default=127.0.0.0/8",
			allow: []string{"127.0.0.1", "127.9.9.9"}, deny: []string{"::1"}, entries: 1},
		{name: "127.0.0.0/8 beside 127.0.0.1", groups: "default=127.0.0.1 lo=127.0.0.0/8",
			allow: []string{"127.0.0.1"}, entries: 1},
		{name: "::1 is an ordinary entry", groups: "default=127.0.0.1,::1",
			allow: []string{"::1"}, deny: []string{"127.0.0.1", "::2"}, entries: 1},
		{name: "IPv4-mapped peers are judged as IPv4", groups: "default=10.0.0.0/8",
			allow: []string{"::ffff:10.1.2.3", "10.1.2.3"}, deny: []string{"::ffff:11.0.0.1", "::a01:203"}, entries: 1},
		{name: "0.0.0.0/0 opens IPv4", groups: "default=0.0.0.0/0",
			allow: []string{"1.2.3.4", "127.0.0.1", "255.255.255.255", "::ffff:1.2.3.4"}, deny: []string{"2001:db8::1", "::1"}, entries: 1},
		{name: "::/0 opens IPv6", groups: "default=::/0",
			allow: []string{"2001:db8::1", "::1", "fe80::1%eth0"}, deny: []string{"1.2.3.4", "::ffff:1.2.3.4"}, entries: 1},
		{name: "zones are ignored", groups: "default=fe80::/10,2001:db8::1",
			allow: []string{"fe80::1%eth0", "fe80::1", "2001:db8::1%3"}, deny: []string{"fec0::1%eth0"}, entries: 2},
		{name: "IPv6 prefixes", groups: "default=2001:db8::/32 dev=2001:db9:1::/48,2001:dbb::1",
			allow: []string{"2001:db8:ffff::1", "2001:db9:1::77", "2001:dbb::1"}, deny: []string{"2001:db9:2::1", "2001:dbb::2"}, entries: 3},
		{name: "duplicates across groups count once", groups: "default=10.0.0.0/8 dev=10.0.0.0/8,10.0.0.1",
			bound: boundOf("10.0.0.1", "10.0.0.2"), allow: []string{"10.0.0.1"}, entries: 3},
		{name: "no groups, nothing bound", groups: "", deny: []string{"127.0.0.1", "10.0.0.1"}, entries: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Compile(groupsOf(t, tt.groups), tt.bound)
			for _, a := range tt.allow {
				if !s.Allows(netip.MustParseAddr(a)) {
					t.Errorf("%s denied; want allowed", a)
				}
			}
			for _, a := range tt.deny {
				if s.Allows(netip.MustParseAddr(a)) {
					t.Errorf("%s allowed; want denied", a)
				}
			}
			if got := s.Entries(); got != tt.entries {
				t.Errorf("Entries() = %d; want %d", got, tt.entries)
			}
		})
	}
}

func TestNilAndZeroSetDeny(t *testing.T) {
	var nilSet *Set
	for _, s := range []*Set{nilSet, {}} {
		for _, a := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::"), {}} {
			if s.Allows(a) || s.Explain(a).Allowed {
				t.Errorf("%v allows %v", s, a)
			}
		}
		if s.Entries() != 0 {
			t.Errorf("%v has %d entries", s, s.Entries())
		}
	}
	all := Compile(groupsOf(t, "default=0.0.0.0/0,::/0"), nil)
	if all.Allows(netip.Addr{}) {
		t.Errorf("the invalid address is allowed by 0.0.0.0/0,::/0")
	}
	if v := all.Explain(netip.Addr{}); v.Allowed || v.Reason == "" {
		t.Errorf("Explain(invalid) = %+v", v)
	}
}

// Compile copies its input: later changes do not reach the Set.
func TestCompileCopies(t *testing.T) {
	groups := groupsOf(t, "default=10.0.0.1")
	bound := boundOf("10.0.0.2")
	s := Compile(groups, bound)
	groups[0].Entries[0] = netip.MustParsePrefix("10.0.0.9/32")
	groups[0].Name = "changed"
	bound[0].Hosts[0].Addrs[0] = netip.MustParseAddr("10.0.0.8")
	bound[0].SecurityGroup = "sg-changed"

	for _, a := range []string{"10.0.0.1", "10.0.0.2"} {
		if !s.Allows(netip.MustParseAddr(a)) {
			t.Errorf("%s denied after the inputs changed", a)
		}
	}
	if got := s.Explain(netip.MustParseAddr("10.0.0.1")).Reason; got != `allowed by group "default" entry 10.0.0.1` {
		t.Errorf("Explain after the inputs changed: %q", got)
	}
	if got := s.Explain(netip.MustParseAddr("10.0.0.2")).Matches; len(got) != 1 || got[0].SecurityGroup != "sg-1" {
		t.Errorf("Explain after the inputs changed: %+v", got)
	}
}

// Compile reads entries in canonical form even when nobody validated them.
func TestCompileCanonicalizes(t *testing.T) {
	groups := []Group{{Name: "default", Entries: []netip.Prefix{
		netip.MustParsePrefix("::ffff:10.0.0.0/104"), // 10.0.0.0/8
		netip.MustParsePrefix("192.168.1.77/24"),     // 192.168.1.0/24
		{},                                           // ignored
	}}}
	s := Compile(groups, []Bound{{SecurityGroup: "sg", Hosts: []Host{{ID: "i", Addrs: []netip.Addr{{}}}}}})
	for _, a := range []string{"10.2.3.4", "192.168.1.1"} {
		if !s.Allows(netip.MustParseAddr(a)) {
			t.Errorf("%s denied", a)
		}
		if v := s.Explain(netip.MustParseAddr(a)); !v.Allowed {
			t.Errorf("Explain(%s) = %+v", a, v)
		}
	}
	if s.Entries() != 2 {
		t.Errorf("Entries() = %d; want 2", s.Entries())
	}
}

// API6: why an address is allowed or denied.
func TestExplain(t *testing.T) {
	groups := []Group{
		group(t, "default", "", "127.0.0.1"),
		group(t, "dev", "", "10.0.1.0/24,10.0.0.0/8"),
		group(t, "ops", "", "10.0.1.7,2001:db8::/32"),
	}
	bound := []Bound{
		{SecurityGroup: "sg-web", Hosts: []Host{{ID: "i-web1", Name: "web-1", Addrs: []netip.Addr{netip.MustParseAddr("10.0.1.7"), netip.MustParseAddr("192.0.2.7")}}}},
		{SecurityGroup: "sg-db", Hosts: []Host{{ID: "i-db1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.8")}}}},
	}
	s := Compile(groups, bound)
	tests := []struct {
		addr    string
		allowed bool
		matches []Match
		reason  string
	}{
		{addr: "10.0.1.7", allowed: true,
			matches: []Match{
				{Group: "dev", Entry: "10.0.1.0/24"},
				{Group: "dev", Entry: "10.0.0.0/8"},
				{Group: "ops", Entry: "10.0.1.7"},
				{SecurityGroup: "sg-web", Host: "i-web1", Entry: "10.0.1.7"},
			},
			reason: `allowed by group "dev" entry 10.0.1.0/24 and 3 other matches`},
		{addr: "::ffff:10.0.1.7", allowed: true,
			matches: []Match{
				{Group: "dev", Entry: "10.0.1.0/24"},
				{Group: "dev", Entry: "10.0.0.0/8"},
				{Group: "ops", Entry: "10.0.1.7"},
				{SecurityGroup: "sg-web", Host: "i-web1", Entry: "10.0.1.7"},
			},
			reason: `allowed by group "dev" entry 10.0.1.0/24 and 3 other matches`},
		{addr: "10.0.2.1", allowed: true, matches: []Match{{Group: "dev", Entry: "10.0.0.0/8"}},
			reason: `allowed by group "dev" entry 10.0.0.0/8`},
		{addr: "10.0.1.8", allowed: true, matches: []Match{{Group: "dev", Entry: "10.0.1.0/24"}, {Group: "dev", Entry: "10.0.0.0/8"}},
			reason: `allowed by group "dev" entry 10.0.1.0/24 and 1 other match`},
		{addr: "2001:db8::1", allowed: true, matches: []Match{{Group: "ops", Entry: "2001:db8::/32"}},
			reason: `allowed by group "ops" entry 2001:db8::/32`},
		{addr: "192.0.2.7", allowed: true, matches: []Match{{SecurityGroup: "sg-web", Host: "i-web1", Entry: "192.0.2.7"}},
			reason: `allowed by security group "sg-web" host "i-web1" (web-1) address 192.0.2.7`},
		{addr: "192.0.2.8", allowed: true, matches: []Match{{SecurityGroup: "sg-db", Host: "i-db1", Entry: "192.0.2.8"}},
			reason: `allowed by security group "sg-db" host "i-db1" address 192.0.2.8`},
		{addr: "192.0.2.9", reason: "no group or security group lists 192.0.2.9"},
		{addr: "::ffff:192.0.2.9", reason: "no group or security group lists 192.0.2.9"},
		{addr: "127.0.0.1",
			reason: "127.0.0.1 is listed but void because other entries or security groups are in effect, and nothing else lists 127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			v := s.Explain(a)
			if v.Allowed != tt.allowed || v.Allowed != s.Allows(a) {
				t.Errorf("Allowed = %v, Allows = %v; want %v", v.Allowed, s.Allows(a), tt.allowed)
			}
			if !slices.Equal(v.Matches, tt.matches) {
				t.Errorf("Matches = %+v\nwant %+v", v.Matches, tt.matches)
			}
			if v.Reason != tt.reason {
				t.Errorf("Reason = %q\nwant %q", v.Reason, tt.reason)
			}
		})
	}

	only := Compile(Initial(), nil).Explain(netip.MustParseAddr("127.0.0.1"))
	if only.Allowed || only.Matches != nil || only.Reason != "only 127.0.0.1 is listed: every address is denied" {
		t.Errorf("Explain with only 127.0.0.1 = %+v", only)
	}
	emptySG := Compile(Initial(), boundOf()).Explain(netip.MustParseAddr("127.0.0.1"))
	if emptySG.Allowed || !strings.HasPrefix(emptySG.Reason, "127.0.0.1 is listed but void") {
		t.Errorf("Explain with only 127.0.0.1 and an empty security group bound = %+v", emptySG)
	}
	var nilSet *Set
	if v := nilSet.Explain(netip.MustParseAddr("10.0.0.1")); v.Allowed || v.Reason == "" {
		t.Errorf("nil Set Explain = %+v", v)
	}
}

// A Set is read by every connection at once.
func TestSetConcurrentUse(t *testing.T) {
	s := Compile(groupsOf(t, "default=10.0.0.0/8,2001:db8::/32"), boundOf("192.0.2.1"))
	cases := map[string]bool{"10.1.1.1": true, "2001:db8::9": true, "192.0.2.1": true, "11.0.0.1": false, "::1": false}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				for a, want := range cases {
					addr := netip.MustParseAddr(a)
					if s.Allows(addr) != want || s.Explain(addr).Allowed != want {
						errs <- a
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for a := range errs {
		t.Errorf("concurrent use: wrong verdict for %s", a)
	}
}

// The data plane's hot path allocates nothing, whatever the family and
// whether the index has nodes (key6 reads the address through an inlined
// AsSlice, whose array must stay on the stack).
func TestAllowsDoesNotAllocate(t *testing.T) {
	many := groupsOf(t, "default=10.0.0.0/8,192.168.1.1,203.0.113.0/24,198.51.100.7,172.16.0.0/12,100.64.0.1"+
		",2001:db8::/32,fe80::1,2001:dba::/32,2002::/16,fd00::/8,2001:db8:1::/48")
	for _, s := range []*Set{Compile(groupsOf(t, "default=10.0.0.0/8"), nil), Compile(many, nil)} {
		if s.v4 == nil || s.v6 == nil {
			t.Fatal("no index")
		}
		for _, a := range []string{"10.1.2.3", "192.168.1.2", "2001:db8::1", "2001:db9::1", "::ffff:10.0.0.1", "fe80::1%eth0"} {
			addr := netip.MustParseAddr(a)
			if allocs := testing.AllocsPerRun(100, func() { s.Allows(addr) }); allocs != 0 {
				t.Errorf("Allows(%s): %v allocs", a, allocs)
			}
		}
	}
}
