package backend

import (
	"context"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// A TCP backend connection keeps the receive buffer it was given, however fast long replies are read
// from it: the kernel does not grow it to tcp_rmem's maximum, so that one write of a long reply by the
// backend ends once a few MiB are in flight (receiveBuffer).
func TestUpstreamReceiveBufferIsCapped(t *testing.T) {
	srv := redistest.Start(t)
	b := openT(t, "redis://"+srv.Addr)
	const size = 32 << 20
	if got := direct(t, "tcp", srv.Addr).do("SETRANGE", "big", strconv.Itoa(size-1), "x"); got != ":"+strconv.Itoa(size) {
		t.Fatalf("SETRANGE: %s", got)
	}
	c, err := b.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rcvbuf := func() int {
		t.Helper()
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var serr error
		if err := rc.Control(func(fd uintptr) { n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) }); err != nil || serr != nil {
			t.Fatalf("getsockopt SO_RCVBUF: %v, %v", err, serr)
		}
		return n
	}
	if got, want := rcvbuf(), 2*receiveBuffer; got != want { // Linux doubles what is set
		t.Fatalf("SO_RCVBUF of a new backend connection = %d, want %d", got, want)
	}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	for range 3 { // read as fast as the kernel delivers: what autotuning grows a buffer for
		if _, err := c.Write(appendCommand(nil, "GET", "big")); err != nil {
			t.Fatal(err)
		}
		head := "$" + strconv.Itoa(size) + "\r\n"
		if n, err := io.CopyN(io.Discard, c, int64(len(head)+size+2)); err != nil {
			t.Fatalf("GET big: read %d bytes: %v", n, err)
		}
	}
	if got, want := rcvbuf(), 2*receiveBuffer; got != want {
		t.Fatalf("SO_RCVBUF after 3 long replies read at once = %d, want %d (autotuning grew it)", got, want)
	}
}
