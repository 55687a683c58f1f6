package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

// startHTTP serves moat's own HTTP endpoints on the API listener:
//
//	/metrics  Prometheus metrics, with the status token (status.go)
//	/healthz  200 while the process runs
//	/readyz   200 when every instance is serving and its backend answers a connection, else 503; why
//	          only with the status token
//	/         the control-plane API (package api)
//	/console/ the web console (package console)
//
// and, when MetricsListen is set, /metrics, /healthz and /readyz with details, without credentials, on
// a listener of their own. Both refuse foreign Host headers (hostguard.go) and bound their connections
// (httplimits.go, connlimit.go).
//
// The listeners are bound first: a start that fails on a busy address writes neither the status token
// nor the console password.
func (s *Server) startHTTP() (err error) {
	if s.opts.HTTP.MaxConns < 0 || s.opts.HTTP.MaxConnsPerAddr < 0 {
		return fmt.Errorf("--api-max-conns %d, --api-max-conns-per-addr %d: want a number of connections, or 0 for the default", s.opts.HTTP.MaxConns, s.opts.HTTP.MaxConnsPerAddr)
	}
	var apiLn, metricsLn net.Listener
	defer func() {
		if err != nil { // closing a listener twice (serveHTTP closes its own on failure) is harmless
			for _, ln := range []net.Listener{apiLn, metricsLn} {
				if ln != nil {
					ln.Close()
				}
			}
		}
	}()
	if apiLn, err = bind("--api-listen", s.opts.APIListen); err != nil {
		return err
	}
	if s.opts.MetricsListen != "" {
		if metricsLn, err = bind("--metrics-listen", s.opts.MetricsListen); err != nil {
			return err
		}
	}
	if err := s.ensureStatusToken(); err != nil {
		return err
	}
	lim := s.opts.HTTP.withDefaults()
	files, err := raiseFileLimit()
	if err != nil {
		s.log.Warn("cannot raise the open-file limit", "limit", files, "err", err)
	}
	apiMax := connCap(lim.MaxConns, files)
	s.log.Info("API listener bounds", "open_file_limit", files, "max_conns", apiMax, "max_conns_per_addr", lim.MaxConnsPerAddr,
		"read_timeout", lim.ReadTimeout, "write_timeout", lim.WriteTimeout, "idle_timeout", lim.IdleTimeout)
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_http_connections_refused_total",
		Help: "Connections to moat's HTTP listeners refused over a connection cap, by listener (api, metrics) and cap (total, per_address).",
	}, []string{"listener", "reason"})
	if err := s.reg.Register(refused); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metricsHandler(false))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz(false))
	apiHandler := api.NewWithLimits(s.plane, s, s.log, s.opts.APILimits)
	mux.Handle("/", s.staleHeader(toConsole(apiHandler))) // a browser opening "/" is sent to the console (console.go)
	if err := s.mountConsole(mux, apiHandler); err != nil {
		return err
	}
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	}
	s.http, s.apiAddr, err = s.serveHTTP(apiLn, mux, lim, apiMax, refused.WithLabelValues("api", "total"), refused.WithLabelValues("api", "per_address"))
	if err != nil || metricsLn == nil {
		return err
	}
	status := http.NewServeMux()
	status.Handle("GET /metrics", s.metricsHandler(true))
	status.HandleFunc("GET /healthz", healthz)
	status.HandleFunc("GET /readyz", s.readyz(true))
	s.metricsHTTP, s.metricsAddr, err = s.serveHTTP(metricsLn, status, lim, metricsMaxConns, refused.WithLabelValues("metrics", "total"), refused.WithLabelValues("metrics", "per_address"))
	return err
}

func healthz(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }

// bind listens on addr (named by flag in errors).
func bind(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	return ln, nil
}

// serveHTTP serves h on raw (bound by bind) behind the Host guard, with lim's timeouts and at most
// maxConns connections (lim.MaxConnsPerAddr from one address). It closes raw if it fails.
func (s *Server) serveHTTP(raw net.Listener, h http.Handler, lim HTTPLimits, maxConns int, overTotal, overAddr prometheus.Counter) (*http.Server, net.Addr, error) {
	ln := api.JSONErrors(raw) // innermost: net/http's own plain-text errors become the provider's JSON
	guard, err := newHostGuard(ln.Addr(), s.opts.APIHosts, s.opts.TrustedProxies)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	capped := newCappedListener(ln, maxConns, lim.MaxConnsPerAddr, guard.trusted, func(reason string) {
		if reason == "total" {
			overTotal.Inc()
		} else {
			overAddr.Inc()
		}
	})
	srv := &http.Server{
		Handler:           guard.wrap(h),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	go func() {
		if err := srv.Serve(proxyListener{Listener: capped, trusted: guard.trusted, timeout: lim.ReadHeaderTimeout}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}
