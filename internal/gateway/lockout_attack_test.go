package gateway_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/refused"
)

// The brute-force lockout (A5) tried as an attacker would (issue 15): a real redis-server behind moat,
// real client addresses on 127.0.0.x, the default settings (10 failures per (address, user), 100 per
// address, in 60 s, locked for 300 s) unless said otherwise, on a test clock.

const (
	lockWindow   = 60 * time.Second
	lockDuration = 300 * time.Second
)

// loggedIn asserts that AUTH user pass on c succeeds.
func loggedIn(t *testing.T, c *client, user, pass, why string) {
	t.Helper()
	if got := c.do("AUTH", user, pass); got != "+OK\r\n" {
		t.Fatalf("%s: AUTH %s: %q, want +OK", why, user, got)
	}
}

// lockedOut asserts that AUTH user pass on c, with the right password, gets the wrong-password reply.
func lockedOut(t *testing.T, c *client, user, pass, why string) {
	t.Helper()
	if got := c.do("AUTH", user, pass); got != wrongPass {
		t.Fatalf("%s: AUTH %s with the right password: %q, want the wrong-password reply", why, user, got)
	}
}

// Guessing alice's password while logging in as one's own account (dave) every 9th try: the
// success clears dave's count only, so alice's pair locks at the 10th failure and her right password
// is then refused; dave still logs in. Once the lockout ends, alice does.
func TestLockoutAttackInterleavedOwnLogin(t *testing.T) {
	t.Parallel()
	e, clock := lockoutEnv(t, 10, 100, lockWindow, lockDuration)
	c := dial(t, e.addr, "127.0.0.20")
	for round := range 60 { // 540 guesses, as in the issue
		guess(t, c, "alice", 9)
		loggedIn(t, c, "dave", "dpw", fmt.Sprintf("round %d, the attacker's own account", round))
	}
	lockedOut(t, c, "alice", "apw", "after 540 interleaved guesses")
	lockedOut(t, dial(t, e.addr, "127.0.0.20"), "alice", "apw", "a new connection")
	loggedIn(t, dial(t, e.addr, "127.0.0.21"), "alice", "apw", "alice from another address")
	if n := e.counter("moat_acl_refusals_total", map[string]string{"instance": "r-test", "reason": "auth"}); n != 10 {
		t.Errorf("wrong passwords judged: %v, want 10 (the rest refused by the lockout)", n)
	}
	clock.Advance(lockDuration)
	loggedIn(t, c, "alice", "apw", "after the lockout")
}

// With a nopass default user (no requirepass), AUTH default <anything> and AUTH of a nopass user
// succeed; between guesses they reset nothing.
func TestLockoutAttackThroughNopassUser(t *testing.T) {
	t.Parallel()
	users := append([][]string{{"default", "on", "nopass", "~*", "&*", "+@all"}}, aclUsers[1:]...)
	s := withUsers(t, allowLoopback(t), users)
	s.AuthLockoutThreshold, s.AuthLockoutAddressThreshold = 10, 100
	s.AuthLockoutWindow, s.AuthLockoutDuration = lockWindow, lockDuration
	e := newEnv(t, s, withClock(newTestClock()))
	c := dial(t, e.addr, "127.0.0.22")
	for round := range 30 {
		guess(t, c, "alice", 1)
		loggedIn(t, c, "default", fmt.Sprintf("anything%d", round), "the nopass default user")
		guess(t, c, "alice", 1)
		loggedIn(t, c, "bob", "x", "the nopass user bob")
		if got := c.do("HELLO", "3", "AUTH", "default", "x"); !strings.HasPrefix(got, "%") {
			t.Fatalf("HELLO 3 AUTH default x: %q", got)
		}
		c.do("HELLO", "2")
	}
	lockedOut(t, c, "alice", "apw", "after 60 guesses between nopass logins")
	if got := dial(t, e.addr, "127.0.0.22").do("SET", "k", "v"); got != "+OK\r\n" {
		t.Errorf("a new connection of the nopass default user from that address: %q", got)
	}
}

// Spraying many user names from one address, a few guesses each (below the per-user threshold): the
// address locks at auth-lockout-address-threshold, for every name, with the right password too; other
// addresses are not affected. Operators see it in ACL LOG, the refusal records and the metric.
func TestLockoutAttackNameSpraying(t *testing.T) {
	t.Parallel()
	users := [][]string{{"default", "resetpass", ">defpw"}}
	for i := range 40 {
		users = append(users, []string{fmt.Sprintf("user%02d", i), "on", fmt.Sprintf(">pw%02d", i), "~*", "+@all"})
	}
	s := withUsers(t, allowLoopback(t), users)
	s.AuthLockoutThreshold, s.AuthLockoutAddressThreshold = 10, 100
	s.AuthLockoutWindow, s.AuthLockoutDuration = lockWindow, lockDuration
	clock := newTestClock()
	e := newEnv(t, s, withClock(clock))
	c := dial(t, e.addr, "127.0.0.23")
	for i := range 25 { // 25 names × 4 guesses = the address threshold
		guess(t, c, fmt.Sprintf("user%02d", i), 4)
	}
	lockedOut(t, c, "user30", "pw30", "a name never tried, after 100 failures from the address")
	lockedOut(t, dial(t, e.addr, "127.0.0.23"), "default", "defpw", "the default user, new connection")
	loggedIn(t, dial(t, e.addr, "127.0.0.24"), "user30", "pw30", "another address")

	if got := c.do("HELLO", "2", "AUTH", "user31", "pw31"); got != wrongPass {
		t.Errorf("HELLO AUTH from the locked address: %q", got)
	}
	admin := dial(t, e.addr, "127.0.0.24")
	loggedIn(t, admin, "user39", "pw39", "the operator")
	if got := admin.do("ACL", "LOG", "1"); !strings.Contains(got, "$7\r\nlockout\r\n") || !strings.Contains(got, "$6\r\nuser31\r\n") {
		t.Errorf("ACL LOG 1: %q, want the lockout of user31", got)
	}
	if n := e.counter("moat_acl_refusals_total", map[string]string{"instance": "r-test", "reason": "lockout"}); n != 3 {
		t.Errorf("moat_acl_refusals_total{reason=lockout} = %v, want 3", n)
	}
	if n := refusalsOf(e.gw.Activity(), "127.0.0.23", gateway.ReasonAuthLockout); n != 3 {
		t.Errorf("refusal records of 127.0.0.23 for auth_lockout: %d, want 3", n)
	}
	st := e.gw.Lockout(mustAddr(t, "127.0.0.23"), "user30")
	if !st.LockedOut() || !st.AddressUntil.Equal(clock.Now().Add(lockDuration)) || !st.PairUntil.IsZero() {
		t.Errorf("Lockout(127.0.0.23, user30) = %+v, want the address locked for 300 s, the pair not", st)
	}
	clock.Advance(lockDuration)
	loggedIn(t, c, "user30", "pw30", "after the lockout")
}

// Behind a NAT: one misconfigured client (alice, a wrong password) retries forever from the address
// of many users. It locks only its own pair: once locked its failures count nowhere, so over many
// lockouts it never reaches the address threshold, and the address's other users keep logging in.
func TestLockoutNATMisconfiguredClient(t *testing.T) {
	t.Parallel()
	e, clock := lockoutEnv(t, 10, 100, lockWindow, lockDuration)
	nat := "127.0.0.25"
	broken := dial(t, e.addr, nat)
	for cycle := range 12 { // an hour of retries: 12 lockouts, 120 failures counted, 1800 attempts
		guess(t, broken, "alice", 150) // more than the address threshold within one window
		other := dial(t, e.addr, nat)
		loggedIn(t, other, "dave", "dpw", fmt.Sprintf("cycle %d, another user behind the NAT", cycle))
		guess(t, other, "admin", 3) // a colleague's typos count too, and stay below both thresholds
		loggedIn(t, other, "admin", "adminpw", fmt.Sprintf("cycle %d, a colleague after typos", cycle))
		lockedOut(t, other, "alice", "apw", fmt.Sprintf("cycle %d, the misconfigured client's user", cycle))
		clock.Advance(lockDuration)
	}
	if st := e.gw.Lockout(mustAddr(t, nat), "dave"); st.LockedOut() || st.AddressFailures >= 100 {
		t.Errorf("the NAT address after an hour of one client's retries: %+v", st)
	}
}

// During a lockout the answer to the right password is byte for byte the answer to a wrong one —
// moat's own and redis-server 7's — through every way of logging in: AUTH password (the default
// user), AUTH user password, AUTH user:password and HELLO 3 AUTH user password.
func TestLockoutAnswerIsAWrongPassword(t *testing.T) {
	t.Parallel()
	e, _ := lockoutEnv(t, 10, 100, lockWindow, lockDuration)
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	if got := direct.do("ACL", "SETUSER", "alice", "on", ">apw", "~*", "+@all"); got != "+OK\r\n" {
		t.Fatalf("ACL SETUSER on redis-server: %q", got)
	}
	t.Cleanup(func() { direct.do("ACL", "DELUSER", "alice") })
	for _, tc := range []struct {
		name          string
		right, wrong  []string
		user, address string
		redis         bool // compare with redis-server (whose default user has no password here)
	}{
		{"AUTH password", []string{"AUTH", "defpw"}, []string{"AUTH", "nope"}, "default", "127.0.0.30", false},
		{"AUTH user password", []string{"AUTH", "alice", "apw"}, []string{"AUTH", "alice", "nope"}, "alice", "127.0.0.31", true},
		{"AUTH user:password", []string{"AUTH", "alice:apw"}, []string{"AUTH", "alice:nope"}, "alice", "127.0.0.32", false},
		{"HELLO 3 AUTH", []string{"HELLO", "3", "AUTH", "alice", "apw"}, []string{"HELLO", "3", "AUTH", "alice", "nope"}, "alice", "127.0.0.33", true},
	} {
		c := dial(t, e.addr, tc.address)
		want := c.do(tc.wrong...)
		if want != wrongPass {
			t.Fatalf("%s, a wrong password: %q", tc.name, want)
		}
		if redis := direct.do(tc.wrong...); tc.redis && redis != want {
			t.Errorf("%s, a wrong password: moat %q, redis-server %q", tc.name, want, redis)
		}
		guess(t, c, tc.user, 9)
		if got := c.do(tc.right...); got != want {
			t.Errorf("%s during a lockout: %q, want %q", tc.name, got, want)
		}
	}
}

// refusalsOf is the count of the refusal records of addr for reason.
func refusalsOf(r refused.Report, addr, reason string) uint64 {
	for _, x := range r.Refusals {
		if x.Addr.String() == addr && x.Reason == reason {
			return x.Count
		}
	}
	return 0
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Behind a trusted load balancer the lockout counts the address the PROXY header carries, not the
// balancer's: a guesser at 10.1.2.3 locks its own pair, and alice behind the same balancer from another
// address still logs in.
func TestLockoutBehindProxyCountsClientAddress(t *testing.T) {
	t.Parallel()
	s := withUsers(t, proxySnap(t), aclUsers)
	s.AuthLockoutThreshold, s.AuthLockoutAddressThreshold = 10, 100
	s.AuthLockoutWindow, s.AuthLockoutDuration = lockWindow, lockDuration
	e := newEnv(t, s, withClock(newTestClock()))
	attacker := dial(t, e.addr, lb)
	attacker.send(headerV1("10.1.2.3", 40100))
	guess(t, attacker, "alice", 10)
	lockedOut(t, attacker, "alice", "apw", "the guesser behind the balancer")
	user := dial(t, e.addr, lb)
	user.send(headerV1("127.0.0.9", 40101))
	loggedIn(t, user, "alice", "apw", "alice from another client address behind the same balancer")
	if st := e.gw.Lockout(mustAddr(t, "10.1.2.3"), "alice"); st.PairUntil.IsZero() {
		t.Errorf("the carried address's pair: %+v, want locked", st)
	}
}

// AUTH inside MULTI is judged at queue time as EXEC will run it, lockout included: alice's pair locked
// from this address, her right password queued after it fails at EXEC, and the commands after it are
// judged as the user the connection stays (admin), not as alice. The one-argument "user:password"
// form is judged the same way.
func TestLockoutHoldsForAuthInsideMulti(t *testing.T) {
	t.Parallel()
	e, _ := lockoutEnv(t, 3, 100, lockWindow, lockDuration)
	c := dial(t, e.addr, "127.0.0.24")
	guess(t, c, "alice", 3)
	loggedIn(t, c, "admin", "adminpw", "the attacker's own login")
	for _, auth := range [][]string{{"AUTH", "alice", "apw"}, {"AUTH", "alice:apw"}} {
		c.expectOK("MULTI")
		for _, args := range [][]string{auth, {"SET", "secret", "x"}} {
			if got := c.do(args...); got != "+QUEUED\r\n" {
				t.Fatalf("%v: %q", args, got)
			}
		}
		if got := c.do("EXEC"); got != "*2\r\n"+wrongPass+"+OK\r\n" {
			t.Errorf("EXEC with %v while alice is locked out: %q, want WRONGPASS then the SET as admin", auth, got)
		}
	}
	// Not locked out, from another address: after "alice:apw" the SET is judged as alice.
	d := dial(t, e.addr, "127.0.0.25")
	loggedIn(t, d, "admin", "adminpw", "admin from a fresh address")
	d.expectOK("MULTI")
	d.do("AUTH", "alice:apw")
	d.do("SET", "secret", "x")
	if got := d.do("EXEC"); !strings.HasPrefix(got, "*2\r\n+OK\r\n-NOPERM") {
		t.Errorf("EXEC with AUTH alice:apw: %q, want the SET refused as alice", got)
	}
}
