package etcdstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
	"go.etcd.io/etcd/server/v3/embed"
)

// openFresh opens a store on endpoints under a prefix of its own (the test's name), so that the subtests
// of one suite share a server and still start empty.
// maxTxnOps is the servers' --max-txn-ops in most conformance runs: the suite fills its audit logs with
// hundreds of records in one Update (2,400 writes), which then commit as ordinary Txns; on etcd's default
// of 128 they commit as large changes (TestConformanceDefaultLimits).
const maxTxnOps = 4096

func openFresh(t *testing.T, endpoints []string) *etcdstore.Store {
	t.Helper()
	// The suite's big transactions read the log hundreds of times: on a loaded machine under -race that
	// takes longer than the default Timeout, which bounds fault detection, not work.
	return openWith(t, etcdstore.Options{Endpoints: endpoints, MaxTxnOps: maxTxnOps, Timeout: time.Minute})
}

// openWith opens a store with opts under a prefix of the test's own (its name) unless opts sets one.
func openWith(t *testing.T, opts etcdstore.Options) *etcdstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "/test/" + strings.ReplaceAll(t.Name(), "/", "_") + "/"
	}
	s, err := etcdstore.Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The suite on a server and store with etcd's default limits: its transactions of thousands of writes
// commit as large changes (large.go).
func TestConformanceDefaultLimits(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, Timeout: time.Minute})
	})
}

func TestConformanceEmbedded(t *testing.T) {
	endpoint := etcdtest.Embedded(t, func(c *embed.Config) { c.MaxTxnOps = maxTxnOps })
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, []string{endpoint}) })
}
