package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"
)

// heapPeak samples the heap every few milliseconds until stop is called, and reports the highest
// HeapInuse seen. It reads runtime/metrics (heap objects plus the unused part of their spans, which
// is HeapInuse), which does not stop the world as runtime.ReadMemStats does: a sample every 5 ms that
// stops every goroutine, while moat's goroutines compete for the CPU, would hold up the very replies
// the tests time.
func heapPeak() (stop func() uint64) {
	var (
		wg   sync.WaitGroup
		peak uint64
		done = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			peak = max(peak, samples[0].Value.Uint64()+samples[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// A 64 MiB value goes through moat both ways intact, and moat streams it rather than holding it whole.
// Not parallel: the heap is measured for the whole process.
func TestLargeValueIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB through loopback")
	}
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")

	const size = 64 << 20
	value := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{'m', 'o', 'a', 't'})
	rng.Read(value)
	want := sha256.Sum256(value)
	header := []byte("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + strconv.Itoa(size) + "\r\n")
	get := []byte(cmd("GET", "big"))
	hdr := make([]byte, 0, 32)
	h := sha256.New()
	var got [sha256.Size]byte

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := heapPeak()

	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	for _, p := range [][]byte{header, value, []byte("\r\n")} {
		if _, err := c.c.Write(p); err != nil {
			stop()
			t.Fatalf("write SET: %v", err)
		}
	}
	if r := c.readReply(); r != "+OK\r\n" {
		stop()
		t.Fatalf("SET big: %q", r)
	}
	if _, err := c.c.Write(get); err != nil {
		stop()
		t.Fatalf("write GET: %v", err)
	}
	// Read "$<size>\r\n", then hash the body as it streams in.
	for {
		b, err := c.br.ReadByte()
		if err != nil {
			stop()
			t.Fatalf("read GET header: %v", err)
		}
		hdr = append(hdr, b)
		if b == '\n' {
			break
		}
	}
	if string(hdr) != "$"+strconv.Itoa(size)+"\r\n" {
		stop()
		t.Fatalf("GET big header %q", hdr)
	}
	if _, err := io.CopyN(h, c.br, size); err != nil {
		stop()
		t.Fatalf("read GET body: %v", err)
	}
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(c.br, crlf); err != nil || !bytes.Equal(crlf, []byte("\r\n")) {
		stop()
		t.Fatalf("GET big trailer %q, %v", crlf, err)
	}
	peak := stop()
	runtime.ReadMemStats(&after)
	h.Sum(got[:0])
	runtime.KeepAlive(value)

	if got != want {
		t.Fatalf("GET big returned different bytes: sha256 %x, want %x", got, want)
	}
	const bound = 32 << 20
	grew := int64(peak) - int64(before.HeapInuse)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("heap in use grew by at most %d KiB; %d KiB allocated while moving 2×%d MiB", grew>>10, allocated>>10, size>>20)
	if grew > bound {
		t.Errorf("heap in use grew by %d MiB while relaying a %d MiB value: moat holds it whole", grew>>20, size>>20)
	}
	if allocated > bound {
		t.Errorf("%d MiB allocated while relaying a %d MiB value: moat copies it", allocated>>20, size>>20)
	}
	if r := c.do("STRLEN", "big"); r != ":"+strconv.Itoa(size)+"\r\n" {
		t.Fatalf("STRLEN big: %q", r)
	}
}
