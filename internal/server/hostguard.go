package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane/api"
)

// hostGuard refuses requests whose Host header names a host that is not moat's (DNS rebinding: a
// page on another site whose name the attacker has pointed at moat's address), and takes the client's
// address from X-Forwarded-For when, and only when, the peer is a trusted proxy.
//
// moat's hosts are: "localhost" and names under ".localhost", loopback IP literals, the listener's own
// IP when it is not a wildcard, this machine's interface addresses when it is, and the configured
// names (--api-host). The port is not compared: the connection reached moat's port already.
// A hostGuard is immutable once built and safe for concurrent use.
type hostGuard struct {
	names   map[string]bool // lower case, IP literals unbracketed
	proxies []netip.Prefix
}

// newHostGuard builds the guard of a listener bound to listen.
func newHostGuard(listen net.Addr, extra, proxies []string) (*hostGuard, error) {
	g := &hostGuard{names: map[string]bool{}}
	for _, n := range extra {
		g.names[normalHost(n)] = true
	}
	if ta, ok := listen.(*net.TCPAddr); ok {
		ip := ta.AddrPort().Addr().Unmap()
		if ip.IsUnspecified() {
			addrs, err := net.InterfaceAddrs()
			if err != nil {
				return nil, fmt.Errorf("listing this machine's addresses for the Host check: %w", err)
			}
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					g.names[p.Addr().Unmap().WithZone("").String()] = true
				}
			}
		} else {
			g.names[ip.WithZone("").String()] = true
		}
	}
	for _, e := range proxies {
		p, err := config.ParseProxy(e)
		if err != nil {
			return nil, fmt.Errorf("--api-trusted-proxy: %w", err)
		}
		g.proxies = append(g.proxies, p)
	}
	return g, nil
}

// normalHost is a Host header's host, without port, brackets, zone or a final dot, in lower case.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return h
}

// allows reports whether host (a Host header, with or without port) names moat. A request without a
// Host (HTTP/1.0) is allowed: browsers always send one.
func (g *hostGuard) allows(host string) bool {
	if host == "" {
		return true
	}
	h := normalHost(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || g.names[h] {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// trusted reports whether addr is a configured trusted proxy.
func (g *hostGuard) trusted(addr netip.Addr) bool {
	for _, p := range g.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// client is the address a request comes from: the peer, or, when the peer is a trusted proxy, the
// last address in X-Forwarded-For that is not itself a trusted proxy (entries before it could be
// written by anyone).
func (g *hostGuard) client(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	peer := ap.Addr().Unmap()
	if !g.trusted(peer) {
		return peer, false
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer, false // malformed: keep the proxy's own address rather than guess
		}
		if a = a.Unmap().WithZone(""); !g.trusted(a) {
			return a, true
		}
	}
	return peer, false
}

// wrap puts the guard in front of h: a foreign Host gets 421 Misdirected Request; a request relayed by
// a trusted proxy reaches h with RemoteAddr set to its client's address (port 0). A request with a
// Transfer-Encoding gets 501 and the connection is closed: net/http takes a chunked body over a
// Content-Length sent with it, which a proxy in front may read the other way (request smuggling), and
// no SDK or moat client sends one.
func (g *hostGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			api.WriteError(w, r, api.ErrTransferEncoding)
			return
		}
		if !g.allows(r.Host) {
			api.WriteError(w, r, api.ErrMisdirected)
			return
		}
		if c, relayed := g.client(r); relayed {
			r = r.Clone(r.Context())
			r.RemoteAddr = netip.AddrPortFrom(c, 0).String()
		}
		h.ServeHTTP(w, r)
	})
}
