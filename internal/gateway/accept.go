package gateway

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/moat-dev/moat/internal/snapshot"
)

// Stage 1, accept: a listener's loop hands each new connection to handle, which judges its peer address
// before a byte is read (W8) and passes the verdict to admit (admit.go). accept_linux.go's loop refuses
// whitelist refusals on the raw socket; acceptConns is the loop elsewhere.

// acceptConns accepts connections from ln until it is closed and judges each (handle); the accept
// loop of systems without accept_linux.go's, and of listeners that are not TCP.
func (in *Instance) acceptConns(ln net.Listener, secure bool) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			in.log.Error("accept failed", "listen", ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		in.handle(conn, secure)
	}
}

// handle judges a new connection before reading a byte from it (W8), and before any TLS handshake,
// and starts its session if allowed (admit.go). The verdict is the snapshot's (snapshot.Admit); the
// order of the checks is admit's. Refusals are handled right here on the accept goroutine (one write
// and one close), or paced during a flood (refuse.go). A connection from a trusted load balancer is
// judged by the address its PROXY header carries, which its session reads first (N5).
func (in *Instance) handle(conn net.Conn, secure bool) {
	addr := peerAddr(conn)
	snap := in.snap.Load()
	in.admit(conn, addr, snap, secure, snap.Admit(snapshot.Conn{Peer: addr, TLS: secure, Accepting: true}))
}

// peerAddr returns the peer's IP address, IPv4-mapped IPv6 unmapped (W8). An address that cannot be
// determined is the zero Addr, which no allow set contains.
func peerAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
