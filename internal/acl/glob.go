package acl

// maxGlobNesting is where Redis gives up a match (CVE-2024-31228, in Debian's 7.0.15): a recursion
// deeper than this is no match.
const maxGlobNesting = 1000

// GlobMatch reports whether s matches the Redis glob pattern, with the semantics of stringmatchlen in
// redis-server 7.0.15 (§2.8): '*' any run of bytes, '?' one byte, '[…]' a set ('^' negates, ranges may
// be reversed, '\' escapes), '\x' a literal x; bytewise and case-sensitive; no match past a nesting depth
// of 1000. Bytes compare as C's signed char, which matters only for ranges with bytes ≥ 0x80.
func GlobMatch(pattern string, s []byte) bool {
	skip := false
	return globMatch(pattern, s, &skip, 0)
}

// globMatch mirrors stringmatchlen_impl. Where the C code reads the byte after the pattern it finds the
// string's NUL terminator; at returns 0 there.
func globMatch(p string, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > maxGlobNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatch(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
			p = p[1:]
		case '[':
			var match bool
			p, match = matchSet(p[1:], s[0])
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// matchSet matches c against the set that starts at q (just after '['); it returns the pattern after the
// set and whether c is in it (negation applied). An unterminated set ends at the end of the pattern.
func matchSet(q string, c byte) (string, bool) {
	not := len(q) > 0 && q[0] == '^'
	if not {
		q = q[1:]
	}
	match := false
	i := 0
	for {
		if i < len(q) && q[i] == '\\' && len(q)-i >= 2 {
			i++
			if q[i] == c {
				match = true
			}
		} else if i < len(q) && q[i] == ']' {
			break
		} else if i >= len(q) {
			i = len(q) - 1 // the C code steps back onto the last byte, then past it
			break
		} else if len(q)-i >= 3 && q[i+1] == '-' {
			// C compares plain (signed) chars.
			start, end, b := int8(q[i]), int8(q[i+2]), int8(c)
			if start > end {
				start, end = end, start
			}
			i += 2
			if b >= start && b <= end {
				match = true
			}
		} else if q[i] == c {
			match = true
		}
		i++
	}
	return q[i+1:], match != not
}

// matcher is a compiled glob: the common shapes (a literal, a literal prefix followed by '*', '*' alone)
// are matched without the general algorithm. It is kept small (the ACL check walks a user's patterns in
// a tight loop). Its zero value matches only the empty string.
type matcher struct {
	lit  string // the literal, the prefix, or the whole pattern for matchGlob
	kind matchKind
}

type matchKind uint8

const (
	matchExact matchKind = iota
	matchPrefix
	matchAll
	matchGlob
)

// compileGlob picks the cheapest exact equivalent of GlobMatch(pattern, ·).
func compileGlob(pattern string) matcher {
	stars := 0
	for stars < len(pattern) && pattern[len(pattern)-1-stars] == '*' {
		stars++
	}
	body := pattern[:len(pattern)-stars]
	for i := 0; i < len(body); i++ {
		if c := body[i]; c == '*' || c == '?' || c == '[' || c == '\\' {
			return matcher{kind: matchGlob, lit: pattern}
		}
	}
	switch {
	case stars == 0:
		return matcher{kind: matchExact, lit: body}
	case body == "":
		return matcher{kind: matchAll}
	}
	return matcher{kind: matchPrefix, lit: body}
}

func (m *matcher) match(s []byte) bool {
	// For literals, the last byte is compared first: prefixes such as "tenant1:" and "tenant2:" usually
	// differ near their end, and this rejects them without a memequal call.
	switch m.kind {
	case matchExact:
		n := len(m.lit)
		return len(s) == n && (n == 0 || s[n-1] == m.lit[n-1]) && string(s) == m.lit
	case matchPrefix:
		n := len(m.lit)
		return len(s) >= n && s[n-1] == m.lit[n-1] && string(s[:n]) == m.lit
	case matchAll:
		return len(s) > 0 // like Redis, '*' does not match the empty string
	}
	return GlobMatch(m.lit, s)
}
