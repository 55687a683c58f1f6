package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

var auditT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// auditRow is what the oracle keeps of a record.
type auditRow struct {
	seq   uint64
	f     store.AuditFields
	value string
}

func appendRow(tx store.Tx, l store.AuditLog, f store.AuditFields, rows *[]auditRow) error {
	return l.Append(tx, f, func(seq uint64) ([]byte, error) {
		v := fmt.Sprintf("payload %d", seq)
		*rows = append(*rows, auditRow{seq, f, v})
		return []byte(v), nil
	})
}

// readAll pages through q with a small page size and returns every record.
func readAll(t *testing.T, s store.Store, l store.AuditLog, q store.AuditQuery) []store.AuditRecord {
	t.Helper()
	var all []store.AuditRecord
	q.Limit = 7
	for pages := 0; ; pages++ {
		var recs []store.AuditRecord
		var more bool
		view(t, s, func(tx store.Tx) (err error) {
			recs, more, err = l.Query(tx, q)
			return err
		})
		all = append(all, recs...)
		if !more {
			return all
		}
		if len(recs) == 0 || pages > 1000 {
			t.Fatalf("Query(%+v): more, but an empty page", q)
		}
		q.Before = recs[len(recs)-1].Cursor
	}
}

// testAuditLogMatchesOracle writes records with random fields and times (some equal, some out of order) and
// compares every combination of filters, with and without a time range, read in pages, with a filter-and-sort
// oracle.
func testAuditLogMatchesOracle(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(5, 6))
	l := store.AuditLog{Prefix: "audittest/"}
	keyIDs := []string{"KEYA", "KEYB", "KEYB\x00", "config"}
	actions := []string{"ModifySecurityIps", "CreateAccessKey", "ACL SETUSER"}
	instances := []string{"r-1", "r-2", "r-1\x00\x00r-2", ""}
	var rows []auditRow
	for range 6 {
		update(t, s, func(tx store.Tx) error {
			for range 50 {
				f := store.AuditFields{
					Time: auditT0.Add(time.Duration(rng.IntN(100)) * time.Second), Key: keyIDs[rng.IntN(len(keyIDs))],
					Action: actions[rng.IntN(len(actions))], Instance: instances[rng.IntN(len(instances))],
				}
				if err := appendRow(tx, l, f, &rows); err != nil {
					return err
				}
			}
			return nil
		})
	}
	newestFirst := func(a, b auditRow) int {
		if c := b.f.Time.Compare(a.f.Time); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	}
	slices.SortFunc(rows, newestFirst)
	ranges := [][2]time.Time{{}, {auditT0.Add(20 * time.Second), auditT0.Add(70 * time.Second)}, {auditT0.Add(99 * time.Second), {}}}
	for _, key := range append(keyIDs, "", "KEYC") {
		for _, action := range append(actions, "", "modifysecurityips") {
			for _, inst := range append(instances[:3], "", "r-3") {
				for _, r := range ranges {
					q := store.AuditQuery{Key: key, Action: action, Instance: inst, Since: r[0], Until: r[1]}
					var want []string
					for _, row := range rows {
						if (key == "" || row.f.Key == key) && (action == "" || strings.EqualFold(row.f.Action, action)) &&
							(inst == "" || row.f.Instance == inst) && (r[0].IsZero() || !row.f.Time.Before(r[0])) &&
							(r[1].IsZero() || row.f.Time.Before(r[1])) {
							want = append(want, fmt.Sprintf("%d %v %q %s %q %s", row.seq, row.f.Time, row.f.Key, row.f.Action, row.f.Instance, row.value))
						}
					}
					var got []string
					for _, rec := range readAll(t, s, l, q) {
						got = append(got, fmt.Sprintf("%d %v %q %s %q %s", rec.Seq, rec.Time, rec.Key, rec.Action, rec.Instance, rec.Value))
					}
					if !slices.Equal(got, want) {
						t.Fatalf("Query(%+v):\n got %q\nwant %q", q, got, want)
					}
				}
			}
		}
	}
	view(t, s, func(tx store.Tx) error {
		if n, err := l.Len(tx); err != nil || n != len(rows) {
			t.Errorf("Len = %d, %v; want %d", n, err, len(rows))
		}
		for _, bad := range []string{"zz", "00", strings.Repeat("0", 30)} {
			if _, _, err := l.Query(tx, store.AuditQuery{Before: bad}); !errors.Is(err, store.ErrBadCursor) || !strings.Contains(err.Error(), bad) {
				t.Errorf("Query with cursor %q: %v, want ErrBadCursor naming it", bad, err)
			}
		}
		return nil
	})
}

// auditKeys counts the keys the log holds: records, index entries and the rest.
func auditKeys(t *testing.T, s store.Store, prefix string) (records, index, other int) {
	t.Helper()
	view(t, s, func(tx store.Tx) error {
		kvs, err := tx.List(prefix)
		for _, kv := range kvs {
			switch rest := kv.Key[len(prefix):]; {
			case strings.HasPrefix(rest, "r/"):
				records++
			case strings.HasPrefix(rest, "x/"):
				index++
			default:
				other++
			}
		}
		return err
	})
	return records, index, other
}

// testAuditLogRetention: a record outlives Retention only until later writes prune it, each write removing
// a bounded number; pruning removes the record's index entries with it and never a record still kept.
func testAuditLogRetention(t *testing.T, s store.Store) {
	l := store.AuditLog{Prefix: "audittest/", Retention: time.Hour}
	var rows []auditRow
	const old = 300
	update(t, s, func(tx store.Tx) error {
		for i := range old {
			f := store.AuditFields{Time: auditT0.Add(time.Duration(i) * time.Second), Key: "K", Action: "Old", Instance: "r-" + strconv.Itoa(i%3)}
			if err := appendRow(tx, l, f, &rows); err != nil {
				return err
			}
		}
		return nil
	})
	count := func() int {
		var n int
		view(t, s, func(tx store.Tx) (err error) { n, err = l.Len(tx); return err })
		return n
	}
	later := auditT0.Add(2 * time.Hour)
	var writes int
	for count() > writes {
		before := count()
		update(t, s, func(tx store.Tx) error {
			return appendRow(tx, l, store.AuditFields{Time: later.Add(time.Duration(writes) * time.Second), Key: "K", Action: "New", Instance: "r-0"}, &rows)
		})
		writes++
		if removed := before + 1 - count(); removed <= 0 || removed > 64 {
			t.Fatalf("write %d removed %d expired records; want between 1 and 64", writes, removed)
		}
		if writes > old {
			t.Fatal("expired records are never all pruned")
		}
	}
	if got := readAll(t, s, l, store.AuditQuery{Action: "old"}); len(got) != 0 {
		t.Fatalf("%d expired records are still found by index", len(got))
	}
	got := readAll(t, s, l, store.AuditQuery{Key: "K"})
	if len(got) != writes || got[0].Action != "New" || got[len(got)-1].Action != "New" {
		t.Fatalf("after pruning: %d records, want the %d new ones", len(got), writes)
	}
	if recs, index, _ := auditKeys(t, s, l.Prefix); recs != writes || index != 7*writes {
		t.Fatalf("after pruning the log holds %d records and %d index entries; want %d and %d", recs, index, writes, 7*writes)
	}
}

// testAuditLogMergeBounded: Merge keeps one record per id, handing the replaced payload to the next, moves it
// to the head of the log, and MaxRecords evicts the least recently merged; an evicted id starts afresh.
func testAuditLogMergeBounded(t *testing.T, s store.Store) {
	l := store.AuditLog{Prefix: "audittest/", MaxRecords: 5}
	at := auditT0
	merge := func(id string) {
		t.Helper()
		at = at.Add(time.Second)
		update(t, s, func(tx store.Tx) error {
			return l.Merge(tx, id, store.AuditFields{Time: at, Key: "K", Action: "Denied", Instance: id}, func(seq uint64, prev []byte) ([]byte, error) {
				n := 0
				if prev != nil {
					n, _ = strconv.Atoi(string(prev))
				}
				return []byte(strconv.Itoa(n + 1)), nil
			})
		})
	}
	counts := func() map[string]string {
		m := map[string]string{}
		for _, r := range readAll(t, s, l, store.AuditQuery{}) {
			m[r.Instance] = string(r.Value)
		}
		return m
	}
	for range 200 {
		merge("r-a")
	}
	merge("r-b")
	if got := counts(); len(got) != 2 || got["r-a"] != "200" || got["r-b"] != "1" {
		t.Fatalf("after 200 merges of r-a and one of r-b: %v", got)
	}
	for i := range 20 {
		merge(fmt.Sprintf("r-%02d", i))
		merge("r-a") // kept: always among the most recent
	}
	got := counts()
	if len(got) != 5 || got["r-a"] != "220" || got["r-b"] != "" || got["r-19"] != "1" || got["r-16"] != "1" {
		t.Fatalf("after a flood of new ids with MaxRecords 5: %v", got)
	}
	if recs, index, other := auditKeys(t, s, l.Prefix); recs != 5 || index != 35 || other != 5+2 {
		t.Fatalf("the bounded log holds %d records, %d index entries, %d other keys; want 5, 35, 7", recs, index, other)
	}
	if head := readAll(t, s, l, store.AuditQuery{}); head[0].Instance != "r-a" {
		t.Fatalf("the last merged record is not the newest: %+v", head[0])
	}
	merge("r-b")
	if got := counts(); got["r-b"] != "1" {
		t.Fatalf("an evicted id did not start afresh: %v", got)
	}
}
