package etcdstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// What a shared store adds to storetest: two stores (two clients, as two gateways) on one prefix.

// appendEntry is a read-modify-write of a JSON list, as a gateway appends an address to a group.
func appendEntry(s store.Store, key, entry string) error {
	return s.Update(func(tx store.Tx) error {
		var list []string
		b, err := tx.Get(key)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &list); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		b, err = json.Marshal(append(list, entry))
		if err != nil {
			return err
		}
		return tx.Put(key, b)
	})
}

// Two stores append to one group concurrently, from several goroutines each: every entry is there at the
// end (no lost update), each once; and a List-based read-modify-write (count the keys, write the next)
// never writes two keys with one number.
func TestTwoStoresNoLostUpdate(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/fleet/", Timeout: 30 * time.Second}
	a, b := openWith(t, opts), openWith(t, opts)
	const workers, each = 3, 20
	var wg sync.WaitGroup
	errc := make(chan error, 2*workers)
	for si, s := range []*etcdstore.Store{a, b} {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := appendEntry(s, "groups/g", fmt.Sprintf("%d-%d-%d", si, w, i)); err != nil {
						errc <- err
						return
					}
					// Serial numbers from a List: a conflict missed on the range would give two keys one number.
					err := s.Update(func(tx store.Tx) error {
						kvs, err := tx.List("serial/")
						if err != nil {
							return err
						}
						return tx.Put(fmt.Sprintf("serial/%04d", len(kvs)), []byte(fmt.Sprintf("%d-%d-%d", si, w, i)))
					})
					if err != nil {
						errc <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	err := a.View(func(tx store.Tx) error {
		raw, err := tx.Get("groups/g")
		if err != nil {
			return err
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range list {
			if seen[e] {
				return fmt.Errorf("entry %s twice", e)
			}
			seen[e] = true
		}
		if len(seen) != 2*workers*each {
			return fmt.Errorf("%d entries, want %d: updates were lost", len(seen), 2*workers*each)
		}
		kvs, err := tx.List("serial/")
		if err != nil {
			return err
		}
		if len(kvs) != 2*workers*each {
			return fmt.Errorf("%d serial keys, want %d: two writers took one number", len(kvs), 2*workers*each)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A delete by one store is a conflict for the other's Update that listed the deleted key (the fence): the
// second writer reruns and sees the key gone.
func TestDeleteConflictsWithList(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/fleet/"}
	a, b := openWith(t, opts), openWith(t, opts)
	if err := a.Update(func(tx store.Tx) error { return tx.Put("keys/admin", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := a.Update(func(tx store.Tx) error {
		runs++
		kvs, err := tx.List("keys/")
		if err != nil {
			return err
		}
		if runs == 1 {
			// Meanwhile, the other gateway deletes the key this one listed.
			if err := b.Update(func(tx store.Tx) error { return tx.Delete("keys/admin") }); err != nil {
				return err
			}
		}
		return tx.Put("keys/count", []byte(strconv.Itoa(len(kvs))))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("fn ran %d times, want 2 (the delete must make the first attempt conflict)", runs)
	}
	err = a.View(func(tx store.Tx) error {
		v, err := tx.Get("keys/count")
		if err == nil && string(v) != "0" {
			err = fmt.Errorf("keys/count = %s, want 0 (written from a stale List)", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Values and transactions over etcd's request size are refused with ErrTooLarge naming the key and the
// limit, before anything is sent; nothing is written. (More operations than --max-txn-ops are no longer
// refused: TestLargeUpdate.) A server whose limit is lower than the store was told is
// refused too.
func TestTooLarge(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	s := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}})
	big := bytes.Repeat([]byte("x"), 2<<20)
	cases := []struct {
		name, want string
		fn         func(tx store.Tx) error
	}{
		{"value", `"big/value"`, func(tx store.Tx) error { return tx.Put("big/value", big) }},
		{"bytes", "request limit", func(tx store.Tx) error {
			for i := range 20 {
				if err := tx.Put(fmt.Sprintf("sum/%02d", i), big[:100<<10]); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, c := range cases {
		err := s.Update(c.fn)
		if !errors.Is(err, store.ErrTooLarge) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrTooLarge naming %s", c.name, err, c.want)
		}
	}
	if err := s.View(func(tx store.Tx) error {
		kvs, err := tx.List("")
		if err == nil && len(kvs) != 0 {
			err = fmt.Errorf("%d keys written by refused transactions", len(kvs))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// A store told a larger limit than the server's: the server's refusal is ErrTooLarge too.
	lax := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, MaxRequestBytes: 8 << 20, Prefix: "/lax/"})
	err := lax.Update(func(tx store.Tx) error { return tx.Put("big", big[:1800<<10]) })
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("1.8 MiB value on a 1.5 MiB server: %v, want ErrTooLarge", err)
	}
}

// Watch delivers another client's transactions in order, one Change per transaction with its keys, from
// the revision a View read at; a compaction past the watched revision gives a Reset.
func TestWatchOrderAndCompaction(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/fleet/"}
	a, b := openWith(t, opts), openWith(t, opts)
	rev, err := a.ViewRevision(func(tx store.Tx) error { _, err := tx.List(""); return err })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := a.Watch(ctx, rev)
	const n = 30
	for i := range n {
		err := b.Update(func(tx store.Tx) error {
			if err := tx.Put(fmt.Sprintf("k/%02d", i), []byte("v")); err != nil {
				return err
			}
			if i%3 == 2 {
				return tx.Delete(fmt.Sprintf("k/%02d", i-1))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	last := rev
	for i := range n {
		c := recv(t, changes)
		want := []string{fmt.Sprintf("k/%02d", i)}
		if i%3 == 2 {
			want = append([]string{fmt.Sprintf("k/%02d", i-1)}, want...)
		}
		if c.Reset || c.Revision <= last || strings.Join(c.Keys, ",") != strings.Join(want, ",") {
			t.Fatalf("change %d: %+v after revision %d, want keys %v", i, c, last, want)
		}
		last = c.Revision
	}

	// Compact past last, then watch from an old revision: the history is gone.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	old := a.Watch(ctx, rev)
	if c := recv(t, old); !c.Reset {
		t.Fatalf("watch from compacted revision %d: %+v, want a Reset", rev, c)
	}
	if err := b.Update(func(tx store.Tx) error { return tx.Put("after", nil) }); err != nil {
		t.Fatal(err)
	}
	for {
		c := recv(t, old)
		if len(c.Keys) == 1 && c.Keys[0] == "after" {
			break
		}
	}
}

func recv(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no change within 20s")
	}
	return store.Change{}
}
