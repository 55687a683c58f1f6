package resp

import (
	"bufio"
	"io"
	"strconv"
	"testing"
)

// replay hands out the same bytes on every read, like a client that keeps sending one pipeline.
type replay struct{ data []byte }

func (r *replay) Read(p []byte) (int, error) { return copy(p, r.data), nil }

func benchReadBatch(b *testing.B, in []byte, perBatch int) {
	rd := NewReader(&replay{data: in}, DefaultLimits())
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		cmds, err := rd.ReadBatch()
		if err != nil || len(cmds) != perBatch {
			b.Fatalf("%d commands, %v", len(cmds), err)
		}
	}
}

// Like redis-benchmark -P 16 -t set.
func BenchmarkReadBatchPipeline(b *testing.B) {
	var in []byte
	for i := range 16 {
		in = AppendCommand(in, "SET", "key:"+strconv.Itoa(100000+i), "xxx")
	}
	benchReadBatch(b, in, 16)
}

func BenchmarkReadBatchSingle(b *testing.B) {
	benchReadBatch(b, AppendCommand(nil, "GET", "key:100000"), 1)
}

func BenchmarkReadBatchInline(b *testing.B) {
	benchReadBatch(b, []byte("SET key:100000 xxx\r\n"), 1)
}

func benchCopyReply(b *testing.B, frame string) {
	br := bufio.NewReaderSize(&replay{data: []byte(frame)}, 16*1024)
	bw := bufio.NewWriterSize(io.Discard, 16*1024)
	var info ReplyInfo
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if err := CopyReply(bw, br, &info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCopyReplyBulk(b *testing.B)   { benchCopyReply(b, "$3\r\nxxx\r\n") }
func BenchmarkCopyReplyStatus(b *testing.B) { benchCopyReply(b, "+OK\r\n") }

// The hot paths' allocation targets, checked in the ordinary test run too.
func TestHotPathsDoNotAllocate(t *testing.T) {
	var pipeline []byte
	for i := range 16 {
		pipeline = AppendCommand(pipeline, "SET", "key:"+strconv.Itoa(i), "xxx")
	}
	// Quoted inline arguments are copied (unquoting needs new bytes); plain inline words are not.
	for _, in := range [][]byte{pipeline, []byte("SET k v\r\n")} {
		rd := NewReader(&replay{data: in}, DefaultLimits())
		rd.ReadBatch() // warm up the reused slices
		if allocs := testing.AllocsPerRun(1000, func() { rd.ReadBatch() }); allocs != 0 {
			t.Errorf("ReadBatch of %q: %v allocations, want 0", in[:min(20, len(in))], allocs)
		}
	}
}
