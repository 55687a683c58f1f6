package store

import (
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// The keys and values an AuditLog stores (the layout is on AuditLog).

// indexKey is the key of index name's entry for a record with fields f at sk ("" for the index range
// holding every record with f's values).
func (l AuditLog) indexKey(name string, f AuditFields, sk string) string {
	var b strings.Builder
	b.WriteString(l.Prefix + "x/" + name + "/")
	for _, c := range name {
		switch c {
		case 'k':
			indexValue(&b, f.Key)
		case 'a':
			indexValue(&b, strings.ToLower(f.Action))
		case 'i':
			indexValue(&b, f.Instance)
		}
	}
	b.WriteString(sk)
	return b.String()
}

// indexValue writes v's first maxIndexed bytes with every 0x00 escaped as 0x00 0x01, then the terminator
// 0x00 0x00: no value's encoding is a prefix of another's, so an index range holds exactly one value.
func indexValue(b *strings.Builder, v string) {
	if len(v) > maxIndexed {
		v = v[:maxIndexed]
	}
	b.WriteString(strings.ReplaceAll(v, "\x00", "\x00\x01"))
	b.WriteString("\x00\x00")
}

const sortKeyLen = 16

// sortKey orders records by time, then sequence number.
func sortKey(t time.Time, seq uint64) string {
	var b [sortKeyLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(max(t.UnixNano(), 0)))
	binary.BigEndian.PutUint64(b[8:], seq)
	return string(b[:])
}

func sortKeyTime(sk string) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64([]byte(sk[:8])))).UTC()
}

// PrefixEnd returns the least key greater than every key starting with p, or "" (no bound) when there is
// none (p empty or all 0xff bytes): the end of the Range that List(p) reads.
func PrefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// envelope is a stored record: key, action, instance and merge id, each a uvarint length and its bytes,
// then the payload.
func envelope(f AuditFields, id string, payload []byte) []byte {
	b := make([]byte, 0, len(f.Key)+len(f.Action)+len(f.Instance)+len(id)+len(payload)+8)
	for _, s := range []string{f.Key, f.Action, f.Instance, id} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, payload...)
}

func openEnvelope(b []byte) (f AuditFields, id string, payload []byte, err error) {
	var fields [4]string
	for i := range fields {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return f, "", nil, errors.New("truncated audit record")
		}
		fields[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return AuditFields{Key: fields[0], Action: fields[1], Instance: fields[2]}, fields[3], b, nil
}
