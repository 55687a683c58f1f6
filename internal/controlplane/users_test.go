package controlplane

import (
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
)

// requirepass (A1) is the default user's password, as in Redis: from ModifyInstanceConfig or a stored
// instance's parameters it becomes "resetpass >pw" on the default user, is never stored as a parameter
// (nor in clear anywhere: the audit log holds the hash), and an empty one gives nopass back.
func TestRequirePassEditsTheDefaultUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	in := testInstance()
	in.Params = map[string]string{"requirepass": "s3cret"} // as the config file declares it
	if err := p.PutInstance(admin, in); err != nil {
		t.Fatal(err)
	}
	check := func(pass string, nopass bool) {
		t.Helper()
		got, err := p.Instance("r-test")
		if err != nil {
			t.Fatal(err)
		}
		if _, stored := got.Params["requirepass"]; stored {
			t.Errorf("requirepass stored as a parameter: %v", got.Params)
		}
		snap, err := p.CompileInstance(got)
		if err != nil {
			t.Fatal(err)
		}
		def := snap.Users.Get("default")
		if def.NoPass() != nopass || snap.DefaultUserNoPass != nopass {
			t.Errorf("default nopass %v, snapshot %v; want %v", def.NoPass(), snap.DefaultUserNoPass, nopass)
		}
		if pass != "" && (snap.Users.Authenticate("default", []byte(pass)) == nil || snap.Users.Authenticate("default", []byte("other")) != nil) {
			t.Errorf("default user does not take exactly the password %q", pass)
		}
	}
	check("s3cret", false)
	if err := p.SetParam(admin, "r-test", "requirepass", "n3w"); err != nil {
		t.Fatal(err)
	}
	check("n3w", false)
	st.Close()
	p, st = openPlane(t, path)
	check("n3w", false)
	entries, err := p.AuditLog(AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(string(e.Before)+string(e.After), "n3w") || strings.Contains(string(e.Before)+string(e.After), "s3cret") {
			t.Errorf("audit entry %d holds the password in clear", e.Seq)
		}
	}
	if err := p.SetParam(admin, "r-test", "requirepass", ""); err != nil {
		t.Fatal(err)
	}
	check("", true)
	if got, _ := p.Instance("r-test"); got.ACL != nil {
		t.Errorf("the fresh default user is stored as %q; want nothing", got.ACL)
	}
	_ = st
}

// ChangeUsers (ACL SETUSER/DELUSER through the gateway, A3) is durable and audited; a refused change
// returns Redis's reply text and changes nothing; stored lines that would not compile are refused.
func TestChangeUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	redis := Actor{KeyID: "redis:default", Source: "127.0.0.2"}
	if err := p.ChangeUsers(redis, "ACL SETUSER", "r-test", func(us *acl.Users) error {
		return us.SetUser("alice", "on", ">apw", "~app:*", "+@read")
	}); err != nil {
		t.Fatal(err)
	}
	err := p.ChangeUsers(redis, "ACL SETUSER", "r-test", func(us *acl.Users) error {
		if err := us.SetUser("bob", "on"); err != nil {
			return err
		}
		return us.SetUser("alice", "+nosuchcommand")
	})
	var re *acl.ReplyError
	if !errors.As(err, &re) || !strings.Contains(re.Reply, "nosuchcommand") {
		t.Fatalf("a bad rule: %v, want Redis's reply", err)
	}
	if err := p.ChangeUsers(redis, "ACL DELUSER", "r-nosuch", func(*acl.Users) error { return nil }); !errors.Is(err, ErrInstanceNotFound) {
		t.Fatalf("unknown instance: %v", err)
	}
	st.Close()
	p, _ = openPlane(t, path)
	in, err := p.Instance("r-test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user alice on #" + acl.HashPassword([]byte("apw")) + " ~app:* resetchannels -@all +@read", "user default on nopass ~* &* +@all"}
	if !slices.Equal(in.ACL, want) {
		t.Fatalf("stored users %q, want %q (bob must not be there)", in.ACL, want)
	}
	entries, _ := p.AuditLog(AuditFilter{Action: "ACL SETUSER"})
	if len(entries) != 1 || entries[0].KeyID != "redis:default" || entries[0].Source != "127.0.0.2" {
		t.Fatalf("audit: %+v", entries)
	}
	bad := in
	bad.ACL = []string{"user eve on +nosuchcommand"}
	if err := p.PutInstance(admin, bad); err == nil {
		t.Fatal("an instance with users that do not compile was stored")
	}
	if got, _ := p.Instance("r-test"); !slices.Equal(got.ACL, want) {
		t.Fatalf("a refused store changed the users: %q", got.ACL)
	}
}

// W11 and A5 parameters compile into the snapshot; password-free VPC access without the VPC's blocks is
// refused and changes nothing.
func TestVPCAndLockoutParams(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	if err := p.SetParam(admin, "r-test", "vpc-password-free", "yes"); err == nil || !strings.Contains(err.Error(), "vpc-cidr") {
		t.Fatalf("vpc-password-free without vpc-cidr: %v", err)
	}
	if err := p.SetParams(admin, "r-test", map[string]string{"vpc-password-free": "yes", "vpc-cidr": "10.8.0.0/16,10.9.0.0/16",
		"auth-lockout-threshold": "5", "auth-lockout-duration": "30"}); err != nil {
		t.Fatal(err)
	}
	in, _ := p.Instance("r-test")
	snap, err := p.CompileInstance(in)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.PasswordFree(netip.MustParseAddr("10.9.1.1")) || snap.PasswordFree(netip.MustParseAddr("10.10.1.1")) || snap.WhitelistAlways {
		t.Errorf("VPC: %v", snap.VPCFree)
	}
	if !snap.Admits(netip.MustParseAddr("10.8.0.1")) || snap.Admits(netip.MustParseAddr("10.10.0.1")) {
		t.Error("a password-free VPC client is not admitted, or another is")
	}
	if snap.AuthLockoutThreshold != 5 || snap.AuthLockoutDuration != 30*time.Second || snap.AuthLockoutWindow != time.Minute {
		t.Errorf("lockout: %d %v %v", snap.AuthLockoutThreshold, snap.AuthLockoutWindow, snap.AuthLockoutDuration)
	}
	if snap.AuthLockoutAddressThreshold != 100 {
		t.Errorf("auth-lockout-address-threshold by default: %d, want 100", snap.AuthLockoutAddressThreshold)
	}
	if err := p.SetParam(admin, "r-test", "auth-lockout-address-threshold", "1000001"); err == nil {
		t.Error("auth-lockout-address-threshold 1000001 accepted")
	}
	if err := p.SetParam(admin, "r-test", "auth-lockout-address-threshold", "0"); err != nil {
		t.Fatal(err)
	}
	in, _ = p.Instance("r-test")
	if snap, err = p.CompileInstance(in); err != nil {
		t.Fatal(err)
	}
	if snap.AuthLockoutAddressThreshold != 0 {
		t.Errorf("auth-lockout-address-threshold 0 compiled as %d", snap.AuthLockoutAddressThreshold)
	}
}

// A snapshot compiled after a change that leaves the users alone (a whitelist change) shares the users
// compiled before (compiledUsers), and a change of the users compiles new ones without touching those
// the older snapshots hold.
func TestCompiledUsersAreReusedUntilTheyChange(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	in := testInstance()
	if err := p.PutInstance(admin, in); err != nil {
		t.Fatal(err)
	}
	if err := p.ChangeUsers(admin, "ACL SETUSER", "r-test", func(us *acl.Users) error {
		return us.SetUser("app", "on", ">pw", "~app:*", "+get")
	}); err != nil {
		t.Fatal(err)
	}
	compile := func() *acl.Users { return compileStored(t, p, "r-test").Users }
	first := compile()
	if _, err := p.ModifySecurityIps(admin, "r-test", allowlist.Change{Mode: allowlist.Append, Entries: "10.9.9.9"}); err != nil {
		t.Fatal(err)
	}
	if again := compile(); again != first {
		t.Errorf("a whitelist change recompiled the users")
	}
	if err := p.ChangeUsers(admin, "ACL SETUSER", "r-test", func(us *acl.Users) error {
		return us.SetUser("app", "+set")
	}); err != nil {
		t.Fatal(err)
	}
	changed := compile()
	if changed == first {
		t.Fatalf("a change of the users kept the users compiled before")
	}
	set := [][]byte{[]byte("SET"), []byte("app:1"), []byte("v")}
	if r, err := changed.DryRun("app", set); err != nil || r != "OK" {
		t.Errorf("DRYRUN app SET after +set: %q, %v; want OK", r, err)
	}
	if r, err := first.DryRun("app", set); err != nil || r == "OK" {
		t.Errorf("the users an older snapshot holds changed: DRYRUN app SET = %q, %v", r, err)
	}
}
