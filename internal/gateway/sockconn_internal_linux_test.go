package gateway

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// A session that parks just as its client resets must not hand the waiting room a connection without a
// remote address (gnet's EnrollContext dereferences it, and the whole process would panic): netConn of
// such a socket fails with ENOTCONN, and park closes the session.
func TestNetConnOfAResetConnection(t *testing.T) {
	ln, c := listenAndDial(t)
	fd, sa := acceptRaw(t, ln)
	sc := newSockConn(fd, sa, ln.Addr().(*net.TCPAddr))
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	c.Close()
	time.Sleep(10 * time.Millisecond)
	nc, err := netConn(sc)
	if err == nil {
		defer nc.Close()
		if nc.RemoteAddr() == nil {
			t.Fatalf("netConn of a reset socket: %T without a remote address, and no error", nc)
		}
		return
	}
	if !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("netConn of a reset socket: %v, want ENOTCONN", err)
	}
}
