package gateway_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
)

// tapProxy is a real TCP listener standing between moat and redis-server. It forwards bytes both ways
// and records every read it makes on each side: on loopback one write of less than 64 KiB arrives in one
// read, so the reads it records from moat are moat's writes to its backend (two writes may coalesce into
// one read, but one write never shows as two reads).
type tapProxy struct {
	t  testing.TB
	ln net.Listener

	// trickle: redis-server's bytes are passed on 1 KiB at a time, a millisecond apart (set before use).
	trickle bool

	mu        sync.Mutex
	target    string
	fromMoat  [][]byte // every read from moat, in order, across connections
	fromRedis [][]byte
}

func newTapProxy(t testing.TB) *tapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{t: t, ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.relay(c) }()
		}
	}()
	return p
}

func (p *tapProxy) addr() string { return p.ln.Addr().String() }

// forwardTo sets where connections accepted from now on are relayed.
func (p *tapProxy) forwardTo(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

func (p *tapProxy) relay(moat net.Conn) {
	defer moat.Close()
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	redis, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer redis.Close()
	done := make(chan struct{})
	go func() {
		p.copy(moat, redis, &p.fromRedis)
		moat.Close()
		close(done)
	}()
	p.copy(redis, moat, &p.fromMoat)
	redis.Close()
	<-done
}

// copy relays src to dst, recording each read before forwarding it.
func (p *tapProxy) copy(dst, src net.Conn, log *[][]byte) {
	buf := make([]byte, 256<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			*log = append(*log, bytes.Clone(buf[:n]))
			p.mu.Unlock()
			piece := n
			if p.trickle && log == &p.fromRedis {
				piece = 1 << 10
			}
			for b := buf[:n]; len(b) > 0; b = b[min(piece, len(b)):] {
				if _, werr := dst.Write(b[:min(piece, len(b))]); werr != nil {
					return
				}
				if piece < n {
					time.Sleep(time.Millisecond)
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// reads returns how many reads each side has recorded so far.
func (p *tapProxy) reads() (fromMoat, fromRedis int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fromMoat), len(p.fromRedis)
}

// since returns the reads recorded after the counts mark.
func (p *tapProxy) since(moatMark, redisMark int) (fromMoat, fromRedis [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.fromMoat[moatMark:]...), append([][]byte(nil), p.fromRedis[redisMark:]...)
}

// withBackend makes the gateway use the backend at url instead of the test's redis-server.
func withBackend(t testing.TB, url string) envOption {
	be, err := backend.Open(url, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("backend.Open(%s): %v", url, err)
	}
	t.Cleanup(func() { be.Close() })
	return func(c *gateway.Config) { c.Backend = be }
}

// readAll reads exactly n bytes from c straight off the socket (no buffering), returning what it read
// and the size of each read.
func readAll(t *testing.T, c net.Conn, n int) ([]byte, []int) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(replyTimeout))
	var got []byte
	var sizes []int
	buf := make([]byte, 256<<10)
	for len(got) < n {
		k, err := c.Read(buf)
		if k > 0 {
			got = append(got, buf[:k]...)
			sizes = append(sizes, k)
		}
		if err != nil && !(errors.Is(err, io.EOF) && len(got) >= n) {
			t.Fatalf("read %d of %d reply bytes (reads %v): %v", len(got), n, sizes, err)
		}
	}
	return got, sizes
}

// A pipeline is not N round trips (DESIGN.md, "one read, one flush"): 200 commands the client sends in
// one write reach the backend as one write, byte for byte, and their 200 replies reach the client in
// one write, in order.
func TestPipelineIsOneWriteEachWay(t *testing.T) {
	t.Parallel()
	const n = 200
	tap := newTapProxy(t)
	e := newEnv(t, allowLoopback(t), withBackend(t, "redis://"+tap.addr()))
	tap.forwardTo(e.srv.Addr)

	c := dial(t, e.addr, "127.0.0.2")
	if got := c.do("PING"); got != "+PONG\r\n" { // the backend connection is up, its handshake over
		t.Fatalf("PING: %q", got)
	}
	moatMark, redisMark := tap.reads()

	var pipeline, want bytes.Buffer
	for i := 1; i <= n; i++ {
		pipeline.WriteString(cmd("INCR", "counter"))
		want.WriteString(":" + strconv.Itoa(i) + "\r\n")
	}
	c.send(pipeline.String())
	got, clientReads := readAll(t, c.c, want.Len())
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("replies out of order or altered:\n got %q\nwant %q", truncate(string(got)), truncate(want.String()))
	}

	toRedis, fromRedis := tap.since(moatMark, redisMark)
	sizes := func(reads [][]byte) []int {
		out := make([]int, len(reads))
		for i, r := range reads {
			out[i] = len(r)
		}
		return out
	}
	if len(toRedis) != 1 || !bytes.Equal(toRedis[0], pipeline.Bytes()) {
		t.Errorf("the %d-byte pipeline reached the backend in reads of %v bytes, want one read of exactly the client's bytes",
			pipeline.Len(), sizes(toRedis))
	}
	// The client-side count is only meaningful if redis-server answered in one write too.
	if len(fromRedis) != 1 {
		t.Fatalf("redis-server answered in reads of %v bytes: cannot judge moat's flushes", sizes(fromRedis))
	}
	if len(clientReads) != 1 {
		t.Errorf("the %d reply bytes reached the client in reads of %v bytes, want one write", want.Len(), clientReads)
	}
}
