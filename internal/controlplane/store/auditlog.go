package store

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditLog keeps time-ordered records under one key prefix of a Store, with secondary indexes, so that a
// query by access key, action and instance — any combination — and time range reads only the records it
// returns, whatever else the log holds. It works through Tx alone, so every Store implementation carries it
// and a record is written in the same transaction as the change it records.
//
// Layout under Prefix, where sk is a record's 16-byte sort key (its time in Unix nanoseconds, then its
// sequence number, both big-endian):
//
//	Prefix+"r/"+sk                 the record: its indexed fields, its merge identity and its payload
//	Prefix+"x/"+idx+"/"+values+sk  one empty entry per index; idx names the fields it orders
//	                               (k, a, i, ka, ki, ai, kai: key, action, instance) and values holds
//	                               them, each escaped and terminated (indexValue)
//	Prefix+"id/"+id                the sk of the record merged under id (Merge)
//	Prefix+"seq", Prefix+"n"       the last sequence number assigned; how many records are kept
//
// An AuditLog is a value holding settings only: any number may work on the same Prefix, in any transaction.
type AuditLog struct {
	// Prefix is the key prefix the log owns, such as "auditlog/"; no other key may start with it.
	Prefix string
	// Retention is how long a record is kept, judged by its time against the time of the record being
	// added. 0 keeps records for ever.
	Retention time.Duration
	// MaxRecords bounds the records kept: adding one beyond it removes the oldest (trim). 0: no bound.
	MaxRecords int
}

// AuditFields are the indexed fields of a record.
type AuditFields struct {
	Time     time.Time // the record's place in the log; stored to the nanosecond
	Key      string    // the access key that made the call
	Action   string    // indexed without regard to case
	Instance string
}

// AuditRecord is a record read back from an AuditLog.
type AuditRecord struct {
	AuditFields
	Seq   uint64
	Value []byte // the payload the caller encoded; the caller's own copy
	// Cursor marks the record's place: AuditQuery.Before set to it continues with older records.
	Cursor string
}

// AuditQuery selects records. Empty fields match everything.
type AuditQuery struct {
	Key, Action, Instance string // Action matches without regard to case
	Since, Until          time.Time
	// Before, when set, is the Cursor of a record: only records older than it match (the next page).
	Before string
	// Limit is the most records returned; <= 0 means 100.
	Limit int
}

// ErrBadCursor is returned by Query for an AuditQuery.Before that no AuditRecord.Cursor could have been.
var ErrBadCursor = errors.New("not a cursor of this log")

// pruneBatch bounds the records one Append or Merge removes (expired ones, or the oldest beyond MaxRecords),
// so that pruning never turns a write into a scan and a write stays one small transaction: removing a record
// deletes 9 keys, so a write with its own change stays within etcd's default of 128 operations per
// transaction (etcdstore). A log written to keeps pace with its expiry as long as it does not shrink 8-fold
// from one Retention to the next, and catches up in any case.
const pruneBatch = 8

// maxIndexed bounds the bytes of a field an index holds: longer values share an index entry with every
// value of the same first maxIndexed bytes, and Query tells them apart on the record itself.
const maxIndexed = 256

// indexes names each index by the fields it orders: key, action, instance.
var indexes = [...]struct {
	name             string
	key, act, instnc bool
}{
	{"k", true, false, false}, {"a", false, true, false}, {"i", false, false, true},
	{"ka", true, true, false}, {"ki", true, false, true}, {"ai", false, true, true},
	{"kai", true, true, true},
}

// Append adds a record with fields f; encode returns its payload given the sequence number assigned
// (which callers usually store in the payload). It then removes expired records, a bounded number of them,
// and the oldest records beyond MaxRecords.
func (l AuditLog) Append(tx Tx, f AuditFields, encode func(seq uint64) ([]byte, error)) error {
	return l.add(tx, "", f, func(seq uint64, _ []byte) ([]byte, error) { return encode(seq) })
}

// Merge adds or replaces the record kept under id (for example one per caller and action, counting
// repeats): encode receives the replaced record's payload (nil if there is none) and returns the new one.
// The new record takes a new sequence number and f's time, so it moves to the head of the log. Like
// Append, it removes expired records and the oldest beyond MaxRecords; a record removed so forgets its id.
func (l AuditLog) Merge(tx Tx, id string, f AuditFields, encode func(seq uint64, prev []byte) ([]byte, error)) error {
	if id == "" {
		return errors.New("audit log merge: empty id")
	}
	return l.add(tx, id, f, encode)
}

func (l AuditLog) add(tx Tx, id string, f AuditFields, encode func(uint64, []byte) ([]byte, error)) error {
	n, err := l.counter(tx, "n")
	if err != nil {
		return err
	}
	var prev []byte
	if id != "" {
		old, err := tx.Get(l.Prefix + "id/" + id)
		switch {
		case err == nil:
			rec, err := l.get(tx, string(old))
			if err != nil {
				return err
			}
			prev = rec.Value
			if err := l.remove(tx, string(old), rec.AuditFields, ""); err != nil {
				return err
			}
			n--
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	seq, err := l.counter(tx, "seq")
	if err != nil {
		return err
	}
	seq++
	payload, err := encode(seq, prev)
	if err != nil {
		return err
	}
	sk := sortKey(f.Time, seq)
	if err := tx.Put(l.Prefix+"r/"+sk, envelope(f, id, payload)); err != nil {
		return err
	}
	for _, ix := range indexes {
		if err := tx.Put(l.indexKey(ix.name, f, sk), nil); err != nil {
			return err
		}
	}
	if id != "" {
		if err := tx.Put(l.Prefix+"id/"+id, []byte(sk)); err != nil {
			return err
		}
	}
	if err := tx.Put(l.Prefix+"seq", []byte(strconv.FormatUint(seq, 10))); err != nil {
		return err
	}
	n++
	if n, err = l.trim(tx, n, f.Time); err != nil {
		return err
	}
	return tx.Put(l.Prefix+"n", []byte(strconv.FormatUint(n, 10)))
}

// trim removes up to pruneBatch records, expired ones and the oldest beyond MaxRecords, and returns how many
// records are left. A log over MaxRecords by more than that (MaxRecords was lowered) shrinks by pruneBatch-1
// with every write until it is back within it.
func (l AuditLog) trim(tx Tx, n uint64, now time.Time) (uint64, error) {
	var cutoff string
	if l.Retention > 0 {
		cutoff = sortKey(now.Add(-l.Retention), 0)
	}
	excess := 0
	if l.MaxRecords > 0 && n > uint64(l.MaxRecords) {
		excess = int(n - uint64(l.MaxRecords))
	}
	if cutoff == "" && excess == 0 {
		return n, nil
	}
	base := l.Prefix + "r/"
	if excess == 0 {
		// Most writes find nothing expired: look at the oldest record alone first.
		oldest, err := tx.Range(base, PrefixEnd(base), false, 1)
		if err != nil || len(oldest) == 0 || oldest[0].Key[len(base):] >= cutoff {
			return n, err
		}
	}
	oldest, err := tx.Range(base, PrefixEnd(base), false, pruneBatch)
	if err != nil {
		return n, err
	}
	for i, kv := range oldest {
		sk := kv.Key[len(base):]
		if i >= excess && (cutoff == "" || sk >= cutoff) {
			break
		}
		f, id, _, err := openEnvelope(kv.Value)
		if err != nil {
			return n, fmt.Errorf("stored %s: %w", kv.Key, err)
		}
		f.Time = sortKeyTime(sk)
		if err := l.remove(tx, sk, f, id); err != nil {
			return n, err
		}
		n--
	}
	return n, nil
}

// remove deletes the record at sk with fields f, its index entries and, when id is set, its identity.
func (l AuditLog) remove(tx Tx, sk string, f AuditFields, id string) error {
	for _, ix := range indexes {
		if err := tx.Delete(l.indexKey(ix.name, f, sk)); err != nil {
			return err
		}
	}
	if id != "" {
		if err := tx.Delete(l.Prefix + "id/" + id); err != nil {
			return err
		}
	}
	return tx.Delete(l.Prefix + "r/" + sk)
}

// Len returns how many records the log keeps.
func (l AuditLog) Len(tx Tx) (int, error) {
	n, err := l.counter(tx, "n")
	return int(n), err
}

// Query returns the records q selects, newest first, and whether older ones may match too (then the
// last record's Cursor in q.Before reads on). It reads one index range: its cost is a seek plus the
// records returned, however many others the log holds.
func (l AuditLog) Query(tx Tx, q AuditQuery) (recs []AuditRecord, more bool, err error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	base := l.Prefix + "r/"
	f := AuditFields{Key: q.Key, Action: q.Action, Instance: q.Instance}
	name := ""
	for _, ix := range indexes {
		if ix.key == (q.Key != "") && ix.act == (q.Action != "") && ix.instnc == (q.Instance != "") {
			name = ix.name
		}
	}
	if name != "" {
		base = l.indexKey(name, f, "")
	}
	start, end := base, PrefixEnd(base)
	if !q.Since.IsZero() {
		start = base + sortKey(q.Since, 0)
	}
	if !q.Until.IsZero() {
		end = min(end, base+sortKey(q.Until, 0))
	}
	if q.Before != "" {
		sk, err := hex.DecodeString(q.Before)
		if err != nil || len(sk) != sortKeyLen {
			return nil, false, fmt.Errorf("cursor %q: %w", q.Before, ErrBadCursor)
		}
		end = min(end, base+string(sk))
	}
	kvs, err := tx.Range(start, end, true, q.Limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(kvs) > q.Limit {
		kvs, more = kvs[:q.Limit], true
	}
	for _, kv := range kvs {
		sk := kv.Key[len(base):]
		rec := AuditRecord{}
		if name == "" {
			rec, err = l.decode(kv.Key, sk, kv.Value)
		} else {
			rec, err = l.get(tx, sk)
		}
		if err != nil {
			return nil, false, err
		}
		if (q.Key == "" || rec.Key == q.Key) && (q.Instance == "" || rec.Instance == q.Instance) &&
			(q.Action == "" || strings.EqualFold(rec.Action, q.Action)) {
			recs = append(recs, rec)
		}
	}
	return recs, more, nil
}

// get reads the record at sk.
func (l AuditLog) get(tx Tx, sk string) (AuditRecord, error) {
	key := l.Prefix + "r/" + sk
	b, err := tx.Get(key)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit index names a missing record: %w", err)
	}
	return l.decode(key, sk, b)
}

func (l AuditLog) decode(key, sk string, b []byte) (AuditRecord, error) {
	f, _, payload, err := openEnvelope(b)
	if err != nil || len(sk) != sortKeyLen {
		return AuditRecord{}, fmt.Errorf("stored %q: not an audit record", key)
	}
	f.Time = sortKeyTime(sk)
	return AuditRecord{AuditFields: f, Seq: binary.BigEndian.Uint64([]byte(sk[8:])), Value: payload, Cursor: hex.EncodeToString([]byte(sk))}, nil
}

func (l AuditLog) counter(tx Tx, name string) (uint64, error) {
	b, err := tx.Get(l.Prefix + name)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stored %s%s %q: %w", l.Prefix, name, b, err)
	}
	return n, nil
}
