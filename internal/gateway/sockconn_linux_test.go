package gateway_test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Idle clients that reset their connections just as the sweeper parks them leave moat running: a session
// whose client resets between its reader ending and its socket entering the waiting room wakes at once
// to the reset and ends. In a child process, so that a panic fails this test rather than the whole
// binary.
func TestClientsResettingAsTheyParkLeaveMoatRunning(t *testing.T) {
	if os.Getenv("MOAT_TEST_CHILD") == "park-reset" {
		resetWhileParking(t)
		return
	}
	skipWithoutLanes(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientsResettingAsTheyParkLeaveMoatRunning$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MOAT_TEST_CHILD=park-reset")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if i := strings.Index(s, "panic:"); i >= 0 {
			s = s[i:min(len(s), i+1500)]
		} else if len(s) > 1500 {
			s = s[len(s)-1500:]
		}
		t.Fatalf("moat died, or stopped serving (%v):\n%s", err, s)
	}
}

func resetWhileParking(t *testing.T) {
	e := newEnv(t, allowLoopback(t))
	start := time.Now()
	const n = 300
	// The sweeper ticks every second from Start (about start): sessions idle for 2 s park at a tick;
	// reset them all just as a tick parks them, a little later each round.
	for round, delta := range []time.Duration{0, 2 * time.Millisecond, 5 * time.Millisecond} {
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c := dial(t, e.addr, "127.0.1."+strconv.Itoa(1+i%250))
			if got := c.do("PING"); got != "+PONG\r\n" {
				t.Fatalf("PING: %q", got)
			}
			c.c.(*net.TCPConn).SetLinger(0)
			conns = append(conns, c.c)
		}
		last := time.Since(start)
		tick := (last + 2*time.Second).Truncate(time.Second) + time.Second
		time.Sleep(time.Until(start.Add(tick + delta)))
		before := e.parked()
		for _, c := range conns {
			c.Close()
		}
		t.Logf("round %d: reset at tick+%v, parked %v→%v (%v after start)", round, delta, before, e.parked(), time.Since(start))
		time.Sleep(300 * time.Millisecond)
	}
	// Every reset session ended, and moat serves a new client.
	if !eventually(15*time.Second, func() bool { return e.activeConns() == 0 }) {
		t.Fatalf("moat_connections_active = %v after every client reset, want 0", e.activeConns())
	}
	if got := expectAdmitted(t, e.addr, "127.0.0.2").do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after the resets: %q", got)
	}
}

// moat started with its standard error closed (`moat serve 2>&-`, some supervisors) accepts a client on
// descriptor 2; that client resets while moat writes to it, and moat goes on. (An *os.File of
// descriptor 1 or 2 raises SIGPIPE on EPIPE, which ends a Go program: a client socket is never served
// on one, aboveStdio.) In a child process, whose standard error the test closes.
func TestClientOnDescriptorTwoCannotKillMoat(t *testing.T) {
	if os.Getenv("MOAT_TEST_CHILD") == "fd2" {
		clientOnFD2(t)
		return
	}
	skipWithoutLanes(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientOnDescriptorTwoCannotKillMoat$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "MOAT_TEST_CHILD=fd2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if len(s) > 600 {
			s = s[len(s)-600:]
		}
		t.Fatalf("moat died (%v); its output:\n%s", err, s)
	}
}

func clientOnFD2(t *testing.T) {
	e := newEnv(t, allowLoopback(t))
	setter := dial(t, e.addr, "127.0.0.2")
	if got := setter.do("SET", "big", strings.Repeat("x", 1<<20)); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	ap, _ := netip.ParseAddrPort(e.addr)
	cfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Standard error closed, as for a daemon started with 2>&-: the next descriptor moat opens is 2.
	saved, _ := syscall.Dup(2)
	syscall.Close(2)
	err = syscall.Connect(cfd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())})
	time.Sleep(100 * time.Millisecond) // moat accepts it (on 2) before this process opens anything
	f := os.NewFile(uintptr(cfd), "client")
	c, ferr := net.FileConn(f)
	f.Close()
	if err != nil || ferr != nil {
		syscall.Dup2(saved, 2)
		t.Fatal(err, ferr)
	}
	cl := &client{c: c, br: newReader(c)}
	cl.attach(t)
	info := cl.do("CLIENT", "INFO")
	t.Logf("the client as moat sees it: %s", strings.TrimSpace(info))
	// Twenty 1 MiB replies the client does not read, then the end of its input (moat's side of the
	// socket is in CLOSE_WAIT), then a reset: moat's next write fails with EPIPE.
	var b strings.Builder
	for range 20 {
		b.WriteString(cmd("GET", "big"))
	}
	cl.send(b.String())
	c.(*net.TCPConn).CloseWrite()
	time.Sleep(200 * time.Millisecond)
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	time.Sleep(time.Second)
	if got := expectAdmitted(t, e.addr, "127.0.0.3"); got == nil {
		t.Fatal("moat is gone")
	}
	syscall.Dup2(saved, 2)
	t.Log("moat survived")
}
