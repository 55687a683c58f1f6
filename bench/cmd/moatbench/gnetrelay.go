package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"go4.org/netipx"
)

// gnetRelay is issue 20's event-loop prototype (moatbench relay -gnet): the shape of moat's plaintext
// data plane on github.com/panjf2000/gnet/v2, to measure before adopting it. One event loop holds the
// client connections and -lanes shared backend connections. A client's source is judged against the
// allow list at accept; each ready client is read once; its complete commands are checked by name
// against the deny map and appended, raw, to its lane's buffer with the number of replies owed (a FIFO,
// as moat's shared lane); once per loop round (an Execute task, run after the round's ready
// connections) each lane writes its buffer in one write, carrying every client's commands of the round.
// The backend's replies are framed and routed to the FIFO's head; each client served gets one write per
// backend read. No goroutine per connection; no read that finds nothing (level-triggered epoll).
type gnetRelay struct {
	gnet.BuiltinEventEngine
	backend *net.TCPAddr
	allow   *netipx.IPSet
	lanes   []*gnLane
	next    int
	nLanes  int
}

// gnLane is one shared backend connection (loop goroutine only).
type gnLane struct {
	c         gnet.Conn
	out       []byte
	fifo      []gnPending
	scheduled bool
	flush     gnet.RunnableFunc
	served    []*gnClient
}

type gnPending struct {
	cl *gnClient
	n  int
}

// gnClient is one client connection's state (loop goroutine only).
type gnClient struct {
	c      gnet.Conn
	lane   *gnLane
	out    []byte
	queued bool // in its lane's served list
	closed bool
}

var gnRefusal = []byte("-ERR illegal address\r\n")

func runGnetRelay(listen, backend string, allow *netipx.IPSet, lanes int) error {
	ba, err := net.ResolveTCPAddr("tcp", backend)
	if err != nil {
		return err
	}
	r := &gnetRelay{backend: ba, allow: allow, nLanes: max(1, lanes)}
	return gnet.Run(r, "tcp://"+listen, gnet.WithMulticore(false), gnet.WithNumEventLoop(1),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithReadBufferCap(64<<10), gnet.WithLoadBalancing(gnet.LeastConnections))
}

// OnBoot dials the lanes into the event loop.
func (r *gnetRelay) OnBoot(eng gnet.Engine) gnet.Action {
	go func() {
		for range r.nLanes {
			l := &gnLane{}
			ctx := gnet.NewNetAddrContext(gnet.NewContext(context.Background(), l), r.backend)
			ch, err := eng.Register(ctx)
			for i := 0; errors.Is(err, errorx.ErrEmptyEngine) && i < 1000; i++ { // the loops start after OnBoot
				time.Sleep(time.Millisecond)
				ch, err = eng.Register(ctx)
			}
			if err != nil {
				fmt.Println("gnet relay: register:", err)
				return
			}
			res := <-ch
			if res.Err != nil {
				fmt.Println("gnet relay: dial:", res.Err)
				return
			}
		}
	}()
	return gnet.None
}

func (r *gnetRelay) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if l, ok := c.Context().(*gnLane); ok { // a lane, dialled by OnBoot
		l.c = c
		l.flush = func(context.Context) error { l.write(); return nil }
		r.lanes = append(r.lanes, l)
		return nil, gnet.None
	}
	ta, _ := c.RemoteAddr().(*net.TCPAddr)
	if ta == nil || (r.allow != nil && !r.allow.Contains(ta.AddrPort().Addr().Unmap())) {
		return gnRefusal, gnet.Close
	}
	if len(r.lanes) < r.nLanes { // a client before the lanes are up
		return gnRefusal, gnet.Close
	}
	cl := &gnClient{c: c, lane: r.lanes[r.next%len(r.lanes)]}
	r.next++
	c.SetContext(cl)
	return nil, gnet.None
}

func (r *gnetRelay) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cl, ok := c.Context().(*gnClient); ok {
		cl.closed = true
	}
	return gnet.None
}

func (r *gnetRelay) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *gnClient:
		return x.commands()
	case *gnLane:
		return x.replies()
	}
	return gnet.Close
}

// commands moves the client's complete commands to its lane.
func (cl *gnClient) commands() gnet.Action {
	buf, _ := cl.c.Peek(-1)
	end, n := 0, 0
	for end < len(buf) {
		m, name, err := commandFrame(buf[end:])
		if err != nil || (name != nil && denied[string(bytes.ToUpper(name))]) {
			return gnet.Close
		}
		if m == 0 {
			break
		}
		end += m
		n++
	}
	if n == 0 {
		return gnet.None
	}
	l := cl.lane
	l.out = append(l.out, buf[:end]...)
	l.fifo = append(l.fifo, gnPending{cl: cl, n: n})
	cl.c.Discard(end)
	if !l.scheduled {
		l.scheduled = true
		cl.c.EventLoop().Execute(context.Background(), l.flush)
	}
	return gnet.None
}

// write sends every command of the round in one write.
func (l *gnLane) write() {
	l.scheduled = false
	if len(l.out) > 0 {
		l.c.Write(l.out)
		l.out = l.out[:0]
	}
}

// replies routes the backend's complete replies to their clients, one write per client.
func (l *gnLane) replies() gnet.Action {
	buf, _ := l.c.Peek(-1)
	end := 0
	for end < len(buf) && len(l.fifo) > 0 {
		m, err := replyFrame(buf[end:])
		if err != nil {
			return gnet.Close
		}
		if m == 0 {
			break
		}
		p := &l.fifo[0]
		if !p.cl.queued {
			p.cl.queued = true
			l.served = append(l.served, p.cl)
		}
		p.cl.out = append(p.cl.out, buf[end:end+m]...)
		end += m
		if p.n--; p.n == 0 {
			l.fifo[0] = gnPending{}
			l.fifo = l.fifo[1:]
		}
	}
	l.c.Discard(end)
	if len(l.fifo) == 0 {
		l.fifo = l.fifo[:0:0]
	}
	for i, cl := range l.served {
		if !cl.closed {
			cl.c.Write(cl.out)
		}
		cl.out, cl.queued = cl.out[:0], false
		l.served[i] = nil
	}
	l.served = l.served[:0]
	return gnet.None
}

var errFrame = errors.New("malformed frame")

// commandFrame returns the length of the multibulk command at the start of b and its name; 0 when it is
// not all there.
func commandFrame(b []byte) (int, []byte, error) {
	if len(b) == 0 || b[0] != '*' {
		return 0, nil, errFrame // the prototype takes multibulk commands only
	}
	nargs, pos, ok := lineInt(b, 1)
	if !ok {
		return 0, nil, nil
	}
	var name []byte
	for i := 0; i < nargs; i++ {
		if pos >= len(b) {
			return 0, nil, nil
		}
		if b[pos] != '$' {
			return 0, nil, errFrame
		}
		l, p, ok := lineInt(b, pos+1)
		if !ok {
			return 0, nil, nil
		}
		if p+l+2 > len(b) {
			return 0, nil, nil
		}
		if i == 0 {
			name = b[p : p+l]
		}
		pos = p + l + 2
	}
	return pos, name, nil
}

// replyFrame returns the length of the RESP2 reply at the start of b; 0 when it is not all there.
func replyFrame(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	switch b[0] {
	case '+', '-', ':':
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return 0, nil
		}
		return i + 2, nil
	case '$':
		l, p, ok := lineInt(b, 1)
		if !ok {
			return 0, nil
		}
		if l < 0 {
			return p, nil
		}
		if p+l+2 > len(b) {
			return 0, nil
		}
		return p + l + 2, nil
	case '*':
		n, p, ok := lineInt(b, 1)
		if !ok {
			return 0, nil
		}
		for range max(n, 0) {
			m, err := replyFrame(b[p:])
			if err != nil || m == 0 {
				return 0, err
			}
			p += m
		}
		return p, nil
	}
	return 0, errFrame
}

// lineInt parses the integer from b[i] to CRLF; it returns it and the position after the CRLF.
func lineInt(b []byte, i int) (int, int, bool) {
	j := bytes.Index(b[i:], []byte("\r\n"))
	if j < 0 {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(b[i : i+j]))
	if err != nil {
		return -1, i + j + 2, true
	}
	return n, i + j + 2, true
}
