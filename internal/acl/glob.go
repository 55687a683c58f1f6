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

// matcher is a compiled glob: the common shapes (a literal, "prefix*", "*suffix", "prefix*suffix", '*'
// alone) are matched without the general algorithm. It is kept small (the ACL check walks a user's
// patterns in a tight loop). Its zero value matches only the empty string.
type matcher struct {
	// lit is the literal (matchExact), the prefix (matchPrefix), the suffix (matchSuffix), the prefix
	// followed by the suffix (matchPrefixSuffix, split at cut) or the whole pattern (matchGlob).
	lit  string
	cut  uint32
	kind matchKind
}

type matchKind uint8

const (
	matchExact matchKind = iota
	matchPrefix
	matchAll
	matchSuffix
	matchPrefixSuffix
	matchGlob
)

// compileGlob picks the cheapest exact equivalent of GlobMatch(pattern, ·). The shapes it recognises
// are a literal run, a run of '*', a literal run, in that order, each possibly empty (but no literal run
// after a trailing '*'); a literal run holds no '*', '?', '[' or '\\'. Their stringmatchlen results:
//
//   - "lit": s equals lit;
//   - "pre*" (and "pre**"…): s starts with pre and is not empty ('*' alone needs one byte);
//   - "*suf": s ends with suf (a '*' tries every non-empty rest of s, and only suf itself matches suf);
//   - "pre*suf": s starts with pre and the rest ends with suf (the rest is then not empty).
func compileGlob(pattern string) matcher {
	pre := literalRun(pattern)
	stars := pre
	for stars < len(pattern) && pattern[stars] == '*' {
		stars++
	}
	suf := stars + literalRun(pattern[stars:])
	if suf != len(pattern) {
		return matcher{kind: matchGlob, lit: pattern}
	}
	switch {
	case stars == pre: // no '*' at all
		return matcher{kind: matchExact, lit: pattern}
	case stars == len(pattern) && pre == 0:
		return matcher{kind: matchAll}
	case stars == len(pattern):
		return matcher{kind: matchPrefix, lit: pattern[:pre]}
	case pre == 0:
		return matcher{kind: matchSuffix, lit: pattern[stars:]}
	}
	return matcher{kind: matchPrefixSuffix, lit: pattern[:pre] + pattern[stars:], cut: uint32(pre)}
}

// literalRun returns the length of the run of bytes at the start of p that match only themselves.
func literalRun(p string) int {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '*' || c == '?' || c == '[' || c == '\\' {
			return i
		}
	}
	return len(p)
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
	case matchSuffix:
		n := len(m.lit)
		return len(s) >= n && string(s[len(s)-n:]) == m.lit
	case matchPrefixSuffix:
		n, pre := len(m.lit), int(m.cut)
		return len(s) >= n && string(s[:pre]) == m.lit[:pre] && string(s[len(s)-(n-pre):]) == m.lit[pre:]
	}
	return GlobMatch(m.lit, s)
}
