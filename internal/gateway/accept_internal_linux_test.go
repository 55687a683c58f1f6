package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// acceptRaw accepts one connection from ln as the accept loop does (accept4 on a duplicate of its
// socket).
func acceptRaw(t *testing.T, ln net.Listener) (int, syscall.Sockaddr) {
	t.Helper()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	rc, _ := lf.SyscallConn()
	var fd int
	var sa syscall.Sockaddr
	var aerr error
	rc.Read(func(s uintptr) bool {
		fd, sa, aerr = syscall.Accept4(int(s), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if aerr != nil {
		t.Fatalf("accept4: %v", aerr)
	}
	return fd, sa
}

// listenAndDial returns a listener as moat makes them (listen) and a client connected to it.
func listenAndDial(t *testing.T) (net.Listener, net.Conn) {
	t.Helper()
	ln, err := listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ln, c
}

// A connection its client resets before moat looks at it is served with its peer's address (which
// accept4 reports), and its first read fails: HAProxy's health checks connect and reset at once, and a
// session without a remote address once crashed every gateway behind it.
func TestSockConnOfAResetConnection(t *testing.T) {
	ln, c := listenAndDial(t)
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	local := c.LocalAddr().String()
	c.Close()
	time.Sleep(10 * time.Millisecond)
	fd, sa := acceptRaw(t, ln)
	conn := newSockConn(fd, sa, ln.Addr().(*net.TCPAddr))
	defer conn.Close()
	if conn.RemoteAddr() == nil || conn.RemoteAddr().String() != local {
		t.Fatalf("remote address %v, want %s", conn.RemoteAddr(), local)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 16))
	var oe *net.OpError
	if n != 0 || !errors.As(err, &oe) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read of a reset connection: %d, %v; want ECONNRESET in a *net.OpError", n, err)
	}
}

// A sockConn has the addresses, the options and the errors a *net.TCPConn of the same socket would:
// the options through its listener (listenControl), the errors one by one against Go's own.
func TestSockConnIsATCPConn(t *testing.T) {
	ln, err := listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// pair returns a client and moat's side of it: Go's own (Accept) or a sockConn.
	pair := func(own bool) (net.Conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if own {
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			return c, s
		}
		fd, sa := acceptRaw(t, ln)
		return c, newSockConn(fd, sa, ln.Addr().(*net.TCPAddr))
	}

	c, s := pair(false)
	if s.LocalAddr().String() != c.RemoteAddr().String() || s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("addresses %v ← %v, want %v ← %v", s.LocalAddr(), s.RemoteAddr(), c.RemoteAddr(), c.LocalAddr())
	}
	if _, ok := s.RemoteAddr().(*net.TCPAddr); !ok {
		t.Errorf("remote address is a %T, want *net.TCPAddr", s.RemoteAddr())
	}
	rc := tcpRaw(s)
	if rc == nil {
		t.Fatal("tcpRaw: a sockConn is not taken for a TCP socket")
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"TCP_NODELAY", syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1},
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
		{"SO_TIMESTAMPNS", syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1},
	} {
		var got int
		var err error
		rc.Control(func(fd uintptr) { got, err = syscall.GetsockoptInt(int(fd), o.level, o.opt) })
		if err != nil || got != o.want {
			t.Errorf("%s of an accepted socket: %d, %v; want %d (inherited from the listener)", o.name, got, err, o.want)
		}
	}

	// Bytes both ways.
	c.Write([]byte("ping"))
	buf := make([]byte, 8)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read: %q, %v", buf[:n], err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read: %q, %v", buf[:n], err)
	}

	// Each error, against Go's own of the same case.
	type outcome struct {
		n   int
		err error
	}
	cases := []struct {
		name string
		run  func(c, s net.Conn) outcome
	}{
		{"read past a deadline", func(_, s net.Conn) outcome {
			s.SetReadDeadline(time.Now().Add(time.Millisecond))
			n, err := s.Read(buf)
			return outcome{n, err}
		}},
		{"read at the end", func(c, s net.Conn) outcome {
			c.Close()
			n, err := s.Read(buf)
			return outcome{n, err}
		}},
		{"read of a reset socket", func(c, s net.Conn) outcome {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			time.Sleep(10 * time.Millisecond)
			n, err := s.Read(buf)
			return outcome{n, err}
		}},
		{"read after close", func(_, s net.Conn) outcome {
			s.Close()
			n, err := s.Read(buf)
			return outcome{n, err}
		}},
		{"write after close", func(_, s net.Conn) outcome {
			s.Close()
			n, err := s.Write(buf)
			return outcome{n, err}
		}},
		{"write past a deadline", func(_, s net.Conn) outcome {
			s.SetWriteDeadline(time.Now().Add(-time.Second))
			n, err := s.Write(buf)
			return outcome{n, err}
		}},
		{"close twice", func(_, s net.Conn) outcome {
			s.Close()
			return outcome{0, s.Close()}
		}},
		{"deadline after close", func(_, s net.Conn) outcome {
			s.Close()
			return outcome{0, s.SetReadDeadline(time.Now())}
		}},
		{"raw read past a deadline", func(_, s net.Conn) outcome {
			s.SetReadDeadline(time.Now().Add(time.Millisecond))
			rc, _ := s.(syscall.Conn).SyscallConn()
			return outcome{0, rc.Read(func(uintptr) bool { return false })}
		}},
		{"raw read after close", func(_, s net.Conn) outcome {
			rc, _ := s.(syscall.Conn).SyscallConn()
			s.Close()
			return outcome{0, rc.Read(func(uintptr) bool { return true })}
		}},
		{"raw control after close", func(_, s net.Conn) outcome {
			rc, _ := s.(syscall.Conn).SyscallConn()
			s.Close()
			return outcome{0, rc.Control(func(uintptr) {})}
		}},
	}
	for _, tc := range cases {
		own := tc.run(pair(true))
		got := tc.run(pair(false))
		if got.n != own.n || (got.err == nil) != (own.err == nil) {
			t.Errorf("%s: %d, %v; Go's own: %d, %v", tc.name, got.n, got.err, own.n, own.err)
			continue
		}
		if own.err == nil {
			continue
		}
		var ownOp, gotOp *net.OpError
		if errors.As(own.err, &ownOp) != errors.As(got.err, &gotOp) || (ownOp != nil && ownOp.Op != gotOp.Op) {
			t.Errorf("%s: %#v; Go's own: %#v", tc.name, got.err, own.err)
		}
		for _, sentinel := range []error{io.EOF, net.ErrClosed, os.ErrDeadlineExceeded, syscall.ECONNRESET, syscall.EPIPE} {
			if errors.Is(own.err, sentinel) != errors.Is(got.err, sentinel) {
				t.Errorf("%s: %v; Go's own: %v (errors.Is %v differs)", tc.name, got.err, own.err, sentinel)
			}
		}
		var ownTimeout, gotTimeout net.Error
		if errors.As(own.err, &ownTimeout) && (!errors.As(got.err, &gotTimeout) || gotTimeout.Timeout() != ownTimeout.Timeout()) {
			t.Errorf("%s: %v is no net.Error of the same Timeout() as Go's own %v", tc.name, got.err, own.err)
		}
	}
}
