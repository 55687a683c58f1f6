package gateway

import (
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/snapshot"
)

// bind recompiles a snapshot's users against the instance's command table once: a later snapshot with the
// same users (a whitelist change) gets the users recompiled before, and a snapshot with other users gets
// its own, which judge by their own rules.
func TestBindRecompilesUsersOnlyWhenTheyChange(t *testing.T) {
	compiled, err := acl.LoadDefault() // the control plane's table
	if err != nil {
		t.Fatal(err)
	}
	backendTable, err := acl.LoadDefault() // the instance's, as if the backend's COMMAND gave it
	if err != nil {
		t.Fatal(err)
	}
	users := func(rules ...string) *acl.Users {
		us := acl.NewUsers(compiled, acl.Config{ScriptsNeedAllKeys: true})
		if err := us.SetUser("app", rules...); err != nil {
			t.Fatal(err)
		}
		return us
	}
	in := &Instance{table: backendTable}
	a := users("on", ">pw", "~app:*", "+get")
	first := in.bind(&snapshot.Snapshot{Users: a}).Users
	if first == a || first.Table() != backendTable {
		t.Fatalf("the users were not recompiled against the instance's table")
	}
	if again := in.bind(&snapshot.Snapshot{Users: a, DropOnRevoke: true}).Users; again != first {
		t.Errorf("a snapshot with the same users recompiled them")
	}
	b := users("on", ">pw", "~app:*", "+get", "+set")
	other := in.bind(&snapshot.Snapshot{Users: b}).Users
	if other == first || other.Table() != backendTable {
		t.Fatalf("a snapshot with other users kept the users recompiled before")
	}
	set := [][]byte{[]byte("SET"), []byte("app:1"), []byte("v")}
	if r, err := other.DryRun("app", set); err != nil || r != "OK" {
		t.Errorf("DRYRUN app SET with +set: %q, %v; want OK", r, err)
	}
	if r, err := first.DryRun("app", set); err != nil || r == "OK" {
		t.Errorf("DRYRUN app SET without +set: %q, %v; want a denial", r, err)
	}
}
