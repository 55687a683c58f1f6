package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const oneInstance = "instances:\n  - id: r-a\n    listen: [127.0.0.1:6380]\n"

// The API listener's settings are read, and each bad one is reported with its line and value.
func TestParseAPISettings(t *testing.T) {
	f, _, err := Parse("moat.yaml", []byte(`api_max_conns: 500
api_max_conns_per_addr: 10
api_hosts: [moat.example.com]
api_trusted_proxies: [10.0.0.5, "fd00::/64", "::ffff:192.0.2.0/120"]
metrics_listen: 127.0.0.1:9390
`+oneInstance))
	if err != nil {
		t.Fatal(err)
	}
	if f.APIMaxConns != 500 || f.APIMaxConnsPerAddr != 10 || !slices.Equal(f.APIHosts, []string{"moat.example.com"}) || f.MetricsListen != "127.0.0.1:9390" {
		t.Fatalf("decoded %+v", f)
	}
	var got []string
	for _, e := range f.APITrustedProxies {
		p, err := ParseProxy(e)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.String())
	}
	if want := []string{"10.0.0.5/32", "fd00::/64", "192.0.2.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("trusted proxies %v, want %v", got, want)
	}
	if p, _ := ParseProxy("10.1.2.3/8"); p != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("a prefix is masked to its network: %v", p)
	}

	_, _, err = Parse("moat.yaml", []byte(`api_max_conns: -1
api_max_conns_per_addr: -2
api_trusted_proxies: [10.0.0.5, proxy.example.com]
metrics_listen: 9390
`+oneInstance))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`moat.yaml:1: api_max_conns: "-1"`, `moat.yaml:2: api_max_conns_per_addr: "-2"`,
		`moat.yaml:3: api_trusted_proxies[1]: "proxy.example.com": want an IP address or a CIDR prefix`,
		`moat.yaml:4: metrics_listen: "9390": want host:port`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}
