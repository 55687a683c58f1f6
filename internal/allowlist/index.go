package allowlist

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// index answers "is this address inside one of these spans?" for one address
// family with about two memory accesses on a cache-cold path: a radix node's
// slot, then the one or few spans that slot points at.
//
// The spans are sorted and disjoint. A node covers a window of
// them whose starts share their first skip bits; its 2^k slots split the
// window by the next k bits of the start, so a window of n spans gets about n
// slots (at most 2^maxStride) and, for spread-out spans, about one span per
// slot. A slot holding more than leafSpans spans has a child node of its own.
// The answer for address a is the span with the last start ≤ a, if it
// reaches a; that span is always in the slot's window or just before it.
//
// An index is immutable once built and safe for concurrent use.
type index struct {
	spans []span
	nodes []node // nodes[0] is the root; empty when there are few spans
	slots []slot
}

// span is the closed interval [first, last] of addresses.
type span struct{ first, last u128 }

// node is one radix level: the spans in window [lo, hi) all start with pre
// (their first skip bits; mask keeps those bits), and slot base+v holds
// those whose next k bits are v. Slot base+2^k is a sentinel (first = hi).
type node struct {
	pre, mask u128
	skip, k   uint
	base      uint32
	lo, hi    uint32
}

// slot is the spans of one bucket, [first, the next slot's first), and the
// child node that splits them further, if any (0 means none: the root is
// never a child).
type slot struct {
	first uint32
	child uint32
}

const (
	leafSpans = 4  // the most spans a slot scans without a child node
	maxStride = 16 // the most bits one node splits on: 65,537 slots, 512 KiB
)

// newIndex builds the index of sorted, disjoint spans.
func newIndex(spans []span) *index {
	x := &index{spans: spans}
	if len(spans) > leafSpans {
		// The root has fewer than 2n+1 slots; spread-out spans need few children.
		x.slots = make([]slot, 0, 2*len(spans)+2)
		x.nodes = make([]node, 0, 1+len(spans)/(4*leafSpans))
		x.build(0, uint32(len(spans)))
	}
	return x
}

// build adds the node for window [lo, hi), which holds at least two spans,
// and, depth first, the children of its crowded slots. It returns the node's
// position.
func (x *index) build(lo, hi uint32) uint32 {
	first, last := x.spans[lo].first, x.spans[hi-1].first
	skip := first.commonPrefix(last) // < 128: the starts differ
	k := min(uint(bits.Len32(hi-lo-1)), maxStride, 128-skip)
	mask := maskOf(skip)
	n := node{pre: first.and(mask), mask: mask, skip: skip, k: k, base: uint32(len(x.slots)), lo: lo, hi: hi}
	at := uint32(len(x.nodes))
	x.nodes = append(x.nodes, n)
	buckets := uint32(1) << k
	j := lo
	for v := range buckets {
		x.slots = append(x.slots, slot{first: j})
		for j < hi && x.spans[j].first.bits(skip, k) == v {
			j++
		}
	}
	x.slots = append(x.slots, slot{first: hi})
	for v := range buckets {
		s := n.base + v
		from, to := x.slots[s].first, x.slots[s+1].first
		if to-from > leafSpans {
			child := x.build(from, to)
			x.slots[s].child = child
		}
	}
	return at
}

// contains reports whether a lies in one of the spans.
func (x *index) contains(a u128) bool {
	i := len(x.spans) - 1 // the candidate: the last span starting at or before a
	lowest := 0
	if len(x.nodes) > 0 {
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
			at := n.base + a.bits(n.skip, n.k)
			s := x.slots[at]
			if s.child != 0 {
				n = &x.nodes[s.child]
				continue
			}
			i, lowest = int(x.slots[at+1].first)-1, int(s.first)
			break
		}
	}
	for i >= lowest && a.less(x.spans[i].first) {
		i--
	}
	return i >= 0 && !x.spans[i].last.less(a)
}

// u128 is an address as an unsigned integer, most significant half first;
// IPv4 addresses use the low 32 bits.
type u128 struct{ hi, lo uint64 }

// key4 returns IPv4 address a as an integer.
func key4(a netip.Addr) u128 {
	b := a.As4()
	return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
}

// key6 returns IPv6 address a, without its zone, as an integer.
// (AppendBinary rather than As16: reading As16's array back out of memory
// costs a store-forwarding stall, ~9 ns, a quarter of a cache-cold lookup.)
func key6(a netip.Addr) u128 {
	var buf [16]byte
	b, _ := a.WithZone("").AppendBinary(buf[:0])
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
