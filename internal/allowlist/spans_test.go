package allowlist

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

// mergedSpans is the union of prefixes (valid, canonical) as a spanSet computes it.
func mergedSpans(prefixes []netip.Prefix) (v4, v6 []span, distinct int) {
	var b spanSet
	for _, p := range prefixes {
		b.count(p.Addr())
	}
	b.alloc()
	for _, p := range prefixes {
		b.add(p)
	}
	return b.merged()
}

// netipxSpans is the oracle of mergedSpans: the union as netipx's IPSet computes it.
func netipxSpans(prefixes []netip.Prefix) (v4, v6 []span) {
	var b netipx.IPSetBuilder
	for _, p := range prefixes {
		b.AddPrefix(p)
	}
	set, _ := b.IPSet()
	for _, r := range set.Ranges() {
		if r.From().Is4() {
			v4 = append(v4, span{first: key4(r.From()), last: key4(r.To())})
		} else {
			v6 = append(v6, span{first: key6(r.From()), last: key6(r.To())})
		}
	}
	return v4, v6
}

// A spanSet gives netipx's ranges: overlapping, nested, touching and repeated prefixes, the ends of
// both address spaces, and random sets from the differential test's small address space.
func TestSpanSet(t *testing.T) {
	fixed := [][]netip.Prefix{
		nil,
		list(t, "10.0.0.0/25,10.0.0.128/25"), // touching: one span
		append(list(t, "10.0.0.0/24,10.0.0.5"), netip.MustParsePrefix("10.0.0.0/24")), // nested and repeated
		list(t, "0.0.0.0/0,10.0.0.0/8"),
		list(t, "255.255.255.255,255.255.255.254,0.0.0.0"),
		list(t, "::/0,2001:db8::/32"),
		list(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128,ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128,::/128"),
		list(t, "2001:db8::/64,2001:db8:0:1::/64,2001:db8:0:3::/64"), // the first two touch across a 64-bit half
		list(t, "::ffff:0:0/96,10.0.0.1"),
	}
	g := gen{rand.New(rand.NewPCG(20, 6))}
	for range 500 {
		var ps []netip.Prefix
		for _, gr := range g.groups(false, g.r.IntN(10) == 0) {
			ps = append(ps, gr.Entries...)
		}
		fixed = append(fixed, ps)
	}
	for i, ps := range fixed {
		given := slices.Clone(ps)
		got4, got6, distinct := mergedSpans(ps)
		want4, want6 := netipxSpans(ps)
		if !slices.Equal(got4, want4) || !slices.Equal(got6, want6) {
			t.Fatalf("case %d %v:\n got %x %x\nwant %x %x", i, given, got4, got6, want4, want6)
		}
		if d := len(slices.Compact(sortedPrefixes(ps))); distinct != d {
			t.Fatalf("case %d: %d distinct prefixes; want %d", i, distinct, d)
		}
		if !slices.Equal(ps, given) {
			t.Fatalf("case %d: the spanSet reordered its input", i)
		}
	}
}

// sortedPrefixes returns a sorted copy of ps.
func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(p, q netip.Prefix) int {
		if c := p.Addr().Compare(q.Addr()); c != 0 {
			return c
		}
		return p.Bits() - q.Bits()
	})
	return out
}
