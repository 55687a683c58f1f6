package controlplane

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/snapshot"
)

// A snapshot compiled after a change that leaves the whitelist alone (an ACL user's rules) shares the
// allow set compiled before, also when the groups come from the store again (equal, not the same
// slice); a whitelist change compiles a new one, and the older snapshot's set is left as it was.
func TestAllowSetIsReusedUntilTheWhitelistChanges(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	compile := func() *snapshot.Snapshot { return compileStored(t, p, "r-test") }
	first := compile()
	if err := p.ChangeUsers(admin, "ACL SETUSER", "r-test", func(us *acl.Users) error {
		return us.SetUser("app", "on", ">pw", "~app:*", "+get")
	}); err != nil {
		t.Fatal(err)
	}
	users := compile()
	if users.Allow != first.Allow || users.Users.Get("app") == nil {
		t.Errorf("a change of the users compiled the whitelist again (or lost the user)")
	}
	added := netip.MustParseAddr("10.9.9.9")
	if _, err := p.ModifySecurityIps(admin, "r-test", allowlist.Change{Mode: allowlist.Append, Entries: "10.9.9.9"}); err != nil {
		t.Fatal(err)
	}
	wl := compile()
	if wl.Allow == first.Allow || !wl.Allow.Allows(added) || first.Allow.Allows(added) {
		t.Errorf("after a whitelist change: new set %v, allows 10.9.9.9 %v, the older set allows it %v",
			wl.Allow != first.Allow, wl.Allow.Allows(added), first.Allow.Allows(added))
	}
}

// compileStored compiles instance id as stored now.
func compileStored(t *testing.T, p *Plane, id string) *snapshot.Snapshot {
	t.Helper()
	got, err := p.Instance(id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := p.CompileInstance(got)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// The cache compiles again when a bound security group's hosts change, and forgets a deleted instance.
func TestAllowCacheBoundGroups(t *testing.T) {
	var c allowCache
	in := testInstance()
	host := func(addr string) []allowlist.Bound {
		return []allowlist.Bound{{SecurityGroup: "sg-1", Hosts: []allowlist.Host{{ID: "i-1", Addrs: []netip.Addr{netip.MustParseAddr(addr)}}}}}
	}
	a := c.get(in, host("10.1.1.1"))
	if b := c.get(in, host("10.1.1.1")); b != a {
		t.Error("the same bound hosts compiled again")
	}
	b := c.get(in, host("10.2.2.2"))
	if b == a || !b.Allows(netip.MustParseAddr("10.2.2.2")) || b.Allows(netip.MustParseAddr("10.1.1.1")) {
		t.Error("a bound host's new address: the set kept")
	}
	if c.get(in, nil) == b {
		t.Error("unbinding the group kept the set")
	}
	c.forget(in.ID)
	if len(c.entries) != 0 {
		t.Errorf("%d entries kept after forget", len(c.entries))
	}
	for i := range allowCacheSize + 5 {
		in.ID = "r-" + string(rune('a'+i))
		c.get(in, nil)
	}
	if len(c.entries) != allowCacheSize {
		t.Errorf("%d entries kept, want at most %d", len(c.entries), allowCacheSize)
	}
}
