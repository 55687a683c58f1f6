//go:build linux

package gateway_test

import (
	"net/netip"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/snapshot"
)

// A balancer on another host cannot make a client local for protected mode by carrying a loopback
// address: that address is the balancer's own loopback. Only when both the balancer and the carried
// address are loopback is the client local (N2, N5).
func TestAdversarialRemoteBalancerCarriesLoopback(t *testing.T) {
	o := newOutside(t)
	snap := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8")})
	snap.ProxyTrusted = []netip.Prefix{netip.MustParsePrefix(o.peerIP + "/32"), netip.MustParsePrefix(lb + "/32")}
	snap.ProtectedMode, snap.DefaultUserNoPass = true, true
	e := newEnv(t, snap, withListen(o.hostIP+":0", "127.0.0.1:0"))
	remote := o.dial(t, e.gw.Addrs()[0].String())
	remote.send(headerV1("127.0.0.9", 1) + cmd("PING"))
	remote.expect(deniedText)
	remote.expectEOF(replyTimeout)
	wantVerdict(t, snap, snapshot.Conn{Peer: netip.MustParseAddr(o.peerIP), Proxy: true, Client: netip.MustParseAddr("127.0.0.9")}, deniedText)

	local := dial(t, e.gw.Addrs()[1].String(), lb)
	local.send(headerV1("127.0.0.9", 2) + cmd("PING"))
	local.expect(pong)
	wantVerdict(t, snap, snapshot.Conn{Peer: netip.MustParseAddr(lb), Proxy: true, Client: netip.MustParseAddr("127.0.0.9")}, pong)
}

// A PROXY header from a remote peer the instance does not trust, under protected mode: on the plain
// listener the peer is refused with -DENIED on accept, before its header is read; on the TLS listener
// the header breaks the handshake first and the connection is closed without a word.
func TestAdversarialUntrustedRemoteHeaderUnderProtectedMode(t *testing.T) {
	o := newOutside(t)
	f := newTLSFixture(t)
	snap := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,"+o.peerIP)})
	snap.ProtectedMode, snap.DefaultUserNoPass = true, true
	e := o.env(t, f, snap)
	peer, carried := netip.MustParseAddr(o.peerIP), netip.MustParseAddr("127.0.0.9")
	c := o.dial(t, e.addr)
	c.expect(deniedText)
	wantVerdict(t, snap, snapshot.Conn{Peer: peer, Proxy: true, Client: carried}, deniedText)
	tc := o.dial(t, e.tlsAddr())
	tc.send(headerV1("127.0.0.9", 1))
	tc.expectEOF(replyTimeout)
	wantVerdict(t, snap, snapshot.Conn{Peer: peer, TLS: true, Proxy: true, Client: carried}, "")
}
