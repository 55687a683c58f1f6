package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bolt is the embedded Store (S1): one bbolt file under the data directory.
//
// Layout: every key lives in a single bucket, kvBucket, under its full flat name ("instances/r-abc"), so
// List(prefix) is one cursor seek plus a forward scan, and any prefix works, not only whole path segments.
//
// Durability comes from bbolt's defaults, which Bolt does not relax: each commit writes the new pages, fsyncs,
// then writes and fsyncs the meta page that makes them current, so a crash at any point leaves either the old
// or the new state; the file grows with fsync; OpenBolt also fsyncs the directory entries leading to the file.
// The file is held with an exclusive flock for as long as it is open.
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ Store = (*Bolt)(nil)

// kvBucket is the one bucket that holds every key.
var kvBucket = []byte("kv")

// initialMmapSize is the address space mapped up front. bbolt must remap to grow past the mapping, and a remap
// waits for every open read transaction, so until the file outgrows this an Update never waits for a View.
// It reserves address space only. With a mapping this large bbolt extends the file in 16 MiB steps; the
// extension is sparse, so a small store lists as ~16 MiB but occupies a few KiB on disk.
const initialMmapSize = 256 << 20

// lockTimeout bounds how long OpenBolt waits for another process to release the file.
const lockTimeout = time.Second

// OpenBolt opens the bbolt file at path, creating it (mode 0600) and any missing parent directories (mode
// 0700) if needed. If another process holds the file it fails within about a second with an error wrapping
// ErrLocked that names the path. The returned *Bolt is safe for concurrent use; Close it to release the file.
func OpenBolt(path string) (*Bolt, error) {
	dir := filepath.Dir(path)
	created, err := mkdirAll(dir)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, InitialMmapSize: initialMmapSize})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("another moat process is using %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	// The file's directory entry, and those of any directories created for it, must be on disk before the
	// first commit is acknowledged, or a power loss could take the whole file with it. The file's own entry is
	// synced on every open: a previous process may have died between creating it and syncing.
	for _, entry := range append(created, path) {
		if err := syncDir(filepath.Dir(entry)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open state store %s: %w", path, err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(kvBucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	return &Bolt{db: db, path: path}, nil
}

// View implements Store.
func (s *Bolt) View(fn func(Tx) error) error {
	btx, err := s.db.Begin(false)
	if err != nil {
		return s.beginErr(err)
	}
	defer func() { _ = btx.Rollback() }()
	tx := &boltTx{b: btx.Bucket(kvBucket)}
	defer tx.end()
	return fn(tx)
}

// Update implements Store. The deferred Rollback discards everything when fn fails or panics, and also
// releases bbolt's writer lock on a panic.
func (s *Bolt) Update(fn func(Tx) error) error {
	btx, err := s.db.Begin(true)
	if err != nil {
		return s.beginErr(err)
	}
	defer func() { _ = btx.Rollback() }()
	tx := &boltTx{b: btx.Bucket(kvBucket)}
	defer tx.end()
	if err := fn(tx); err != nil {
		return err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("commit to state store %s: %w", s.path, err)
	}
	return nil
}

// Close implements Store.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.path, err)
	}
	return nil
}

func (s *Bolt) beginErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("state store %s: %w", s.path, ErrClosed)
	}
	return fmt.Errorf("begin transaction on state store %s: %w", s.path, err)
}

// boltTx adapts the kv bucket of one bbolt transaction to Tx. bbolt's slices point into the memory map and are
// valid only during the transaction, so everything handed out or taken in is copied.
type boltTx struct {
	b    *bolt.Bucket
	done bool
}

// end invalidates tx: bbolt's bucket must not be touched once its transaction is closed.
func (tx *boltTx) end() { tx.done = true }

var errTxDone = fmt.Errorf("transaction used after its callback returned: %w", ErrClosed)

func (tx *boltTx) Get(key string) ([]byte, error) {
	if tx.done {
		return nil, errTxDone
	}
	// A cursor tells an absent key from an empty value, which Bucket.Get cannot.
	k, v := tx.b.Cursor().Seek([]byte(key))
	if k == nil || string(k) != key {
		return nil, fmt.Errorf("key %q: %w", key, ErrNotFound)
	}
	return clone(v), nil
}

func (tx *boltTx) Put(key string, value []byte) error {
	if tx.done {
		return errTxDone
	}
	if key == "" {
		return errors.New("put: empty key")
	}
	// bbolt keeps the value slice until commit, so it must be ours, not the caller's.
	if err := tx.b.Put([]byte(key), clone(value)); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

func (tx *boltTx) Delete(key string) error {
	if tx.done {
		return errTxDone
	}
	if err := tx.b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

func (tx *boltTx) List(prefix string) ([]KV, error) {
	if tx.done {
		return nil, errTxDone
	}
	p := []byte(prefix)
	var out []KV
	c := tx.b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		out = append(out, KV{Key: string(k), Value: clone(v)})
	}
	return out, nil
}

func (tx *boltTx) Range(start, end string, reverse bool, limit int) ([]KV, error) {
	if tx.done {
		return nil, errTxDone
	}
	lo, hi := []byte(start), []byte(end)
	inside := func(k []byte) bool {
		return k != nil && bytes.Compare(k, lo) >= 0 && (end == "" || bytes.Compare(k, hi) < 0)
	}
	c := tx.b.Cursor()
	var k, v []byte
	step := c.Next
	switch {
	case !reverse:
		k, v = c.Seek(lo)
	case end == "":
		k, v = c.Last()
		step = c.Prev
	default:
		// The greatest key below end: the one before the first key >= end, or the last key if none is.
		if k, _ = c.Seek(hi); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		step = c.Prev
	}
	var out []KV
	for ; inside(k) && (limit <= 0 || len(out) < limit); k, v = step() {
		out = append(out, KV{Key: string(k), Value: clone(v)})
	}
	return out, nil
}

// clone returns a copy of b that is never nil.
func clone(b []byte) []byte { return append([]byte{}, b...) }

// mkdirAll is os.MkdirAll(dir, 0o700) that also reports the directories it created.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		missing = append([]string{d}, missing...)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return missing, nil
}

// syncDir fsyncs directory dir, making the entries created in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
