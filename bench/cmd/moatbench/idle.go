package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moat-dev/moat/bench/harness"
)

// idle opens -conns connections to moat from -src-count source addresses starting at -src-base (to stay
// clear of ephemeral-port limits), sends one PING on each and reads the PONG (so moat has set the session
// up completely, backend connection included), then leaves them idle and measures moat's RSS growth.
// The number of connections is capped by this process's file limit; the figure is per connection opened.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "", "moat instance admitting the source addresses")
	pid := fs.Int("pid", 0, "moat's pid")
	conns := fs.Int("conns", 10000, "idle connections to open (1..100000)")
	srcBase := fs.String("src-base", "127.0.0.10", "first source address")
	srcCount := fs.Int("src-count", 10, "source addresses (1..200)")
	metrics := fs.String("metrics", "", "moat's /metrics URL (optional: Go heap and goroutines too)")
	tokenFile := fs.String("metrics-token", "", "file holding the bearer token /metrics needs (moat's <data-dir>/status-token)")
	settle := fs.Duration("settle", 3*time.Second, "wait before each RSS reading")
	timeout := fs.Duration("timeout", 2*time.Minute, "limit of the whole test")
	outPath := fs.String("out", "", "write the result as JSON here")
	note := fs.String("note", "", "note recorded with the result")
	fs.Parse(args)
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	if *pid <= 0 || *conns < 1 || *conns > 100000 || *srcCount < 1 || *srcCount > 200 {
		return fmt.Errorf("-pid, -conns or -src-count out of range")
	}
	base := net.ParseIP(*srcBase).To4()
	if base == nil || !base.IsLoopback() || int(base[3])+*srcCount > 255 {
		return fmt.Errorf("-src-base %s with -src-count %d: not a loopback range", *srcBase, *srcCount)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(*conns)+64 > lim.Cur {
		fmt.Printf("idle: open-file limit %d: %d connections instead of %d\n", lim.Cur, lim.Cur-64, *conns)
		*conns = int(lim.Cur - 64)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	res := harness.IdleResult{Requested: *conns, Note: *note}
	readMetrics := func() (heap, gor int64) {
		if *metrics == "" {
			return 0, 0
		}
		c := http.Client{Timeout: 5 * time.Second}
		req, err := http.NewRequest("GET", *metrics, nil)
		if err != nil {
			return 0, 0
		}
		if tok, err := os.ReadFile(*tokenFile); err == nil {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, 0
		}
		defer resp.Body.Close()
		m, err := harness.MetricValues(resp.Body, "go_memstats_heap_inuse_bytes", "go_goroutines")
		if err != nil {
			return 0, 0
		}
		return int64(m["go_memstats_heap_inuse_bytes"]), int64(m["go_goroutines"])
	}
	// Warm-up: one connection through the whole path, so lazily built state is not counted per connection.
	if c, err := pingConn(ctx, *addr, nil); err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	} else {
		c.Close()
	}
	time.Sleep(*settle)
	var err error
	if res.RSSBefore, err = harness.RSS(*pid); err != nil {
		return err
	}
	res.HeapBefore, res.GoroutinesBefore = readMetrics()

	open := make([]net.Conn, *conns)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(open) || ctx.Err() != nil {
					return
				}
				src := net.IPv4(base[0], base[1], base[2], base[3]+byte(i%*srcCount))
				c, err := pingConn(ctx, *addr, &net.TCPAddr{IP: src})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				open[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range open {
			if c != nil {
				c.Close()
			}
		}
	}()
	for _, c := range open {
		if c != nil {
			res.Conns++
		}
	}
	if res.Conns == 0 {
		return fmt.Errorf("no connection opened (first error: %v)", firstErr.Load())
	}
	if f := failed.Load(); f > 0 {
		msg := fmt.Sprintf("%d of %d connections failed (first: %v)", f, *conns, firstErr.Load())
		fmt.Println("idle:", msg)
		res.Note = strings.TrimSpace(res.Note + "; " + msg)
	}
	time.Sleep(*settle)
	if res.RSSAfter, err = harness.RSS(*pid); err != nil {
		return err
	}
	res.HeapAfter, res.GoroutinesAfter = readMetrics()
	res.BytesPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(res.Conns)
	fmt.Printf("idle: %d connections, moat RSS %d -> %d bytes: %.0f bytes per connection\n",
		res.Conns, res.RSSBefore, res.RSSAfter, res.BytesPerConn)
	if *outPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(*outPath, append(b, '\n'), 0o644)
	}
	return nil
}

// pingConn connects (from src if given), sends PING and waits for +PONG.
func pingConn(ctx context.Context, addr string, src *net.TCPAddr) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != nil {
		d.LocalAddr = src
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		c.Close()
		return nil, err
	}
	line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		c.Close()
		return nil, fmt.Errorf("PING: %q %v", line, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
