//go:build linux

package gateway

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// arrivals reads a plain TCP client socket as its session's command source, and keeps when the kernel
// received the bytes it read last (SO_TIMESTAMPNS): the order moves take (ready.go) is the order their
// commands reached the machine, not the order Go's scheduler ran their readers in. Not safe for
// concurrent use: its session's reader alone reads it.
type arrivals struct {
	conn *net.TCPConn
	rc   syscall.RawConn
	recv func(fd uintptr) bool // a.recvmsg, made once
	p    []byte                // what Read or Now reads into
	oob  [8]uint64             // room for one control message, aligned for its header
	wait bool                  // recvmsg waits for input (Read), or not (Now)
	n    int
	oobn int
	err  error
	at   int64 // when the last bytes read arrived, unix nanoseconds; 0 before any
}

// newArrivals returns the arrival-stamping source of c, nil when c is not a TCP socket. c's bytes carry
// stamps when its listener asked for them (stampAccepted); bytes without one leave At as it was.
func newArrivals(c net.Conn) *arrivals {
	rc := tcpRaw(c)
	if rc == nil {
		return nil
	}
	a := &arrivals{conn: c.(*net.TCPConn), rc: rc}
	a.recv = a.recvmsg
	return a
}

// stampAccepted is a listening socket's Control (net.ListenConfig): the sockets it accepts inherit
// SO_TIMESTAMPNS, so that their bytes are stamped from the first one, and while it listens the kernel
// keeps stamping (it turns stamping on and off, which takes a while, as sockets that ask come and go).
// A kernel that refuses leaves sessions without stamps, not the address unserved.
func stampAccepted(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// Read reads as c.Read does (its errors are c.Read's), and stamps what it read.
func (a *arrivals) Read(p []byte) (int, error) {
	a.wait = true
	return a.read(p)
}

// Now reads what the socket holds already, without waiting: (0, nil) when nothing, io.EOF at its end
// (resp.Reader.Lend's now).
func (a *arrivals) Now(p []byte) (int, error) {
	a.wait = false
	n, err := a.read(p)
	if err == syscall.EAGAIN {
		return 0, nil
	}
	return n, err
}

// At reports when the bytes read last reached the kernel, in unix nanoseconds (0: nothing read yet).
func (a *arrivals) At() int64 { return a.at }

func (a *arrivals) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	a.p, a.n, a.err = p, 0, nil
	err := a.rc.Read(a.recv)
	a.p = nil // keep no reference to p: it may be a parked session's lent buffer (park.go)
	if err != nil {
		return 0, a.opError(err)
	}
	switch {
	case a.err == syscall.EAGAIN:
		return 0, a.err
	case a.err != nil:
		return 0, a.opError(a.err)
	case a.n == 0:
		return 0, io.EOF
	}
	return a.n, nil
}

// opError wraps err as net.Conn.Read does, so that callers see the same errors either way.
func (a *arrivals) opError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: a.conn.LocalAddr(), Addr: a.conn.RemoteAddr(), Err: err}
}

// recvmsg is the read RawConn.Read runs: false asks it to wait for input.
func (a *arrivals) recvmsg(fd uintptr) bool {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&a.oob)), unsafe.Sizeof(a.oob))
	for {
		n, oobn, _, _, err := syscall.Recvmsg(int(fd), a.p, oob, 0)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if a.wait {
				return false
			}
			a.err = err
			return true
		case nil:
			a.n, a.oobn = n, oobn
			a.stamp()
			return true
		default:
			a.err = err
			return true
		}
	}
}

// stamp takes the receive time from the control message recvmsg filled in (SCM_TIMESTAMPNS: a
// timespec). Without one (nothing read, or the kernel gave none) the last stamp stays.
func (a *arrivals) stamp() {
	if a.oobn < syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timespec{}))) {
		return
	}
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&a.oob))
	if h.Level != syscall.SOL_SOCKET || h.Type != syscall.SCM_TIMESTAMPNS {
		return
	}
	ts := (*syscall.Timespec)(unsafe.Add(unsafe.Pointer(&a.oob), syscall.CmsgLen(0)))
	a.at = ts.Nano()
}
