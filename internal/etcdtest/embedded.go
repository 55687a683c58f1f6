// Package etcdtest starts real etcd servers for tests: an embedded single-member server inside the test
// process (go.etcd.io/etcd/server/v3/embed: fast, nothing to install) and clusters of the etcd binary
// (Debian's etcd-server, 3.4) on loopback ports, whose members a test can stop and restart.
//
// Only tests may import this package: it links the whole etcd server.
package etcdtest

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded starts a single-member etcd inside the test process, on 127.0.0.1 ports the kernel picks, with
// its data in a temporary directory, and stops it when the test ends. It returns the client endpoint.
// configure, if given, changes the configuration before the start (limits such as MaxTxnOps, or TLS: an
// https client URL and ClientTLSInfo).
func Embedded(t testing.TB, configure ...func(*embed.Config)) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.Name = "embedded"
	local, _ := url.Parse("http://127.0.0.1:0")
	cfg.ListenClientUrls = []url.URL{*local}
	cfg.AdvertiseClientUrls = []url.URL{*local}
	cfg.ListenPeerUrls = []url.URL{*local}
	cfg.AdvertisePeerUrls = []url.URL{*local}
	cfg.InitialCluster = cfg.Name + "=" + local.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	for _, f := range configure {
		f(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("embedded etcd: %v", err)
	case <-time.After(30 * time.Second):
		e.Server.Stop()
		t.Fatal("embedded etcd not ready within 30s")
	}
	return fmt.Sprintf("%s://%s", cfg.ListenClientUrls[0].Scheme, e.Clients[0].Addr())
}
