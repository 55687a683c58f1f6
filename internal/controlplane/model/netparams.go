package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/tlsconf"
)

// Network-security parameters (N1–N5, connection limits). Their entries are in params (params.go);
// their checks and accessors are here.

// DefaultMaxClients is Redis's default maxclients.
const DefaultMaxClients = 10000

// ErrTLSListen is wrapped when an instance has TLS listeners but its TLS settings cannot serve them.
var ErrTLSListen = errors.New("TLS listen addresses need tls-cert-file and tls-key-file (and a CA unless tls-auth-clients is no)")

// unsupportedParams are redis.conf settings moat knows it cannot honour, with the reason given when
// someone sets one.
var unsupportedParams = map[string]string{
	"tls-ciphersuites":          "Go's crypto/tls does not let TLS 1.3 cipher suites be chosen: all three are always enabled",
	"tls-prefer-server-ciphers": "Go's crypto/tls ignores cipher preference order since Go 1.17; it picks the suite itself",
	"tls-key-file-pass":         "encrypted private keys are not supported: give tls-key-file an unencrypted PEM key (mode 0600)",
	"tls-client-key-file-pass":  "encrypted private keys are not supported: give the key unencrypted",
	"tls-dh-params-file":        "Go's crypto/tls has no finite-field DHE suites; ECDHE needs no parameters",
	"tls-session-cache-size":    "Go's crypto/tls resumes sessions with stateless tickets: there is no server-side cache to size",
	"tls-session-cache-timeout": "Go's crypto/tls resumes sessions with stateless tickets, whose lifetime it fixes",
	"tls-replication":           "moat does not replicate; for TLS to the backend use a rediss:// backend",
	"tls-cluster":               "moat has no cluster bus; for TLS to the backend use a rediss:// backend",
	"tls-client-cert-file":      "for a client certificate towards the backend use rediss://…?client_cert=…&client_key=…",
	"tls-client-key-file":       "for a client certificate towards the backend use rediss://…?client_cert=…&client_key=…",
	"tls-port":                  "TLS listen addresses are part of the instance: tls_listen (or bind and tls_port) in the config file, TLSListen in CreateInstance",
	"port":                      "listen addresses are part of the instance: listen (or bind and port) in the config file, Listen in CreateInstance",
	"bind":                      "listen addresses are part of the instance: listen (or bind and port) in the config file, Listen in CreateInstance",
}

func checkRenames(v string) error {
	_, err := rediscmd.ParseRenames(v)
	return err
}

func checkAuthClients(v string) error {
	if v != "no" && v != "optional" && v != "yes" {
		return errors.New("must be no, optional or yes")
	}
	return nil
}

func checkProtocols(v string) error {
	_, _, err := tlsconf.ParseProtocols(v)
	return err
}

func checkCiphers(v string) error {
	_, err := tlsconf.ParseCiphers(v)
	return err
}

// checkPath accepts a file or directory path, or "" (unset).
func checkPath(v string) error {
	if strings.ContainsAny(v, "\x00\r\n") {
		return errors.New("a path cannot contain NUL or line breaks")
	}
	return nil
}

// ParseTrusted parses a proxy-protocol value: IP addresses or CIDR blocks separated by commas or
// spaces. An address stands for itself (/32, /128); IPv4-mapped IPv6 is unmapped. A block with host
// bits set is refused with its canonical form, as whitelist entries are. Every bad entry is reported.
func ParseTrusted(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if a, err := netip.ParseAddr(f); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q: want an IP address or a CIDR block", f))
			continue
		}
		if p.Masked() != p {
			errs = append(errs, fmt.Errorf("%q: host bits set; did you mean %s?", f, p.Masked()))
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func checkTrusted(v string) error {
	_, err := ParseTrusted(v)
	return err
}

// ProtectedMode reports the protected-mode parameter (N2).
func (in Instance) ProtectedMode() bool { return in.ParamBool("protected-mode") }

// Renames returns the compiled rename-command parameter (N4); validated values always compile.
func (in Instance) Renames() rediscmd.Renames {
	r, _ := rediscmd.ParseRenames(in.Param("rename-command"))
	return r
}

// ProxyTrusted returns the load balancers trusted to send a PROXY header (N5); nil when none.
func (in Instance) ProxyTrusted() []netip.Prefix {
	p, _ := ParseTrusted(in.Param("proxy-protocol"))
	return p
}

// TLSOptions returns the instance's TLS settings (N3).
func (in Instance) TLSOptions() tlsconf.Options {
	return tlsconf.Options{
		CertFile:       in.Param("tls-cert-file"),
		KeyFile:        in.Param("tls-key-file"),
		CAFile:         in.Param("tls-ca-cert-file"),
		CADir:          in.Param("tls-ca-cert-dir"),
		AuthClients:    in.Param("tls-auth-clients"),
		Protocols:      in.Param("tls-protocols"),
		Ciphers:        in.Param("tls-ciphers"),
		NoSessionCache: in.Param("tls-session-caching") == "no",
	}
}

// validateNet checks what involves several network settings: TLS listeners need TLS settings that can
// serve (Redis's start-up rules, without reading the files), and no address is both plain and TLS.
func (in Instance) validateNet() []error {
	var errs []error
	if in.ParamBool("vpc-password-free") && in.Param("vpc-cidr") == "" {
		errs = append(errs, fmt.Errorf("parameter \"vpc-password-free\": yes needs vpc-cidr, the VPC's address blocks: %w", ErrParam))
	}
	for _, l := range in.TLSListen {
		if err := CheckListen(l); err != nil {
			errs = append(errs, fmt.Errorf("TLS listen: %w", err))
		}
	}
	plain := map[string]bool{}
	for _, l := range in.Listen {
		plain[l] = true
	}
	for _, l := range in.TLSListen {
		if plain[l] && !strings.HasSuffix(l, ":0") {
			errs = append(errs, fmt.Errorf("%q is both a plain and a TLS listen address: %w", l, ErrListen))
		}
	}
	if len(in.TLSListen) > 0 {
		if err := in.TLSOptions().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w: %w", ErrTLSListen, err, ErrParam))
		}
	}
	return errs
}
