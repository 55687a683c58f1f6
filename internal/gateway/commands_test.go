package gateway_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/gateway"
)

// withCommands makes the instance judge with table t instead of asking the backend (as when the backend's
// COMMAND reply differs from 7.0.15's).
func withCommands(t *acl.Table) envOption {
	return func(c *gateway.Config) { c.Commands, c.DefaultCommands = t, true }
}

// olderTable is redis-server 7.0.15's table without GETDEL and LMPOP: a stand-in for an older backend's
// COMMAND reply.
func olderTable(t *testing.T) *acl.Table {
	t.Helper()
	data, err := os.ReadFile("../acl/commands.json")
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte(`{"name":"getdel"`)) && !bytes.HasPrefix(line, []byte(`{"name":"lmpop"`)) {
			kept = append(kept, line)
		}
	}
	tbl, err := acl.ParseJSON(bytes.Join(kept, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Lookup("getdel") != nil || tbl.Lookup("get") == nil {
		t.Fatal("the filtered table is not what the test needs")
	}
	return tbl
}

// A5's command table (issue: "from the backend's COMMAND reply when it has one"): users compiled by the
// control plane against 7.0.15's table are judged with the instance's table, so a command the backend
// does not have is unknown to a restricted user, as it would be on that server; users whose rules name
// such a command keep 7.0.15's table (logged) rather than lose their rules.
func TestUsersJudgedWithTheInstanceTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers), withCommands(olderTable(t)))
	alice := dial(t, e.addr, "127.0.0.2")
	alice.do("AUTH", "alice", "apw")
	if got := alice.do("GETDEL", "app:1"); got != "-ERR unknown command 'GETDEL', with args beginning with: 'app:1' \r\n" {
		t.Errorf("GETDEL, which the instance's table lacks: %q", got)
	}
	if got := alice.do("GET", "app:1"); got != "$-1\r\n" {
		t.Errorf("GET: %q", got)
	}
	naming := append([][]string{}, aclUsers...)
	naming = append(naming, []string{"fred", "on", ">f", "~*", "+getdel"})
	e2 := newEnv(t, withUsers(t, allowLoopback(t), naming), withCommands(olderTable(t)))
	fred := dial(t, e2.addr, "127.0.0.3")
	fred.do("AUTH", "fred", "f")
	if got := fred.do("GETDEL", "k"); got != "$-1\r\n" {
		t.Errorf("GETDEL by a user whose rules name it (7.0.15's table kept): %q", got)
	}
}

// The instance asks a real redis-server for its table (the same as 7.0.15's here: every check of
// TestACLMatchesRedis runs with it), and the embedded engine, which has no COMMAND, falls back to
// 7.0.15's table: its users are judged all the same.
func TestEmbeddedBackendUsesTheDefaultTable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withUsers(t, allowLoopback(t), aclUsers), withBackend(t, "embedded"))
	alice := dial(t, e.addr, "127.0.0.2")
	if got := alice.do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Fatalf("AUTH: %q", got)
	}
	if got := alice.do("SET", "other", "v"); !strings.HasPrefix(got, "-NOPERM this user has no permissions to access one of the keys") {
		t.Errorf("SET other on the embedded engine: %q", got)
	}
	if got := alice.do("SET", "app:1", "v"); got != "+OK\r\n" {
		t.Errorf("SET app:1 on the embedded engine: %q", got)
	}
}
