package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Server holds the TLS configuration an instance's listeners use for new handshakes, and replaces it
// when the options change (Update) or the files they name change (Reload, Watch). A replacement is
// built whole and checked first; if it fails, the configuration in force keeps serving and the reason
// is logged. Connections already established keep the configuration they were made with. Methods are
// safe for concurrent use.
type Server struct {
	cur atomic.Pointer[tls.Config]
	log *slog.Logger
	// Now is the clock certificates are checked against; nil means time.Now. Set it before use.
	Now func() time.Time

	mu         sync.Mutex
	opts       Options
	have       material // what the serving configuration was built from
	refused    material // the last material refused and why, so that a bad file is logged once, not every poll
	refusedWhy string
	stop       chan struct{}
	done       chan struct{}
}

// NewServer loads the options. It fails, naming the setting and the file, if they cannot be served.
func NewServer(o Options, log *slog.Logger) (*Server, error) {
	s := &Server{log: log}
	cfg, m, err := o.load(s.now())
	if err != nil {
		return nil, err
	}
	s.opts, s.have = o, m
	s.cur.Store(cfg)
	s.logLoaded("TLS configuration loaded", cfg)
	return s, nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Config returns the configuration for the next handshake. Do not modify it.
func (s *Server) Config() *tls.Config { return s.cur.Load() }

// Options returns the options in force.
func (s *Server) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// Update switches to new options. If they cannot be loaded the previous configuration keeps serving
// and the error is returned (and logged).
func (s *Server) Update(o Options) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o == s.opts {
		return nil
	}
	cfg, m, err := o.load(s.now())
	if err != nil {
		s.log.Error("new TLS settings refused: the previous configuration keeps serving", "err", err)
		return err
	}
	s.opts, s.have, s.refused, s.refusedWhy = o, m, material{}, ""
	s.cur.Store(cfg)
	s.logLoaded("TLS settings changed", cfg)
	return nil
}

// Reload re-reads the files and switches to them if their contents changed. A set of files that cannot
// be loaded (a certificate that does not match its key, is expired, is half written…) leaves the
// previous configuration serving; the reason is logged once per distinct set of contents and returned.
func (s *Server) Reload() (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, _, m, err := s.opts.read(); err == nil {
		if m == s.have {
			return false, nil
		}
		if m == s.refused {
			return false, errStillRefused
		}
	}
	cfg, m, err := s.opts.load(s.now())
	if err != nil {
		if m != s.refused || err.Error() != s.refusedWhy {
			s.log.Error("TLS certificate reload refused: the previous certificate keeps serving", "err", err)
		}
		s.refused, s.refusedWhy = m, err.Error()
		return false, err
	}
	s.have, s.refused, s.refusedWhy = m, material{}, ""
	s.cur.Store(cfg)
	s.logLoaded("TLS certificate reloaded", cfg)
	return true, nil
}

var errStillRefused = errorString("the files are unchanged since they were refused")

type errorString string

func (e errorString) Error() string { return string(e) }

// Watch polls the files every interval and reloads them when they change, until Close.
func (s *Server) Watch(interval time.Duration) {
	s.mu.Lock()
	if s.stop != nil {
		s.mu.Unlock()
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	stop, done := s.stop, s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.Reload()
			}
		}
	}()
}

// Close stops Watch. Idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

func (s *Server) logLoaded(msg string, cfg *tls.Config) {
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		leaf, _ = x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	}
	if leaf == nil {
		s.log.Info(msg)
		return
	}
	s.log.Info(msg, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"serial", leaf.SerialNumber.String())
}
