package controlplane

import (
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// Gateways starting together on one empty store each try to create the administrator key and the
// default instance: exactly one of each is created, every caller gets the one stored, and the audit log
// records one creation of each. (Two Planes over one store stand for two gateways; the etcd store's own
// tests prove its Update serializable across processes.)
func TestFirstStartCreatesOnce(t *testing.T) {
	p1, st := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	p2 := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const callers = 8
	var wg sync.WaitGroup
	keys := make(chan bool, callers)
	insts := make(chan string, callers)
	for i := range callers {
		p := []*Plane{p1, p2}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created, err := p.CreateFirstKey(admin, "first", []string{"*"}, []string{"*"})
			if err != nil {
				t.Error(err)
			}
			keys <- created
			in := testInstance()
			in.ID, in.Origin = model.NewID(), model.OriginDefault
			got, _, err := p.EnsureInstance(admin, func(in model.Instance) bool { return in.Origin == model.OriginDefault }, in)
			if err != nil {
				t.Error(err)
			}
			insts <- got.ID
		}()
	}
	wg.Wait()
	close(keys)
	close(insts)
	createdKeys := 0
	for c := range keys {
		if c {
			createdKeys++
		}
	}
	ids := map[string]bool{}
	for id := range insts {
		ids[id] = true
	}
	stored, err := p1.Instances()
	if err != nil {
		t.Fatal(err)
	}
	all, err := p1.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if createdKeys != 1 || len(all) != 1 || len(ids) != 1 || len(stored) != 1 || !ids[stored[0].ID] {
		t.Fatalf("%d callers: %d said they created the key, %d keys stored; instances returned %v, stored %d",
			callers, createdKeys, len(all), ids, len(stored))
	}
	for action, want := range map[string]int{"CreateAccessKey": 1, "PutInstance": 1} {
		recs, err := p1.AuditLog(AuditFilter{Action: action})
		if err != nil || len(recs) != want {
			t.Fatalf("audit records of %s: %d (%v), want %d", action, len(recs), err, want)
		}
	}
}

// The records of changes and of failed calls a Plane with a Gateway writes name it.
func TestAuditNamesTheGateway(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	p.Gateway = "gw-7"
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	if err := p.RecordFailure(admin, "DescribeInstances", "r-test", ResultDenied, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := p.AuditLog(AuditFilter{})
	if err != nil || len(recs) != 1 || recs[0].Gateway != "gw-7" {
		t.Fatalf("change records %+v, %v", recs, err)
	}
	fails, _, err := p.FailedCalls(AuditFilter{})
	if err != nil || len(fails) != 1 || fails[0].Gateway != "gw-7" {
		t.Fatalf("failed-call records %+v, %v", fails, err)
	}
}
