package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
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
// Update n writes, atomically: "seq" = n, "a/<n>" = n, "b/<n>" = n, and overwrites "pair/x" and "pair/y" with
// the same value crashBlob(n), whose size varies so that overwrites reuse and grow pages.

// crashChildEnv, when set to a file path, turns TestBoltCrashChild into the child process.
const crashChildEnv = "MOAT_STORE_CRASH_CHILD"

func TestBoltCrashChild(t *testing.T) {
	if err := crashChild(storetest.CrashChildPath(t, crashChildEnv)); err != nil {
		storetest.ChildFail(err)
	}
}

// crashChild commits Updates seq+1, seq+2, ... until killed, printing "ack n" after each. It stops on its own
// after a while in case the parent is gone.
func crashChild(path string) error {
	s, err := store.OpenBolt(path)
	if err != nil {
		return err
	}
	defer s.Close()
	var n int
	err = s.View(func(tx store.Tx) error {
		v, err := tx.Get("seq")
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n, err = strconv.Atoi(string(v))
		return err
	})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		n++
		err := s.Update(func(tx store.Tx) error {
			num := []byte(strconv.Itoa(n))
			blob := crashBlob(n)
			for k, v := range map[string][]byte{
				"seq": num, crashKey("a", n): num, crashKey("b", n): num, "pair/x": blob, "pair/y": blob,
			} {
				if err := tx.Put(k, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		storetest.Ack(n)
	}
	return errors.New("not killed within 30s")
}

func crashKey(prefix string, n int) string { return fmt.Sprintf("%s/%08d", prefix, n) }

// crashBlob is the pair value of Update n: between about 1 and 12 KiB, so it spans several pages.
func crashBlob(n int) []byte {
	unit := fmt.Sprintf("%d|", n)
	return bytes.Repeat([]byte(unit), (1+n%12)*1024/len(unit))
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
		for i, n := range acks {
			if n <= maxAck || i > 0 && n != acks[i-1]+1 {
				t.Fatalf("round %d: acks not consecutive after %d: %v", round, maxAck, acks)
			}
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

// checkRecovered reopens path after a crash and checks W10: every acked Update is present, and the state is
// exactly that after some Update S >= maxAck (S = maxAck+1 when the last commit was durable but not yet acked).
func checkRecovered(t *testing.T, path string, acked []int, maxAck int) {
	t.Helper()
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	err = s.View(func(tx store.Tx) error {
		v, err := tx.Get("seq")
		if err != nil {
			return err
		}
		seq, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("seq %q: %v", v, err)
		}
		if seq != maxAck && seq != maxAck+1 {
			return fmt.Errorf("seq = %d after last ack %d: acked update lost or phantom updates", seq, maxAck)
		}
		for _, n := range acked {
			for _, p := range []string{"a", "b"} {
				if got, err := tx.Get(crashKey(p, n)); err != nil || string(got) != strconv.Itoa(n) {
					return fmt.Errorf("acked update %d: %s = %q, %v", n, crashKey(p, n), got, err)
				}
			}
		}
		// Exactly Updates 1..seq, each complete: nothing beyond seq, nothing missing below.
		for _, p := range []string{"a", "b"} {
			kvs, err := tx.List(p + "/")
			if err != nil {
				return err
			}
			if len(kvs) != seq {
				return fmt.Errorf("%d keys under %s/, want %d (seq)", len(kvs), p, seq)
			}
			for i, kv := range kvs {
				if kv.Key != crashKey(p, i+1) || string(kv.Value) != strconv.Itoa(i+1) {
					return fmt.Errorf("%s/ entry %d is %q = %q", p, i, kv.Key, kv.Value)
				}
			}
		}
		x, errx := tx.Get("pair/x")
		y, erry := tx.Get("pair/y")
		if err := errors.Join(errx, erry); err != nil {
			return err
		}
		if !bytes.Equal(x, y) || !bytes.Equal(x, crashBlob(seq)) {
			return fmt.Errorf("pair torn: x %.20q… (%d bytes), y %.20q… (%d bytes), want update %d's",
				x, len(x), y, len(y), seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkBoltFile(t, path)
}
