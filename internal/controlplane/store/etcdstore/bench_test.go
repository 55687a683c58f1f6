package etcdstore_test

import (
	"strconv"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// BenchmarkUpdate measures a read-modify-write Update of one key (a Get, a Put, the commit: two round
// trips) on an embedded single-member etcd, and a View of one key.
func BenchmarkUpdate(b *testing.B) {
	endpoint := etcdtest.Embedded(b)
	s, err := etcdstore.Open(etcdstore.Options{Endpoints: []string{endpoint}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("ReadModifyWrite", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			err := s.Update(func(tx store.Tx) error {
				if _, err := tx.Get("counter"); err != nil && i > 0 {
					return err
				}
				return tx.Put("counter", []byte(strconv.Itoa(i)))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("View", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.View(func(tx store.Tx) error { _, err := tx.Get("counter"); return err }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
