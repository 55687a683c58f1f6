package config

import (
	"fmt"
	"net/netip"
)

// Etcd is how moat reaches a shared etcd state store: the settings etcdctl names --endpoints, --cacert,
// --cert, --key, --user and --password, and the key prefix moat's state lives under.
type Etcd struct {
	Endpoints []string `yaml:"endpoints"`
	Prefix    string   `yaml:"prefix"`
	CACert    string   `yaml:"cacert"`
	Cert      string   `yaml:"cert"`
	Key       string   `yaml:"key"`
	User      string   `yaml:"user"`
	Password  string   `yaml:"password"`
}

// Store kinds.
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// checkFleet validates the file's store and gateway settings.
func checkFleet(f *File, p *problems) {
	switch f.Store {
	case "", StoreBolt:
		if len(f.Etcd.Endpoints) > 0 {
			p.add("etcd.endpoints", fmt.Sprint(f.Etcd.Endpoints), "set store: etcd to use them (the store is bolt)")
		}
	case StoreEtcd:
		if len(f.Etcd.Endpoints) == 0 {
			p.add("etcd.endpoints", "", "store: etcd needs at least one endpoint (host:port or URL)")
		}
	default:
		p.add("store", f.Store, "want bolt or etcd")
	}
	if f.ListenHost != "" {
		if _, err := netip.ParseAddr(f.ListenHost); err != nil {
			p.add("listen_host", f.ListenHost, "want an IP address")
		}
	}
}
