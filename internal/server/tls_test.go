package server

import (
	"crypto/tls"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// serving returns the common name of the certificate a new TLS connection to addr gets and the reply to
// PING over it.
func serving(t *testing.T, addr string, ca *tlstest.CA) (string, string) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		return "", "dial error: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("PING\r\n"))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, string(buf[:n])
}

// N3 end to end: an instance declared with tls_port in the config file serves TLS (redis-cli --tls,
// against a real redis-server backend), reloads a renewed certificate on SIGHUP without dropping the
// connection already open, and keeps the renewed one when a broken one is written.
func TestTLSInstanceFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "server CA")
	cert, key := ca.Issue(t, tlstest.Options{CommonName: "first"}).Write(t, dir, "server")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	plain, tlsAddr := freeAddr(t), freeAddr(t)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	_, plainPort, _ := net.SplitHostPort(plain)
	cfg := filepath.Join(dir, "moat.yaml")
	backend := redistest.Start(t)
	writeConfig(t, cfg, `instances:
  - id: r-tls
    backend: redis://`+backend.Addr+`
    bind: [127.0.0.1]
    port: `+plainPort+`
    tls_port: `+tlsPort+`
    params:
      tls-cert-file: `+cert+`
      tls-key-file: `+key+`
      tls-ca-cert-file: `+caFile+`
      tls-auth-clients: optional
    whitelist:
      - group: local
        ips: [127.0.0.0/8]
`)
	s := start(t, Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data"), TLSReload: time.Hour})
	defer s.Close()
	if got := s.TLSAddrs("r-tls"); len(got) != 1 || got[0] != tlsAddr {
		t.Fatalf("TLS addresses %v, want [%s]", got, tlsAddr)
	}
	out, err := exec.Command("redis-cli", "--tls", "--cacert", caFile, "-h", "127.0.0.1", "-p", tlsPort, "SET", "k", "over-tls").CombinedOutput()
	if strings.TrimSpace(string(out)) != "OK" {
		t.Fatalf("redis-cli --tls SET: %q, %v", out, err)
	}
	if got := do(t, plain, "127.0.0.2", "GET k"); got != "over-tls" {
		t.Fatalf("GET on the plain port: %q", got)
	}

	open, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	next := ca.Issue(t, tlstest.Options{CommonName: "second"})
	tlstest.Replace(t, key, next.KeyPEM)
	tlstest.Replace(t, cert, next.CertPEM)
	if err := s.Reload(); err != nil { // what SIGHUP does
		t.Fatal(err)
	}
	if cn, reply := serving(t, tlsAddr, ca); cn != "second" || reply != "+PONG\r\n" {
		t.Errorf("after SIGHUP: certificate %q, PING %q; want second, +PONG", cn, reply)
	}
	open.SetDeadline(time.Now().Add(5 * time.Second))
	open.Write([]byte("GET k\r\n"))
	buf := make([]byte, 64)
	if n, err := open.Read(buf); err != nil || string(buf[:n]) != "$8\r\nover-tls\r\n" {
		t.Errorf("connection made before the reload: %q, %v", buf[:n], err)
	}
	tlstest.Replace(t, cert, []byte("garbage"))
	s.Reload()
	if cn, _ := serving(t, tlsAddr, ca); cn != "second" {
		t.Errorf("after a broken certificate: serving %q, want second", cn)
	}

	// Changing TLS settings through the control plane: a certificate that does not load is refused
	// with the reason and changes nothing; a good change applies to the next handshake.
	err = s.Plane().SetParams(configActor, "r-tls", map[string]string{"tls-cert-file": filepath.Join(dir, "missing.crt")})
	if !errors.Is(err, model.ErrParam) || !strings.Contains(err.Error(), "tls-cert-file: open") {
		t.Errorf("SetParams with a missing certificate: %v", err)
	}
	tlstest.Replace(t, cert, next.CertPEM)
	if err := s.Plane().SetParams(configActor, "r-tls", map[string]string{"tls-auth-clients": "yes"}); err != nil {
		t.Fatal(err)
	}
	if _, reply := serving(t, tlsAddr, ca); reply == "+PONG\r\n" {
		t.Errorf("tls-auth-clients yes: a client without a certificate got %q", reply)
	}
}

// N1, N3: a missing certificate or a busy address stops start-up with an error naming the instance.
func TestStartErrorsNameTheInstance(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct{ body, want string }{
		{"instances:\n  - id: r-busy\n    listen: [" + busy.Addr().String() + "]\n",
			"instance r-busy: listen on " + busy.Addr().String() + ": address already in use"},
		{"instances:\n  - id: r-nocert\n    tls_listen: [" + freeAddr(t) + "]\n    params: {tls-cert-file: " + dir + "/none.crt, tls-key-file: " + dir + "/none.key, tls-auth-clients: \"no\"}\n",
			"instance r-nocert: TLS settings: tls-cert-file: open " + dir + "/none.crt"},
	} {
		cfg := filepath.Join(t.TempDir(), "moat.yaml")
		writeConfig(t, cfg, c.body)
		s, err := Start(Options{ConfigPath: cfg, DataDir: t.TempDir(), APIListen: "127.0.0.1:0", Log: quiet()})
		if err == nil {
			s.Close()
			t.Errorf("Start succeeded, want %q", c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start: %v\nwant it to contain %q", err, c.want)
		}
	}
}

// N4 through the control plane: rename-command applies to new connections without restart.
func TestRenameCommandWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfg, "instances:\n  - id: r-ren\n    listen: ["+addr+"]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data")})
	defer s.Close()
	if err := s.Plane().SetParams(configActor, "r-ren", map[string]string{"rename-command": `PING PONGME, ECHO ""`}); err != nil {
		t.Fatal(err)
	}
	if got := do(t, addr, "127.0.0.2", "PING"); got != "-ERR unknown command 'PING', with args beginning with:" {
		t.Errorf("PING after renaming it: %q", got)
	}
	if got := do(t, addr, "127.0.0.2", "PONGME"); !strings.Contains(got, "PONG") {
		t.Errorf("PONGME: %q", got)
	}
	if got := do(t, addr, "127.0.0.2", "ECHO x"); got != "-ERR unknown command 'ECHO', with args beginning with: 'x'" {
		t.Errorf("ECHO after removing it: %q", got)
	}
}
