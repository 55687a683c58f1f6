package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/tlsconf"
)

func TestParseAuthClients(t *testing.T) {
	for in, want := range map[string]tls.ClientAuthType{
		"": tls.RequireAndVerifyClientCert, "yes": tls.RequireAndVerifyClientCert, "YES": tls.RequireAndVerifyClientCert,
		"optional": tls.VerifyClientCertIfGiven, "no": tls.NoClientCert,
	} {
		if got, err := tlsconf.ParseAuthClients(in); err != nil || got != want {
			t.Errorf("ParseAuthClients(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"true", "require", "maybe"} {
		if _, err := tlsconf.ParseAuthClients(in); !errors.Is(err, tlsconf.ErrAuthClients) {
			t.Errorf("ParseAuthClients(%q) = %v, want ErrAuthClients", in, err)
		}
	}
}

func TestParseProtocols(t *testing.T) {
	cases := []struct {
		in       string
		min, max uint16
		err      error
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, nil},
		{"TLSv1.2 TLSv1.3", tls.VersionTLS12, tls.VersionTLS13, nil},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, nil},
		{"TLSv1.2", tls.VersionTLS12, tls.VersionTLS12, nil},
		{"TLSv1 TLSv1.1 TLSv1.2", tls.VersionTLS10, tls.VersionTLS12, nil},
		{"TLSv1.3  TLSv1.2", tls.VersionTLS12, tls.VersionTLS13, nil}, // order and spacing do not matter
		{"TLSv1 TLSv1.3", 0, 0, tlsconf.ErrGap},
		{"TLSv1.1 TLSv1.3", 0, 0, tlsconf.ErrGap},
		{"SSLv3", 0, 0, tlsconf.ErrProtocols},
		{"TLSv1.2,TLSv1.3", 0, 0, tlsconf.ErrProtocols},
		{"TLSv1.4", 0, 0, tlsconf.ErrProtocols},
	}
	for _, c := range cases {
		lo, hi, err := tlsconf.ParseProtocols(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParseProtocols(%q) = %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || lo != c.min || hi != c.max {
			t.Errorf("ParseProtocols(%q) = %x, %x, %v; want %x, %x", c.in, lo, hi, err, c.min, c.max)
		}
	}
	// Redis's own wording for a bad token.
	_, _, err := tlsconf.ParseProtocols("SSLv3")
	if !strings.Contains(err.Error(), "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.") {
		t.Errorf("error text %q", err)
	}
}

func TestParseCiphers(t *testing.T) {
	ok := []struct {
		in   string
		want []uint16
	}{
		{"", nil},
		{"ECDHE-RSA-AES128-GCM-SHA256", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ecdhe-rsa-aes256-sha", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}},
		{"ECDHE-RSA-AES128-SHA ECDHE-RSA-AES128-SHA", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}},
	}
	for _, c := range ok {
		got, err := tlsconf.ParseCiphers(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseCiphers(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, why string }{
		{"HIGH:!aNULL", "keywords and operators"},
		{"DEFAULT", "keywords and operators"},
		{"@STRENGTH", "keywords and operators"},
		{"TLS_AES_128_GCM_SHA256", "TLS 1.3 suite"},
		{"DES-CBC3-SHA", "insecure"},
		{"AES128-GCM-SHA256", "insecure"}, // RSA key exchange: insecure in crypto/tls
		{"RC4-SHA", "insecure"},
		{"DHE-RSA-AES128-GCM-SHA256", "not a suite crypto/tls implements"},
		{"ECDHE-RSA-CAMELLIA128-SHA256", "not a suite crypto/tls implements"},
	}
	for _, c := range bad {
		_, err := tlsconf.ParseCiphers(c.in)
		if !errors.Is(err, tlsconf.ErrCipher) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), c.in[:4]) {
			t.Errorf("ParseCiphers(%q) = %v, want ErrCipher saying %q", c.in, err, c.why)
		}
	}
	// Every bad token is named at once.
	_, err := tlsconf.ParseCiphers("ECDHE-RSA-AES128-SHA:HIGH:DES-CBC3-SHA")
	if err == nil || !strings.Contains(err.Error(), `"HIGH"`) || !strings.Contains(err.Error(), `"DES-CBC3-SHA"`) {
		t.Errorf("error %v should name HIGH and DES-CBC3-SHA", err)
	}
	// The supported list is the secure TLS ≤ 1.2 suites crypto/tls offers, all mapped.
	sup := tlsconf.SupportedCiphers()
	if len(sup) < 10 {
		t.Errorf("SupportedCiphers() = %v", sup)
	}
	for _, name := range sup {
		if ids, err := tlsconf.ParseCiphers(name); err != nil || len(ids) != 1 {
			t.Errorf("supported %q does not parse: %v", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := tlsconf.Options{CertFile: "c", KeyFile: "k", CAFile: "ca"}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", good, err)
	}
	noCA := tlsconf.Options{CertFile: "c", KeyFile: "k", AuthClients: "no"}
	if err := noCA.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", noCA, err)
	}
	dir := tlsconf.Options{CertFile: "c", KeyFile: "k", CADir: "d", AuthClients: "optional"}
	if err := dir.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", dir, err)
	}
	// Redis's rules and texts; every problem at once.
	err := tlsconf.Options{Protocols: "SSLv3", Ciphers: "HIGH"}.Validate()
	for _, want := range []error{tlsconf.ErrNoCert, tlsconf.ErrNoKey, tlsconf.ErrNoCA, tlsconf.ErrProtocols, tlsconf.ErrCipher} {
		if !errors.Is(err, want) {
			t.Errorf("Validate() = %v, want it to include %v", err, want)
		}
	}
	if !strings.Contains(err.Error(), "No tls-cert-file configured!") {
		t.Errorf("Validate() = %v, want Redis's text", err)
	}
}
