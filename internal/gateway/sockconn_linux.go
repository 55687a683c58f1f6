//go:build linux

package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sockConn is a client socket the accept loop took itself (accept4), served as a net.Conn: the socket
// registered with Go's poller as it is. net.FileConn would duplicate it, look up its type and both
// addresses, register both descriptors and set TCP_NODELAY and four keep-alive options on it — 15
// system calls a connection, a third of what a new connection cost moat. Here it is one fcntl and one
// epoll_ctl: the addresses come from accept4 and the listener, and the options from the listening
// socket, which every socket it accepts inherits on Linux (listenControl).
//
// Its errors are those of *net.TCPConn (a *net.OpError; net.ErrClosed once closed; io.EOF at the end),
// so callers cannot tell the two apart but by type.
type sockConn struct {
	f            *os.File
	laddr, raddr *net.TCPAddr
}

// newSockConn serves the accepted socket fd (non-blocking), whose peer accept4 reported as sa, on the
// listener whose address is ln.
func newSockConn(fd int, sa syscall.Sockaddr, ln *net.TCPAddr) *sockConn {
	laddr := ln
	if ln == nil || ln.IP.IsUnspecified() { // a wildcard listener: the address the client reached
		if local, err := syscall.Getsockname(fd); err == nil {
			laddr = tcpAddr(local)
		}
	}
	return &sockConn{f: os.NewFile(uintptr(fd), ""), laddr: laddr, raddr: tcpAddr(sa)}
}

// aboveStdio returns fd, or, when it is 0, 1 or 2 (a process started with standard streams closed), a
// duplicate of it above them (fd is closed): an *os.File of descriptor 1 or 2 raises SIGPIPE on a
// write that fails with EPIPE (os.File.Write, for `prog | head`), which ends the process.
func aboveStdio(fd int) (int, error) {
	if fd > 2 {
		return fd, nil
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	unix.Close(fd)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}

// socketConn serves fd, a non-blocking TCP socket whose addresses are known already (a parked
// session's, as it leaves the waiting room), as a net.Conn.
func socketConn(fd int, laddr, raddr net.Addr) (net.Conn, error) {
	la, lok := laddr.(*net.TCPAddr)
	ra, rok := raddr.(*net.TCPAddr)
	if !lok || !rok {
		return fileConn(fd)
	}
	fd, err := aboveStdio(fd)
	if err != nil {
		return nil, err
	}
	return &sockConn{f: os.NewFile(uintptr(fd), ""), laddr: la, raddr: ra}, nil
}

// tcpAddr is sa as net reports a TCP socket's address; nil for any other kind.
func tcpAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		zone := ""
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			} else {
				zone = strconv.Itoa(int(a.ZoneId))
			}
		}
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port, Zone: zone}
	}
	return nil
}

func (*sockConn) tcpSocket() {}

func (c *sockConn) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	if err != nil && err != io.EOF {
		err = c.opError("read", err)
	}
	return n, err
}

func (c *sockConn) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	if err != nil {
		err = c.opError("write", err)
	}
	return n, err
}

func (c *sockConn) Close() error {
	if err := c.f.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

func (c *sockConn) LocalAddr() net.Addr {
	if c.laddr == nil {
		return nil
	}
	return c.laddr
}

func (c *sockConn) RemoteAddr() net.Addr {
	if c.raddr == nil {
		return nil
	}
	return c.raddr
}

func (c *sockConn) SetDeadline(t time.Time) error {
	return c.setError(c.f.SetDeadline(t))
}

func (c *sockConn) SetReadDeadline(t time.Time) error {
	return c.setError(c.f.SetReadDeadline(t))
}

func (c *sockConn) SetWriteDeadline(t time.Time) error {
	return c.setError(c.f.SetWriteDeadline(t))
}

func (c *sockConn) setError(err error) error {
	if err != nil {
		return &net.OpError{Op: "set", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: pollError(err)}
	}
	return nil
}

// SyscallConn returns the socket's raw access, whose errors are those of a *net.TCPConn's.
func (c *sockConn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return nil, c.opError("raw-conn", err)
	}
	return sockRaw{c, rc}, nil
}

// opError is err, an *os.File's error, as a *net.TCPConn reports it.
func (c *sockConn) opError(op string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, os.ErrClosed):
		err = net.ErrClosed
	case errors.As(err, &errno):
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// sockRaw is a sockConn's raw access, whose errors are a socket's (pollError).
type sockRaw struct {
	c  *sockConn
	rc syscall.RawConn
}

func (r sockRaw) Control(f func(fd uintptr)) error    { return r.error("raw-control", r.rc.Control(f)) }
func (r sockRaw) Read(f func(fd uintptr) bool) error  { return r.error("raw-read", r.rc.Read(f)) }
func (r sockRaw) Write(f func(fd uintptr) bool) error { return r.error("raw-write", r.rc.Write(f)) }

func (r sockRaw) error(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.c.LocalAddr(), Addr: r.c.RemoteAddr(), Err: pollError(err)}
}

// pollError is err, an error an *os.File passes on from the poller as it is, as a socket's: the
// poller's errors are a deadline's, one for a descriptor it cannot wait on, and that the file is
// closed, which it names differently from a socket's (net.ErrClosed).
func pollError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrNoDeadline) {
		return err
	}
	return net.ErrClosed
}

// listenControl is a TCP listening socket's Control (net.ListenConfig): the options every socket it
// accepts inherits — TCP_NODELAY and the keep-alive Go's Accept sets (probes after 15 s idle, every
// 15 s, 9 of them) — and arrival stamps (stampAccepted). A kernel that refuses one leaves it unset, not
// the address unserved.
func listenControl(network, address string, c syscall.RawConn) error {
	err := c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15)
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15)
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, unix.TCP_KEEPCNT, 9)
	})
	if err != nil {
		return err
	}
	return stampAccepted(network, address, c)
}
