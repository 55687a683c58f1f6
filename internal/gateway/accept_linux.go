//go:build linux

package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moat-dev/moat/internal/snapshot"
)

// acceptLoop accepts on ln's socket itself (accept4), so that a connection the snapshot refuses on its
// address alone (the whitelist stage, snapshot.RuleNone) is refused with three system calls — accept4,
// one write of the reply, close — without becoming a net.Conn: no poller registration, no keep-alive
// options, no goroutine, no pacing. A flood of refused addresses then costs a few microseconds a
// connection and never holds up the accept queue that allowed clients wait in. Every other connection
// becomes a net.Conn (with Go's default keep-alive) and goes through handle as on other systems.
func (in *Instance) acceptLoop(ln net.Listener, secure bool) {
	defer in.wg.Done()
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		in.acceptConns(ln, secure)
		return
	}
	// The listener's own SyscallConn cannot wait for reads; a duplicate of its socket (non-blocking, as
	// Go made it) can, through the poller. Close ends the loop by closing it (ln's Close alone would
	// leave the socket listening).
	lf, err := tl.File()
	if err != nil {
		in.acceptConns(ln, secure)
		return
	}
	defer lf.Close()
	rc, err := lf.SyscallConn()
	if err != nil {
		in.acceptConns(ln, secure)
		return
	}
	closed := make(chan struct{})
	stop := context.AfterFunc(in.closing, func() { lf.Close(); close(closed) })
	defer func() {
		if !stop() { // Close ran the func on a goroutine of its own: wait for it, so that Close does
			<-closed
		}
	}()
	var backoff time.Duration
	for {
		var nfd int
		var sa unix.Sockaddr
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return !errors.Is(aerr, unix.EAGAIN) // false: wait until a connection is there
		})
		switch {
		case err != nil: // the instance closed it
			return
		case errors.Is(aerr, unix.ECONNABORTED) || errors.Is(aerr, unix.EINTR):
			continue
		case aerr != nil:
			// Out of file descriptors and the like: wait a little rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			in.log.Error("accept failed", "listen", ln.Addr().String(), "err", aerr, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		in.handleFD(nfd, sockaddrPort(sa), secure)
	}
}

// handleFD judges an accepted socket by its peer's address: refused at once when the verdict's
// whitelist stage refuses it, else made a net.Conn and judged in full (handle).
func (in *Instance) handleFD(fd int, peer netip.AddrPort, secure bool) {
	addr := peer.Addr()
	snap := in.snap.Load()
	v := snap.Admit(snapshot.Conn{Peer: addr, TLS: secure, Accepting: true})
	if v.By == snapshot.RuleNone {
		in.noteRefusal(peer, addr, v.Reason)
		_, _ = unix.Write(fd, v.Reply()) // a fresh socket's send buffer takes a one-line reply whole
		unix.Close(fd)
		return
	}
	conn, err := fileConn(fd)
	if err != nil {
		in.log.Error("accept failed", "client", peer.String(), "err", err)
		return
	}
	if conn == nil { // the peer left already: nothing to serve
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true}) // what net.Listener.Accept sets
	}
	in.admit(conn, addr, snap, secure, v)
}

// fileConn makes the accepted socket fd a net.Conn (a dup of fd, registered with Go's poller; fd is
// closed). It returns nil and no error when the peer has gone already (reset before it was looked at:
// the conn would have no remote address).
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if conn.RemoteAddr() == nil {
		conn.Close()
		return nil, nil
	}
	return conn, nil
}

// sockaddrPort is sa's address and port, an IPv4-mapped IPv6 address unmapped (W8); the zero AddrPort
// (which no allow set contains) for any other kind.
func sockaddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
