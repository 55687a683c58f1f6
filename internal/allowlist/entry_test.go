package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// W3: one entry in, canonical prefix or error class out.
func TestParseEntry(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical prefix, when valid
		err     error
		mention string // text the error must hold besides the entry itself
	}{
		// IPv4 addresses and blocks, prefix length 1–32.
		{in: "10.23.12.24", want: "10.23.12.24/32"},
		{in: "10.23.12.24/32", want: "10.23.12.24/32"},
		{in: "10.23.12.0/24", want: "10.23.12.0/24"},
		{in: "128.0.0.0/1", want: "128.0.0.0/1"},
		{in: "10.23.12.0/33", err: ErrPrefixLength},
		{in: "10.23.12.0/99", err: ErrPrefixLength},
		{in: "10.23.12.0/1000", err: ErrFormat},

		// 0.0.0.0/0 is the only IPv4 block of length 0.
		{in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{in: "10.0.0.0/0", err: ErrHostBits, mention: "use 0.0.0.0/0"},

		// Host bits set: refused, naming the canonical form.
		{in: "10.23.12.5/24", err: ErrHostBits, mention: "use 10.23.12.0/24"},
		{in: "10.0.0.1/8", err: ErrHostBits, mention: "use 10.0.0.0/8"},
		{in: "10.0.0.0/1", err: ErrHostBits, mention: "use 0.0.0.0/1"},
		{in: "10.23.12.5/31", err: ErrHostBits, mention: "use 10.23.12.4/31"},

		// Spaces anywhere.
		{in: " 10.0.0.1", err: ErrSpace},
		{in: "10.0.0.1 ", err: ErrSpace},
		{in: "10.0.0.1\t", err: ErrSpace},
		{in: "10.0.0.1\n", err: ErrSpace},
		{in: "10.0.0.1 10.0.0.2", err: ErrSpace},
		{in: "10.0.0.0 /8", err: ErrSpace},
		{in: " ", err: ErrSpace},

		// Not an address or block.
		{in: "", err: ErrFormat},
		{in: "10.23.12", err: ErrFormat},
		{in: "10.23.12.256", err: ErrFormat},
		{in: "010.23.12.1", err: ErrFormat, mention: ErrFormat.Error()},
		{in: "10.23.12.0/", err: ErrFormat},
		{in: "/24", err: ErrFormat},
		{in: "10.23.12.0/+24", err: ErrFormat},
		{in: "10.23.12.0/-1", err: ErrFormat},
		{in: "10.23.12.0/024", err: ErrFormat},
		{in: "10.23.12.0/24/24", err: ErrFormat},
		{in: "10.23.12.0-10.23.12.9", err: ErrFormat},
		{in: "redis.example.com", err: ErrFormat},
		{in: "*", err: ErrFormat},
		{in: "100.100.202.***/24", err: ErrFormat},

		// IPv6.
		{in: "::1", want: "::1/128"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "2001:DB8::1", want: "2001:db8::1/128"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "2001:db8::1/128", want: "2001:db8::1/128"},
		{in: "::/0", want: "::/0"},
		{in: "8000::/1", want: "8000::/1"},
		{in: "2001:db8::1/32", err: ErrHostBits, mention: "use 2001:db8::/32"},
		{in: "2001:db8::/0", err: ErrHostBits, mention: "use ::/0"},
		{in: "::1/129", err: ErrPrefixLength},
		{in: "2001:db8:::1", err: ErrFormat},
		{in: "2001:db8::g", err: ErrFormat},

		// Zones are refused: entries name addresses, not interfaces.
		{in: "fe80::1%eth0", err: ErrFormat, mention: "zone"},
		{in: "fe80::%eth0/64", err: ErrFormat, mention: "zone"},

		// IPv4-mapped IPv6 entries are stored in IPv4 form.
		{in: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{in: "::ffff:a00:1", want: "10.0.0.1/32"},
		{in: "::ffff:10.0.0.0/120", want: "10.0.0.0/24"},
		{in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{in: "::ffff:10.0.0.1/120", err: ErrHostBits, mention: "use 10.0.0.0/24"},
		{in: "::ffff:0:0/95", err: ErrHostBits, mention: "use ::fffe:0:0/95"},
		{in: "::ffff:0:0/80", err: ErrHostBits, mention: "use ::/80"},
		// IPv4-compatible (not mapped) addresses are ordinary IPv6 entries.
		{in: "::10.0.0.1", want: "::a00:1/128"},

		// Loopback entries other than 127.0.0.1 are ordinary entries.
		{in: "127.0.0.1", want: "127.0.0.1/32"},
		{in: "127.0.0.2", want: "127.0.0.2/32"},
		{in: "127.0.0.0/8", want: "127.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEntry(tt.in)
			if tt.err != nil {
				if got != (netip.Prefix{}) {
					t.Errorf("ParseEntry(%q) = %v with an error; want the zero Prefix", tt.in, got)
				}
				checkErrs(t, err, []error{tt.err}, fmt.Sprintf("entry %q", tt.in), tt.mention)
				return
			}
			if err != nil {
				t.Fatalf("ParseEntry(%q): %v", tt.in, err)
			}
			if want := netip.MustParsePrefix(tt.want); got != want {
				t.Errorf("ParseEntry(%q) = %v; want %v", tt.in, got, want)
			}
		})
	}
}

// W3: a comma list in, the entries in order or every problem out.
func TestParseList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string   // the entries, printed by FormatList, when valid
		errs []error  // one class per problem, in input order
		text []string // strings the error must hold
	}{
		{name: "one address", in: "10.23.12.24", want: "10.23.12.24"},
		{name: "order kept", in: "10.0.1.0/24,10.0.0.1,::1,2001:db8::/32", want: "10.0.1.0/24,10.0.0.1,::1,2001:db8::/32"},
		{name: "/32 printed as address", in: "10.0.0.1/32,::1/128", want: "10.0.0.1,::1"},
		{name: "overlapping blocks are not duplicates", in: "10.0.0.0/8,10.0.0.0/16,10.0.0.1", want: "10.0.0.0/8,10.0.0.0/16,10.0.0.1"},
		{name: "open to all", in: "0.0.0.0/0,::/0", want: "0.0.0.0/0,::/0"},

		{name: "empty list", in: "", errs: []error{ErrEmptyList}},
		{name: "space after comma", in: "10.0.0.1, 10.0.0.2", errs: []error{ErrSpace}, text: []string{`" 10.0.0.2"`}},
		{name: "space before comma", in: "10.0.0.1 ,10.0.0.2", errs: []error{ErrSpace}, text: []string{`"10.0.0.1 "`}},
		{name: "space-separated", in: "10.0.0.1 10.0.0.2", errs: []error{ErrSpace}},
		{name: "empty item", in: "10.0.0.1,,10.0.0.2", errs: []error{ErrFormat}, text: []string{"item 2"}},
		{name: "trailing comma", in: "10.0.0.1,", errs: []error{ErrFormat}, text: []string{"item 2"}},
		{name: "leading comma", in: ",10.0.0.1", errs: []error{ErrFormat}, text: []string{"item 1"}},
		{name: "only a comma", in: ",", errs: []error{ErrFormat, ErrFormat}},
		{name: "semicolon", in: "10.0.0.1;10.0.0.2", errs: []error{ErrFormat}},

		{name: "same address twice", in: "1.2.3.4,1.2.3.4", errs: []error{ErrDuplicate}},
		{name: "address and its /32", in: "1.2.3.4,1.2.3.4/32", errs: []error{ErrDuplicate}, text: []string{`"1.2.3.4/32"`, `"1.2.3.4"`}},
		{name: "IPv6 in two cases", in: "2001:db8::1,2001:DB8::1/128", errs: []error{ErrDuplicate}},
		{name: "mapped and IPv4", in: "::ffff:1.2.3.4,1.2.3.4", errs: []error{ErrDuplicate}},
		{name: "three times", in: "1.2.3.4,1.2.3.4,1.2.3.4", errs: []error{ErrDuplicate, ErrDuplicate}},

		{name: "every problem at once",
			in:   "10.23.12.5/24, 1.2.3.4,x,1.1.1.1,,1.1.1.1,10.0.0.0/33,::1",
			errs: []error{ErrHostBits, ErrSpace, ErrFormat, ErrFormat, ErrDuplicate, ErrPrefixLength},
			text: []string{`"10.23.12.5/24"`, "use 10.23.12.0/24", `" 1.2.3.4"`, `"x"`, "item 5", `"1.1.1.1"`, `"10.0.0.0/33"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(tt.in)
			if tt.errs != nil {
				if got != nil {
					t.Errorf("ParseList(%q) = %v with an error; want nil", tt.in, got)
				}
				checkLeaves(t, err, tt.errs)
				checkErrs(t, err, tt.errs, tt.text...)
				return
			}
			if err != nil {
				t.Fatalf("ParseList(%q): %v", tt.in, err)
			}
			if s := FormatList(got); s != tt.want {
				t.Errorf("ParseList(%q) = %s; want %s", tt.in, s, tt.want)
			}
		})
	}
}

// distinctList returns a list of n distinct IPv4 addresses in 11.0.0.0/8.
func distinctList(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("11.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	return strings.Join(items, ",")
}

// W3: at most 1,000 entries.
func TestParseListLimit(t *testing.T) {
	ps, err := ParseList(distinctList(MaxEntries))
	if err != nil || len(ps) != MaxEntries {
		t.Fatalf("1,000 entries: got %d entries, %v; want 1000, nil", len(ps), err)
	}

	_, err = ParseList(distinctList(MaxEntries + 1))
	checkLeaves(t, err, []error{ErrTooMany})
	checkErrs(t, err, []error{ErrTooMany}, "1001 entries")

	// Too many and bad entries: both reported.
	_, err = ParseList(distinctList(MaxEntries) + ",x,11.0.0.1")
	checkLeaves(t, err, []error{ErrTooMany, ErrFormat, ErrDuplicate})

	// A hostile list: the problems listed are bounded, the rest counted.
	_, err = ParseList(strings.Repeat(",", 5000))
	leaves := leafErrors(err)
	if len(leaves) != MaxEntries+1 {
		t.Fatalf("5,001 empty items: %d errors listed; want %d", len(leaves), MaxEntries+1)
	}
	if !errors.Is(leaves[0], ErrTooMany) || !errors.Is(leaves[1], ErrFormat) {
		t.Errorf("first errors %q, %q; want too many, then the first empty item", leaves[0], leaves[1])
	}
	if last := leaves[MaxEntries].Error(); last != "4002 more problems not listed" {
		t.Errorf("last error %q; want the count of problems not listed", last)
	}
}

func TestFormatEntry(t *testing.T) {
	tests := []struct {
		in   netip.Prefix
		want string
	}{
		{netip.MustParsePrefix("10.0.0.1/32"), "10.0.0.1"},
		{netip.MustParsePrefix("10.0.0.0/24"), "10.0.0.0/24"},
		{netip.MustParsePrefix("0.0.0.0/0"), "0.0.0.0/0"},
		{netip.MustParsePrefix("::1/128"), "::1"},
		{netip.MustParsePrefix("2001:db8::/32"), "2001:db8::/32"},
		{netip.MustParsePrefix("::/0"), "::/0"},
		{netip.Prefix{}, "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := FormatEntry(tt.in); got != tt.want {
			t.Errorf("FormatEntry(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatList(t *testing.T) {
	if got := FormatList(nil); got != "" {
		t.Errorf("FormatList(nil) = %q; want empty", got)
	}
	ps := []netip.Prefix{
		netip.MustParsePrefix("10.0.1.0/24"),
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("2001:db8::1/128"),
	}
	if got, want := FormatList(ps), "10.0.1.0/24,127.0.0.1,2001:db8::1"; got != want {
		t.Errorf("FormatList = %q; want %q", got, want)
	}
}

// parseSentinels are the classes ParseEntry and ParseList report.
var parseSentinels = []error{ErrFormat, ErrHostBits, ErrPrefixLength, ErrSpace, ErrDuplicate, ErrTooMany, ErrEmptyList}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"10.23.12.24", "10.23.12.0/24", "10.23.12.5/24", "0.0.0.0/0", "10.0.0.0/0", "1.2.3.4/33",
		"::1", "2001:db8::/32", "2001:db8::1/32", "::/0", "::1/129", "fe80::1%eth0", "::ffff:10.0.0.1",
		"::ffff:10.0.0.0/120", "::ffff:0:0/95", " 1.2.3.4", "1.2.3.4/024", "", "1.2.3.4/", "/8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEntry(s)
		if err != nil {
			if p != (netip.Prefix{}) {
				t.Fatalf("ParseEntry(%q) = %v and error %v", s, p, err)
			}
			if !slices.ContainsFunc(parseSentinels, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("ParseEntry(%q): error %q has no class", s, err)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("entry %q: ", s)) {
				t.Fatalf("ParseEntry(%q): error %q does not name the entry", s, err)
			}
			if errors.Is(err, ErrHostBits) {
				checkSuggestion(t, s, err)
			}
			return
		}
		checkCanonicalEntry(t, s, p)
		if q, err := ParseEntry(FormatEntry(p)); err != nil || q != p {
			t.Fatalf("ParseEntry(%q) = %v, but FormatEntry gives %q which parses as %v, %v", s, p, FormatEntry(p), q, err)
		}
		// Agreement with the standard library where it has an opinion.
		if q, err := netip.ParsePrefix(s); err == nil && !q.Addr().Is4In6() && q != p {
			t.Fatalf("ParseEntry(%q) = %v; netip.ParsePrefix says %v", s, p, q)
		}
		if a, err := netip.ParseAddr(s); err == nil && !a.Is4In6() && netip.PrefixFrom(a, a.BitLen()) != p {
			t.Fatalf("ParseEntry(%q) = %v; netip.ParseAddr says %v", s, p, a)
		}
	})
}

// checkSuggestion checks that the canonical form a host-bits error names is
// itself a valid entry.
func checkSuggestion(t *testing.T, s string, err error) {
	t.Helper()
	msg := err.Error()
	i := strings.Index(msg, "(use ")
	if i < 0 || !strings.HasSuffix(msg, ")") {
		t.Fatalf("ParseEntry(%q): host-bits error %q names no canonical form", s, msg)
	}
	use := msg[i+len("(use ") : len(msg)-1]
	if _, err := ParseEntry(use); err != nil {
		t.Fatalf("ParseEntry(%q): suggested form %q is refused: %v", s, use, err)
	}
}

// checkCanonicalEntry checks the invariants of a parsed entry.
func checkCanonicalEntry(t *testing.T, s string, p netip.Prefix) {
	t.Helper()
	if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		t.Fatalf("ParseEntry(%q) = %v: not canonical", s, p)
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"10.23.12.24", "10.0.1.0/24,10.0.0.1,::1", "1.2.3.4,1.2.3.4/32", "1.2.3.4, 5.6.7.8", "1.2.3.4,,5.6.7.8",
		"1.2.3.4,", "", ",", "0.0.0.0/0,::/0", "10.23.12.5/24,x", "::ffff:1.2.3.4,1.2.3.4", "2001:db8::/32,2001:DB8::/32",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseList(s)
		if err != nil {
			if ps != nil {
				t.Fatalf("ParseList(%q) = %v and error %v", s, ps, err)
			}
			for _, e := range leafErrors(err) {
				if !slices.ContainsFunc(parseSentinels, func(w error) bool { return errors.Is(e, w) }) &&
					!strings.HasSuffix(e.Error(), "more problems not listed") {
					t.Fatalf("ParseList(%q): error %q has no class", s, e)
				}
			}
			return
		}
		if len(ps) == 0 || len(ps) > MaxEntries || len(ps) != strings.Count(s, ",")+1 {
			t.Fatalf("ParseList(%q): %d entries", s, len(ps))
		}
		seen := make(map[netip.Prefix]bool)
		for _, p := range ps {
			checkCanonicalEntry(t, s, p)
			if seen[p] {
				t.Fatalf("ParseList(%q): %v twice", s, p)
			}
			seen[p] = true
		}
		if qs, err := ParseList(FormatList(ps)); err != nil || !slices.Equal(qs, ps) {
			t.Fatalf("ParseList(%q) = %v, but FormatList gives %q which parses as %v, %v", s, ps, FormatList(ps), qs, err)
		}
	})
}
