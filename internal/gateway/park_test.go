package gateway_test

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// parked is moat_connections_parked.
func (e *env) parked() float64 {
	return e.counter("moat_connections_parked", map[string]string{"instance": "r-test"})
}

// waitParked waits until n of the instance's connections are parked (idle for 0.5 s — longer once
// woken — and swept every 0.1 s).
func waitParked(t *testing.T, e *env, n int) {
	t.Helper()
	if !eventually(15*time.Second, func() bool { return e.parked() == float64(n) }) {
		t.Fatalf("moat_connections_parked = %v, want %d", e.parked(), n)
	}
}

// twoParked starts an instance with clients from 127.0.0.2 and 127.0.0.3 and waits until both are
// parked.
func twoParked(t *testing.T) (*env, *client, *client) {
	t.Helper()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	a := expectAdmitted(t, e.addr, "127.0.0.2")
	b := expectAdmitted(t, e.addr, "127.0.0.3")
	waitParked(t, e, 2)
	return e, a, b
}

// An idle session parks (its goroutines end) and resumes when its client sends again, as the same
// connection: the same user and state, every reply in order — also for a pipeline of ~240 KiB sent
// while parked, more than one read takes, and again after a second park.
func TestIdleSessionParksAndResumes(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers))
	c := dial(t, e.addr, "127.0.0.2")
	mustDo(t, c, "+OK\r\n", "AUTH", "alice", "apw")
	mustDo(t, c, "+OK\r\n", "SET", "app:k", "v")
	waitParked(t, e, 1)
	if got := e.activeConns(); got != 1 {
		t.Errorf("moat_connections_active = %v while parked, want 1", got)
	}

	var b strings.Builder
	const n = 3000 // ~240 KiB
	for i := range n {
		b.WriteString(cmd("SET", "app:"+strconv.Itoa(i), strings.Repeat("x", 40)))
	}
	b.WriteString(cmd("GET", "app:k") + cmd("GET", "secret") + cmd("ACL", "WHOAMI"))
	c.send(b.String())
	for i := range n {
		if got := c.readReply(); got != "+OK\r\n" {
			t.Fatalf("reply %d after waking: %q", i, got)
		}
	}
	for _, want := range []string{bulk("v"), "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n", bulk("alice")} {
		if got := c.readReply(); got != want {
			t.Fatalf("after waking: %q, want %q", got, want)
		}
	}
	if got := e.parked(); got != 0 {
		t.Errorf("moat_connections_parked = %v after the client sent, want 0", got)
	}
	// The socket it resumed on is the same connection, with both its addresses.
	info := c.do("CLIENT", "INFO")
	if !strings.Contains(info, " addr="+c.c.LocalAddr().String()+" ") || !strings.Contains(info, " laddr="+e.addr+" ") {
		t.Errorf("CLIENT INFO after waking: %q, want addr=%v laddr=%v", info, c.c.LocalAddr(), e.addr)
	}
	waitParked(t, e, 1)
	mustDo(t, c, bulk(strings.Repeat("x", 40)), "GET", "app:2999")
}

// A session woken from the waiting room waits twice as long before it parks again (1 s, then 2 s), so
// that a client sending a command every second or so does not park and wake for every command.
func TestWokenSessionParksLater(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	for _, after := range []time.Duration{time.Second, 2 * time.Second} {
		waitParked(t, e, 1)
		sent := time.Now() // before moat reads the PING, which its idle time counts from
		mustDo(t, c, "+PONG\r\n", "PING")
		if !eventually(15*time.Second, func() bool { return e.parked() == 1 }) {
			t.Fatalf("not parked again after waking (moat_connections_parked = %v)", e.parked())
		}
		if idle := time.Since(sent); idle < after {
			t.Fatalf("parked again %v after waking, want at least %v", idle, after)
		}
	}
}

// A parked session is still a connection: CLIENT LIST shows it, CLIENT KILL closes it, and a client that
// hangs up while parked ends its session.
func TestParkedSessionIsListedAndKillable(t *testing.T) {
	t.Parallel()
	e, idle, gone := twoParked(t)

	admin := expectAdmitted(t, e.addr, "127.0.0.4")
	list := admin.do("CLIENT", "LIST")
	if !strings.Contains(list, "addr=127.0.0.2:") || strings.Contains(list, "fd=-1") {
		t.Errorf("CLIENT LIST with a parked client: %q", list)
	}
	gone.c.Close()
	if !eventually(10*time.Second, func() bool { return e.activeConns() == 2 }) {
		t.Fatalf("moat_connections_active = %v after a parked client hung up, want 2", e.activeConns())
	}
	if got := admin.do("CLIENT", "KILL", "ADDR", idle.c.LocalAddr().String()); got != ":1\r\n" {
		t.Fatalf("CLIENT KILL of a parked client: %q", got)
	}
	idle.expectEOF(replyTimeout)
	if !eventually(10*time.Second, func() bool { return e.activeConns() == 1 && e.parked() == 0 }) {
		t.Fatalf("after CLIENT KILL: active %v, parked %v, want 1 and 0", e.activeConns(), e.parked())
	}
}

// Drop-on-revoke closes a parked session whose address is no longer allowed; Close ends parked
// sessions too.
func TestParkedSessionIsDroppedOnRevoke(t *testing.T) {
	t.Parallel()
	e, c, stays := twoParked(t)
	snap := dropOnRevoke(compile([]allowlist.Group{group(t, "default", "127.0.0.1,127.0.0.3")}))
	snap.SharedLanes = e.gw.Snapshot().SharedLanes
	e.gw.Publish(snap)
	c.expectEOF(replyTimeout)
	mustDo(t, stays, "+PONG\r\n", "PING")
	e.gw.Close()
	stays.expectEOF(replyTimeout)
}

// Sessions with connection state of their own never park: a dedicated lane (here after SELECT) may
// be sent replies at any time.
func TestDedicatedSessionDoesNotPark(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	mustDo(t, c, "+OK\r\n", "SELECT", "1")
	time.Sleep(4 * time.Second) // two sweeps past the idle time
	if got := e.parked(); got != 0 {
		t.Fatalf("moat_connections_parked = %v with a dedicated session, want 0", got)
	}
	mustDo(t, c, "+PONG\r\n", "PING")
}

// Clients that send just as the sweeper asks their sessions to park (idle a little less or more than the
// 2 s) lose no command and no reply: pipelines of SETs and GETs from many clients, every reply checked.
func TestParkingRacesTraffic(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	const clients, rounds = 40, 3
	errs := make(chan error, clients)
	for i := range clients {
		c := expectAdmitted(t, e.addr, "127.0.1."+strconv.Itoa(i+1))
		go func() {
			for r := range rounds {
				time.Sleep(1800*time.Millisecond + time.Duration((i*37+r*101)%1400)*time.Millisecond)
				key := "k" + strconv.Itoa(i)
				val := strconv.Itoa(r)
				c.send(cmd("SET", key, val) + cmd("GET", key) + cmd("PING"))
				for _, want := range []string{"+OK\r\n", bulk(val), "+PONG\r\n"} {
					if got, err := c.readReplyErr(replyTimeout); err != nil || got != want {
						errs <- fmt.Errorf("client %d round %d: %q, %v; want %q", i, r, got, err, want)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	if !eventually(10*time.Second, func() bool { return e.parked() > 0 }) {
		t.Error("no session parked: the test raced nothing")
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// A session with half a command read does not park: the sweeper's request finds it busy, and the rest
// of the command, sent seconds later, completes it.
func TestHalfSentCommandIsNotParked(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	half := cmd("SET", "k", "value")
	c.send(half[:len(half)-4])
	time.Sleep(4 * time.Second) // two sweeps past the idle time
	if got := e.parked(); got != 0 {
		t.Fatalf("moat_connections_parked = %v with half a command read, want 0", got)
	}
	c.send(half[len(half)-4:])
	if got := c.readReply(); got != "+OK\r\n" {
		t.Fatalf("the command completed seconds later: %q", got)
	}
	mustDo(t, c, bulk("value"), "GET", "k")
}

// The waiting room blocks no thread in a system call of its own: parked sockets wait in Go's poller, as
// a reader does ("IO wait"). A goroutine blocked in a system call keeps its P until the runtime's monitor
// takes it back — up to ~20 ms on an idle process — and with one P (moat's default on two cores) every
// other goroutine waits meanwhile: with gnet's event loop blocked in epoll_wait, a parked session's
// first command took 15–25 ms of an otherwise idle moat (/tmp/wake.sh-style runs, stop 21).
func TestWaitingRoomHoldsNoThread(t *testing.T) {
	t.Parallel()
	e, a, _ := twoParked(t)
	// A goroutine of the test's own, blocked in read(2) on a pipe: the looks must see it, or they cannot
	// see a blocked goroutine at all (the runtime names goroutine states in its stack dump's text).
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	go canaryBlockedRead(p[0])
	t.Cleanup(func() { syscall.Write(p[1], []byte{0}); syscall.Close(p[1]) })
	// Three looks 50 ms apart: a goroutine of the gateway's in a system call at every look is blocked in it.
	inSyscall := map[string]int{}
	canary := 0
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		buf := make([]byte, 8<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			switch {
			case !strings.Contains(head, "[syscall"):
			case strings.Contains(g, "canaryBlockedRead"):
				canary++
			case strings.Contains(g, "moat/internal/gateway"):
				inSyscall[head]++
			}
		}
	}
	if canary != 3 {
		t.Fatalf("the test's goroutine blocked in read(2) was seen in a system call at %d of 3 looks: the looks cannot tell", canary)
	}
	for head, n := range inSyscall {
		if n == 3 {
			t.Errorf("%s: a goroutine of the gateway is blocked in a system call while sessions are parked", head)
		}
	}
	if got := e.parked(); got != 2 {
		t.Fatalf("moat_connections_parked = %v, want 2", got)
	}
	mustDo(t, a, "+PONG\r\n", "PING")
}

// canaryBlockedRead blocks in read(2) on fd, a blocking pipe, until a byte comes; then it closes fd.
func canaryBlockedRead(fd int) {
	var b [1]byte
	syscall.Read(fd, b[:])
	syscall.Close(fd)
}
