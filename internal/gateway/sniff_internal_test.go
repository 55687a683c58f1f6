package gateway

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// chunks delivers data in reads of at most n bytes.
type chunks struct {
	data []byte
	n    int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

// The sniffer refuses exactly the streams that start with a PROXY signature, however they are cut
// into reads, and passes every other stream through unchanged.
func FuzzProxySniffer(f *testing.F) {
	for _, s := range []string{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "\r\n\r\n\x00\r\nQUIT\n\x21\x11", "*1\r\n$4\r\nPING\r\n",
		"PROX", "\r\n\r\n", "PING\r\n", "PROXYZ", ""} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		if len(data) > 256 {
			data = data[:256] // only the start matters
		}
		size := int(n%16) + 1
		sn := &proxySniffer{r: &chunks{data: append([]byte(nil), data...), n: size}}
		var r io.Reader = sn
		if n&0x80 != 0 {
			r = iotest.OneByteReader(sn) // the caller's buffer too small to hold a signature
		}
		out, err := io.ReadAll(r)
		header := bytes.HasPrefix(data, sigV1) || bytes.HasPrefix(data, sigV2)
		if header {
			if !errors.Is(err, errProxyHeader) || len(out) != 0 {
				t.Fatalf("%q in reads of %d: got %q, %v; want the PROXY header refused", data, size, out, err)
			}
			return
		}
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%q in reads of %d: got %q, %v; want it unchanged", data, size, out, err)
		}
	})
}
