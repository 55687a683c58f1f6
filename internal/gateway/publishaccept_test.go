package gateway_test

import (
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/rediscmd"
)

// Accepts do not wait for a snapshot being published (Instance's lock order): Publish talks to the
// backend (the script guard, the identities) without the lock admit takes. With the backend paused
// (CLIENT PAUSE ALL), a Publish that changes the renames waits for it; meanwhile a new client is
// admitted and a refused one gets its refusal.
func TestAcceptWhilePublishWaitsForTheBackend(t *testing.T) {
	t.Parallel()
	const pause = 4 * time.Second
	snap := compile([]allowlist.Group{group(t, "two", "127.0.0.2")})
	e := newEnv(t, snap, func(c *gateway.Config) { c.DialTimeout = 3 * pause })
	admin := dial(t, e.srv.Addr, "127.0.0.1")
	admin.expectOK("CLIENT", "PAUSE", "4000", "ALL")
	r, err := rediscmd.ParseRenames(`FLUSHALL ""`)
	if err != nil {
		t.Fatal(err)
	}
	next := compile([]allowlist.Group{group(t, "two", "127.0.0.2")})
	next.Renames = r
	start := time.Now()
	started, published := make(chan struct{}), make(chan time.Time, 1)
	go func() {
		close(started)
		e.gw.Publish(next)
		published <- time.Now()
	}()
	<-started

	accepted := e.counter("moat_connections_accepted_total", map[string]string{"instance": "r-test"})
	dial(t, e.addr, "127.0.0.2")
	if !eventually(pause/2, func() bool {
		return e.counter("moat_connections_accepted_total", map[string]string{"instance": "r-test"}) > accepted
	}) {
		t.Fatal("an allowed client was not admitted while Publish waited for the backend")
	}
	refused := dial(t, e.addr, "127.0.0.9")
	if got, err := refused.readReplyErr(pause / 2); got != illegalAddress {
		t.Fatalf("refused client read %q (%v) while Publish waited, want %q", got, err, illegalAddress)
	}
	admittedBy := time.Now()

	end := <-published
	if e.gw.Snapshot().Renames.Empty() {
		t.Fatal("Publish did not publish the new snapshot")
	}
	if end.Sub(start) < pause/2 || !end.After(admittedBy) {
		t.Fatalf("Publish took %v and returned before the clients were served: the backend did not hold it up, the test shows nothing", end.Sub(start))
	}
}
