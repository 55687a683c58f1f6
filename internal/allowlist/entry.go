package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// mappedBits is the length of the ::ffff:0:0/96 prefix that IPv4-mapped IPv6
// addresses share.
const mappedBits = 96

// ParseEntry parses one whitelist entry (W3) into its canonical prefix:
//
//   - an IPv4 address ("10.23.12.24", stored as 10.23.12.24/32) or an IPv4
//     CIDR block with prefix length 1–32 ("10.23.12.0/24"), or "0.0.0.0/0";
//   - an IPv6 address ("::1", stored as ::1/128) or prefix with length 1–128
//     ("2001:db8::/32"), or "::/0".
//
// A block whose host bits are set ("10.23.12.5/24", and "10.0.0.0/0") is
// refused with ErrHostBits and a message naming the canonical form. A prefix
// length above 32 or 128 is ErrPrefixLength. Any white space, leading,
// trailing or inside, is ErrSpace. Anything else that is not an address or a
// block is ErrFormat, including IPv6 zones ("fe80::1%eth0": a whitelist names
// addresses, not interfaces; peers are matched without their zone), decimal
// prefix lengths with a sign or a leading zero, and IPv4 shorthand.
//
// An IPv4-mapped IPv6 entry is stored as its IPv4 form ("::ffff:10.0.0.1" is
// 10.0.0.1/32 and "::ffff:10.0.0.0/120" is 10.0.0.0/24), because peers are
// judged by their unmapped address (W8). IPv6 letters may be in either case.
//
// The returned prefix is always Masked, never IPv4-mapped and never zoned.
func ParseEntry(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("entry %q: empty: %w", s, ErrFormat)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return netip.Prefix{}, fmt.Errorf("entry %q: %w", s, ErrSpace)
	}
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Prefix{}, fmt.Errorf("entry %q: IPv6 zones are not allowed: %w", s, ErrFormat)
	}
	addrText, bitsText, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("entry %q: %w", s, ErrFormat)
	}
	bits := addr.BitLen()
	if hasBits {
		n, ok := parseBits(bitsText)
		if !ok {
			return netip.Prefix{}, fmt.Errorf("entry %q: bad prefix length %q: %w", s, bitsText, ErrFormat)
		}
		if n > addr.BitLen() {
			return netip.Prefix{}, fmt.Errorf("entry %q: %w (at most /%d)", s, ErrPrefixLength, addr.BitLen())
		}
		bits = n
	}
	if addr.Is4In6() && bits >= mappedBits {
		addr, bits = addr.Unmap(), bits-mappedBits
	}
	p := netip.PrefixFrom(addr, bits)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("entry %q: %w (use %s)", s, ErrHostBits, FormatEntry(m))
	}
	return p, nil
}

// parseBits parses a decimal prefix length: one to three ASCII digits, no
// sign, no leading zero (except "0" itself).
func parseBits(s string) (int, bool) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// ParseList parses a comma-separated entry list (W3), such as the
// SecurityIps parameter of ModifySecurityIps, keeping the order given.
//
// Entries are separated by commas with no space before or after (ErrSpace);
// an empty list is ErrEmptyList and an empty item ("1.2.3.4,,5.6.7.8", or a
// trailing comma) is ErrFormat. The same entry twice ("1.2.3.4" and
// "1.2.3.4/32" are the same entry) is ErrDuplicate, and more than MaxEntries
// items is ErrTooMany. Each entry must satisfy ParseEntry.
//
// Every problem is reported at once (errors.Join), each naming its entry.
// For an input of more than MaxEntries items, only the first MaxEntries
// problems are listed individually, followed by a count of the rest. On error
// the returned slice is nil.
func ParseList(s string) ([]netip.Prefix, error) {
	ps, _, errs := parseList(s)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}

// parseList is ParseList returning each entry's text beside its prefix, and
// the problems unjoined, so that callers can prefix them with a group name.
func parseList(s string) (ps []netip.Prefix, texts []string, errs []error) {
	if s == "" {
		return nil, nil, []error{ErrEmptyList}
	}
	n := strings.Count(s, ",") + 1
	var problems problemList
	if n > MaxEntries {
		problems.add(fmt.Errorf("%d entries: %w (at most %d)", n, ErrTooMany, MaxEntries))
	}
	ps = make([]netip.Prefix, 0, min(n, MaxEntries))
	texts = make([]string, 0, min(n, MaxEntries))
	seen := make(map[netip.Prefix]string, min(n, MaxEntries))
	item := 0
	for text := range strings.SplitSeq(s, ",") {
		item++
		if text == "" {
			problems.add(fmt.Errorf("item %d: empty entry: %w", item, ErrFormat))
			continue
		}
		p, err := ParseEntry(text)
		if err != nil {
			problems.add(err)
			continue
		}
		if first, dup := seen[p]; dup {
			problems.add(fmt.Errorf("entry %q: %w (same as %q)", text, ErrDuplicate, first))
			continue
		}
		seen[p] = text
		ps = append(ps, p)
		texts = append(texts, text)
	}
	if len(problems.errs) > 0 {
		return nil, nil, problems.list()
	}
	return ps, texts, nil
}

// problemList collects at most MaxEntries problems and counts the rest, so
// that a hostile input cannot make an error message without bound.
type problemList struct {
	errs    []error
	dropped int
}

func (l *problemList) add(err error) {
	if len(l.errs) >= MaxEntries {
		l.dropped++
		return
	}
	l.errs = append(l.errs, err)
}

func (l *problemList) list() []error {
	if l.dropped > 0 {
		return append(l.errs, fmt.Errorf("%d more problems not listed", l.dropped))
	}
	return l.errs
}

// FormatEntry prints p as an entry: a single address (a full-length prefix)
// without its /32 or /128, anything else in CIDR notation. It is the inverse
// of ParseEntry for canonical prefixes. An invalid prefix prints as
// "invalid Prefix".
func FormatEntry(p netip.Prefix) string {
	if p.IsValid() && p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// FormatList prints ps with FormatEntry, joined by commas without spaces, in
// the order given — the form of DescribeSecurityIps' SecurityIpList.
func FormatList(ps []netip.Prefix) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(FormatEntry(p))
	}
	return b.String()
}
