package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moat-dev/moat/bench/harness"
)

// logw receives the progress lines (stdout, and the -log file if given).
var logw io.Writer = os.Stdout

type runConfig struct {
	ctx          context.Context // cancelled on SIGINT/SIGTERM: the running redis-benchmark is killed
	bench        string          // redis-benchmark
	requests     int
	clients      int
	churnN       int
	timeout      time.Duration
	redisPID     int
	floodAddr    string
	floodPID     int
	floodSrc     string
	floodWorkers int
	floodNice    int
	floodRate    int
	raw          *harness.SampleWriter
}

// run is the round-robin: for each round, each test (P1 set,get; P16 set,get; churn) against every
// measured target in turn (the order rotates each round), then moat's refusal-flood pair. Every
// redis-benchmark run is bounded by -timeout and the whole loop by -deadline; a failed run is reported
// and skipped, a dead proxy ends the loop.
func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	targetsPath := fs.String("targets", "", "targets file (see harness.ReadTargets)")
	rawPath := fs.String("raw", "", "raw samples CSV to write")
	rounds := fs.Int("rounds", 5, "rounds (1..50)")
	var c runConfig
	fs.StringVar(&c.bench, "redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	fs.IntVar(&c.requests, "n", 200000, "requests per set,get run (-n)")
	fs.IntVar(&c.clients, "c", 50, "parallel clients (-c)")
	fs.IntVar(&c.churnN, "churn-n", 50000, "requests (= connections) of the churn run")
	fs.DurationVar(&c.timeout, "timeout", 3*time.Minute, "limit of one redis-benchmark run")
	deadline := fs.Duration("deadline", 90*time.Minute, "limit of the whole loop; rounds not started by then are dropped")
	fs.IntVar(&c.redisPID, "redis-pid", 0, "pid of the redis-server behind every target")
	fs.StringVar(&c.floodAddr, "flood-addr", "", "moat's flood instance (empty: no flood test)")
	fs.IntVar(&c.floodPID, "flood-pid", 0, "pid of moat (serving the flood instance)")
	fs.StringVar(&c.floodSrc, "flood-src", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5", "source addresses of the flood (must be refused)")
	fs.IntVar(&c.floodWorkers, "flood-workers", 2, "concurrent connect-and-refuse loops")
	fs.IntVar(&c.floodNice, "flood-nice", 0, "niceness added to the flood client")
	fs.IntVar(&c.floodRate, "flood-rate", 0, "open-loop flood: connection attempts a second (0: -flood-workers closed loops)")
	warmup := fs.Bool("warmup", true, "one short unrecorded P16 run per target first")
	logPath := fs.String("log", "", "also write the progress lines to this file")
	fs.Parse(args)
	if *logPath != "" {
		lf, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer lf.Close()
		logw = io.MultiWriter(os.Stdout, lf)
	}
	if *rounds < 1 || *rounds > 50 {
		return fmt.Errorf("-rounds %d: want 1..50", *rounds)
	}
	if c.requests < 1 || c.requests > 10_000_000 || c.churnN < 1 || c.churnN > 1_000_000 || c.clients < 1 || c.clients > 1000 {
		return fmt.Errorf("-n, -churn-n or -c out of range")
	}
	if c.redisPID <= 0 {
		return fmt.Errorf("-redis-pid is required")
	}
	f, err := os.Open(*targetsPath)
	if err != nil {
		return err
	}
	specs, err := harness.ReadTargets(f)
	f.Close()
	if err != nil {
		return err
	}
	var measured []harness.TargetSpec
	for _, t := range specs {
		if t.Skip != "" {
			fmt.Fprintf(logw, "%-10s skipped: %s\n", t.Name, t.Skip)
			continue
		}
		if err := loopbackOnly(t.Addr); err != nil {
			return fmt.Errorf("target %s: %w", t.Name, err)
		}
		if t.Auth {
			who := "the default user"
			if t.User != "" {
				who = "ACL user " + t.User
			}
			fmt.Fprintf(logw, "%-10s redis-benchmark logs in as %s on every connection\n", t.Name, who)
		}
		measured = append(measured, t)
	}
	if c.floodAddr != "" {
		if err := loopbackOnly(c.floodAddr); err != nil {
			return fmt.Errorf("-flood-addr: %w", err)
		}
	}
	out, err := os.Create(*rawPath)
	if err != nil {
		return err
	}
	defer out.Close()
	if c.raw, err = harness.NewSampleWriter(out, true); err != nil {
		return err
	}
	end := time.Now().Add(*deadline)
	var stop context.CancelFunc
	c.ctx, stop = signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if *warmup {
		for _, t := range measured {
			if _, err := c.once(0, t.Name, t.Addr, t.BenchAuthArgs(), t.PID, []string{"-t", "set,get", "-n", "20000", "-P", "16"}, 16, "", nil, false); err != nil {
				fmt.Fprintf(logw, "warm-up %s: %v\n", t.Name, err)
			}
		}
	}
	type test struct {
		name     string
		args     []string
		pipeline int
	}
	n := strconv.Itoa(c.requests)
	tests := []test{
		{"P1 set,get", []string{"-t", "set,get", "-n", n, "-P", "1"}, 1},
		{"P16 set,get", []string{"-t", "set,get", "-n", n, "-P", "16"}, 16},
		{"churn", []string{"-t", "ping_mbulk", "-n", strconv.Itoa(c.churnN), "-k", "0"}, 0},
	}
	for r := 1; r <= *rounds; r++ {
		if c.ctx.Err() != nil {
			return fmt.Errorf("interrupted before round %d", r)
		}
		if time.Now().After(end) {
			fmt.Fprintf(logw, "deadline reached: stopping before round %d\n", r)
			break
		}
		for _, tt := range tests {
			for k := range measured {
				t := measured[(k+r-1)%len(measured)]
				if err := alive(t.PID, c.redisPID); err != nil {
					return fmt.Errorf("round %d, before %s on %s: %w", r, tt.name, t.Name, err)
				}
				res, err := c.once(r, t.Name, t.Addr, t.BenchAuthArgs(), t.PID, tt.args, tt.pipeline, "", nil, true)
				if err != nil {
					fmt.Fprintf(logw, "round %d %-10s %-12s FAILED: %v\n", r, t.Name, tt.name, err)
					if c.ctx.Err() != nil {
						return fmt.Errorf("interrupted in round %d", r)
					}
					continue
				}
				fmt.Fprintf(logw, "round %d %-10s %-12s %s\n", r, t.Name, tt.name, res)
			}
		}
		if c.floodAddr != "" {
			order := []bool{false, true}
			if r%2 == 0 {
				order = []bool{true, false}
			}
			for _, on := range order {
				if err := alive(c.floodPID, c.redisPID); err != nil {
					return fmt.Errorf("round %d, before the flood test: %w", r, err)
				}
				res, err := c.floodRun(r, on)
				if err != nil {
					fmt.Fprintf(logw, "round %d %-10s flood=%-5v FAILED: %v\n", r, "moat", on, err)
					if c.ctx.Err() != nil {
						return fmt.Errorf("interrupted in round %d", r)
					}
					continue
				}
				fmt.Fprintf(logw, "round %d %-10s flood=%-5v %s\n", r, "moat", on, res)
			}
		}
	}
	return nil
}

// loopbackOnly refuses any address that is not a loopback IP literal: the harness sends no traffic off
// the machine.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

func alive(pids ...int) error {
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		if _, err := harness.ProcCPU(pid); err != nil {
			return fmt.Errorf("process %d is gone: %w", pid, err)
		}
	}
	return nil
}

type cpuSnap struct {
	at                         time.Time
	box, softirq, proxy, redis float64
	flood                      float64
}

func (c *runConfig) snap(proxyPID, floodPID int) (cpuSnap, error) {
	s := cpuSnap{at: time.Now()}
	var err error
	if s.box, s.softirq, err = harness.BoxBusy(); err != nil {
		return s, err
	}
	if proxyPID > 0 {
		if s.proxy, err = harness.ProcCPU(proxyPID); err != nil {
			return s, err
		}
	}
	if s.redis, err = harness.ProcCPU(c.redisPID); err != nil {
		return s, err
	}
	if floodPID > 0 {
		if s.flood, err = harness.ProcCPU(floodPID); err != nil {
			return s, err
		}
	}
	return s, nil
}

// once runs redis-benchmark against addr with args, records one sample per result line (unless record
// is false), and returns a one-line summary. auth are the login arguments (TargetSpec.BenchAuthArgs),
// which redis-benchmark applies to every connection it opens. fl, when not nil, is a running flood
// client whose CPU and refusals during the run are recorded.
func (c *runConfig) once(round int, target, addr string, auth []string, proxyPID int, args []string, pipeline int, testOverride string, fl *floodProc, record bool) (string, error) {
	host, port, _ := net.SplitHostPort(addr)
	full := append([]string{"-h", host, "-p", port}, auth...)
	full = append(full, "--csv", "-c", strconv.Itoa(c.clients))
	full = append(full, args...)
	ops := int64(0)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-n" {
			ops, _ = strconv.ParseInt(args[i+1], 10, 64)
		}
	}
	if t := argOf(args, "-t"); t != "" {
		ops *= int64(len(strings.Split(t, ",")))
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bench, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	floodPID := 0
	var floodBefore int64
	if fl != nil {
		floodPID = fl.cmd.Process.Pid
		var err error
		if floodBefore, err = fl.count(); err != nil {
			return "", err
		}
	}
	before, err := c.snap(proxyPID, floodPID)
	if err != nil {
		return "", err
	}
	runErr := cmd.Run()
	after, err := c.snap(proxyPID, floodPID)
	if err != nil {
		return "", err
	}
	var floodAfter int64
	if fl != nil {
		if floodAfter, err = fl.count(); err != nil {
			return "", err
		}
	}
	if runErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if c.ctx.Err() != nil {
			msg = "interrupted; " + msg
		} else if ctx.Err() != nil {
			msg = "timed out after " + c.timeout.String() + "; " + msg
		}
		return "", fmt.Errorf("%v: %s", runErr, lastLine(msg))
	}
	results, err := harness.ParseBenchCSV(&stdout)
	if err != nil {
		return "", fmt.Errorf("%v (stderr: %s)", err, lastLine(stderr.String()))
	}
	var clientCPU float64
	if ps := cmd.ProcessState; ps != nil {
		clientCPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	wall := after.at.Sub(before.at).Seconds()
	proxyCPU, redisCPU, floodCPU := after.proxy-before.proxy, after.redis-before.redis, after.flood-before.flood
	other := (after.box - before.box) - clientCPU - proxyCPU - redisCPU - floodCPU
	var parts []string
	for _, res := range results {
		test := harness.TestName(res.Test, pipeline)
		if testOverride != "" {
			test = testOverride
		}
		s := harness.Sample{Round: round, Target: target, Test: test, RPS: res.RPS, P50Ms: res.P50Ms, Ops: ops,
			WallSec: wall, ClientCPU: clientCPU, ProxyCPU: proxyCPU, RedisCPU: redisCPU, FloodCPU: floodCPU,
			OtherCPU: other, SoftirqCPU: after.softirq - before.softirq, FloodConns: floodAfter - floodBefore}
		if record {
			if err := c.raw.Write(s); err != nil {
				return "", err
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s/s", res.Test, harness.Thousands(res.RPS)))
	}
	summary := fmt.Sprintf("%-28s cores: proxy %.2f redis %.2f client %.2f rest %.2f (softirq %.2f)", strings.Join(parts, "  "),
		proxyCPU/wall, redisCPU/wall, clientCPU/wall, other/wall, (after.softirq-before.softirq)/wall)
	if fl != nil {
		summary += fmt.Sprintf(" flood %.2f (%s refused/s)", floodCPU/wall, harness.Thousands(float64(floodAfter-floodBefore)/wall))
	}
	return summary, nil
}

func argOf(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// floodRun is one half of the flood pair: `-t get -P 1` against moat's flood instance, with a flood
// client running (on) or not.
func (c *runConfig) floodRun(round int, on bool) (string, error) {
	args := []string{"-t", "get", "-n", strconv.Itoa(c.requests), "-P", "1"}
	if !on {
		return c.once(round, "moat", c.floodAddr, nil, c.floodPID, args, 1, harness.TestFloodOff, nil, true)
	}
	fl, err := c.startFlood()
	if err != nil {
		return "", err
	}
	defer fl.stop()
	// Let it reach full speed, and prove it is being refused, before measuring.
	time.Sleep(300 * time.Millisecond)
	if n, err := fl.count(); err != nil {
		return "", err
	} else if n == 0 {
		return "", fmt.Errorf("the flood client saw no refusal in 300 ms (is %s refused by the flood instance?)", c.floodSrc)
	}
	return c.once(round, "moat", c.floodAddr, nil, c.floodPID, args, 1, harness.TestFloodOn, fl, true)
}

// floodProc is a running `moatbench flood` child. It answers SIGUSR1 with one line on stdout: the
// number of refusals so far.
type floodProc struct {
	cmd   *exec.Cmd
	lines *bufio.Reader
	stdin io.Closer
}

func (c *runConfig) startFlood() (*floodProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("nice", "-n", strconv.Itoa(c.floodNice), self, "flood", "-addr", c.floodAddr,
		"-src", c.floodSrc, "-workers", strconv.Itoa(c.floodWorkers), "-rate", strconv.Itoa(c.floodRate), "-max-duration", (c.timeout + 30*time.Second).String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The child exits when its stdin closes, so it cannot outlive this process even if we are killed.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	fl := &floodProc{cmd: cmd, lines: bufio.NewReader(stdout), stdin: stdin}
	line, err := fl.readLine(5 * time.Second) // "ready"
	if err != nil || line != "ready" {
		fl.stop()
		return nil, fmt.Errorf("flood client did not start: %q %v", line, err)
	}
	return fl, nil
}

func (fl *floodProc) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := fl.lines.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(timeout):
		return "", errors.New("flood client: no answer")
	}
}

func (fl *floodProc) count() (int64, error) {
	if err := fl.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return 0, err
	}
	line, err := fl.readLine(5 * time.Second)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.Fields(line + " x")[0], 10, 64)
}

func (fl *floodProc) stop() {
	fl.stdin.Close()
	fl.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { fl.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fl.cmd.Process.Kill()
		<-done
	}
}
