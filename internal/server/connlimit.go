package server

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/api"
)

// A connection over a cap gets the provider's JSON error (api.ErrTooManyConns, api.ErrTooManyFromAddr)
// with Retry-After: 1, written at once on accept (nothing the client sent is read) and followed by close.
// The whole reply fits any socket's send buffer, so writing it does not wait.

// cappedListener hands out at most max connections at a time, and at most perAddr from one source
// (an IPv4 address or an IPv6 /64, console.SourceOf; peers that exempt reports true for, trusted
// proxies, only count towards max). A connection
// over a cap gets its fixed reply and is closed on the accept goroutine, so it holds its descriptor
// only for that moment. It is safe for concurrent use; Accept is called by one goroutine.
type cappedListener struct {
	net.Listener
	max, perAddr int
	exempt       func(netip.Addr) bool
	refused      func(reason string) // counts a refusal; called on the accept goroutine

	mu     sync.Mutex
	open   int
	byAddr map[netip.Prefix]int
}

func newCappedListener(ln net.Listener, max, perAddr int, exempt func(netip.Addr) bool, refused func(string)) *cappedListener {
	return &cappedListener{Listener: ln, max: max, perAddr: perAddr, exempt: exempt, refused: refused, byAddr: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the caps.
func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		switch l.take(addr) {
		case "":
			return &cappedConn{Conn: c, l: l, addr: addr}, nil
		case "total":
			l.refuse(c, "total", api.ErrTooManyConns)
		default:
			l.refuse(c, "per_address", api.ErrTooManyFromAddr)
		}
	}
}

// take counts a new connection from addr, or says which cap it is over ("total", "per_address").
func (l *cappedListener) take(addr netip.Addr) string {
	perAddr := !l.exempt(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max {
		return "total"
	}
	src := allowlist.SourceOf(addr)
	if perAddr && l.byAddr[src] >= l.perAddr {
		return "per_address"
	}
	l.open++
	l.byAddr[src]++
	return ""
}

func (l *cappedListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	src := allowlist.SourceOf(addr)
	if n := l.byAddr[src] - 1; n > 0 {
		l.byAddr[src] = n
	} else {
		delete(l.byAddr, src)
	}
}

func (l *cappedListener) refuse(c net.Conn, reason string, e *api.Error) {
	l.refused(reason)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.Write(api.RawError(e, c.LocalAddr().String(), "Retry-After: 1\r\n"))
	c.Close()
}

// cappedConn gives its place back once, at its first Close.
type cappedConn struct {
	net.Conn
	l    *cappedListener
	addr netip.Addr
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// remoteAddr is a connection's peer address, unmapped (the zero Addr if it has none).
func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
