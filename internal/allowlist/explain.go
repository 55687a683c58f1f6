package allowlist

import (
	"fmt"
	"net/netip"
)

// Match is one reason an address is allowed: either a group entry (Group and
// Entry set) or a host of a bound security group (SecurityGroup and Host set,
// Entry holding the host address that matched).
type Match struct {
	Group, Entry        string
	SecurityGroup, Host string
}

// Verdict is the answer to "would this address be allowed?" (API6).
type Verdict struct {
	Allowed bool
	Matches []Match // every entry and host address that admits the address, in input order
	Reason  string  // one sentence saying why
}

// Explain returns the verdict for a client at address a, with every entry and
// host that admits it. Allowed always equals Allows(a). It is meant for the
// control plane: it scans linearly and allocates.
func (s *Set) Explain(a netip.Addr) Verdict {
	if s == nil {
		return Verdict{Reason: "no allow set is in effect: every address is denied"}
	}
	if !a.IsValid() {
		return Verdict{Reason: "the address is not valid: it is denied"}
	}
	a = unzoned(a.Unmap())
	if s.onlyLoopback {
		return Verdict{Reason: "only 127.0.0.1 is listed: every address is denied"}
	}
	var v Verdict
	first := "" // the source of the first match
	loopbackMatched := false
	for _, e := range s.entries {
		if !e.p.Contains(a) {
			continue
		}
		if e.p == loopback() {
			loopbackMatched = true // void: see Compile
			continue
		}
		m := Match{Group: e.group, Entry: FormatEntry(e.p)}
		if first == "" {
			first = fmt.Sprintf("group %q entry %s", m.Group, m.Entry)
		}
		v.Matches = append(v.Matches, m)
	}
	for _, h := range s.hosts {
		if h.addr == a {
			m := Match{SecurityGroup: h.sg, Host: h.id, Entry: h.addr.String()}
			if first == "" {
				first = fmt.Sprintf("security group %q host %q address %s", m.SecurityGroup, m.Host, m.Entry)
				if h.name != "" {
					first = fmt.Sprintf("security group %q host %q (%s) address %s", m.SecurityGroup, m.Host, h.name, m.Entry)
				}
			}
			v.Matches = append(v.Matches, m)
		}
	}
	v.Allowed = len(v.Matches) > 0
	switch {
	case v.Allowed:
		v.Reason = "allowed by " + first
		if n := len(v.Matches) - 1; n == 1 {
			v.Reason += " and 1 other match"
		} else if n > 1 {
			v.Reason += fmt.Sprintf(" and %d other matches", n)
		}
	case loopbackMatched && s.loopbackVoid:
		v.Reason = "127.0.0.1 is listed but void because other entries or security groups are in effect, and nothing else lists 127.0.0.1"
	default:
		v.Reason = fmt.Sprintf("no group or security group lists %s", a)
	}
	return v
}
