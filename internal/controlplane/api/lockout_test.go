package api_test

import (
	"strings"
	"testing"
)

// CheckAccess with UserName reports the brute-force lockout (A5) the gateway holds: after 10 wrong
// passwords for alice from one address, logging in as alice from there is refused until a given time,
// whatever the password, while the address itself is still admitted, other users still log in from
// it, and alice still logs in from elsewhere.
func TestCheckAccessReportsLockout(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "loopback", "Cover", "127.0.0.0/8")
	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "alice", "Rules": "on >apw ~* +@all"})
	for range 10 {
		if got := redis(t, m.listen, "127.0.0.5", "AUTH alice wrong"); !strings.HasPrefix(got, "-WRONGPASS") {
			t.Fatalf("AUTH alice wrong: %q", got)
		}
	}
	if got := redis(t, m.listen, "127.0.0.5", "AUTH alice apw"); !strings.HasPrefix(got, "-WRONGPASS") {
		t.Fatalf("AUTH alice with the right password while locked out: %q", got)
	}
	check := func(src, user string) (bool, map[string]any) {
		t.Helper()
		out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src, "UserName": user})
		return out["Allowed"] == true, out["User"].(map[string]any)
	}
	ok, u := check("127.0.0.5", "alice")
	if !ok || u["Allowed"] != false || u["LockedOut"] != true || u["LockedUntil"] == "" ||
		!strings.Contains(u["Reason"].(string), "locked out until") {
		t.Errorf("alice from the locked address: admitted %v, login %v", ok, u)
	}
	if ok, u := check("127.0.0.5", "default"); !ok || u["Allowed"] != true || u["LockedOut"] != false {
		t.Errorf("the default user from the same address: admitted %v, login %v", ok, u)
	}
	if ok, u := check("127.0.0.6", "alice"); !ok || u["Allowed"] != true || u["LockedOut"] != false {
		t.Errorf("alice from another address: admitted %v, login %v", ok, u)
	}
}
