package gateway_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Attacks on the admission verdict (issue 15): every path a connection can take around snapshot.Admit.
// Each case checks the real connection's answer, and that it is the answer CheckAccess derives from the
// same snapshot (snapshot.Verdict.ReplyText of snapshot.Admit).

// verdictReply is what CheckAccess announces for conn under snap, as the wire bytes a PING gets:
// +PONG when admitted, else the refusal ("" when the connection is closed without a word).
func verdictReply(snap *snapshot.Snapshot, conn snapshot.Conn) string {
	v := snap.Admit(conn)
	if v.Admitted {
		return pong
	}
	if r := v.ReplyText(); r != "" {
		return r + "\r\n"
	}
	return ""
}

const pong = "+PONG\r\n"

// wantVerdict checks that snap's verdict on conn announces reply, the gateway's answer to a PING.
func wantVerdict(t *testing.T, snap *snapshot.Snapshot, conn snapshot.Conn, reply string) {
	t.Helper()
	if got := verdictReply(snap, conn); got != reply {
		v := snap.Admit(conn)
		t.Errorf("Admit(%+v) = %+v announcing %q; the gateway answered %q", conn, v, truncate(got), truncate(reply))
	}
}

// A PROXY header from a peer the instance does not trust never lends the peer the address it carries:
// an unlisted peer is refused as itself, and a listed one gets a protocol error, on both listeners.
func TestAdversarialUntrustedProxyBorrowsNoAddress(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	snap := compile([]allowlist.Group{group(t, "default", "127.0.0.7,127.0.0.8")})
	snap.ProxyTrusted = []netip.Prefix{netip.MustParsePrefix(lb + "/32")}
	e := newEnv(t, snap, withTLS(f.source(t, f.options("no"))))
	a := netip.MustParseAddr
	// 127.0.0.9 is listed nowhere; its header claims the listed 127.0.0.7.
	c := dial(t, e.addr, "127.0.0.9")
	c.send(headerV1("127.0.0.7", 1) + cmd("PING"))
	c.expect(illegalAddress)
	wantVerdict(t, snap, snapshot.Conn{Peer: a("127.0.0.9"), Proxy: true, Client: a("127.0.0.7")}, illegalAddress)
	tc := dial(t, e.tlsAddr(), "127.0.0.9")
	tc.send(headerV2(t, "127.0.0.7", 1))
	tc.expect(illegalAddress) // in clear, before any handshake
	wantVerdict(t, snap, snapshot.Conn{Peer: a("127.0.0.9"), TLS: true, Proxy: true, Client: a("127.0.0.7")}, illegalAddress)
	// 127.0.0.8 is listed: its header is a protocol error, not a change of address.
	const untrusted = "-ERR Protocol error: PROXY protocol header from an address not in proxy-protocol\r\n"
	c = dial(t, e.addr, "127.0.0.8")
	c.send(headerV1("10.66.0.1", 1) + cmd("PING"))
	c.expect(untrusted)
	c.expectEOF(replyTimeout)
	wantVerdict(t, snap, snapshot.Conn{Peer: a("127.0.0.8"), Proxy: true, Client: a("10.66.0.1")}, untrusted)
	tc = dial(t, e.tlsAddr(), "127.0.0.8")
	tc.send(headerV1("10.66.0.1", 1))
	tc.expectEOF(replyTimeout) // the handshake fails on the header: closed without a word
	wantVerdict(t, snap, snapshot.Conn{Peer: a("127.0.0.8"), TLS: true, Proxy: true, Client: a("10.66.0.1")}, "")
	if v := snap.Admit(snapshot.Conn{Peer: a("127.0.0.8"), TLS: true, Proxy: true, Client: a("10.66.0.1")}); v.Admitted {
		t.Errorf("an untrusted header on TLS is admitted: %+v", v)
	}
}

// Trust withdrawn while a balancer's connection waits for its header: the header that then comes is
// judged under the new snapshot — a protocol error, not the carried address — and an address the new
// whitelist drops is refused though it was listed when the balancer connected.
func TestAdversarialSnapshotChangesBeforeTheHeader(t *testing.T) {
	t.Parallel()
	snap := proxySnap(t) // 127.0.0.0/8, 10.1.2.3, 2001:db8::7; lb trusted
	e := newEnv(t, snap)
	c := dial(t, e.addr, lb)
	untrust := proxySnap(t)
	untrust.ProxyTrusted = nil
	e.gw.Publish(untrust)
	c.send(headerV1("10.1.2.3", 1) + cmd("PING"))
	c.expect("-ERR Protocol error: PROXY protocol header from an address not in proxy-protocol\r\n")
	c.expectEOF(replyTimeout)

	e.gw.Publish(snap)
	c = dial(t, e.addr, lb)
	narrow := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8")})
	narrow.ProxyTrusted = snap.ProxyTrusted
	e.gw.Publish(narrow)
	c.send(headerV1("10.1.2.3", 2) + cmd("PING"))
	c.expect(illegalAddress)
	c.expectEOF(replyTimeout)
	wantVerdict(t, narrow, snapshot.Conn{Peer: netip.MustParseAddr(lb), Proxy: true, Client: netip.MustParseAddr("10.1.2.3")}, illegalAddress)
}

// IPv4-mapped IPv6 in a PROXY header is judged as IPv4 (W8) — for the whitelist, for the VPC and for
// protected mode's loopback — never as a distinct IPv6 address a whitelist or a rule could miss.
func TestAdversarialMappedAddressesBehindABalancer(t *testing.T) {
	t.Parallel()
	snap := proxySnap(t)
	snap.VPCFree = allowlist.Compile([]allowlist.Group{group(t, "vpc", "10.8.0.0/16")}, nil)
	e := newEnv(t, snap)
	peer := netip.MustParseAddr(lb)
	for carried, want := range map[string]string{
		"::ffff:10.1.2.3":  pong,           // listed as 10.1.2.3
		"::ffff:10.9.9.9":  illegalAddress, // listed nowhere
		"::ffff:10.8.0.1":  pong,           // the VPC, password-free, whitelist not applied
		"::ffff:127.0.0.9": pong,           // loopback
		"::ffff:0:a01:203": illegalAddress, // IPv4-translated (SIIT), not mapped: an IPv6 address
	} {
		c := dial(t, e.addr, lb)
		c.send(headerV1(carried, 1) + cmd("PING"))
		c.expect(want)
		wantVerdict(t, snap, snapshot.Conn{Peer: peer, Proxy: true, Client: netip.MustParseAddr(carried)}, want)
	}

	// Protected mode: the mapped loopback address is local, the mapped VPC address is not.
	prot := proxySnap(t)
	prot.VPCFree = snap.VPCFree
	prot.ProtectedMode, prot.DefaultUserNoPass = true, true
	e.gw.Publish(prot)
	for carried, want := range map[string]string{"::ffff:127.0.0.9": pong, "::ffff:10.8.0.1": deniedText, "::ffff:10.1.2.3": deniedText} {
		c := dial(t, e.addr, lb)
		c.send(headerV1(carried, 1) + cmd("PING"))
		c.expect(want)
		wantVerdict(t, prot, snapshot.Conn{Peer: peer, Proxy: true, Client: netip.MustParseAddr(carried)}, want)
	}
}

// Protected mode over TLS and plain: a whitelisted or password-free VPC client from another host is
// refused on both listeners — on accept on the plain one, after the handshake (so that it can read the
// text) on the TLS one — while an address refused by the whitelist is told so in clear before any
// handshake. A default-user password lifts protected mode for both.
func TestAdversarialProtectedModeTLSAndPlain(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	snap := proxySnap(t)
	snap.VPCFree = allowlist.Compile([]allowlist.Group{group(t, "vpc", "10.8.0.0/16")}, nil)
	snap.ProtectedMode, snap.DefaultUserNoPass = true, true
	e := newEnv(t, snap, withTLS(f.source(t, f.options("no"))))
	peer := netip.MustParseAddr(lb)
	for _, carried := range []string{"10.1.2.3", "10.8.0.1", "10.9.9.9"} {
		want := deniedText
		if carried == "10.9.9.9" {
			want = illegalAddress
		}
		c := dial(t, e.addr, lb)
		c.send(headerV1(carried, 1))
		c.expect(want)
		c.expectEOF(replyTimeout)
		wantVerdict(t, snap, snapshot.Conn{Peer: peer, Proxy: true, Client: netip.MustParseAddr(carried)}, want)

		conn := snapshot.Conn{Peer: peer, TLS: true, Proxy: true, Client: netip.MustParseAddr(carried)}
		if v := snap.Admit(conn); v.AfterHandshake != (want == deniedText) {
			t.Errorf("Admit(%+v).AfterHandshake = %v", conn, v.AfterHandshake)
		}
		wantVerdict(t, snap, conn, want)
		raw := dial(t, e.tlsAddr(), lb)
		raw.send(headerV1(carried, 1))
		if want == illegalAddress {
			raw.expect(illegalAddress) // in clear
			continue
		}
		tc := tls.Client(raw.c, f.clientConfig(nil))
		tc.SetDeadline(time.Now().Add(replyTimeout))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("%s: the handshake before -DENIED failed: %v", carried, err)
		}
		(&client{c: tc, br: bufio.NewReader(tc)}).attach(t).expect(deniedText)
	}

	open := proxySnap(t)
	open.VPCFree = snap.VPCFree
	open.ProtectedMode = true // the default user has a password: protected mode does not apply
	e.gw.Publish(open)
	for _, carried := range []string{"10.1.2.3", "10.8.0.1"} {
		c := dial(t, e.addr, lb)
		c.send(headerV1(carried, 1) + cmd("PING"))
		c.expect(pong)
		wantVerdict(t, open, snapshot.Conn{Peer: peer, TLS: true, Proxy: true, Client: netip.MustParseAddr(carried)}, pong)
	}
}

// A trusted balancer that sends no header is not admitted as itself, and says so before any handshake.
func TestAdversarialBalancerWithoutHeader(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	snap := proxySnap(t)
	e := newEnv(t, snap, withTLS(f.source(t, f.options("no"))))
	const expected = "-ERR Protocol error: expected a PROXY protocol header from this load balancer\r\n"
	c := dial(t, e.addr, lb)
	c.send(cmd("PING"))
	c.expect(expected)
	wantVerdict(t, snap, snapshot.Conn{Peer: netip.MustParseAddr(lb)}, expected)
	// On the TLS listener the ClientHello is no header either; the reply comes in clear.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(lb)}}
	raw, err := d.Dial("tcp", e.tlsAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(replyTimeout))
	if err := tls.Client(raw, f.clientConfig(nil)).Handshake(); err == nil {
		t.Fatal("a TLS handshake without a PROXY header succeeded from a trusted balancer")
	}
	wantVerdict(t, snap, snapshot.Conn{Peer: netip.MustParseAddr(lb), TLS: true}, expected)
	// On accept, the same balancer is admitted to send its header.
	if v := snap.Admit(snapshot.Conn{Peer: netip.MustParseAddr(lb), Accepting: true}); !v.Admitted || v.By != snapshot.RuleAwaitPROXY {
		t.Errorf("on accept, a trusted balancer: %+v", v)
	}
}
