package tlsconf_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/tlsconf"
	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// files is a CA and a server certificate on disk.
type files struct {
	dir              string
	ca               *tlstest.CA
	cert, key, caPEM string
}

func newFiles(t *testing.T) files {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	f := files{dir: dir, ca: ca}
	f.cert, f.key = ca.Issue(t, tlstest.Options{CommonName: "first"}).Write(t, dir, "server")
	f.caPEM = ca.WriteCA(t, dir, "ca.crt")
	return f
}

func (f files) opts() tlsconf.Options {
	return tlsconf.Options{CertFile: f.cert, KeyFile: f.key, CAFile: f.caPEM}
}

// logBuf collects log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func leafCN(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	return cfg.Certificates[0].Leaf.Subject.CommonName
}

func TestLoad(t *testing.T) {
	f := newFiles(t)
	cfg, err := f.opts().Load(time.Now())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != tls.VersionTLS13 || cfg.ClientCAs == nil {
		t.Errorf("config: auth %v, versions %x-%x, CAs %v", cfg.ClientAuth, cfg.MinVersion, cfg.MaxVersion, cfg.ClientCAs)
	}
	// tls-ca-cert-dir: every PEM certificate file in it; other files are skipped.
	dir := t.TempDir()
	f.ca.WriteCA(t, dir, "a.pem")
	tlstest.NewCA(t, "other").WriteCA(t, dir, "b.pem")
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a certificate"), 0o600)
	o := tlsconf.Options{CertFile: f.cert, KeyFile: f.key, CADir: dir, AuthClients: "optional", NoSessionCache: true}
	if cfg, err = o.Load(time.Now()); err != nil {
		t.Fatalf("Load with tls-ca-cert-dir: %v", err)
	}
	if !cfg.SessionTicketsDisabled || cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("tls-session-caching no / optional not applied: %+v", cfg)
	}

	other := tlstest.NewCA(t, "other").Issue(t, tlstest.Options{})
	otherCert, otherKey := other.Write(t, t.TempDir(), "other")
	expiredCert, expiredKey := f.ca.Issue(t, tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).Write(t, t.TempDir(), "old")
	futureCert, futureKey := f.ca.Issue(t, tlstest.Options{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)}).Write(t, t.TempDir(), "new")
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, nil, 0o600)
	bad := []struct {
		o    tlsconf.Options
		want string
	}{
		{tlsconf.Options{CertFile: filepath.Join(dir, "missing.crt"), KeyFile: f.key, AuthClients: "no"}, "tls-cert-file: open"},
		{tlsconf.Options{CertFile: f.cert, KeyFile: filepath.Join(dir, "missing.key"), AuthClients: "no"}, "tls-key-file: open"},
		{tlsconf.Options{CertFile: f.cert, KeyFile: otherKey, AuthClients: "no"}, "private key does not match public key"},
		{tlsconf.Options{CertFile: otherCert, KeyFile: f.key, AuthClients: "no"}, "private key does not match public key"},
		{tlsconf.Options{CertFile: expiredCert, KeyFile: expiredKey, AuthClients: "no"}, "certificate expired at"},
		{tlsconf.Options{CertFile: futureCert, KeyFile: futureKey, AuthClients: "no"}, "certificate not valid before"},
		{tlsconf.Options{CertFile: f.cert, KeyFile: f.key, CAFile: empty}, "tls-ca-cert-file " + empty + ": no PEM certificate found"},
		{tlsconf.Options{CertFile: f.cert, KeyFile: f.key, CAFile: filepath.Join(dir, "none")}, "tls-ca-cert-file: open"},
		{tlsconf.Options{CertFile: f.cert, KeyFile: f.key}, "Either tls-ca-cert-file or tls-ca-cert-dir must be specified"},
	}
	for _, c := range bad {
		if _, err := c.o.Load(time.Now()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%+v) = %v, want an error containing %q", c.o, err, c.want)
		}
	}
}

// A changed certificate is picked up; a bad one leaves the old one serving, logged once; fixing it
// is picked up again.
func TestReload(t *testing.T) {
	f := newFiles(t)
	var log logBuf
	s, err := tlsconf.NewServer(f.opts(), log.logger())
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	first := s.Config()
	if changed, err := s.Reload(); changed || err != nil {
		t.Fatalf("Reload with unchanged files = %v, %v", changed, err)
	}
	if s.Config() != first {
		t.Fatal("unchanged files replaced the configuration")
	}

	second := f.ca.Issue(t, tlstest.Options{CommonName: "second"})
	tlstest.Replace(t, f.cert, second.CertPEM)
	tlstest.Replace(t, f.key, second.KeyPEM)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("Reload after a new certificate = %v, %v", changed, err)
	}
	if got := leafCN(t, s.Config()); got != "second" {
		t.Fatalf("serving %q after reload, want second", got)
	}
	if first.Certificates[0].Leaf.Subject.CommonName != "first" {
		t.Fatal("the previous configuration was modified in place")
	}

	// Half a rotation: a new certificate whose key is not there yet.
	third := f.ca.Issue(t, tlstest.Options{CommonName: "third"})
	tlstest.Replace(t, f.cert, third.CertPEM)
	for i := 0; i < 3; i++ {
		if changed, err := s.Reload(); changed || err == nil {
			t.Fatalf("Reload with a mismatched key = %v, %v", changed, err)
		}
	}
	if got := leafCN(t, s.Config()); got != "second" {
		t.Fatalf("serving %q after a bad reload, want second", got)
	}
	if n := strings.Count(log.String(), "TLS certificate reload refused"); n != 1 {
		t.Errorf("bad reload logged %d times, want once:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "private key does not match public key") {
		t.Errorf("the log does not say why:\n%s", log.String())
	}
	// Garbage in the certificate file.
	tlstest.Replace(t, f.cert, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	if _, err := s.Reload(); err == nil {
		t.Fatal("Reload of a corrupt certificate succeeded")
	}
	if got := leafCN(t, s.Config()); got != "second" {
		t.Fatalf("serving %q after a corrupt certificate, want second", got)
	}
	// The rotation completes.
	tlstest.Replace(t, f.cert, third.CertPEM)
	tlstest.Replace(t, f.key, third.KeyPEM)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("Reload after the key arrived = %v, %v", changed, err)
	}
	if got := leafCN(t, s.Config()); got != "third" {
		t.Fatalf("serving %q, want third", got)
	}
}

func TestUpdate(t *testing.T) {
	f := newFiles(t)
	var log logBuf
	s, err := tlsconf.NewServer(f.opts(), log.logger())
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	o := f.opts()
	o.AuthClients, o.Protocols = "no", "TLSv1.3"
	if err := s.Update(o); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if c := s.Config(); c.ClientAuth != tls.NoClientCert || c.MinVersion != tls.VersionTLS13 {
		t.Errorf("Update not applied: %+v", c)
	}
	before := s.Config()
	o.CertFile = filepath.Join(f.dir, "missing.crt")
	if err := s.Update(o); err == nil {
		t.Fatal("Update to a missing certificate succeeded")
	}
	if s.Config() != before || s.Options().CertFile != f.cert {
		t.Error("a failed Update changed the configuration in force")
	}
	if !strings.Contains(log.String(), "new TLS settings refused") {
		t.Errorf("failed Update not logged:\n%s", log.String())
	}
}

func TestWatch(t *testing.T) {
	f := newFiles(t)
	var log logBuf
	s, err := tlsconf.NewServer(f.opts(), log.logger())
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	s.Watch(10 * time.Millisecond)
	defer s.Close()
	next := f.ca.Issue(t, tlstest.Options{CommonName: "next"})
	tlstest.Replace(t, f.key, next.KeyPEM)
	tlstest.Replace(t, f.cert, next.CertPEM)
	deadline := time.Now().Add(5 * time.Second)
	for leafCN(t, s.Config()) != "next" {
		if time.Now().After(deadline) {
			t.Fatalf("Watch did not pick up the new certificate:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	s.Close() // idempotent
}
