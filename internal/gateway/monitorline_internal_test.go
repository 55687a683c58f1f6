package gateway

import (
	"bufio"
	"bytes"
	"hash/maphash"
	"io"
	"net"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/resp"
)

// A MONITOR line's arguments, as a real redis-server quotes them, are unquoted to the bytes sent, and
// the line's fingerprint is the one a shared lane records for the command as sent (laneRing.record):
// quotes, backslashes, control characters, bytes above 0x7f, empty and long arguments.
func TestMonitorLineArgsAreTheCommandSent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	mon := rawConn(t, srv.Addr)
	c := rawConn(t, srv.Addr)
	mon.do(t, []string{"MONITOR"})
	seed := maphash.MakeSeed()
	var v monitorView
	for _, args := range [][]string{
		{"SET", "k", "v"},
		{"set", `q"uo\te`, "a b\r\n\t\a\b\x1b"},
		{"SET", "bin", "\x00\x01\x7f\x80\xff\xe2\x82\xac"},
		{"ECHO", ""},
		{"PING"},
		{"SET", "long", string(bytes.Repeat([]byte("x\"\\"), 3000))},
	} {
		raw := c.do(t, args)
		line, err := mon.br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("MONITOR line of %q: %v", args, err)
		}
		end := bytes.IndexByte(line, ']')
		if end < 0 || !v.parseArgs(line[end:]) {
			t.Fatalf("MONITOR line %q of %q not parsed", line, args)
		}
		if len(v.ends) != len(args) {
			t.Fatalf("MONITOR line %q: %d arguments, want %d", line, len(v.ends), len(args))
		}
		for i, a := range args {
			if got := string(v.arg(i)); got != a {
				t.Errorf("MONITOR line %q: argument %d is %q, want %q", line, i, got, a)
			}
		}
		if fp, byHead := v.fingerprint(seed); byHead || fp != maphash.Bytes(seed, raw) {
			t.Errorf("MONITOR line %q: fingerprint differs from the command's", line)
		}
	}
}

// testConn is a raw connection to a redis-server.
type testConn struct {
	c  net.Conn
	br *bufio.Reader
}

func rawConn(t *testing.T, addr string) *testConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &testConn{c: c, br: bufio.NewReader(c)}
}

// do sends args as a command, reads its reply and returns the command's bytes.
func (tc *testConn) do(t *testing.T, args []string) []byte {
	t.Helper()
	raw := resp.AppendArray(nil, len(args))
	for _, a := range args {
		raw = resp.AppendBulk(raw, []byte(a))
	}
	if _, err := tc.c.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := resp.CopyReply(bufio.NewWriter(io.Discard), tc.br, nil); err != nil {
		t.Fatalf("reply to %q: %v", args[0], err)
	}
	return raw
}

// A command's head, which a line whose arguments the backend redacted is matched by, is its argument
// count and name.
func TestCmdHead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, want string }{
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "*3\r\n$3\r\nSET\r\n"},
		{"*1\r\n$4\r\nPING\r\n", "*1\r\n$4\r\nPING\r\n"},
		{"*2\r\n$0\r\n\r\n$1\r\nx\r\n", "*2\r\n$0\r\n\r\n"},
		{"*1\r\n$9\r\nPING\r\n", "*1\r\n$9\r\nPING\r\n"}, // cut short: all of it
		{"*1\r\n", "*1\r\n"},
		{"PING\r\n", "PING\r\n"},
	} {
		if got := string(cmdHead([]byte(tc.raw))); got != tc.want {
			t.Errorf("cmdHead(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
