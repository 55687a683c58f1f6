package backend

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// rediss:// with ca_cert (instead of the system roots) and a client certificate (client_cert,
// client_key), against a redis-server that requires one (tls-auth-clients yes).
func TestRedissCAAndClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "backend CA")
	cert, key := ca.Issue(t, tlstest.Options{CommonName: "redis"}).Write(t, dir, "server")
	caFile := ca.WriteCA(t, dir, "ca.crt")
	clientCert, clientKey := ca.Issue(t, tlstest.Options{Client: true, CommonName: "moat"}).Write(t, dir, "client")
	port := freePort(t)
	redistest.Start(t, "--tls-port", strconv.Itoa(port), "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "yes")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	q := url.Values{"ca_cert": {caFile}, "client_cert": {clientCert}, "client_key": {clientKey}}
	spec := "rediss://" + addr + "?" + q.Encode()

	b := openT(t, spec)
	if s := b.String(); !strings.Contains(s, "ca_cert="+url.QueryEscape(caFile)) || !strings.Contains(s, "client_key=") {
		t.Errorf("String() = %q, want the file paths", s)
	}
	c := dialR(t, b)
	if got := c.do("PING"); got != "+PONG" {
		t.Fatalf("PING over rediss with a client certificate: %q", got)
	}

	// Without the client certificate the server refuses the handshake; without ca_cert the system
	// roots do not know the CA.
	for _, s := range []string{
		"rediss://" + addr + "?ca_cert=" + url.QueryEscape(caFile),
		"rediss://" + addr + "?client_cert=" + url.QueryEscape(clientCert) + "&client_key=" + url.QueryEscape(clientKey),
	} {
		b := openT(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := b.Dial(ctx)
		cancel()
		if err == nil {
			// TLS 1.3: the server's verdict on the client certificate arrives after the handshake.
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			conn.Write([]byte("*1\r\n$4\r\nPING\r\n"))
			buf := make([]byte, 16)
			if n, rerr := conn.Read(buf); rerr == nil {
				t.Errorf("%s: got %q, want the connection refused", s, buf[:n])
			}
			conn.Close()
		} else if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", s, err)
		}
	}

	// The files are re-read when they change: a new client certificate is used for the next dial; a
	// broken one leaves the previous one in use.
	next := ca.Issue(t, tlstest.Options{Client: true, CommonName: "moat-2"})
	tlstest.Replace(t, clientKey, next.KeyPEM)
	tlstest.Replace(t, clientCert, next.CertPEM)
	u := b.(*upstream)
	u.files.mu.Lock()
	u.files.checked = time.Time{} // as if a second had passed
	u.files.mu.Unlock()
	if got := u.tlsConfig().Certificates[0].Leaf.Subject.CommonName; got != "moat-2" {
		t.Errorf("after the files changed the client certificate is %q, want moat-2", got)
	}
	if got := dialR(t, b).do("PING"); got != "+PONG" {
		t.Fatalf("PING with the new client certificate: %q", got)
	}
	tlstest.Replace(t, clientCert, []byte("not a certificate"))
	u.files.mu.Lock()
	u.files.checked = time.Time{}
	u.files.mu.Unlock()
	if got := dialR(t, b).do("PING"); got != "+PONG" {
		t.Fatalf("PING after a broken client certificate was written: %q", got)
	}
}

func TestRedissFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open("rediss://127.0.0.1:1?ca_cert="+dir+"/missing.crt", dir, nil); err == nil || !strings.Contains(err.Error(), "ca_cert: open") {
		t.Errorf("missing ca_cert: %v", err)
	}
	ca := tlstest.NewCA(t, "x")
	c, k := ca.Issue(t, tlstest.Options{Client: true}).Write(t, dir, "c")
	other := tlstest.NewCA(t, "y")
	_, k2 := other.Issue(t, tlstest.Options{Client: true}).Write(t, dir, "o")
	if _, err := Open("rediss://127.0.0.1:1?client_cert="+c+"&client_key="+k2, dir, nil); err == nil || !strings.Contains(err.Error(), "client_cert "+c+" with client_key "+k2) {
		t.Errorf("mismatched client key: %v", err)
	}
	if _, err := ParseSpec("rediss://127.0.0.1:1?client_cert=" + c); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "give both or neither") {
		t.Errorf("client_cert without client_key: %v", err)
	}
	if _, err := ParseSpec("redis://127.0.0.1:1?ca_cert=/x"); !errors.Is(err, ErrSpec) {
		t.Errorf("ca_cert on redis://: %v", err)
	}
	if _, err := Open("rediss://127.0.0.1:1?client_cert="+c+"&client_key="+k, dir, nil); err != nil {
		t.Errorf("good client certificate: %v", err)
	}
}
