package allowlist

import (
	"net/netip"
	"testing"
)

// A client is counted by its IPv4 address (mapped or not) or its IPv6 /64, zone dropped.
func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7/32",
		"::ffff:192.0.2.7":     "192.0.2.7/32",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
	} {
		if got := SourceOf(netip.MustParseAddr(in)); got != netip.MustParsePrefix(want) {
			t.Errorf("SourceOf(%s) = %s, want %s", in, got, want)
		}
	}
	if got := SourceOf(netip.Addr{}); got.IsValid() {
		t.Errorf("SourceOf(invalid) = %s", got)
	}
}
