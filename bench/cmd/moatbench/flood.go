package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// flood connects to -addr from the -src addresses (which the target must refuse) as fast as -workers
// loops can, reads the refusal until the server closes, and starts again. It prints "ready" once
// running, the count of refusals so far on each SIGUSR1, and stops on SIGTERM/SIGINT, when its stdin
// closes, after -max-duration or after -max-conns connections, whichever comes first. With -rate, the
// flood is open-loop instead: -rate connection attempts a second whatever the server does (each on its own
// goroutine, at most -inflight at once), as a flood from many machines would come.
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	addr := fs.String("addr", "", "target (loopback)")
	srcList := fs.String("src", "127.0.0.2", "comma-separated loopback source addresses")
	workers := fs.Int("workers", 2, "concurrent loops (1..64)")
	maxDur := fs.Duration("max-duration", 5*time.Minute, "stop after this long")
	maxConns := fs.Int64("max-conns", 50_000_000, "stop after this many connections")
	rateN := fs.Int("rate", 0, "open-loop: connection attempts a second (0: -workers closed loops)")
	inflight := fs.Int("inflight", 4096, "with -rate: attempts under way at most")
	fs.Parse(args)
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	if *workers < 1 || *workers > 64 {
		return fmt.Errorf("-workers %d: want 1..64", *workers)
	}
	var srcs []*net.TCPAddr
	for _, s := range strings.Split(*srcList, ",") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("-src %q: not a loopback address", s)
		}
		srcs = append(srcs, &net.TCPAddr{IP: ip})
	}
	ctx, cancel := context.WithTimeout(context.Background(), *maxDur)
	defer cancel()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-stop; cancel() }()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()

	var refused, other, total atomic.Int64
	// once connects from src, reads the refusal and closes; false: the dial failed.
	once := func(src *net.TCPAddr, buf []byte) bool {
		d := net.Dialer{LocalAddr: src, Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", *addr)
		if err != nil {
			other.Add(1)
			return false
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second)) // a paced refusal comes late (moat's refuse.go)
		n, _ := io.ReadFull(conn, buf[:len("-ERR illegal address\r\n")])
		conn.Close()
		if bytes.HasPrefix(buf[:n], []byte("-ERR illegal address")) {
			refused.Add(1)
		} else {
			other.Add(1)
		}
		return true
	}
	var wg sync.WaitGroup
	if *rateN > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openLoop(ctx, *rateN, *inflight, *maxConns, &total, func(i int64) { once(srcs[i%int64(len(srcs))], make([]byte, 64)) })
		}()
	}
	for w := range *workers * boolInt(*rateN == 0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for i := w; ctx.Err() == nil && total.Add(1) <= *maxConns; i++ {
				if !once(srcs[i%len(srcs)], buf) && ctx.Err() == nil {
					time.Sleep(time.Millisecond) // e.g. ports exhausted: do not spin
				}
			}
		}()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	fmt.Println("ready")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-usr1:
			fmt.Printf("%d %d\n", refused.Load(), other.Load())
		case <-done:
			fmt.Fprintf(os.Stderr, "flood: %d refused, %d other outcomes\n", refused.Load(), other.Load())
			return nil
		}
	}
}

// openLoop calls attempt(i) on a goroutine of its own rate times a second (in ticks of 1 ms), at most
// inflight at once (a tick's attempts beyond that are skipped), until ctx ends or max attempts started.
func openLoop(ctx context.Context, rate, inflight int, max int64, total *atomic.Int64, attempt func(int64)) {
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	started := int64(0)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds() * float64(rate))
		for ; started < due; started++ {
			if total.Add(1) > max {
				return
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // inflight attempts under way already: this one is skipped
			}
			wg.Add(1)
			go func(i int64) {
				defer wg.Done()
				defer func() { <-sem }()
				attempt(i)
			}(started)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
