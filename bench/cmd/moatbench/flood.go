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
// closes, after -max-duration or after -max-conns connections, whichever comes first.
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	addr := fs.String("addr", "", "target (loopback)")
	srcList := fs.String("src", "127.0.0.2", "comma-separated loopback source addresses")
	workers := fs.Int("workers", 2, "concurrent loops (1..64)")
	maxDur := fs.Duration("max-duration", 5*time.Minute, "stop after this long")
	maxConns := fs.Int64("max-conns", 50_000_000, "stop after this many connections")
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
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for i := w; ctx.Err() == nil && total.Add(1) <= *maxConns; i++ {
				d := net.Dialer{LocalAddr: srcs[i%len(srcs)], Timeout: time.Second}
				conn, err := d.DialContext(ctx, "tcp", *addr)
				if err != nil {
					other.Add(1)
					if ctx.Err() == nil {
						time.Sleep(time.Millisecond) // e.g. ports exhausted: do not spin
					}
					continue
				}
				conn.SetDeadline(time.Now().Add(time.Second))
				n, _ := io.ReadFull(conn, buf[:len("-ERR illegal address\r\n")])
				conn.Close()
				if bytes.HasPrefix(buf[:n], []byte("-ERR illegal address")) {
					refused.Add(1)
				} else {
					other.Add(1)
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
