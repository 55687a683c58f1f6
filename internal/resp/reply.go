package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrReply reports a reply from the server that is not valid RESP2/RESP3. The connection it came from
// must be closed.
var ErrReply = errors.New("resp: malformed reply from server")

// ReplyInfo describes the top-level frame CopyReply copied. Head holds the first three elements of a
// top-level aggregate when they are strings of at most 64 bytes or integers (as decimal text), which is
// enough to tell pub/sub events and subscription confirmations apart from ordinary replies.
type ReplyInfo struct {
	Type  byte // '+', '-', ':', '$', '*', '%', '~', '>', …; the frame after any RESP3 attribute
	Len   int  // element count of an aggregate (-1 for a null array)
	Lead  byte // first byte of a simple string, error or number, long ones too (0 when empty or another type)
	NHead int
	Head  [3][]byte
	bufs  [3][64]byte
}

// IsPush reports a RESP3 push frame.
func (in *ReplyInfo) IsPush() bool { return in.Type == '>' }

// HeadString returns Head[i] as a string, or "" when it was not captured.
func (in *ReplyInfo) HeadString(i int) string {
	if i >= in.NHead || in.Head[i] == nil {
		return ""
	}
	return string(in.Head[i])
}

// CopyReply copies exactly one reply frame (including any RESP3 attribute before it) from src to dst
// without holding long strings whole: bulk bodies and long simple lines stream through. It fills info
// when info is not nil. src's buffer must hold a header line ("$<int64>\r\n"): 32 bytes or more.
// A frame cut short returns io.ErrUnexpectedEOF; io.EOF means src ended before the frame began.
func CopyReply(dst *bufio.Writer, src *bufio.Reader, info *ReplyInfo) error {
	return CopyReplyDrop(dst, src, info, nil)
}

// ErrDrop, returned by a write to CopyReplyDrop's destination, means that the rest of the frame is not
// wanted: CopyReplyDrop reads it to its end without copying any more of it.
var ErrDrop = errors.New("resp: rest of the reply not wanted")

// CopyReplyDrop is CopyReply whose destination may stop taking the frame by failing a write with
// ErrDrop: the rest of the frame is then read and dropped, and CopyReplyDrop returns nil once the whole
// frame has been read (dst keeps the error; Reset it before using it again). Bulk bodies being dropped
// are taken from src's buffer, and once it is empty, when drop is not nil, from the reader src reads
// from: drop must discard from 1 to n bytes of it and report how many, or fail (which ends the copy).
// Without drop they are read through src's buffer.
func CopyReplyDrop(dst *bufio.Writer, src *bufio.Reader, info *ReplyInfo, drop func(n int64) (int64, error)) error {
	if info != nil {
		info.NHead = 0
		info.Len = 0
		info.Lead = 0
	}
	c := copier{dst: dst, src: src, drop: drop}
	return c.frame(info)
}

type copier struct {
	dst      *bufio.Writer
	src      *bufio.Reader
	drop     func(n int64) (int64, error)
	dropping bool // dst failed a write with ErrDrop: the rest of the frame is read, not copied
}

// write copies p to dst unless the rest of the frame is being dropped; ErrDrop from dst starts that.
func (c *copier) write(p []byte) error {
	if c.dropping {
		return nil
	}
	_, err := c.dst.Write(p)
	if errors.Is(err, ErrDrop) {
		c.dropping = true
		return nil
	}
	return err
}

// line copies one CRLF-terminated line and returns it when it fits the reader's buffer (header lines do).
// A longer line is copied through in pieces; it returns nil and the line's first two bytes (type and
// lead), which the caller must check.
func (c *copier) line() ([]byte, [2]byte, error) {
	var first [2]byte
	l, err := c.src.ReadSlice('\n')
	if err == nil {
		if len(l) < 3 || l[len(l)-2] != '\r' {
			return nil, first, ErrReply
		}
		return l, first, c.write(l)
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if err == io.EOF && len(l) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, first, err
	}
	// A long line (a simple string, error or number): copy it through in pieces.
	copy(first[:], l) // a full buffer holds at least 16 bytes
	var last byte
	for errors.Is(err, bufio.ErrBufferFull) {
		if werr := c.write(l); werr != nil {
			return nil, first, werr
		}
		last = l[len(l)-1]
		l, err = c.src.ReadSlice('\n')
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, first, err
	}
	if len(l) >= 2 {
		last = l[len(l)-2]
	}
	if last != '\r' {
		return nil, first, ErrReply
	}
	return nil, first, c.write(l)
}

// simpleLine reports the types whose whole value is on the type line.
func simpleLine(t byte) bool {
	switch t {
	case '+', '-', ':', '_', ',', '#', '(':
		return true
	}
	return false
}

// unexpected turns a clean EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frame copies one frame (any attribute before it included) and fills info, when not nil, from it.
// Nested frames are copied by skip, which keeps a count instead of recursing: a reply may nest as
// deep as the server makes it.
func (c *copier) frame(info *ReplyInfo) error {
	for {
		l, first, err := c.line()
		if err != nil {
			return err
		}
		if l == nil { // a long line: only simple types are that long
			if !simpleLine(first[0]) {
				return fmt.Errorf("%w: unexpected type byte %q", ErrReply, first[0])
			}
			if info != nil {
				info.Type, info.Len, info.Lead = first[0], 0, first[1]
			}
			return nil
		}
		t := l[0]
		body := l[1 : len(l)-2]
		if info != nil {
			// Len and Lead are reset here too: an attribute's must not stay on the reply after it.
			info.Type, info.Len, info.Lead = t, 0, 0
			if len(body) > 0 && simpleLine(t) {
				info.Lead = body[0]
			}
		}
		n, err := frameCount(t, body)
		if err != nil {
			return err
		}
		switch t {
		case '$', '=', '!':
			return c.body(n)
		case '*', '~', '>', '%':
			if info != nil {
				info.Len = int(min(n, math.MaxInt))
				if t == '%' && info.Len >= 0 {
					info.Len /= 2
				}
			}
			i := int64(0)
			for ; info != nil && i < min(n, 3); i++ {
				if err := c.headElement(info, int(i)); err != nil {
					return unexpected(err)
				}
			}
			return unexpected(c.skip(n - i))
		case '|': // an attribute precedes the real reply
			if err := c.skip(n); err != nil {
				return unexpected(err)
			}
			if _, err := c.src.Peek(1); err != nil {
				return unexpected(err)
			}
		default:
			return nil
		}
	}
}

// frameCount checks a header line (type t, body the text between type byte and CRLF) and returns, for a
// bulk type, its length (-1: none to read) and for an aggregate the frames it holds (maps and
// attributes: two per entry; a null aggregate: -1); 0 for a simple type.
func frameCount(t byte, body []byte) (int64, error) {
	switch t {
	case '+', '-', ':', '_', ',', '#', '(':
		return 0, nil
	case '$', '=', '!':
		n, ok := parseInt(body)
		if !ok || n < -1 || n > math.MaxInt64-2 {
			return 0, ErrReply
		}
		return n, nil
	case '*', '~', '>', '%', '|':
		n, ok := parseInt(body)
		if !ok || n < -1 {
			return 0, ErrReply
		}
		if t == '%' || t == '|' {
			if n > math.MaxInt64/2 {
				return 0, ErrReply
			}
			n *= 2
		}
		return max(n, -1), nil
	}
	return 0, fmt.Errorf("%w: unexpected type byte %q", ErrReply, t)
}

// skip copies n whole frames. It counts the frames still owed rather than recursing, so nesting has no
// limit but the count, which must stay within int64 (a larger one is ErrReply).
func (c *copier) skip(n int64) error {
	for owed := max(n, 0); owed > 0; {
		l, first, err := c.line()
		if err != nil {
			return unexpected(err)
		}
		owed--
		if l == nil {
			if !simpleLine(first[0]) {
				return fmt.Errorf("%w: unexpected type byte %q", ErrReply, first[0])
			}
			continue
		}
		t := l[0]
		k, err := frameCount(t, l[1:len(l)-2])
		if err != nil {
			return err
		}
		switch t {
		case '$', '=', '!':
			if err := c.body(k); err != nil {
				return err
			}
		case '*', '~', '>', '%', '|':
			if t == '|' {
				k++ // the frame the attribute comes before
			}
			if k > 0 {
				if owed > math.MaxInt64-k {
					return ErrReply
				}
				owed += k
			}
		}
	}
	return nil
}

// headElement copies element i of a top-level aggregate and records it in info when short.
func (c *copier) headElement(info *ReplyInfo, i int) error {
	info.NHead = i + 1
	info.Head[i] = nil
	b, err := c.src.Peek(1)
	if err != nil {
		return err
	}
	switch b[0] {
	case '$', '+', ':':
		// b points into src's buffer, which reading the line may move: the type byte is line's to report.
		l, first, err := c.line()
		if err != nil {
			return err
		}
		if l == nil {
			if first[0] == '$' { // a bulk header is never that long
				return ErrReply
			}
			return nil
		}
		if b := l[1 : len(l)-2]; l[0] != '$' {
			if len(b) <= len(info.bufs[i]) {
				info.Head[i] = append(info.bufs[i][:0], b...)
			}
			return nil
		}
		n, ok := parseInt(l[1 : len(l)-2])
		if !ok || n < -1 || n > math.MaxInt64-2 {
			return ErrReply
		}
		if n == -1 {
			return nil
		}
		if n <= int64(len(info.bufs[i])) && int(n)+2 <= c.src.Size() {
			p, err := c.src.Peek(int(n) + 2)
			if err != nil {
				return err
			}
			info.Head[i] = append(info.bufs[i][:0], p[:n]...)
		}
		return c.body(n)
	default:
		return c.skip(1)
	}
}

// body copies n bytes plus the trailing CRLF through the reader's buffer, without allocating.
func (c *copier) body(n int64) error {
	if n < 0 { // a null bulk string
		return nil
	}
	n += 2
	for n > 0 {
		k := c.src.Buffered()
		if k == 0 && c.dropping && c.drop != nil {
			d, err := c.drop(n)
			if err != nil {
				return unexpected(err)
			}
			if d <= 0 || d > n {
				return fmt.Errorf("resp: drop discarded %d of %d bytes", d, n)
			}
			n -= d
			continue
		}
		if k == 0 {
			if _, err := c.src.Peek(1); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			k = c.src.Buffered()
		}
		if int64(k) > n {
			k = int(n)
		}
		p, _ := c.src.Peek(k)
		if err := c.write(p); err != nil {
			return err
		}
		c.src.Discard(k)
		n -= int64(k)
	}
	return nil
}

// FrameLen measures the reply frame (including any RESP3 attribute before it) at the start of b without
// copying it: n > 0 when b holds the whole frame, n == 0 when b holds only its beginning (or nothing).
// It accepts exactly what CopyReply accepts: an error wraps ErrReply, for a frame CopyReply refuses too.
// (A frame longer than the buffer it must fit in is left to CopyReply, which streams it.) Like
// CopyReply it counts the frames still owed instead of recursing: nesting has no limit.
func FrameLen(b []byte) (n int, err error) {
	pos := 0
	for owed := int64(1); owed > 0; {
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			return 0, nil
		}
		line := b[pos : pos+nl+1]
		pos += nl + 1
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return 0, ErrReply
		}
		t := line[0]
		k, err := frameCount(t, line[1:len(line)-2])
		if err != nil {
			return 0, err
		}
		owed--
		switch t {
		case '$', '=', '!':
			if k >= 0 {
				if k+2 > int64(len(b)-pos) {
					return 0, nil
				}
				pos += int(k) + 2
			}
		case '*', '~', '>', '%', '|':
			if t == '|' {
				k++ // the frame the attribute comes before
			}
			if k > 0 {
				if owed > math.MaxInt64-k {
					return 0, ErrReply
				}
				owed += k
			}
		}
		if owed > 0 && pos == len(b) {
			return 0, nil
		}
	}
	return pos, nil
}
