package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/moat-dev/moat/internal/resp"
)

// Parking: idle connections cost no goroutine (issue 20, "idle connection ≤ 4 KiB").
//
// A session serves its client with two goroutines (its reader and its pump), whose stacks are most of
// what an idle connection costs. A session that has sent nothing for parkAfter, on a shared lane, owing
// no reply, with no command half read, not subscribed or monitoring, over plain TCP without a PROXY
// header or an idle timeout, parks: both goroutines end, its buffers go back to their pools, and its
// socket waits in the instance's waiting room — a gnet event loop, one goroutine for every parked
// connection of the instance. The session itself stays what it was: registered (CLIENT LIST, CLIENT
// KILL, drop-on-revoke, maxclients and moat_connections_active count it), with its ID, its user, its
// decide state and its lane.
//
// When the client sends something (or hangs up), the loop takes the socket out of the room — a
// duplicate of its descriptor becomes the session's connection again — and the session resumes with the
// bytes the loop read handed to its reader first, so that nothing is lost or reordered. A hang-up while
// parked ends the session as a hang-up with nothing owed does. Closing a parked session (CLIENT KILL,
// drop-on-revoke, Close) closes the socket in the room, which ends it.
//
// The reader decides to park, not the sweeper: the sweeper (once every parkSweep) only asks the readers
// of sessions that look idle, by a read deadline in the past; a reader that finds it is not idle after
// all (a command half read, a reply owed) goes on reading. Sessions that can never park (TLS, PROXY
// header, idle timeout, a dedicated lane) are marked so and never asked.

const (
	// parkAfter: a session that has sent no command for this long is asked to park; one woken from the
	// room waits twice as long as before it parks again, up to parkAfterMax. The Go runtime keeps the
	// descriptor of every goroutine it ever ran at once, so the sooner a wave of new idle clients parks,
	// the less each costs for good: 10,000 clients opened 32 at a time (bench/run.sh's idle test) cost
	// 4.5–4.9 KB each with 2 s, 3.6 KB with 500 ms. A park and a wake cost about 60 µs of moat's CPU,
	// and a wake waits behind the parks of its sweep: the back-off lets a client that sends a command
	// every second pay them once or twice, not for every command.
	parkAfter    = 500 * time.Millisecond
	parkAfterMax = 2 * time.Second
	// parkSweep: how often the sweeper looks for sessions to park. Each sweep's sessions park at once:
	// short sweeps keep those waves small.
	parkSweep = 100 * time.Millisecond
	// releaseAfter: when the sweeps of a wave of parking (until one that asks none) asked at least this
	// many sessions to park, the memory their goroutines and buffers held goes back to the operating
	// system (at most once per releaseEvery).
	// An idle process would otherwise hold it until its next garbage collection, which nothing
	// allocating may not bring for minutes, and its RSS for longer.
	releaseAfter = 256
	releaseEvery = 30 * time.Second
)

// parkState is a session's part in parking.
type parkState struct {
	never atomic.Bool // the session may not park (see above); set once, never cleared
	req   atomic.Bool // the sweeper asked the reader to park at its next wait
	now   atomic.Bool // the reader parks: the pump ends without closing the session

	// Guarded by session.mu.
	parked bool          // the socket is in the waiting room, or on its way in or out
	after  time.Duration // how long the session must be idle to be asked to park; 0: parkAfter
	gc     gnet.Conn     // the socket in the room; nil on its way in or out
	laddr  net.Addr      // the socket's local address, taken as it entered the room (CLIENT LIST's laddr)

	// The reader's alone: who the connection is, kept across a park (the rest of its decide state is
	// that of a new connection: anything else — MULTI, CLIENT REPLY, subscriptions — keeps a session on
	// a dedicated lane, which never parks), and the bytes read while parked.
	auth   *authState
	prefix []byte

	// The pump's alone: the protocol its replies are in (HELLO 3), kept across a park.
	resp3 bool
}

// parkable reports whether the session may park now (its reader asks, with rdIdle: its command reader
// holds nothing); if so, the empty queue and inbox let their arrays go.
func (s *session) parkable(rdIdle bool) bool {
	if !rdIdle || s.park.never.Load() || s.sh.lane == nil || s.closing() || s.owed.Load() != 0 ||
		s.inflight.Load() != 0 || s.listening.Load() || s.hungUp.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 || len(s.sh.inbox) > 0 || len(s.sh.ends) > 0 {
		return false
	}
	s.queue, s.sh.inbox, s.sh.ends = nil, nil, nil
	return true
}

// parkAsked reports whether err, a read's error, is the sweeper's request to park (a read deadline in
// the past, sweepParking) rather than a failure; the request is then taken and the deadline cleared,
// so that the reader may go on reading when it cannot park.
func (s *session) parkAsked(err error) bool {
	if err == nil || !isTimeout(err) || !s.park.req.Swap(false) {
		return false
	}
	s.conn.SetReadDeadline(time.Time{})
	return true
}

// cont is rd.Continue(w) for the session's reader: a read cut short by the sweeper's request to park
// (a deadline set just as a long command began, or while it streams slowly) is no error: the command
// goes on, and the session is asked again later.
func (s *session) cont(rd *resp.Reader, w io.Writer) error {
	for {
		if err := rd.Continue(w); !s.parkAsked(err) {
			return err
		}
	}
}

// sweepParking asks the readers of sessions idle for parkAfter to park, every parkSweep, until Close.
func (in *Instance) sweepParking() {
	t := time.NewTicker(parkSweep)
	defer t.Stop()
	var idle []*session
	var wave int           // sessions asked to park by the sweeps since the last that asked none
	var released time.Time // when the memory was last returned
	for {
		select {
		case <-in.closing.Done():
			return
		case <-t.C:
		}
		asked := 0
		idle = in.parkCandidates(idle[:0])
		now := time.Now().UnixNano()
		for _, ss := range idle {
			ss.mu.Lock()
			last, parked, conn, after := ss.client.view.lastAt, ss.park.parked, ss.conn, ss.park.after
			ss.mu.Unlock()
			if last != 0 && last < now-int64(max(after, parkAfter)) && !parked {
				ss.park.req.Store(true) // before the deadline: the reader looks at it when its read times out
				conn.SetReadDeadline(time.Unix(1, 0))
				asked++
			}
		}
		clear(idle)
		if wave += asked; asked == 0 && wave > 0 { // a wave of parking has ended
			if wave >= releaseAfter && time.Since(released) >= releaseEvery {
				runtime.GC() // the pools' buffers survive one collection (sync.Pool's victim cache)
				debug.FreeOSMemory()
				released = time.Now()
			}
			wave = 0
		}
	}
}

// awakeSet is the sessions whose goroutines run (Instance.live): the only ones the sweeper may ask to
// park. Parked sessions are not in it, so a sweep costs nothing per parked connection. Safe for
// concurrent use; its lock is taken alone.
type awakeSet struct {
	mu sync.Mutex
	m  map[*session]struct{}
}

func (a *awakeSet) add(s *session) {
	a.mu.Lock()
	if a.m == nil {
		a.m = make(map[*session]struct{})
	}
	a.m[s] = struct{}{}
	a.mu.Unlock()
}

func (a *awakeSet) remove(s *session) {
	a.mu.Lock()
	delete(a.m, s)
	a.mu.Unlock()
}

// parkCandidates appends to idle the awake sessions that may park, by what their atomics say, and
// returns it. A session that may never park leaves the set: later sweeps pass it by for nothing.
func (in *Instance) parkCandidates(idle []*session) []*session {
	in.awake.mu.Lock()
	defer in.awake.mu.Unlock()
	for ss := range in.awake.m {
		switch {
		case ss.park.never.Load():
			delete(in.awake.m, ss)
		case ss.owed.Load() == 0 && !ss.listening.Load():
			idle = append(idle, ss)
		}
	}
	return idle
}

// waitingRoom is the event loop parked sockets wait in, started at the first park. Safe for concurrent
// use.
type waitingRoom struct {
	gnet.BuiltinEventEngine
	in *Instance

	mu   sync.Mutex
	cli  *gnet.Client
	err  error
	shut bool
}

// client returns the room's running event loop, starting it the first time.
func (r *waitingRoom) client() (*gnet.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return nil, net.ErrClosed
	}
	if r.cli != nil || r.err != nil {
		return r.cli, r.err
	}
	cli, err := gnet.NewClient(r, gnet.WithLogger(gnetLog{r.in.log}), gnet.WithMulticore(false))
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		r.err = fmt.Errorf("starting the waiting room of idle connections: %w", err)
		return nil, r.err
	}
	r.cli = cli
	return cli, nil
}

// close stops the event loop; nothing parks after. Close calls it once every session has ended.
func (r *waitingRoom) close() {
	r.mu.Lock()
	cli := r.cli
	r.shut, r.cli = true, nil
	r.mu.Unlock()
	if cli != nil {
		cli.Stop()
	}
}

// park puts the session's socket in the waiting room (its goroutines have ended). False: it could not,
// and the session goes on (the reason is logged, and it will not be asked again) or, closed meanwhile,
// ends.
func (in *Instance) park(s *session) bool {
	if s.closing() {
		return false
	}
	cli, err := in.room.client()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			in.log.Warn("idle connections keep their goroutines", "err", err)
		}
		s.park.never.Store(true)
		return false
	}
	s.mu.Lock()
	conn := s.conn
	s.park.parked = true
	s.mu.Unlock()
	s.sh.unsent = nil         // it held on to the socket as it was; wake watches the new one's send queue
	conn, err = netConn(conn) // the room takes only Go's own kinds of connection
	if err == nil {
		_, err = cli.EnrollContext(conn, s) // closes conn: the room holds a duplicate of its socket
	}
	if err != nil {
		if errors.Is(err, syscall.ENOTCONN) { // the client reset the connection as it parked
			in.log.Debug("closing connection: the client reset it as it parked", "client", s.peer)
		} else {
			in.log.Warn("closing connection: it could not wait in the waiting room of idle connections", "client", s.peer, "err", err)
		}
		s.close()
		return false
	}
	return true
}

// OnOpen records a socket that entered the room, where close finds it; a session closed meanwhile
// (close could not reach it) ends at once.
func (r *waitingRoom) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := c.Context().(*session)
	r.in.m.parked.Inc()
	s.mu.Lock()
	// The room's connection stands for the socket while parked: CLIENT LIST takes its addresses, close
	// closes it; nothing reads or writes it. The closed socket of before is let go.
	s.park.gc, s.conn, s.client.raw = c, c, c
	s.park.laddr = c.LocalAddr() // c's own is cleared as it leaves the room, on this goroutine
	s.mu.Unlock()
	if s.closing() {
		return nil, gnet.Close
	}
	return nil, gnet.None
}

// OnTraffic takes a parked socket out of the room when its client sends something: the session
// resumes on a duplicate of the socket, with what the loop read first.
func (r *waitingRoom) OnTraffic(c gnet.Conn) gnet.Action {
	s := c.Context().(*session)
	b, _ := c.Next(-1)
	prefix := bytes.Clone(b)
	fd, err := c.Dup()
	if err != nil {
		r.in.log.Warn("closing connection: it could not leave the waiting room of idle connections", "client", s.peer, "err", err)
		return gnet.Close // OnClose ends the session
	}
	s.mu.Lock()
	s.park.gc = nil
	s.mu.Unlock()
	r.in.m.parked.Dec()
	c.SetContext(nil) // its OnClose is not the session's end
	go r.in.wake(s, fd, prefix, c.RemoteAddr())
	return gnet.Close // the loop's descriptor; the duplicate keeps the socket open
}

// OnClose ends a parked session whose client hung up or that was closed (a socket OnTraffic took out
// of the room has no session by then).
func (r *waitingRoom) OnClose(c gnet.Conn, _ error) gnet.Action {
	s, ok := c.Context().(*session)
	if !ok { // OnTraffic took it out of the room
		return gnet.None
	}
	s.mu.Lock()
	s.park.gc = nil
	s.mu.Unlock()
	r.in.m.parked.Dec()
	s.close()
	r.in.ended(s)
	return gnet.None
}

// wake resumes a session whose socket left the room as descriptor fd, with prefix read from it there;
// raddr is its peer's address.
func (in *Instance) wake(s *session, fd int, prefix []byte, raddr net.Addr) {
	s.mu.Lock()
	laddr := s.park.laddr
	s.mu.Unlock()
	nc, err := socketConn(fd, laddr, raddr)
	if err != nil {
		in.log.Warn("closing connection: it could not leave the waiting room of idle connections", "client", s.peer, "err", err)
		s.close()
		in.ended(s)
		return
	}
	s.mu.Lock()
	s.conn, s.client.raw = nc, nc
	s.client.view.lastAt = time.Now().UnixNano() // not asked to park again before it reads
	s.park.parked, s.park.laddr = false, nil
	s.park.after = min(2*max(s.park.after, parkAfter), parkAfterMax)
	s.mu.Unlock()
	if s.closing() { // closed while it left the room: close could not reach the new socket
		nc.Close()
		in.ended(s)
		return
	}
	s.sh.unsent = unsentBytes(nc)
	s.park.prefix = prefix
	in.live(s, s.serveShared)
}

// fileConn makes the socket fd a net.Conn of Go's own kind (of a duplicate of fd; fd is closed).
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	return net.FileConn(f)
}

// gnetLog is the waiting room's event loop's log, in the instance's.
type gnetLog struct{ log *slog.Logger }

func (l gnetLog) Debugf(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l gnetLog) Infof(format string, args ...any)  { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l gnetLog) Warnf(format string, args ...any)  { l.log.Warn(fmt.Sprintf(format, args...)) }
func (l gnetLog) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
func (l gnetLog) Fatalf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
