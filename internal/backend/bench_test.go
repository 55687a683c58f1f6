package backend

import (
	"bufio"
	"context"
	"strconv"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// roundTrips sends req (holding n commands) b.N times over one connection and reads n reply lines each time.
func roundTrips(b *testing.B, be Backend, req []byte, n int) {
	c, err := be.Dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		for range n {
			if _, err := readReply(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "cmds/s")
}

func openBench(b *testing.B, spec string) Backend {
	be, err := Open(spec, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

func BenchmarkEmbeddedSET(b *testing.B) {
	roundTrips(b, openBench(b, "embedded"), appendCommand(nil, "SET", "key", "value"), 1)
}

func BenchmarkEmbeddedGET(b *testing.B) {
	be := openBench(b, "embedded")
	c := dialR(b, be)
	c.do("SET", "key", "value")
	roundTrips(b, be, appendCommand(nil, "GET", "key"), 1)
}

func BenchmarkEmbeddedSETPipeline16(b *testing.B) {
	var req []byte
	for i := range 16 {
		req = appendCommand(req, "SET", "key"+strconv.Itoa(i), "value")
	}
	roundTrips(b, openBench(b, "embedded"), req, 16)
}

func BenchmarkEmbeddedDial(b *testing.B) {
	be := openBench(b, "embedded")
	b.ReportAllocs()
	for range b.N {
		c, err := be.Dial(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func BenchmarkEmbeddedOpenClose(b *testing.B) {
	dir := b.TempDir()
	for range b.N {
		be, err := Open("embedded", dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpstreamDial(b *testing.B) {
	srv := redistest.Start(b, "--requirepass", "pw")
	for _, spec := range []string{"redis://" + srv.Addr, "redis://:pw@" + srv.Addr + "/3"} {
		b.Run(spec, func(b *testing.B) {
			be := openBench(b, spec)
			b.ReportAllocs()
			for range b.N {
				c, err := be.Dial(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
