package gateway_test

import (
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// W9: a change applies to new connections; established ones continue.
func TestChangeAppliesToNewConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2,127.0.0.3")}))
	old := expectAdmitted(t, e.addr, "127.0.0.2")

	// Remove 127.0.0.2.
	e.gw.Publish(compile([]allowlist.Group{group(t, "default", "127.0.0.3")}))
	if got := old.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("established connection after its address was removed: PING got %q, want +PONG", got)
	}
	if got := old.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("established connection after its address was removed: SET got %q", got)
	}
	expectRefused(t, e.addr, "127.0.0.2")
	expectAdmitted(t, e.addr, "127.0.0.3")

	// Add 127.0.0.4: the next connection from it is admitted.
	expectRefused(t, e.addr, "127.0.0.4")
	e.gw.Publish(compile([]allowlist.Group{group(t, "default", "127.0.0.3"), group(t, "more", "127.0.0.4")}))
	c := expectAdmitted(t, e.addr, "127.0.0.4")
	if got := c.do("GET", "k"); got != bulk("v") {
		t.Fatalf("GET k from the new client: %q, want %q", got, bulk("v"))
	}
	if got := old.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("established connection: PING got %q, want +PONG", got)
	}
	if got := e.refused("revoked"); got != 0 {
		t.Errorf("moat_connections_refused_total{reason=revoked} = %v, want 0 without drop-on-revoke", got)
	}
}

// W9: with drop-on-revoke, established connections whose address is no longer allowed are closed within
// a second of the change; the others stay.
func TestDropOnRevokeClosesRevokedConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, dropOnRevoke(compile([]allowlist.Group{group(t, "default", "127.0.0.2,127.0.0.3")})))
	revoked := expectAdmitted(t, e.addr, "127.0.0.2")
	revoked2 := expectAdmitted(t, e.addr, "127.0.0.2")
	kept := expectAdmitted(t, e.addr, "127.0.0.3")

	// A client blocked in a command is closed too: nothing it waits for outranks the change.
	revoked2.send(cmd("BLPOP", "nothing", "0"))
	revoked2.expectNothing(100 * time.Millisecond) // blocked, its command read by moat

	start := time.Now()
	e.gw.Publish(dropOnRevoke(compile([]allowlist.Group{group(t, "default", "127.0.0.3")})))
	revoked.expectEOF(time.Second)
	revoked2.expectEOF(time.Second - time.Since(start))
	if d := time.Since(start); d > time.Second {
		t.Errorf("revoked connections closed %v after Publish, want within 1s", d)
	}
	if got := kept.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("allowed connection after the change: PING got %q, want +PONG", got)
	}
	expectRefused(t, e.addr, "127.0.0.2")
	if got := e.refused("revoked"); got != 2 {
		t.Errorf("moat_connections_refused_total{reason=revoked} = %v, want 2", got)
	}
	if !eventually(2*time.Second, func() bool {
		return e.counter("moat_connections_active", map[string]string{"instance": "r-test"}) == 1
	}) {
		t.Errorf("moat_connections_active = %v, want 1", e.counter("moat_connections_active", map[string]string{"instance": "r-test"}))
	}
}
