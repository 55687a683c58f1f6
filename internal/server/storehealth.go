package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// healthStore is the state store as the rest of moat sees it: it passes every transaction on and
// follows whether a shared store (etcd) can be reached. While it cannot (an error wrapping
// store.ErrUnavailable was seen and no transaction or probe has succeeded since), Update fails at once
// with store.ErrUnavailable naming the cause and how long it has lasted, rather than wait for etcd's
// timeout each time. View answers whenever it can: from the store with its quorum, else (a store.StaleViewer)
// from the copy of whichever etcd member still answers, which may be old — the API middleware says how
// old (staleHeader), and the fleet's follower, which must never enforce an older state than it has,
// discards what it read while a stale read was answered (staleSince). Every refused or failed
// transaction counts in moat_state_store_unavailable_total. Safe for concurrent use.
type healthStore struct {
	store.Store
	log     *slog.Logger
	refused prometheus.Counter
	now     func() time.Time

	mu       sync.Mutex
	down     bool
	cause    error
	lastSync time.Time // the last time a transaction or probe reached the store

	staleReads atomic.Int64 // Views answered by ViewStale, ever
}

func newHealthStore(st store.Store, log *slog.Logger, now func() time.Time) *healthStore {
	return &healthStore{Store: st, log: log, now: now, lastSync: now(),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "moat_state_store_unavailable_total",
			Help: "State store transactions that failed or were refused at once because the shared store (etcd) could not be reached or had no quorum.",
		})}
}

// register adds the store's metrics to reg.
func (h *healthStore) register(reg prometheus.Registerer) error {
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "moat_state_store_up",
		Help: "1 while the state store answers, 0 while a shared store (etcd) cannot be reached or has no quorum (the gateway enforces its last snapshots).",
	}, func() float64 {
		if _, _, down := h.status(); down {
			return 0
		}
		return 1
	})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "moat_state_store_stale_seconds",
		Help: "Seconds since this gateway last reached the state store, while it cannot (0 while it can).",
	}, func() float64 {
		if _, since, down := h.status(); down {
			return h.now().Sub(since).Seconds()
		}
		return 0
	})
	for _, c := range []prometheus.Collector{h.refused, up, age} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// View runs fn on the store and notes whether it could be reached. While it cannot, and the store can
// read without its quorum (store.StaleViewer), fn runs again on that stale copy; when that fails too, the
// error also says when this gateway last reached the store: how stale what it enforces may be.
func (h *healthStore) View(fn func(store.Tx) error) error {
	var err error
	if _, _, down := h.status(); !down {
		err = h.Store.View(fn)
		h.observe(err)
		if !errors.Is(err, store.ErrUnavailable) {
			return err
		}
	}
	if sv, ok := h.Store.(store.StaleViewer); ok {
		serr := sv.ViewStale(fn)
		if serr == nil {
			h.staleReads.Add(1)
		}
		if !errors.Is(serr, store.ErrUnavailable) {
			return serr
		}
		err = serr
	}
	cause, since, _ := h.status()
	if err == nil {
		err = cause
	}
	return h.outage(since, err)
}

// staleSince returns a mark of the stale reads answered so far: a read made after it was answered
// from the store with its quorum unless staleSince returns another mark once it is done.
func (h *healthStore) staleSince() int64 { return h.staleReads.Load() }

// Update refuses at once while the store is known unreachable; otherwise it runs fn on the store and
// notes whether it could be reached.
func (h *healthStore) Update(fn func(store.Tx) error) error {
	if cause, since, down := h.status(); down {
		h.refused.Inc()
		return h.outage(since, cause)
	}
	err := h.Store.Update(fn)
	h.observe(err)
	return err
}

// outage is the error of a transaction refused or failed because the store cannot be reached: it wraps
// store.ErrUnavailable and names when the store was last reached and cause.
func (h *healthStore) outage(since time.Time, cause error) error {
	return fmt.Errorf("%w (last reached %s, %s ago): %v", store.ErrUnavailable, since.UTC().Format(time.RFC3339),
		h.now().Sub(since).Round(time.Second), cause)
}

// observe records the outcome of a transaction or probe: an ErrUnavailable marks the store down, any
// other outcome (an error of fn's included) shows it answered.
func (h *healthStore) observe(err error) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if errors.Is(err, store.ErrUnavailable) {
		h.refused.Inc()
		if !h.down {
			h.down = true
			h.log.Error("state store unavailable: enforcing the last snapshots, refusing API changes until it is back", "err", err)
		}
		h.cause = err
		return
	}
	if h.down {
		h.log.Info("state store reachable again", "stale_for", now.Sub(h.lastSync).Round(time.Millisecond))
	}
	h.down, h.cause, h.lastSync = false, nil, now
}

// status returns, while the store is unreachable, the last error and the last time it was reached.
//
//lint:ignore ST1008 cause is what status reports (the store's last failure), not a failure of status
func (h *healthStore) status() (cause error, lastSync time.Time, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cause, h.lastSync, h.down
}

// probeKey is read by probes: any key would do; it need not exist.
const probeKey = "meta/probe"

// probe reads the store once (an etcd read needs a quorum) and notes the outcome.
func (h *healthStore) probe() error {
	err := h.Store.View(readProbe)
	h.observe(err)
	return err
}

// readProbe reads probeKey, absent or not.
func readProbe(tx store.Tx) error {
	_, err := tx.Get(probeKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// probeLoop probes every interval until ctx ends, so that the store's state (and /readyz, the metrics
// and the staleness the API reports) is known within interval whether or not calls are made.
func (h *healthStore) probeLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.probe()
		}
	}
}

// StateAgeHeader is the response header that marks an API answer given while the shared state store
// cannot be reached: the seconds since this gateway last reached it, how old what it answers and
// enforces may be. It comes with the standard "Warning: 110 - "Response is Stale"".
const StateAgeHeader = "X-Moat-State-Age"

// staleHeader marks every answer of h given while the store is unreachable (StateAgeHeader). The headers
// are decided when the answer is written, so an answer that found the store unreachable while it was being
// made — a read answered from a stale copy — is marked too.
func (s *Server) staleHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&staleWriter{ResponseWriter: w, store: s.store}, r)
	})
}

// staleWriter adds StateAgeHeader and Warning to the answer when it begins, if the store is down then.
type staleWriter struct {
	http.ResponseWriter
	store   *healthStore
	started bool
}

func (w *staleWriter) WriteHeader(code int) {
	if !w.started {
		w.started = true
		if _, since, down := w.store.status(); down {
			w.Header().Set(StateAgeHeader, strconv.Itoa(int(w.store.now().Sub(since).Seconds())))
			w.Header().Set("Warning", `110 - "Response is Stale"`)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *staleWriter) Write(b []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *staleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
