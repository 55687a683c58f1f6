package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

// fuzzChunks splits in into reads whose sizes come from chunks (cycled; 1..256 bytes), or one read when
// chunks is empty.
func fuzzChunks(in, chunks []byte) io.Reader {
	if len(chunks) == 0 {
		return bytes.NewReader(in)
	}
	i := 0
	return &chunkReader{data: in, next: func() int {
		n := 1 + int(chunks[i%len(chunks)])
		i++
		return n
	}}
}

// fuzzLimits makes small limits from one number, so that every bound is reached by short inputs.
func fuzzLimits(v uint32) Limits {
	return Limits{
		MaxInline:   1 + int(v%257),
		MaxArgs:     1 + int(v/257%33),
		MaxBuffered: 1 + int(v/(257*33)%1500),
		MaxBulk:     int64(1 + v/(257*33*1500)%1000),
	}
}

var fuzzLender sync.Pool

func FuzzReader(f *testing.F) {
	for i, tc := range readerCases {
		if len(tc.in) < 2048 {
			f.Add([]byte(tc.in), []byte{byte(i), 0, 3}, uint32(64+257*8+257*33*64+257*33*1500*20))
		}
	}
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200\r\n"+string(bytes.Repeat([]byte("v"), 200))+"\r\nPING\r\n"), []byte{}, uint32(100+257*33*50))
	f.Add([]byte("*0\r\n*-1\r\n\r\n\n*1\r\n$4\r\nPING\r\n"), []byte{0}, uint32(257*33*3))
	f.Add([]byte("set k \"a b\\x41\" 'it\\'s'\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), []byte{5, 1}, uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, in, chunks []byte, limits uint32) {
		lim := fuzzLimits(limits)
		// drain checks every command (Args inside Raw, inline Raw re-encoded, no spare capacity) and the
		// buffer bound after every call; its loop bound catches a Reader that makes no progress.
		src := fuzzChunks(in, chunks)
		rd := NewReader(src, lim)
		switch { // half the runs lend the buffer between reads (Lend), half of those with a now
		case len(chunks) > 0 && chunks[0]%4 == 1:
			rd.Lend(&fuzzLender, nil)
		case len(chunks) > 0 && chunks[0]%4 == 3:
			rd.Lend(&fuzzLender, src.Read) // in memory, what comes next is there already
		}
		got, err := drain(t, rd)
		want, wantErr := refRead(in, lim)
		if len(got) != len(want) || errText(err) != errText(wantErr) {
			t.Fatalf("limits %+v: got %d commands, %v; oracle %d, %v\n got %v\nwant %v", lim, len(got), err, len(want), wantErr, got, want)
		}
		for i := range got {
			if got[i].String() != want[i].String() || got[i].Rest != want[i].Rest || got[i].Raw != want[i].Raw {
				t.Fatalf("limits %+v: command %d: got %v, oracle %v", lim, i, got[i], want[i])
			}
		}
		// Multibulk commands are slices of the input in order (Raw, then what Continue wrote), separated
		// only by inline commands or input Redis ignores.
		pos, multibulkOnly := 0, true
		for _, r := range got {
			if r.Inline {
				multibulkOnly = false
				continue
			}
			whole := r.Raw + r.Rest
			at := bytes.Index(in[pos:], []byte(whole))
			if at < 0 {
				t.Fatalf("Raw+Continue %q is not in the input after offset %d", whole, pos)
			}
			if multibulkOnly && !ignorable(in[pos:pos+at]) {
				t.Fatalf("bytes %q before a command were neither a command nor ignorable", in[pos:pos+at])
			}
			pos += at + len(whole)
		}
	})
}

// ignorable reports input that produces no command: "*N" headers with N <= 0 and blank inline lines.
func ignorable(b []byte) bool {
	for len(b) > 0 {
		if b[0] == '*' {
			cr := bytes.IndexByte(b, '\r')
			if cr < 0 || cr+1 >= len(b) {
				return false
			}
			if n, ok := parseInt(b[1:cr]); !ok || n > 0 {
				return false
			}
			b = b[cr+2:]
			continue
		}
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			return false
		}
		if args, err := splitArgs(b[:nl], nil); err != nil || len(args) > 0 {
			return false
		}
		b = b[nl+1:]
	}
	return true
}

func FuzzCopyReply(f *testing.F) {
	for _, tc := range replyCases {
		f.Add([]byte(tc.in+tc.in), uint16(0), []byte{1})
	}
	for _, s := range []string{"", "x\r\n", "*2\r\n:1\r\n", "%4611686018427387904\r\n", "$9223372036854775807\r\n",
		"+" + string(bytes.Repeat([]byte("a"), 100)) + "\r\n:1\r\n", "|1\r\n+a\r\n+b\r\n_\r\n*-1\r\n$-1\r\n"} {
		f.Add([]byte(s), uint16(0), []byte{})
		f.Add([]byte(s), uint16(4000), []byte{0, 2})
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint16, chunks []byte) {
		src := &countingReader{r: fuzzChunks(in, chunks)}
		br := bufio.NewReaderSize(src, 32+int(size%4096))
		var out bytes.Buffer
		bw := bufio.NewWriterSize(&out, 64)
		prev := 0
		for {
			var info ReplyInfo
			err := CopyReply(bw, br, &info)
			if ferr := bw.Flush(); ferr != nil {
				t.Fatal(ferr)
			}
			consumed := int(src.n) - br.Buffered()
			wantN, wantErr := refFrame(in[prev:])
			if err != nil {
				if !errors.Is(err, ErrReply) && !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
					t.Fatalf("error %v is none of ErrReply, io.ErrUnexpectedEOF, io.EOF", err)
				}
				if errClass(err) != errClass(wantErr) {
					t.Fatalf("frame at %d (%q): %v, oracle %v", prev, in[prev:], err, wantErr)
				}
				return
			}
			if wantErr != nil || consumed-prev != wantN {
				t.Fatalf("frame at %d: consumed %d bytes; oracle %d, %v", prev, consumed-prev, wantN, wantErr)
			}
			if !bytes.Equal(out.Bytes(), in[prev:consumed]) {
				t.Fatalf("frame at %d: copied %q, consumed %q", prev, out.Bytes(), in[prev:consumed])
			}
			if info.NHead < 0 || info.NHead > 3 || info.Type != firstAfterAttributes(in[prev:consumed]) {
				t.Fatalf("frame %q: info Type %q NHead %d", in[prev:consumed], info.Type, info.NHead)
			}
			out.Reset()
			prev = consumed
		}
	})
}

func errClass(err error) error {
	switch {
	case errors.Is(err, ErrReply):
		return ErrReply
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.ErrUnexpectedEOF
	}
	return err
}

// firstAfterAttributes returns the type byte of a valid frame, skipping any attributes before it.
func firstAfterAttributes(frame []byte) byte {
	for frame[0] == '|' {
		nl := bytes.IndexByte(frame, '\n')
		n, _ := parseInt(frame[1 : nl-1])
		pos := nl + 1
		for range 2 * n {
			k, _ := refParse(frame, pos, 0)
			pos = k
		}
		frame = frame[pos:]
	}
	return frame[0]
}

// FrameLen agrees with the oracle CopyReply is checked against: the same length for a whole frame,
// "more bytes needed" exactly where the input ends inside the frame, an error exactly where CopyReply
// refuses the frame.
func FuzzFrameLen(f *testing.F) {
	for _, tc := range replyCases {
		f.Add([]byte(tc.in))
		f.Add([]byte(tc.in[:len(tc.in)/2]))
	}
	for _, s := range []string{"", "x\r\n", "*2\r\n:1\r\n", "%4611686018427387904\r\n", "$9223372036854775807\r\n",
		"|1\r\n+a\r\n+b\r\n_\r\n", "|1\r\n+a\r\n+b\r\n", "*-1\r\n", "$-1\r\n", "\r\n", "$3\r\nab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := FrameLen(in)
		want, wantErr := refFrame(in)
		switch {
		case err != nil:
			if !errors.Is(err, ErrReply) || !errors.Is(wantErr, ErrReply) {
				t.Fatalf("FrameLen(%q): %v; oracle %d, %v", in, err, want, wantErr)
			}
		case n == 0:
			if wantErr != io.ErrUnexpectedEOF && wantErr != io.EOF {
				t.Fatalf("FrameLen(%q): incomplete; oracle %d, %v", in, want, wantErr)
			}
		default:
			if wantErr != nil || n != want {
				t.Fatalf("FrameLen(%q) = %d; oracle %d, %v", in, n, want, wantErr)
			}
		}
	})
}
