package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// hol measures head-of-line blocking: the latency of small GETs from -clients connections, first
// alone, then while one more connection keeps fetching a long reply (LRANGE of -elems elements of
// -size bytes). Each -target is name=host:port; the list is set up through each target. On a shared
// lane the long reply passes through the lane the GETs share, so their latency is what a long reply
// costs its lane-mates; on a dedicated lane (or direct Redis) it is only the server's own time.
func hol(args []string) error {
	fs := flag.NewFlagSet("hol", flag.ExitOnError)
	targets := fs.String("targets", "", "comma-separated name=host:port (loopback)")
	clients := fs.Int("clients", 20, "connections sending GETs (1..1000)")
	dur := fs.Duration("duration", 5*time.Second, "length of each measurement (1s..5m)")
	elems := fs.Int("elems", 10000, "elements of the long list (1..1000000)")
	size := fs.Int("size", 100, "bytes per element (1..100000)")
	fs.Parse(args)
	if *clients < 1 || *clients > 1000 || *dur < time.Second || *dur > 5*time.Minute || *elems < 1 || *elems > 1_000_000 || *size < 1 || *size > 100_000 {
		return errors.New("a flag is out of range (see -h)")
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\tlong reply\tGETs/s\tp50 µs\tp99 µs\tmax µs\tlong replies/s\n")
	for _, t := range strings.Split(*targets, ",") {
		name, addr, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("-targets %q: want name=host:port", t)
		}
		if err := loopbackOnly(addr); err != nil {
			return err
		}
		if err := holSetup(addr, *elems, *size); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, heavy := range []bool{false, true} {
			r, err := holRun(addr, *clients, *dur, heavy)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			label := "none"
			if heavy {
				label = fmt.Sprintf("%d × %d B", *elems, *size)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%d\t%d\t%.1f\n", name, label, r.rate, r.p50.Microseconds(), r.p99.Microseconds(), r.max.Microseconds(), r.heavyRate)
		}
	}
	return tw.Flush()
}

type holResult struct {
	rate, heavyRate float64
	p50, p99, max   time.Duration
}

// respConn is a minimal RESP client: one command at a time, replies skipped frame by frame.
type respConn struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRESP(addr string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &respConn{c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (r *respConn) do(args ...string) (byte, error) {
	var b []byte
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		return 0, err
	}
	return r.skip()
}

// skip reads one reply frame and returns its type byte.
func (r *respConn) skip() (byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 3 {
		return 0, fmt.Errorf("bad reply line %q", line)
	}
	t := line[0]
	switch t {
	case '+', ':':
		return t, nil
	case '-':
		return t, fmt.Errorf("server error: %s", strings.TrimSpace(string(line[1:])))
	case '$':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return 0, err
		}
		if n >= 0 {
			if _, err := r.br.Discard(n + 2); err != nil {
				return 0, err
			}
		}
		return t, nil
	case '*':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return 0, err
		}
		for range max(n, 0) {
			if _, err := r.skip(); err != nil {
				return 0, err
			}
		}
		return t, nil
	}
	return 0, fmt.Errorf("unexpected reply type %q", t)
}

func holSetup(addr string, elems, size int) error {
	c, err := dialRESP(addr)
	if err != nil {
		return err
	}
	defer c.c.Close()
	if _, err := c.do("DEL", "hol:list"); err != nil {
		return err
	}
	if _, err := c.do("SET", "hol:k", "v"); err != nil {
		return err
	}
	v := strings.Repeat("x", size)
	for done := 0; done < elems; {
		n := min(1000, elems-done)
		args := []string{"RPUSH", "hol:list"}
		for range n {
			args = append(args, v)
		}
		if _, err := c.do(args...); err != nil {
			return err
		}
		done += n
	}
	return nil
}

func holRun(addr string, clients int, dur time.Duration, heavy bool) (holResult, error) {
	var res holResult
	stop := make(chan struct{})
	var heavyDone atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients+1)
	// repeat runs one connection's command in a loop until stop.
	repeat := func(args []string, done func(time.Duration)) error {
		c, err := dialRESP(addr)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.c.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, err := c.do(args...); err != nil {
					errs <- err
					return
				}
				done(time.Since(start))
			}
		}()
		return nil
	}
	lat := make([][]time.Duration, clients)
	err := error(nil)
	if heavy {
		err = repeat([]string{"LRANGE", "hol:list", "0", "-1"}, func(time.Duration) { heavyDone.Add(1) })
	}
	for i := 0; i < clients && err == nil; i++ {
		err = repeat([]string{"GET", "hol:k"}, func(d time.Duration) { lat[i] = append(lat[i], d) })
	}
	if err != nil {
		close(stop)
		wg.Wait()
		return res, err
	}
	start := time.Now()
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return res, err
	default:
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return res, errors.New("no GET completed")
	}
	slices.Sort(all)
	res.rate = float64(len(all)) / elapsed.Seconds()
	res.heavyRate = float64(heavyDone.Load()) / elapsed.Seconds()
	res.p50 = all[len(all)/2]
	res.p99 = all[len(all)*99/100]
	res.max = all[len(all)-1]
	return res, nil
}
