package gateway

import (
	"bufio"
	"io"
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
}

const sessionBufferSize = 16 * 1024

func (p *sessionBuffers) commandReader(src io.Reader, lim resp.Limits) *resp.Reader {
	if rd, ok := p.cmds.Get().(*resp.Reader); ok {
		rd.Reset(src, lim)
		return rd
	}
	return resp.NewReader(src, lim)
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
