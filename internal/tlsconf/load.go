package tlsconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// material is what Load read from disk, kept to tell whether the files changed since.
type material struct {
	sum [sha256.Size]byte // of every file's contents, in a fixed order
}

// read reads every file the options name and returns their contents with a digest of them all.
func (o Options) read() (cert, key []byte, cas [][]byte, m material, err error) {
	h := sha256.New()
	add := func(name string, b []byte) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	if cert, err = os.ReadFile(o.CertFile); err != nil {
		return nil, nil, nil, m, fmt.Errorf("tls-cert-file: %w", err)
	}
	add(o.CertFile, cert)
	if key, err = os.ReadFile(o.KeyFile); err != nil {
		return nil, nil, nil, m, fmt.Errorf("tls-key-file: %w", err)
	}
	add(o.KeyFile, key)
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, nil, nil, m, fmt.Errorf("tls-ca-cert-file: %w", err)
		}
		add(o.CAFile, b)
		cas = append(cas, b)
	}
	if o.CADir != "" {
		entries, err := os.ReadDir(o.CADir)
		if err != nil {
			return nil, nil, nil, m, fmt.Errorf("tls-ca-cert-dir: %w", err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p := filepath.Join(o.CADir, n)
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, nil, nil, m, fmt.Errorf("tls-ca-cert-dir: %w", err)
			}
			if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
				continue // OpenSSL's c_rehash links and other files that hold no certificate
			}
			add(p, b)
			cas = append(cas, b)
		}
	}
	copy(m.sum[:], h.Sum(nil))
	return cert, key, cas, m, nil
}

// Load reads the files and builds the server configuration. now is the time the certificate must be
// valid at. Errors name the setting and the file.
func (o Options) Load(now time.Time) (*tls.Config, error) {
	cfg, _, err := o.load(now)
	return cfg, err
}

func (o Options) load(now time.Time) (*tls.Config, material, error) {
	if err := o.Validate(); err != nil {
		return nil, material{}, err
	}
	certPEM, keyPEM, cas, m, err := o.read()
	if err != nil {
		return nil, m, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, m, fmt.Errorf("tls-cert-file %s with tls-key-file %s: %w", o.CertFile, o.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, m, fmt.Errorf("tls-cert-file %s: %w", o.CertFile, err)
		}
	}
	if now.After(leaf.NotAfter) {
		return nil, m, fmt.Errorf("tls-cert-file %s: certificate expired at %s", o.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, m, fmt.Errorf("tls-cert-file %s: certificate not valid before %s", o.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	auth, _ := ParseAuthClients(o.AuthClients)
	minV, maxV, _ := ParseProtocols(o.Protocols)
	suites, _ := ParseCiphers(o.Ciphers)
	cfg := &tls.Config{
		Certificates:           []tls.Certificate{cert},
		ClientAuth:             auth,
		MinVersion:             minV,
		MaxVersion:             maxV,
		CipherSuites:           suites,
		SessionTicketsDisabled: o.NoSessionCache,
		// Redis disables renegotiation; a Go server never renegotiates.
	}
	if len(cas) > 0 {
		pool := x509.NewCertPool()
		for i, b := range cas {
			if n := addPEM(pool, b); n == 0 {
				what := "tls-ca-cert-file " + o.CAFile
				if o.CAFile == "" || i > 0 {
					what = "tls-ca-cert-dir " + o.CADir
				}
				return nil, m, fmt.Errorf("%s: %w", what, errNoCACert)
			}
		}
		cfg.ClientCAs = pool
	}
	return cfg, m, nil
}

var errNoCACert = errors.New("no PEM certificate found")

// addPEM adds every certificate in b to pool and returns how many it added.
func addPEM(pool *x509.CertPool, b []byte) int {
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return n
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		pool.AddCert(c)
		n++
	}
}
