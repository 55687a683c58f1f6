//go:build unix

package gateway

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// readNow returns a read of what the TCP socket c holds already, without waiting: (0, nil) when
// nothing, io.EOF at its end. nil: c is not a TCP socket.
func readNow(c net.Conn) func([]byte) (int, error) {
	rc := tcpRaw(c)
	if rc == nil {
		return nil
	}
	return func(b []byte) (int, error) {
		var n int
		var err error
		if cerr := rc.Read(func(fd uintptr) bool {
			n, err = syscall.Read(int(fd), b)
			return true // never wait: the socket is non-blocking
		}); cerr != nil {
			return 0, cerr
		}
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			return 0, nil
		case err != nil:
			return 0, err
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// tcpSocket is a TCP socket served as a net.Conn other than *net.TCPConn (sockConn).
type tcpSocket interface {
	syscall.Conn
	tcpSocket()
}

// tcpRaw returns the file descriptor access of c, nil when c is not a TCP socket.
func tcpRaw(c net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case tcpSocket:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// shutdown ends both directions of the TCP socket c without closing it: the peer sees the end at once,
// and a read of c returns it. Unlike Close, it does not wait for reads under way.
func shutdown(c net.Conn) error {
	rc := tcpRaw(c)
	if rc == nil {
		return errors.ErrUnsupported
	}
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }); cerr != nil {
		return cerr
	}
	return err
}
