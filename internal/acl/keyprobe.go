package acl

import (
	"encoding/binary"
	"math"
)

// keyProbe is a cheap necessary condition for a key pattern to grant a key, checked before the pattern's
// matcher: the permission, the key's length and up to 8 bytes of the pattern's literal start, compared as
// one word. A selector keeps one per key pattern, in the same order (Selector.probes), 24 bytes each, so
// the ACL check's walk over a user's patterns reads a few cache lines and rejects most patterns with a
// compare or two.
type keyProbe struct {
	// word is the pattern's bytes [at, at+8) of its literal start as a little-endian integer, masked by
	// mask (which keeps the bytes the literal start covers); a key's bytes there, masked, must equal it.
	word, mask uint64
	// minLen is a length every matching key reaches (the literal start's, or more).
	minLen uint32
	at     uint16
	perm   Perm
	// sure means that a key passing the probe matches: the pattern is "pre*" with pre of at most 8 bytes,
	// or '*' alone.
	sure bool
}

// maxProbeAt bounds keyProbe.at; a longer literal start is probed on its first 8 bytes.
const maxProbeAt = math.MaxUint16

// newKeyProbe returns the probe of a pattern compiled as m that grants perm.
func newKeyProbe(pattern string, m matcher, perm Perm) keyProbe {
	lit := pattern[:literalRun(pattern)]
	p := keyProbe{perm: perm, minLen: clampLen(len(lit))}
	switch m.kind {
	case matchAll:
		p.minLen = 1
	case matchExact, matchSuffix, matchPrefixSuffix:
		p.minLen = clampLen(len(m.lit))
	}
	if len(lit) > 8 && len(lit)-8 <= maxProbeAt {
		p.at = uint16(len(lit) - 8)
	}
	var w [8]byte
	n := copy(w[:], lit[p.at:])
	p.word = binary.LittleEndian.Uint64(w[:])
	p.mask = math.MaxUint64 >> (64 - 8*n) // n == 0: a shift by 64 gives 0
	p.sure = m.kind == matchAll || m.kind == matchPrefix && len(lit) <= 8
	return p
}

// clampLen is n as a uint32, at most math.MaxUint32 (a smaller minimum length is still a minimum).
func clampLen(n int) uint32 {
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

// keyHead returns the first 8 bytes of key as a little-endian integer, zero-padded.
func keyHead(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.LittleEndian.Uint64(key)
	}
	var w uint64 // built in a register: a copy to memory read back as one word would stall
	for i := len(key) - 1; i >= 0; i-- {
		w = w<<8 | uint64(key[i])
	}
	return w
}

// keyAllowed reports whether some pattern grants need and matches key (ACLSelectorCheckKey).
func (s *Selector) keyAllowed(key []byte, need Perm) bool {
	head := keyHead(key)
	for i := range s.probes {
		p := &s.probes[i]
		if p.perm&need != need || uint64(len(key)) < uint64(p.minLen) {
			continue
		}
		w := head
		if p.at > 0 {
			// minLen ≥ at+8: the literal start is longer than 8 bytes and the key at least as long.
			w = binary.LittleEndian.Uint64(key[p.at:])
		}
		if w&p.mask == p.word && (p.sure || s.keys[i].m.match(key)) {
			return true
		}
	}
	return false
}

// addKey adds key pattern pat granting perm, or ORs perm into the pattern's permissions when it is
// there already (as Redis does). s.keys and s.probes stay in step.
func (s *Selector) addKey(pat string, perm Perm) {
	for i := range s.keys {
		if s.keys[i].Pattern == pat {
			s.keys[i].Perm |= perm
			s.probes[i].perm |= perm
			return
		}
	}
	m := compileGlob(pat)
	s.keys = append(s.keys, KeyPattern{Pattern: pat, Perm: perm, m: m})
	s.probes = append(s.probes, newKeyProbe(pat, m, perm))
}

// clearKeys removes every key pattern.
func (s *Selector) clearKeys() {
	s.keys, s.probes = nil, nil
}
