package controlplane

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

var nonceT0 = time.Date(2026, 11, 21, 12, 0, 30, 0, time.UTC)

// nonceKeys counts the journal's records and index entries in st.
func nonceKeys(t *testing.T, st store.Store) (records, index int) {
	t.Helper()
	err := st.View(func(tx store.Tx) error {
		r, err := tx.List(noncePrefix)
		if err != nil {
			return err
		}
		x, err := tx.List(nonceIndexPrefix)
		records, index = len(r), len(x)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, index
}

func mustUse(t *testing.T, j *NonceJournal, id, nonce string, now time.Time, want bool) {
	t.Helper()
	fresh, err := j.Use(id, nonce, now, now.Add(30*time.Minute))
	if err != nil || fresh != want {
		t.Fatalf("Use(%s, %s) at %v = %v, %v; want fresh=%v", id, nonce, now, fresh, err, want)
	}
}

// A nonce is refused while it is recorded, by a journal opened after the process that recorded it
// closed its store, per access key; once expired it is forgotten and its records are deleted.
func TestNonceJournalSurvivesReopenAndExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	j := p.NonceJournal()
	mustUse(t, j, "key-a", "n1", nonceT0, true)
	mustUse(t, j, "key-a", "n1", nonceT0.Add(time.Minute), false)
	mustUse(t, j, "key-b", "n1", nonceT0, true) // another key may use the same nonce
	st.Close()

	p, st = openPlane(t, path)
	j = p.NonceJournal()
	mustUse(t, j, "key-a", "n1", nonceT0.Add(29*time.Minute), false)
	if r, x := nonceKeys(t, st); r != 2 || x != 2 {
		t.Fatalf("%d records, %d index entries; want 2 and 2", r, x)
	}
	// At its expiry the nonce is new again, and the expired records of the others are deleted.
	later := nonceT0.Add(30 * time.Minute)
	mustUse(t, j, "key-a", "n1", later, true)
	mustUse(t, j, "key-c", "n2", later.Add(2*time.Minute), true)
	if r, x := nonceKeys(t, st); r != 2 || x != 2 {
		t.Fatalf("after expiry: %d records, %d index entries; want 2 and 2 (key-a/n1 again, key-c/n2)", r, x)
	}
	mustUse(t, j, "key-a", "n1", later.Add(29*time.Minute), false)
	mustUse(t, j, "key-b", "n1", later.Add(29*time.Minute), true)
	mustUse(t, j, "key-c", "n9", later.Add(24*time.Hour), true) // a clock jump: every old record goes
	if r, x := nonceKeys(t, st); r != 1 || x != 1 {
		t.Fatalf("a day later: %d records, %d index entries; want 1 and 1", r, x)
	}
}

// Concurrent uses are committed in shared transactions and decided exactly: distinct nonces are all
// fresh, and of many copies of one nonce exactly one is.
func TestNonceJournalConcurrentUses(t *testing.T) {
	p, st := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	j := p.NonceJournal()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	var fresh, dup atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if ok, err := j.Use("key", fmt.Sprintf("w%d-%d", w, i), nonceT0, nonceT0.Add(time.Hour)); err != nil || !ok {
					t.Errorf("distinct nonce w%d-%d: %v %v", w, i, ok, err)
				}
				if ok, err := j.Use("key", fmt.Sprintf("same-%d", i), nonceT0, nonceT0.Add(time.Hour)); err != nil {
					t.Error(err)
				} else if ok {
					fresh.Add(1)
				} else {
					dup.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != each || dup.Load() != (workers-1)*each {
		t.Fatalf("copies of %d nonces: %d fresh, %d refused; want %d and %d", each, fresh.Load(), dup.Load(), each, (workers-1)*each)
	}
	if r, _ := nonceKeys(t, st); r != workers*each+each {
		t.Fatalf("%d records, want %d", r, workers*each+each)
	}
}

// A journal whose store is closed refuses: the caller must not serve the call.
func TestNonceJournalStoreClosed(t *testing.T) {
	p, st := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	st.Close()
	if fresh, err := p.NonceJournal().Use("key", "n", nonceT0, nonceT0.Add(time.Hour)); err == nil || fresh {
		t.Fatalf("Use on a closed store = %v, %v; want an error", fresh, err)
	}
}

// BenchmarkNonceJournalUse is the cost of making one nonce durable, with callers in parallel sharing
// commits (group commit) — what each signed API call now pays before it is served.
func BenchmarkNonceJournalUse(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	j := New(st, nil).NonceJournal()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			if ok, err := j.Use("key", strconv.FormatInt(n.Add(1), 10), now, now.Add(30*time.Minute)); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
