package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StatusTokenFile is the name, under the data directory, of the bearer token that unlocks /metrics and
// /readyz's details on the API listener. moat creates it on first start (mode 0600); an operator may
// write a token of their own there (at least 16 characters) before starting moat.
const StatusTokenFile = "status-token"

// ensureStatusToken reads the status token, creating it on first start.
func (s *Server) ensureStatusToken() error {
	path := filepath.Join(s.opts.DataDir, StatusTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return fmt.Errorf("%s: the status token must be at least 16 characters", path)
		}
		s.statusToken = tok
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("reading the status token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := base64.RawURLEncoding.EncodeToString(raw)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the status token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the status token: %w", err)
	}
	s.statusToken = tok
	s.log.Info("status token created (a bearer token for /metrics and /readyz's details)", "file", path)
	return nil
}

// statusAuthorized reports whether r carries "Authorization: Bearer <status token>".
func (s *Server) statusAuthorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.statusToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.statusToken)) == 1
}

// metricsHandler serves the Prometheus metrics: to anyone when open (the metrics listener), else only to a
// request carrying the status token.
func (s *Server) metricsHandler(open bool) http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	if open {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.statusAuthorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="moat"`)
			http.Error(w, "/metrics needs the status token: Authorization: Bearer <"+StatusTokenFile+" in the data directory>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readyz answers 200 "ready" when every instance is serving and its backend answers a connection, else
// 503. The reasons (which instance, which backend and why) are told only when detailed is true (the
// metrics listener) or the request carries the status token; anyone else gets the status alone.
//
// A shared state store (etcd) that cannot be reached does not make a gateway unready: it keeps
// enforcing its last snapshots (fail static), and a load balancer that took every gateway out because
// etcd is down would turn a control-plane outage into a data-plane one. The answer is then 200
// "ready, degraded" and, with details, why and since when (storeReadiness).
func (s *Server) readyz(detailed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		problems := s.readiness(r.Context())
		if len(problems) == 0 {
			degraded := s.storeReadiness()
			if len(degraded) == 0 {
				fmt.Fprintln(w, "ready")
				return
			}
			fmt.Fprintln(w, "ready, degraded")
			if detailed || s.statusAuthorized(r) {
				for _, p := range degraded {
					fmt.Fprintln(w, p)
				}
			}
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		if !detailed && !s.statusAuthorized(r) {
			fmt.Fprintln(w, "not ready")
			return
		}
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
	}
}

// readiness lists why moat is not ready (nothing when it is).
func (s *Server) readiness(ctx context.Context) []string {
	s.mu.Lock()
	ready := s.ready
	var list []*served
	for _, sv := range s.instances {
		list = append(list, sv)
	}
	s.mu.Unlock()
	if !ready {
		return []string{"starting"}
	}
	problems := s.startProblems()
	for _, sv := range list {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := sv.backend.Dial(dctx)
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("instance %s: %v", sv.model.ID, err))
			continue
		}
		c.Close()
	}
	return problems
}
