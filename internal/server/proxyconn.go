package server

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// proxyListener lets a trusted proxy's connections begin with a PROXY protocol header (v1 or v2):
// such a connection's RemoteAddr is then the client the header names. Other peers' connections are
// handed on untouched (a PROXY header from them is just a malformed HTTP request).
type proxyListener struct {
	net.Listener
	trusted func(netip.Addr) bool
	timeout time.Duration // for the header
}

func (l proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || !l.trusted(remoteAddr(c)) {
		return c, err
	}
	return &proxiedConn{Conn: c, timeout: l.timeout}, nil
}

// proxiedConn reads a PROXY header, if one begins the connection, at the first call of RemoteAddr or
// Read (net/http asks RemoteAddr first, on the connection's own goroutine, so the accept loop never
// waits), within timeout. A malformed header, or none within timeout, fails every Read.
type proxiedConn struct {
	net.Conn
	timeout time.Duration

	once   sync.Once
	r      *bufio.Reader
	remote net.Addr
	err    error
}

func (c *proxiedConn) init() {
	c.once.Do(func() {
		c.remote = c.Conn.RemoteAddr()
		c.r = bufio.NewReader(c.Conn)
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		hdr, err := proxyproto.Read(c.r)
		c.Conn.SetReadDeadline(time.Time{})
		switch {
		case err == nil && hdr.Command.IsProxy():
			// A LOCAL header (the proxy's own health check) and a v1 UNKNOWN one keep the proxy's
			// address; one naming a UDP or unix-socket client is refused, as the gateway refuses it.
			if src, _, ok := hdr.TCPAddrs(); ok {
				c.remote = src
			} else if !hdr.TransportProtocol.IsUnspec() {
				c.err = errProxyNotTCP
			}
		case !errors.Is(err, proxyproto.ErrNoProxyProtocol):
			c.err = err
		}
	})
}

var errProxyNotTCP = errors.New("the PROXY protocol header carries no TCP client address")

// RemoteAddr is the client a PROXY header named, else the peer.
func (c *proxiedConn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

func (c *proxiedConn) Read(b []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.r.Read(b)
}
