package gateway

import "io"

// A PROXY header from a peer that is not a trusted load balancer is a protocol error (N5): the read path
// looks at a connection's first bytes for one (proxySniffer).

// PROXY protocol signatures.
var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	sigNo    = iota // not a PROXY header
	sigMatch        // starts with a PROXY header signature
	sigMore         // too short to tell
)

// proxySignature tells whether b starts with a PROXY protocol v1 or v2 signature.
func proxySignature(b []byte) int {
	res := sigNo
	for _, sig := range [][]byte{sigV1, sigV2} {
		n := min(len(b), len(sig))
		if string(b[:n]) != string(sig[:n]) {
			continue
		}
		if n == len(sig) {
			return sigMatch
		}
		res = sigMore
	}
	return res
}

// proxySniffer turns a PROXY header at the start of a connection from a peer that is not a trusted
// load balancer into a protocol error (N5): such a header is never taken as commands (v2's signature
// would read as an inline QUIT). Only the first bytes are inspected; reads pass straight through after.
type proxySniffer struct {
	r    io.Reader
	done bool
	// Used only when the caller's buffer is too small to hold a signature: the bytes read to decide,
	// delivered before anything else, then err.
	buf    [12]byte
	off, n int
	err    error
}

func (p *proxySniffer) Read(b []byte) (int, error) {
	switch {
	case p.off < p.n:
		k := copy(b, p.buf[p.off:p.n])
		p.off += k
		return k, nil
	case p.err != nil:
		return 0, p.err
	case p.done:
		return p.r.Read(b)
	case len(b) < len(p.buf):
		if err := p.sniffInto(p.buf[:], &p.n); err != nil && p.n == 0 {
			return 0, err
		} else if err != nil && err != errProxyHeader {
			p.err = err
		} else if err == errProxyHeader {
			return 0, err
		}
		return p.Read(b)
	}
	var n int
	err := p.sniffInto(b, &n)
	if err == errProxyHeader {
		return 0, err
	}
	return n, err
}

// sniffInto reads into b (at least 12 bytes) until its start is known to be a PROXY signature or not,
// or the source ends; *n counts the bytes read.
func (p *proxySniffer) sniffInto(b []byte, n *int) error {
	for {
		switch proxySignature(b[:*n]) {
		case sigMatch:
			return errProxyHeader
		case sigNo:
			p.done = true
			return nil
		}
		m, err := p.r.Read(b[*n:])
		*n += m
		if err != nil {
			if proxySignature(b[:*n]) == sigMatch {
				return errProxyHeader
			}
			p.done = true
			return err
		}
	}
}
