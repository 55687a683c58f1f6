package acl

import (
	"math"
	"strings"
)

// Perm is a key permission: what a key pattern grants.
type Perm uint8

// Key permissions. PermAll is what '~pattern' grants.
const (
	PermRead  Perm = 1
	PermWrite Perm = 2
	PermAll        = PermRead | PermWrite
)

// keyRef is one key argument: its position in args and how the command uses it.
type keyRef struct {
	pos   int32
	flags KeyFlags
}

// Key is one key argument found in a command line.
type Key struct {
	Pos   int      // index in args (args[0] is the command name)
	Flags KeyFlags // how the command uses it; 0 for keys found by a legacy key finder (see Keys)
}

// Keys returns the key arguments of a command line the way redis-server 7.0.15 finds them for the ACL
// check and COMMAND GETKEYSANDFLAGS (getKeysFromCommandWithSpecs with the default flags): from the key
// specs, or from the command's own key finder when the specs cannot say (VARIABLE_FLAGS, INCOMPLETE,
// unknown specs, or arguments the specs cannot parse). Like Redis, the key finders of the commands whose
// specs are complete (EVAL, ZUNIONSTORE, XREAD, GEORADIUS…) report flags 0 when they are used as the
// fallback, and then the ACL check needs only a matching pattern. args[0] must name cmd (or, for a
// subcommand, args[0:2]).
func (c *Command) Keys(args [][]byte) []Key {
	var buf [16]keyRef
	refs := c.keys(args, buf[:0])
	out := make([]Key, len(refs))
	for i, r := range refs {
		out[i] = Key{Pos: int(r.pos), Flags: r.flags}
	}
	return out
}

// keys appends the command's key references to buf (usually a stack array) and returns it
// (getKeysFromCommandWithSpecs).
func (c *Command) keys(args [][]byte, buf []keyRef) []keyRef {
	if c.useSpecs {
		if out, ok := c.specKeys(args, buf, false); ok {
			return out
		}
	}
	if c.finder != noFinder {
		return c.finder.find(args, buf[:0])
	}
	if c.hasKeys && (!c.useSpecs || c.incomplete) {
		// Specs that cannot be trusted (VARIABLE_FLAGS, INCOMPLETE) and no key finder: only for a table
		// from a backend newer than 7.0.15 with a command moat has no finder for. Keep every key the specs
		// can find (Redis's GET_KEYSPEC_RETURN_PARTIAL) with their declared flags rather than none.
		out, _ := c.specKeys(args, buf, true)
		return out
	}
	// Specs that do not fit the arguments and no key finder: no keys, as in Redis (PFMERGE dest).
	return buf[:0]
}

// specKeys is getKeysUsingKeySpecs (R70:src/db.c). With partial, specs that fail are skipped; without,
// the first failing spec fails the whole search (ok false).
func (c *Command) specKeys(args [][]byte, buf []keyRef, partial bool) (out []keyRef, ok bool) {
	out = buf[:0]
	argc := len(args)
	for i := range c.KeySpecs {
		spec := &c.KeySpecs[i]
		if spec.mask&KeyNotKey != 0 {
			continue
		}
		var first, last, step int
		valid := true
		switch spec.begin {
		case beginIndex:
			first = spec.BeginSearch.Index
		case beginKeyword:
			first = keywordSearch(args, spec.BeginSearch.Keyword, spec.BeginSearch.StartFrom)
			if first == 0 {
				continue // keyword absent: this spec has no keys
			}
		default:
			valid = false
		}
		if valid {
			first, last, step, valid = findKeys(spec, args, first)
		}
		if valid && (last >= argc || last < first || first >= argc || step < 1) {
			valid = false // out of bounds: a syntax error Redis reports later
		}
		if valid {
			for i := first; i <= last; i += step {
				out = append(out, keyRef{pos: int32(i), flags: spec.mask})
			}
			if spec.mask&KeyIncomplete != 0 {
				valid = false // keys added first, for the partial search
			}
		}
		if !valid && !partial {
			return buf[:0], false
		}
	}
	return out, true
}

// keywordSearch returns the index after the keyword, or 0. Like Redis, the search stops one short of its
// end (it never examines the last argument going forwards, nor argv[1] going backwards).
func keywordSearch(args [][]byte, keyword string, startfrom int) int {
	argc := len(args)
	start, end := startfrom, argc-1
	if startfrom <= 0 {
		start, end = argc+startfrom, 1
	}
	for i := start; i != end; {
		if i >= argc || i < 1 {
			break
		}
		if equalFoldBytes(args[i], keyword) {
			return i + 1
		}
		if start <= end {
			i++
		} else {
			i--
		}
	}
	return 0
}

// findKeys applies a spec's find_keys part from the first key.
func findKeys(spec *KeySpec, args [][]byte, first int) (int, int, int, bool) {
	argc := len(args)
	fk := &spec.FindKeys
	switch spec.find {
	case findRange:
		last := 0
		switch {
		case fk.LastKey >= 0:
			last = first + fk.LastKey
		case fk.Limit == 0:
			last = argc + fk.LastKey
		default:
			last = first + ((argc-first)/fk.Limit + fk.LastKey)
		}
		return first, last, fk.KeyStep, true
	case findKeynum:
		idx := first + fk.KeyNumIdx
		if idx >= argc || idx < 0 {
			return 0, 0, 0, false
		}
		n, ok := string2ll(args[idx])
		if !ok || n < 0 {
			return 0, 0, 0, false
		}
		first += fk.FirstKey
		// Redis computes first + (int)numkeys - 1 in C int: the count is truncated to 32 bits.
		last := int(int32(first) + int32(n) - 1)
		return first, last, fk.KeyStep, true
	}
	return 0, 0, 0, false
}

// string2ll parses a decimal integer the way Redis's string2ll does: optional '-', no '+', no spaces,
// no leading zeros (except "0" itself), within int64.
func string2ll(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg = true
		i++
		if i == len(b) {
			return 0, false
		}
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(b); i++ {
		d := b[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(d-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(d-'0')
	}
	if neg {
		if v > uint64(math.MaxInt64)+1 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// atoi is C's atoi as glibc implements it: (int)strtol(s, NULL, 10). Leading white space and a sign are
// accepted, parsing stops at the first non-digit, an out-of-range value clamps to the long range and is
// then truncated to 32 bits. It stops at a NUL byte like any C string function.
func atoi(b []byte) int {
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var v uint64
	overflow := false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v > (math.MaxUint64-9)/10 {
			overflow = true
			continue
		}
		v = v*10 + uint64(b[i]-'0')
	}
	var l int64
	switch {
	case !neg && (overflow || v > math.MaxInt64):
		l = math.MaxInt64
	case neg && (overflow || v > uint64(math.MaxInt64)+1):
		l = math.MinInt64
	case neg:
		l = -int64(v)
	default:
		l = int64(v)
	}
	return int(int32(l))
}

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// equalFoldBytes is strcasecmp(a, b) == 0 for an argument and a constant without NUL bytes: the
// comparison stops at a NUL in a, as C does.
func equalFoldBytes(a []byte, b string) bool {
	a = cstr(a)
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// cstr cuts b at its first NUL byte, which is where C string functions stop.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// cstring cuts s at its first NUL byte, where C string functions stop.
func cstring(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}
