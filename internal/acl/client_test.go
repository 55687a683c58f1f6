package acl

import (
	"bufio"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// redisClient is a minimal pipelining RESP client for the differential tests.
type redisClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// startRedis starts a real redis-server 7.0.15 and connects to it.
func startRedis(t testing.TB, args ...string) (*redistest.Server, *redisClient) {
	t.Helper()
	srv := redistest.Start(t, args...)
	return srv, dialRedis(t, srv.Addr)
}

func dialRedis(t testing.TB, addr string) *redisClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &redisClient{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10), w: bufio.NewWriterSize(conn, 64<<10)}
}

// do sends one command and returns its reply.
func (c *redisClient) do(args ...string) Value {
	c.t.Helper()
	return c.pipeline([][]string{args})[0]
}

// pipeline sends every command, then reads every reply.
func (c *redisClient) pipeline(cmds [][]string) []Value {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	out := make([]Value, 0, len(cmds))
	const batch = 2000
	for start := 0; start < len(cmds); start += batch {
		end := min(start+batch, len(cmds))
		for _, args := range cmds[start:end] {
			c.w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
			for _, a := range args {
				c.w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
			}
		}
		if err := c.w.Flush(); err != nil {
			c.t.Fatalf("write: %v", err)
		}
		for range cmds[start:end] {
			v, err := ReadValue(c.r)
			if err != nil {
				c.t.Fatalf("read reply: %v", err)
			}
			out = append(out, v)
		}
	}
	return out
}

// replyText renders a reply the way the tests compare it: "+OK", "-ERR …", a bulk string as is.
func replyText(v Value) string {
	switch v.Kind {
	case KindSimple:
		return "+" + v.Str
	case KindError:
		return "-" + v.Str
	case KindBulk, KindVerbatim:
		return v.Str
	}
	return v.String()
}

func bytesArgs(args ...string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

func mustDefault(t testing.TB) *Table {
	t.Helper()
	tbl, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}
