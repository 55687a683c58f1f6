package gateway

import (
	"bufio"
	"io"
	"net"
	"sync"

	"github.com/moat-dev/moat/internal/resp"
)

// sessionBuffers are the 16 KiB buffers every session needs (its command reader, the writer to the
// backend, the reader of backend replies, the writer to the client), pooled per instance: a new
// connection takes them from the last one that ended rather than allocating ~64 KiB for the garbage
// collector to sweep — the largest allocation of a short-lived connection. Safe for concurrent use.
type sessionBuffers struct {
	cmds    sync.Pool // *resp.Reader
	readers sync.Pool // *bufio.Reader
	writers sync.Pool // *bufio.Writer
	lent    sync.Pool // the command readers' buffers, lent while they wait (resp.Reader.Lend)
}

const sessionBufferSize = 16 * 1024

// commandReader returns a command reader of src. When src's bytes come straight from the socket raw
// (a plain TCP connection), the reader lends its buffer back while it waits (resp.Reader.Lend), so that
// an idle connection holds no 16 KiB buffer; arr, when not nil, is raw's arrival-stamping source.
func (p *sessionBuffers) commandReader(src io.Reader, lim resp.Limits, raw net.Conn, arr *arrivals) *resp.Reader {
	rd, ok := p.cmds.Get().(*resp.Reader)
	if ok {
		rd.Reset(src, lim)
	} else {
		rd = resp.NewReader(src, lim)
	}
	rd.Lend(nil, nil)
	if arr != nil {
		rd.Lend(&p.lent, arr.Now)
	} else if now := readNow(raw); now != nil {
		rd.Lend(&p.lent, now)
	}
	return rd
}

func (p *sessionBuffers) putCommandReader(rd *resp.Reader) {
	rd.Reset(nil, resp.Limits{}) // drop the connection, keep the memory
	rd.Lend(nil, nil)            // and its non-waiting read, which holds the socket
	p.cmds.Put(rd)
}

func (p *sessionBuffers) reader(r io.Reader) *bufio.Reader {
	if br, ok := p.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, sessionBufferSize)
}

func (p *sessionBuffers) putReader(br *bufio.Reader) {
	br.Reset(nil)
	p.readers.Put(br)
}

func (p *sessionBuffers) writer(w io.Writer) *bufio.Writer {
	if bw, ok := p.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, sessionBufferSize)
}

func (p *sessionBuffers) putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	p.writers.Put(bw)
}

// inboxBuffers pools the arrays of shared-lane inboxes (inbox.go) that outgrew keepBuffer, by capacity
// (inboxCaps): a long reply that passes through an inbox would otherwise allocate a new array of every
// size on its way up each time the pump took the inbox — most of what a gateway passing long replies
// asks the garbage collector to sweep. Kept only until the next collections (sync.Pool): an idle
// gateway holds none. Safe for concurrent use; the zero value is ready.
type inboxBuffers struct {
	classes [len(inboxCaps)]sync.Pool // *[]byte of capacity inboxCaps[i]
}

// inboxCaps are the pooled capacities: doubling from keepBuffer, and last what an inbox holds at most —
// inboxLimit, and one delivery more (a lane reader's buffer, 32 KiB).
var inboxCaps = [...]int{2 * keepBuffer, 4 * keepBuffer, 8 * keepBuffer, inboxLimit + 64<<10}

// appendTo returns buf with p appended, in a pooled array when buf must grow past keepBuffer; the array
// it outgrew goes back to the pool.
func (b *inboxBuffers) appendTo(buf, p []byte) []byte {
	need := len(buf) + len(p)
	if need <= cap(buf) || need <= keepBuffer {
		return append(buf, p...)
	}
	i := inboxClass(max(need, 2*cap(buf)))
	if i < 0 {
		i = inboxClass(need)
	}
	if i < 0 {
		return append(buf, p...)
	}
	var nb []byte
	if v, ok := b.classes[i].Get().(*[]byte); ok {
		nb = (*v)[:0]
	} else {
		nb = make([]byte, 0, inboxCaps[i])
	}
	nb = append(append(nb, buf...), p...)
	b.put(buf)
	return nb
}

// put gives an inbox array that nothing refers to any more back to the pool (one not of a pooled
// capacity is left to the collector).
func (b *inboxBuffers) put(buf []byte) {
	if i := inboxClass(cap(buf)); i >= 0 && cap(buf) == inboxCaps[i] {
		buf = buf[:0]
		b.classes[i].Put(&buf)
	}
}

// inboxClass is the class of the smallest pooled capacity of at least n, -1 when n is over them all.
func inboxClass(n int) int {
	for i, c := range inboxCaps {
		if n <= c {
			return i
		}
	}
	return -1
}
