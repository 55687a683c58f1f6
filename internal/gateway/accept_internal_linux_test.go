package gateway

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// A connection its client resets before moat looks at it is dropped, not served: net.FileConn gives it
// no remote address (getpeername fails), and a session must not start without one. HAProxy's health
// checks connect and reset at once; this once crashed every gateway behind it.
func TestFileConnOfAResetConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	c.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	rc, _ := lf.SyscallConn()
	var fd int
	var aerr error
	rc.Read(func(s uintptr) bool {
		fd, _, aerr = unix.Accept4(int(s), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if aerr != nil {
		t.Skipf("the reset connection left the accept queue (%v): nothing to test on this kernel", aerr)
	}
	conn, err := fileConn(fd)
	if conn != nil || err != nil {
		t.Fatalf("fileConn of a reset connection: %v (remote %v), %v; want nil, nil", conn, conn.RemoteAddr(), err)
	}

	// A live one is a net.Conn with its peer's address.
	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	rc.Read(func(s uintptr) bool {
		fd, _, aerr = unix.Accept4(int(s), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if aerr != nil {
		t.Fatal(aerr)
	}
	conn, err = fileConn(fd)
	if err != nil || conn == nil || conn.RemoteAddr().String() != c2.LocalAddr().String() {
		t.Fatalf("fileConn of a live connection: %v, %v", conn, err)
	}
	conn.Close()
}
