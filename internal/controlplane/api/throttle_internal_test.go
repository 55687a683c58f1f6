package api

import (
	"fmt"
	"testing"
	"time"
)

// Addresses are accounted by host (IPv4, IPv4-mapped IPv6) or by /64 (IPv6): rotating through the
// addresses of one /64 does not buy fresh attempts.
func TestSourcePrefix(t *testing.T) {
	cases := map[string]string{
		"192.0.2.7:51000":                 "192.0.2.7/32",
		"[::ffff:192.0.2.7]:51000":        "192.0.2.7/32",
		"[2001:db8:1:2:aaaa::1]:443":      "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::9%eth0]:443": "2001:db8:1:2::/64",
	}
	for in, want := range cases {
		p, ok := sourcePrefix(in)
		if !ok || p.String() != want {
			t.Errorf("sourcePrefix(%q) = %v, %v; want %s", in, p, ok, want)
		}
	}
	if _, ok := sourcePrefix("pipe"); ok {
		t.Errorf("sourcePrefix of a non-address accepted")
	}
}

// The memory is bounded: past max addresses the least recently seen is forgotten, and an address
// that keeps failing stays remembered (and blocked) however many others pass through.
func TestSourceLimitsBoundedLRU(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := newSourceLimits(Limits{SourceRate: 0.001, SourceBurst: 2, SourceMemory: 8})
	attacker, _ := sourcePrefix("[2001:db8::1]:1")
	s.fail(attacker, now)
	s.fail(attacker, now)
	if !s.blocked(attacker, now) {
		t.Fatal("attacker not blocked after its burst")
	}
	for i := range 100 {
		p, _ := sourcePrefix(fmt.Sprintf("10.0.%d.%d:1", i/250, i%250))
		s.fail(p, now)
		if i%4 == 0 { // the attacker keeps trying, so it stays among the most recently seen
			if !s.blocked(attacker, now) {
				t.Fatalf("after %d other addresses the attacker is no longer blocked", i+1)
			}
		}
	}
	if n := s.len(); n != 8 {
		t.Fatalf("%d addresses tracked, want the bound 8", n)
	}
	fresh, _ := sourcePrefix("[2001:db8::2]:1") // same /64 as the attacker
	if !s.blocked(fresh, now) {
		t.Fatal("another address of the attacker's /64 is not blocked")
	}
}
