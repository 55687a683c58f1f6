package redistest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// Conn is a client connection from a chosen source address (any 127.0.0.x is a distinct client on
// Linux) that sends inline commands and reads first reply lines, for tests that follow one connection
// across commands. It is closed when the test ends.
type Conn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// DialFrom connects to addr from source address src; it fails the test when it cannot.
func DialFrom(t testing.TB, addr, src string) *Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Conn{t: t, c: c, br: bufio.NewReader(c)}
}

// Do sends an inline command and returns the reply's first line without CRLF ("+OK", "-ERR …", ":1"),
// a bulk reply's payload instead of its header, or "write error: …"/"read error: …" (a closed
// connection reads as "read error: EOF" or a reset).
func (c *Conn) Do(cmd string) string {
	c.t.Helper()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write([]byte(cmd + "\r\n")); err != nil {
		return "write error: " + err.Error()
	}
	line, err := c.br.ReadString('\n')
	if err != nil {
		return "read error: " + err.Error()
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		body, _ := c.br.ReadString('\n')
		return strings.TrimSpace(body)
	}
	return strings.TrimSpace(line)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }
