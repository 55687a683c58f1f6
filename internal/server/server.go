// Package server runs moat: it opens the state store, reconciles it with the configuration, starts a
// gateway per instance, keeps the data plane's snapshots in step with the control plane, and serves the
// HTTP listener (metrics and health).
//
// It is the top of the graph: it imports the control plane, the gateway, the console and the API to wire
// them; nothing but cmd/moat imports it.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redact"
	"github.com/moat-dev/moat/internal/snapshot"
	"github.com/moat-dev/moat/internal/tlsconf"
)

// configActor is who the audit log names for changes made from the config file and flags.
var configActor = controlplane.Actor{KeyID: "config"}

// Defaults for `moat serve` without a config file.
const (
	DefaultListen    = "127.0.0.1:6380"
	DefaultAPIListen = "127.0.0.1:6390"
	DefaultDataDir   = "./moat-data"
	// DefaultBackend: a managed redis-server/valkey-server when one is found, else the in-process
	// engine (engine.go).
	DefaultBackend = "auto"
)

// Options are the serve command's inputs. Empty fields take the defaults above.
type Options struct {
	ConfigPath string
	DataDir    string
	Listen     string // the default instance's listen address (no config file only)
	APIListen  string
	Backend    string // the default instance's backend (no config file only)
	Log        *slog.Logger
	Banner     io.Writer // where the first-run guidance is printed (default os.Stderr)
	Pprof      bool      // serve /debug/pprof/ on the API listener (unauthenticated: loopback only)
	// RedisServer is the redis-server or valkey-server binary that runs managed backends (a path, or a
	// name looked up on PATH); empty: the first of them on PATH, if any (engine.go).
	RedisServer string
	// TLSReload is how often certificate files are checked for changes (default DefaultTLSReload).
	TLSReload time.Duration
	// HTTP bounds the API listener's connections (httplimits.go); zero fields take the defaults.
	HTTP HTTPLimits
	// APIHosts are host names, besides loopback names and the API listen address, that the API
	// listener answers to in the Host header (hostguard.go).
	APIHosts []string
	// TrustedProxies are the peers (addresses or CIDR prefixes) whose PROXY protocol header or
	// X-Forwarded-For header names the client of a request to the API listener; others' are not
	// honoured (proxyconn.go, hostguard.go).
	TrustedProxies []string
	// MetricsListen, when set, is a second HTTP listener serving /metrics, /healthz and /readyz
	// without credentials (status.go).
	MetricsListen string
	// APILimits are the API's per-key and per-address budgets (zero fields: the defaults).
	APILimits api.Limits
	// AuditRetentionDays is how many days records of changes and failed calls are kept, and
	// AuditFailedCalls how many failed-call records (controlplane.AuditPolicy); 0 takes the config file's
	// setting, else moat's default.
	AuditRetentionDays int
	AuditFailedCalls   int
	// Store selects the state store: the embedded bbolt file (default) or a shared etcd (fleet.go).
	Store StoreOptions
	// ListenHost, when set, replaces the host of every instance's listen and TLS listen addresses on
	// this gateway (the ports stay the stored ones), so that gateways sharing a store can each bind
	// their own address. The API listener has its own flag (--api-listen).
	ListenHost string
	// GatewayName names this gateway in the audit records of the changes it takes (with a shared store,
	// default: the host name, then "/" and ListenHost when set; with bolt, default none).
	GatewayName string
}

// Server is a running moat.
type Server struct {
	opts    Options
	log     *slog.Logger
	store   *healthStore
	plane   *controlplane.Plane
	metrics *gateway.Metrics
	reg     *prometheus.Registry
	http    *http.Server
	apiAddr net.Addr
	// metricsHTTP serves MetricsListen (nil without it); statusToken unlocks /metrics and /readyz's
	// details on the API listener (status.go).
	metricsHTTP *http.Server
	metricsAddr net.Addr
	statusToken string

	adminKeyPath string
	// redisServer runs the managed backends; nil when none was found (engine.go).
	redisServer *backend.Server

	mu        sync.Mutex
	instances map[string]*served
	ready     bool
	// startErrs says why a stored instance is not served here (a fleet: it could not start on this
	// gateway); guarded by mu.
	startErrs map[string]error

	// reconcileMu serialises the config file's reconciliations (reconcile.go): at start and on SIGHUP.
	reconcileMu sync.Mutex

	// pubMu orders the publications of this gateway's own changes (onChange) and of the fleet's
	// (fleet.go), so that an older state is never published over a newer one.
	pubMu sync.Mutex
	// stop ends the follower and the store probe; followDone is closed when the follower returned
	// (nil: no follower).
	stop       context.CancelFunc
	followDone chan struct{}
}

type served struct {
	gw      *gateway.Instance
	backend backend.Backend
	model   model.Instance
	tls     *tlsconf.Server // nil without TLS listen addresses (tls.go)
}

// Start opens the state, starts every instance and the HTTP listener. On error nothing is left running.
func Start(opts Options) (_ *Server, err error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.Log = slog.New(redact.Handler(opts.Log.Handler())) // no URL password reaches a log line
	if opts.Banner == nil {
		opts.Banner = os.Stderr
	}
	var file *config.File
	var declared []model.Instance
	if opts.ConfigPath != "" {
		if opts.Listen != "" || opts.Backend != "" {
			return nil, errors.New("--listen and --backend set the default instance, which is not served with --config: set listen and backend in the config file")
		}
		file, declared, err = config.Load(opts.ConfigPath)
		if err != nil {
			return nil, err
		}
		if opts.DataDir == "" {
			opts.DataDir = file.DataDir
		}
		if opts.APIListen == "" {
			opts.APIListen = file.APIListen
		}
		opts.RedisServer = orDefault(opts.RedisServer, file.RedisServer)
		opts.fromFile(file)
		opts.Store.fromFile(file)
		opts.ListenHost = orDefault(opts.ListenHost, file.ListenHost)
		opts.GatewayName = orDefault(opts.GatewayName, file.GatewayName)
		opts.AuditRetentionDays = cmp.Or(opts.AuditRetentionDays, file.AuditRetentionDays)
		opts.AuditFailedCalls = cmp.Or(opts.AuditFailedCalls, file.AuditFailedCalls)
	}
	opts.DataDir = orDefault(opts.DataDir, DefaultDataDir)
	opts.APIListen = orDefault(opts.APIListen, DefaultAPIListen)
	if opts.AuditRetentionDays < 0 || opts.AuditFailedCalls < 0 {
		return nil, fmt.Errorf("audit retention %d days, %d failed-call records: want positive numbers, or 0 for the defaults",
			opts.AuditRetentionDays, opts.AuditFailedCalls)
	}

	if err := opts.Store.check(); err != nil {
		return nil, err
	}
	if err := checkListenHost(opts.ListenHost); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Log, instances: map[string]*served{}, startErrs: map[string]error{}}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	raw, err := s.openStore(ctx) // etcd: waits while it cannot be reached
	if err != nil {
		stop()
		return nil, err
	}
	s.store = newHealthStore(raw, s.log, time.Now)
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.plane = controlplane.New(s.store, s.log)
	s.plane.Gateway = opts.GatewayName // a single gateway's records name none unless told
	if opts.Store.shared() {
		s.plane.Gateway = gatewayName(opts.GatewayName, opts.ListenHost)
	}
	s.plane.Audit = controlplane.AuditPolicy{Retention: time.Duration(opts.AuditRetentionDays) * 24 * time.Hour, FailedCalls: opts.AuditFailedCalls}
	if opts.Store.shared() {
		s.plane.Audit.MaxChanges = DefaultFleetChanges
	}
	if err := s.plane.UpgradeAudit(); err != nil {
		return nil, err
	}
	if s.redisServer, err = findRedisServer(opts.RedisServer, s.log); err != nil {
		return nil, err
	}
	s.plane.AddCheck(s.checkTLS) // before the config file is reconciled: its TLS files must load too
	s.metrics = gateway.NewMetrics()
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := s.metrics.Register(s.reg); err != nil {
		return nil, err
	}
	if err := s.store.register(s.reg); err != nil {
		return nil, err
	}

	var toServe []model.Instance
	if opts.ConfigPath != "" {
		toServe, err = s.reconcileConfig(declaredFrom(file, declared))
	} else {
		var in model.Instance
		in, err = s.defaultInstance()
		toServe = []model.Instance{in}
		if err == nil {
			toServe, err = s.appendAPIInstances(toServe)
		}
	}
	if err == nil && opts.Store.shared() {
		toServe, err = s.plane.Instances() // every gateway of a fleet serves every instance
	}
	if err != nil {
		return nil, err
	}
	s.plane.Serve(s.onChange)
	// Every listener is bound, and every backend opened, before any credential file is written: a start
	// that fails (a busy address, a backend or TLS files that do not load) leaves no administrator key,
	// status token or console password behind. The banners come last, where the operator reads them.
	if toServe, err = s.settlePending(toServe); err != nil {
		return nil, err
	}
	for _, in := range toServe {
		if err := s.startInstance(in); err != nil {
			if !opts.Store.shared() {
				return nil, err
			}
			// A fleet's instance this gateway cannot serve (its port taken here) must not keep the
			// gateway from serving the others: /readyz names it, and it is tried again at its next change.
			s.noteStartError(in.ID, err)
			s.log.Error("instance cannot be served on this gateway", "instance", in.ID, "err", err)
		}
	}
	if err := s.startHTTP(); err != nil {
		return nil, err
	}
	if err := s.ensureAdminKey(); err != nil {
		return nil, err
	}
	for _, in := range toServe {
		s.announce(in)
	}
	if w, ok := raw.(store.Watcher); ok && opts.Store.shared() {
		s.followDone = make(chan struct{})
		go s.follow(ctx, w)
		go s.store.probeLoop(ctx, storeProbeEvery)
	}
	s.consoleBanner()
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	return s, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// restartActor is who the audit log names for the creations moat settles when it starts
// (settlePending).
var restartActor = controlplane.Actor{KeyID: "restart"}

// settlePending settles the instances of list that are stored Pending — a gateway stopped between
// storing an instance created through its API and starting it (controlplane.Plane.StartPending): each
// is started here and its bound addresses stored, or, when it cannot be started, removed (audited,
// logged) rather than keeping moat from starting: its creation was never confirmed to the caller. It
// returns the others, to start, and leaves the settled ones served (their banners printed).
func (s *Server) settlePending(list []model.Instance) ([]model.Instance, error) {
	var rest []model.Instance
	for _, in := range list {
		if !in.Pending {
			rest = append(rest, in)
			continue
		}
		_, err := s.plane.StartPending(restartActor, in)
		if se := (*controlplane.StartError)(nil); errors.As(err, &se) {
			s.log.Error("an instance whose creation was interrupted cannot be started: removed", "instance", in.ID, "err", se.Err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("instance %s, whose creation was interrupted: %w", in.ID, err)
		}
		s.log.Info("an instance whose creation was interrupted is served", "instance", in.ID)
	}
	return rest, nil
}

// defaultInstance returns the instance served without a config file, creating it on first start.
func (s *Server) defaultInstance() (model.Instance, error) {
	listen := orDefault(s.opts.Listen, DefaultListen)
	be := orDefault(s.opts.Backend, DefaultBackend)
	if err := model.CheckBackend(be); err != nil {
		return model.Instance{}, fmt.Errorf("--backend: %w", err)
	}
	if err := model.CheckListen(listen); err != nil {
		return model.Instance{}, fmt.Errorf("--listen: %w", err)
	}
	in := model.Instance{
		ID: model.NewID(), Name: "default", Listen: []string{listen}, Backend: be,
		EngineVersion: config.DefaultEngineVersion, Groups: initialGroups(), Origin: model.OriginDefault,
	}
	// One transaction: of gateways starting together on an empty shared store, one creates it.
	in, created, err := s.plane.EnsureInstance(configActor, func(in model.Instance) bool { return in.Origin == model.OriginDefault }, in)
	if err != nil || created {
		return in, err
	}
	if in.Listen[0] != listen || in.Backend != be {
		in.Listen, in.Backend = []string{listen}, be
		if err := s.plane.PutInstance(configActor, in); err != nil {
			return model.Instance{}, err
		}
	}
	return in, nil
}

// appendAPIInstances adds the instances created through the API, which are served whether or not a
// config file is used.
func (s *Server) appendAPIInstances(list []model.Instance) ([]model.Instance, error) {
	all, err := s.plane.Instances()
	if err != nil {
		return nil, err
	}
	for _, in := range all {
		if in.Origin == model.OriginAPI {
			list = append(list, in)
		}
	}
	return list, nil
}

// startPending starts serving an instance stored Pending (controlplane.Plane.Create, StartPending),
// unless it is served already, and returns the addresses it is bound to: port 0 resolved, and with
// --listen-host the hosts as stored (each gateway of a fleet puts its own). Nothing of it is left
// running on error.
func (s *Server) startPending(in model.Instance) (controlplane.Bound, error) {
	if s.Gateway(in.ID) == nil {
		if err := s.startInstance(in); err != nil {
			return controlplane.Bound{}, err
		}
		s.announce(in)
	}
	var out []string
	for _, a := range s.Gateway(in.ID).Addrs() {
		out = append(out, a.String())
	}
	if s.opts.ListenHost != "" {
		out = withHostsOf(out, in.Listen)
	}
	tlsOut := s.TLSAddrs(in.ID)
	s.mu.Lock()
	s.instances[in.ID].model.Listen = out
	s.instances[in.ID].model.TLSListen = tlsOut
	s.mu.Unlock()
	return controlplane.Bound{Listen: out, TLSListen: tlsOut}, nil
}

// announce prints the banner of instance in if it is served (banner.go).
func (s *Server) announce(in model.Instance) {
	s.mu.Lock()
	sv := s.instances[in.ID]
	s.mu.Unlock()
	if sv != nil {
		s.banner(in, sv.gw, sv.backend)
	}
}

// startInstance opens the instance's backend and starts its gateway; the caller prints its banner.
func (s *Server) startInstance(in model.Instance) error {
	dir := filepath.Join(s.opts.DataDir, "instances", in.ID)
	be, err := backend.OpenWith(in.Backend, dir, s.redisServer, s.log.With("instance", in.ID))
	if err != nil {
		return fmt.Errorf("instance %s: backend: %w", in.ID, err)
	}
	if err := backend.Guardable(context.Background(), be); err != nil { // a Redis Cluster node (issue 15.8)
		be.Close()
		return fmt.Errorf("instance %s: %w", in.ID, err)
	}
	// The backend's command table, before the first compile: users are compiled against it, and the
	// gateway judges with the same table (nothing is rebound after publishing).
	table := gateway.CommandTable(be, 2*time.Second, s.plane.Commands(), s.log.With("instance", in.ID))
	s.plane.SetCommandTable(in.ID, table)
	snap, err := s.plane.CompileInstance(in) // with its bound security groups
	if err != nil {
		s.plane.SetCommandTable(in.ID, nil)
		be.Close()
		return err
	}
	tlsSrv, err := s.instanceTLS(in)
	if err != nil {
		be.Close()
		return err
	}
	gw, err := gateway.Start(gateway.Config{
		ID: in.ID, Listen: withListenHost(in.Listen, s.opts.ListenHost), Backend: be, Log: s.log, Metrics: s.metrics,
		TLSListen: withListenHost(in.TLSListen, s.opts.ListenHost), TLS: tlsSource(tlsSrv),
		Commands: table, DefaultCommands: true, Users: userStore{s.plane},
	}, snap)
	if err != nil {
		s.plane.SetCommandTable(in.ID, nil)
		be.Close()
		if tlsSrv != nil {
			tlsSrv.Close()
		}
		return err
	}
	s.mu.Lock()
	s.instances[in.ID] = &served{gw: gw, backend: be, model: in, tls: tlsSrv}
	s.mu.Unlock()
	return nil
}

// onChange is the data plane as the control plane sees it (controlplane.Plane.Serve): every durable
// change this gateway makes is compiled and published at once, a deleted instance is stopped, and an
// instance stored Pending — created through this gateway — is started here, as the fleet's follower
// starts the instances other gateways create (fleet.go); it returns the addresses bound, or why the
// instance could not be started (the control plane then removes it).
func (s *Server) onChange(in model.Instance, deleted bool) (controlplane.Bound, error) {
	if in.Pending && !deleted {
		// Not under pubMu (a start may wait seconds on a backend): nothing else publishes a pending
		// instance, and only its creation starts it.
		return s.startPending(in)
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	sv := s.instances[in.ID]
	s.mu.Unlock()
	switch {
	case sv == nil:
	case deleted:
		s.stopInstance(in.ID)
	default:
		s.publish(sv, in)
	}
	return controlplane.Bound{}, nil
}

// publish compiles in, as stored, and publishes it on sv's gateway. Called with pubMu held.
func (s *Server) publish(sv *served, in model.Instance) {
	if !slices.Equal(sv.model.Listen, in.Listen) || sv.model.Backend != in.Backend || !slices.Equal(sv.model.TLSListen, in.TLSListen) {
		s.log.Warn("listen addresses or backend changed: restart moat to apply", "instance", in.ID)
	}
	var snap *snapshot.Snapshot
	err := s.freshRead(func() (err error) {
		snap, err = s.plane.CompileInstance(in) // with its bound security groups' hosts as stored now
		return err
	})
	if err != nil {
		// Only when the store fails (closing), or answers from a stale copy (no quorum): keep the published
		// snapshot rather than publish a partial or older one.
		s.log.Error("access model not published: reading its security groups failed", "instance", in.ID, "err", err)
		return
	}
	sv.gw.Publish(snap)
	s.applyTLS(sv, in)
	s.mu.Lock()
	sv.model = in
	s.mu.Unlock()
	s.log.Info("access model published", "instance", in.ID, "allowed_prefixes", sv.gw.Snapshot().Allow.Entries())
}

func (s *Server) stopInstance(id string) {
	s.mu.Lock()
	sv := s.instances[id]
	delete(s.instances, id)
	s.mu.Unlock()
	s.plane.SetCommandTable(id, nil)
	if sv != nil {
		sv.gw.Close()
		sv.backend.Close()
		if sv.tls != nil {
			sv.tls.Close()
		}
	}
}

// Plane returns the control plane.
func (s *Server) Plane() *controlplane.Plane { return s.plane }

// AdminKeyPath returns the path of the administrator key file.
func (s *Server) AdminKeyPath() string { return s.adminKeyPath }

// APIAddr returns the HTTP listener's address.
func (s *Server) APIAddr() net.Addr { return s.apiAddr }

// MetricsAddr returns the metrics listener's address, or nil without one.
func (s *Server) MetricsAddr() net.Addr { return s.metricsAddr }

// StatusToken returns the bearer token that unlocks /metrics and /readyz's details on the API listener.
func (s *Server) StatusToken() string { return s.statusToken }

// Gateway returns a served instance's gateway, or nil.
func (s *Server) Gateway(id string) *gateway.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.instances[id]; sv != nil {
		return sv.gw
	}
	return nil
}

// Reload re-reads the config file and applies what can change live: whitelist groups and parameters
// (reconcileConfig). A file that is invalid, or that any instance cannot take, changes nothing.
func (s *Server) Reload() error {
	if s.opts.ConfigPath == "" {
		return errors.New("no config file to reload")
	}
	file, declared, err := config.Load(s.opts.ConfigPath)
	if err != nil {
		return err
	}
	_, err = s.reconcileConfig(declaredFrom(file, declared))
	s.reloadTLS()
	return err
}

// Close stops everything: the HTTP listener, every instance (closing client connections), the backends
// (the embedded engine flushes to disk) and the store.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
	}
	if s.followDone != nil {
		<-s.followDone
	}
	for _, h := range []*http.Server{s.http, s.metricsHTTP} {
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			h.Shutdown(ctx)
			cancel()
		}
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.instances))
	for id := range s.instances {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.stopInstance(id)
	}
	if s.store != nil {
		return s.store.Close()
	}
	return nil
}
