package engine

import (
	"errors"
	"math"
	"math/bits"
)

// The engine's HyperLogLogs are Redis's: strings in Redis's format (the "HYLL" header, then 16,384
// six-bit registers), filled with Redis's hash (MurmurHash64A, seed 0xadc83b19) and counted with its
// estimator, so that PFCOUNT answers what redis-server answers for the same PFADDs, and the value GET
// returns is one redis-server reads. The library's own HyperLogLog (a type of its own, which cannot be
// read back) is never used: PFADD, PFCOUNT and PFMERGE are the engine's (own.go). Written HLLs are
// always dense (Redis writes small ones sparse, which only GET shows); sparse ones (from redis-server)
// are read.

const (
	hllP         = 14        // register index bits
	hllRegisters = 1 << hllP // 16,384
	hllQ         = 64 - hllP // bits of the hash left for the run of zeros
	hllBits      = 6         // bits per dense register
	hllHeader    = 16        // "HYLL", encoding, 3 unused bytes, 8 bytes of cached cardinality
	hllDenseSize = hllHeader + hllRegisters*hllBits/8
	hllDense     = 0 // encodings
	hllSparse    = 1
	hllSeed      = 0xadc83b19
	hllAlphaInf  = 0.721347520444481703680 // 1 / (2 ln 2)
)

// errNotHLL and errHLLCorrupt are Redis's replies (without the "-") to a string that is not a
// HyperLogLog and to a sparse one whose opcodes do not add up.
var (
	//lint:ignore ST1005 Redis 7.0.15's own text (hyperloglog.c)
	errNotHLL     = errors.New(replyNotHLL)
	errHLLCorrupt = errors.New(replyHLLCorrupt)
)

// hll is a dense HyperLogLog: header and registers. One made by newHLL or clone has a spare byte so
// that set writes the last register as the others; one read in place from a value (parseHLL) is only
// read.
type hll []byte

// newHLL is an empty dense HyperLogLog.
func newHLL() hll {
	h := make(hll, hllDenseSize+1)
	copy(h, "HYLL")
	return h
}

// parseHLL reads a HyperLogLog string value: a dense one is v itself (not to be changed: clone it),
// a sparse one is read into a new dense one.
func parseHLL(v []byte) (hll, error) {
	if len(v) < hllHeader || string(v[:4]) != "HYLL" {
		return nil, errNotHLL
	}
	switch v[4] {
	case hllDense:
		if len(v) != hllDenseSize {
			return nil, errNotHLL
		}
		return hll(v), nil
	case hllSparse:
		h := newHLL()
		if err := h.fromSparse(v[hllHeader:]); err != nil {
			return nil, err
		}
		return h, nil
	}
	return nil, errNotHLL
}

// clone is a copy of h that set may change.
func (h hll) clone() hll {
	c := newHLL()
	copy(c[hllHeader:], h[hllHeader:hllDenseSize])
	return c
}

// fromSparse sets the registers from Redis's sparse opcodes: ZERO (00xxxxxx: xxxxxx+1 zero registers),
// XZERO (01xxxxxx yyyyyyyy: 14 bits + 1 zero registers), VAL (1vvvvvxx: xx+1 registers of value vvvvv+1).
func (h hll) fromSparse(ops []byte) error {
	idx := 0
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		switch {
		case op&0xc0 == 0x00:
			idx += int(op&0x3f) + 1
		case op&0xc0 == 0x40:
			if i+1 >= len(ops) {
				return errHLLCorrupt
			}
			i++
			idx += (int(op&0x3f)<<8 | int(ops[i])) + 1
		default:
			val, run := (op>>2)&0x1f+1, int(op&0x3)+1
			if idx+run > hllRegisters {
				return errHLLCorrupt
			}
			for j := range run {
				h.set(idx+j, val)
			}
			idx += run
		}
		if idx > hllRegisters {
			return errHLLCorrupt
		}
	}
	if idx != hllRegisters {
		return errHLLCorrupt
	}
	return nil
}

// get is register i.
func (h hll) get(i int) uint8 {
	bit := i * hllBits
	b, fb := hllHeader+bit/8, uint(bit&7)
	var next byte // the last register has no next byte in a value read in place
	if b+1 < len(h) {
		next = h[b+1]
	}
	return (h[b]>>fb | next<<(8-fb)) & 63
}

// set makes register i v (h from newHLL or clone).
func (h hll) set(i int, v uint8) {
	bit := i * hllBits
	b, fb := hllHeader+bit/8, uint(bit&7)
	h[b] &^= 63 << fb
	h[b] |= v << fb
	h[b+1] &^= 63 >> (8 - fb)
	h[b+1] |= v >> (8 - fb)
}

// merge raises each register of h (from newHLL or clone) to other's where other's is higher.
func (h hll) merge(other hll) {
	for i := range hllRegisters {
		if v := other.get(i); v > h.get(i) {
			h.set(i, v)
		}
	}
}

// value is h as the string Redis stores, its cached cardinality marked stale (as Redis marks it after a
// change), so that redis-server recounts it.
func (h hll) value() string {
	h[4] = hllDense
	clear(h[5:15])
	h[15] = 0x80
	return string(h[:hllDenseSize])
}

// count is Redis's estimate of the number of distinct elements (Ertl's improved estimator, as
// hyperloglog.c's hllCount). Explicit float64 conversions keep each step rounded as C's double does.
func (h hll) count() uint64 {
	var histo [64]int
	for i := range hllRegisters {
		histo[h.get(i)]++
	}
	m := float64(hllRegisters)
	z := m * hllTau(float64(m-float64(histo[hllQ+1]))/m)
	for j := hllQ; j >= 1; j-- {
		z += float64(histo[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(histo[0])/m))
	return uint64(math.Round(float64(hllAlphaInf*m*m) / z))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x = float64(x * x)
		prev := z
		z += float64(x * y)
		y += y
		if prev == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		d := 1 - x
		z -= float64(float64(d*d) * y)
		if prev == z {
			return z / 3
		}
	}
}

// hllPosition is the register an element falls in and the length of its run of zeros plus one.
func hllPosition(ele string) (int, uint8) {
	h := murmur64A(ele, hllSeed)
	i := int(h & (hllRegisters - 1))
	h = h>>hllP | 1<<hllQ
	return i, uint8(bits.TrailingZeros64(h) + 1)
}

// murmur64A is Austin Appleby's MurmurHash64A, reading 8-byte blocks little-endian (as Redis does on
// every platform).
func murmur64A(s string, seed uint64) uint64 {
	const m, r = 0xc6a4a7935bd1e995, 47
	h := seed ^ uint64(len(s))*m
	n := len(s) &^ 7
	for i := 0; i < n; i += 8 {
		k := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	if rest := s[n:]; len(rest) > 0 {
		for i := len(rest) - 1; i >= 0; i-- {
			h ^= uint64(rest[i]) << (8 * uint(i))
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}
