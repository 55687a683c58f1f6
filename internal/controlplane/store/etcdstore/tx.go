package etcdstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// tx is one attempt of a View or Update. Its first read (start) reads the fence, which fixes the
// revision rev every later read is made at; an Update's writes wait in writes until the commit, and its
// reads are recorded for the commit's compares.
type tx struct {
	s     *Store
	write bool
	stale bool // reads are serializable: answered by one member from its own copy (ViewStale)
	done  bool
	rev   int64 // the snapshot's revision; 0 until start

	fenced0   bool               // the fence existed at rev
	overlay   map[string]pending // a large change committed by rev and not yet applied to its keys (large.go)
	markerRev int64              // the revision that committed overlay

	writes map[string]pending // store key -> the write fn made last
	points map[string]int64   // etcd key read by Get -> its mod revision at rev (0: absent)
	spans  []span             // etcd key ranges List and Range scanned
	fenced bool               // a scanned range held keys: a delete after rev must fail the commit
}

var _ store.ExpiringTx = (*tx)(nil)

// pending is a buffered write: a value, or a delete.
type pending struct {
	value  []byte
	del    bool
	expiry int64 // Unix seconds after which etcd may delete the key (PutExpiring); 0: never
}

// span is the etcd key range [lo, hi) that a read covered.
type span struct{ lo, hi string }

var errTxDone = fmt.Errorf("transaction used after its callback returned: %w", store.ErrClosed)

var errReadOnly = errors.New("write in a read-only transaction (View)")

func (t *tx) end() { t.done = true }

// at returns the read options that pin a read to the snapshot, and records the snapshot's revision.
func (t *tx) at(opts ...clientv3.OpOption) []clientv3.OpOption {
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	if t.stale {
		opts = append(opts, clientv3.WithSerializable())
	}
	return opts
}

// start reads the fence, once, for a transaction that has read nothing yet (read does it with the first
// read).
func (t *tx) start() error {
	if t.rev > 0 {
		return nil
	}
	ctx, cancel := t.s.rpc()
	defer cancel()
	resp, err := t.s.cli.Get(ctx, t.s.fence, t.at()...)
	if err != nil {
		return t.s.fault("read", err)
	}
	return t.started(resp.Header.Revision, resp.Kvs)
}

// started records what the fence held at rev, the snapshot's revision: a large change it holds that is not
// yet applied becomes the overlay every read of t sees (large.go).
func (t *tx) started(rev int64, fence []*mvccpb.KeyValue) error {
	if len(fence) > 0 {
		t.fenced0 = true
		if v := fence[0].Value; len(v) > 0 {
			overlay, err := decodeWrites(v)
			if err != nil {
				return fmt.Errorf("%s: a large change pending in %q: %w", t.s.where, t.s.fence, err)
			}
			t.overlay, t.markerRev = overlay, fence[0].ModRevision
		}
	}
	t.rev = rev
	return nil
}

// read makes one range read at the snapshot (op names it in errors). The first read of t also reads the
// fence, in the same request (a read-only Txn), whose revision becomes the snapshot's.
func (t *tx) read(op, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := t.s.rpc()
	defer cancel()
	if t.rev > 0 {
		resp, err := t.s.cli.Get(ctx, key, t.at(opts...)...)
		if err != nil {
			return nil, t.s.fault(op, err)
		}
		return resp, nil
	}
	resp, err := t.s.cli.Txn(ctx).Then(clientv3.OpGet(t.s.fence, t.at()...), clientv3.OpGet(key, t.at(opts...)...)).Commit()
	if err != nil {
		return nil, t.s.fault(op, err)
	}
	if err := t.started(resp.Header.Revision, resp.Responses[0].GetResponseRange().Kvs); err != nil {
		return nil, err
	}
	return (*clientv3.GetResponse)(resp.Responses[1].GetResponseRange()), nil
}

// localKeys returns the keys of t's own writes and of the pending large change.
func (t *tx) localKeys() map[string]struct{} {
	keys := make(map[string]struct{}, len(t.writes)+len(t.overlay))
	for k := range t.writes {
		keys[k] = struct{}{}
	}
	for k := range t.overlay {
		keys[k] = struct{}{}
	}
	return keys
}

// local returns what t's own writes, or else the pending large change, hold for key.
func (t *tx) local(key string) (pending, bool) {
	if w, ok := t.writes[key]; ok {
		return w, true
	}
	w, ok := t.overlay[key]
	return w, ok
}

func (t *tx) Get(key string) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if key == "" { // the fence's etcd key, never a store key
		return nil, fmt.Errorf("key %q: %w", key, store.ErrNotFound)
	}
	ek := t.s.prefix + key
	var resp *clientv3.GetResponse
	if _, mine := t.writes[key]; !mine {
		var err error
		if resp, err = t.read(fmt.Sprintf("get %q", key), ek); err != nil {
			return nil, err
		}
	}
	if w, ok := t.local(key); ok { // t's own write, or the pending large change (known once read)
		if w.del {
			return nil, fmt.Errorf("key %q: %w", key, store.ErrNotFound)
		}
		return clone(w.value), nil
	}
	var modRev int64
	if len(resp.Kvs) > 0 {
		modRev = resp.Kvs[0].ModRevision
	}
	if t.write {
		if _, seen := t.points[ek]; !seen {
			t.points[ek] = modRev
		}
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("key %q: %w", key, store.ErrNotFound)
	}
	return clone(resp.Kvs[0].Value), nil
}

func (t *tx) Put(key string, value []byte) error { return t.put(key, value, 0) }

// PutExpiring implements store.ExpiringTx: the key is attached to an etcd lease that ends after expiry
// (lease.go). In a large change (large.go) it is a plain Put.
func (t *tx) PutExpiring(key string, value []byte, expiry time.Time) error {
	return t.put(key, value, max(expiry.Unix(), 1))
}

func (t *tx) put(key string, value []byte, expiry int64) error {
	if t.done {
		return errTxDone
	}
	if !t.write {
		return fmt.Errorf("put %q: %w", key, errReadOnly)
	}
	if key == "" {
		return errors.New("put: empty key")
	}
	if n := len(t.s.prefix) + len(key) + len(value) + opOverhead; n > t.s.opts.MaxRequestBytes-requestMargin {
		return fmt.Errorf("put %q: %d bytes of key and value, more than etcd's request limit of %d bytes (--max-request-bytes): %w",
			key, len(key)+len(value), t.s.opts.MaxRequestBytes-requestMargin, store.ErrTooLarge)
	}
	t.writes[key] = pending{value: clone(value), expiry: expiry}
	return nil
}

func (t *tx) Delete(key string) error {
	if t.done {
		return errTxDone
	}
	if !t.write {
		return fmt.Errorf("delete %q: %w", key, errReadOnly)
	}
	if key == "" {
		return nil // never stored (Put refuses it); its etcd key is the fence
	}
	t.writes[key] = pending{del: true}
	return nil
}

func (t *tx) List(prefix string) ([]store.KV, error) {
	return t.Range(prefix, store.PrefixEnd(prefix), false, 0)
}

func (t *tx) Range(start, end string, reverse bool, limit int) ([]store.KV, error) {
	if t.done {
		return nil, errTxDone
	}
	if end != "" && start >= end {
		return nil, nil
	}
	in := func(k string) bool { return k >= start && (end == "" || k < end) }
	// The buffered deletes in the range may hide as many of etcd's keys, and the fence (the etcd key of
	// store key "") one more: read that many more. A pending large change learnt of by this read (t's
	// first) is allowed for by reading again.
	first := t.rev == 0
	deletes := 0
	if start == "" {
		deletes++
	}
	for k := range t.localKeys() {
		if w, _ := t.local(k); w.del && in(k) {
			deletes++
		}
	}
	lo, hi := t.s.prefix+start, t.s.prefix+end
	if end == "" {
		hi = store.PrefixEnd(t.s.prefix)
	}
	order := clientv3.SortAscend
	if reverse {
		order = clientv3.SortDescend
	}
	opts := []clientv3.OpOption{clientv3.WithRange(hi), clientv3.WithSort(clientv3.SortByKey, order)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit+deletes)))
	}
	resp, err := t.read(fmt.Sprintf("range [%q, %q)", start, end), lo, opts...)
	if err != nil {
		return nil, err
	}
	if first && t.overlay != nil && limit > 0 && resp.More {
		// The first read found a pending large change: its deletes may hide keys the limit left out.
		return t.Range(start, end, reverse, limit)
	}
	if t.write {
		t.recordScan(lo, hi, reverse, resp)
	}
	var locals []store.KV // the puts of writes and overlay in the range
	for k := range t.localKeys() {
		if w, _ := t.local(k); !w.del && in(k) {
			locals = append(locals, store.KV{Key: k, Value: clone(w.value)})
		}
	}

	out := make([]store.KV, 0, len(resp.Kvs)+len(locals))
	for _, kv := range resp.Kvs {
		k := string(kv.Key[len(t.s.prefix):])
		if _, mine := t.local(k); !mine && k != "" {
			out = append(out, store.KV{Key: k, Value: clone(kv.Value)})
		}
	}
	out = append(out, locals...)
	slices.SortFunc(out, func(a, b store.KV) int {
		if reverse {
			return strings.Compare(b.Key, a.Key)
		}
		return strings.Compare(a.Key, b.Key)
	})
	// Keys etcd did not return (beyond its limit) come after every key it did, so the first limit of the
	// merged list are right.
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// recordScan records the range a read covered: all of [lo, hi) when etcd returned everything in it, else
// the part up to the last key returned.
func (t *tx) recordScan(lo, hi string, reverse bool, resp *clientv3.GetResponse) {
	if n := len(resp.Kvs); n > 0 {
		t.fenced = true
		if resp.More {
			last := string(resp.Kvs[n-1].Key)
			if reverse {
				lo = last
			} else {
				hi = last + "\x00"
			}
		}
	}
	t.spans = append(t.spans, span{lo, hi})
}

// clone returns a copy of b that is never nil.
func clone(b []byte) []byte { return append([]byte{}, b...) }
