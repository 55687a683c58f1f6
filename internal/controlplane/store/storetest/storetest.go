// Package storetest is the conformance suite for store.Store implementations. Every implementation (the
// embedded Bolt store, and later etcd) runs the same suite from its own test file:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... return a new, empty store ... })
//	}
//
// The suite checks the contract written on store.Store and store.Tx, and store.AuditLog run over the
// implementation (its indexes, retention and bounds rest on Tx.Range); it does not check durability across
// crashes, which needs implementation-specific tests: those use the crash-test harness of crash.go (see the
// Bolt crash test).
//
// It imports only store; each implementation's tests import it.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Run runs the conformance suite as subtests of t. open is called once per subtest, with that subtest's t, and
// must return a new, empty store that no one else writes to. The suite closes each store when its subtest
// ends (Close is idempotent, so open may also register its own Close).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"EmptyKeyAndValue", testEmptyKeyAndValue},
		{"ListPrefixBoundaries", testListPrefixBoundaries},
		{"ListSeesOwnWrites", testListSeesOwnWrites},
		{"ListMatchesOracle", testListMatchesOracle},
		{"RangeMatchesOracle", testRangeMatchesOracle},
		{"RangeBoundaries", testRangeBoundaries},
		{"AuditLogMatchesOracle", testAuditLogMatchesOracle},
		{"AuditLogRetention", testAuditLogRetention},
		{"AuditLogMergeBounded", testAuditLogMergeBounded},
		{"CopiesNotAliases", testCopiesNotAliases},
		{"FailedUpdateWritesNothing", testFailedUpdateWritesNothing},
		{"PanickingUpdateWritesNothing", testPanickingUpdateWritesNothing},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ConcurrentUpdatesSerialised", testConcurrentUpdatesSerialised},
		{"ViewSnapshotDuringUpdate", testViewSnapshotDuringUpdate},
		{"ViewSnapshotUnderLoad", testViewSnapshotUnderLoad},
		{"TxUnusableAfterCallback", testTxUnusableAfterCallback},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var errBoom = errors.New("boom")

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// putAll writes kvs (key, value, key, value, ...) in one Update.
func putAll(t *testing.T, s store.Store, kvs ...string) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Put(kvs[i], []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

// snapshot returns everything in s as a map.
func snapshot(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	view(t, s, func(tx store.Tx) error {
		kvs, err := tx.List("")
		for _, kv := range kvs {
			m[kv.Key] = string(kv.Value)
		}
		return err
	})
	return m
}

func wantValue(t *testing.T, tx store.Tx, key, want string) {
	t.Helper()
	got, err := tx.Get(key)
	if err != nil {
		t.Errorf("Get(%q): %v, want %q", key, err, want)
		return
	}
	if string(got) != want {
		t.Errorf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantAbsent(t *testing.T, tx store.Tx, key string) {
	t.Helper()
	got, err := tx.Get(key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

func keys(kvs []store.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func testGetPutDelete(t *testing.T, s store.Store) {
	view(t, s, func(tx store.Tx) error {
		wantAbsent(t, tx, "instances/r-1")
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		wantAbsent(t, tx, "instances/r-1")
		if err := tx.Put("instances/r-1", []byte("one")); err != nil {
			return err
		}
		wantValue(t, tx, "instances/r-1", "one") // own uncommitted write
		return tx.Put("instances/r-2", []byte("two"))
	})
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "instances/r-1", "one")
		wantValue(t, tx, "instances/r-2", "two")
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put("instances/r-1", []byte("uno")); err != nil { // overwrite
			return err
		}
		if err := tx.Delete("instances/r-2"); err != nil {
			return err
		}
		wantAbsent(t, tx, "instances/r-2") // own uncommitted delete
		if err := tx.Delete("instances/never"); err != nil {
			t.Errorf("Delete of an absent key: %v, want nil", err)
		}
		return nil
	})
	if got, want := snapshot(t, s), map[string]string{"instances/r-1": "uno"}; !maps.Equal(got, want) {
		t.Errorf("after overwrite and delete: %q, want %q", got, want)
	}
	// Delete then Put again in one transaction, and Put then Delete.
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete("instances/r-1"); err != nil {
			return err
		}
		if err := tx.Put("instances/r-1", []byte("again")); err != nil {
			return err
		}
		if err := tx.Put("instances/r-3", []byte("brief")); err != nil {
			return err
		}
		return tx.Delete("instances/r-3")
	})
	if got, want := snapshot(t, s), map[string]string{"instances/r-1": "again"}; !maps.Equal(got, want) {
		t.Errorf("after delete+put and put+delete: %q, want %q", got, want)
	}
}

func testEmptyKeyAndValue(t *testing.T, s store.Store) {
	err := s.Update(func(tx store.Tx) error {
		if err := tx.Put("", []byte("x")); err == nil {
			t.Errorf(`Put("") succeeded, want an error`)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put("empty", nil); err != nil {
			return err
		}
		return tx.Put("zero", []byte{})
	})
	view(t, s, func(tx store.Tx) error {
		wantAbsent(t, tx, "")
		for _, k := range []string{"empty", "zero"} {
			v, err := tx.Get(k)
			if err != nil || v == nil || len(v) != 0 {
				t.Errorf("Get(%q) = %#v, %v; want an empty, non-nil value", k, v, err)
			}
		}
		kvs, err := tx.List("")
		if err != nil {
			return err
		}
		if got := keys(kvs); !slices.Equal(got, []string{"empty", "zero"}) {
			t.Errorf(`List("") keys = %q, want [empty zero] (no empty key)`, got)
		}
		for _, kv := range kvs {
			if kv.Value == nil || len(kv.Value) != 0 {
				t.Errorf("List value of %q = %#v, want empty, non-nil", kv.Key, kv.Value)
			}
		}
		return nil
	})
}

func testListPrefixBoundaries(t *testing.T, s store.Store) {
	all := []string{"a", "a/", "a/1", "a/10", "a/2", "a/\xff", "a0", "ab", "ab/1", "b", "b/1"}
	kvs := make([]string, 0, 2*len(all))
	for _, k := range slices.Backward(all) { // insertion order must not matter
		kvs = append(kvs, k, "v:"+k)
	}
	putAll(t, s, kvs...)
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a/", []string{"a/", "a/1", "a/10", "a/2", "a/\xff"}},
		{"ab", []string{"ab", "ab/1"}},
		{"ab/", []string{"ab/1"}},
		{"a", []string{"a", "a/", "a/1", "a/10", "a/2", "a/\xff", "a0", "ab", "ab/1"}},
		{"a/1", []string{"a/1", "a/10"}},
		{"a/10", []string{"a/10"}},
		{"a/100", nil},
		{"b/", []string{"b/1"}},
		{"c", nil},
		{"0", nil},
		{"\xff", nil},
	}
	view(t, s, func(tx store.Tx) error {
		for _, c := range cases {
			got, err := tx.List(c.prefix)
			if err != nil {
				t.Errorf("List(%q): %v", c.prefix, err)
				continue
			}
			if !slices.Equal(keys(got), c.want) {
				t.Errorf("List(%q) keys = %q, want %q", c.prefix, keys(got), c.want)
			}
			for _, kv := range got {
				if string(kv.Value) != "v:"+kv.Key {
					t.Errorf("List(%q): %q = %q, want %q", c.prefix, kv.Key, kv.Value, "v:"+kv.Key)
				}
			}
		}
		return nil
	})
}

func testListSeesOwnWrites(t *testing.T, s store.Store) {
	putAll(t, s, "g/1", "1", "g/2", "2", "g/3", "3")
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete("g/2"); err != nil {
			return err
		}
		if err := tx.Put("g/0", []byte("0")); err != nil {
			return err
		}
		if err := tx.Put("g/3", []byte("three")); err != nil {
			return err
		}
		got, err := tx.List("g/")
		if err != nil {
			return err
		}
		want := []store.KV{
			{Key: "g/0", Value: []byte("0")},
			{Key: "g/1", Value: []byte("1")},
			{Key: "g/3", Value: []byte("three")},
		}
		if !kvsEqual(got, want) {
			t.Errorf("List inside Update = %q, want %q", got, want)
		}
		return nil
	})
}

// testListMatchesOracle applies random puts and deletes over a small key space and compares every List with a
// map-and-sort oracle.
func testListMatchesOracle(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab/"
	randKey := func() string {
		b := make([]byte, 1+rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	oracle := map[string]string{}
	for round := range 20 {
		update(t, s, func(tx store.Tx) error { return scramble(tx, rng, oracle, randKey, round) })
		view(t, s, func(tx store.Tx) error {
			for _, prefix := range []string{"", "a", "b", "/", "a/", "ab", "b/a", "//", "a/b/"} {
				got, err := tx.List(prefix)
				if err != nil {
					return err
				}
				if want := oracleList(oracle, prefix); !kvsEqual(got, want) {
					t.Fatalf("round %d: List(%q) = %q, want %q", round, prefix, got, want)
				}
			}
			return nil
		})
	}
}

// scramble makes ten random puts and deletes of keys from randKey in tx and in oracle alike.
func scramble(tx store.Tx, rng *rand.Rand, oracle map[string]string, randKey func() string, round int) error {
	for range 10 {
		k := randKey()
		if rng.IntN(3) == 0 {
			delete(oracle, k)
			if err := tx.Delete(k); err != nil {
				return err
			}
			continue
		}
		v := fmt.Sprintf("%d:%d", round, rng.IntN(1000))
		oracle[k] = v
		if err := tx.Put(k, []byte(v)); err != nil {
			return err
		}
	}
	return nil
}

func oracleList(m map[string]string, prefix string) []store.KV {
	var out []store.KV
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, store.KV{Key: k, Value: []byte(v)})
		}
	}
	slices.SortFunc(out, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func testCopiesNotAliases(t *testing.T, s store.Store) {
	buf := []byte("original")
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put("k", buf); err != nil {
			return err
		}
		copy(buf, "MUTATED!") // the caller reuses its buffer before commit
		wantValue(t, tx, "k", "original")
		got, err := tx.Get("k")
		if err != nil {
			return err
		}
		copy(got, "MUTATED!")
		wantValue(t, tx, "k", "original")
		return nil
	})
	var kept, keptList []byte
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "k", "original")
		v, err := tx.Get("k")
		if err != nil {
			return err
		}
		copy(v, "MUTATED!")
		wantValue(t, tx, "k", "original")
		kept, err = tx.Get("k")
		if err != nil {
			return err
		}
		kvs, err := tx.List("")
		if err != nil || len(kvs) != 1 {
			return fmt.Errorf("tx.List: %q, %v", kvs, err)
		}
		copy(kvs[0].Value, "MUTATED!")
		wantValue(t, tx, "k", "original")
		kvs, err = tx.List("")
		if err != nil || len(kvs) != 1 {
			return fmt.Errorf("tx.List: %q, %v", kvs, err)
		}
		keptList = kvs[0].Value
		return nil
	})
	// Values handed out stay valid and unchanged after the transaction, whatever is written next.
	for i := range 50 {
		putAll(t, s, "k", strings.Repeat("x", 100*i), fmt.Sprintf("filler/%d", i), strings.Repeat("y", 4000))
	}
	if string(kept) != "original" || string(keptList) != "original" {
		t.Errorf("values kept after the transaction changed: Get %q, List %q", kept, keptList)
	}
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "k", strings.Repeat("x", 100*49))
		return nil
	})
}

// seed writes a known state for the failure tests.
func seed(t *testing.T, s store.Store) map[string]string {
	putAll(t, s, "inst/a", "1", "inst/b", "2", "group/x", "3")
	return map[string]string{"inst/a": "1", "inst/b": "2", "group/x": "3"}
}

// scribble changes many keys in every way: new keys, overwrites, deletes.
func scribble(tx store.Tx) error {
	for i := range 20 {
		if err := tx.Put(fmt.Sprintf("inst/new-%02d", i), []byte("new")); err != nil {
			return err
		}
	}
	if err := tx.Put("inst/a", []byte("changed")); err != nil {
		return err
	}
	if err := tx.Delete("inst/b"); err != nil {
		return err
	}
	return tx.Delete("group/x")
}

func testFailedUpdateWritesNothing(t *testing.T, s store.Store) {
	want := seed(t, s)
	err := s.Update(func(tx store.Tx) error {
		if err := scribble(tx); err != nil {
			return err
		}
		return fmt.Errorf("validation: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if got := snapshot(t, s); !maps.Equal(got, want) {
		t.Fatalf("after failed Update: %q, want %q", got, want)
	}
	// The store is still writable.
	putAll(t, s, "after", "ok")
	want["after"] = "ok"
	if got := snapshot(t, s); !maps.Equal(got, want) {
		t.Fatalf("after a later Update: %q, want %q", got, want)
	}
}

func testPanickingUpdateWritesNothing(t *testing.T, s store.Store) {
	want := seed(t, s)
	func() {
		defer func() {
			if r := recover(); r != errBoom {
				t.Errorf("recovered %v, want the panic value passed on", r)
			}
		}()
		_ = s.Update(func(tx store.Tx) error {
			if err := scribble(tx); err != nil {
				return err
			}
			panic(errBoom)
		})
	}()
	if got := snapshot(t, s); !maps.Equal(got, want) {
		t.Fatalf("after panicking Update: %q, want %q", got, want)
	}
	// The writer was released: another Update completes.
	done := make(chan error, 1)
	go func() { done <- s.Update(func(tx store.Tx) error { return tx.Put("after", []byte("ok")) }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update after panic: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Update after a panicking Update did not complete: writer not released")
	}
}

func testViewIsReadOnly(t *testing.T, s store.Store) {
	want := seed(t, s)
	err := s.View(func(tx store.Tx) error {
		if err := tx.Put("inst/a", []byte("changed")); err == nil {
			t.Error("Put in View succeeded, want an error")
		}
		if err := tx.Put("inst/z", []byte("new")); err == nil {
			t.Error("Put in View succeeded, want an error")
		}
		if err := tx.Delete("inst/b"); err == nil {
			t.Error("Delete in View succeeded, want an error")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	if got := snapshot(t, s); !maps.Equal(got, want) {
		t.Fatalf("after writes in View: %q, want %q", got, want)
	}
}

// testConcurrentUpdatesSerialised runs read-modify-write Updates from many goroutines: a shared counter and a
// per-goroutine one. Serialised Updates lose no increment.
func testConcurrentUpdatesSerialised(t *testing.T, s store.Store) {
	const workers, each = 16, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			mine := fmt.Sprintf("counter/w%02d", w)
			for range each {
				err := s.Update(func(tx store.Tx) error {
					for _, k := range []string{"counter/all", mine} {
						n, err := getInt(tx, k)
						if err != nil {
							return err
						}
						runtime.Gosched() // invite interleaving between read and write
						if err := tx.Put(k, []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "counter/all", strconv.Itoa(workers*each))
		for w := range workers {
			wantValue(t, tx, fmt.Sprintf("counter/w%02d", w), strconv.Itoa(each))
		}
		return nil
	})
}

// getInt reads a decimal counter; absent is 0.
func getInt(tx store.Tx, key string) (int, error) {
	v, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

// testViewSnapshotDuringUpdate opens a View, lets an Update change the keys it reads, and checks the View still
// sees the state as of its start. An implementation may either let the Update commit meanwhile or hold it until
// the View ends; the wait for it is bounded so that either passes.
func testViewSnapshotDuringUpdate(t *testing.T, s store.Store) {
	putAll(t, s, "pair/x", "old", "pair/y", "old", "list/1", "old")
	committed := make(chan error, 1)
	var updateErr error
	waited := false
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "pair/x", "old")
		go func() {
			committed <- s.Update(func(tx store.Tx) error {
				for _, k := range []string{"pair/x", "pair/y", "list/2"} {
					if err := tx.Put(k, []byte("new")); err != nil {
						return err
					}
				}
				return tx.Delete("list/1")
			})
		}()
		select {
		case updateErr = <-committed:
			waited = true
		case <-time.After(time.Second):
		}
		wantValue(t, tx, "pair/x", "old")
		wantValue(t, tx, "pair/y", "old")
		kvs, err := tx.List("list/")
		if err != nil {
			return err
		}
		if want := []store.KV{{Key: "list/1", Value: []byte("old")}}; !kvsEqual(kvs, want) {
			t.Errorf("List in View = %q, want %q", kvs, want)
		}
		return nil
	})
	if !waited {
		updateErr = <-committed
	}
	if updateErr != nil {
		t.Fatalf("Update during View: %v", updateErr)
	}
	want := map[string]string{"pair/x": "new", "pair/y": "new", "list/2": "new"}
	if got := snapshot(t, s); !maps.Equal(got, want) {
		t.Fatalf("after the Update: %q, want %q", got, want)
	}
}

// testViewSnapshotUnderLoad runs writers that keep an invariant (three keys always equal) against readers that
// read the keys one at a time; every View must see the invariant hold.
func testViewSnapshotUnderLoad(t *testing.T, s store.Store) {
	putAll(t, s, "inv/a", "0", "inv/b", "0", "inv/c", "0")
	var stop atomic.Bool
	var writers, readers sync.WaitGroup
	for range 4 {
		writers.Go(func() {
			for range 50 {
				err := s.Update(func(tx store.Tx) error {
					n, err := getInt(tx, "inv/a")
					if err != nil {
						return err
					}
					for _, k := range []string{"inv/a", "inv/b", "inv/c"} {
						if err := tx.Put(k, []byte(strconv.Itoa(n+1))); err != nil {
							return err
						}
						runtime.Gosched()
					}
					return nil
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	var views atomic.Int64
	for range 4 {
		readers.Go(func() {
			for !stop.Load() {
				err := s.View(func(tx store.Tx) error {
					var vals []string
					for _, k := range []string{"inv/a", "inv/b", "inv/c"} {
						v, err := tx.Get(k)
						if err != nil {
							return err
						}
						vals = append(vals, string(v))
						runtime.Gosched()
					}
					kvs, err := tx.List("inv/")
					if err != nil {
						return err
					}
					for _, kv := range kvs {
						vals = append(vals, string(kv.Value))
					}
					if len(vals) != 6 || slices.ContainsFunc(vals, func(v string) bool { return v != vals[0] }) {
						t.Errorf("View saw a torn state: Get a,b,c then List = %q", vals)
					}
					return nil
				})
				if err != nil {
					t.Errorf("View: %v", err)
					return
				}
				views.Add(1)
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	readers.Wait()
	if views.Load() == 0 {
		t.Error("no View completed")
	}
	view(t, s, func(tx store.Tx) error {
		wantValue(t, tx, "inv/c", "200")
		return nil
	})
}

func testTxUnusableAfterCallback(t *testing.T, s store.Store) {
	putAll(t, s, "k", "v")
	var leakedView, leakedUpdate store.Tx
	view(t, s, func(tx store.Tx) error { leakedView = tx; return nil })
	update(t, s, func(tx store.Tx) error { leakedUpdate = tx; return nil })
	for name, tx := range map[string]store.Tx{"View": leakedView, "Update": leakedUpdate} {
		if _, err := tx.Get("k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s Tx Get after callback: %v, want ErrClosed", name, err)
		}
		if _, err := tx.List(""); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s Tx List after callback: %v, want ErrClosed", name, err)
		}
		if _, err := tx.Range("", "", true, 0); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s Tx Range after callback: %v, want ErrClosed", name, err)
		}
		if err := tx.Put("k", []byte("late")); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s Tx Put after callback: %v, want ErrClosed", name, err)
		}
		if err := tx.Delete("k"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s Tx Delete after callback: %v, want ErrClosed", name, err)
		}
	}
	if got, want := snapshot(t, s), map[string]string{"k": "v"}; !maps.Equal(got, want) {
		t.Errorf("after late writes: %q, want %q", got, want)
	}
}

func testClosed(t *testing.T, s store.Store) {
	putAll(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	if err := s.View(func(store.Tx) error { called = true; return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	if err := s.Update(func(store.Tx) error { called = true; return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if called {
		t.Error("a callback ran after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

func kvsEqual(a, b []store.KV) bool {
	return slices.EqualFunc(a, b, func(x, y store.KV) bool { return x.Key == y.Key && bytes.Equal(x.Value, y.Value) })
}
