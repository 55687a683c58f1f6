package allowlist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

// linear is the index read literally: is a in one of the spans?
func linear(spans []span, a u128) bool {
	for _, s := range spans {
		if !a.less(s.first) && !s.last.less(a) {
			return true
		}
	}
	return false
}

// edges returns the addresses where verdicts change: each span's ends and
// their neighbours, the extremes, and the boundaries of every node's slots.
func edges(x *index) []u128 {
	max := u128{^uint64(0), ^uint64(0)}
	out := []u128{{}, max}
	for _, s := range x.spans {
		out = append(out, s.first, s.last, s.first.add(^uint64(0)), s.last.add(1))
	}
	for _, n := range x.nodes {
		for v := range uint64(1) << n.k {
			// The first address of slot v, and the one before it.
			start := n.pre.or(u128{}.withBits(n.skip, n.k, v))
			out = append(out, start, start.add(^uint64(0)))
		}
	}
	return out
}

// add returns u + d (mod 2^128), d taken as a signed 64-bit step.
func (u u128) add(d uint64) u128 {
	lo := u.lo + d
	hi := u.hi
	switch {
	case int64(d) >= 0 && lo < u.lo:
		hi++
	case int64(d) < 0 && lo > u.lo:
		hi--
	}
	return u128{hi, lo}
}

func (u u128) or(v u128) u128 { return u128{u.hi | v.hi, u.lo | v.lo} }

// withBits returns u with the n bits after its first from bits set to v.
func (u u128) withBits(from, n uint, v uint64) u128 {
	for i := range n {
		if v>>(n-1-i)&1 == 0 {
			continue
		}
		if b := from + i; b < 64 {
			u.hi |= 1 << (63 - b)
		} else {
			u.lo |= 1 << (127 - b)
		}
	}
	return u
}

// checkIndex compares the index of spans with a linear scan at every edge
// and at extra probes.
func checkIndex(t *testing.T, name string, spans []span, extra ...u128) {
	t.Helper()
	x := newIndex(spans)
	for _, a := range append(edges(x), extra...) {
		if got, want := x.contains(a), linear(spans, a); got != want {
			t.Fatalf("%s: contains(%x:%x) = %v; linear %v (%d spans, %d nodes)", name, a.hi, a.lo, got, want, len(spans), len(x.nodes))
		}
	}
}

// spansOf returns sorted, disjoint, non-adjacent spans from first addresses
// (sorted, at least 2 apart) each spanning one address.
func spansOf(firsts []u128) []span {
	out := make([]span, len(firsts))
	for i, f := range firsts {
		out[i] = span{f, f}
	}
	return out
}

// Shapes that a random test rarely builds: empty, everything, spans over
// slot boundaries, clusters that need deep children, the extremes.
func TestIndexShapes(t *testing.T) {
	max := u128{^uint64(0), ^uint64(0)}
	checkIndex(t, "empty", nil, u128{}, max, u128{0, 1})
	checkIndex(t, "everything", []span{{u128{}, max}}, u128{0, 12345}, u128{1 << 63, 0})
	checkIndex(t, "the extremes", []span{{u128{}, u128{}}, {u128{0, 2}, u128{0, 2}}, {u128{0, 4}, u128{0, 9}},
		{u128{7, 0}, u128{7, 0}}, {u128{1 << 63, 0}, u128{1 << 63, 0}}, {max, max}})

	var dense []u128 // 1,000 single addresses two apart: one crowded root
	for i := range 1000 {
		dense = append(dense, u128{0x20010db8 << 32, uint64(2 * i)})
	}
	checkIndex(t, "dense", spansOf(dense))

	var chain []u128 // starts differing in ever later bits: the deepest tree
	for b := range 127 {
		chain = append(chain, u128{}.withBits(uint(b), 1, 1))
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i] // ascending
	}
	checkIndex(t, "chain", spansOf(chain))

	// A span from far left reaching into a crowded slot, below the common
	// prefix of that slot's own spans.
	reach := []span{{u128{}, u128{0, 1<<41 + 100}}}
	for i := range uint64(5) {
		reach = append(reach, span{u128{0, 1<<41 + 1000 + 2*i}, u128{0, 1<<41 + 1000 + 2*i}})
	}
	checkIndex(t, "reach", reach, u128{0, 1<<41 + 50}, u128{0, 1<<41 + 500})

	// Wide spans crossing many slots, with narrow ones between them.
	var wide []span
	for i := range uint64(200) {
		base := i << 40
		wide = append(wide, span{u128{0, base}, u128{0, base + 1<<39}}, span{u128{0, base + 1<<39 + 5}, u128{0, base + 1<<39 + 5}})
	}
	checkIndex(t, "wide", wide)

	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		// Clusters of random sizes at random depths.
		var firsts []u128
		seen := map[u128]bool{}
		for range 1 + r.IntN(8) {
			base := u128{r.Uint64(), r.Uint64()}.and(maskOf(uint(r.IntN(128))))
			spread := uint(r.IntN(64))
			for range r.IntN(300) {
				f := base.add(r.Uint64() >> spread)
				f.lo &^= 1 // even: never adjacent to another start
				if !seen[f] {
					seen[f] = true
					firsts = append(firsts, f)
				}
			}
		}
		slices.SortFunc(firsts, func(a, b u128) int {
			if a.less(b) {
				return -1
			}
			if b.less(a) {
				return 1
			}
			return 0
		})
		spans := spansOf(firsts)
		var probes []u128
		for range 200 {
			probes = append(probes, u128{r.Uint64(), r.Uint64()})
		}
		checkIndex(t, "clusters", spans, probes...)
	}
}

// The whole Set against the oracle on entries the fuzzer chooses: each 17
// bytes are an IPv6 prefix (16 bytes of address, then its length), which
// Compile may turn into IPv4 when mapped. Probes are every entry's first and
// last address and their neighbours.
func FuzzSetAllows(f *testing.F) {
	f.Add([]byte("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x80"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x0a\x00\x00\x00\x78" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x7f\x00\x00\x01\x80"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := Group{Name: DefaultGroup}
		seen := map[netip.Prefix]bool{}
		for len(data) >= 17 && len(g.Entries) < MaxEntries {
			var b [16]byte
			copy(b[:], data[:16])
			p := netip.PrefixFrom(netip.AddrFrom16(b), int(data[16])%129).Masked()
			if c, _ := canonical(p); !seen[c] {
				seen[c] = true
				g.Entries = append(g.Entries, c)
			}
			data = data[17:]
		}
		groups := []Group{g}
		s := Compile(groups, nil)
		for _, p := range g.Entries {
			lo := p.Masked().Addr()
			hi := netipx.PrefixLastIP(p)
			for _, a := range []netip.Addr{lo, hi, lo.Prev(), hi.Next()} {
				if !a.IsValid() {
					continue
				}
				if want, _ := oracle(groups, nil, a); s.Allows(a) != want {
					t.Fatalf("Allows(%v) = %v; oracle %v; entries %v", a, s.Allows(a), want, g.Entries)
				}
			}
		}
	})
}
