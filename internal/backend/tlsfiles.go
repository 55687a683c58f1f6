package backend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certFiles holds a rediss:// backend's CA (ca_cert) and client certificate (client_cert, client_key).
// They are read when the backend is opened, and again at a dial when their files changed (checked at
// most once a second); a set of files that cannot be loaded leaves the previous one in use and is
// logged. Safe for concurrent use.
type certFiles struct {
	base            *tls.Config // ServerName, InsecureSkipVerify, MinVersion
	ca, cert, key   string
	log             *slog.Logger
	mu              sync.Mutex
	checked         time.Time
	stamps, refused [3]fileStamp
	cfg             *tls.Config
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// openUpstream opens a redis://, rediss:// or unix:// backend; rediss's certificate files must load.
func openUpstream(s Spec, log *slog.Logger) (*upstream, error) {
	u := newUpstream(s, log)
	if s.Kind != KindRediss || s.CAFile == "" && s.CertFile == "" {
		return u, nil
	}
	u.files = &certFiles{base: u.tls, ca: s.CAFile, cert: s.CertFile, key: s.KeyFile, log: log}
	if err := u.files.load(time.Now()); err != nil {
		return nil, fmt.Errorf("backend %s: %w", u.name, err)
	}
	return u, nil
}

// tlsConfig is the configuration for the next TLS dial.
func (u *upstream) tlsConfig() *tls.Config {
	if u.files == nil {
		return u.tls
	}
	return u.files.config(time.Now())
}

func (f *certFiles) stat() [3]fileStamp {
	var out [3]fileStamp
	for i, p := range []string{f.ca, f.cert, f.key} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	return out
}

// config returns the configuration in use, reloading changed files first.
func (f *certFiles) config(now time.Time) *tls.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.checked) >= time.Second {
		f.checked = now
		if st := f.stat(); st != f.stamps && st != f.refused {
			if err := f.loadLocked(); err != nil {
				f.refused = st
				f.log.Error("backend TLS files not reloaded: the previous ones stay in use", "err", err)
			}
		}
	}
	return f.cfg
}

func (f *certFiles) load(now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = now
	return f.loadLocked()
}

func (f *certFiles) loadLocked() error {
	st := f.stat()
	cfg := f.base.Clone()
	if f.ca != "" {
		b, err := os.ReadFile(f.ca)
		if err != nil {
			return fmt.Errorf("ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("ca_cert %s: %w", f.ca, errNoPEM)
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return fmt.Errorf("client_cert %s with client_key %s: %w", f.cert, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	f.cfg, f.stamps = cfg, st
	return nil
}

var errNoPEM = errors.New("no PEM certificate found")
