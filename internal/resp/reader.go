package resp

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ProtocolError is a client protocol violation. Its Error text is Redis's own ("Protocol error: …"),
// meant to be sent as "-ERR " + Error() before the connection is closed.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// Command is one client command.
type Command struct {
	// Raw is the bytes to forward: exactly what the client sent for a multibulk command, or the inline
	// command re-encoded as multibulk. When More is set, Raw ends where the held arguments end.
	Raw []byte
	// Args are the arguments; Args[0] is the command name as typed. Slices alias the Reader's memory.
	Args [][]byte
	// More reports a command too long to hold (Limits.MaxBuffered): Args holds only the arguments that fit
	// (possibly none) and the caller must call Reader.Continue before the next ReadBatch.
	More bool
	// Inline reports that the client sent an inline (telnet-style) command.
	Inline bool

	line int // an inline command's bytes in the input, its line ending included
}

// InputSize is how many bytes the command took in the client's input: Raw for a multibulk command (where
// More is set, up to where the held arguments end), the line for an inline one.
func (c *Command) InputSize() int {
	if c.Inline {
		return c.line
	}
	return len(c.Raw)
}

// Reader reads batches of commands from one client. It is not safe for concurrent use. Commands returned
// by ReadBatch stay valid until the next ReadBatch or Continue call.
type Reader struct {
	src  io.Reader
	lim  Limits
	buf  []byte
	r, w int // unread bytes are buf[r:w]

	cmds []Command
	args [][]byte
	inl  []byte // re-encoded inline commands of the current batch

	// Progress through an incomplete multibulk command starting at buf[r], kept across reads so a large
	// command is not re-parsed from its start after every read.
	part   partial
	stream streamState // remainder of a command handed out with More
	err    error       // sticky read or protocol error

	// With a lender (Lend), buf goes back to it while the Reader waits for input with nothing
	// buffered, and that read lands in small.
	lender *sync.Pool // of *[minBuffer]byte
	now    func([]byte) (int, error)
	small  [smallBuffer]byte
}

type partial struct {
	active bool
	nargs  int
	pos    int   // offset from r of the next header to parse
	offs   []int // pairs (offset from r, length) of the arguments parsed so far
}

type streamState struct {
	active   bool
	argsLeft int   // arguments still to stream, including the current bulk if inBulk
	bulkLeft int64 // bytes of the current bulk body plus its CRLF still to stream
}

const minBuffer = 16 * 1024

// smallBuffer is what an idle Reader with a lender reads into: a typical command or pipeline fits, a
// longer batch costs one more read.
const smallBuffer = 1024

// NewReader returns a Reader of src bounded by lim.
func NewReader(src io.Reader, lim Limits) *Reader {
	return &Reader{src: src, lim: lim, buf: make([]byte, minBuffer)}
}

// Reset makes rd a new Reader of src bounded by lim, reusing its memory (but a buffer grown for a long
// command, which is let go): for a pool of Readers. Commands handed out before are invalid after.
func (rd *Reader) Reset(src io.Reader, lim Limits) {
	buf := rd.buf
	if len(buf) != minBuffer {
		buf = nil // made or borrowed when needed
	}
	lender, now := rd.lender, rd.now
	if lender != nil && buf != nil {
		lender.Put((*[minBuffer]byte)(buf))
		buf = nil
	}
	*rd = Reader{src: src, lim: lim, buf: buf, cmds: rd.cmds[:0], args: rd.args[:0], inl: rd.inl[:0],
		part: partial{offs: rd.part.offs[:0]}, lender: lender, now: now}
	if cap(rd.args) > 4096 || cap(rd.inl) > minBuffer {
		rd.args, rd.inl = nil, nil
	}
}

// Lend makes rd give its 16 KiB buffer to p, and take one from it, so that a connection that waits for
// its next command holds no buffer: an idle Reader keeps only 1 KiB of its own. p holds
// *[16384]byte values and may be shared by many Readers (nil: rd keeps its buffer). now reads what the
// source holds already, without waiting: (0, nil) when nothing; after input that fills the 1 KiB, the
// rest of a long pipeline is taken with it, so that the pipeline stays one batch (nil: a longer
// pipeline may come as two batches).
func (rd *Reader) Lend(p *sync.Pool, now func([]byte) (int, error)) { rd.lender, rd.now = p, now }

// SetLimits changes the bounds for commands not yet parsed.
func (rd *Reader) SetLimits(lim Limits) { rd.lim = lim }

// Buffered reports how many received bytes are not yet handed out.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// Size is the size of the read buffer: 16 KiB, more while a long command is held, 0 while an idle
// Reader has lent it (Lend).
func (rd *Reader) Size() int { return len(rd.buf) }

// ReadBatch returns every complete command already buffered (up to Limits.MaxBuffered bytes), reading
// from the source once when none is. A protocol error is returned after the commands that preceded it have
// been returned by an earlier call; it is sticky. The returned slice is reused by the next call.
func (rd *Reader) ReadBatch() ([]Command, error) {
	if rd.err != nil {
		return nil, rd.err // sticky, also after a failed Continue
	}
	if rd.stream.active {
		return nil, errors.New("resp: ReadBatch before Continue finished the previous command")
	}
	rd.cmds = rd.cmds[:0]
	rd.args = rd.args[:0]
	rd.inl = rd.inl[:0]
	for {
		if err := rd.parseBuffered(); err != nil {
			if len(rd.cmds) > 0 {
				return rd.cmds, nil // the error is sticky and returned next time
			}
			return nil, err
		}
		if len(rd.cmds) > 0 {
			return rd.cmds, nil
		}
		if err := rd.fill(); err != nil {
			if !isTimeout(err) { // a read deadline leaves the Reader as it was: ReadBatch may be called again
				rd.err = err
			}
			return nil, err
		}
	}
}

// isTimeout reports an error of a read that timed out (net.Error's Timeout).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Idle reports whether rd holds no received byte and is in no command: nothing would be lost if it
// were reset.
func (rd *Reader) Idle() bool {
	return rd.r == rd.w && !rd.part.active && !rd.stream.active && rd.err == nil
}

// parseBuffered appends the complete commands in buf[r:w] to rd.cmds.
func (rd *Reader) parseBuffered() error {
	if rd.err != nil {
		return rd.err
	}
	start := rd.r
	// The MaxBuffered cap ends a batch only once it has a command: ignored input ("*0", empty lines) must
	// not make ReadBatch read (and block) while complete commands are buffered.
	for rd.r < rd.w && (rd.r-start < rd.lim.MaxBuffered || len(rd.cmds) == 0) {
		var done bool
		var err error
		if rd.part.active || rd.buf[rd.r] == '*' {
			done, err = rd.parseMultibulk()
		} else {
			done, err = rd.parseInline()
		}
		if err != nil {
			rd.err = err
			return err
		}
		if !done || rd.stream.active || (rd.lim.Unauthenticated && len(rd.cmds) > 0) {
			break
		}
	}
	return nil
}

// fill reads once from the source, first making room: unread bytes move to the front, and the buffer
// grows when an incomplete command needs more room than it has (up to the limits).
func (rd *Reader) fill() error {
	if rd.r == rd.w && !rd.part.active && (rd.buf == nil || len(rd.buf) == minBuffer) {
		if rd.lender != nil {
			return rd.fillIdle()
		}
		if rd.buf == nil {
			rd.buf = make([]byte, minBuffer)
		}
	}
	if rd.r > 0 {
		n := copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.w = 0, n
	}
	if rd.w == len(rd.buf) {
		limit := rd.lim.MaxBuffered + rd.lim.MaxInline + 64
		if len(rd.buf) >= limit {
			// Unreachable while the parsers stream long commands; a guard against a bug becoming a leak.
			return errTooBigRequest
		}
		nb := make([]byte, min(2*len(rd.buf), limit))
		copy(nb, rd.buf[:rd.w])
		rd.buf = nb
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// fillIdle is fill with nothing buffered and a lender: the buffer goes back while the read waits, and
// what arrives moves to a buffer borrowed again.
func (rd *Reader) fillIdle() error {
	if rd.buf != nil {
		rd.lender.Put((*[minBuffer]byte)(rd.buf))
		rd.buf = nil
	}
	n, err := rd.src.Read(rd.small[:])
	if a, ok := rd.lender.Get().(*[minBuffer]byte); ok {
		rd.buf = a[:]
	} else {
		rd.buf = make([]byte, minBuffer)
	}
	rd.r, rd.w = 0, copy(rd.buf, rd.small[:n])
	if n == len(rd.small) && rd.now != nil {
		// An error here shows again at the next read, after these bytes are parsed.
		if m, _ := rd.now(rd.buf[n:]); m > 0 {
			rd.w += m
		}
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parseInline parses one inline command at buf[r]. It reports false when the line is not complete.
func (rd *Reader) parseInline() (bool, error) {
	data := rd.buf[rd.r:rd.w]
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		if len(data) > rd.lim.MaxInline {
			return false, errTooBigInline
		}
		return false, nil
	}
	if nl > rd.lim.MaxInline {
		return false, errTooBigInline
	}
	line := data[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	first := len(rd.args)
	args, err := splitArgs(line, rd.args)
	if err != nil {
		return false, err
	}
	rd.args = args
	rd.r += nl + 1
	if len(rd.args) == first {
		return true, nil // empty line: Redis ignores it
	}
	if len(rd.args)-first > rd.lim.MaxArgs {
		return false, errInvalidMbulkLength
	}
	// Re-encode as multibulk so the backend sees one framing; Args then point into the encoding.
	rawStart := len(rd.inl)
	rd.inl = appendArrayHeader(rd.inl, len(rd.args)-first)
	for i := first; i < len(rd.args); i++ {
		rd.inl = appendBulkHeader(rd.inl, len(rd.args[i]))
		rd.inl = append(rd.inl, rd.args[i]...)
		rd.inl = append(rd.inl, '\r', '\n')
	}
	raw := rd.inl[rawStart:len(rd.inl):len(rd.inl)]
	// Point the arguments into raw (the split arguments may alias a scratch buffer).
	pos := 0
	_, pos = skipLine(raw, pos)
	for i := first; i < len(rd.args); i++ {
		_, pos = skipLine(raw, pos)
		n := len(rd.args[i])
		rd.args[i] = raw[pos : pos+n : pos+n]
		pos += n + 2
	}
	rd.cmds = append(rd.cmds, Command{Raw: raw, Args: rd.args[first:len(rd.args):len(rd.args)], Inline: true, line: nl + 1})
	return true, nil
}

func skipLine(b []byte, pos int) ([]byte, int) {
	i := bytes.IndexByte(b[pos:], '\n')
	return b[pos : pos+i], pos + i + 1
}

// parseMultibulk parses one multibulk command at buf[r], resuming from rd.part. It reports false when more
// bytes are needed. A command longer than MaxBuffered is handed out with More set.
func (rd *Reader) parseMultibulk() (bool, error) {
	p := &rd.part
	if !p.active {
		n, next, ok, err := rd.header(rd.r, '*', errTooBigMbulkCount, errInvalidMbulkLength, int64(rd.lim.MaxArgs))
		if err != nil || !ok {
			return false, err
		}
		if n <= 0 {
			rd.r = next // "*0" and "*-1" are no command at all
			return true, nil
		}
		if rd.lim.Unauthenticated && n > unauthMaxArgs {
			return false, errUnauthMbulkLength
		}
		*p = partial{active: true, nargs: int(n), pos: next - rd.r, offs: p.offs[:0]}
	}
	for len(p.offs)/2 < p.nargs {
		at := rd.r + p.pos
		n, next, ok, err := rd.header(at, '$', errTooBigBulkCount, errInvalidBulkLength, rd.lim.MaxBulk)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
		if rd.lim.Unauthenticated && n > unauthMaxBulk {
			return false, errUnauthBulkLength
		}
		if next-rd.r+int(min(n, int64(rd.lim.MaxBuffered)))+2 > rd.lim.MaxBuffered {
			// Too long to hold: hand out what is held and stream the rest from this header on.
			// (argsLeft is counted before emit, which empties p.offs.)
			rd.stream = streamState{active: true, argsLeft: p.nargs - len(p.offs)/2}
			rd.emit(at-rd.r, true)
			return true, nil
		}
		if int64(rd.w-next) < n+2 {
			return false, nil
		}
		p.offs = append(p.offs, next-rd.r, int(n))
		p.pos = next + int(n) + 2 - rd.r // like Redis, the two bytes after the body are not checked
	}
	rd.emit(p.pos, false)
	return true, nil
}

// emit hands out the command parsed so far, which occupies buf[r:r+size], and consumes it.
func (rd *Reader) emit(size int, more bool) {
	base := rd.r
	first := len(rd.args)
	for i := 0; i < len(rd.part.offs); i += 2 {
		o, n := base+rd.part.offs[i], rd.part.offs[i+1]
		rd.args = append(rd.args, rd.buf[o:o+n:o+n])
	}
	rd.cmds = append(rd.cmds, Command{
		Raw:  rd.buf[base : base+size : base+size],
		Args: rd.args[first:len(rd.args):len(rd.args)],
		More: more,
	})
	rd.r += size
	rd.part.active = false
	rd.part.offs = rd.part.offs[:0]
}

// header parses a "<prefix><integer>\r\n" line at buf[at]. ok is false when the line is not complete.
// Like Redis, the line ends at the first '\r' and the byte after it is not checked.
func (rd *Reader) header(at int, prefix byte, tooBig, invalid error, max int64) (n int64, next int, ok bool, err error) {
	data := rd.buf[at:rd.w]
	cr := bytes.IndexByte(data, '\r')
	if cr < 0 || cr+1 >= len(data) {
		// Too big only when the CR is known to lie beyond MaxInline, so that the outcome does not
		// depend on whether the byte after the CR has arrived yet.
		if (cr < 0 && len(data) > rd.lim.MaxInline) || cr > rd.lim.MaxInline {
			return 0, 0, false, tooBig
		}
		return 0, 0, false, nil
	}
	if cr > rd.lim.MaxInline {
		return 0, 0, false, tooBig
	}
	if data[0] != prefix {
		return 0, 0, false, errExpectedBulk(data[0])
	}
	v, valid := parseInt(data[1:cr])
	if !valid || v > max || (prefix == '$' && v < 0) {
		return 0, 0, false, invalid
	}
	return v, at + cr + 2, true, nil
}

// Continue writes the rest of a command handed out with More to w, streaming long arguments through the
// buffer in chunks. A denied command is discarded with Continue(io.Discard). After a read that timed
// out (a read deadline) Continue may be called again and resumes where it stopped; after any other error
// the connection must be closed: the command's framing is lost.
func (rd *Reader) Continue(w io.Writer) error {
	if rd.err != nil && rd.stream.active {
		return rd.err
	}
	s := &rd.stream
	for s.active {
		if s.bulkLeft > 0 {
			if rd.r == rd.w {
				if err := rd.fillStream(); err != nil {
					return err
				}
			}
			n := int(min(int64(rd.w-rd.r), s.bulkLeft))
			if _, err := w.Write(rd.buf[rd.r : rd.r+n]); err != nil {
				return err
			}
			rd.r += n
			s.bulkLeft -= int64(n)
			if s.bulkLeft == 0 {
				s.argsLeft--
			}
			continue
		}
		if s.argsLeft == 0 {
			s.active = false
			break
		}
		n, next, ok, err := rd.header(rd.r, '$', errTooBigBulkCount, errInvalidBulkLength, rd.lim.MaxBulk)
		if err != nil {
			rd.err = err
			return err
		}
		if !ok {
			if err := rd.fillStream(); err != nil {
				return err
			}
			continue
		}
		if _, err := w.Write(rd.buf[rd.r:next]); err != nil {
			return err
		}
		rd.r = next
		s.bulkLeft = n + 2
	}
	return nil
}

// fillStream reads more bytes while streaming; the buffer never grows here.
func (rd *Reader) fillStream() error {
	if rd.r > 0 {
		n := copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r, rd.w = 0, n
	}
	if rd.w == len(rd.buf) {
		rd.err = errTooBigBulkCount // a header line longer than the whole buffer
		return rd.err
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	if !isTimeout(err) { // as in ReadBatch: after a read deadline Continue may be called again
		rd.err = err
	}
	return err
}

// parseInt parses a decimal integer the way Redis's string2ll does: optional '-', no '+', no spaces,
// no leading zeros, no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		nv := v*10 + uint64(c-'0')
		if nv/10 != v {
			return 0, false
		}
		v = nv
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// printable renders one byte for an error line that must not contain CR or LF.
func printable(c byte) string {
	if c == '\r' || c == '\n' {
		return " "
	}
	return string([]byte{c})
}
