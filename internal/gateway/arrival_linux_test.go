package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
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
		t.Cleanup(a.release) // before the socket's Close, which a held read would keep waiting
		return c, a
	}
	// The kernel turns stamping on a moment after the first socket asks for it, and off after the last
	// one goes (other tests' sockets come and go): bytes that arrive in between are not stamped. A pair
	// kept open through the test holds it on; wait until it is.
	warmC, warm := pair()
	buf := make([]byte, 16)
	for deadline := time.Now().Add(5 * time.Second); warm.At() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the kernel stamped none of the bytes read in 5 s")
		}
		warmC.Write([]byte("x"))
		if _, err := warm.Read(buf); err != nil {
			t.Fatal(err)
		}
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
	first.release() // a held read keeps Close waiting
	first.conn.Close()
	if _, err := first.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read of a closed connection: %v, want net.ErrClosed", err)
	}
}

// A held read waits without reading first only where the end of the connection cannot go unseen: the
// kernel's TCP_INQ hint shows a FIN that came with the last bytes, and a reset is seen by the write the
// session promised (answering) — or, without that promise, by reading first.
func TestArrivalsHeldReadSeesTheEnd(t *testing.T) {
	pair := func() (*net.TCPConn, *arrivals) {
		c, srv := acceptedPair(t)
		a := newArrivals(srv)
		a.answers = holdAfter // a busy session's
		t.Cleanup(a.release)
		return c.(*net.TCPConn), a
	}
	buf := make([]byte, 64)
	// readWithin reads under a deadline, so that a read that waits for what it already missed fails.
	readWithin := func(a *arrivals) (int, error) {
		a.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		defer a.conn.SetReadDeadline(time.Time{})
		return a.Read(buf)
	}

	// Requests answered one at a time, the reader waiting for each: one recvmsg per request, none that
	// finds nothing; a session not yet busy reads before each wait (it holds no goroutine while it may
	// go idle), and so makes two.
	// pingPong returns the recvmsg calls and the last TCP_INQ hint of a reader that answered 50.
	pingPong := func(answers int) (reads, inq int) {
		c, a := pair()
		a.answers = answers
		res := make(chan [2]int, 1)
		go func() { // the session's reader: a is its alone until it has answered 50
			for range 50 {
				if _, err := a.Read(buf); err != nil {
					break
				}
				a.answering(true)
				a.conn.Write([]byte("+PONG\r\n"))
			}
			res <- [2]int{a.reads, int(a.inq)}
		}()
		pong := make([]byte, 7)
		for range 50 {
			time.Sleep(100 * time.Microsecond) // the reader waits first
			c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
			if _, err := io.ReadFull(c, pong); err != nil {
				t.Fatal(err)
			}
		}
		r := <-res
		return r[0], r[1]
	}
	if reads, inq := pingPong(holdAfter); inq != 0 {
		t.Skipf("the kernel gives no TCP_INQ hint (%d): every wait reads first", inq)
	} else if reads > 52 {
		t.Errorf("busy session: %d recvmsg calls for 50 requests answered one at a time", reads)
	}
	if reads, _ := pingPong(0); reads < 50+holdAfter-1 {
		t.Errorf("new session: %d recvmsg calls for 50 requests, want two a request until it is busy", reads)
	}

	// The last bytes and the FIN arrive together: the FIN is not missed.
	c, a := pair()
	c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	c.CloseWrite()
	time.Sleep(10 * time.Millisecond)
	if n, err := readWithin(a); n != 14 || err != nil {
		t.Fatalf("read before the FIN: %d, %v", n, err)
	}
	a.answering(true)
	if _, err := readWithin(a); err != io.EOF {
		t.Fatalf("read after bytes and FIN came together: %v, want EOF", err)
	}

	// The last bytes and a reset arrive together. Not answered: the next read reads first, and sees it.
	reset := func() *arrivals {
		c, a := pair()
		c.SetLinger(0)
		c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
		c.Close() // with linger 0: a reset
		time.Sleep(10 * time.Millisecond)
		if n, err := readWithin(a); n != 14 || err != nil {
			t.Fatalf("read before the reset: %d, %v", n, err)
		}
		return a
	}
	a = reset()
	if _, err := readWithin(a); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after bytes and a reset came together: %v, want ECONNRESET", err)
	}
	// Answered: the write fails, and the session's close (a shutdown, as the read is held) wakes the read.
	a = reset()
	a.answering(true)
	done := make(chan error, 1)
	go func() { _, err := readWithin(a); done <- err }()
	time.Sleep(10 * time.Millisecond)
	if _, err := a.conn.Write([]byte("+PONG\r\n")); err == nil {
		t.Fatal("a write to a reset socket succeeded")
	}
	shutdown(a.conn)
	if err := <-done; err == nil || isTimeout(err) {
		t.Fatalf("held read after the shutdown: %v, want the end of the connection", err)
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

// BenchmarkArrivalsPingPong is a session's reader at one command per round trip: it waits for the
// command, reads it and answers, and the client waits for the answer before it sends the next, so every
// read after the first waits for input. BenchmarkPlainPingPong is the same with net.Conn's Read.
func BenchmarkArrivalsPingPong(b *testing.B) { benchPingPong(b, true) }
func BenchmarkPlainPingPong(b *testing.B)    { benchPingPong(b, false) }

func benchPingPong(b *testing.B, stamped bool) {
	c, srv := acceptedPair(b)
	done := make(chan struct{})
	go func() { // the session's reader: it alone reads, and releases its source when it ends
		defer close(done)
		var src io.Reader = srv
		if stamped {
			a := newArrivals(srv)
			defer a.release()
			src = a
		}
		buf := make([]byte, 1024)
		for {
			if _, err := src.Read(buf); err != nil {
				return
			}
			if a, ok := src.(*arrivals); ok {
				a.answering(true) // as the reader does for a batch it answers
			}
			if _, err := srv.Write([]byte("+PONG\r\n")); err != nil {
				return
			}
		}
	}()
	msg := []byte("*1\r\n$4\r\nPING\r\n")
	buf := make([]byte, 64)
	b.ReportAllocs()
	cpu0 := processCPU()
	for range b.N {
		c.Write(msg)
		if _, err := io.ReadFull(c, buf[:7]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	c.Close()
	<-done
}

// processCPU is the CPU time the process used so far (user and system), in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
