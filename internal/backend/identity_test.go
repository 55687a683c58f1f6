package backend

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// connectionsReceived is the server's total_connections_received (INFO stats), asked on r.
func connectionsReceived(t *testing.T, r *rconn) int {
	t.Helper()
	info := r.do("INFO", "stats")
	_, rest, ok := strings.Cut(info, "total_connections_received:")
	if !ok {
		t.Fatalf("INFO stats: %s", info)
	}
	n, err := strconv.Atoi(rest[:strings.Index(rest, `\r`)])
	if err != nil {
		t.Fatalf("INFO stats: %s", info)
	}
	return n
}

// Identity writes share one backend connection, kept between them; after a backend restart (which
// closes it) the next write is made on a new connection and succeeds; Close closes the kept one.
func TestWriteIdentitiesKeepsOneConnection(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw")
	b := openT(t, "redis://:pw@"+srv.Addr)
	admin := direct(t, "tcp", srv.Addr, "pw")
	write := func(user string, del ...string) {
		t.Helper()
		id := b.Identity("r-1", user, []string{"~" + user + ":*", "+get"})
		if err := b.WriteIdentities(context.Background(), []*Identity{id}, del); err != nil {
			t.Fatalf("WriteIdentities(%s): %v", user, err)
		}
		if got := admin.do("ACL", "GETUSER", id.User); !strings.Contains(got, `"~`+user+`:*"`) {
			t.Fatalf("ACL GETUSER %s after the write = %s", id.User, got)
		}
	}

	before := connectionsReceived(t, admin)
	for _, u := range []string{"a", "b", "c"} {
		write(u)
	}
	write("d", IdentityName("r-1", "a"))
	if got := admin.do("ACL", "GETUSER", IdentityName("r-1", "a")); got != "(nil)" {
		t.Errorf("identity a after its ACL DELUSER: %s", got)
	}
	if n := connectionsReceived(t, admin) - before; n != 1 {
		t.Errorf("4 identity writes took %d connections, want 1 (kept)", n)
	}

	srv.Restart(t) // the kept connection dies with the server, and the identities with it
	admin = direct(t, "tcp", srv.Addr, "pw")
	before = connectionsReceived(t, admin)
	write("e")
	write("f")
	if n := connectionsReceived(t, admin) - before; n != 1 {
		t.Errorf("2 identity writes after the restart took %d new connections, want 1", n)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		clients := admin.do("INFO", "clients")
		if strings.Contains(clients, `connected_clients:1\r`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close, the kept connection is still open: %s", clients)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
