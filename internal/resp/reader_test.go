package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/moat-dev/moat/internal/redistest"
)

// rec is one command as a test sees it, copied out of the Reader's memory.
type rec struct {
	Args   []string
	Raw    string
	Inline bool
	More   bool
	Rest   string // what Continue wrote, for a More command
}

func (r rec) String() string {
	return fmt.Sprintf("{Args:%q Raw:%q Inline:%v More:%v Rest:%d bytes}", r.Args, r.Raw, r.Inline, r.More, len(r.Rest))
}

// mb is a canonical multibulk command, il the same command typed inline.
func mb(args ...string) rec { return rec{Args: args, Raw: string(AppendCommand(nil, args...))} }
func il(args ...string) rec {
	return rec{Args: args, Raw: string(AppendCommand(nil, args...)), Inline: true}
}

func toRec(c Command) rec {
	r := rec{Raw: string(c.Raw), Inline: c.Inline, More: c.More, Args: []string{}}
	for _, a := range c.Args {
		r.Args = append(r.Args, string(a))
	}
	return r
}

// chunkReader hands out data in reads of next() bytes (at least one), then io.EOF.
type chunkReader struct {
	data []byte
	next func() int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(max(c.next(), 1), len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func randomChunks(in []byte, seed uint64, maxChunk int) io.Reader {
	rng := rand.New(rand.NewPCG(seed, 7))
	return &chunkReader{data: in, next: func() int { return 1 + rng.IntN(maxChunk) }}
}

// sources returns the same input split into reads in several ways: one read, one byte at a time, and
// random chunk sizes. The Reader's output must not depend on the split.
func sources(in []byte) []struct {
	name string
	r    io.Reader
} {
	return []struct {
		name string
		r    io.Reader
	}{
		{"whole", bytes.NewReader(in)},
		{"bytewise", iotest.OneByteReader(bytes.NewReader(in))},
		{"half", iotest.HalfReader(bytes.NewReader(in))},
		{"dataerr", iotest.DataErrReader(bytes.NewReader(in))},
		{"chunks3", randomChunks(in, 1, 3)},
		{"chunks17", randomChunks(in, 2, 17)},
		{"chunks300", randomChunks(in, 3, 300)},
	}
}

// inside reports whether sub lies within whole's memory (an empty sub is inside anything).
func inside(sub, whole []byte) bool {
	if len(sub) == 0 {
		return true
	}
	s := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	w := uintptr(unsafe.Pointer(unsafe.SliceData(whole)))
	return s >= w && s+uintptr(len(sub)) <= w+uintptr(len(whole))
}

// checkCommand asserts what holds for every command handed out.
func checkCommand(t testing.TB, c Command) {
	t.Helper()
	for i, a := range c.Args {
		if !inside(a, c.Raw) {
			t.Fatalf("Args[%d] %q does not point into Raw %q", i, a, c.Raw)
		}
		if cap(a) != len(a) {
			t.Fatalf("Args[%d] has spare capacity %d: an append would overwrite the Reader's memory", i, cap(a)-len(a))
		}
	}
	if cap(c.Raw) != len(c.Raw) || cap(c.Args) != len(c.Args) {
		t.Fatalf("Raw or Args has spare capacity")
	}
	if len(c.Raw) == 0 || c.Raw[0] != '*' {
		t.Fatalf("Raw %q is not a multibulk command", c.Raw)
	}
	if c.Inline {
		if c.More {
			t.Fatalf("inline command with More")
		}
		var want []byte
		want = appendArrayHeader(want, len(c.Args))
		for _, a := range c.Args {
			want = AppendBulk(want, a)
		}
		if !bytes.Equal(c.Raw, want) {
			t.Fatalf("inline Raw %q, want the multibulk encoding %q", c.Raw, want)
		}
	}
}

// bufBound is the most memory a Reader may hold for lim.
func bufBound(lim Limits) int { return max(minBuffer, lim.MaxBuffered+lim.MaxInline+64) }

// drain reads commands until an error, streaming every More command with Continue, and returns them
// with the error that ended the stream.
func drain(t testing.TB, rd *Reader) ([]rec, error) {
	t.Helper()
	var out []rec
	for range 10_000_000 {
		cmds, err := rd.ReadBatch()
		if len(rd.buf) > bufBound(rd.lim) {
			t.Fatalf("buffer grew to %d bytes, bound %d", len(rd.buf), bufBound(rd.lim))
		}
		if err != nil {
			if len(cmds) != 0 {
				t.Fatalf("ReadBatch returned %d commands with error %v", len(cmds), err)
			}
			return out, err
		}
		if len(cmds) == 0 {
			t.Fatalf("ReadBatch returned neither commands nor an error")
		}
		for i, c := range cmds {
			checkCommand(t, c)
			if c.More && i != len(cmds)-1 {
				t.Fatalf("command %d of %d has More: only the last one of a batch may", i, len(cmds))
			}
			out = append(out, toRec(c))
		}
		if last := cmds[len(cmds)-1]; last.More {
			var w bytes.Buffer
			err := rd.Continue(&w)
			out[len(out)-1].Rest = w.String()
			if len(rd.buf) > bufBound(rd.lim) {
				t.Fatalf("buffer grew to %d bytes while streaming, bound %d", len(rd.buf), bufBound(rd.lim))
			}
			if err != nil {
				return out, err
			}
		}
	}
	t.Fatalf("no end after 10M batches")
	return nil, nil
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func small(f func(*Limits)) Limits {
	lim := DefaultLimits()
	if f != nil {
		f(&lim)
	}
	return lim
}

type readerCase struct {
	name string
	in   string
	lim  func(*Limits) // changes to DefaultLimits
	want []rec
	err  string // error after the commands: "EOF" for a clean end
	// redis marks a protocol error case whose input, sent to redis-server 7.0 in one write, must be
	// answered with the same error (cases that use moat's own lower limits are not marked).
	redis bool
}

const (
	errInline     = "Protocol error: too big inline request"
	errMbulkBig   = "Protocol error: too big mbulk count string"
	errMbulkLen   = "Protocol error: invalid multibulk length"
	errBulkBig    = "Protocol error: too big bulk count string"
	errBulkLen    = "Protocol error: invalid bulk length"
	errUnbalanced = "Protocol error: unbalanced quotes in request"
)

func expected(c byte) string { return "Protocol error: expected '$', got '" + string(c) + "'" }

var readerCases = []readerCase{
	// Multibulk.
	{name: "one command", in: "*1\r\n$4\r\nPING\r\n", want: []rec{mb("PING")}},
	{name: "pipeline", in: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n",
		want: []rec{mb("SET", "k", "v"), mb("GET", "k"), mb("PING")}},
	{name: "*0 and *-1 are no command", in: "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n*-5\r\n*0\r\n", want: []rec{mb("PING")}},
	{name: "binary bulk with CRLF inside", in: "*2\r\n$4\r\necho\r\n$6\r\na\r\n\x00\xffb\r\n", want: []rec{mb("echo", "a\r\n\x00\xffb")}},
	{name: "empty bulk", in: "*2\r\n$4\r\necho\r\n$0\r\n\r\n", want: []rec{mb("echo", "")}},
	{name: "bytes after a bulk body are not checked, like Redis", in: "*1\r\n$3\r\nfooXX*1\r\n$4\r\nPING\r\n",
		want: []rec{{Args: []string{"foo"}, Raw: "*1\r\n$3\r\nfooXX"}, mb("PING")}},
	{name: "a header ends at its CR, the next byte is not checked", in: "*1\rX$3\rYfoo\r\n",
		want: []rec{{Args: []string{"foo"}, Raw: "*1\rX$3\rYfoo\r\n"}}},
	{name: "incomplete command at EOF is dropped", in: "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\n", want: []rec{mb("PING")}},
	{name: "header without LF at EOF", in: "*1\r", want: nil},

	// Inline.
	{name: "inline CRLF", in: "PING\r\n", want: []rec{il("PING")}},
	{name: "inline LF", in: "PING\n", want: []rec{il("PING")}},
	{name: "inline CR CR LF", in: "PING\r\r\n", want: []rec{il("PING")}},
	{name: "empty lines are ignored", in: "\r\n\n  \t \r\nPING\r\n\n\r\n", want: []rec{il("PING")}},
	{name: "inline without newline at EOF", in: "PING", want: nil},
	{name: "sdssplitargs quoting", in: `set k "a b\x41" 'it\'s'` + "\r\n", want: []rec{il("set", "k", "a bA", "it's")}},
	{name: "double-quote escapes", in: `echo "\n\r\t\b\a\\\"\q\x4\xZZ\x7e\x7E"` + "\n",
		want: []rec{il("echo", "\n\r\t\b\a\\\"qx4xZZ~~")}},
	{name: "single quotes keep backslashes", in: `echo 'a\b' 'c\'d' '' ""` + "\n", want: []rec{il("echo", `a\b`, "c'd", "", "")}},
	{name: "a quote inside a bare word continues the word", in: `echo a"b c" x'y z'` + "\n", want: []rec{il("echo", "ab c", "xy z")}},
	{name: "separators", in: "echo\ta  b\rc\r\n", want: []rec{il("echo", "a", "b", "c")}},
	{name: "VT and FF are part of a bare word", in: "echo a\vb\fc\r\n", want: []rec{il("echo", "a\vb\fc")}},
	{name: "VT and FF separate words after a closing quote and before a word", in: "\v\fecho \"a\"\vb\r\n", want: []rec{il("echo", "a", "b")}},
	{name: "unbalanced double quote", in: "set k \"abc\r\n", err: errUnbalanced, redis: true},
	{name: "unbalanced single quote", in: "set k 'abc\r\n", err: errUnbalanced, redis: true},
	{name: "escaped closing quote", in: "echo \"abc\\\"\r\n", err: errUnbalanced, redis: true},
	{name: "closing double quote followed by a letter", in: "echo \"a\"b\r\n", err: errUnbalanced, redis: true},
	{name: "closing single quote followed by a letter", in: "echo 'a'b\r\n", err: errUnbalanced, redis: true},
	{name: "unbalanced after a command", in: "PING\r\nset k \"x\r\n", want: []rec{il("PING")}, err: errUnbalanced, redis: true},
	{name: "inline and multibulk mixed", in: "PING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nECHO x\n*1\r\n$4\r\nQUIT\r\n",
		want: []rec{il("PING"), mb("GET", "k"), il("ECHO", "x"), mb("QUIT")}},

	// Protocol errors, in Redis 7.0's words.
	{name: "too big inline request", in: strings.Repeat("a", 64*1024+1), err: errInline, redis: true},
	{name: "too big mbulk count string", in: "*" + strings.Repeat("1", 64*1024), err: errMbulkBig, redis: true},
	{name: "mbulk count not a number", in: "*abc\r\n", err: errMbulkLen, redis: true},
	{name: "mbulk count empty", in: "*\r\n", err: errMbulkLen, redis: true},
	{name: "mbulk count leading zero", in: "*01\r\n", err: errMbulkLen, redis: true},
	{name: "mbulk count plus sign", in: "*+1\r\n", err: errMbulkLen, redis: true},
	{name: "mbulk count above INT_MAX", in: "*2147483648\r\n", err: errMbulkLen, redis: true},
	{name: "mbulk count above MaxArgs", in: "*1048577\r\n", err: errMbulkLen},
	{name: "expected $ got x", in: "*1\r\nx\r\n", err: expected('x'), redis: true},
	{name: "expected $ got : after an argument", in: "*2\r\n$3\r\nfoo\r\n:1\r\n", err: expected(':'), redis: true},
	{name: "expected $ got CR, shown as a space", in: "*1\r\n\r\n", err: expected(' '), redis: true},
	{name: "too big bulk count string", in: "*1\r\n$" + strings.Repeat("1", 64*1024), err: errBulkBig, redis: true},
	{name: "bulk length negative", in: "*1\r\n$-1\r\n", err: errBulkLen, redis: true},
	{name: "bulk length not a number", in: "*1\r\n$abc\r\n", err: errBulkLen, redis: true},
	{name: "bulk length empty", in: "*1\r\n$\r\n", err: errBulkLen, redis: true},
	{name: "bulk length leading zero", in: "*1\r\n$03\r\nfoo\r\n", err: errBulkLen, redis: true},
	{name: "bulk length plus sign", in: "*1\r\n$+3\r\nfoo\r\n", err: errBulkLen, redis: true},
	{name: "bulk length with a space", in: "*1\r\n$3 \r\nfoo\r\n", err: errBulkLen, redis: true},
	{name: "bulk length above proto-max-bulk-len", in: "*1\r\n$536870913\r\n", err: errBulkLen, redis: true},
	{name: "bulk length overflowing int64", in: "*1\r\n$99999999999999999999\r\n", err: errBulkLen, redis: true},
	{name: "commands before an error are returned", in: "*1\r\n$4\r\nPING\r\nECHO a\r\n*1\r\nx\r\n",
		want: []rec{mb("PING"), il("ECHO", "a")}, err: expected('x'), redis: true},

	// Limits, at the boundary: N accepted, N+1 refused.
	{name: "MaxArgs multibulk N", lim: func(l *Limits) { l.MaxArgs = 3 }, in: string(AppendCommand(nil, "a", "b", "c")), want: []rec{mb("a", "b", "c")}},
	{name: "MaxArgs multibulk N+1", lim: func(l *Limits) { l.MaxArgs = 3 }, in: string(AppendCommand(nil, "a", "b", "c", "d")), err: errMbulkLen},
	{name: "MaxArgs inline N", lim: func(l *Limits) { l.MaxArgs = 3 }, in: "a b c\r\n", want: []rec{il("a", "b", "c")}},
	{name: "MaxArgs inline N+1", lim: func(l *Limits) { l.MaxArgs = 3 }, in: "a b c d\r\n", err: errMbulkLen},
	{name: "MaxBulk N", lim: func(l *Limits) { l.MaxBulk = 5 }, in: string(AppendCommand(nil, "12345")), want: []rec{mb("12345")}},
	{name: "MaxBulk N+1", lim: func(l *Limits) { l.MaxBulk = 5 }, in: string(AppendCommand(nil, "123456")), err: errBulkLen},
	{name: "MaxInline N, LF", lim: func(l *Limits) { l.MaxInline = 8 }, in: "12345678\n", want: []rec{il("12345678")}},
	{name: "MaxInline N+1, LF", lim: func(l *Limits) { l.MaxInline = 8 }, in: "123456789\n", err: errInline},
	{name: "MaxInline N, CRLF", lim: func(l *Limits) { l.MaxInline = 8 }, in: "1234567\r\n", want: []rec{il("1234567")}},
	{name: "MaxInline N+1, CRLF", lim: func(l *Limits) { l.MaxInline = 8 }, in: "12345678\r\n", err: errInline},
	{name: "MaxInline N, no newline yet", lim: func(l *Limits) { l.MaxInline = 8 }, in: "12345678", want: nil},
	{name: "MaxInline N+1, no newline yet", lim: func(l *Limits) { l.MaxInline = 8 }, in: "123456789", err: errInline},
	{name: "MaxInline bounds the mbulk header N", lim: func(l *Limits) { l.MaxInline = 3 }, in: "*1\r\n$10\r\n0123456789\r\n", want: []rec{mb("0123456789")}},
	{name: "MaxInline bounds the mbulk header N+1", lim: func(l *Limits) { l.MaxInline = 2 }, in: "*1\r\n$10\r\n0123456789\r\n", err: errBulkBig},
	{name: "MaxInline bounds the * header", lim: func(l *Limits) { l.MaxInline = 1 }, in: "*1\r\n$1\r\na\r\n", err: errMbulkBig},
	{name: "MaxInline bounds an incomplete * header", lim: func(l *Limits) { l.MaxInline = 3 }, in: "*1234", err: errMbulkBig},
	{name: "MaxInline N incomplete header ending in CR", lim: func(l *Limits) { l.MaxInline = 3 }, in: "*1\r\n$10\r", want: nil},

	// Streaming (MaxBuffered): the held part, then the rest through Continue.
	{name: "MaxBuffered N held whole", lim: func(l *Limits) { l.MaxBuffered = 64 }, in: string(AppendCommand(nil, strings.Repeat("x", 53))),
		want: []rec{mb(strings.Repeat("x", 53))}},
	{name: "MaxBuffered N+1 streamed", lim: func(l *Limits) { l.MaxBuffered = 64 }, in: string(AppendCommand(nil, strings.Repeat("x", 54))),
		want: []rec{{Args: []string{}, Raw: "*1\r\n", More: true, Rest: "$54\r\n" + strings.Repeat("x", 54) + "\r\n"}}},
	{name: "streamed command between others", lim: func(l *Limits) { l.MaxBuffered = 64 },
		in: "PING\r\n" + string(AppendCommand(nil, "set", "k", strings.Repeat("v", 10000), "EX", "10")) + "*1\r\n$4\r\nQUIT\r\n",
		want: []rec{il("PING"), {Args: []string{"set", "k"}, Raw: "*5\r\n$3\r\nset\r\n$1\r\nk\r\n", More: true,
			Rest: "$10000\r\n" + strings.Repeat("v", 10000) + "\r\n$2\r\nEX\r\n$2\r\n10\r\n"}, mb("QUIT")}},
	{name: "bad header in the streamed remainder", lim: func(l *Limits) { l.MaxBuffered = 64 },
		in:   "*3\r\n$3\r\nset\r\n$100\r\n" + strings.Repeat("v", 100) + "\r\nx1\r\n",
		want: []rec{{Args: []string{"set"}, Raw: "*3\r\n$3\r\nset\r\n", More: true, Rest: "$100\r\n" + strings.Repeat("v", 100) + "\r\n"}},
		err:  expected('x')},
	{name: "bad length in the streamed remainder", lim: func(l *Limits) { l.MaxBuffered = 64 },
		in:   "*3\r\n$3\r\nset\r\n$100\r\n" + strings.Repeat("v", 100) + "\r\n$-3\r\n",
		want: []rec{{Args: []string{"set"}, Raw: "*3\r\n$3\r\nset\r\n", More: true, Rest: "$100\r\n" + strings.Repeat("v", 100) + "\r\n"}},
		err:  errBulkLen},
	{name: "EOF in the streamed remainder", lim: func(l *Limits) { l.MaxBuffered = 64 },
		in:   "*2\r\n$3\r\nset\r\n$100\r\nvvv",
		want: []rec{{Args: []string{"set"}, Raw: "*2\r\n$3\r\nset\r\n", More: true, Rest: "$100\r\nvvv"}}},
}

func TestReaderCases(t *testing.T) {
	for _, tc := range readerCases {
		t.Run(tc.name, func(t *testing.T) {
			wantErr := tc.err
			if wantErr == "" {
				wantErr = "EOF"
			}
			for _, src := range sources([]byte(tc.in)) {
				got, err := drain(t, NewReader(src.r, small(tc.lim)))
				if !reflect.DeepEqual(got, orEmpty(tc.want)) && !(len(got) == 0 && len(tc.want) == 0) {
					t.Errorf("%s: commands\n got %v\nwant %v", src.name, got, tc.want)
				}
				if errText(err) != wantErr {
					t.Errorf("%s: error %q, want %q", src.name, errText(err), wantErr)
				}
				var pe *ProtocolError
				if strings.HasPrefix(wantErr, "Protocol error: ") != errors.As(err, &pe) {
					t.Errorf("%s: error %v: is ProtocolError %v", src.name, err, errors.As(err, &pe))
				}
			}
		})
	}
}

func orEmpty(r []rec) []rec {
	for i := range r {
		if r[i].Args == nil {
			r[i].Args = []string{}
		}
	}
	return r
}

// A protocol error comes after every command that preceded it, in the next call, and stays.
func TestReaderErrorAfterCommandsAndSticky(t *testing.T) {
	in := "*1\r\n$4\r\nPING\r\nGET k\r\n*1\r\nx\r\n*1\r\n$4\r\nPING\r\n"
	rd := NewReader(strings.NewReader(in), DefaultLimits())
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 2 {
		t.Fatalf("first batch: %d commands, %v; want the 2 commands before the error", len(cmds), err)
	}
	for range 3 {
		cmds, err = rd.ReadBatch()
		if len(cmds) != 0 || errText(err) != expected('x') {
			t.Fatalf("after the commands: %d commands, %v; want %q", len(cmds), err, expected('x'))
		}
	}
	if err := rd.Continue(io.Discard); err != nil {
		t.Fatalf("Continue with nothing to continue: %v", err)
	}
}

// One ReadBatch returns a whole pipeline that arrived in one read, and the Raw bytes concatenate back
// to the input.
func TestReadBatchPipeline(t *testing.T) {
	var in []byte
	for i := range 200 {
		in = AppendCommand(in, "SET", "key:"+strconv.Itoa(i), "value")
	}
	if len(in) > minBuffer {
		t.Fatalf("test input %d bytes does not fit one read", len(in))
	}
	rd := NewReader(bytes.NewReader(in), DefaultLimits())
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 200 {
		t.Fatalf("ReadBatch: %d commands, %v; want 200", len(cmds), err)
	}
	var raw []byte
	for i, c := range cmds {
		raw = append(raw, c.Raw...)
		if string(c.Args[1]) != "key:"+strconv.Itoa(i) {
			t.Fatalf("command %d: Args %q", i, c.Args)
		}
	}
	if !bytes.Equal(raw, in) {
		t.Fatalf("Raw concatenation differs from the input")
	}
	if _, err := rd.ReadBatch(); err != io.EOF {
		t.Fatalf("after the pipeline: %v, want EOF", err)
	}
}

// A batch ends after MaxBuffered bytes even when more commands are buffered; the next call returns
// them without reading.
func TestReadBatchEndsAtMaxBuffered(t *testing.T) {
	cmd := AppendCommand(nil, "SET", "k", "0123456789") // 36 bytes
	in := bytes.Repeat(cmd, 10)
	src := &countingReader{r: bytes.NewReader(in)}
	rd := NewReader(src, small(func(l *Limits) { l.MaxBuffered = 100 }))
	var sizes []int
	total := 0
	for {
		cmds, err := rd.ReadBatch()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(cmds))
		total += len(cmds)
	}
	if total != 10 || !reflect.DeepEqual(sizes, []int{3, 3, 3, 1}) {
		t.Fatalf("batch sizes %v, want [3 3 3 1]", sizes)
	}
	if src.reads != 2 { // the data, then EOF
		t.Fatalf("%d reads, want 2", src.reads)
	}
}

type countingReader struct {
	r     io.Reader
	reads int
	n     int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Every command of a batch stays intact until the next call, whatever the caller does with the others:
// many inline commands (their re-encodings outgrow the scratch buffer), many arguments, and appends to
// the returned slices.
func TestReadBatchNoAliasing(t *testing.T) {
	var in []byte
	var want []rec
	for i := range 120 {
		v := strings.Repeat(strconv.Itoa(i), 1+i%7)
		if i%2 == 0 {
			in = fmt.Appendf(in, "set \"k %d\" '%s' plain%d\r\n", i, v, i)
			want = append(want, il("set", "k "+strconv.Itoa(i), v, "plain"+strconv.Itoa(i)))
		} else {
			in = AppendCommand(in, "set", "k"+strconv.Itoa(i), v)
			want = append(want, mb("set", "k"+strconv.Itoa(i), v))
		}
	}
	if len(in) > minBuffer {
		t.Fatalf("test input %d bytes does not fit one read", len(in))
	}
	rd := NewReader(bytes.NewReader(in), DefaultLimits())
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != len(want) {
		t.Fatalf("ReadBatch: %d commands, %v; want %d", len(cmds), err, len(want))
	}
	// Appending to one command's slices must not reach into another's.
	for i := range cmds {
		_ = append(cmds[i].Args, []byte("junk"))
		_ = append(cmds[i].Raw, "junkjunkjunk"...)
		if len(cmds[i].Args) > 0 {
			_ = append(cmds[i].Args[0], "junk"...)
		}
	}
	for i, c := range cmds {
		checkCommand(t, c)
		if got := toRec(c); !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("command %d after the batch: %v, want %v", i, got, want[i])
		}
	}
}

// A command longer than MaxBuffered: the arguments that fit, then exactly the remaining bytes through
// Continue, then the next command.
func TestReaderContinue(t *testing.T) {
	big := strings.Repeat("v", 10_000)
	first := AppendCommand(nil, "SET", "k", big)
	in := append(append([]byte(nil), first...), AppendCommand(nil, "GET", "k")...)
	for _, src := range sources(in) {
		rd := NewReader(src.r, small(func(l *Limits) { l.MaxBuffered = 64 }))
		cmds, err := rd.ReadBatch()
		if err != nil || len(cmds) != 1 || !cmds[0].More {
			t.Fatalf("%s: %d commands, %v; want one with More", src.name, len(cmds), err)
		}
		if got := toRec(cmds[0]).Args; !reflect.DeepEqual(got, []string{"SET", "k"}) {
			t.Fatalf("%s: held Args %q", src.name, got)
		}
		raw := string(cmds[0].Raw)
		if _, err := rd.ReadBatch(); err == nil {
			t.Fatalf("%s: ReadBatch before Continue succeeded", src.name)
		}
		var w bytes.Buffer
		if err := rd.Continue(&w); err != nil {
			t.Fatalf("%s: Continue: %v", src.name, err)
		}
		if raw+w.String() != string(first) {
			t.Fatalf("%s: Raw+Continue is %d bytes, differs from the %d-byte command", src.name, len(raw)+w.Len(), len(first))
		}
		cmds, err = rd.ReadBatch()
		if err != nil || len(cmds) != 1 || !reflect.DeepEqual(toRec(cmds[0]), mb("GET", "k")) {
			t.Fatalf("%s: after Continue: %v, %v", src.name, cmds, err)
		}
	}
}

// Continue(io.Discard) drops a denied command's remainder and the reader carries on.
func TestReaderContinueDiscard(t *testing.T) {
	in := AppendCommand(nil, "SET", "k", strings.Repeat("v", 100_000))
	in = AppendCommand(in, "PING")
	rd := NewReader(bytes.NewReader(in), small(func(l *Limits) { l.MaxBuffered = 64 }))
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 1 || !cmds[0].More {
		t.Fatalf("%v, %v", cmds, err)
	}
	if err := rd.Continue(io.Discard); err != nil {
		t.Fatal(err)
	}
	cmds, err = rd.ReadBatch()
	if err != nil || len(cmds) != 1 || string(cmds[0].Args[0]) != "PING" {
		t.Fatalf("after discarding: %v, %v", cmds, err)
	}
}

// A protocol error in a streamed remainder is sticky: Continue and ReadBatch keep returning it.
func TestReaderContinueErrorSticky(t *testing.T) {
	in := "*3\r\n$3\r\nset\r\n$100\r\n" + strings.Repeat("v", 100) + "\r\nx1\r\n*1\r\n$4\r\nPING\r\n"
	rd := NewReader(strings.NewReader(in), small(func(l *Limits) { l.MaxBuffered = 64 }))
	if cmds, err := rd.ReadBatch(); err != nil || len(cmds) != 1 || !cmds[0].More {
		t.Fatalf("%v, %v", cmds, err)
	}
	if err := rd.Continue(io.Discard); errText(err) != expected('x') {
		t.Fatalf("Continue: %v, want %q", err, expected('x'))
	}
	for range 2 {
		if err := rd.Continue(io.Discard); errText(err) != expected('x') {
			t.Fatalf("Continue again: %v, want %q", err, expected('x'))
		}
		if cmds, err := rd.ReadBatch(); len(cmds) != 0 || errText(err) != expected('x') {
			t.Fatalf("ReadBatch after the error: %d commands, %v; want %q", len(cmds), err, expected('x'))
		}
	}
}

// patternSource produces head, an n-byte value, CRLF and tail without holding the value.
type patternSource struct {
	head, tail []byte
	n, off     int64 // value length; bytes of the whole stream produced so far
	maxRead    int
}

// patternBlock repeats the value pattern: byte i of a value is patternBlock[i%patternPeriod].
var patternBlock = func() []byte {
	b := make([]byte, patternPeriod*1000)
	for i := range b {
		b[i] = byte('a' + i%patternPeriod)
	}
	return b
}()

const patternPeriod = 23

// patternAt returns the value's bytes from offset v on, at most limit of them.
func patternAt(v, limit int64) []byte {
	seg := patternBlock[v%patternPeriod:]
	return seg[:min(int64(len(seg)), limit)]
}

func (p *patternSource) total() int64 { return int64(len(p.head)) + p.n + 2 + int64(len(p.tail)) }

func (p *patternSource) Read(b []byte) (int, error) {
	p.maxRead = max(p.maxRead, len(b))
	h, n := int64(len(p.head)), p.n
	i := 0
	for i < len(b) && p.off < p.total() {
		o := p.off
		var k int
		switch {
		case o < h:
			k = copy(b[i:], p.head[o:])
		case o < h+n:
			k = copy(b[i:], patternAt(o-h, h+n-o))
		case o < h+n+2:
			k = copy(b[i:], "\r\n"[o-h-n:])
		default:
			k = copy(b[i:], p.tail[o-h-n-2:])
		}
		i += k
		p.off += int64(k)
	}
	if i == 0 {
		return 0, io.EOF
	}
	return i, nil
}

// checkWriter verifies streamed bytes against header, value pattern and CRLF as they arrive, and
// records the Reader's buffer size at every write.
type checkWriter struct {
	t      *testing.T
	rd     *Reader
	header []byte
	n, off int64
	maxBuf int
}

func (w *checkWriter) Write(b []byte) (int, error) {
	w.maxBuf = max(w.maxBuf, len(w.rd.buf))
	total := len(b)
	h, n := int64(len(w.header)), w.n
	for len(b) > 0 {
		o := w.off
		var seg []byte
		switch {
		case o < h:
			seg = w.header[o:]
		case o < h+n:
			seg = patternAt(o-h, h+n-o)
		case o < h+n+2:
			seg = []byte("\r\n")[o-h-n:]
		default:
			w.t.Fatalf("Continue wrote beyond the command, at offset %d", o)
		}
		k := min(len(seg), len(b))
		if !bytes.Equal(b[:k], seg[:k]) {
			w.t.Fatalf("Continue wrote %q at offset %d, want %q", b[:k], o, seg[:k])
		}
		b = b[k:]
		w.off += int64(k)
	}
	return total, nil
}

// A 64 MiB value streams through a Reader whose buffer stays within its bound.
func TestReaderStreams64MiB(t *testing.T) {
	const n = 64 << 20
	for _, lim := range []Limits{small(func(l *Limits) { l.MaxBuffered = 64 }), DefaultLimits()} {
		header := []byte("$" + strconv.Itoa(n) + "\r\n")
		src := &patternSource{head: append([]byte("*3\r\n$3\r\nset\r\n$1\r\nk\r\n"), header...), tail: AppendCommand(nil, "PING"), n: n}
		rd := NewReader(src, lim)
		cmds, err := rd.ReadBatch()
		if err != nil || len(cmds) != 1 || !cmds[0].More || len(cmds[0].Args) != 2 {
			t.Fatalf("MaxBuffered %d: %v, %v", lim.MaxBuffered, cmds, err)
		}
		w := &checkWriter{t: t, rd: rd, header: header, n: n}
		if err := rd.Continue(w); err != nil {
			t.Fatal(err)
		}
		if w.off != int64(len(w.header))+n+2 {
			t.Fatalf("Continue wrote %d bytes, want %d", w.off, int64(len(w.header))+n+2)
		}
		cmds, err = rd.ReadBatch()
		if err != nil || len(cmds) != 1 || string(cmds[0].Args[0]) != "PING" {
			t.Fatalf("after the value: %v, %v", cmds, err)
		}
		if _, err := rd.ReadBatch(); err != io.EOF {
			t.Fatalf("end: %v", err)
		}
		if w.maxBuf > bufBound(lim) || len(rd.buf) > bufBound(lim) || src.maxRead > bufBound(lim) {
			t.Fatalf("buffer reached %d bytes (read size %d), bound %d", max(w.maxBuf, len(rd.buf)), src.maxRead, bufBound(lim))
		}
		t.Logf("MaxBuffered %d: buffer %d bytes for a %d-byte value", lim.MaxBuffered, w.maxBuf, n)
	}
}

// Arbitrary bytes in random chunkings give the same commands as one read, and as the oracle.
func TestReaderMatchesOracleOnRandomInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(2024, 11))
	pieces := []string{"*", "$", "\r\n", "\r", "\n", "0", "1", "2", "3", "-1", "10", "a", "b", " ", "\"", "'", "\\", "x4",
		"*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*0\r\n", "*-1\r\n", "$3\r\nfoo\r\n", "$20\r\n", "PING\r\n", "set k 'v'\n"}
	for i := range 3000 {
		var in []byte
		for range rng.IntN(30) {
			in = append(in, pieces[rng.IntN(len(pieces))]...)
		}
		lim := Limits{MaxInline: 1 + rng.IntN(20), MaxArgs: 1 + rng.IntN(5), MaxBulk: int64(1 + rng.IntN(30)), MaxBuffered: 1 + rng.IntN(60)}
		want, wantErr := refRead(in, lim)
		for _, src := range sources(in) {
			got, err := drain(t, NewReader(src.r, lim))
			if !reflect.DeepEqual(got, want) || errText(err) != errText(wantErr) {
				t.Fatalf("case %d %s: input %q, limits %+v\n got %v, %v\nwant %v, %v", i, src.name, in, lim, got, err, want, wantErr)
			}
		}
	}
}

// refRead is the oracle for the Reader: a plain parser of the whole input at once, with the same
// limits, giving the commands (streamed remainders included) and the error that ends them.
func refRead(in []byte, lim Limits) ([]rec, error) {
	var out []rec
	pos := 0
	for pos < len(in) {
		if in[pos] != '*' {
			rest := in[pos:]
			nl := bytes.IndexByte(rest, '\n')
			if nl < 0 {
				if len(rest) > lim.MaxInline {
					return out, protoErr("too big inline request")
				}
				return out, io.EOF
			}
			if nl > lim.MaxInline {
				return out, protoErr("too big inline request")
			}
			line := bytes.TrimSuffix(rest[:nl], []byte("\r"))
			args, err := splitArgs(line, nil)
			if err != nil {
				return out, err
			}
			pos += nl + 1
			if len(args) == 0 {
				continue
			}
			if len(args) > lim.MaxArgs {
				return out, protoErr("invalid multibulk length")
			}
			r := rec{Inline: true, Args: []string{}}
			for _, a := range args {
				r.Args = append(r.Args, string(a))
			}
			r.Raw = string(AppendCommand(nil, r.Args...))
			out = append(out, r)
			continue
		}
		start := pos
		n, at, err := refHeader(in, pos, '*', "too big mbulk count string", "invalid multibulk length", int64(lim.MaxArgs), lim)
		if err != nil {
			return out, err
		}
		if n <= 0 {
			pos = at
			continue
		}
		r := rec{Args: []string{}}
		streamed := false
		for i := int64(0); i < n; i++ {
			bn, next, err := refHeader(in, at, '$', "too big bulk count string", "invalid bulk length", lim.MaxBulk, lim)
			if err != nil {
				return out, err
			}
			if next-start+int(min(bn, int64(lim.MaxBuffered)))+2 > lim.MaxBuffered {
				r.Raw, r.More = string(in[start:at]), true
				end, err := refStream(in, at, n-i, lim)
				r.Rest = string(in[at:end])
				out = append(out, r)
				if err != nil {
					return out, err
				}
				pos, streamed = end, true
				break
			}
			if int64(len(in)-next) < bn+2 {
				return out, io.EOF
			}
			r.Args = append(r.Args, string(in[next:next+int(bn)]))
			at = next + int(bn) + 2
		}
		if !streamed {
			r.Raw = string(in[start:at])
			out = append(out, r)
			pos = at
		}
	}
	return out, io.EOF
}

// refHeader parses "<prefix><n>\r?" at in[at:], returning io.EOF when the input ends first.
func refHeader(in []byte, at int, prefix byte, tooBig, invalid string, maxN int64, lim Limits) (int64, int, error) {
	data := in[at:]
	cr := bytes.IndexByte(data, '\r')
	if cr < 0 {
		if len(data) > lim.MaxInline {
			return 0, 0, protoErr(tooBig)
		}
		return 0, 0, io.EOF
	}
	if cr > lim.MaxInline {
		return 0, 0, protoErr(tooBig)
	}
	if cr+1 >= len(data) {
		return 0, 0, io.EOF
	}
	if data[0] != prefix {
		return 0, 0, protoErr("expected '$', got '" + printable(data[0]) + "'")
	}
	n, err := strconv.ParseInt(string(data[1:cr]), 10, 64)
	// Redis's string2ll: no '+', no leading zeros, no "-0".
	if err != nil || data[1] == '+' || (cr > 2 && (data[1] == '0' || (data[1] == '-' && data[2] == '0'))) || n > maxN || (prefix == '$' && n < 0) {
		return 0, 0, protoErr(invalid)
	}
	return n, at + cr + 2, nil
}

// refStream is what Continue writes for the args arguments starting at in[at]: it returns where the
// written bytes end, and the error that stopped it early.
func refStream(in []byte, at int, args int64, lim Limits) (int, error) {
	pos := at
	for ; args > 0; args-- {
		n, next, err := refHeader(in, pos, '$', "too big bulk count string", "invalid bulk length", lim.MaxBulk, lim)
		if err != nil {
			return pos, err
		}
		if int64(len(in)-next) < n+2 {
			return len(in), io.EOF
		}
		pos = next + int(n) + 2
	}
	return pos, nil
}

// Protocol errors carry Redis 7.0's exact text: the same inputs sent to a real redis-server get the same
// error reply.
func TestProtocolErrorsMatchRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range readerCases {
		if !tc.redis {
			continue
		}
		reply := redisExchange(t, srv.Addr, []byte(tc.in))
		if !strings.HasSuffix(reply, "-ERR "+tc.err+"\r\n") {
			t.Errorf("%s: redis-server replied %q, moat says %q", tc.name, reply, tc.err)
		}
	}
}

// redisExchange sends in over a fresh connection and returns everything the server sends until it
// closes the connection or goes quiet.
func redisExchange(t *testing.T, addr string, in []byte) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// Inline splitting matches redis-server's sdssplitargs on generated lines: each line is sent as the
// arguments of EVAL "return ARGV" 0, which echoes them back, or gets the unbalanced-quotes error.
func TestInlineSplitMatchesRedis(t *testing.T) {
	srv := redistest.Start(t)
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	br := bufio.NewReader(c)
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := []string{"a", "b", " ", " ", "\t", "\"", "\"", "'", "'", "\\", "x", "4", "F", "n", "\v", "\f", "\r", "\\x41", "\\'", "\\\""}
	cases := []string{`"a b\x41" 'it\'s'`, `a"b c"d`, "a\vb", "\"x\"\vy", `"\x4"`, `'\\'`, "''", `""`, `"`, `'`}
	for range 400 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, line := range cases {
		in := []byte("EVAL \"return ARGV\" 0 " + line + "\r\n")
		got, gotErr := drain(t, NewReader(bytes.NewReader(in), DefaultLimits()))
		var moat []string
		if len(got) == 1 {
			moat = got[0].Args[3:]
		}
		if gotErr != io.EOF {
			moat = []string{"-ERR " + errText(gotErr)}
		}
		if _, err := c.Write(in); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		redis, err := readArgv(br)
		if err != nil {
			t.Fatalf("line %q: reading redis-server's reply: %v", line, err)
		}
		if !reflect.DeepEqual(moat, redis) {
			t.Errorf("line %q: moat %q, redis-server %q", line, moat, redis)
		}
		if len(redis) == 1 && strings.HasPrefix(redis[0], "-ERR Protocol error") {
			c.Close() // Redis closes the connection after a protocol error
			if c, err = net.Dial("tcp", srv.Addr); err != nil {
				t.Fatal(err)
			}
			br = bufio.NewReader(c)
		}
	}
}

// readArgv reads an array of bulk strings, or an error reply as a one-element slice.
func readArgv(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line[0] == '-' {
		return []string{line}, nil
	}
	n, err := strconv.Atoi(line[1:])
	if line[0] != '*' || err != nil {
		return nil, fmt.Errorf("unexpected reply %q", line)
	}
	out := []string{}
	for range n {
		h, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSuffix(h[1:], "\r\n"))
		if err != nil {
			return nil, fmt.Errorf("unexpected element %q", h)
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		out = append(out, string(b[:l]))
	}
	return out, nil
}

// blockingReader hands out its data in one read; a second read is a test failure (on a socket it would
// block while the client waits for replies).
type blockingReader struct {
	t    *testing.T
	data []byte
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.data == nil {
		b.t.Fatalf("Reader read again although a complete command was buffered")
	}
	n := copy(p, b.data)
	b.data = nil
	return n, nil
}

// Ignored input ("*0", "*-1", empty lines) beyond MaxBuffered must not make ReadBatch read again while a
// complete command is buffered.
func TestReadBatchIgnoredInputDoesNotBlock(t *testing.T) {
	in := strings.Repeat("*0\r\n*-1\r\n\r\n", 10) + "PING\r\n"
	rd := NewReader(&blockingReader{t: t, data: []byte(in)}, small(func(l *Limits) { l.MaxBuffered = 8 }))
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 1 || string(cmds[0].Args[0]) != "PING" {
		t.Fatalf("%v, %v", cmds, err)
	}
}

// A streamed command with held arguments, last in the pipeline: Continue must stop at the command's end
// and not wait for bytes that belong to no command.
func TestReaderContinueStopsAtCommandEnd(t *testing.T) {
	in := AppendCommand(nil, "SET", "k", strings.Repeat("v", 1000))
	rd := NewReader(&blockingReader{t: t, data: in}, small(func(l *Limits) { l.MaxBuffered = 64 }))
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 1 || !cmds[0].More || len(cmds[0].Args) != 2 {
		t.Fatalf("%v, %v", cmds, err)
	}
	raw := string(cmds[0].Raw)
	var w bytes.Buffer
	if err := rd.Continue(&w); err != nil {
		t.Fatal(err)
	}
	if raw+w.String() != string(in) {
		t.Fatalf("Raw+Continue differs from the command")
	}
}

// Unauthenticated: Redis's bounds before AUTH (10 arguments, 16 KiB an argument, its texts), one
// command a batch, and the ordinary limits again once they are set back.
func TestUnauthenticatedLimits(t *testing.T) {
	unauth := DefaultLimits()
	unauth.Unauthenticated = true
	for _, tc := range []struct{ in, want string }{
		{"*11\r\n", "Protocol error: unauthenticated multibulk length"},
		{"*2\r\n$3\r\nSET\r\n$16385\r\n", "Protocol error: unauthenticated bulk length"},
		{"*-1\r\n*99999999999\r\n", "Protocol error: invalid multibulk length"}, // Redis's order: invalid first
	} {
		_, err := NewReader(strings.NewReader(tc.in), unauth).ReadBatch()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	in := "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*10\r\n" + strings.Repeat("$1\r\nx\r\n", 10) + "*2\r\n$3\r\nGET\r\n$16385\r\n" + strings.Repeat("k", 16385) + "\r\n"
	rd := NewReader(strings.NewReader(in), unauth)
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 1 || string(cmds[0].Args[0]) != "AUTH" {
		t.Fatalf("first batch: %d commands, %v; want AUTH alone", len(cmds), err)
	}
	rd.SetLimits(DefaultLimits()) // AUTH succeeded
	var lens []int
	for len(lens) < 2 {
		cmds, err = rd.ReadBatch()
		if err != nil {
			t.Fatalf("after AUTH: %v, want the ordinary limits", err)
		}
		for _, c := range cmds {
			lens = append(lens, len(c.Args))
		}
	}
	if lens[0] != 10 || lens[1] != 2 {
		t.Fatalf("after AUTH: commands of %v arguments", lens)
	}
}

// Reset (for pooled Readers) leaves nothing of the previous connection: not a half-read command, not a
// long command's stream, not a grown buffer, not a sticky error.
func TestReaderReset(t *testing.T) {
	rd := NewReader(strings.NewReader("*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*2\r\n$3\r\nSET\r\n$4000000\r\nxx"), DefaultLimits())
	if cmds, err := rd.ReadBatch(); err != nil || len(cmds) != 2 || !cmds[1].More {
		t.Fatalf("first connection: %v %v", cmds, err)
	}
	if err := rd.Continue(io.Discard); err == nil {
		t.Fatal("the first connection's long command ended early without an error")
	}
	rd.Reset(strings.NewReader("*1\r\n$4\r\nPING\r\nECHO hi\r\n"), DefaultLimits())
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 2 || string(cmds[0].Args[0]) != "PING" || string(cmds[1].Args[1]) != "hi" || cmds[0].More {
		t.Fatalf("after Reset: %v %v", cmds, err)
	}
	if len(rd.buf) != minBuffer {
		t.Errorf("buffer after Reset: %d bytes, want %d", len(rd.buf), minBuffer)
	}
	if _, err := rd.ReadBatch(); err != io.EOF {
		t.Errorf("end of the second connection: %v, want EOF", err)
	}
}

// protoErr builds the oracle's protocol errors from their texts, independently of the reader's table.
func protoErr(msg string) error { return &ProtocolError{Msg: msg} }

// InputSize is the bytes a command took in the input — a multibulk command's Raw, an inline command's
// line with its line ending, not its re-encoding — and Size the read buffer's size.
func TestInputSize(t *testing.T) {
	in := "*2\r\n$6\r\nclient\r\n$4\r\nlist\r\n" + "client  info\r\n" + "ping\n"
	rd := NewReader(strings.NewReader(in), DefaultLimits())
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 3 {
		t.Fatalf("ReadBatch: %d commands, %v", len(cmds), err)
	}
	for i, want := range []int{26, 14, 5} {
		if got := cmds[i].InputSize(); got != want {
			t.Errorf("command %d (%q): InputSize %d, want %d", i, cmds[i].Args, got, want)
		}
	}
	if rd.Size() != minBuffer {
		t.Errorf("Size %d, want %d", rd.Size(), minBuffer)
	}
}
