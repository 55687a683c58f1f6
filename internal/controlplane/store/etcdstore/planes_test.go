package etcdstore_test

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// Two gateways' control planes (two stores, two clients) append to the same whitelist group at the same
// time: every entry is in the group at the end, and the shared audit log holds every change once, with
// distinct sequence numbers.
func TestTwoPlanesAppendToOneGroup(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	opts := etcdstore.Options{Endpoints: []string{endpoint}, Prefix: "/fleet/", Timeout: 30 * time.Second}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	planes := []*controlplane.Plane{controlplane.New(openWith(t, opts), discard), controlplane.New(openWith(t, opts), discard)}
	in := model.Instance{ID: "r-test", Name: "t", Listen: []string{"127.0.0.1:0"}, Backend: "embedded",
		EngineVersion: "7.0", Groups: allowlist.Initial(), Origin: model.OriginAPI}
	if err := planes[0].CreateInstance(controlplane.Actor{KeyID: "admin"}, in); err != nil {
		t.Fatal(err)
	}
	const workers, each = 3, 15
	var wg sync.WaitGroup
	errc := make(chan error, 2*workers)
	for g, p := range planes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				actor := controlplane.Actor{KeyID: fmt.Sprintf("gateway-%d", g)}
				for i := range each {
					c := allowlist.Change{Group: "app", Mode: allowlist.Append, Entries: fmt.Sprintf("10.%d.%d.%d/32", g, w, i)}
					if _, err := p.ModifySecurityIps(actor, "r-test", c); err != nil {
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
	got, err := planes[1].Instance("r-test")
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]bool{}
	for _, grp := range got.Groups {
		if grp.Name == "app" {
			for _, e := range grp.Entries {
				entries[e.String()] = true
			}
		}
	}
	for g := range planes {
		for w := range workers {
			for i := range each {
				if e := fmt.Sprintf("10.%d.%d.%d/32", g, w, i); !entries[e] {
					t.Errorf("entry %s lost", e)
				}
			}
		}
	}
	recs, err := planes[0].AuditLog(controlplane.AuditFilter{Action: "ModifySecurityIps", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[uint64]bool{}
	for _, r := range recs {
		seqs[r.Seq] = true
	}
	if len(recs) != 2*workers*each || len(seqs) != len(recs) {
		t.Fatalf("%d audit records with %d distinct sequence numbers, want %d", len(recs), len(seqs), 2*workers*each)
	}
}
