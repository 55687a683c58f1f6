package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/moat-dev/moat/internal/snapshot"
)

// Stage 2, the handshake, on the session's goroutine before it relays (session.open): the PROXY header
// of a trusted load balancer, whose client address is then judged as a direct peer's, and the TLS
// handshake, both under the instance's handshake timeout.

// open does what must happen before a session relays: read the PROXY header of a trusted load
// balancer and judge the address it carries, the TLS handshake, and a refusal the verdict defers to
// after the handshake (protected mode over TLS). It reports whether the session may go on; when not,
// the connection is closed.
func (s *session) open() bool {
	if s.client.proxied && !s.readProxyHeader() {
		return false
	}
	if s.client.secure {
		if !s.handshake() {
			return false
		}
		if r := s.client.deferred; r != "" {
			s.in.refuseAs(s.conn, s.peer, s.addr, r, snapshot.Verdict{Reason: r}.Reply())
			return false
		}
	}
	return true
}

// handshake runs the TLS handshake under the instance's handshake timeout.
func (s *session) handshake() bool {
	tc := s.conn.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(s.in.accept.handshakeTimeout))
	err := tc.Handshake()
	if err == nil {
		tc.SetDeadline(time.Time{})
		return true
	}
	reason := ReasonTLSHandshake
	var rh tls.RecordHeaderError
	// The record header holds the first 5 bytes: a signature's first 5 are evidence enough.
	if errors.As(err, &rh) && proxySignature(rh.RecordHeader[:]) != sigNo {
		reason = ReasonProtocolError // a PROXY header from a peer not in proxy-protocol
		err = errProxyUntrusted
	}
	s.in.log.Debug("TLS handshake failed", "client", s.peer, "err", err)
	s.in.refuseAs(s.client.raw, s.peer, s.addr, reason, nil)
	return false
}

var errProxyUntrusted = errors.New("PROXY protocol header from an address not in proxy-protocol")

// readProxyHeader reads the PROXY header a trusted load balancer sends first (v1 or v2), then takes the
// client address it carries through the checks admit makes on a direct peer, in the same order: the
// snapshot's verdict on it (snapshot.Admit, with the balancer as the peer), the per-address limit,
// protected mode. A LOCAL header (the balancer's own health check) and a v1 UNKNOWN one are judged as
// the balancer; one carrying a UDP or unix-socket client is a protocol error.
func (s *session) readProxyHeader() bool {
	in := s.in
	br := bufio.NewReaderSize(s.client.raw, 256)
	hdr, err := proxyproto.ReadHeaderTimeout(s.client.raw, br, in.accept.handshakeTimeout)
	if err != nil {
		in.log.Info("closing connection: no valid PROXY header from a trusted load balancer", "lb", s.peer, "err", err)
		in.refuse(s.client.raw, s.addr, ReasonProtocolError, snapshot.ReplyProxyExpected)
		return false
	}
	client := s.client.lb
	if hdr.Command.IsProxy() {
		switch ta, ok := hdr.SourceAddr.(*net.TCPAddr); {
		case ok:
			ap := ta.AddrPort()
			client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		case hdr.TransportProtocol.IsUnspec(): // v1 "PROXY UNKNOWN": the balancer's own, as the protocol says
		default: // a UDP or unix-socket client: not one of a TCP service, and no address to judge
			in.log.Info("closing connection: the PROXY header carries no TCP client address", "lb", s.peer, "family_protocol", fmt.Sprintf("%#02x", byte(hdr.TransportProtocol)))
			in.refuse(s.client.raw, s.addr, ReasonProtocolError, snapshot.ReplyProxyNotTCP)
			return false
		}
	}
	var conn net.Conn = &bufferedConn{Conn: s.client.raw, r: br}
	if br.Buffered() == 0 {
		conn = s.client.raw
	}
	addr, peer := client.Addr(), client.String()
	snap := in.snap.Load()
	v := snap.Admit(snapshot.Conn{Peer: s.client.lb.Addr(), TLS: s.client.secure, Proxy: true, Client: addr})
	if v.By == snapshot.RuleNone {
		in.refuseAs(conn, peer, addr, v.Reason, v.Reply())
		return false
	}
	if s.client.secure {
		conn = tls.Server(conn, in.accept.tls.Config())
	}
	in.mu.Lock()
	if in.overIPLimit(addr, snap) {
		in.mu.Unlock()
		in.refuseAs(conn, peer, addr, ReasonMaxClients, replyMaxClients)
		return false
	}
	if !v.Admitted && (!v.AfterHandshake || v.Reason != snapshot.ReasonProtectedMode) {
		// Protected mode on a plain listener; or the balancer is no longer trusted (the snapshot
		// changed since accept), so its header was a protocol error.
		in.mu.Unlock()
		in.refuseAs(s.client.raw, peer, addr, v.Reason, v.Reply())
		return false
	}
	delete(in.accept.pending, s)
	s.addr, s.client.addrPort, s.conn, s.peer = addr, client, conn, peer
	if !v.Admitted {
		s.client.deferred = v.Reason
	}
	in.enter(s)
	in.mu.Unlock()
	in.m.accepted.Inc()
	return true
}

// bufferedConn reads what a bufio.Reader holds before reading the connection again.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}
