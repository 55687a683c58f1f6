package gateway_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
)

// expectRefused dials from `from` and asserts W8: the refusal text arrives without the client sending
// anything, then the connection is closed.
func expectRefused(t *testing.T, addr, from string) {
	t.Helper()
	c := dial(t, addr, from)
	c.expect(illegalAddress)
	c.expectEOF(replyTimeout)
}

// expectAdmitted dials from `from` and asserts that commands reach the backend.
func expectAdmitted(t *testing.T, addr, from string) *client {
	t.Helper()
	c := dial(t, addr, from)
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("client from %s: PING got %q, want +PONG", from, got)
	}
	return c
}

// W1, W8: a new instance denies every address, loopback included, and says so before reading anything.
func TestNewInstanceRefusesEveryAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile(allowlist.Initial()))
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.200"} {
		expectRefused(t, e.addr, from)
	}
	if got := e.refused("illegal_address"); got != 3 {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want 3", got)
	}
	if got := e.counter("moat_connections_accepted_total", map[string]string{"instance": "r-test"}); got != 0 {
		t.Errorf("moat_connections_accepted_total = %v, want 0", got)
	}
}

// W6, W8: the allow set is the union of the groups; addresses and CIDR blocks match exactly.
func TestGroupsAdmitListedAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, compile([]allowlist.Group{
		group(t, "default", "127.0.0.2"),
		group(t, "app", "127.0.0.16/28"),
	}))
	cases := []struct {
		from  string
		allow bool
	}{
		{"127.0.0.2", true},   // group default
		{"127.0.0.20", true},  // inside 127.0.0.16/28 (group app)
		{"127.0.0.16", true},  // first address of the block
		{"127.0.0.31", true},  // last address of the block
		{"127.0.0.3", false},  // next to a listed address
		{"127.0.0.15", false}, // just below the block
		{"127.0.0.32", false}, // just above the block
		{"127.0.0.1", false},  // loopback is not special
	}
	refused := 0
	for _, tc := range cases {
		if tc.allow {
			expectAdmitted(t, e.addr, tc.from)
		} else {
			expectRefused(t, e.addr, tc.from)
			refused++
		}
	}
	if got := e.refused("illegal_address"); got != float64(refused) {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want %d", got, refused)
	}
	if got := e.counter("moat_connections_accepted_total", map[string]string{"instance": "r-test"}); got != float64(len(cases)-refused) {
		t.Errorf("moat_connections_accepted_total = %v, want %d", got, len(cases)-refused)
	}
}

// W6: 127.0.0.1 alone denies everything (loopback included); beside any other entry it is void; a block
// that contains 127.0.0.1 admits it like any other address.
func TestLoopbackEntryRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		groups []allowlist.Group
		admit  []string
		refuse []string
	}{
		{
			name:   "only 127.0.0.1",
			groups: []allowlist.Group{group(t, "default", "127.0.0.1")},
			refuse: []string{"127.0.0.1", "127.0.0.2"},
		},
		{
			name:   "127.0.0.1 beside another entry is void",
			groups: []allowlist.Group{group(t, "default", "127.0.0.1,127.0.0.2")},
			admit:  []string{"127.0.0.2"},
			refuse: []string{"127.0.0.1"},
		},
		{
			name:   "127.0.0.1 beside another group is void",
			groups: []allowlist.Group{group(t, "default", "127.0.0.1"), group(t, "app", "127.0.0.5")},
			admit:  []string{"127.0.0.5"},
			refuse: []string{"127.0.0.1"},
		},
		{
			name:   "127.0.0.0/8 admits loopback",
			groups: []allowlist.Group{group(t, "default", "127.0.0.0/8")},
			admit:  []string{"127.0.0.1", "127.0.0.9"},
		},
	}
	e := newEnv(t, compile(allowlist.Initial()))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.gw.Publish(compile(tc.groups))
			for _, from := range tc.admit {
				expectAdmitted(t, e.addr, from)
			}
			for _, from := range tc.refuse {
				expectRefused(t, e.addr, from)
			}
		})
	}
}

// W3, W8: IPv6 peers are judged by IPv6 entries.
func TestIPv6Peer(t *testing.T) {
	t.Parallel()
	if !ipv6Loopback() {
		t.Skip("cannot bind [::1]: this machine has no IPv6 loopback")
	}
	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "::1")}),
		withListen("127.0.0.1:0", "[::1]:0"))
	v4, v6 := e.gw.Addrs()[0].String(), e.gw.Addrs()[1].String()

	expectAdmitted(t, v6, "::1")
	expectRefused(t, v4, "127.0.0.1") // "::1" does not cover IPv4 loopback

	e.gw.Publish(compile([]allowlist.Group{group(t, "default", "127.0.0.0/8")}))
	expectRefused(t, v6, "::1")
	expectAdmitted(t, v4, "127.0.0.1")

	e.gw.Publish(compile([]allowlist.Group{group(t, "default", "::/0")}))
	expectAdmitted(t, v6, "::1")
	expectRefused(t, v4, "127.0.0.1") // ::/0 is every IPv6 address, not every address

	if got := e.refused("illegal_address"); got != 3 {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want 3", got)
	}
}

// W8: on a dual-stack listener an IPv4 client arrives as ::ffff:a.b.c.d and is judged as a.b.c.d.
func TestIPv4MappedPeerJudgedAsIPv4(t *testing.T) {
	t.Parallel()
	// Check that the kernel maps IPv4 into the IPv6 socket at all.
	probe, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("cannot bind a dual-stack listener [::]: %v", err)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(probe.Addr().(*net.TCPAddr).Port)), time.Second)
	probe.Close()
	if err != nil {
		t.Skipf("IPv4 clients cannot reach an IPv6 wildcard listener here (IPV6_V6ONLY?): %v", err)
	}
	c.Close()

	e := newEnv(t, compile([]allowlist.Group{group(t, "default", "127.0.0.2,10.0.0.0/8")}),
		withListen("[::]:0"))
	addr := net.JoinHostPort("127.0.0.2", strconv.Itoa(e.gw.Addrs()[0].(*net.TCPAddr).Port))
	expectAdmitted(t, addr, "127.0.0.2")
	expectRefused(t, addr, "127.0.0.3")
	if got := e.refused("illegal_address"); got != 1 {
		t.Errorf("moat_connections_refused_total{reason=illegal_address} = %v, want 1", got)
	}
}
