package gateway_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
)

// Users read again from lines that changed in a few users (acl.ReparseACLLines, as the control plane
// compiles them) carry which users changed; the publish writes, deletes and keeps exactly the identities
// it would by comparing every user: a changed user's identity is rewritten, a deleted or now unrestricted
// user's identity is deleted, a new restricted user gets one, the others stay.
func TestIdentitiesFollowChangedUsers(t *testing.T) {
	t.Parallel()
	tbl, err := acl.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	cfg := acl.Config{ScriptsNeedAllKeys: true}
	lines := []string{
		"user a on >apw ~a:* +@all",
		"user b on >bpw ~b:* +@all",
		"user c on >cpw ~c:* +@all",
		"user default on >defpw ~* &* +@all",
	}
	read := func(prev *acl.Users, lines []string) *acl.Users {
		us, err := acl.ReparseACLLines(prev, tbl, cfg, "acl", lines)
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	first := read(nil, lines)
	s := allowLoopback(t)
	s.Users = first
	e := newEnv(t, s, func(c *gateway.Config) { c.Commands, c.DefaultCommands = tbl, true }) // the table the users are read with: no rebind
	snap := e.gw.Snapshot()
	be := dial(t, e.srv.Addr, "127.0.0.1")
	getuser := func(user string) string { return be.do("ACL", "GETUSER", backend.IdentityName("r-test", user)) }
	if got := getuser("b"); !strings.Contains(got, "~b:*") {
		t.Fatalf("b's identity: %q", got)
	}

	next := slices.Clone(lines)
	next[0] = "user a on >apw ~a:* ~a2:* +@all" // changed
	next[1] = "user b on >bpw ~* &* +@all"      // no longer restricted
	next = slices.Insert(next, 2, "user bb on >bbpw ~bb:* +@all")
	second := read(first, next)
	if names, ok := second.ChangedFrom(first); !ok || !slices.Equal(names, []string{"a", "b", "bb"}) {
		t.Fatalf("ChangedFrom: %q, %v", names, ok)
	}
	s2 := allowLoopback(t)
	s2.Users = second
	e.gw.Publish(s2)
	if got := getuser("a"); !strings.Contains(got, "~a2:*") {
		t.Errorf("a's identity after its change: %q", got)
	}
	if got := getuser("b"); got != "$-1\r\n" {
		t.Errorf("b's identity once unrestricted: %q", got)
	}
	if got := getuser("bb"); !strings.Contains(got, "~bb:*") {
		t.Errorf("the new user's identity: %q", got)
	}
	if got := getuser("c"); !strings.Contains(got, "~c:*") {
		t.Errorf("c's identity: %q", got)
	}

	third := read(second, slices.Delete(slices.Clone(next), 0, 1)) // a deleted
	s3 := allowLoopback(t)
	s3.Users = third
	e.gw.Publish(s3)
	if got := getuser("a"); got != "$-1\r\n" {
		t.Errorf("the deleted user's identity: %q", got)
	}
	if got := getuser("bb"); !strings.Contains(got, "~bb:*") {
		t.Errorf("bb's identity: %q", got)
	}
	if !e.gw.IdentitiesReady() {
		t.Error("identities not ready")
	}
	if got := e.gw.Snapshot().Users; got.Table() != snap.Users.Table() || got.Config().ScriptsNeedAllKeys {
		t.Error("the published users were rebound, or keep moat's scripting rule")
	}
	if names, ok := e.gw.Snapshot().Users.ChangedFrom(snap.Users); ok {
		t.Errorf("the published copy says it changed %q from the first one", names)
	}
}
