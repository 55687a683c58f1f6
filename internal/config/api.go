package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrTrustedProxy is the reason a trusted-proxy entry is refused.
var ErrTrustedProxy = errors.New("want an IP address or a CIDR prefix (10.0.0.5, 10.0.0.0/24, fd00::/64)")

// ParseProxy parses one trusted-proxy entry: an address (a single-address prefix) or a CIDR prefix,
// masked to its network.
func ParseProxy(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: %w", s, ErrTrustedProxy)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
	}
	return p.Masked(), nil
}

// checkAPI validates the file's API listener settings.
func checkAPI(f *File, p *problems) {
	if f.APIMaxConns < 0 {
		p.add("api_max_conns", fmt.Sprint(f.APIMaxConns), "want a number of connections, or 0 for the default")
	}
	if f.APIMaxConnsPerAddr < 0 {
		p.add("api_max_conns_per_addr", fmt.Sprint(f.APIMaxConnsPerAddr), "want a number of connections, or 0 for the default")
	}
	for i, e := range f.APITrustedProxies {
		if _, err := ParseProxy(e); err != nil {
			p.add(fmt.Sprintf("api_trusted_proxies[%d]", i), e, ErrTrustedProxy.Error())
		}
	}
	if f.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(f.MetricsListen); err != nil {
			p.add("metrics_listen", f.MetricsListen, "want host:port")
		}
	}
}
