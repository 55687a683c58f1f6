package etcdstore_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// moat's own writes stay within etcd's default limits (128 operations per transaction, 1.5 MiB): audited
// changes while the log prunes expired records, failed calls at their bound, a burst of signature nonces
// and their expiry, and the upgrade of an old audit log, all on a server and store with the defaults.
func TestDefaultLimits(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	s := openWith(t, etcdStoreOpts(endpoint))
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	p := controlplane.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Now = func() time.Time { return now }
	p.Audit = controlplane.AuditPolicy{Retention: time.Hour, FailedCalls: 5}
	admin := controlplane.Actor{KeyID: "admin"}

	// An old log of 60 records, as moat kept before the split logs: upgraded in transactions etcd accepts.
	if err := s.Update(func(tx store.Tx) error {
		for i := range 60 {
			b, _ := json.Marshal(controlplane.AuditEntry{Time: now.Add(time.Duration(i) * time.Second), KeyID: "old", Action: "CreateInstance", Result: controlplane.ResultOK})
			if err := tx.Put(fmt.Sprintf("audit/%020d", i), b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.UpgradeAudit(); err != nil {
		t.Fatalf("UpgradeAudit: %v", err)
	}

	in := model.Instance{ID: "r-test", Name: "t", Listen: []string{"127.0.0.1:0"}, Backend: "embedded",
		EngineVersion: "7.0", Groups: allowlist.Initial(), Origin: model.OriginAPI}
	if err := p.CreateInstance(admin, in); err != nil {
		t.Fatal(err)
	}
	modify := func(i int) {
		t.Helper()
		c := allowlist.Change{Group: "app", Mode: allowlist.Append, Entries: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)}
		if _, err := p.ModifySecurityIps(admin, "r-test", c); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	for i := range 100 {
		now = now.Add(time.Second)
		modify(i)
		if err := p.RecordFailure(admin, fmt.Sprintf("Action%d", i), "r-test", "denied", nil); err != nil {
			t.Fatalf("failed call %d: %v", i, err)
		}
	}
	// Two hours later every record so far has expired: each change prunes a batch of them with it.
	now = now.Add(2 * time.Hour)
	for i := 100; i < 130; i++ {
		now = now.Add(time.Second)
		modify(i)
	}
	if n := count(t, s, "auditlog/r/"); n != 30 {
		t.Fatalf("%d change records kept, want the 30 within the retention", n)
	}

	// A burst of signed calls, each with a new nonce, then their expiry.
	j := p.NonceJournal()
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh, err := j.Use("admin", fmt.Sprintf("n%d", i), now, now.Add(15*time.Minute))
			if err == nil && !fresh {
				err = fmt.Errorf("nonce %d refused as a replay", i)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("nonce: %v", err)
	}
	later := now.Add(20 * time.Minute)
	for i := range 12 {
		if _, err := j.Use("admin", fmt.Sprintf("late%d", i), later, later.Add(15*time.Minute)); err != nil {
			t.Fatalf("nonce after expiry: %v", err)
		}
	}
	if n := count(t, s, "nonces/n/"); n != 12 {
		t.Fatalf("%d nonces kept, want the 12 unexpired (expired ones are purged in batches)", n)
	}
}

func etcdStoreOpts(endpoint string) etcdstore.Options {
	return etcdstore.Options{Endpoints: []string{endpoint}, Timeout: 30 * time.Second}
}

func count(t *testing.T, s store.Store, prefix string) int {
	t.Helper()
	var n int
	if err := s.View(func(tx store.Tx) error {
		kvs, err := tx.List(prefix)
		n = len(kvs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
