package config

import (
	"slices"
	"strings"
	"testing"
)

// redis.conf's way — bind, port, tls_port (port 0: no plain listener) — expands into listen addresses.
func TestBindPortTLSPort(t *testing.T) {
	_, insts, err := Parse("moat.yaml", []byte(`
instances:
  - id: r-both
    bind: [0.0.0.0, "::"]
    port: 6380
    tls_port: 6390
    params:
      tls-cert-file: /etc/moat/server.crt
      tls-key-file: /etc/moat/server.key
      tls-auth-clients: "no"
  - id: r-tlsonly
    port: 0
    tls_port: 6391
    params: {tls-cert-file: /c, tls-key-file: /k, tls-ca-cert-file: /ca}
  - id: r-plain
    port: 6382
  - id: r-listen
    listen: [127.0.0.1:6383]
    tls_listen: ["[::1]:6393"]
    params: {tls-cert-file: /c, tls-key-file: /k, tls-auth-clients: optional, tls-ca-cert-dir: /cas}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ listen, tls []string }{
		{[]string{"0.0.0.0:6380", "[::]:6380"}, []string{"0.0.0.0:6390", "[::]:6390"}},
		{nil, []string{"127.0.0.1:6391"}},
		{[]string{"127.0.0.1:6382"}, nil},
		{[]string{"127.0.0.1:6383"}, []string{"[::1]:6393"}},
	}
	for i, w := range want {
		if !slices.Equal(insts[i].Listen, w.listen) || !slices.Equal(insts[i].TLSListen, w.tls) {
			t.Errorf("%s: listen %v tls %v, want %v %v", insts[i].ID, insts[i].Listen, insts[i].TLSListen, w.listen, w.tls)
		}
		if err := insts[i].Validate(); err != nil {
			t.Errorf("%s: %v", insts[i].ID, err)
		}
	}
}

func TestNetProblems(t *testing.T) {
	_, _, err := Parse("moat.yaml", []byte(`
instances:
  - id: r-mixed
    listen: [127.0.0.1:6380]
    port: 6381
  - id: r-nowhere
    port: 0
  - id: r-badbind
    bind: [localhost]
    port: 6382
    tls_port: 70000
  - id: r-nocert
    tls_listen: [127.0.0.1:6384]
  - id: r-dup
    listen: [127.0.0.1:6385]
    tls_listen: [127.0.0.1:6385, nonsense]
`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`instances[0].bind: use either listen/tls_listen or bind/port/tls_port, not both`,
		`instances[1].port: port and tls_port are both 0: the instance would listen nowhere`,
		`instances[2].bind[0]: "localhost": want an IP address`,
		`instances[2].tls_port: "70000": want 0 (none) to 65535`,
		`instances[3].params: TLS listen addresses: No tls-cert-file configured!`,
		`instances[3].params: TLS listen addresses: No tls-key-file configured!`,
		`instances[3].params: TLS listen addresses: Either tls-ca-cert-file or tls-ca-cert-dir must be specified`,
		`instances[4].tls_listen[0]: "127.0.0.1:6385": already used by instances[4]`,
		`instances[4].tls_listen[1]: "nonsense"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
