package etcdstore

// Large changes: an Update that writes more keys than etcd takes in one Txn (--max-txn-ops) still commits
// at once for every reader. Its commit is one Txn that stores the whole write set, encoded, as the
// fence's value (the marker); then the writes are applied to their keys in Txns of at most max-txn-ops
// operations, each only while the marker is still the one committed; then the fence is emptied. Every
// transaction reads the fence first (tx.start): while it holds a marker, the marker's writes overlay what
// etcd returns, so a reader sees the change whole from the marker's commit on, however far its keys have
// been applied. No Update commits while a marker is pending (each commit compares the fence empty or
// absent): one that read a marker applies it first — the writer that committed it may have died — and
// runs fn again. The write set, encoded, must fit in one request (--max-request-bytes): past that the
// Update is refused with store.ErrTooLarge as before.

import (
	"encoding/binary"
	"errors"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// largeVersion is the first byte of an encoded write set.
const largeVersion = 1

var errMalformed = errors.New("malformed encoding")

// encodeWrites encodes a write set in key order: per write, the key's length and bytes, 0 (put) with the
// value's length and bytes, or 1 (delete).
func encodeWrites(writes map[string]pending) []byte {
	keys := make([]string, 0, len(writes))
	for k := range writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte{largeVersion}
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		if w := writes[k]; w.del {
			b = append(b, 1)
		} else {
			b = append(b, 0)
			b = binary.AppendUvarint(b, uint64(len(w.value)))
			b = append(b, w.value...)
		}
	}
	return b
}

// decodeWrites decodes what encodeWrites encoded.
func decodeWrites(b []byte) (map[string]pending, error) {
	if len(b) == 0 || b[0] != largeVersion {
		return nil, errMalformed
	}
	b = b[1:]
	field := func() ([]byte, bool) {
		n, size := binary.Uvarint(b)
		if size <= 0 || uint64(len(b)-size) < n {
			return nil, false
		}
		f := b[size : size+int(n)]
		b = b[size+int(n):]
		return f, true
	}
	out := map[string]pending{}
	for len(b) > 0 {
		k, ok := field()
		if !ok || len(b) == 0 {
			return nil, errMalformed
		}
		kind := b[0]
		b = b[1:]
		switch kind {
		case 1:
			out[string(k)] = pending{del: true}
		case 0:
			v, ok := field()
			if !ok {
				return nil, errMalformed
			}
			out[string(k)] = pending{value: clone(v)}
		default:
			return nil, errMalformed
		}
	}
	return out, nil
}

// largeKeys returns the keys of an encoded write set, sorted (nil if it does not decode).
func largeKeys(b []byte) []string {
	w, err := decodeWrites(b)
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// commitLarge commits t's writes as a marker and applies them; errConflict means run fn again.
func (s *Store) commitLarge(t *tx) error {
	ctx, cancel := s.rpc()
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(s.compares(t)...).Then(clientv3.OpPut(s.fence, string(encodeWrites(t.writes)))).Commit()
	if err != nil {
		return s.commitFault(err)
	}
	if !resp.Succeeded {
		return errConflict
	}
	// Committed: readers see it whole. If applying it fails (etcd lost meanwhile), the next Update, of
	// any process, applies the rest.
	_ = s.apply(resp.Header.Revision, t.writes)
	return nil
}

// apply applies the large change committed at markerRev (writes) to its keys, then empties the fence.
// Each Txn applies only while the fence is still that marker, so applying again, or after another process
// applied it, changes nothing.
func (s *Store) apply(markerRev int64, writes map[string]pending) error {
	keys := make([]string, 0, len(writes))
	for k := range writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pendingMarker := clientv3.Compare(clientv3.ModRevision(s.fence), "=", markerRev)
	send := func(ops []clientv3.Op) (bool, error) {
		ctx, cancel := s.rpc()
		defer cancel()
		resp, err := s.cli.Txn(ctx).If(pendingMarker).Then(ops...).Commit()
		if err != nil {
			return false, s.fault("apply a large change", err)
		}
		return resp.Succeeded, nil
	}
	limit := s.opts.MaxRequestBytes - requestMargin
	var ops []clientv3.Op
	size := 0
	for _, k := range keys {
		w := writes[k]
		n := len(s.prefix) + len(k) + len(w.value) + opOverhead
		if len(ops) == s.opts.MaxTxnOps || (len(ops) > 0 && size+n > limit) {
			if ok, err := send(ops); !ok || err != nil {
				return err
			}
			ops, size = ops[:0], 0
		}
		if w.del {
			ops = append(ops, clientv3.OpDelete(s.prefix+k))
		} else {
			ops = append(ops, clientv3.OpPut(s.prefix+k, string(w.value)))
		}
		size += n
	}
	if len(ops) > 0 {
		if ok, err := send(ops); !ok || err != nil {
			return err
		}
	}
	_, err := send([]clientv3.Op{clientv3.OpPut(s.fence, "")})
	return err
}
