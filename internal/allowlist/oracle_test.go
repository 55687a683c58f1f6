package allowlist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// oracle is W6 read literally, by linear scan, with the standard library's
// prefix matching: the allow set is the union of all groups' entries and the
// addresses of every host of every bound security group; the entry 127.0.0.1
// is void as soon as any other entry exists or any security group is bound,
// and if it is the only entry, every address is denied. Peers are judged
// unmapped (W8) and without zone. It returns every match in input order.
func oracle(groups []Group, bound []Bound, a netip.Addr) (bool, []Match) {
	if !a.IsValid() {
		return false, nil
	}
	a = a.Unmap().WithZone("")
	lo := netip.MustParsePrefix("127.0.0.1/32")
	onlyLoopback := len(bound) == 0
	for _, g := range groups {
		for _, p := range g.Entries {
			if p != lo {
				onlyLoopback = false
			}
		}
	}
	if onlyLoopback {
		return false, nil
	}
	var matches []Match
	for _, g := range groups {
		for _, p := range g.Entries {
			if p != lo && p.Contains(a) {
				matches = append(matches, Match{Group: g.Name, Entry: FormatEntry(p)})
			}
		}
	}
	for _, b := range bound {
		for _, h := range b.Hosts {
			for _, ha := range h.Addrs {
				if ha.IsValid() && ha.Unmap().WithZone("") == a {
					matches = append(matches, Match{SecurityGroup: b.SecurityGroup, Host: h.ID, Entry: a.String()})
				}
			}
		}
	}
	return len(matches) > 0, matches
}

// oracleEntries counts the distinct prefixes in effect, by the same reading.
func oracleEntries(groups []Group, bound []Bound) int {
	lo := netip.MustParsePrefix("127.0.0.1/32")
	set := make(map[netip.Prefix]bool)
	for _, g := range groups {
		for _, p := range g.Entries {
			if p != lo {
				set[p] = true
			}
		}
	}
	for _, b := range bound {
		for _, h := range b.Hosts {
			for _, ha := range h.Addrs {
				ha = ha.Unmap().WithZone("")
				set[netip.PrefixFrom(ha, ha.BitLen())] = true
			}
		}
	}
	return len(set)
}

// gen makes random groups, bound security groups and addresses from a small
// address space (10.0.0.0/14, 2001:db8::/46 and loopback), so that entries
// overlap and random addresses fall both inside and outside them.
type gen struct{ r *rand.Rand }

func (g gen) v4() netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(g.r.IntN(4)), byte(g.r.IntN(256)), byte(g.r.IntN(256))})
}

func (g gen) v6() netip.Addr {
	var b [16]byte
	copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(g.r.IntN(4))})
	for i := 6; i < 16; i++ {
		if g.r.IntN(3) == 0 { // sparse, so that addresses share prefixes
			b[i] = byte(g.r.IntN(256))
		}
	}
	return netip.AddrFrom16(b)
}

// entry returns a random canonical entry.
func (g gen) entry() netip.Prefix {
	switch n := g.r.IntN(100); {
	case n < 8:
		return loopback()
	case n < 12:
		return netip.MustParsePrefix([]string{"127.0.0.2/32", "127.0.0.0/8", "::1/128"}[g.r.IntN(3)])
	case n < 56:
		return netip.PrefixFrom(g.v4(), 16+g.r.IntN(17)).Masked()
	default:
		return netip.PrefixFrom(g.v6(), 48+g.r.IntN(81)).Masked()
	}
}

// groups returns 1–5 groups; with onlyLoopback, every entry is 127.0.0.1.
func (g gen) groups(onlyLoopback, open bool) []Group {
	gs := make([]Group, 1+g.r.IntN(5))
	for i := range gs {
		gs[i].Name = []string{"default", "dev", "ops", "ali_dms_group", "app"}[i]
		for range g.r.IntN(40) {
			p := g.entry()
			if onlyLoopback {
				p = loopback()
			}
			if !slices.Contains(gs[i].Entries, p) {
				gs[i].Entries = append(gs[i].Entries, p)
			}
		}
	}
	if open {
		gs[0].Entries = append(gs[0].Entries, netip.MustParsePrefix([]string{"0.0.0.0/0", "::/0"}[g.r.IntN(2)]))
	}
	return gs
}

// bound returns nil or 1–3 security groups of 0–3 hosts each.
func (g gen) bound() []Bound {
	if g.r.IntN(2) == 0 {
		return nil
	}
	bs := make([]Bound, 1+g.r.IntN(3))
	for i := range bs {
		bs[i].SecurityGroup = "sg-" + string(rune('a'+i))
		for j := range g.r.IntN(4) {
			h := Host{ID: "i-" + string(rune('a'+i)) + string(rune('0'+j))}
			for range 1 + g.r.IntN(3) {
				var a netip.Addr
				switch n := g.r.IntN(10); {
				case n == 0:
					a = netip.MustParseAddr("127.0.0.1")
				case n < 5:
					a = g.v4()
				default:
					a = g.v6()
				}
				h.Addrs = append(h.Addrs, g.disguise(a))
			}
			bs[i].Hosts = append(bs[i].Hosts, h)
		}
	}
	return bs
}

// inside returns a random address inside p.
func (g gen) inside(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if g.r.IntN(2) == 1 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// disguise sometimes writes an IPv4 address IPv4-mapped, or gives an IPv6
// address a zone: both must be judged as the plain address.
func (g gen) disguise(a netip.Addr) netip.Addr {
	switch {
	case a.Is4() && g.r.IntN(6) == 0:
		return netip.AddrFrom16(a.As16())
	case a.Is6() && g.r.IntN(10) == 0:
		return a.WithZone("eth0")
	}
	return a
}

// addr returns an address to judge: inside an entry, a host address, from the
// pool, loopback, or anywhere at all.
func (g gen) addr(groups []Group, bound []Bound) netip.Addr {
	var a netip.Addr
	switch n := g.r.IntN(100); {
	case n < 40:
		gr := groups[g.r.IntN(len(groups))]
		if len(gr.Entries) == 0 {
			return g.v4()
		}
		a = g.inside(gr.Entries[g.r.IntN(len(gr.Entries))])
	case n < 50 && len(bound) > 0 && len(bound[0].Hosts) > 0:
		h := bound[0].Hosts[g.r.IntN(len(bound[0].Hosts))]
		a = h.Addrs[g.r.IntN(len(h.Addrs))]
	case n < 70:
		a = g.v4()
	case n < 85:
		a = g.v6()
	case n < 92:
		a = netip.MustParseAddr([]string{"127.0.0.1", "127.0.0.2", "::1"}[g.r.IntN(3)])
	case n < 96:
		a = netip.AddrFrom4([4]byte{byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32())})
	default:
		var b [16]byte
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		a = netip.AddrFrom16(b)
	}
	return g.disguise(a)
}

// Compile/Allows/Explain/Entries against the oracle on generated instances.
func TestDifferential(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(20260101, 6))}
	const rounds, perRound = 500, 60
	var allowed, denied, loopbackRounds int
	for round := range rounds {
		onlyLoopback := g.r.IntN(10) == 0
		groups := g.groups(onlyLoopback, g.r.IntN(30) == 0)
		bound := g.bound()
		if onlyLoopback && bound == nil {
			loopbackRounds++
		}
		s := Compile(groups, bound)
		if got, want := s.Entries(), oracleEntries(groups, bound); got != want {
			t.Fatalf("round %d: Entries() = %d; oracle %d\ngroups %v\nbound %v", round, got, want, groups, bound)
		}
		for range perRound {
			a := g.addr(groups, bound)
			if onlyLoopback && g.r.IntN(4) == 0 {
				a = netip.MustParseAddr("127.0.0.1")
			}
			want, matches := oracle(groups, bound, a)
			if got := s.Allows(a); got != want {
				t.Fatalf("round %d: Allows(%v) = %v; oracle %v (matches %v)\ngroups %v\nbound %v", round, a, got, want, matches, groups, bound)
			}
			v := s.Explain(a)
			if v.Allowed != want || !slices.Equal(v.Matches, matches) {
				t.Fatalf("round %d: Explain(%v) = %+v; oracle %v %+v", round, a, v, want, matches)
			}
			if want {
				allowed++
			} else {
				denied++
			}
		}
	}
	// The generator must exercise both outcomes and the deny-all rule.
	total := rounds * perRound
	if allowed < total/5 || denied < total/5 || loopbackRounds < rounds/40 {
		t.Errorf("weak generator: %d allowed, %d denied of %d; %d only-127.0.0.1 rounds", allowed, denied, total, loopbackRounds)
	}
	t.Logf("%d addresses judged: %d allowed, %d denied; %d only-127.0.0.1 rounds", total, allowed, denied, loopbackRounds)
}
