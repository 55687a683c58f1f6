package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/server"
)

func newServe() *cobra.Command {
	var opts server.Options
	var logLevel, logFormat string
	var procs int
	var keyRate float64
	var etcdUser string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve instances: enforce the whitelist on every connection and relay to the backend",
		Long: `Serve one or more instances until SIGINT or SIGTERM.

Without --config, moat serves one instance (created on first start, with an ID like r-xxxxxxxx) on
--listen, backed by --backend. With --config, it serves the instances the file declares; SIGHUP re-reads
the file and applies whitelist groups and parameters without a restart.

Every address is refused until it is whitelisted: a refused client gets "-ERR illegal address" and is
disconnected before anything it sends is read.

State (instances, whitelists) lives in <data-dir>/state.db; each instance's data lives under
<data-dir>/instances/<id>/. Only one moat may use a data directory at a time. With --store etcd, the
state lives in etcd instead and is shared by a fleet of gateways: each serves every instance and
enforces a change made through any of them (see README, "Running a fleet").

Backends: "auto" (default): a redis-server or valkey-server that moat runs and supervises for the
instance (unix socket only, appendonly), when one is on PATH or named by --redis-server; else the
in-process engine. "managed" insists on such a server; "embedded" is the in-process engine (persistent;
see README for what it does not support). Or an external server: redis://[user[:pass]@]host[:port][/db],
rediss://… (TLS), unix:///path/to.sock[?db=N&password=…].`,
		Example: `  moat serve
  moat serve --listen 0.0.0.0:6380 --backend redis://127.0.0.1:6379
  moat serve --config moat.yaml --data-dir /var/lib/moat
  moat serve --store etcd --etcd-endpoints 10.0.0.11:2379,10.0.0.12:2379,10.0.0.13:2379 --listen-host 10.0.1.21 --backend redis://10.0.2.5:6379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			opts.Log = log
			if procs < 0 {
				return fmt.Errorf("--procs %d: want a number of cores, or 0 for the default", procs)
			}
			if keyRate < 0 || opts.APILimits.KeyBurst < 0 || opts.APILimits.KeyNonces < 0 {
				return fmt.Errorf("--api-key-rate %g, --api-key-burst %d, --api-key-nonces %d: want positive numbers, or 0 for the defaults",
					keyRate, opts.APILimits.KeyBurst, opts.APILimits.KeyNonces)
			}
			opts.APILimits.KeyRate = rate.Limit(keyRate)
			opts.Store.User, opts.Store.Password, _ = strings.Cut(etcdUser, ":")
			if p := os.Getenv("MOAT_ETCD_PASSWORD"); p != "" && opts.Store.Password == "" {
				opts.Store.Password = p
			}
			runtime.GOMAXPROCS(goProcs(procs))
			srv, err := server.Start(opts)
			if err != nil {
				return err
			}
			metrics := "http://" + srv.APIAddr().String() + "/metrics (with the bearer token in <data-dir>/" + server.StatusTokenFile + ")"
			if a := srv.MetricsAddr(); a != nil {
				metrics = "http://" + a.String() + "/metrics"
			}
			log.Info("moat started", "version", version, "procs", runtime.GOMAXPROCS(0), "api_listen", srv.APIAddr().String(),
				"metrics", metrics)
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			for sig := range sigs {
				if sig == syscall.SIGHUP {
					if err := srv.Reload(); err != nil {
						log.Error("reload failed: the previous configuration keeps serving", "err", err)
					} else {
						log.Info("configuration reloaded", "config", opts.ConfigPath)
					}
					continue
				}
				log.Info("shutting down", "signal", sig.String())
				break
			}
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.ConfigPath, "config", "c", "", "YAML file declaring the instances to serve (see README)")
	f.StringVar(&opts.DataDir, "data-dir", "", "directory for moat's state and the instances' data (default "+server.DefaultDataDir+")")
	f.StringVar(&opts.Listen, "listen", "", "address the default instance listens on (default "+server.DefaultListen+"; no --config only)")
	f.StringVar(&opts.APIListen, "api-listen", "", "address of moat's own HTTP listener: /metrics, /healthz, /readyz (default "+server.DefaultAPIListen+")")
	f.StringVar(&opts.Backend, "backend", "", "the default instance's backend: auto, managed, embedded or a redis://, rediss://, unix:// URL (default auto: a managed redis-server if found, else embedded; no --config only)")
	f.StringVar(&opts.RedisServer, "redis-server", "", "the redis-server or valkey-server binary that runs managed backends (default: the first on PATH; config: redis_server)")
	f.IntVar(&opts.HTTP.MaxConns, "api-max-conns", 0, fmt.Sprintf("most connections the API listener holds at once (default %d, and at most a quarter of the open-file limit); more get 503 at once", server.DefaultAPIMaxConns))
	f.IntVar(&opts.HTTP.MaxConnsPerAddr, "api-max-conns-per-addr", 0, fmt.Sprintf("most API connections from one source address (default %d; trusted proxies exempt); more get 429 at once", server.DefaultAPIMaxConnsPerAddr))
	f.StringSliceVar(&opts.APIHosts, "api-host", nil, "host names the API listener and the console answer to besides loopback names and the listen address (repeatable; other Host headers get 421)")
	f.StringSliceVar(&opts.TrustedProxies, "api-trusted-proxy", nil, "address or CIDR prefix of a proxy in front of the API listener whose PROXY protocol header or X-Forwarded-For names the client (repeatable; default none)")
	f.StringVar(&opts.MetricsListen, "metrics-listen", "", "a second HTTP listener serving /metrics, /healthz and /readyz without credentials (default none: /metrics on the API listener needs the status token)")
	f.BoolVar(&opts.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the API listener (no authentication: keep --api-listen on loopback)")
	f.Float64Var(&keyRate, "api-key-rate", 0, "API calls per second each access key may make, sustained (default 20)")
	f.IntVar(&opts.APILimits.KeyBurst, "api-key-burst", 0, "API calls each access key may make at once (default 500)")
	f.IntVar(&opts.APILimits.KeyNonces, "api-key-nonces", 0, "API calls each access key may make per 30 minutes, the nonces moat remembers for it (default 10000)")
	f.IntVar(&opts.AuditRetentionDays, "audit-retention-days", 0, "days the audit log keeps records of changes and of failed or denied calls (default 90; config: audit_retention_days)")
	f.IntVar(&opts.AuditFailedCalls, "audit-failed-calls", 0, "failed-or-denied-call records kept, each counting the repeats of one key, action and instance; beyond it the least recently seen goes (default 10000; config: audit_failed_calls)")
	f.IntVar(&procs, "procs", 0, "cores moat's Go runtime runs on at once (GOMAXPROCS); 0: $GOMAXPROCS if set, else half the cores available (at least 1) — moat usually shares its host with the backend or its clients, and there fewer threads relay faster than more that keep waking each other")
	f.StringVar(&opts.Store.Kind, "store", "", "where moat keeps its state: bolt (<data-dir>/state.db, one gateway; default) or etcd (a fleet of gateways sharing --etcd-endpoints; config: store)")
	f.StringSliceVar(&opts.Store.Endpoints, "etcd-endpoints", nil, "etcd's client endpoints, host:port or URL, comma-separated (--store etcd; config: etcd.endpoints)")
	f.StringVar(&opts.Store.Prefix, "etcd-prefix", "", "the etcd key prefix moat's state lives under (default "+server.DefaultEtcdPrefix+"; config: etcd.prefix)")
	f.StringVar(&opts.Store.CACert, "cacert", "", "etcd: verify its certificates with this CA bundle (PEM), as etcdctl --cacert (config: etcd.cacert)")
	f.StringVar(&opts.Store.Cert, "cert", "", "etcd: client certificate (PEM), as etcdctl --cert (config: etcd.cert)")
	f.StringVar(&opts.Store.Key, "key", "", "etcd: client certificate's key (PEM), as etcdctl --key (config: etcd.key)")
	f.StringVar(&etcdUser, "user", "", "etcd: username[:password], as etcdctl --user; the password may instead come from $MOAT_ETCD_PASSWORD (config: etcd.user, etcd.password)")
	// The same settings under the names `moat store copy` gives them (--etcd-cacert, …).
	f.StringVar(&opts.Store.CACert, "etcd-cacert", "", "same as --cacert")
	f.StringVar(&opts.Store.Cert, "etcd-cert", "", "same as --cert")
	f.StringVar(&opts.Store.Key, "etcd-key", "", "same as --key")
	f.StringVar(&etcdUser, "etcd-user", "", "same as --user")
	f.StringVar(&opts.ListenHost, "listen-host", "", "replace the host of every instance's listen addresses on this gateway with this IP (ports stay as stored), e.g. to run several gateways on one machine (config: listen_host)")
	f.StringVar(&opts.GatewayName, "gateway-name", "", "this gateway's name in the audit log of a fleet (default: the host name, plus /<listen-host> when set; config: gateway_name)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// goProcs is the GOMAXPROCS moat runs with: flag if set, else $GOMAXPROCS if set, else half the cores
// the Go runtime found available (its default, which honours CPU quotas), at least 1.
func goProcs(flag int) int {
	if flag > 0 {
		return flag
	}
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
