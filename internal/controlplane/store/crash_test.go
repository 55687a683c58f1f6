package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

// The crash test proves W10 for Bolt, on storetest's crash-test harness: a child process (this test binary,
// re-executed) commits numbered Updates and acknowledges each on stdout once Update has returned; the parent
// SIGKILLs it at a random moment, reopens the file and checks that every acknowledged Update is there and that
// no Update is half-applied.
//
// The changes are storetest's crash workload (storetest.CrashWrites).

// crashChildEnv, when set to a file path, turns TestBoltCrashChild into the child process.
const crashChildEnv = "MOAT_STORE_CRASH_CHILD"

func TestBoltCrashChild(t *testing.T) {
	if err := crashChild(storetest.CrashChildPath(t, crashChildEnv)); err != nil {
		storetest.ChildFail(err)
	}
}

// crashChild runs storetest's crash workload on the file at path until killed.
func crashChild(path string) error {
	s, err := store.OpenBolt(path)
	if err != nil {
		return err
	}
	defer s.Close()
	return storetest.CrashWrites(s)
}

func TestBoltCrashRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	child := storetest.CrashChild{Test: "TestBoltCrashChild", Env: crashChildEnv, Path: path}
	rng := rand.New(rand.NewPCG(2024, 10))
	maxAck := 0
	var acked []int
	rounds := []struct {
		acks      int  // about this many acks before the kill
		checkLock bool // also check that the child's lock keeps this process out (~1 s of extra acks)
	}{{5, false}, {50, false}, {300, false}, {20, false}, {150, false}, {100, true}}
	for round, r := range rounds {
		target := r.acks + rng.IntN(r.acks/2+1)
		jitter := time.Duration(rng.IntN(5000)) * time.Microsecond
		var locked func() error
		if r.checkLock {
			locked = func() error { return lockedOut(path) }
		}
		acks := child.RunAndKill(t, target, jitter, locked)
		if err := storetest.CheckAcks(acks, maxAck); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		acked = append(acked, acks...)
		maxAck = acks[len(acks)-1]
		t.Logf("round %d: killed after %d acks (+%v), last ack %d", round, len(acks), jitter, maxAck)
		checkRecovered(t, path, acked, maxAck)
	}
}

// lockedOut checks that the file at path is locked against this process (a child holds it).
func lockedOut(path string) error {
	s, err := store.OpenBolt(path)
	if err == nil {
		s.Close()
		return errors.New("OpenBolt while the child holds the file succeeded")
	}
	if !errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("OpenBolt while the child holds the file: %v, want ErrLocked", err)
	}
	return nil
}

// checkRecovered reopens path after a crash and checks it with storetest.CheckCrashState.
func checkRecovered(t *testing.T, path string, acked []int, maxAck int) {
	t.Helper()
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	if err := storetest.CheckCrashState(s, acked, maxAck); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkBoltFile(t, path)
}
