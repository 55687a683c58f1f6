package allowlist

import (
	"net/netip"
	"slices"
)

// The union of an instance's prefixes as the index reads it: sorted, disjoint ranges of addresses, one
// list per family. Built directly (a sort and one merging pass) rather than through a general IP-set
// builder: compiling 1,000 entries is then tens of microseconds, so a whitelist change costs little.

// spanSet collects prefixes as spans, IPv4 and IPv6 apart: count every
// address first, alloc, then add each prefix.
type spanSet struct {
	n4, n6 int
	v4, v6 []span
}

// count counts a prefix of address a for alloc.
func (b *spanSet) count(a netip.Addr) {
	if a.Is4() {
		b.n4++
	} else {
		b.n6++
	}
}

// alloc makes room for the prefixes counted.
func (b *spanSet) alloc() {
	b.v4, b.v6 = make([]span, 0, b.n4), make([]span, 0, b.n6)
}

// add adds prefix p (valid, canonical: IPv4 in IPv4 form, host bits clear).
func (b *spanSet) add(p netip.Prefix) {
	a := p.Addr()
	if a.Is4() {
		first := key4(a)
		host := uint64(1)<<(32-p.Bits()) - 1
		b.v4 = append(b.v4, span{first: first, last: u128{lo: first.lo | host}})
		return
	}
	first, m := key6(a), maskOf(uint(p.Bits()))
	b.v6 = append(b.v6, span{first: first, last: u128{hi: first.hi | ^m.hi, lo: first.lo | ^m.lo}})
}

// merged returns the union of the prefixes added as sorted, disjoint spans
// that neither overlap nor touch, IPv4 and IPv6 apart, and how many distinct
// prefixes were added. The set is used up.
func (b *spanSet) merged() (v4, v6 []span, distinct int) {
	v4, d4 := mergeSpans(b.v4)
	v6, d6 := mergeSpans(b.v6)
	return v4, v6, d4 + d6
}

// mergeSpans sorts spans and merges the ones that overlap or touch, in place. distinct is how many
// different spans it was given (a prefix is one span: equal spans are equal prefixes).
func mergeSpans(spans []span) (out []span, distinct int) {
	slices.SortFunc(spans, func(x, y span) int {
		if c := x.first.compare(y.first); c != 0 {
			return c
		}
		return x.last.compare(y.last)
	})
	out = spans[:0]
	for i, s := range spans {
		if i == 0 || s != spans[i-1] {
			distinct++
		}
		if n := len(out) - 1; n >= 0 && (!out[n].last.less(s.first) || s.first.dec() == out[n].last) {
			if out[n].last.less(s.last) {
				out[n].last = s.last
			}
			continue
		}
		out = append(out, s)
	}
	return out, distinct
}

// compare orders u and v: -1, 0 or +1.
func (u u128) compare(v u128) int {
	switch {
	case u.less(v):
		return -1
	case v.less(u):
		return 1
	}
	return 0
}

// dec returns u - 1 (u > 0).
func (u u128) dec() u128 {
	if u.lo == 0 {
		return u128{hi: u.hi - 1, lo: ^uint64(0)}
	}
	return u128{hi: u.hi, lo: u.lo - 1}
}
