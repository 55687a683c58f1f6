package etcdstore_test

import (
	"strconv"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// The tests of this file run against a 3-member cluster of Debian's etcd 3.4 (etcdtest.StartCluster).

func TestConformanceCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3, "--max-txn-ops", strconv.Itoa(maxTxnOps))
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, c.Endpoints()) })
}
