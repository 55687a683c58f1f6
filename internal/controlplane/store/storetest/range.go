package storetest

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// testRangeMatchesOracle applies random puts and deletes over a small key space and compares Ranges with
// every bound, direction and limit against a map-and-sort oracle, inside the Update (its own writes) and in
// a View after it.
func testRangeMatchesOracle(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "ab/\x00\xff"
	randKey := func(n int) string {
		b := make([]byte, n+rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	oracle := map[string]string{}
	check := func(round int, tx store.Tx) error {
		for range 40 {
			start, end := randKey(0), randKey(0)
			if rng.IntN(4) == 0 {
				end = ""
			}
			reverse, limit := rng.IntN(2) == 0, rng.IntN(5)-1
			got, err := tx.Range(start, end, reverse, limit)
			if err != nil {
				return err
			}
			if want := oracleRange(oracle, start, end, reverse, limit); !kvsEqual(got, want) {
				t.Fatalf("round %d: Range(%q, %q, reverse=%v, limit=%d) = %q, want %q", round, start, end, reverse, limit, got, want)
			}
		}
		return nil
	}
	for round := range 20 {
		update(t, s, func(tx store.Tx) error {
			if err := scramble(tx, rng, oracle, func() string { return randKey(1) }, round); err != nil {
				return err
			}
			return check(round, tx)
		})
		view(t, s, func(tx store.Tx) error { return check(round, tx) })
	}
}

func oracleRange(m map[string]string, start, end string, reverse bool, limit int) []store.KV {
	var out []store.KV
	for k, v := range m {
		if k >= start && (end == "" || k < end) {
			out = append(out, store.KV{Key: k, Value: []byte(v)})
		}
	}
	slices.SortFunc(out, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
	if reverse {
		slices.Reverse(out)
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// testRangeBoundaries pins the edges: start inclusive, end exclusive, an empty end unbounded, a reversed
// or empty interval empty, a limit taken from the end asked for.
func testRangeBoundaries(t *testing.T, s store.Store) {
	putAll(t, s, "a", "1", "b", "2", "b/x", "3", "c", "4")
	view(t, s, func(tx store.Tx) error {
		for _, tc := range []struct {
			start, end string
			reverse    bool
			limit      int
			want       []string
		}{
			{"b", "c", false, 0, []string{"b", "b/x"}},
			{"b", "c", true, 0, []string{"b/x", "b"}},
			{"", "", false, 0, []string{"a", "b", "b/x", "c"}},
			{"", "", true, 2, []string{"c", "b/x"}},
			{"a", "", false, 2, []string{"a", "b"}},
			{"a0", "c0", true, 1, []string{"c"}},
			{"c", "b", false, 0, nil},
			{"b", "b", true, 0, nil},
			{"d", "", false, 0, nil},
			{"", "a", true, 0, nil},
		} {
			got, err := tx.Range(tc.start, tc.end, tc.reverse, tc.limit)
			if err != nil {
				return err
			}
			if k := keys(got); !slices.Equal(k, tc.want) && !(len(k) == 0 && len(tc.want) == 0) {
				t.Errorf("Range(%q, %q, reverse=%v, limit=%d) = %q, want %q", tc.start, tc.end, tc.reverse, tc.limit, k, tc.want)
			}
		}
		return nil
	})
}
