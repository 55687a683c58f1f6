package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// Arrival stamps are the kernel's receive times, not the times of the reads: bytes that arrived first
// carry the earlier stamp though they are read last.
func TestArrivalsStampWhenBytesArrived(t *testing.T) {
	pair := func() (net.Conn, *arrivals) {
		c, srv := acceptedPair(t)
		a := newArrivals(srv)
		if a == nil {
			t.Fatal("no arrival stamps on a TCP socket")
		}
		return c, a
	}
	firstC, first := pair()
	secondC, second := pair()
	before := time.Now().UnixNano()
	firstC.Write([]byte("first"))
	time.Sleep(5 * time.Millisecond)
	between := time.Now().UnixNano()
	secondC.Write([]byte("second"))
	time.Sleep(5 * time.Millisecond)
	after := time.Now().UnixNano()

	buf := make([]byte, 16)
	if n, err := second.Read(buf); err != nil || string(buf[:n]) != "second" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if n, err := first.Now(buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("read now %q, %v", buf[:n], err)
	}
	if a, b := first.At(), second.At(); a < before || a > between || b < between || b > after {
		t.Fatalf("stamps %d and %d, want the first in [%d, %d] and the second in [%d, %d]", a, b, before, between, between, after)
	}

	// Nothing to read: Now says so, and the stamp stays; Read waits, and times out as the socket does.
	at := first.At()
	if n, err := first.Now(buf); n != 0 || err != nil {
		t.Fatalf("Now on an empty socket: %d, %v", n, err)
	}
	first.conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := first.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want a timeout", err)
	}
	if first.At() != at {
		t.Fatal("a read of nothing changed the stamp")
	}
	if first.p != nil { // a parked session's reader would stay alive through it
		t.Fatal("a failed read kept a reference to the buffer it read into")
	}
	first.conn.SetReadDeadline(time.Time{})
	firstC.Close()
	if _, err := first.Read(buf); err != io.EOF {
		t.Fatalf("Read at the end: %v, want EOF", err)
	}
	if n, err := first.Now(buf); n != 0 || err != io.EOF {
		t.Fatalf("Now at the end: %d, %v, want EOF", n, err)
	}
	first.conn.Close()
	if _, err := first.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed connection: %v, want net.ErrClosed", err)
	}
}

// BenchmarkArrivalsRead is a stamped read of a small command; BenchmarkPlainRead the same without.
func BenchmarkArrivalsRead(b *testing.B) { benchRead(b, true) }
func BenchmarkPlainRead(b *testing.B)    { benchRead(b, false) }

func benchRead(b *testing.B, stamped bool) {
	c, srv := acceptedPair(b)
	var src io.Reader = srv
	if stamped {
		src = newArrivals(srv)
	}
	msg := []byte("*1\r\n$4\r\nPING\r\n")
	buf := make([]byte, 1024)
	b.ReportAllocs()
	for range b.N {
		c.Write(msg)
		if _, err := src.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// acceptedPair returns both ends of a loopback TCP connection accepted as an instance accepts
// (listen: its sockets are stamped), closed when tb ends.
func acceptedPair(tb testing.TB) (client, server net.Conn) {
	ln, err := listen("127.0.0.1:0", false)
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	return client, server
}
