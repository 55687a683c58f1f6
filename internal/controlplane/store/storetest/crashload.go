package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// The crash workload: the changes a crash child commits and what the parent checks after the kill, the
// same for every implementation. Update n writes, atomically: "seq" = n, "a/<n>" = n, "b/<n>" = n, and
// overwrites "pair/x" and "pair/y" with the same value CrashBlob(n), whose size varies so that overwrites
// reuse and grow pages.

// CrashWrites is the child's loop: it commits Updates seq+1, seq+2, ... on s, printing "ack n" (Ack) after
// each has returned, until it is killed. It gives up after 30 s in case the parent is gone.
func CrashWrites(s store.Store) error {
	var n int
	err := s.View(func(tx store.Tx) error {
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
			blob := CrashBlob(n)
			for k, v := range map[string][]byte{
				"seq": num, CrashKey("a", n): num, CrashKey("b", n): num, "pair/x": blob, "pair/y": blob,
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
		Ack(n)
	}
	return errors.New("not killed within 30s")
}

// CrashKey is the key of update n under prefix "a" or "b".
func CrashKey(prefix string, n int) string { return fmt.Sprintf("%s/%08d", prefix, n) }

// CrashBlob is the pair value of Update n: between about 1 and 12 KiB, so it spans several pages.
func CrashBlob(n int) []byte {
	unit := fmt.Sprintf("%d|", n)
	return bytes.Repeat([]byte(unit), (1+n%12)*1024/len(unit))
}

// CheckCrashState checks s after a kill (W10): every acked Update is present, and the state is exactly that
// after some Update S >= maxAck (S = maxAck+1 when the last commit was durable but not yet acked).
func CheckCrashState(s store.Store, acked []int, maxAck int) error {
	return s.View(func(tx store.Tx) error {
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
				if got, err := tx.Get(CrashKey(p, n)); err != nil || string(got) != strconv.Itoa(n) {
					return fmt.Errorf("acked update %d: %s = %q, %v", n, CrashKey(p, n), got, err)
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
				if kv.Key != CrashKey(p, i+1) || string(kv.Value) != strconv.Itoa(i+1) {
					return fmt.Errorf("%s/ entry %d is %q = %q", p, i, kv.Key, kv.Value)
				}
			}
		}
		x, errx := tx.Get("pair/x")
		y, erry := tx.Get("pair/y")
		if err := errors.Join(errx, erry); err != nil {
			return err
		}
		if !bytes.Equal(x, y) || !bytes.Equal(x, CrashBlob(seq)) {
			return fmt.Errorf("pair torn: x %.20q… (%d bytes), y %.20q… (%d bytes), want update %d's",
				x, len(x), y, len(y), seq)
		}
		return nil
	})
}

// CheckAcks checks the acks of one round: consecutive, starting after maxAck, the last ack of the rounds
// before (every Update the child acked is the next one after the state it found).
func CheckAcks(acks []int, maxAck int) error {
	for i, n := range acks {
		if n <= maxAck || i > 0 && n != acks[i-1]+1 {
			return fmt.Errorf("acks not consecutive after %d: %v", maxAck, acks)
		}
	}
	return nil
}
