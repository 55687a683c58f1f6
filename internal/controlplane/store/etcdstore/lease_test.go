package etcdstore_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// The signature nonces recorded in etcd are attached to leases: once expired, etcd deletes them by itself,
// with no later call to purge them; a replay before then is refused, and keys put without an expiry stay.
func TestNoncesExpireByLease(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	s := openWith(t, etcdstore.Options{Endpoints: []string{endpoint}, Timeout: 30 * time.Second})
	p := controlplane.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Update(func(tx store.Tx) error { return tx.Put("keep", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	j := p.NonceJournal()
	now := time.Now()
	for i, want := range []bool{true, false} {
		fresh, err := j.Use("key", "n1", now, now.Add(2*time.Second))
		if err != nil || fresh != want {
			t.Fatalf("use %d: fresh %v, %v; want %v", i, fresh, err, want)
		}
	}
	if n := count(t, s, "nonces/"); n != 2 {
		t.Fatalf("%d nonce keys, want the record and its index entry", n)
	}
	deadline := time.Now().Add(60 * time.Second)
	for count(t, s, "nonces/") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the expired nonce is still in etcd a minute later")
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("nonce expiring in 2 s deleted by etcd after %v", time.Since(now).Round(100*time.Millisecond))
	if n := count(t, s, "keep"); n != 1 {
		t.Fatal("a key put without an expiry was deleted")
	}
}
