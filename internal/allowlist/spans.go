package allowlist

import (
	"net/netip"
	"slices"
)

// The union of an instance's prefixes as the index reads it: sorted, disjoint ranges of addresses, one
// list per family. Built directly (a sort and one merging pass) rather than through a general IP-set
// builder: compiling 1,000 entries is then tens of microseconds, so a whitelist change costs little.

// mergedSpans returns the union of prefixes (valid, canonical: IPv4 in IPv4 form, host bits clear) as
// sorted, disjoint spans that neither overlap nor touch, IPv4 and IPv6 apart, and how many distinct
// prefixes it was given. It changes nothing it is given.
func mergedSpans(prefixes []netip.Prefix) (v4, v6 []span, distinct int) {
	n4 := 0
	for _, p := range prefixes {
		if p.Addr().Is4() {
			n4++
		}
	}
	v4, v6 = make([]span, 0, n4), make([]span, 0, len(prefixes)-n4)
	for _, p := range prefixes {
		a := p.Addr()
		if a.Is4() {
			first := key4(a)
			host := uint64(1)<<(32-p.Bits()) - 1
			v4 = append(v4, span{first: first, last: u128{lo: first.lo | host}})
			continue
		}
		first, m := key6(a), maskOf(uint(p.Bits()))
		v6 = append(v6, span{first: first, last: u128{hi: first.hi | ^m.hi, lo: first.lo | ^m.lo}})
	}
	v4, d4 := mergeSpans(v4)
	v6, d6 := mergeSpans(v6)
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
