package gateway_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/tlsconf"
	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// tlsFixture is a CA, a server certificate on disk and client certificates, all made for one test.
type tlsFixture struct {
	dir                       string
	ca                        *tlstest.CA
	certFile, keyFile, caFile string
	client                    tls.Certificate // signed by ca
	stranger                  tls.Certificate // signed by another CA
	clientCert, clientKey     string          // client's files, for redis-cli
}

func newTLSFixture(t testing.TB) *tlsFixture {
	t.Helper()
	f := &tlsFixture{dir: t.TempDir(), ca: tlstest.NewCA(t, "moat test CA")}
	f.certFile, f.keyFile = f.ca.Issue(t, tlstest.Options{CommonName: "server-1"}).Write(t, f.dir, "server")
	f.caFile = f.ca.WriteCA(t, f.dir, "ca.crt")
	kp := f.ca.Issue(t, tlstest.Options{Client: true, CommonName: "app"})
	f.client = kp.TLS(t)
	f.clientCert, f.clientKey = kp.Write(t, f.dir, "client")
	f.stranger = tlstest.NewCA(t, "other CA").Issue(t, tlstest.Options{Client: true}).TLS(t)
	return f
}

func (f *tlsFixture) options(auth string) tlsconf.Options {
	return tlsconf.Options{CertFile: f.certFile, KeyFile: f.keyFile, CAFile: f.caFile, AuthClients: auth}
}

// source loads the options into a tlsconf.Server.
func (f *tlsFixture) source(t testing.TB, o tlsconf.Options) *tlsconf.Server {
	t.Helper()
	s, err := tlsconf.NewServer(o, testLogger(t))
	if err != nil {
		t.Fatalf("tlsconf.NewServer: %v", err)
	}
	return s
}

// withTLS adds a TLS listener on 127.0.0.1:0 served by src.
func withTLS(src gateway.TLSSource) envOption {
	return func(c *gateway.Config) {
		c.TLSListen = []string{"127.0.0.1:0"}
		c.TLS = src
		c.HandshakeTimeout = 5 * time.Second
	}
}

// tlsAddr is the first TLS listener's address.
func (e *env) tlsAddr() string { return e.gw.TLSAddrs()[0].String() }

// clientConfig trusts the fixture's CA; cert may be nil.
func (f *tlsFixture) clientConfig(cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		// Always sent, even when the server's list of acceptable CAs does not name its issuer (Go's
		// client would otherwise keep it back).
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c
}

// dialTLS connects from `from` and runs the handshake; the error is the handshake's or, for a
// certificate the server refuses after the handshake (TLS 1.3 sends its verdict afterwards), the
// first read's.
func dialTLS(t testing.TB, addr, from string, cfg *tls.Config) (*client, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	tc := tls.Client(raw, cfg)
	tc.SetDeadline(time.Now().Add(replyTimeout))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	c := (&client{c: tc, br: bufio.NewReaderSize(tc, 64*1024)}).attach(t)
	return c, nil
}

// tlsDo dials, sends PING and returns the reply or the error the client saw.
func tlsPing(t testing.TB, addr string, cfg *tls.Config) (string, error) {
	t.Helper()
	c, err := dialTLS(t, addr, "127.0.0.2", cfg)
	if err != nil {
		return "", err
	}
	c.send(cmd("PING"))
	return c.readReplyErr(replyTimeout)
}

// N3: a TLS listener beside the plain one; the same backend through both.
func TestTLSListenerRelays(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	e := newEnv(t, allowLoopback(t), withTLS(f.source(t, f.options("no"))))
	c, err := dialTLS(t, e.tlsAddr(), "127.0.0.2", f.clientConfig(nil))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if got := c.do("SET", "over", "tls"); got != "+OK\r\n" {
		t.Fatalf("SET over TLS: %q", got)
	}
	plain := dial(t, e.addr, "127.0.0.3")
	if got := plain.do("GET", "over"); got != bulk("tls") {
		t.Fatalf("GET on the plain listener: %q", got)
	}
	st := c.c.(*tls.Conn).ConnectionState()
	if st.Version < tls.VersionTLS12 || st.PeerCertificates[0].Subject.CommonName != "server-1" {
		t.Errorf("connection state: version %x, peer %v", st.Version, st.PeerCertificates[0].Subject)
	}
	// A plaintext client on the TLS port does not get through.
	raw := dial(t, e.tlsAddr(), "127.0.0.2")
	raw.send(cmd("PING"))
	if r, err := raw.readReplyErr(replyTimeout); err == nil {
		t.Fatalf("plaintext on the TLS listener got %q", r)
	}
}

// N3: tls-auth-clients yes | optional | no, as Redis maps them to OpenSSL's verify modes.
func TestTLSClientCertificateModes(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	cases := []struct {
		auth     string
		cert     *tls.Certificate
		admitted bool
	}{
		{"yes", &f.client, true},
		{"yes", nil, false},
		{"yes", &f.stranger, false},
		{"optional", &f.client, true},
		{"optional", nil, true},
		{"optional", &f.stranger, false},
		{"no", nil, true},
		{"no", &f.stranger, true}, // not asked for, so not checked
	}
	envs := map[string]*env{}
	for _, auth := range []string{"yes", "optional", "no"} {
		envs[auth] = newEnv(t, allowLoopback(t), withTLS(f.source(t, f.options(auth))))
	}
	for _, c := range cases {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := f.clientConfig(c.cert)
			cfg.MinVersion, cfg.MaxVersion = v, v
			got, err := tlsPing(t, envs[c.auth].tlsAddr(), cfg)
			who := "no certificate"
			if c.cert == &f.client {
				who = "a certificate from the CA"
			} else if c.cert != nil {
				who = "a certificate from another CA"
			}
			if c.admitted && got != "+PONG\r\n" {
				t.Errorf("tls-auth-clients %s, TLS %x, %s: got %q, %v; want +PONG", c.auth, v, who, got, err)
			}
			if !c.admitted && err == nil {
				t.Errorf("tls-auth-clients %s, TLS %x, %s: got %q; want the handshake refused", c.auth, v, who, got)
			}
		}
	}
	if got := envs["yes"].refused("tls_handshake"); got < 4 {
		t.Errorf("moat_connections_refused_total{reason=tls_handshake} = %v, want at least 4", got)
	}
}

// N3: tls-protocols and tls-ciphers are what crypto/tls negotiates.
func TestTLSProtocolsAndCiphers(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	only13 := f.options("no")
	only13.Protocols = "TLSv1.3"
	e13 := newEnv(t, allowLoopback(t), withTLS(f.source(t, only13)))
	cfg := f.clientConfig(nil)
	cfg.MaxVersion = tls.VersionTLS12
	if got, err := tlsPing(t, e13.tlsAddr(), cfg); err == nil {
		t.Errorf("TLS 1.2 client against tls-protocols TLSv1.3: %q, want a refused handshake", got)
	}
	if got, err := tlsPing(t, e13.tlsAddr(), f.clientConfig(nil)); got != "+PONG\r\n" {
		t.Errorf("TLS 1.3 client: %q, %v", got, err)
	}

	gcm := f.options("no")
	gcm.Protocols, gcm.Ciphers = "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"
	e12 := newEnv(t, allowLoopback(t), withTLS(f.source(t, gcm)))
	ok := f.clientConfig(nil)
	ok.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	c, err := dialTLS(t, e12.tlsAddr(), "127.0.0.2", ok)
	if err != nil {
		t.Fatalf("handshake with the configured suite offered: %v", err)
	}
	if st := c.c.(*tls.Conn).ConnectionState(); st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || st.Version != tls.VersionTLS12 {
		t.Errorf("negotiated %s / %x, want ECDHE-ECDSA-AES128-GCM-SHA256 / TLS 1.2", tls.CipherSuiteName(st.CipherSuite), st.Version)
	}
	bad := f.clientConfig(nil)
	bad.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	if got, err := tlsPing(t, e12.tlsAddr(), bad); err == nil {
		t.Errorf("client without the configured suite: %q, want a refused handshake", got)
	}
}

// W8 with TLS: the address is judged before any handshake; the refusal is written in clear, without
// waiting for a ClientHello.
func TestTLSWhitelistBeforeHandshake(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	e := newEnv(t, compile(nil), withTLS(f.source(t, f.options("no"))))
	c := dial(t, e.tlsAddr(), "127.0.0.2")
	c.expect(illegalAddress) // nothing sent: no ClientHello
	c.expectEOF(replyTimeout)
	if got := e.refused("illegal_address"); got != 1 {
		t.Errorf("refused{illegal_address} = %v, want 1", got)
	}
	if got := e.refused("tls_handshake"); got != 0 {
		t.Errorf("refused{tls_handshake} = %v, want 0: no handshake was attempted", got)
	}
}

// N3: certificates reload under load. Clients keep sending through connections made with the old
// certificate while it is replaced, then replaced by a bad one; none of them sees an error, new
// connections get the new certificate, and the bad one is refused with the previous one still served.
func TestTLSReloadUnderLoad(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	src := f.source(t, f.options("no"))
	e := newEnv(t, allowLoopback(t), withTLS(src))
	serving := func() string {
		c, err := dialTLS(t, e.tlsAddr(), "127.0.0.3", f.clientConfig(nil))
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.c.Close()
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING: %q", got)
		}
		return c.c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := serving(); got != "server-1" {
		t.Fatalf("serving %q, want server-1", got)
	}

	const workers = 8
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		c, err := dialTLS(t, e.tlsAddr(), "127.0.0.2", f.clientConfig(nil))
		if err != nil {
			t.Fatalf("worker %d handshake: %v", w, err)
		}
		wg.Add(1)
		go func(w int, c *client) {
			defer wg.Done()
			key := "load:" + strconv.Itoa(w)
			for i := 0; !stop.Load(); i++ {
				v := strconv.Itoa(i)
				if _, err := io.WriteString(c.c, cmd("SET", key, v)+cmd("GET", key)); err != nil {
					errs <- err
					return
				}
				if r, err := c.readReplyErr(replyTimeout); err != nil || r != "+OK\r\n" {
					errs <- errors.New("SET: " + r + " " + errString(err))
					return
				}
				if r, err := c.readReplyErr(replyTimeout); err != nil || r != bulk(v) {
					errs <- errors.New("GET: " + r + " " + errString(err))
					return
				}
				ops.Add(1)
			}
		}(w, c)
	}
	waitOps := func(n int64) {
		t.Helper()
		target := ops.Load() + n
		if !eventually(10*time.Second, func() bool { return ops.Load() >= target }) {
			t.Fatalf("load stalled at %d operations", ops.Load())
		}
	}
	waitOps(200)

	// A good rotation, written the way certificate managers do (rename into place).
	next := f.ca.Issue(t, tlstest.Options{CommonName: "server-2"})
	tlstest.Replace(t, f.keyFile, next.KeyPEM)
	tlstest.Replace(t, f.certFile, next.CertPEM)
	if changed, err := src.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v", changed, err)
	}
	waitOps(200)
	if got := serving(); got != "server-2" {
		t.Fatalf("after reload serving %q, want server-2", got)
	}

	// A bad rotation: a certificate whose key does not match.
	tlstest.Replace(t, f.certFile, f.ca.Issue(t, tlstest.Options{CommonName: "server-3"}).CertPEM)
	if changed, err := src.Reload(); changed || err == nil {
		t.Fatalf("Reload of a mismatched pair = %v, %v; want it refused", changed, err)
	}
	waitOps(200)
	if got := serving(); got != "server-2" {
		t.Fatalf("after a bad reload serving %q, want server-2 still", got)
	}

	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a connection made before the reloads failed: %v", err)
	}
	if got := e.counter("moat_connections_active", map[string]string{"instance": "r-test"}); got < workers {
		t.Errorf("moat_connections_active = %v, want the %d load connections still open", got, workers)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// N3 with a real client: Debian's redis-cli --tls against moat, with and without a client certificate,
// with a cipher suite chosen by its OpenSSL name.
func TestRedisCLIOverTLS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli not found: install redis-tools (scripts/test-deps.sh)")
	}
	f := newTLSFixture(t)
	o := f.options("yes")
	o.Protocols, o.Ciphers = "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"
	e := newEnv(t, allowLoopback(t), withTLS(f.source(t, o)))
	host, port, _ := net.SplitHostPort(e.tlsAddr())
	cli := func(args ...string) (string, error) {
		base := []string{"--tls", "--cacert", f.caFile, "-h", host, "-p", port}
		out, err := exec.Command("redis-cli", append(base, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := cli("--cert", f.clientCert, "--key", f.clientKey, "SET", "cli", "tls"); out != "OK" {
		t.Fatalf("redis-cli --tls SET: %q, %v", out, err)
	}
	if out, _ := cli("--cert", f.clientCert, "--key", f.clientKey, "--tls-ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305", "GET", "cli"); out != "tls" {
		t.Fatalf("redis-cli --tls-ciphers ECDHE-ECDSA-CHACHA20-POLY1305 GET: %q", out)
	}
	if out, _ := cli("--cert", f.clientCert, "--key", f.clientKey, "--tls-ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "GET", "cli"); out == "tls" {
		t.Fatalf("redis-cli with a suite tls-ciphers leaves out got through: %q", out)
	}
	out, _ := cli("PING") // no client certificate while tls-auth-clients is yes
	if out == "PONG" {
		t.Fatalf("redis-cli without a client certificate got %q", out)
	}
	t.Logf("redis-cli without a client certificate: %s", out)
}
