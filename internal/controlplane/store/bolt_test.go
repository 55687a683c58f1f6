package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

func openTemp(t testing.TB) (*store.Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return s, path
}

func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestBoltCreatesPrivateFileAndDirs(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "data", "moat", "state.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{
		path:                        0o600,
		filepath.Join(root, "data"): 0o700 | os.ModeDir,
		filepath.Dir(path):          0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestBoltReopen(t *testing.T) {
	s, path := openTemp(t)
	err := s.Update(func(tx store.Tx) error {
		for i := range 100 {
			if err := tx.Put(fmt.Sprintf("instances/r-%03d", i), []byte(strings.Repeat("v", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // reopening twice: the first reopen must not disturb anything either
		s, err = store.OpenBolt(path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		err = s.View(func(tx store.Tx) error {
			kvs, err := tx.List("instances/")
			if err != nil {
				return err
			}
			if len(kvs) != 100 {
				return fmt.Errorf("%d keys after reopen, want 100", len(kvs))
			}
			for i, kv := range kvs {
				if kv.Key != fmt.Sprintf("instances/r-%03d", i) || string(kv.Value) != strings.Repeat("v", i) {
					return fmt.Errorf("after reopen: %q = %q", kv.Key, kv.Value)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBoltLocked(t *testing.T) {
	s, path := openTemp(t)
	defer s.Close()
	start := time.Now()
	s2, err := store.OpenBolt(path)
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second OpenBolt on a held file succeeded")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second OpenBolt: %v, want ErrLocked", err)
	}
	if want := "another moat process is using " + path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if elapsed > 2*time.Second {
		t.Errorf("ErrLocked after %v, want within about a second", elapsed)
	}
	// The holder is unaffected, and once it closes the file can be opened.
	if err := s.Update(func(tx store.Tx) error { return tx.Put("k", []byte("v")) }); err != nil {
		t.Fatalf("holder Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt after the holder closed: %v", err)
	}
	s2.Close()
}

func TestBoltOpenErrorNamesPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "state.db")
	_, err := store.OpenBolt(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenBolt under a regular file: %v, want an error naming %s", err, path)
	}
}

// checkBoltFile runs bbolt's own page-level consistency check on a closed store file.
func checkBoltFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bbolt open for check: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt consistency check of %s: %v", path, err)
	}
}

// BenchmarkUpdate measures durable commits: one small Put per Update, each fsynced.
func BenchmarkUpdate(b *testing.B) {
	s, _ := openTemp(b)
	defer s.Close()
	value := []byte(`{"id":"r-abc","whitelist":["10.0.0.0/8"]}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("instances/r-%d", i%1000)
		i++
		if err := s.Update(func(tx store.Tx) error { return tx.Put(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkView measures a read transaction with one Get, for comparison.
func BenchmarkView(b *testing.B) {
	s, _ := openTemp(b)
	defer s.Close()
	if err := s.Update(func(tx store.Tx) error { return tx.Put("instances/r-abc", []byte("value")) }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		err := s.View(func(tx store.Tx) error {
			_, err := tx.Get("instances/r-abc")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
