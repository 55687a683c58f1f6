package tlsconf_test

import (
	"crypto/tls"
	"testing"

	"github.com/moat-dev/moat/internal/tlsconf"
)

// ParseCiphers and ParseProtocols never panic; what they accept is something crypto/tls honours.
func FuzzParseTLSOptions(f *testing.F) {
	for _, s := range []string{"", "ECDHE-RSA-AES128-GCM-SHA256", "HIGH:!aNULL", "TLS_AES_128_GCM_SHA256",
		"TLSv1.2 TLSv1.3", "TLSv1 TLSv1.3", "tlsv1.1", "ecdhe-ecdsa-aes256-sha,ECDHE-RSA-CHACHA20-POLY1305 "} {
		f.Add(s)
	}
	secure := map[uint16]bool{}
	for _, c := range tls.CipherSuites() {
		if c.SupportedVersions[0] != tls.VersionTLS13 {
			secure[c.ID] = true
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ids, err := tlsconf.ParseCiphers(s); err == nil {
			for _, id := range ids {
				if !secure[id] {
					t.Fatalf("ParseCiphers(%q) accepted suite %x", s, id)
				}
			}
		}
		if lo, hi, err := tlsconf.ParseProtocols(s); err == nil && (lo < tls.VersionTLS10 || hi > tls.VersionTLS13 || lo > hi) {
			t.Fatalf("ParseProtocols(%q) = %x..%x", s, lo, hi)
		}
	})
}
