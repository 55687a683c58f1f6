package cli_test

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// moat instance create --tls-listen --param: a TLS-only instance whose certificate is given at creation.
func TestInstanceCreateTLS(t *testing.T) {
	e := startMoat(t)
	dir := t.TempDir()
	cert, key := tlstest.NewCA(t, "cli CA").Issue(t, tlstest.Options{}).Write(t, dir, "server")
	r := e.must("instance", "create", "--id", "r-tls", "--tls-listen", "127.0.0.1:0",
		"--param", "tls-cert-file="+cert, "--param", "tls-key-file="+key, "--param", "tls-auth-clients=no")
	if !strings.Contains(r.stdout, "created r-tls") || !strings.Contains(r.stdout, "(TLS on 127.0.0.1:") {
		t.Fatalf("create: %+v", r)
	}
	r = e.moat("instance", "create", "--id", "r-bad", "--tls-listen", "127.0.0.1:0", "--param", "tls-cert-file="+dir+"/none.crt",
		"--param", "tls-key-file="+key, "--param", "tls-auth-clients=no")
	if r.code != 1 || !strings.Contains(r.stderr, "InvalidParameter.Config") || !strings.Contains(r.stderr, "tls-cert-file: open") {
		t.Fatalf("create with a missing certificate: %+v", r)
	}
	if r := e.moat("instance", "create", "--id", "r-x", "--param", "novalue"); r.code != 2 {
		t.Fatalf("--param without '=': %+v", r)
	}
}
