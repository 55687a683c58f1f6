// Package tlsconf turns an instance's TLS settings (redis.conf's tls-* names) into crypto/tls
// configuration, refuses what crypto/tls cannot honour, and reloads certificates when their files
// change without disturbing established connections.
//
// It is a leaf: it imports no other moat package.
package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Options are an instance's TLS settings. The zero value means Redis's defaults where Go can honour
// them: client certificates required (tls-auth-clients yes), TLS 1.2 and 1.3, Go's cipher suites.
type Options struct {
	CertFile    string // tls-cert-file: PEM certificate chain, leaf first
	KeyFile     string // tls-key-file: PEM private key (unencrypted)
	CAFile      string // tls-ca-cert-file: PEM CA certificates that sign client certificates
	CADir       string // tls-ca-cert-dir: every PEM file in this directory is a CA certificate
	AuthClients string // tls-auth-clients: no | optional | yes ("" means yes)
	Protocols   string // tls-protocols: space-separated TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 ("" means TLSv1.2 TLSv1.3)
	Ciphers     string // tls-ciphers: TLS ≤ 1.2 suites by OpenSSL or IANA name, ':' ',' or ' ' separated
	// NoSessionCache turns off session resumption (tls-session-caching no).
	NoSessionCache bool
}

// Errors wrapped by Validate and Load.
var (
	//lint:ignore ST1005 Redis 7.0.15's own text (config.c)
	ErrProtocols   = errors.New("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")
	ErrGap         = errors.New("crypto/tls enables one contiguous range of versions: a version between two enabled ones cannot be left out")
	ErrAuthClients = errors.New("tls-auth-clients must be no, optional or yes")
	ErrCipher      = errors.New("bad tls-ciphers")
	//lint:ignore ST1005 Redis 7.0.15's own text (tls.c)
	ErrNoCert = errors.New("No tls-cert-file configured!")
	//lint:ignore ST1005 Redis 7.0.15's own text (tls.c)
	ErrNoKey = errors.New("No tls-key-file configured!")
	//lint:ignore ST1005 Redis 7.0.15's own text (tls.c)
	ErrNoCA = errors.New("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-auth-clients is enabled!")
)

// ParseAuthClients maps tls-auth-clients to Go: yes → RequireAndVerifyClientCert, optional →
// VerifyClientCertIfGiven, no → NoClientCert (Redis's SSL_VERIFY_* modes exactly).
func ParseAuthClients(s string) (tls.ClientAuthType, error) {
	switch strings.ToLower(s) {
	case "", "yes":
		return tls.RequireAndVerifyClientCert, nil
	case "optional":
		return tls.VerifyClientCertIfGiven, nil
	case "no":
		return tls.NoClientCert, nil
	}
	return 0, fmt.Errorf("%q: %w", s, ErrAuthClients)
}

var protocolVersions = []struct {
	name string
	v    uint16
}{{"tlsv1", tls.VersionTLS10}, {"tlsv1.1", tls.VersionTLS11}, {"tlsv1.2", tls.VersionTLS12}, {"tlsv1.3", tls.VersionTLS13}}

// ParseProtocols maps tls-protocols to a version range. Tokens are case-insensitive; the empty string
// is TLS 1.2 and 1.3. A set with a hole ("TLSv1 TLSv1.3") is refused: crypto/tls has only a minimum
// and a maximum.
func ParseProtocols(s string) (minV, maxV uint16, err error) {
	if strings.TrimSpace(s) == "" {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	on := make([]bool, len(protocolVersions))
	for _, tok := range strings.Fields(s) {
		found := false
		for i, p := range protocolVersions {
			if strings.EqualFold(tok, p.name) {
				on[i], found = true, true
			}
		}
		if !found {
			return 0, 0, fmt.Errorf("%q: %w", tok, ErrProtocols)
		}
	}
	first, last := -1, -1
	for i := range on {
		if on[i] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	for i := first; i <= last; i++ {
		if !on[i] {
			return 0, 0, fmt.Errorf("%q leaves out TLSv%s: %w", s, strings.TrimPrefix(protocolVersions[i].name, "tlsv"), ErrGap)
		}
	}
	return protocolVersions[first].v, protocolVersions[last].v, nil
}

// openSSLNames maps OpenSSL's names of the TLS ≤ 1.2 suites crypto/tls implements to their IANA IDs.
// Whether Go counts a suite as secure is decided at run time from tls.CipherSuites().
var openSSLNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
}

// SupportedCiphers lists the OpenSSL names tls-ciphers accepts: the suites crypto/tls implements and
// counts as secure.
func SupportedCiphers() []string {
	secure := map[uint16]bool{}
	for _, c := range tls.CipherSuites() {
		secure[c.ID] = true
	}
	var out []string
	for name, id := range openSSLNames {
		if secure[id] {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// ParseCiphers maps tls-ciphers to crypto/tls suite IDs. Each suite is named by its OpenSSL name
// ("ECDHE-RSA-AES128-GCM-SHA256") or its IANA name ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").
// Refused, each with its reason: OpenSSL's keywords and operators (HIGH, !aNULL, +RSA, @STRENGTH),
// TLS 1.3 suites (crypto/tls does not let them be chosen), suites crypto/tls does not implement or
// counts as insecure. Every bad token is reported at once. The empty string means Go's defaults (nil).
// The order is not kept: crypto/tls orders suites itself.
func ParseCiphers(s string) ([]uint16, error) {
	toks := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	if len(toks) == 0 {
		return nil, nil
	}
	secure := map[uint16]bool{}
	byIANA := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		secure[c.ID] = true
		byIANA[c.Name] = c.ID
	}
	tls13 := map[uint16]bool{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if len(c.SupportedVersions) == 1 && c.SupportedVersions[0] == tls.VersionTLS13 {
			tls13[c.ID] = true
		}
		if _, ok := byIANA[c.Name]; !ok {
			byIANA[c.Name] = c.ID
		}
	}
	var ids []uint16
	var errs []error
	seen := map[uint16]bool{}
	for _, tok := range toks {
		id, ok := openSSLNames[strings.ToUpper(tok)]
		if !ok {
			id, ok = byIANA[strings.ToUpper(tok)]
		}
		switch {
		case !ok && strings.ContainsAny(tok[:1], "!+-@") || !ok && isKeyword(tok):
			errs = append(errs, fmt.Errorf("%q: OpenSSL cipher-list keywords and operators cannot be mapped to crypto/tls: name each suite: %w", tok, ErrCipher))
		case !ok:
			errs = append(errs, fmt.Errorf("%q: not a suite crypto/tls implements (supported: %s): %w", tok, strings.Join(SupportedCiphers(), " "), ErrCipher))
		case tls13[id]:
			errs = append(errs, fmt.Errorf("%q: a TLS 1.3 suite: crypto/tls does not let TLS 1.3 suites be chosen (all three are always on): %w", tok, ErrCipher))
		case !secure[id]:
			errs = append(errs, fmt.Errorf("%q: crypto/tls counts this suite as insecure; moat refuses it: %w", tok, ErrCipher))
		case !seen[id]:
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ids, nil
}

// isKeyword reports an OpenSSL cipher-string keyword: an all-letters word such as HIGH, DEFAULT,
// aNULL, kRSA or ECDHE (suite names always contain '-' or '_').
func isKeyword(tok string) bool {
	for _, r := range tok {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// Validate checks the options without reading files: every setting parses, a certificate comes with
// its key, and a CA is named when client certificates are checked (Redis's rule). Every problem is
// reported at once.
func (o Options) Validate() error {
	var errs []error
	auth, authErr := ParseAuthClients(o.AuthClients)
	if authErr != nil {
		errs = append(errs, authErr)
	}
	if _, _, err := ParseProtocols(o.Protocols); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseCiphers(o.Ciphers); err != nil {
		errs = append(errs, err)
	}
	if o.CertFile == "" {
		errs = append(errs, ErrNoCert)
	}
	if o.KeyFile == "" {
		errs = append(errs, ErrNoKey)
	}
	if authErr == nil && auth != tls.NoClientCert && o.CAFile == "" && o.CADir == "" {
		errs = append(errs, ErrNoCA)
	}
	return errors.Join(errs...)
}
