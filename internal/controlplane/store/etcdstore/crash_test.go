package etcdstore_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// The crash test of the etcd store, on storetest's harness and workload: a child process (this test binary)
// commits numbered Updates to an etcd server running in the parent and acks each once Update returned; the
// parent SIGKILLs it at a random moment and checks that every acked Update is in etcd and none is
// half-applied.

// crashChildEnv, when set to "endpoint prefix max-txn-ops", turns TestEtcdCrashChild into the child process.
const crashChildEnv = "MOAT_ETCDSTORE_CRASH_CHILD"

func TestEtcdCrashChild(t *testing.T) {
	f := strings.Fields(storetest.CrashChildPath(t, crashChildEnv))
	if len(f) != 3 {
		storetest.ChildFail(strconv.ErrSyntax)
	}
	ops, _ := strconv.Atoi(f[2])
	s, err := etcdstore.Open(etcdstore.Options{Endpoints: []string{f[0]}, Prefix: f[1], Timeout: 20 * time.Second, MaxTxnOps: ops})
	if err != nil {
		storetest.ChildFail(err)
	}
	defer s.Close()
	if err := storetest.CrashWrites(s); err != nil {
		storetest.ChildFail(err)
	}
}

func TestEtcdCrashRecovery(t *testing.T) {
	crashRounds(t, etcdtest.Embedded(t), 0)
}

// The same on a server that takes 3 operations per Txn: each Update of the workload (5 writes) commits as
// a large change, so the kills land while changes are being applied to their keys. Every acked change is
// there and none is seen half-applied; the next child applies what a killed one left.
func TestEtcdCrashRecoveryLargeChanges(t *testing.T) {
	const ops = 3
	crashRounds(t, etcdtest.Embedded(t, func(c *embed.Config) { c.MaxTxnOps = ops }), ops)
}

// crashRounds kills children writing to endpoint (a store told maxTxnOps, 0: the default) and checks
// the state after each kill.
func crashRounds(t *testing.T, endpoint string, maxTxnOps int) {
	prefix := "/crash/"
	child := storetest.CrashChild{Test: "TestEtcdCrashChild", Env: crashChildEnv, Path: endpoint + " " + prefix + " " + strconv.Itoa(maxTxnOps)}
	rng := rand.New(rand.NewPCG(2026, 19))
	maxAck := 0
	var acked []int
	for round, n := range []int{5, 50, 200, 20, 100} {
		target := n + rng.IntN(n/2+1)
		jitter := time.Duration(rng.IntN(5000)) * time.Microsecond
		acks := child.RunAndKill(t, target, jitter, nil)
		if err := storetest.CheckAcks(acks, maxAck); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		acked = append(acked, acks...)
		maxAck = acks[len(acks)-1]
		t.Logf("round %d: killed after %d acks (+%v), last ack %d; a large change left pending: %v", round, len(acks), jitter, maxAck, pendingLarge(t, endpoint, prefix))
		s := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, Prefix: prefix, MaxTxnOps: maxTxnOps})
		if err := storetest.CheckCrashState(s, acked, maxAck); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.Close()
	}
}

// pendingLarge reports whether the fence of the store at prefix holds a large change not yet applied.
func pendingLarge(t *testing.T, endpoint, prefix string) bool {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Kvs) > 0 && len(resp.Kvs[0].Value) > 0
}
