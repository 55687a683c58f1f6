package gateway_test

import (
	"net"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
)

// With the backend down, a new client is told so at once, moat keeps serving, and clients work again as
// soon as the backend is back.
func TestBackendDownAndBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	expectAdmitted(t, e.addr, "127.0.0.2")

	e.srv.Stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		c := dial(t, e.addr, "127.0.0.2")
		c.expect(backendUnavailable)
		c.expectEOF(replyTimeout)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("backend-unavailable reply took %v, want < 3s", d)
		}
	}
	// Address checks still come first.
	e.gw.Publish(compile(nil))
	expectRefused(t, e.addr, "127.0.0.2")
	e.gw.Publish(allowLoopback(t))

	if got := e.refused("backend_unavailable"); got != 3 {
		t.Errorf("moat_connections_refused_total{reason=backend_unavailable} = %v, want 3", got)
	}
	if got := e.counter("moat_backend_errors_total", map[string]string{"instance": "r-test", "kind": "dial"}); got != 3 {
		t.Errorf("moat_backend_errors_total{kind=dial} = %v, want 3", got)
	}

	e.srv.Restart(t)
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	if got := c.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET after the backend came back: %q", got)
	}
}

// An established client whose backend connection dies is disconnected, not left hanging, whether it is
// waiting for a reply or idle; other clients and later ones are unaffected once the backend is back.
// On a shared lane an idle client owes nothing to the connection that died, so it stays: its next
// command is told the backend is unavailable (and the connection closed) while the backend is down, and
// is served once it is back.
func TestBackendDiesUnderEstablishedClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	idle := expectAdmitted(t, e.addr, "127.0.0.2")
	idleShared := expectAdmitted(t, e.addr, "127.0.0.5")
	blocked := expectAdmitted(t, e.addr, "127.0.0.3")
	sub := expectAdmitted(t, e.addr, "127.0.0.4")
	blocked.send(cmd("BLPOP", "nothing", "0"))
	sub.send(cmd("SUBSCRIBE", "ch"))
	sub.expect(array(bulk("subscribe"), bulk("ch"), ":1\r\n"))
	blocked.expectNothing(50 * time.Millisecond)

	e.srv.Stop()
	gone := map[string]*client{"blocked": blocked, "subscribed": sub}
	if testLanes == 0 {
		gone["idle"] = idle
	}
	for name, c := range gone {
		start := time.Now()
		c.expectEOF(3 * time.Second)
		t.Logf("%s client closed %v after the backend died", name, time.Since(start).Round(time.Millisecond))
	}
	stay := 0.0
	if testLanes > 0 {
		stay = 2
		idle.expectNothing(100 * time.Millisecond)
		idle.send(cmd("GET", "nothing"))
		idle.expect(backendUnavailable)
		idle.expectEOF(replyTimeout)
		stay--
	}
	if !eventually(3*time.Second, func() bool {
		return e.counter("moat_connections_active", map[string]string{"instance": "r-test"}) == stay
	}) {
		t.Errorf("moat_connections_active = %v after the backend died, want %v",
			e.counter("moat_connections_active", map[string]string{"instance": "r-test"}), stay)
	}

	e.srv.Restart(t)
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	if got := c.do("GET", "nothing"); got != "$-1\r\n" {
		t.Fatalf("GET after restart: %q", got)
	}
	if testLanes > 0 {
		if got := idleShared.do("GET", "nothing"); got != "$-1\r\n" {
			t.Fatalf("GET on an idle shared-lane client after restart: %q", got)
		}
	}
}

// A client that sends a command after its backend connection died gets the connection closed, not a hang.
// On a shared lane moat may first say the backend is unavailable (when it knew before the command).
func TestBackendDiesBeforeNextCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := expectAdmitted(t, e.addr, "127.0.0.2")
	e.srv.Stop()
	// The write may succeed (moat has not noticed yet) or fail (moat closed first): either way, no reply
	// may be invented and the connection must end.
	c.c.SetWriteDeadline(time.Now().Add(time.Second))
	c.c.Write([]byte(cmd("GET", "k")))
	c.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := c.br.ReadByte()
	if err == nil && testLanes > 0 && b == '-' {
		c.br.UnreadByte()
		c.expect(backendUnavailable)
		b, err = c.br.ReadByte()
	}
	if err == nil {
		t.Fatalf("got a reply byte %q from a dead backend", b)
	}
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatalf("connection still open 3s after the backend died")
	}
}

// The ways a session ends (QUIT, the client's end of input, a protocol error) deliver every reply owed
// on the embedded engine's lane too, which is a unix socket to another server (package backend/engine).
func TestEmbeddedBackendEndings(t *testing.T) {
	t.Parallel()
	be, err := backend.Open("embedded", t.TempDir(), nil)
	if err != nil {
		t.Fatalf("open the embedded backend: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	gw, err := gateway.Start(gateway.Config{
		ID: "r-test", Listen: []string{"127.0.0.1:0"}, Backend: be, Log: testLogger(t), Metrics: gateway.NewMetrics(),
	}, allowLoopback(t))
	if err != nil {
		t.Fatalf("gateway.Start: %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	addr := gw.Addrs()[0].String()

	c := dial(t, addr, "127.0.0.2")
	c.send(cmd("SET", "k", "v") + cmd("GET", "k") + cmd("QUIT") + cmd("SET", "k", "after-quit"))
	c.expect("+OK\r\n")
	c.expect(bulk("v"))
	c.expect("+OK\r\n")
	c.expectEOF(replyTimeout)

	c = dial(t, addr, "127.0.0.2")
	c.send(cmd("GET", "k") + cmd("DEL", "k"))
	if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.expect(bulk("v"))
	c.expect(":1\r\n")
	c.expectEOF(replyTimeout)

	c = dial(t, addr, "127.0.0.2")
	c.send(cmd("GET", "k") + "*1\r\nx\r\n")
	c.expect("$-1\r\n")
	c.expect("-ERR Protocol error: expected '$', got 'x'\r\n")
	c.expectEOF(replyTimeout)
}
