package etcdstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// An Update of 1,000 keys on a server with etcd's default of 128 operations per Txn commits at once for
// every reader: another store, reading all the time, sees every key of a generation or none, never a mix;
// a read-modify-write of another store on a key the large change also rewrites loses neither update.
func TestLargeUpdate(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/large/", Timeout: 30 * time.Second}
	writer, other := openWith(t, opts), openWith(t, opts)
	const keys, gens, increments = 1000, 4, 20
	generation := func(g int) error {
		return writer.Update(func(tx store.Tx) error {
			n, err := counter(tx)
			if err != nil {
				return err
			}
			if err := tx.Put("ctr", []byte(strconv.Itoa(n+1000))); err != nil {
				return err
			}
			for i := range keys {
				if g == gens { // the last generation deletes them all
					if err := tx.Delete(fmt.Sprintf("many/%04d", i)); err != nil {
						return err
					}
				} else if err := tx.Put(fmt.Sprintf("many/%04d", i), []byte(strconv.Itoa(g))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	reads := 0
	wg.Add(2)
	go func() { // a reader: one generation at a time
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := other.View(func(tx store.Tx) error {
				kvs, err := tx.List("many/")
				if err != nil {
					return err
				}
				if len(kvs) != 0 && len(kvs) != keys {
					return fmt.Errorf("a reader sees %d of the %d keys", len(kvs), keys)
				}
				for _, kv := range kvs {
					if string(kv.Value) != string(kvs[0].Value) {
						return fmt.Errorf("a reader sees %s = %s beside %s = %s", kv.Key, kv.Value, kvs[0].Key, kvs[0].Value)
					}
				}
				if len(kvs) > 0 {
					_, err = tx.Get(kvs[len(kvs)/2].Key)
				}
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
			reads++
		}
	}()
	go func() { // another writer, incrementing the counter the large changes also rewrite
		defer wg.Done()
		for range increments {
			if err := other.Update(func(tx store.Tx) error {
				n, err := counter(tx)
				if err == nil {
					err = tx.Put("ctr", []byte(strconv.Itoa(n+1)))
				}
				return err
			}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for g := 1; g <= gens; g++ {
		if err := generation(g); err != nil {
			t.Fatalf("generation %d: %v", g, err)
		}
	}
	close(stop)
	wg.Wait()
	var n int
	if err := other.View(func(tx store.Tx) (err error) { n, err = counter(tx); return err }); err != nil || n != gens*1000+increments {
		t.Fatalf("counter %d, %v; want %d (no lost update)", n, err, gens*1000+increments)
	}
	if c := count(t, other, "many/"); c != 0 {
		t.Fatalf("%d keys left after the deleting generation", c)
	}
	t.Logf("%d consistent reads while 4 changes of 1,000 keys committed", reads)
}

func counter(tx store.Tx) (int, error) {
	b, err := tx.Get("ctr")
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}

// A large change committed by a writer that died before applying it to its keys: every reader sees it
// whole all the same, and the next Update, by any store, applies it before its own change.
func TestLargeChangeLeftPending(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	const prefix = "/pending/"
	s := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, Prefix: prefix})
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	puts := map[string]string{}
	for i := range 300 {
		puts[fmt.Sprintf("k/%03d", i)] = "v" + strconv.Itoa(i)
	}
	rev, err := s.ViewRevision(func(store.Tx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	changes := s.Watch(wctx, rev)
	ctx := context.Background()
	const stored = 20 // keys in etcd beside the pending change's, after them in key order
	for i := range stored {
		if _, err := cli.Put(ctx, fmt.Sprintf("%sk/a%02d", prefix, i), "a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, prefix, string(etcdstore.EncodePuts(puts))); err != nil { // the marker, as committed
		t.Fatal(err)
	}
	for range stored {
		recv(t, changes)
	}
	if c := recv(t, changes); len(c.Keys) != len(puts) || c.Keys[0] != "k/000" || c.Keys[len(puts)-1] != "k/299" {
		t.Fatalf("the watch reports the committed large change as %d keys (%v…), want its %d", len(c.Keys), c.Keys[:min(3, len(c.Keys))], len(puts))
	}
	if c := count(t, s, "k/"); c != len(puts)+stored {
		t.Fatalf("a reader sees %d keys, want the pending change's %d and %d more", c, len(puts), stored)
	}
	for _, reverse := range []bool{false, true} { // ranges with a limit, the pending change's first read or not
		for _, warm := range []bool{false, true} {
			err := s.View(func(tx store.Tx) error {
				if warm {
					if _, err := tx.Get("k/000"); err != nil {
						return err
					}
				}
				kvs, err := tx.Range("k/", "k/\xff", reverse, 10)
				if err != nil {
					return err
				}
				want := "k/000"
				if reverse {
					want = fmt.Sprintf("k/a%02d", stored-1)
				}
				if len(kvs) != 10 || kvs[0].Key != want {
					return fmt.Errorf("range with limit 10 (reverse %v): %v, want 10 keys from %s", reverse, kvs, want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if resp, err := cli.Get(ctx, prefix+"k/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != stored {
		t.Fatalf("etcd holds %d of the keys before any Update: %v", resp.Count, err)
	}
	if err := s.Update(func(tx store.Tx) error {
		b, err := tx.Get("k/299")
		if err == nil {
			err = tx.Put("after", b)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	if len(got) != len(puts)+stored+2 || got[prefix] != "" || got[prefix+"after"] != "v299" || got[prefix+"k/150"] != "v150" {
		t.Fatalf("after an Update: %d etcd keys, fence %q, after %q, k/150 %q; want the change applied, the fence empty", len(got), got[prefix], got[prefix+"after"], got[prefix+"k/150"])
	}
}

// ApplySecurityGroups of 1,000 groups (more writes than etcd's default 128 per Txn) commits in one
// change on a server with the defaults; a plane on another store sees all of them.
func TestApplyThousandSecurityGroups(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/fleet/", Timeout: 30 * time.Second}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := controlplane.New(openWith(t, opts), discard), controlplane.New(openWith(t, opts), discard)
	const groups = 1000
	var d model.Desired
	for g := range groups {
		name := fmt.Sprintf("group-%04d", g)
		rules := []model.DesiredRule{{Protocol: "tcp", PortRange: "6379/6379", CIDR: fmt.Sprintf("10.%d.%d.0/24", g/256, g%256),
			Priority: json.Number("1"), Description: name}}
		d.SecurityGroups = append(d.SecurityGroups, model.DesiredGroup{ID: fmt.Sprintf("sg-%04d", g), Name: &name, Members: &[]string{}, Rules: &rules})
	}
	plan, err := a.ApplySecurityGroups(controlplane.Actor{KeyID: "admin"}, d)
	if err != nil {
		t.Fatalf("apply %d groups: %v", groups, err)
	}
	if plan.Create != groups {
		t.Fatalf("plan creates %d groups, want %d", plan.Create, groups)
	}
	all, err := b.SecurityGroups()
	if err != nil || len(all) != groups || all[groups-1].Rules[0].Description != "group-0999" {
		t.Fatalf("another plane reads %d groups (%v), want %d", len(all), err, groups)
	}
	again, err := b.ApplySecurityGroups(controlplane.Actor{KeyID: "admin"}, d)
	if err != nil || !again.Empty() {
		t.Fatalf("applying the same state again: %+v, %v; want nothing to do", again, err)
	}
}
