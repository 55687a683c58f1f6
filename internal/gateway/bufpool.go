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
