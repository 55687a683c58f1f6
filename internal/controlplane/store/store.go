// Package store holds moat's durable control-plane state (SPEC W10, S1, S2).
//
// The state is a flat map from string keys such as "instances/r-abc" to opaque byte values, read and changed
// only inside transactions. The interface is deliberately small so that the embedded implementation (Bolt,
// one file under the data directory) and a later etcd implementation can both satisfy it; package storetest
// holds the conformance suite every implementation must pass.
//
// It is a leaf: it imports no other moat package and knows nothing of what the values mean.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with context naming the key or path; test with errors.Is.
var (
	// ErrNotFound is returned by Tx.Get when the key is absent.
	ErrNotFound = errors.New("not found")
	// ErrLocked is returned when the backing store is held by another moat process.
	ErrLocked = errors.New("state store is locked")
	// ErrClosed is returned by View and Update after Close, and by a Tx used after its callback returned.
	ErrClosed = errors.New("state store is closed")
	// ErrUnavailable is returned by View and Update when a shared store (etcd) cannot be reached or has no
	// quorum; the wrapping error names the cause. Nothing was written, unless the store was lost during
	// the commit itself: then the wrapping error says that whether the change was applied is unknown.
	ErrUnavailable = errors.New("state store is unavailable")
	// ErrTooLarge is returned by Put (or by Update's commit) when a key, a value or a whole transaction
	// exceeds the implementation's request limit; the wrapping error names the key and the limit.
	ErrTooLarge = errors.New("too large for the state store")
)

// Store is the durable control-plane state. It is safe for concurrent use by many goroutines.
//
// Update runs fn in one atomic, serializable transaction: fn sees every change committed before it, and a
// read-modify-write inside fn cannot lose an update, even when another process shares the store (etcd). An
// implementation may run fn more than once (it retries when another writer changed what fn read), so fn must
// have no side effects beyond its Tx calls and must not keep what it computed in a failed attempt. If fn
// returns an error or panics, nothing it did is written and the error (or panic) is passed on. Otherwise the
// change is committed, and Update returns only once it is durable on disk: a change Update has acknowledged
// survives any crash, and a change is never visible half-applied, whatever crashes when (W10).
//
// View runs fn on a consistent read-only snapshot: it sees every change committed before View began and none
// committed after, even if Updates commit while it runs. Writes through a View's Tx fail.
//
// fn must not call View or Update on the same Store (a nested transaction may deadlock), and should be quick:
// Updates are serialised and a long View may delay them.
//
// Close waits for running transactions, releases the store and makes later View and Update calls return
// ErrClosed. Calling Close again returns nil.
type Store interface {
	View(fn func(Tx) error) error
	Update(fn func(Tx) error) error
	Close() error
}

// Tx is one transaction. It is valid only inside the View or Update callback that received it and must not be
// shared with other goroutines; afterwards every method returns an error wrapping ErrClosed.
//
// Keys are non-empty strings, ordered byte-wise. Values are opaque bytes; an empty value is stored and read
// back as an empty, non-nil slice. Implementations may refuse keys or values that exceed their size limits.
type Tx interface {
	// Get returns a copy of the value stored at key (the caller may keep and modify it), or an error wrapping
	// ErrNotFound when the key is absent. Inside Update it sees the transaction's own uncommitted changes.
	Get(key string) ([]byte, error)
	// Put stores a copy of value at key, replacing any previous value; the caller may reuse value at once.
	// An empty key is refused.
	Put(key string, value []byte) error
	// Delete removes key. Deleting an absent key is not an error.
	Delete(key string) error
	// List returns every key that starts with prefix, sorted by key, with copies of their values. The prefix
	// is a plain byte prefix: "a/" matches "a/x" but not "ab". An empty prefix lists everything. No match
	// yields an empty result and no error.
	List(prefix string) ([]KV, error)
	// Range returns the keys k with start <= k < end, with copies of their values, sorted by key: ascending,
	// or descending when reverse is set. An empty end means no upper bound; start >= end (end not empty)
	// yields nothing. limit > 0 returns at most limit keys — the first ones in the order asked, so a
	// reverse Range with limit n returns the n greatest keys below end; limit <= 0 returns them all. Like
	// List it sees the transaction's own changes. Its cost is one seek plus the keys returned: the ordered
	// read that indexes kept as keys need (etcd: a range read with sort order and limit).
	Range(start, end string, reverse bool, limit int) ([]KV, error)
}

// ExpiringTx is implemented by the Tx of stores that can delete a key by themselves once it expires (etcd:
// a lease), so that records meant to be short-lived stay bounded even when no process purges them.
// PutExpiring is Put, and the store may delete the key at any moment after expiry, never before. Such a
// deletion is not a transaction's write: a transaction that read the key, or listed it, is not refused
// for it. Callers must still purge what they keep (a store may keep the key longer).
type ExpiringTx interface {
	PutExpiring(key string, value []byte, expiry time.Time) error
}

// Watcher is implemented by stores that other processes change too (etcd). Watch reports, in commit order,
// every change under the store's keys made after the revision the caller last saw (rev 0: from now), until
// ctx ends; the channel is closed then. A Change with Reset set means the history could not be followed
// (compaction, a lost connection that outlived it): the caller must reload everything it derived from the
// store. A store that only this process writes need not implement Watcher.
type Watcher interface {
	Watch(ctx context.Context, rev int64) <-chan Change
}

// StaleViewer is implemented by shared stores that can answer a read without their quorum (etcd: a
// serializable read, answered by one member from its own copy). ViewStale is View on that copy: one
// consistent snapshot, which may lack changes already committed through other members, so it is for
// answers that say they may be old (an API read during an outage), never for what a gateway enforces.
// It fails with ErrUnavailable when no member can be reached at all.
type StaleViewer interface {
	ViewStale(fn func(Tx) error) error
}

// Change is one committed transaction seen by Watch: the keys it wrote or deleted and its revision.
type Change struct {
	Keys     []string
	Revision int64
	Reset    bool
}

// KV is one key and its value, as returned by Tx.List. Value is the caller's own copy.
type KV struct {
	Key   string
	Value []byte
}
