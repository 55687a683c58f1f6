package allowlist

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// index answers "is this address inside one of these spans?" for one address
// family with about one memory access on a cache-cold path: a radix node's
// slot, which holds the span that answers for most addresses.
//
// The spans are sorted and disjoint. A node covers a window of
// them whose starts share their first skip bits; its 2^k buckets split the
// window by the next k bits of the start, so a window of n spans gets about n
// buckets (at most 2^maxStride) and, for spread-out spans, about one span per
// bucket. A bucket holding more than leafSpans spans has a child node of its
// own. The answer for address a is the span with the last start ≤ a, if it
// reaches a.
//
// Each bucket's slot carries a copy of that span for the bucket's last
// address — the last span starting in the bucket or, for an empty bucket, the
// last one before it — and the slot before it the same for the bucket before.
// An address at or after its slot's span is answered by that slot alone;
// one before it, by the slot before (adjacent in memory), unless other spans
// start in the bucket before the last one (its crowded bit): then by those
// (or the child).
//
// An index is immutable once built and safe for concurrent use.
type index struct {
	spans []span
	nodes []node // nodes[0] is the root; empty when there are few spans
	// slots[i] is slot i's span, 32 bytes: one cache line holds it whole
	// (Go's size classes for such arrays are multiples of 32 bytes, so the
	// array starts 32-byte aligned). links[i] is the rest of slot i, read
	// on the slower path only.
	slots []span
	links []link
	// crowded has bit i set when slot i's bucket holds more than one span:
	// 1 bit a slot, so it stays in the caches when the slots do not.
	crowded []uint64
}

// span is the closed interval [first, last] of addresses.
type span struct{ first, last u128 }

// noSpan stands for "no span": it starts after every address but the last
// and ends before it, so no address is in it (see covers).
func noSpan() span { return span{first: u128{^uint64(0), ^uint64(0)}} }

// covers reports whether a lies in s (never for noSpan).
func (s *span) covers(a u128) bool { return !a.less(s.first) && !s.last.less(a) }

// node is one radix level: the spans in window [lo, hi) all start with pre
// (their first skip bits; mask keeps those bits). Slot base+1+v is bucket v,
// those whose next k bits are v; slot base is the span before the window (or
// noSpan) and slot base+1+2^k a sentinel (from = hi).
type node struct {
	pre, mask u128
	skip, k   uint
	base      uint32
	lo, hi    uint32
}

// A slot is one bucket: its span, the last span starting at or before the
// bucket's last address (noSpan if no span does), and its link: the bucket's
// spans [from, the next slot's from) and the child node that splits them
// further, if any (0 means none: the root is never a child).
type link struct {
	from  uint32
	child uint32
}

const (
	leafSpans = 4  // the most spans a bucket scans without a child node
	maxStride = 16 // the most bits one node splits on: 65,538 slots, 2.5 MiB
)

// newIndex builds the index of sorted, disjoint spans.
func newIndex(spans []span) *index {
	x := &index{spans: spans}
	if len(spans) > leafSpans {
		// The root has 2^k+2 slots; spread-out spans need few children.
		_, k := x.stride(0, uint32(len(spans)))
		guess := 1<<k + 2 + len(spans)/16
		x.slots = make([]span, 0, guess)
		x.links = make([]link, 0, guess)
		x.nodes = make([]node, 0, 1+len(spans)/(4*leafSpans))
		x.build(0, uint32(len(spans)))
		x.markCrowded()
		if cap(x.slots)-len(x.slots) > len(x.slots)/8 {
			// 40 bytes a slot: do not keep the slack.
			x.slots, x.links = slices.Clip(slices.Clone(x.slots)), slices.Clip(slices.Clone(x.links))
		}
	}
	return x
}

// build adds the node for window [lo, hi), which holds at least two spans,
// and, depth first, the children of its buckets holding more than leafSpans
// spans. It returns the node's position.
func (x *index) build(lo, hi uint32) uint32 {
	skip, k := x.stride(lo, hi)
	mask := maskOf(skip)
	n := node{pre: x.spans[lo].first.and(mask), mask: mask, skip: skip, k: k, base: uint32(len(x.slots)), lo: lo, hi: hi}
	at := uint32(len(x.nodes))
	x.nodes = append(x.nodes, n)
	before := noSpan()
	if lo > 0 {
		before = x.spans[lo-1]
	}
	x.slots, x.links = append(x.slots, before), append(x.links, link{from: lo})
	buckets := uint32(1) << k
	j := lo
	for v := range buckets {
		from := j
		for j < hi && x.spans[j].first.bits(skip, k) == v {
			j++
		}
		if j > from {
			before = x.spans[j-1]
		}
		x.slots, x.links = append(x.slots, before), append(x.links, link{from: from})
	}
	x.slots, x.links = append(x.slots, before), append(x.links, link{from: hi})
	for v := range buckets {
		s := n.base + 1 + v
		from, to := x.links[s].from, x.links[s+1].from
		if to-from > leafSpans {
			child := x.build(from, to)
			x.links[s].child = child
		}
	}
	return at
}

// stride returns the bits the node for window [lo, hi) skips (the common
// prefix of its starts) and the number it splits on.
func (x *index) stride(lo, hi uint32) (skip, k uint) {
	skip = x.spans[lo].first.commonPrefix(x.spans[hi-1].first) // < 128: the starts differ
	return skip, min(uint(bits.Len32(hi-lo-1)), maxStride, 128-skip)
}

// markCrowded sets the crowded bit of every bucket holding more than one span.
func (x *index) markCrowded() {
	x.crowded = make([]uint64, (len(x.slots)+63)/64)
	for _, n := range x.nodes {
		for s := n.base + 1; s <= n.base+uint32(1)<<n.k; s++ {
			if x.links[s+1].from-x.links[s].from > 1 {
				x.crowded[s/64] |= 1 << (s % 64)
			}
		}
	}
}

// contains reports whether a lies in one of the spans.
func (x *index) contains(a u128) bool {
	if len(x.nodes) == 0 {
		for i := len(x.spans) - 1; i >= 0; i-- {
			if !a.less(x.spans[i].first) {
				return !x.spans[i].last.less(a)
			}
		}
		return false
	}
	n := &x.nodes[0]
	for {
		if p := a.and(n.mask); p != n.pre {
			// a is outside the window's common prefix: before all of
			// its spans or after all of them.
			if p.less(n.pre) {
				return n.lo > 0 && !x.spans[n.lo-1].last.less(a)
			}
			return !x.spans[n.hi-1].last.less(a)
		}
		at := n.base + 1 + a.bits(n.skip, n.k)
		s := &x.slots[at]
		if !a.less(s.first) {
			// The bucket's last span (or the last before it) starts at or
			// before a: it is the one.
			return !s.last.less(a)
		}
		// a is before the last span of its bucket: in the span before the
		// bucket, or in another of the bucket's spans.
		if x.slots[at-1].covers(a) {
			return true
		}
		if x.crowded[at/64]&(1<<(at%64)) == 0 {
			return false // the bucket's last span is its only one
		}
		l := &x.links[at]
		if l.child != 0 {
			n = &x.nodes[l.child]
			continue
		}
		for i := int(x.links[at+1].from) - 2; i >= int(l.from); i-- {
			if !a.less(x.spans[i].first) {
				return !x.spans[i].last.less(a)
			}
		}
		return false
	}
}

// u128 is an address as an unsigned integer, most significant half first;
// IPv4 addresses use the low 32 bits.
type u128 struct{ hi, lo uint64 }

// key4 returns IPv4 address a as an integer.
func key4(a netip.Addr) u128 {
	b := a.As4()
	return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
}

// key6 returns IPv6 address a, zone ignored, as an integer.
// (AsSlice, inlined, writes the two halves to a stack array that two 8-byte
// loads read back; As16's array is copied back through memory with one
// 16-byte load over two 8-byte stores, a store-forwarding stall of ~9 ns, a
// quarter of a cache-cold lookup.)
func key6(a netip.Addr) u128 {
	b := a.AsSlice()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:16])}
}

func (u u128) less(v u128) bool { return u.hi < v.hi || u.hi == v.hi && u.lo < v.lo }

func (u u128) and(v u128) u128 { return u128{u.hi & v.hi, u.lo & v.lo} }

// commonPrefix returns how many leading bits u and v share (128 if equal).
func (u u128) commonPrefix(v u128) uint {
	if d := u.hi ^ v.hi; d != 0 {
		return uint(bits.LeadingZeros64(d))
	}
	return 64 + uint(bits.LeadingZeros64(u.lo^v.lo))
}

// bits returns the n (0–maxStride) bits of u that follow its first from bits
// (from+n ≤ 128).
func (u u128) bits(from, n uint) uint32 {
	if n == 0 {
		return 0
	}
	var top uint64 // u shifted left by from, top half
	if from < 64 {
		top = u.hi<<from | u.lo>>(64-from)
	} else {
		top = u.lo << (from - 64)
	}
	return uint32(top >> (64 - n))
}

// maskOf returns the u128 with its first n bits set.
func maskOf(n uint) u128 {
	switch {
	case n == 0:
		return u128{}
	case n <= 64:
		return u128{hi: ^uint64(0) << (64 - n)}
	default:
		return u128{hi: ^uint64(0), lo: ^uint64(0) << (128 - n)}
	}
}
