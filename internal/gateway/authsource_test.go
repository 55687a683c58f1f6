package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

const wrongPass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"

// A4: a user restricted to source addresses logs in only from them; from elsewhere AUTH and HELLO AUTH
// fail exactly as a wrong password does, the ACL LOG says "source", and the refusal is counted. A
// restricted default user does not start authenticated elsewhere.
func TestUserSourceRestriction(t *testing.T) {
	t.Parallel()
	users := append([][]string{{"default", "on", "nopass", "~*", "&*", "+@all"}}, aclUsers[1:]...)
	s := withUsers(t, allowLoopback(t), users)
	s.UserSources = map[string]*allowlist.Set{
		"alice":   allowlist.Compile([]allowlist.Group{group(t, "user:alice", "127.0.0.2")}, nil),
		"default": allowlist.Compile([]allowlist.Group{group(t, "office", "127.0.0.4/31")}, nil),
	}
	e := newEnv(t, s)

	from2 := dial(t, e.addr, "127.0.0.2")
	if got := from2.do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Errorf("AUTH alice from an allowed address: %q", got)
	}
	from3 := dial(t, e.addr, "127.0.0.3")
	if got := from3.do("GET", "k"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("default user restricted elsewhere, GET from 127.0.0.3: %q", got)
	}
	if got := from3.do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("AUTH alice from 127.0.0.3: %q", got)
	}
	if got := from3.do("HELLO", "3", "AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("HELLO AUTH alice from 127.0.0.3: %q", got)
	}
	if got := from3.do("AUTH", "bob", "x"); got != "+OK\r\n" { // bob is not restricted
		t.Errorf("AUTH bob from 127.0.0.3: %q", got)
	}
	from5 := dial(t, e.addr, "127.0.0.5")
	if got := from5.do("GET", "k"); got != "$-1\r\n" {
		t.Errorf("default user from its office 127.0.0.5: %q", got)
	}
	if got := from5.do("ACL", "LOG", "1"); !strings.Contains(got, "$6\r\nsource\r\n") || !strings.Contains(got, "$5\r\nalice\r\n") {
		t.Errorf("ACL LOG: %q, want the source refusal of alice", got)
	}
	if n := e.counter("moat_acl_refusals_total", map[string]string{"instance": "r-test", "reason": "source"}); n != 2 {
		t.Errorf("source refusals counted: %v, want 2", n)
	}
}

// A5: failed logins as one user from one address lock that pair out — its AUTH fails whatever the
// password, on open and new connections alike — while the address's other users and other addresses
// are unaffected and no connection is refused; the lockout ends after its duration, on the gateway's
// clock. (Before issue 15 the whole address was locked and its new connections refused.)
func TestAuthLockout(t *testing.T) {
	t.Parallel()
	e, clock := lockoutEnv(t, 3, 0, time.Minute, 700*time.Millisecond)
	c := dial(t, e.addr, "127.0.0.6")
	guess(t, c, "alice", 3)
	if got := c.do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("the right password while locked out: %q", got)
	}
	again := dial(t, e.addr, "127.0.0.6")
	if got := again.do("PING"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("a new connection while locked out: %q, want it served", got)
	}
	if got := again.do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("the right password on a new connection while locked out: %q", got)
	}
	if got := again.do("AUTH", "dave", "dpw"); got != "+OK\r\n" {
		t.Errorf("another user from the locked-out address: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.7").do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Errorf("another address: %q", got)
	}
	if n := e.counter("moat_acl_refusals_total", map[string]string{"instance": "r-test", "reason": "lockout"}); n != 2 {
		t.Errorf("logins refused by the lockout: %v, want 2", n)
	}
	if n := e.refused("auth_lockout"); n != 0 {
		t.Errorf("connections refused by the lockout: %v, want none", n)
	}
	clock.Advance(699 * time.Millisecond)
	if got := c.do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("the right password 699ms into a 700ms lockout: %q", got)
	}
	clock.Advance(time.Millisecond)
	if got := c.do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Errorf("the right password once the lockout ended: %q", got)
	}
}

// A5: failures are counted within the window only — failures spread wider than auth-lockout-window
// never lock — and a lockout's end starts a fresh count.
func TestAuthLockoutWindow(t *testing.T) {
	t.Parallel()
	e, clock := lockoutEnv(t, 3, 0, time.Minute, 5*time.Minute)
	c := dial(t, e.addr, "127.0.0.8")
	for range 3 { // two failures a window, six in all
		guess(t, c, "alice", 2)
		clock.Advance(61 * time.Second)
	}
	if got := c.do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Fatalf("after failures spread over three windows: %q, want no lockout", got)
	}
	guess(t, c, "alice", 3)
	clock.Advance(5*time.Minute - time.Second)
	if got := c.do("AUTH", "alice", "apw"); got != wrongPass {
		t.Errorf("a second before the lockout ends: %q", got)
	}
	clock.Advance(time.Second)
	guess(t, c, "alice", 1)
	if got := c.do("AUTH", "alice", "apw"); got != "+OK\r\n" {
		t.Errorf("one failure after the lockout ended: %q, want a fresh count", got)
	}
}

// W11: with password-free VPC access, a client inside the VPC needs no password and skips the
// whitelist; others are judged as always. #no_loose_check-whitelist-always puts VPC clients back under
// the whitelist (still password-free).
func TestPasswordFreeVPC(t *testing.T) {
	t.Parallel()
	s := withUsers(t, compile([]allowlist.Group{group(t, "app", "127.0.0.9")}), aclUsers)
	s.VPCFree = allowlist.Compile([]allowlist.Group{group(t, "vpc", "127.0.0.16/28")}, nil)
	e := newEnv(t, s)
	if got := dial(t, e.addr, "127.0.0.17").do("SET", "k", "v"); got != "+OK\r\n" {
		t.Errorf("VPC client, not whitelisted, no password: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.9").do("GET", "k"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("whitelisted client outside the VPC: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.40").readReply(); got != illegalAddress {
		t.Errorf("neither: %q", got)
	}
	strict := withUsers(t, compile([]allowlist.Group{group(t, "app", "127.0.0.9,127.0.0.18")}), aclUsers)
	strict.VPCFree, strict.WhitelistAlways = s.VPCFree, true
	e.gw.Publish(strict)
	if got := dial(t, e.addr, "127.0.0.17").readReply(); got != illegalAddress {
		t.Errorf("VPC client not whitelisted, with the whitelist always on: %q", got)
	}
	if got := dial(t, e.addr, "127.0.0.18").do("GET", "k"); got != bulk("v") {
		t.Errorf("whitelisted VPC client: %q, want no password needed", got)
	}
}

// N5 with A4: behind a trusted load balancer, a user's source restriction judges the address the PROXY
// header carries, not the balancer's.
func TestUserSourcesBehindProxy(t *testing.T) {
	t.Parallel()
	s := withUsers(t, proxySnap(t), aclUsers)
	s.UserSources = map[string]*allowlist.Set{"alice": allowlist.Compile([]allowlist.Group{group(t, "user:alice", "10.1.2.3")}, nil)}
	e := newEnv(t, s)
	for _, tc := range []struct{ client, want string }{{"10.1.2.3", "+OK\r\n"}, {"127.0.0.9", wrongPass}} {
		c := dial(t, e.addr, lb)
		c.send(headerV1(tc.client, 40100) + cmd("AUTH", "alice", "apw"))
		if got := c.readReply(); got != tc.want {
			t.Errorf("AUTH alice from %s behind the balancer: %q, want %q", tc.client, got, tc.want)
		}
	}
}
