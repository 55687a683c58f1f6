package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// noHead marks a head element that must not be captured.
const noHead = "<not captured>"

type replyCase struct {
	name string
	in   string // exactly one frame
	typ  byte
	n    int  // ReplyInfo.Len
	lead byte // ReplyInfo.Lead
	head []string
}

var (
	s64 = strings.Repeat("h", 64)
	s65 = strings.Repeat("h", 65)
)

var replyCases = []replyCase{
	{name: "simple string", in: "+OK\r\n", typ: '+', lead: 'O'},
	{name: "empty simple string", in: "+\r\n", typ: '+'},
	{name: "error", in: "-ERR wrong number\r\n", typ: '-', lead: 'E'},
	{name: "integer", in: ":-1000\r\n", typ: ':', lead: '-'},
	{name: "bulk", in: "$3\r\nfoo\r\n", typ: '$'},
	{name: "bulk with CRLF inside", in: "$6\r\na\r\n\r\nb\r\n", typ: '$'},
	{name: "empty bulk", in: "$0\r\n\r\n", typ: '$'},
	{name: "null bulk", in: "$-1\r\n", typ: '$'},
	{name: "null array", in: "*-1\r\n", typ: '*', n: -1},
	{name: "empty array", in: "*0\r\n", typ: '*'},
	{name: "pub/sub message", in: "*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$7\r\npayload\r\n", typ: '*', n: 3,
		head: []string{"message", "chan", "payload"}},
	{name: "RESP3 push subscribe", in: ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", typ: '>', n: 3, head: []string{"subscribe", "ch", "1"}},
	{name: "integers and status in the head", in: "*3\r\n:1\r\n:-2\r\n+x\r\n", typ: '*', n: 3, head: []string{"1", "-2", "x"}},
	{name: "only three head elements", in: "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", typ: '*', n: 4, head: []string{"1", "2", "3"}},
	{name: "head bulk of 65 bytes is not captured, 64 is", in: "*2\r\n$65\r\n" + s65 + "\r\n$64\r\n" + s64 + "\r\n", typ: '*', n: 2,
		head: []string{noHead, s64}},
	{name: "head status of 65 bytes is not captured, 64 is", in: "*2\r\n+" + s65 + "\r\n+" + s64 + "\r\n", typ: '*', n: 2,
		head: []string{noHead, s64}},
	{name: "null, aggregate and error elements are not captured", in: "*3\r\n$-1\r\n*1\r\n:1\r\n-ERR\r\n", typ: '*', n: 3,
		head: []string{noHead, noHead, noHead}},
	{name: "map", in: "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", typ: '%', n: 2, head: []string{"a", "1", "b"}},
	{name: "set", in: "~2\r\n+a\r\n+b\r\n", typ: '~', n: 2, head: []string{"a", "b"}},
	{name: "nested aggregates", in: "*2\r\n*2\r\n:1\r\n:2\r\n%1\r\n+a\r\n*1\r\n_\r\n", typ: '*', n: 2, head: []string{noHead, noHead}},
	{name: "attribute then its reply", in: "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n+OK\r\n", typ: '+', lead: 'O'},
	{name: "attribute then an array", in: "|1\r\n+k\r\n+v\r\n*2\r\n:1\r\n:2\r\n", typ: '*', n: 2, head: []string{"1", "2"}},
	{name: "attribute then a null", in: "|2\r\n+a\r\n+b\r\n+c\r\n+d\r\n_\r\n", typ: '_'},
	{name: "attribute inside an array", in: "*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n", typ: '*', n: 2, head: []string{noHead, "2"}},
	{name: "null", in: "_\r\n", typ: '_'},
	{name: "double", in: ",3.14\r\n", typ: ',', lead: '3'},
	{name: "boolean", in: "#t\r\n", typ: '#', lead: 't'},
	{name: "big number", in: "(3492890328409238509324850943850943825024385\r\n", typ: '(', lead: '3'},
	{name: "verbatim string", in: "=15\r\ntxt:Some string\r\n", typ: '='},
	{name: "blob error", in: "!21\r\nSYNTAX invalid syntax\r\n", typ: '!'},
	// As deep as a Lua script's recursive table makes Redis's reply, and deeper: nesting has no limit.
	{name: "100,000 levels deep", in: strings.Repeat("*1\r\n", 100_000) + ":1\r\n", typ: '*', n: 1, head: []string{noHead}},
	{name: "deep maps and attributes", in: strings.Repeat("%1\r\n|1\r\n+k\r\n+v\r\n+a\r\n", 20_000) + ":1\r\n", typ: '%', n: 1, head: []string{noHead, noHead}},
}

// replyReaders are the ways a test feeds bytes to CopyReply: buffer sizes down to bufio's minimum, and
// sources that deliver one byte or a few at a time.
func replyReaders(in []byte) []struct {
	name string
	br   *bufio.Reader
} {
	var out []struct {
		name string
		br   *bufio.Reader
	}
	for _, size := range []int{16, 64, 128, 4096} {
		out = append(out,
			struct {
				name string
				br   *bufio.Reader
			}{fmt.Sprintf("buf%d", size), bufio.NewReaderSize(bytes.NewReader(in), size)},
			struct {
				name string
				br   *bufio.Reader
			}{fmt.Sprintf("buf%d-bytewise", size), bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), size)},
			struct {
				name string
				br   *bufio.Reader
			}{fmt.Sprintf("buf%d-chunks", size), bufio.NewReaderSize(randomChunks(in, uint64(size), 7), size)},
		)
	}
	return out
}

// copyOne copies one frame and returns the bytes written.
func copyOne(br *bufio.Reader, info *ReplyInfo) ([]byte, error) {
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 16)
	err := CopyReply(bw, br, info)
	if ferr := bw.Flush(); ferr != nil {
		panic(ferr)
	}
	return out.Bytes(), err
}

func checkInfo(t *testing.T, where string, info *ReplyInfo, typ byte, n int, lead byte, head []string, checkHead bool) {
	t.Helper()
	if info.Type != typ || info.Len != n || info.Lead != lead {
		t.Errorf("%s: Type %q Len %d Lead %q, want %q %d %q", where, info.Type, info.Len, info.Lead, typ, n, lead)
	}
	if !checkHead {
		return
	}
	if info.NHead != len(head) {
		t.Errorf("%s: NHead %d, want %d", where, info.NHead, len(head))
		return
	}
	for i, h := range head {
		got := info.Head[i]
		if h == noHead {
			if got != nil {
				t.Errorf("%s: Head[%d] = %q, want not captured", where, i, got)
			}
		} else if got == nil || string(got) != h || info.HeadString(i) != h {
			t.Errorf("%s: Head[%d] = %q, want %q", where, i, got, h)
		}
	}
}

// CopyReply copies exactly one frame of every type and leaves the next frame in the reader.
func TestCopyReplyFrames(t *testing.T) {
	const next = "+NEXT\r\n"
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := refFrame([]byte(tc.in + next)); n != len(tc.in) || err != nil {
				t.Fatalf("oracle: frame of %d bytes, %v; want %d", n, err, len(tc.in))
			}
			for _, r := range replyReaders([]byte(tc.in + next)) {
				var info ReplyInfo
				info.Len, info.NHead, info.Lead = 99, 3, 'z' // stale values from a previous frame
				got, err := copyOne(r.br, &info)
				if err != nil || string(got) != tc.in {
					t.Fatalf("%s: copied %q, %v; want %q", r.name, got, err, tc.in)
				}
				// Head capture needs a header line and a 64-byte element to fit the reader's buffer.
				checkInfo(t, r.name, &info, tc.typ, tc.n, tc.lead, tc.head, r.br.Size() >= 128)
				if got, err := copyOne(r.br, nil); err != nil || string(got) != next {
					t.Fatalf("%s: next frame: %q, %v", r.name, got, err)
				}
				if _, err := copyOne(r.br, nil); err != io.EOF {
					t.Fatalf("%s: after the last frame: %v, want EOF", r.name, err)
				}
			}
		})
	}
}

// Lines longer than the reader's buffer (long status, error, big number) are copied through in pieces,
// with their own type; bulk bodies far larger than the buffer stream through.
func TestCopyReplyLongerThanBuffer(t *testing.T) {
	long := strings.Repeat("a", 10_000)
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	bulk := "$" + strconv.Itoa(len(body)) + "\r\n" + string(body) + "\r\n"
	cases := []replyCase{
		{name: "long status", in: "+" + long + "\r\n", typ: '+', lead: 'a'},
		{name: "long error", in: "-ERR " + long + "\r\n", typ: '-', lead: 'E'},
		{name: "long big number", in: "(" + strings.Repeat("7", 5000) + "\r\n", typ: '(', lead: '7'},
		{name: "long elements", in: "*3\r\n+" + long + "\r\n-" + long + "\r\n:7\r\n", typ: '*', n: 3, head: []string{noHead, noHead, "7"}},
		{name: "1 MiB bulk", in: bulk, typ: '$'},
		{name: "1 MiB bulk in the head", in: "*2\r\n" + bulk + ":5\r\n", typ: '*', n: 2, head: []string{noHead, "5"}},
	}
	for _, tc := range cases {
		for _, size := range []int{16, 4096} {
			for _, bytewise := range []bool{false, true} {
				if bytewise && len(tc.in) > 100_000 {
					continue
				}
				var src io.Reader = strings.NewReader(tc.in + ":1\r\n")
				if bytewise {
					src = iotest.OneByteReader(src)
				}
				br := bufio.NewReaderSize(src, size)
				var out bytes.Buffer
				bw := bufio.NewWriterSize(&out, 4096)
				var info ReplyInfo
				err := CopyReply(bw, br, &info)
				bw.Flush()
				where := fmt.Sprintf("%s, buffer %d, bytewise %v", tc.name, size, bytewise)
				if err != nil || out.String() != tc.in {
					t.Fatalf("%s: copied %d bytes, %v; want the %d-byte frame", where, out.Len(), err, len(tc.in))
				}
				checkInfo(t, where, &info, tc.typ, tc.n, tc.lead, tc.head, true)
				if got, err := copyOne(br, nil); err != nil || string(got) != ":1\r\n" {
					t.Fatalf("%s: next frame %q, %v", where, got, err)
				}
			}
		}
	}
}

// Malformed or truncated replies are errors (ErrReply, or io.ErrUnexpectedEOF for a frame cut short;
// io.EOF only for no bytes at all), never a panic and never a "complete" frame.
func TestCopyReplyMalformed(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"x\r\n", ErrReply},
		{"\r\n", ErrReply},
		{"\n", ErrReply},
		{"+OK\n", ErrReply},
		{"$abc\r\n", ErrReply},
		{"$-2\r\n", ErrReply},
		{"$01\r\n", ErrReply},
		{"$+1\r\na\r\n", ErrReply},
		{"*-2\r\n", ErrReply},
		{"*abc\r\n", ErrReply},
		{"%\r\n", ErrReply},
		{"*1\r\n?\r\n", ErrReply},
		{"%4611686018427387904\r\n", ErrReply},
		{"|9223372036854775807\r\n", ErrReply},
		{"$9223372036854775807\r\n", ErrReply},
		{"$9223372036854775806\r\n", ErrReply},
		{"$9223372036854775805\r\n", io.ErrUnexpectedEOF},
		{"*99999999999999999999\r\n", ErrReply},
		{strings.Repeat("*1\r\n", 100_000), io.ErrUnexpectedEOF},
		{long + "\r\n", ErrReply},                 // a long line with a bad type byte
		{"$" + long + "\r\n", ErrReply},           // a long bulk header
		{"+" + long + "\n", ErrReply},             // a long line without CR
		{"*1\r\n" + long + "\r\n", ErrReply},      // the same, nested
		{"*2\r\n+" + long + "\n:1\r\n", ErrReply}, // the same, in the head
		{"+OK", io.ErrUnexpectedEOF},
		{"+OK\r", io.ErrUnexpectedEOF},
		{"+" + long, io.ErrUnexpectedEOF},
		{"$3\r\n", io.ErrUnexpectedEOF},
		{"$3\r\nfo", io.ErrUnexpectedEOF},
		{"$3\r\nfoo", io.ErrUnexpectedEOF},
		{"$3\r\nfoo\r", io.ErrUnexpectedEOF},
		{"*1\r\n", io.ErrUnexpectedEOF},
		{"*2\r\n:1\r\n", io.ErrUnexpectedEOF},
		{"*2\r\n*1\r\n", io.ErrUnexpectedEOF},
		{"*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n", io.ErrUnexpectedEOF},
		{"*3\r\n$4\r\nab", io.ErrUnexpectedEOF},
		{"%1\r\n+a\r\n", io.ErrUnexpectedEOF},
		{"|1\r\n+a\r\n+b\r\n", io.ErrUnexpectedEOF},
		{">3\r\n$9\r\nsubscribe\r\n", io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		if _, err := refFrame([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Fatalf("oracle: %q: %v, want %v", tc.in, err, tc.want)
		}
		for _, info := range []*ReplyInfo{nil, new(ReplyInfo)} {
			for _, r := range replyReaders([]byte(tc.in)) {
				if r.br.Size() < 32 && bytes.IndexByte([]byte(tc.in), '\n') > 16 && strings.IndexByte("$*%", tc.in[0]) >= 0 {
					continue // a header line longer than the smallest bufio buffer: outside CopyReply's contract
				}
				_, err := copyOne(r.br, info)
				if !errors.Is(err, tc.want) {
					t.Errorf("%q, %s, info %v: %v, want %v", tc.in, r.name, info != nil, err, tc.want)
				}
			}
		}
	}
}

// refFrame is the oracle for CopyReply: a plain recursive parser over the whole input. It returns the
// length of the frame at b[0], or the error CopyReply must return: ErrReply, io.ErrUnexpectedEOF, or
// io.EOF for empty input.
func refFrame(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, io.EOF
	}
	return refParse(b, 0, 0)
}

func refParse(b []byte, pos, depth int) (int, error) {
	nl := bytes.IndexByte(b[pos:], '\n')
	if nl < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	line := b[pos : pos+nl+1]
	end := pos + nl + 1
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, ErrReply
	}
	t, body := line[0], string(line[1:len(line)-2])
	n, err := strconv.ParseInt(body, 10, 64)
	validLen := err == nil && !strings.HasPrefix(body, "+") && (body == "0" || !strings.HasPrefix(strings.TrimPrefix(body, "-"), "0")) && n >= -1
	switch t {
	case '+', '-', ':', '_', ',', '#', '(':
		return end, nil
	case '$', '=', '!':
		if !validLen || n > math.MaxInt64-2 {
			return 0, ErrReply
		}
		if n == -1 {
			return end, nil
		}
		if int64(len(b)-end) < n+2 {
			return 0, io.ErrUnexpectedEOF
		}
		return end + int(n) + 2, nil
	case '*', '~', '>', '%', '|':
		if !validLen {
			return 0, ErrReply
		}
		if t == '%' || t == '|' {
			if n > math.MaxInt64/2 {
				return 0, ErrReply
			}
			n *= 2
		}
		for ; n > 0; n-- {
			if end, err = refParse(b, end, depth+1); err != nil {
				return 0, err
			}
		}
		if t == '|' {
			return refParse(b, end, depth)
		}
		return end, nil
	}
	return 0, ErrReply
}

// tnode is a generated reply tree.
type tnode struct {
	t    byte
	s    []byte // line content or bulk body
	null bool
	kids []*tnode // elements; a map's keys and values alternate
	attr *tnode   // an attribute ('|') sent before this frame
}

func genText(rng *rand.Rand, n int) []byte {
	const chars = "abcXYZ 0123456789:-+$*_\t\x00\xff"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return b
}

func genLen(rng *rand.Rand) int {
	switch rng.IntN(20) {
	case 0:
		return 200 + rng.IntN(3000) // longer than small reader buffers
	case 1:
		return 60 + rng.IntN(10) // around the 64-byte head capture limit
	default:
		return rng.IntN(20)
	}
}

func genNode(rng *rand.Rand, depth int) *tnode {
	scalars := "+-:_,#($=!"
	all := scalars + "*~>%$+:"
	types := all
	if depth >= 4 {
		types = scalars
	}
	n := &tnode{t: types[rng.IntN(len(types))]}
	switch n.t {
	case '+', '-':
		n.s = genText(rng, genLen(rng))
	case ':':
		n.s = strconv.AppendInt(nil, rng.Int64()>>rng.IntN(64)*int64(1-2*rng.IntN(2)), 10)
	case '_':
	case ',':
		n.s = strconv.AppendFloat(nil, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(600)-300)), 'g', -1, 64)
	case '#':
		n.s = []byte{"tf"[rng.IntN(2)]}
	case '(':
		n.s = []byte("1" + strings.Repeat("0", genLen(rng)))
	case '$', '=', '!':
		n.null = n.t == '$' && rng.IntN(8) == 0
		n.s = make([]byte, genLen(rng))
		for i := range n.s {
			n.s[i] = byte(rng.Uint32()) // any byte, CR and LF included
		}
	default:
		n.null = n.t == '*' && rng.IntN(8) == 0
		k := rng.IntN(5)
		if n.t == '%' {
			k *= 2
		}
		for range k {
			n.kids = append(n.kids, genNode(rng, depth+1))
		}
	}
	if depth < 4 && rng.IntN(12) == 0 {
		a := &tnode{t: '|'}
		for range 2 * (1 + rng.IntN(2)) {
			a.kids = append(a.kids, genNode(rng, depth+1))
		}
		n.attr = a
	}
	return n
}

func (n *tnode) encode(b []byte) []byte {
	if n.attr != nil {
		b = n.attr.encode(b)
	}
	b = append(b, n.t)
	switch {
	case n.null:
		return append(b, "-1\r\n"...)
	case strings.IndexByte("*~>%|", n.t) >= 0:
		k := len(n.kids)
		if n.t == '%' || n.t == '|' {
			k /= 2
		}
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, '\r', '\n')
		for _, kid := range n.kids {
			b = kid.encode(b)
		}
		return b
	case strings.IndexByte("$=!", n.t) >= 0:
		b = strconv.AppendInt(b, int64(len(n.s)), 10)
		b = append(b, '\r', '\n')
	}
	b = append(b, n.s...)
	return append(b, '\r', '\n')
}

// info is what CopyReply must report for n as a top-level frame.
func (n *tnode) info() (typ byte, length int, lead byte, head []string) {
	typ = n.t
	switch {
	case strings.IndexByte("*~>%", n.t) >= 0:
		if n.null {
			return typ, -1, 0, nil
		}
		length = len(n.kids)
		if n.t == '%' {
			length /= 2
		}
		for _, kid := range n.kids[:min(3, len(n.kids))] {
			h := noHead
			if kid.attr == nil && !kid.null && (kid.t == '$' || kid.t == '+' || kid.t == ':') && len(kid.s) <= 64 {
				h = string(kid.s)
			}
			head = append(head, h)
		}
	case strings.IndexByte("+-:_,#(", n.t) >= 0 && len(n.s) > 0:
		lead = n.s[0]
	}
	return typ, length, lead, head
}

// Generated reply trees, encoded and concatenated, are split by CopyReply at exactly the frame
// boundaries, copied byte for byte, and described as the tree says; the oracle parser agrees.
func TestCopyReplyGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 4242))
	for round := range 400 {
		var frames []*tnode
		var stream []byte
		var encs [][]byte
		for range 1 + rng.IntN(20) {
			f := genNode(rng, 0)
			enc := f.encode(nil)
			frames = append(frames, f)
			encs = append(encs, enc)
			stream = append(stream, enc...)
		}
		size := []int{16, 32, 128, 4096}[rng.IntN(4)]
		var src io.Reader = bytes.NewReader(stream)
		switch rng.IntN(3) {
		case 0:
			src = randomChunks(stream, uint64(round), 1+rng.IntN(50))
		case 1:
			if len(stream) < 20_000 {
				src = iotest.OneByteReader(src)
			}
		}
		br := bufio.NewReaderSize(src, size)
		pos := 0
		for i, f := range frames {
			if n, err := refFrame(stream[pos:]); n != len(encs[i]) || err != nil {
				t.Fatalf("round %d frame %d: oracle says %d bytes, %v; encoded %d", round, i, n, err, len(encs[i]))
			}
			pos += len(encs[i])
			var info ReplyInfo
			got, err := copyOne(br, &info)
			if err != nil || !bytes.Equal(got, encs[i]) {
				t.Fatalf("round %d frame %d (buffer %d): copied %d bytes, %v; want %q", round, i, size, len(got), err, encs[i])
			}
			typ, n, lead, head := f.info()
			checkInfo(t, fmt.Sprintf("round %d frame %d %q (buffer %d)", round, i, encs[i], size), &info, typ, n, lead, head, size >= 128)
		}
		if _, err := copyOne(br, nil); err != io.EOF {
			t.Fatalf("round %d: after the last frame: %v", round, err)
		}
	}
}

// A typical bulk reply is copied without allocating.
func TestCopyReplyDoesNotAllocate(t *testing.T) {
	for _, frame := range []string{"$3\r\nbar\r\n", "+OK\r\n", ":1\r\n", "*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$7\r\npayload\r\n"} {
		src := strings.NewReader(frame)
		br := bufio.NewReaderSize(src, 4096)
		bw := bufio.NewWriterSize(io.Discard, 4096)
		var info ReplyInfo
		for _, in := range []*ReplyInfo{nil, &info} {
			allocs := testing.AllocsPerRun(1000, func() {
				src.Reset(frame)
				br.Reset(src)
				if err := CopyReply(bw, br, in); err != nil {
					t.Fatal(err)
				}
				bw.Flush()
			})
			if allocs != 0 {
				t.Errorf("%q, info %v: %v allocations per copy, want 0", frame, in != nil, allocs)
			}
		}
	}
}

// dropAfter takes the first k bytes of a frame, then refuses the rest with ErrDrop.
type dropAfter struct {
	got []byte
	k   int
}

func (d *dropAfter) Write(p []byte) (int, error) {
	if len(d.got) >= d.k {
		return 0, ErrDrop
	}
	d.got = append(d.got, p...)
	return len(p), nil
}

// A destination that stops taking a frame (ErrDrop) has the rest of it read and dropped, bulk bodies
// past the reader's buffer through drop when given, and the reader is left at the next frame, whatever
// the frame's shape and wherever the destination stopped.
func TestCopyReplyDropsTheRest(t *testing.T) {
	body := strings.Repeat("b", 100_000)
	bulk := "$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n"
	long := "+" + strings.Repeat("s", 5000) + "\r\n"
	frames := map[string]string{
		"bulk":        bulk,
		"long status": long,
		"nested":      "*3\r\n" + bulk + "*2\r\n" + long + bulk + ":7\r\n",
		"attribute":   "|1\r\n+k\r\n" + bulk + bulk,
	}
	for name, frame := range frames {
		for _, k := range []int{0, 1, 4096, 50_000} {
			for _, withDrop := range []bool{false, true} {
				where := fmt.Sprintf("%s, dropped after %d bytes, drop %v", name, k, withDrop)
				src := strings.NewReader(frame + ":1\r\n")
				br := bufio.NewReaderSize(src, 64)
				dst := &dropAfter{k: k}
				bw := bufio.NewWriterSize(dst, 16)
				var dropped int64
				var drop func(n int64) (int64, error)
				if withDrop {
					drop = func(n int64) (int64, error) {
						m, err := io.CopyN(io.Discard, src, min(n, 1000))
						dropped += m
						if m > 0 {
							err = nil
						}
						return m, err
					}
				}
				if err := CopyReplyDrop(bw, br, nil, drop); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if err := bw.Flush(); err != nil && !errors.Is(err, ErrDrop) {
					t.Fatalf("%s: flush: %v", where, err)
				}
				if !strings.HasPrefix(frame, string(dst.got)) {
					t.Fatalf("%s: copied bytes that are not the frame's beginning", where)
				}
				if withDrop && strings.Contains(frame, body) && dropped == 0 {
					t.Errorf("%s: no body was dropped through drop", where)
				}
				if got, err := copyOne(br, nil); err != nil || string(got) != ":1\r\n" {
					t.Fatalf("%s: next frame %q, %v", where, got, err)
				}
			}
		}
	}
}

// A frame cut short while it is being dropped is io.ErrUnexpectedEOF.
func TestCopyReplyDropCutShort(t *testing.T) {
	src := strings.NewReader("$100000\r\n" + strings.Repeat("b", 500))
	br := bufio.NewReaderSize(src, 64)
	drop := func(n int64) (int64, error) { return io.CopyN(io.Discard, src, min(n, 100)) }
	if err := CopyReplyDrop(bufio.NewWriterSize(&dropAfter{}, 16), br, nil, drop); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("CopyReplyDrop = %v, want io.ErrUnexpectedEOF", err)
	}
}
