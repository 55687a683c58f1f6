package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// Parking: idle connections cost no goroutine (issue 20, "idle connection ≤ 4 KiB").
//
// A session serves its client with two goroutines (its reader and its pump), whose stacks are most of
// what an idle connection costs. A session that has sent nothing for parkAfter, on a shared lane, owing
// no reply, with no command half read, not subscribed or monitoring, over plain TCP without a PROXY
// header or an idle timeout, parks: both goroutines end, its buffers go back to their pools, and its
// socket waits in the instance's waiting room (room_linux.go) — an epoll instance of moat's own, whose
// descriptor Go's poller watches like any socket: one goroutine, and no thread of its own, for every
// parked connection of the instance. The session itself stays what it was: registered (CLIENT LIST,
// CLIENT KILL, drop-on-revoke, maxclients and moat_connections_active count it), with its ID, its user,
// its decide state and its lane.
//
// When the client sends something (or hangs up), the socket leaves the room as it is, nothing read
// from it, and the session resumes: its reader reads what came, as it would have awake. Closing a
// parked session (CLIENT KILL, drop-on-revoke, Close) takes the socket out of the room, closes it and
// ends the session.
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
	pc     *parkedConn   // the socket in the room; nil on its way in or out

	// The reader's alone: who the connection is, kept across a park (the rest of its decide state is
	// that of a new connection: anything else — MULTI, CLIENT REPLY, subscriptions — keeps a session on
	// a dedicated lane, which never parks).
	auth *authState

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

// park puts the session's socket in the waiting room (its goroutines have ended). False: it could not,
// and the session goes on (it will not be asked again) or, closed meanwhile, ends.
func (in *Instance) park(s *session) bool {
	if s.closing() {
		return false
	}
	s.mu.Lock()
	conn := s.conn
	s.park.parked = true
	s.mu.Unlock()
	s.sh.unsent = nil // it held on to the socket as it was; wake watches the socket anew
	err := in.room.enter(s, conn)
	if err == nil {
		return true
	}
	if !errors.Is(err, net.ErrClosed) { // errNoRoom: it goes on as it was; else the session is closing
		s.park.never.Store(true)
	}
	s.mu.Lock()
	s.park.parked = false
	conn = s.conn // a new connection of the same socket, if enter resumed it so
	s.mu.Unlock()
	if s.sh.unsent == nil {
		s.sh.unsent = unsentBytes(conn)
	}
	return false
}

// parkedConn stands for a parked session's socket, which the waiting room holds as descriptor fd:
// CLIENT LIST takes its addresses, and closing it (session.close) takes the socket out of the room,
// closes it and ends the session. Nothing reads or writes it.
type parkedConn struct {
	room         *waitingRoom
	s            *session
	fd           int
	laddr, raddr net.Addr
}

func (c *parkedConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c *parkedConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (c *parkedConn) Close() error                     { c.room.evict(c); return nil }
func (c *parkedConn) LocalAddr() net.Addr              { return c.laddr }
func (c *parkedConn) RemoteAddr() net.Addr             { return c.raddr }
func (c *parkedConn) SetDeadline(time.Time) error      { return nil }
func (c *parkedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *parkedConn) SetWriteDeadline(time.Time) error { return nil }

// wake resumes a session whose socket left the room as descriptor fd: its client sent something, or
// hung up, which its reader finds as it would have awake.
func (in *Instance) wake(pc *parkedConn) {
	s := pc.s
	nc, err := socketConn(pc.fd, pc.laddr, pc.raddr)
	if err != nil {
		in.log.Warn("closing connection: it could not leave the waiting room of idle connections", "client", s.peer, "err", err)
		s.close()
		in.ended(s)
		return
	}
	s.mu.Lock()
	s.conn, s.client.raw = nc, nc
	s.client.view.lastAt = time.Now().UnixNano() // not asked to park again before it reads
	s.park.parked, s.park.pc = false, nil
	s.park.after = min(2*max(s.park.after, parkAfter), parkAfterMax)
	s.mu.Unlock()
	if s.closing() { // closed while it left the room: close could not reach the new socket
		nc.Close()
		in.ended(s)
		return
	}
	s.sh.unsent = unsentBytes(nc)
	in.live(s, s.serveShared)
}

// fileConn makes the socket fd a net.Conn of Go's own kind (of a duplicate of fd; fd is closed).
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	return net.FileConn(f)
}
