package etcdstore_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// The crash test of the etcd store, on storetest's harness and workload: a child process (this test binary)
// commits numbered Updates to an etcd server running in the parent and acks each once Update returned; the
// parent SIGKILLs it at a random moment and checks that every acked Update is in etcd and none is
// half-applied.

// crashChildEnv, when set to "endpoint prefix", turns TestEtcdCrashChild into the child process.
const crashChildEnv = "MOAT_ETCDSTORE_CRASH_CHILD"

func TestEtcdCrashChild(t *testing.T) {
	endpoint, prefix, _ := strings.Cut(storetest.CrashChildPath(t, crashChildEnv), " ")
	s, err := etcdstore.Open(etcdstore.Options{Endpoints: []string{endpoint}, Prefix: prefix, Timeout: 20 * time.Second})
	if err != nil {
		storetest.ChildFail(err)
	}
	defer s.Close()
	if err := storetest.CrashWrites(s); err != nil {
		storetest.ChildFail(err)
	}
}

func TestEtcdCrashRecovery(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	prefix := "/crash/"
	child := storetest.CrashChild{Test: "TestEtcdCrashChild", Env: crashChildEnv, Path: endpoint + " " + prefix}
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
		t.Logf("round %d: killed after %d acks (+%v), last ack %d", round, len(acks), jitter, maxAck)
		s := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, Prefix: prefix})
		if err := storetest.CheckCrashState(s, acked, maxAck); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.Close()
	}
}
