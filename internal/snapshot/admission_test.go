package snapshot_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/snapshot"
)

func prefixes(t testing.TB, s ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func set(t testing.TB, entries ...string) *allowlist.Set {
	return allowlist.Compile([]allowlist.Group{{Name: "app", Entries: prefixes(t, entries...)}}, nil)
}

// snap is an instance whitelisting 10.1.0.0/16 and 127.0.0.0/8, with VPC 10.8.0.0/16 (password-free
// access on) and a load balancer at 127.0.9.1 (proxy-protocol).
func snap(t testing.TB, protected, whitelistAlways bool) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Allow:             set(t, "10.1.0.0/16", "127.0.0.0/8"),
		VPCFree:           set(t, "10.8.0.0/16"),
		WhitelistAlways:   whitelistAlways,
		ProtectedMode:     protected,
		DefaultUserNoPass: true,
		ProxyTrusted:      prefixes(t, "127.0.9.1/32", "10.50.0.1/32"),
	}
}

// Admit reads like the spec: a connection in, a verdict out (W6, W8, W11, N2, N5).
func TestAdmit(t *testing.T) {
	a := netip.MustParseAddr
	type want struct {
		admitted bool
		reason   string
		by       snapshot.Rule
		late     bool // refused after the TLS handshake
	}
	for _, tc := range []struct {
		name              string
		protected, always bool
		conn              snapshot.Conn
		want              want
	}{
		{"whitelisted", false, false, snapshot.Conn{Peer: a("10.1.2.3")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"mapped IPv6 judged as IPv4", false, false, snapshot.Conn{Peer: a("::ffff:10.1.2.3")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"nowhere", false, false, snapshot.Conn{Peer: a("10.9.0.1")}, want{false, snapshot.ReasonIllegalAddress, snapshot.RuleNone, false}},
		{"nowhere, TLS: refused before the handshake", true, false, snapshot.Conn{Peer: a("10.9.0.1"), TLS: true}, want{false, snapshot.ReasonIllegalAddress, snapshot.RuleNone, false}},
		{"VPC without the whitelist", false, false, snapshot.Conn{Peer: a("10.8.0.1")}, want{true, "", snapshot.RuleVPC, false}},
		{"VPC, whitelist always", false, true, snapshot.Conn{Peer: a("10.8.0.1")}, want{false, snapshot.ReasonIllegalAddress, snapshot.RuleNone, false}},
		{"whitelisted, protected mode", true, false, snapshot.Conn{Peer: a("10.1.2.3")}, want{false, snapshot.ReasonProtectedMode, snapshot.RuleWhitelist, false}},
		{"whitelisted, protected mode, TLS", true, false, snapshot.Conn{Peer: a("10.1.2.3"), TLS: true}, want{false, snapshot.ReasonProtectedMode, snapshot.RuleWhitelist, true}},
		// Redis refuses every non-local client while the default user has no password: password-free
		// VPC access gives it none.
		{"VPC, protected mode", true, false, snapshot.Conn{Peer: a("10.8.0.1")}, want{false, snapshot.ReasonProtectedMode, snapshot.RuleVPC, false}},
		{"loopback, protected mode", true, false, snapshot.Conn{Peer: a("127.0.0.5")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"mapped loopback, protected mode", true, false, snapshot.Conn{Peer: a("::ffff:127.0.0.5")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"trusted balancer, on accept", true, false, snapshot.Conn{Peer: a("10.50.0.1"), TLS: true, Accepting: true}, want{true, "", snapshot.RuleAwaitPROXY, false}},
		{"trusted balancer, no header", false, false, snapshot.Conn{Peer: a("10.50.0.1"), TLS: true}, want{false, snapshot.ReasonProtocolError, snapshot.RuleAwaitPROXY, false}},
		{"behind a trusted balancer", false, false, snapshot.Conn{Peer: a("10.50.0.1"), Proxy: true, Client: a("10.1.2.3")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"behind a trusted balancer, not listed", false, false, snapshot.Conn{Peer: a("127.0.9.1"), Proxy: true, Client: a("10.9.9.9")}, want{false, snapshot.ReasonIllegalAddress, snapshot.RuleNone, false}},
		{"loopback behind a loopback balancer, protected mode", true, false, snapshot.Conn{Peer: a("127.0.9.1"), Proxy: true, Client: a("127.0.0.7")}, want{true, "", snapshot.RuleWhitelist, false}},
		{"loopback behind a remote balancer, protected mode", true, false, snapshot.Conn{Peer: a("10.50.0.1"), Proxy: true, Client: a("127.0.0.7")}, want{false, snapshot.ReasonProtectedMode, snapshot.RuleWhitelist, false}},
		{"PROXY header from an untrusted, listed peer", false, false, snapshot.Conn{Peer: a("10.1.2.3"), Proxy: true, Client: a("127.0.0.1")}, want{false, snapshot.ReasonProtocolError, snapshot.RuleWhitelist, false}},
		{"PROXY header from an untrusted, listed, remote peer, protected mode", true, false, snapshot.Conn{Peer: a("10.1.2.3"), Proxy: true, Client: a("127.0.0.1")}, want{false, snapshot.ReasonProtectedMode, snapshot.RuleWhitelist, false}},
		{"the same on TLS: the header breaks the handshake first", true, false, snapshot.Conn{Peer: a("10.1.2.3"), TLS: true, Proxy: true, Client: a("127.0.0.1")}, want{false, snapshot.ReasonProtocolError, snapshot.RuleWhitelist, true}},
		{"PROXY header from an untrusted, unlisted peer", false, false, snapshot.Conn{Peer: a("10.9.0.1"), Proxy: true, Client: a("10.1.2.3")}, want{false, snapshot.ReasonIllegalAddress, snapshot.RuleNone, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := snap(t, tc.protected, tc.always).Admit(tc.conn)
			got := want{v.Admitted, v.Reason, v.By, v.AfterHandshake}
			if got != tc.want {
				t.Errorf("Admit(%+v) = %+v, want %+v", tc.conn, got, tc.want)
			}
		})
	}
}

// A nil allow set admits nobody, but the VPC rule still applies (W11); Admits is Admit's whitelist stage.
func TestAdmitsIsTheWhitelistStage(t *testing.T) {
	s := &snapshot.Snapshot{VPCFree: set(t, "10.8.0.0/16"), ProtectedMode: true, DefaultUserNoPass: true}
	for addr, want := range map[string]bool{"10.8.0.1": true, "10.9.0.1": false, "127.0.0.1": false} {
		a := netip.MustParseAddr(addr)
		if got := s.Admits(a); got != want {
			t.Errorf("Admits(%s) = %v, want %v", addr, got, want)
		}
		if got := s.Admit(snapshot.Conn{Peer: a}).By != snapshot.RuleNone; got != want {
			t.Errorf("Admit(%s) passes the whitelist stage: %v, want %v", addr, got, want)
		}
	}
}

// Explain never changes Admit's verdict; it names what admitted the address, and why it was refused.
func TestExplainDescribesAdmit(t *testing.T) {
	a := netip.MustParseAddr
	s := snap(t, true, false)
	for _, tc := range []struct {
		conn snapshot.Conn
		want string
	}{
		{snapshot.Conn{Peer: a("10.1.2.3")}, `refused by protected mode: the default user has no password and the address is not loopback`},
		{snapshot.Conn{Peer: a("10.8.0.1")}, `password-free VPC access does not lift it`},
		{snapshot.Conn{Peer: a("10.1.2.3"), TLS: true}, `the refusal follows the handshake`},
		{snapshot.Conn{Peer: a("127.0.0.5")}, `allowed by group "app" entry 127.0.0.0/8`},
		{snapshot.Conn{Peer: a("10.50.0.1"), Proxy: true, Client: a("127.0.0.7")}, `the load balancer 10.50.0.1 is not loopback`},
		{snapshot.Conn{Peer: a("10.50.0.1")}, `trusted load balancer`},
		{snapshot.Conn{Peer: a("127.0.0.5"), Proxy: true, Client: a("10.1.2.3")}, `127.0.0.5 is not a trusted load balancer`},
		{snapshot.Conn{Peer: a("10.9.0.1")}, `no group or security group lists 10.9.0.1`},
	} {
		e := s.Explain(tc.conn)
		if e.Verdict != s.Admit(tc.conn) {
			t.Errorf("Explain(%+v) changed the verdict: %+v, Admit says %+v", tc.conn, e.Verdict, s.Admit(tc.conn))
		}
		if !strings.Contains(e.Why, tc.want) || e.Matches == nil {
			t.Errorf("Explain(%+v) = %q %v, want it to say %q", tc.conn, e.Why, e.Matches, tc.want)
		}
	}
}

// BenchmarkAdmit is the verdict the accept path computes per connection: no allocation.
func BenchmarkAdmit(b *testing.B) {
	s := snap(b, true, false)
	conns := []snapshot.Conn{
		{Peer: netip.MustParseAddr("127.0.0.5")},
		{Peer: netip.MustParseAddr("10.8.0.1"), TLS: true},
		{Peer: netip.MustParseAddr("127.0.9.1"), Proxy: true, Client: netip.MustParseAddr("10.1.2.3")},
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if s.Admit(conns[i%len(conns)]).Admitted {
			n++
		}
	}
	if n == 0 {
		b.Fatal("nothing admitted")
	}
}
