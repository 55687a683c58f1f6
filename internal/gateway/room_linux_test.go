package gateway_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/gateway"
)

// noDescriptorsFor makes every new descriptor of the process fail with EMFILE for d (RLIMIT_NOFILE 4:
// 0–3 are taken).
func noDescriptorsFor(t *testing.T, d time.Duration) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = 4
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// The waiting room cannot be opened at the first park (here: no descriptor to spare, EMFILE, as when a
// burst of clients takes moat to its limit): its idle clients go on being served, awake, and so does an
// idle client that comes once descriptors are free again (the next park opens the room). Not parallel:
// it lowers the process's RLIMIT_NOFILE for ~1 s.
func TestRoomStartFailureKeepsIdleClients(t *testing.T) {
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	a := expectAdmitted(t, e.addr, "127.0.0.2")
	mustDo(t, a, "+PONG\r\n", "PING")

	noDescriptorsFor(t, 1200*time.Millisecond) // past parkAfter and a sweep: the first park tries to open the room

	// The client that was idle while descriptors ran out is still served.
	a.send(cmd("PING"))
	if got, err := a.readReplyErr(replyTimeout); got != "+PONG\r\n" {
		t.Errorf("idle client while the waiting room could not open: PING → %q, %v; want +PONG", got, err)
	}
	// A client idle after descriptors are free again is still served too (parked or not).
	b := expectAdmitted(t, e.addr, "127.0.0.3")
	time.Sleep(1500 * time.Millisecond)
	b.send(cmd("PING"))
	if got, err := b.readReplyErr(replyTimeout); got != "+PONG\r\n" {
		t.Errorf("client idle after descriptors were free again: PING → %q, %v; want +PONG", got, err)
	}
}

// With the room open, a session whose socket cannot be duplicated as it parks (no descriptor to spare)
// stays awake on its socket, served. Not parallel: it lowers the process's RLIMIT_NOFILE for ~1 s.
func TestParkDupFailureKeepsIdleClient(t *testing.T) {
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	b := expectAdmitted(t, e.addr, "127.0.0.3")
	waitParked(t, e, 1) // the room is open
	a := expectAdmitted(t, e.addr, "127.0.0.2")
	mustDo(t, a, "+PONG\r\n", "PING")
	noDescriptorsFor(t, 1200*time.Millisecond)
	a.send(cmd("PING"))
	if got, err := a.readReplyErr(replyTimeout); got != "+PONG\r\n" {
		t.Errorf("idle client whose park could not duplicate its socket: PING → %q, %v; want +PONG", got, err)
	}
	mustDo(t, b, "+PONG\r\n", "PING")
}

// Should the waiting room fail (its epoll instance closed under it here), every parked session wakes
// and is served, and the next park opens a new room.
func TestRoomFailureWakesParkedSessions(t *testing.T) {
	t.Parallel()
	e, a, b := twoParked(t)
	if !gateway.BreakWaitingRoom(e.gw) {
		t.Fatal("no waiting room open with two sessions parked")
	}
	if !eventually(5*time.Second, func() bool { return e.parked() == 0 }) {
		t.Fatalf("moat_connections_parked = %v after the room failed, want 0", e.parked())
	}
	mustDo(t, a, "+PONG\r\n", "PING")
	waitParked(t, e, 2) // b, which woke to nothing, and a: in a new room
	mustDo(t, a, "+PONG\r\n", "PING")
	mustDo(t, b, "+PONG\r\n", "PING")
}
