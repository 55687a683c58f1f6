package allowlist

import "net/netip"

// Host is a member of a security group, as far as the allow set cares: its
// ID, its name and every private and public address it has (SG2).
type Host struct {
	ID, Name string
	Addrs    []netip.Addr
}

// Bound is a security group bound to the instance, with its member hosts at
// the time of compiling. A bound group grants access by membership only
// (SG4): every address of every host is allowed. Binding a group, even one
// without hosts, voids the entry 127.0.0.1 (W6).
type Bound struct {
	SecurityGroup string
	Hosts         []Host
}
