//go:build linux

package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moat-dev/moat/internal/snapshot"
)

// acceptLoop accepts on ln's socket itself (accept4), so that a connection the snapshot refuses on its
// address alone (the whitelist stage, snapshot.RuleNone) is refused with three system calls — accept4,
// one write of the reply, close — without becoming a net.Conn: no poller registration, no goroutine,
// no pacing. A flood of refused addresses then costs a few microseconds a connection and never holds
// up the accept queue that allowed clients wait in. Every other connection is served as a net.Conn
// made of the socket as it is (sockConn: two system calls more; its options are the listener's,
// listenControl) and admitted as on other systems.
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
	laddr, _ := tl.Addr().(*net.TCPAddr)
	var backoff time.Duration
	for {
		var nfd int
		var sa syscall.Sockaddr
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, sa, aerr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
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
		in.handleFD(nfd, sa, laddr, secure)
	}
}

// handleFD judges an accepted socket by its peer's address: refused at once when the verdict's
// whitelist stage refuses it, else served as a net.Conn (sockConn) and judged in full (admit). A peer
// that reset the connection before it was accepted is served like one that resets later: its first
// read fails.
func (in *Instance) handleFD(fd int, sa syscall.Sockaddr, ln *net.TCPAddr, secure bool) {
	peer := sockaddrPort(sa)
	addr := peer.Addr()
	snap := in.snap.Load()
	v := snap.Admit(snapshot.Conn{Peer: addr, TLS: secure, Accepting: true})
	if v.By == snapshot.RuleNone {
		in.noteRefusal(peer, addr, v.Reason)
		_, _ = unix.Write(fd, v.Reply()) // a fresh socket's send buffer takes a one-line reply whole
		unix.Close(fd)
		return
	}
	fd, err := aboveStdio(fd)
	if err != nil {
		in.log.Error("accept failed", "client", peer.String(), "err", err)
		return
	}
	in.admit(newSockConn(fd, sa, ln), addr, snap, secure, v)
}

// sockaddrPort is sa's address and port, an IPv4-mapped IPv6 address unmapped (W8); the zero AddrPort
// (which no allow set contains) for any other kind.
func sockaddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
