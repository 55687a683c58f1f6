package allowlist

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// largeInstance returns 100 groups of 1,000 distinct entries each, half IPv4
// (prefix length 16–32 anywhere) and half IPv6 (length 48–128 in
// 2001:db8::/32), as the Scale target of the allow set.
func largeInstance(r *rand.Rand) []Group {
	groups := make([]Group, 100)
	for i := range groups {
		groups[i].Name = fmt.Sprintf("group_%d", i)
		seen := make(map[netip.Prefix]bool, MaxEntries)
		for len(groups[i].Entries) < MaxEntries {
			var p netip.Prefix
			if r.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
				p = netip.PrefixFrom(a, 16+r.IntN(17)).Masked()
			} else {
				var b [16]byte
				copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
				for k := 4; k < 16; k++ {
					b[k] = byte(r.Uint32())
				}
				p = netip.PrefixFrom(netip.AddrFrom16(b), 48+r.IntN(81)).Masked()
			}
			if !seen[p] {
				seen[p] = true
				groups[i].Entries = append(groups[i].Entries, p)
			}
		}
	}
	return groups
}

// probes returns n addresses of the given family that s allows (hit) or
// denies (miss): hits inside random entries, misses random addresses left
// out of every entry (IPv6 misses inside 2001:db8::/32, so the walk is deep).
func probes(b *testing.B, r *rand.Rand, s *Set, groups []Group, v6, hit bool, n int) []netip.Addr {
	g := gen{r}
	out := make([]netip.Addr, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n {
			b.Fatalf("cannot find %d probes (v6 %v, hit %v)", n, v6, hit)
		}
		var a netip.Addr
		if hit {
			gr := groups[r.IntN(len(groups))]
			a = g.inside(gr.Entries[r.IntN(len(gr.Entries))])
		} else if v6 {
			var b [16]byte
			copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
			for k := 4; k < 16; k++ {
				b[k] = byte(r.Uint32())
			}
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		}
		if a.Is6() == v6 && s.Allows(a) == hit {
			out = append(out, a)
		}
	}
	return out
}

// BenchmarkAllows judges 4,096 distinct addresses in turn (so most lookups
// miss the CPU caches on the way down the trie), except warm16.
func BenchmarkAllows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	groups := largeInstance(r)
	s := Compile(groups, nil)
	const n = 4096 // a power of two
	hit4 := probes(b, r, s, groups, false, true, n)
	mapped := make([]netip.Addr, n) // the same clients, IPv4-mapped
	for i, a := range hit4 {
		mapped[i] = netip.AddrFrom16(a.As16())
	}
	hit6 := probes(b, r, s, groups, true, true, n)
	// The same 16 clients again and again: the table's paths stay in cache.
	warm6 := make([]netip.Addr, n)
	for i := range warm6 {
		warm6[i] = hit6[i%16]
	}
	cases := []struct {
		name  string
		addrs []netip.Addr
		want  bool
	}{
		{"hit-v4", hit4, true},
		{"hit-v6", hit6, true},
		{"hit-v6-warm16", warm6, true},
		{"miss-v4", probes(b, r, s, groups, false, false, n), false},
		{"miss-v6", probes(b, r, s, groups, true, false, n), false},
		{"hit-v4-mapped", mapped, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i, wrong := 0, 0
			for b.Loop() {
				if s.Allows(c.addrs[i&(n-1)]) != c.want {
					wrong++
				}
				i++
			}
			if wrong > 0 {
				b.Fatalf("%d wrong verdicts", wrong)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	groups := largeInstance(rand.New(rand.NewPCG(1, 2)))
	bound := []Bound{{SecurityGroup: "sg-1", Hosts: []Host{{ID: "i-1", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}}}}
	b.ReportAllocs()
	for b.Loop() {
		if s := Compile(groups, bound); s.Entries() == 0 {
			b.Fatal("empty set")
		}
	}
}

func BenchmarkExplain(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	groups := largeInstance(r)
	s := Compile(groups, nil)
	addrs := probes(b, r, s, groups, false, true, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !s.Explain(addrs[i&63]).Allowed {
			b.Fatal("denied")
		}
		i++
	}
}

func BenchmarkParseList(b *testing.B) {
	s := FormatList(largeInstance(rand.New(rand.NewPCG(1, 2)))[0].Entries)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := ParseList(s); err != nil {
			b.Fatal(err)
		}
	}
}
