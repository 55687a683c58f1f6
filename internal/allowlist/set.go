package allowlist

import (
	"net/netip"
)

// Set is the compiled allow set of one instance (W6): the union of all its
// groups' entries and every address of every host in every bound security
// group. The entry 127.0.0.1 never admits anything: it is void as soon as
// any other entry is listed or any security group is bound (even one without
// hosts), and when it is the only entry every address is denied, loopback
// included. Other loopback entries (127.0.0.2, 127.0.0.0/8, ::1) are ordinary.
//
// A Set is immutable once Compile returns it and safe for concurrent use by
// any number of goroutines. A nil *Set, and the zero Set, deny every address.
// A Set must not be copied by value; pass the pointer.
type Set struct {
	// The addresses allowed, for Allows: the union of the effective
	// prefixes as merged ranges (spans.go), one index
	// per family. Faster than bart.Fast on cache-cold IPv6 lookups (2.5
	// times before its slots held spans) in less memory: 8.9 MB for 100
	// groups of 1,000, bart.Fast ~12 (bench/RESULTS.md).
	v4, v6 *index
	size   int // distinct effective prefixes

	// For Explain: copies of the inputs, in their order.
	entries      []listed
	hosts        []member
	onlyLoopback bool // 127.0.0.1 is the only entry and nothing is bound: deny all
	loopbackVoid bool // 127.0.0.1 is listed but void
}

// listed is one group entry as Explain reports it.
type listed struct {
	group string
	p     netip.Prefix
}

// member is one host address of a bound security group.
type member struct {
	sg, id, name string
	addr         netip.Addr
}

// Compile builds the allow set of an instance from its whitelist groups and
// bound security groups (W6). It copies everything it keeps: later changes to
// groups or bound do not affect the Set.
//
// Entries are used in canonical form (IPv4-mapped prefixes as IPv4, host bits
// cleared); invalid prefixes and host addresses are ignored — run Validate on
// groups from untrusted sources first. Host addresses are unmapped and used
// without zone. A host address 127.0.0.1 is an address like any other: only
// the whitelist entry 127.0.0.1 is the "deny everything" placeholder.
func Compile(groups []Group, bound []Bound) *Set {
	s := &Set{}
	loopbackListed, othersListed := s.addEntries(groups)
	s.addHosts(bound)
	s.index()
	s.onlyLoopback = loopbackListed && !othersListed && len(bound) == 0
	s.loopbackVoid = loopbackListed && !s.onlyLoopback
	return s
}

// addEntries adds every group entry, canonical, to the list Explain reads. It
// reports whether 127.0.0.1 and whether anything else is listed.
func (s *Set) addEntries(groups []Group) (loopbackListed, othersListed bool) {
	n := 0
	for _, g := range groups {
		n += len(g.Entries)
	}
	s.entries = make([]listed, 0, n)
	lo := loopback()
	for _, g := range groups {
		for _, p := range g.Entries {
			p, ok := canonical(p)
			if !ok {
				continue
			}
			s.entries = append(s.entries, listed{group: g.Name, p: p})
			if p == lo {
				loopbackListed = true // never allows anything: see Set
				continue
			}
			othersListed = true
		}
	}
	return loopbackListed, othersListed
}

// addHosts adds every address of every host of the bound security groups,
// unmapped and unzoned, to the list Explain reads.
func (s *Set) addHosts(bound []Bound) {
	n := 0
	for _, b := range bound {
		for _, h := range b.Hosts {
			n += len(h.Addrs)
		}
	}
	s.hosts = make([]member, 0, n)
	for _, b := range bound {
		for _, h := range b.Hosts {
			for _, a := range h.Addrs {
				if !a.IsValid() {
					continue
				}
				a = unzoned(a.Unmap())
				s.hosts = append(s.hosts, member{sg: b.SecurityGroup, id: h.ID, name: h.Name, addr: a})
			}
		}
	}
}

// index builds the lookup indexes from the effective prefixes — every entry
// but 127.0.0.1, every host address — and counts the distinct ones.
func (s *Set) index() {
	var b spanSet
	lo := loopback()
	for _, e := range s.entries {
		b.count(e.p.Addr())
	}
	for _, m := range s.hosts {
		b.count(m.addr)
	}
	b.alloc()
	for _, e := range s.entries {
		if e.p != lo {
			b.add(e.p)
		}
	}
	for _, m := range s.hosts {
		b.add(netip.PrefixFrom(m.addr, m.addr.BitLen()))
	}
	v4, v6, distinct := b.merged()
	s.v4, s.v6, s.size = newIndex(v4), newIndex(v6), distinct
}

// canonical returns p as ParseEntry would: IPv4-mapped prefixes in IPv4
// form, host bits cleared. ok is false for an invalid prefix.
func canonical(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= mappedBits {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-mappedBits)
	}
	return p.Masked(), true
}

// unzoned returns a without its IPv6 zone.
func unzoned(a netip.Addr) netip.Addr {
	if a.Zone() == "" {
		return a
	}
	return a.WithZone("")
}

// Allows reports whether a client at address a may connect (W6, W8). An
// IPv4-mapped IPv6 address is judged as its IPv4 address; an IPv6 zone is
// ignored; the invalid Addr is denied. This is the data plane's hot path: it
// does not allocate.
func (s *Set) Allows(a netip.Addr) bool {
	if s == nil || s.v4 == nil {
		return false
	}
	switch a = a.Unmap(); {
	case a.Is4():
		return s.v4.contains(key4(a))
	case a.Is6():
		return s.v6.contains(key6(a))
	}
	return false
}

// Entries returns the number of distinct prefixes in effect: group entries
// (without a void 127.0.0.1) and host addresses, each counted once however
// many groups or hosts list it. A nil Set has none.
func (s *Set) Entries() int {
	if s == nil {
		return 0
	}
	return s.size
}
