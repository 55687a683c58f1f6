package backend

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rconn is a minimal RESP2 client for tests: it writes commands as arrays of bulk strings and renders
// each reply compactly: +OK, -ERR ..., :1, "bulk", (nil), [a b c].
type rconn struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	wait time.Duration // how long read waits for a reply (0: 3 s)
}

func newRconn(t testing.TB, c net.Conn) *rconn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	return &rconn{t: t, c: c, r: bufio.NewReader(c)}
}

func dialR(t testing.TB, b Backend) *rconn {
	t.Helper()
	c, err := b.Dial(context.Background())
	if err != nil {
		t.Fatalf("Dial %s: %v", b, err)
	}
	return newRconn(t, c)
}

// do sends one command and returns its rendered reply; a read timeout renders as "(timeout)".
// A connection the other side has closed renders as "(closed)" or "(error: ...)".
func (r *rconn) do(args ...string) string {
	r.t.Helper()
	if _, err := r.c.Write(appendCommand(nil, args...)); err != nil {
		return "(error: " + err.Error() + ")"
	}
	return r.read()
}

func (r *rconn) read() string {
	r.t.Helper()
	wait := r.wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	s, err := readReply(r.r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "(timeout)"
	}
	if err == io.EOF {
		return "(closed)"
	}
	if err != nil {
		return "(error: " + err.Error() + ")"
	}
	return s
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty line")
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil)", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return strconv.Quote(string(b[:n])), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "(nil)", nil
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return "[" + strings.Join(parts, " ") + "]", nil
	default:
		return "", fmt.Errorf("unknown reply type %q", line)
	}
}
