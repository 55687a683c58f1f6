package model

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/tlsconf"
)

func TestNetParamsDefaults(t *testing.T) {
	var in Instance
	if !in.ProtectedMode() || in.ParamInt("maxclients") != DefaultMaxClients || in.ParamInt("maxclients-per-ip") != 0 ||
		in.ProxyTrusted() != nil || !in.Renames().Empty() {
		t.Errorf("defaults: protected %v, maxclients %d, per-ip %d, proxy %v, renames empty %v", in.ProtectedMode(),
			in.ParamInt("maxclients"), in.ParamInt("maxclients-per-ip"), in.ProxyTrusted(), in.Renames().Empty())
	}
	if o := in.TLSOptions(); o != (tlsconf.Options{AuthClients: "yes", Protocols: "TLSv1.2 TLSv1.3"}) {
		t.Errorf("TLS defaults: %+v", o)
	}
}

func TestCheckNetParams(t *testing.T) {
	good := map[string][]string{
		"protected-mode":      {"yes", "no"},
		"rename-command":      {"", "CONFIG CFG", `FLUSHALL ""`, `CONFIG CFG, FLUSHDB ""`},
		"maxclients":          {"1", "10000", "1000000"},
		"maxclients-per-ip":   {"0", "5"},
		"proxy-protocol":      {"", "10.0.0.1", "10.0.0.0/8,192.168.1.0/24", "10.0.0.1 2001:db8::/32", "::ffff:10.0.0.1"},
		"tls-auth-clients":    {"no", "optional", "yes"},
		"tls-protocols":       {"TLSv1.2", "TLSv1.2 TLSv1.3", "tlsv1 tlsv1.1"},
		"tls-ciphers":         {"", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"},
		"tls-session-caching": {"yes", "no"},
		"tls-cert-file":       {"", "/etc/moat/tls/server.crt", "relative.crt"},
	}
	for name, values := range good {
		for _, v := range values {
			if err := CheckParam(name, v); err != nil {
				t.Errorf("CheckParam(%q, %q) = %v", name, v, err)
			}
		}
	}
	bad := map[string][]struct{ v, why string }{
		"protected-mode":    {{"on", "yes or no"}},
		"rename-command":    {{"FLUSHAL x", "No such command in rename-command"}, {"CONFIG GET", "Target command name already exists"}},
		"maxclients":        {{"0", "from 1"}, {"x", "integer"}},
		"proxy-protocol":    {{"10.0.0.5/8", "did you mean 10.0.0.0/8"}, {"lb.example", "IP address or a CIDR"}},
		"tls-auth-clients":  {{"require", "no, optional or yes"}},
		"tls-protocols":     {{"SSLv3", "Invalid tls-protocols"}, {"TLSv1 TLSv1.3", "contiguous"}},
		"tls-ciphers":       {{"HIGH:!aNULL", "keywords"}, {"TLS_AES_128_GCM_SHA256", "TLS 1.3"}},
		"tls-cert-file":     {{"a\nb", "line breaks"}},
		"tls-ciphersuites":  {{"TLS_AES_128_GCM_SHA256", "not supported: Go's crypto/tls does not let TLS 1.3 cipher suites be chosen"}},
		"tls-key-file-pass": {{"secret", "encrypted private keys are not supported"}},
		"tls-port":          {{"6380", "tls_listen"}},
	}
	for name, cases := range bad {
		for _, c := range cases {
			err := CheckParam(name, c.v)
			if !errors.Is(err, ErrParam) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), name) {
				t.Errorf("CheckParam(%q, %q) = %v, want ErrParam saying %q", name, c.v, err, c.why)
			}
		}
	}
}

func TestNetParamsAccessors(t *testing.T) {
	in := Instance{Params: map[string]string{
		"proxy-protocol": "10.0.0.0/8, 192.168.1.7,::ffff:172.16.0.0/108", "rename-command": "CONFIG CFG",
		"tls-session-caching": "no", "tls-cert-file": "/c", "tls-protocols": "TLSv1.3",
	}}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("172.16.0.0/12")}
	if got := in.ProxyTrusted(); !slices.Equal(got, want) {
		t.Errorf("ProxyTrusted() = %v, want %v", got, want)
	}
	if r, ok := in.Renames().Lookup("cfg"); !ok || r != (rediscmd.Rename{Original: "config"}) {
		t.Errorf("Renames().Lookup(cfg) = %+v, %v", r, ok)
	}
	if o := in.TLSOptions(); !o.NoSessionCache || o.CertFile != "/c" || o.Protocols != "TLSv1.3" {
		t.Errorf("TLSOptions() = %+v", o)
	}
}

// TLS listen addresses need the settings Redis requires at start-up; listen addresses may be TLS only.
func TestValidateTLSListen(t *testing.T) {
	base := func() Instance {
		return Instance{ID: "r-a", TLSListen: []string{"127.0.0.1:6380"}, Groups: allowlist.Initial(), Params: map[string]string{
			"tls-cert-file": "/c", "tls-key-file": "/k", "tls-ca-cert-file": "/ca"}}
	}
	if err := base().Validate(); err != nil {
		t.Errorf("TLS-only instance: %v", err)
	}
	in := base()
	delete(in.Params, "tls-ca-cert-file")
	if err := in.Validate(); !errors.Is(err, ErrTLSListen) || !errors.Is(err, tlsconf.ErrNoCA) || !errors.Is(err, ErrParam) {
		t.Errorf("without a CA while tls-auth-clients is yes: %v", err)
	}
	in.Params["tls-auth-clients"] = "no"
	if err := in.Validate(); err != nil {
		t.Errorf("without a CA, tls-auth-clients no: %v", err)
	}
	in = base()
	in.Params = nil
	if err := in.Validate(); !errors.Is(err, tlsconf.ErrNoCert) || !errors.Is(err, tlsconf.ErrNoKey) {
		t.Errorf("without certificate and key: %v", err)
	}
	in = base()
	in.Listen = []string{"127.0.0.1:6380"}
	if err := in.Validate(); !errors.Is(err, ErrListen) {
		t.Errorf("one address both plain and TLS: %v", err)
	}
	in = base()
	in.TLSListen = []string{"nonsense"}
	if err := in.Validate(); !errors.Is(err, ErrListen) {
		t.Errorf("bad TLS listen address: %v", err)
	}
	if err := (Instance{ID: "r-a"}).Validate(); !errors.Is(err, ErrNoListen) {
		t.Errorf("no listen address at all: %v", err)
	}
}
