package gateway

import (
	"bytes"
	"testing"
)

// An inbox that grows past keepBuffer keeps its bytes, in arrays of the pooled capacities; what it
// outgrew, and what the pump wrote out, go back to the pool; an inbox beyond the largest class grows
// as append grows it.
func TestInboxBuffersGrow(t *testing.T) {
	last := inboxCaps[len(inboxCaps)-1]
	var b inboxBuffers
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var inbox, want []byte
	for len(inbox) < last+len(chunk) {
		inbox = b.appendTo(inbox, chunk)
		want = append(want, chunk...)
		if c := cap(inbox); len(inbox) > keepBuffer && len(inbox) <= last && c != inboxCaps[inboxClass(c)] {
			t.Fatalf("an inbox of %d bytes has capacity %d, not a pooled one", len(inbox), c)
		}
	}
	if !bytes.Equal(inbox, want) {
		t.Fatal("the inbox lost or changed bytes as it grew")
	}
	for _, tc := range []struct{ n, class int }{
		{1, 0}, {inboxCaps[0], 0}, {inboxCaps[0] + 1, 1}, {inboxLimit + 32<<10, len(inboxCaps) - 1}, {last + 1, -1},
	} {
		if got := inboxClass(tc.n); got != tc.class {
			t.Errorf("inboxClass(%d) = %d, want %d", tc.n, got, tc.class)
		}
	}
	b.put(make([]byte, 10, 3*keepBuffer)) // not a pooled capacity: left to the collector
	if v := b.classes[1].Get(); v != nil {
		t.Fatalf("an array of an odd capacity was pooled: %T", v)
	}
}

// BenchmarkInboxCycle is a long reply passing through an inbox: 64 KiB deliveries up to inboxLimit,
// then the pump takes the inbox and writes it out (one op: 4 MiB through).
func BenchmarkInboxCycle(b *testing.B) {
	var pool inboxBuffers
	chunk := make([]byte, 64<<10)
	b.ReportAllocs()
	b.SetBytes(inboxLimit)
	for range b.N {
		var inbox []byte
		for len(inbox) < inboxLimit {
			inbox = pool.appendTo(inbox, chunk)
		}
		pool.put(inbox)
	}
}
