package allowlist

import "net/netip"

// SourceOf is the block a client is counted by wherever moat limits clients (the data plane's login
// lockout, the console's login limit, the API's failed-authentication budget and per-address
// connection cap): its IPv4 address (an IPv4-mapped one too), or its IPv6 /64, what one host or one
// customer usually gets, so that rotating through a /64 is not a fresh start. An invalid address has
// the zero prefix, shared by all such.
func SourceOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p
	}
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	return netip.Prefix{}
}
