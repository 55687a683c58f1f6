package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// The tests of this file run against a 3-member cluster of Debian's etcd 3.4 (etcdtest.StartCluster).

func TestConformanceCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3, "--max-txn-ops", strconv.Itoa(maxTxnOps))
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t, c.Endpoints()) })
}

// Quorum lost (2 of 3 members stopped): View and Update fail within the store's Timeout (plus the time to
// give up the connection) with ErrUnavailable naming etcd; one member down keeps quorum and everything
// works; when the members return, reads and writes work again without reopening the store.
func TestQuorumLossAndRecovery(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	const timeout = 2 * time.Second
	s := openWith(t, etcdstore.Options{Endpoints: c.Endpoints(), Timeout: timeout})
	put := func(k string) error { return s.Update(func(tx store.Tx) error { return tx.Put(k, []byte(k)) }) }
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	if err := put("one-down"); err != nil {
		t.Fatalf("with 2 of 3 members: %v", err)
	}
	c.Stop(1)
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"Update", func() error { return put("no-quorum") }},
		{"View", func() error { return s.View(func(tx store.Tx) error { _, err := tx.Get("before"); return err }) }},
	} {
		start := time.Now()
		err := op.fn()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "etcd at ") {
			t.Fatalf("%s without quorum: %v, want ErrUnavailable naming etcd", op.name, err)
		}
		if took > timeout+3*time.Second {
			t.Fatalf("%s without quorum took %v, want about the %v timeout", op.name, took, timeout)
		}
		t.Logf("%s without quorum: %v after %v", op.name, err, took.Round(time.Millisecond))
	}
	// A stale read is answered by the member left, from its own copy: everything committed with quorum.
	err := s.ViewStale(func(tx store.Tx) error {
		kvs, err := tx.List("")
		if err != nil {
			return err
		}
		var got []string
		for _, kv := range kvs {
			if kv.Key != "no-quorum" { // its commit timed out: it may or may not be there
				got = append(got, kv.Key)
			}
		}
		if strings.Join(got, ",") != "before,one-down" {
			return fmt.Errorf("stale read lists %q, want before and one-down", got)
		}
		if err := tx.Put("k", nil); err == nil {
			return errors.New("a write through a stale view succeeded")
		}
		_, err = tx.Get("one-down")
		return err
	})
	if err != nil {
		t.Fatalf("a stale read without quorum: %v", err)
	}
	c.Start(0)
	c.Start(1)
	c.WaitReady(0)
	c.WaitReady(1)
	if err := put("after"); err != nil {
		t.Fatalf("after the members returned: %v", err)
	}
	err = s.View(func(tx store.Tx) error {
		for _, k := range []string{"before", "one-down", "after"} {
			if _, err := tx.Get(k); err != nil {
				return err
			}
		}
		// A write refused for want of quorum may or may not have been applied (its commit timed out).
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store watching through one member resumes after that member is stopped and restarted: it delivers
// every change the others committed meanwhile, in order, once each.
func TestWatchResumesAfterMemberRestart(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	watcher := openWith(t, etcdstore.Options{Endpoints: []string{c.Endpoint(0)}, Prefix: "/fleet/"})
	writer := openWith(t, etcdstore.Options{Endpoints: []string{c.Endpoint(1), c.Endpoint(2)}, Prefix: "/fleet/", Timeout: 10 * time.Second})
	rev, err := watcher.ViewRevision(func(tx store.Tx) error { _, err := tx.List(""); return err })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := watcher.Watch(ctx, rev)
	put := func(i int) {
		t.Helper()
		if err := writer.Update(func(tx store.Tx) error { return tx.Put(fmt.Sprintf("k/%03d", i), nil) }); err != nil {
			t.Fatal(err)
		}
	}
	const before, during, after = 5, 20, 5
	for i := range before {
		put(i)
	}
	expect := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			ch := recv(t, changes)
			if ch.Reset || len(ch.Keys) != 1 || ch.Keys[0] != fmt.Sprintf("k/%03d", i) || ch.Revision <= rev {
				t.Fatalf("change %d: %+v after revision %d", i, ch, rev)
			}
			rev = ch.Revision
		}
	}
	expect(0, before)
	c.Stop(0)
	for i := before; i < before+during; i++ {
		put(i)
	}
	c.Start(0)
	c.WaitReady(0)
	for i := before + during; i < before+during+after; i++ {
		put(i)
	}
	expect(before, before+during+after)
	select {
	case ch := <-changes:
		t.Fatalf("unexpected change after the last: %+v", ch)
	case <-time.After(200 * time.Millisecond):
	}
}
