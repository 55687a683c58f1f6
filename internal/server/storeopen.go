package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
)

// StoreOptions select moat's state store. The zero value is the embedded bbolt store,
// <data-dir>/state.db: one process, no other service. Kind "etcd" shares the state among a fleet of
// gateways through an etcd cluster (fleet.go).
type StoreOptions struct {
	Kind string // config.StoreBolt (or "") or config.StoreEtcd
	// Endpoints, Prefix and the TLS and login settings are etcd's, named as etcdctl names them.
	Endpoints         []string
	Prefix            string // default DefaultEtcdPrefix
	CACert, Cert, Key string
	User, Password    string
}

// DefaultEtcdPrefix is the key prefix moat's state lives under in etcd unless told otherwise.
const DefaultEtcdPrefix = etcdstore.DefaultPrefix

// fromFile fills what the flags left empty from the config file.
func (o *StoreOptions) fromFile(f *config.File) {
	o.Kind = orDefault(o.Kind, f.Store)
	if len(o.Endpoints) == 0 {
		o.Endpoints = f.Etcd.Endpoints
	}
	o.Prefix = orDefault(o.Prefix, f.Etcd.Prefix)
	o.CACert = orDefault(o.CACert, f.Etcd.CACert)
	o.Cert = orDefault(o.Cert, f.Etcd.Cert)
	o.Key = orDefault(o.Key, f.Etcd.Key)
	o.User = orDefault(o.User, f.Etcd.User)
	o.Password = orDefault(o.Password, f.Etcd.Password)
}

// shared reports whether the store is shared with other gateways.
func (o StoreOptions) shared() bool { return o.Kind == config.StoreEtcd }

// check refuses inconsistent store settings, naming them as the flags do.
func (o StoreOptions) check() error {
	switch o.Kind {
	case "", config.StoreBolt:
		if len(o.Endpoints) > 0 || o.CACert != "" || o.Cert != "" || o.Key != "" || o.User != "" {
			return errors.New("--etcd-endpoints, --cacert, --cert, --key and --user need --store etcd")
		}
	case config.StoreEtcd:
		if len(o.Endpoints) == 0 {
			return errors.New("--store etcd: --etcd-endpoints is required (host:port,host:port,…)")
		}
		if (o.Cert == "") != (o.Key == "") {
			return fmt.Errorf("--cert %q, --key %q: give both or neither", o.Cert, o.Key)
		}
	default:
		return fmt.Errorf("--store %q: want bolt or etcd", o.Kind)
	}
	return nil
}

// openStore opens the state store the options select.
func (s *Server) openStore(ctx context.Context) (store.Store, error) {
	o := s.opts.Store
	if !o.shared() {
		return store.OpenBolt(filepath.Join(s.opts.DataDir, "state.db"))
	}
	return openEtcd(ctx, o, s.log)
}

// withListenHost returns addrs with each host replaced by host (addresses that do not parse are kept:
// validation reports them).
func withListenHost(addrs []string, host string) []string {
	if host == "" {
		return addrs
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a
		if _, port, err := net.SplitHostPort(a); err == nil {
			out[i] = net.JoinHostPort(host, port)
		}
	}
	return out
}

// withHostsOf returns bound (the addresses actually bound, on ListenHost) with the hosts of asked, the
// addresses stored: every gateway of a fleet replaces the host with its own, while the port bound first
// (port 0 resolved) is kept for all.
func withHostsOf(bound, asked []string) []string {
	out := slices.Clone(bound)
	for i := range out {
		if i >= len(asked) {
			break
		}
		h, _, err1 := net.SplitHostPort(asked[i])
		_, port, err2 := net.SplitHostPort(bound[i])
		if err1 == nil && err2 == nil {
			out[i] = net.JoinHostPort(h, port)
		}
	}
	return out
}

// checkListenHost validates --listen-host.
func checkListenHost(h string) error {
	if h == "" {
		return nil
	}
	if _, err := netip.ParseAddr(h); err != nil {
		return fmt.Errorf("--listen-host %q: want an IP address (it replaces the host of every instance's listen addresses)", h)
	}
	return nil
}

// gatewayName is the name a fleet's audit records give this gateway: name if set, else the host name,
// followed by "/" and the listen host when one is set.
func gatewayName(name, listenHost string) string {
	if name != "" {
		return name
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "moat"
	}
	if listenHost != "" {
		h += "/" + listenHost
	}
	return h
}
