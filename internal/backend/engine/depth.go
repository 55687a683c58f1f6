package engine

import (
	"errors"
	"strconv"
)

// maxReplyDepth is how deep a script's reply may nest. Redis 7.0.15 stops at about 8,000 levels (Lua's
// C stack limit) with "reached lua stack limit". The library writes a script's reply recursively, one
// goroutine stack frame a level, with no limit: a table nested millions deep overflows the stack,
// which ends moat's whole process, and a table that holds itself never ends.
const maxReplyDepth = 8000

// errReplyTooDeep is what the script peer's writer (scriptOut) panics with when a reply nests past
// maxReplyDepth, to stop the library's recursion; conn.dispatchGuarded recovers it.
var errReplyTooDeep = errors.New("reply nested past maxReplyDepth")

// replyDepth follows the RESP2/RESP3 replies written through it, a write at a time, and reports a
// reply nesting past maxReplyDepth. It keeps only the elements left in each open aggregate and the
// part of a header line or blob a write cut.
type replyDepth struct {
	open   []int64 // elements still to come in each open aggregate, outermost first
	first  int64   // the elements of the first aggregate opened at the top (EXEC's array)
	line   []byte  // the part of a header line read so far (its first byte says what it is)
	inLine bool    // a line has begun and its LF has not come
	skip   int64   // bytes of a blob string's body and its CRLF still to pass
}

// feed takes the next bytes written; true when a reply now nests past maxReplyDepth.
func (d *replyDepth) feed(p []byte) bool {
	for len(p) > 0 {
		if d.skip > 0 {
			n := min(d.skip, int64(len(p)))
			p, d.skip = p[n:], d.skip-n
			if d.skip == 0 {
				d.done()
			}
			continue
		}
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if !d.inLine {
			d.inLine, d.line = true, d.line[:0]
		}
		if len(d.line) < 24 { // a type byte and a length; the rest of a status or error line is not needed
			d.line = append(d.line, p[:min(i, 24-len(d.line))]...)
		}
		if i == len(p) {
			return false // the line goes on in the next write
		}
		p, d.inLine = p[i+1:], false
		if d.header() {
			return true
		}
	}
	return false
}

// header takes a whole line: an aggregate's opens a level, a blob's is followed by its body, any
// other is an element.
func (d *replyDepth) header() bool {
	if len(d.line) == 0 {
		return false
	}
	n, err := strconv.ParseInt(string(trimCR(d.line[1:])), 10, 64)
	switch d.line[0] {
	case '*', '~', '>', '%':
		if err != nil || n <= 0 {
			d.done()
			return false
		}
		if d.line[0] == '%' {
			n *= 2
		}
		if len(d.open) == 0 && d.first == 0 {
			d.first = n
		}
		d.open = append(d.open, n)
		return len(d.open) > maxReplyDepth
	case '$', '=', '!':
		if err != nil || n < 0 {
			d.done()
			return false
		}
		d.skip = n + 2
		return false
	}
	d.done()
	return false
}

// current is the index of the element of the first top-level aggregate being written (its count once
// it is whole): for a cut EXEC, the queued command whose reply was being written.
func (d *replyDepth) current() int {
	if len(d.open) == 0 {
		return int(d.first)
	}
	return int(d.first - d.open[0])
}

// done counts one element of the innermost open aggregate, closing each that it completes.
func (d *replyDepth) done() {
	for len(d.open) > 0 {
		d.open[len(d.open)-1]--
		if d.open[len(d.open)-1] > 0 {
			return
		}
		d.open = d.open[:len(d.open)-1]
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
