package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

// startHTTP serves moat's own HTTP endpoints on the API listener:
//
//	/metrics  Prometheus metrics
//	/healthz  200 while the process runs
//	/readyz   200 when every instance is serving and its backend answers a connection, else 503 with why
//	/         the control-plane API (package api)
//	/console/ the web console (package console)
func (s *Server) startHTTP() error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	apiHandler := api.NewWithLimits(s.plane, s, s.log, s.opts.APILimits)
	mux.Handle("/", toConsole(apiHandler)) // a browser opening "/" is sent to the console (console.go)
	if err := s.mountConsole(mux, apiHandler); err != nil {
		return err
	}
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	ln, err := net.Listen("tcp", s.opts.APIListen)
	if err != nil {
		return fmt.Errorf("--api-listen %s: %w", s.opts.APIListen, err)
	}
	s.apiAddr = ln.Addr()
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := s.http.Serve(api.JSONErrors(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) { // net/http's own errors as JSON
			s.log.Error("HTTP listener stopped", "addr", s.apiAddr.String(), "err", err)
		}
	}()
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ready := s.ready
	var list []*served
	for _, sv := range s.instances {
		list = append(list, sv)
	}
	s.mu.Unlock()
	if !ready {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	var problems []string
	for _, sv := range list {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		c, err := sv.backend.Dial(ctx)
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("instance %s: %v", sv.model.ID, err))
			continue
		}
		c.Close()
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ready")
}
