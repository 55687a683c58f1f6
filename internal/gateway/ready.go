package gateway

import (
	"bufio"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Order kept when a client changes lane (issue 18 item 2). A session that leaves the shared lane for a
// dedicated one (lanesend.go) must not be overtaken by commands other clients send after it: Redis serves
// blocked clients in the order they blocked, and a client that sent BLPOP before another client's LPUSH
// expects to be the one served. Three things keep the order:
//
//   - Ready connections (readyPool): moves take a backend connection dialled ahead of time, so that a
//     move costs no dial, handshake or HELLO 3 round trip. Each pool of an instance (RESP2, RESP3) keeps
//     readySpare of them from the first move on, refilled in the background; an instance whose sessions
//     never move keeps none. A connection that the backend closed meanwhile is found so and dialled again.
//   - The move gate (moveGate): from the moment a moving session has settled its shared replies until
//     its commands are written to its new connection, the sessions of the instance hold the writes of
//     commands that arrived after the move's — shared lane submissions, and those of sessions already
//     on a dedicated lane (sendDedicated) — and moves take their turns in the order their commands
//     arrived. The moving session itself never waits on the gate it holds. A shared lane's writer
//     looks again before it writes (a move may have begun since its commands passed), and each batch of
//     a session already on a dedicated lane takes a turn like a move (awaitMoves), so that what other
//     clients send after it waits for it too. The cost on a shared lane is one atomic load per batch
//     while no move is under way (BenchmarkRelaySingle); a dedicated batch's turn is a lock and a yield
//     (BenchmarkRelaySingleMoved, BenchmarkRelayMovedParallel).
//   - Arrival times (arrivals, arrival_linux.go): "arrived" is when the kernel received a command's
//     bytes, not when its reader ran. Go's scheduler runs the readers of two clients whose commands came
//     microseconds apart in either order — most often the reverse — so a blocking command's move waits
//     moveWindow from its arrival before it takes its turn: the reader of a blocking command that
//     arrived just before it has then begun its move, and goes first. Where the kernel gives no arrival
//     time (TLS, PROXY headers, other systems), the time the batch was read stands in.
//
// A command whose rest is still being read from the client (longer than the read buffer) moves without
// the gate, so that a slow client cannot hold the other clients up; a move to run a restricted user's
// script under its backend identity (identity.go) does too, as it waits for a round trip.

// readySpare is how many ready connections a pool keeps once a session has moved.
const readySpare = 2

// readyPool holds backend connections dialled ahead for sessions that move to a dedicated lane. Safe
// for concurrent use; the zero value is not usable (see Instance.ready).
type readyPool struct {
	in    *Instance
	resp3 bool // connections are turned to RESP3 (HELLO 3) before they are kept

	mu      sync.Mutex
	conns   []net.Conn
	filling bool
	shut    bool
}

// take returns a backend connection for a moving session: a ready one when the pool has one that is
// still open, else one dialled now. Either way the pool is refilled in the background.
func (p *readyPool) take() (net.Conn, error) {
	for {
		p.mu.Lock()
		var c net.Conn
		if n := len(p.conns); n > 0 {
			c, p.conns = p.conns[n-1], p.conns[:n-1]
		}
		refill := !p.filling && !p.shut
		p.filling = p.filling || refill
		p.mu.Unlock()
		if refill {
			p.in.spawn(p.fill)
		}
		if c == nil {
			return p.dial()
		}
		if open(c) {
			return c, nil
		}
		c.Close()
	}
}

// dial connects a new backend connection in the pool's protocol.
func (p *readyPool) dial() (net.Conn, error) {
	be, err := p.in.dialBackend()
	if err == nil && p.resp3 {
		if err = hello3(be); err != nil {
			be.Close()
		}
	}
	if err == nil {
		p.in.monitor.noteDial(be, p.resp3) // its handshake's lines are moat's (monitor.go)
	}
	return be, err
}

// fill dials until the pool holds readySpare connections, or a dial fails (the next take tries again).
func (p *readyPool) fill() {
	for {
		p.mu.Lock()
		full := len(p.conns) >= readySpare || p.shut
		if full {
			p.filling = false
		}
		p.mu.Unlock()
		if full {
			return
		}
		c, err := p.dial()
		p.mu.Lock()
		if err != nil || p.shut {
			p.filling = false
			p.mu.Unlock()
			if c != nil {
				c.Close()
			}
			return
		}
		p.conns = append(p.conns, c)
		p.mu.Unlock()
	}
}

// close closes the ready connections; none is kept or dialled after.
func (p *readyPool) close() {
	p.mu.Lock()
	p.shut = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// open reports whether a ready connection is still usable: the backend has neither closed it nor sent
// anything on it (a fresh connection is sent nothing unasked). It looks at the socket itself (a read
// deadline in the past would not: Go reports the deadline without reading); a connection it cannot
// look at (not TCP) counts as open.
func open(c net.Conn) bool {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS: the socket beneath
		c = tc.NetConn()
	}
	read := readNow(c)
	if read == nil {
		return true
	}
	var b [1]byte
	n, err := read(b[:])
	return n == 0 && err == nil
}

// moveWindow is how long after its command arrived a move of a blocking command waits before it takes
// its turn, so that the reader of a client whose command arrived a moment earlier — woken together with
// this one but run later (Go's scheduler runs readers woken together in no particular order, often the
// reverse of their input's) — begins its move first: blocked clients are served in the order they
// blocked. The instance's other commands that arrived after the move wait that long too; the moving
// session itself waits once in its life. Other moves (MULTI, SUBSCRIBE, …) do not wait.
const moveWindow = 200 * time.Microsecond

// moveGate orders moves against the shared lanes' traffic and against each other (see above). Moves
// take their turns in the order their commands arrived (arrivals), each once its window (moveWindow
// for a blocking command, none for others) has passed since its command arrived; commands of other
// sessions wait while a move that arrived before them is under way or waiting. The zero value is ready.
type moveGate struct {
	active  atomic.Bool   // moves are under way or waiting: submissions look at the gate
	mu      sync.Mutex    // guards the rest
	queue   []*moveTurn   // the moves waiting for their turn, by arrival
	running *moveTurn     // the move that has its turn, nil when none
	changed chan struct{} // closed, and replaced, when a turn ends or a move ends
}

// A moveTurn is one move's place in the gate.
type moveTurn struct{ at int64 } // when its command arrived, unix nanoseconds

// begin starts a move (or a dedicated session's write: awaitMoves), t, of a command that arrived at
// at: from now on the commands of other sessions that arrived after it wait, and it returns once it has
// its turn (every move that arrived before it ended, and window passed since at; it yields at least
// once). t is the caller's until end.
func (g *moveGate) begin(t *moveTurn, at int64, window time.Duration) {
	t.at = at
	g.mu.Lock()
	i := len(g.queue)
	for i > 0 && g.queue[i-1].at > at {
		i--
	}
	g.queue = slices.Insert(g.queue, i, t)
	g.active.Store(true)
	g.mu.Unlock()
	// Readers of earlier commands, woken with this one, run meanwhile: once, then until the window
	// passed — at most window from now (the monotonic clock), should the wall clock have stepped back.
	wait := min(time.Duration(at+int64(window)-time.Now().UnixNano()), window)
	for end, first := time.Now().Add(wait), true; first || time.Now().Before(end); first = false {
		runtime.Gosched()
	}
	for {
		g.mu.Lock()
		if g.running == nil && g.queue[0] == t {
			g.queue[0] = nil // the array keeps no session alive
			g.queue = g.queue[1:]
			g.running = t
			g.mu.Unlock()
			return
		}
		ch := g.changes()
		g.mu.Unlock()
		<-ch
	}
}

// end ends the move that has its turn.
func (g *moveGate) end() {
	g.mu.Lock()
	g.running = nil
	if len(g.queue) == 0 {
		g.active.Store(false)
	}
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}

// changes returns the channel closed at the next end; g.mu held.
func (g *moveGate) changes() chan struct{} {
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

// wait returns once no move that arrived before at (unix nanoseconds: when the waiting command
// arrived) is under way or waiting, false when done closed first.
func (g *moveGate) wait(at int64, done <-chan struct{}) bool {
	for g.active.Load() {
		g.mu.Lock()
		if !g.before(at) {
			g.mu.Unlock()
			return true
		}
		ch := g.changes()
		g.mu.Unlock()
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
	return true
}

// before reports whether a move that arrived before at is under way or waiting; g.mu held.
func (g *moveGate) before(at int64) bool {
	return (g.running != nil && g.running.at <= at) || (len(g.queue) > 0 && g.queue[0].at <= at)
}

// awaitMoves is a dedicated session's turn in the move gate before it writes a batch to its own
// backend connection: the batch takes its place among the moves by its arrival, so that commands of
// other clients that arrived after it wait until it is written (a PUBLISH after this client's
// UNSUBSCRIBE, an LPUSH after its EXEC), and it waits for those that arrived before it — the move of a
// client whose blocking command reached moat just before this batch, whose reader, woken at the same
// time, begin lets run first. The turn ends once the batch is written (session.moved). A session whose
// own move holds the gate (sh.gated) writes at once: the gate waits for it. Under a snapshot without
// shared lanes no session moves, and nothing shared can overtake: the session only looks at the gate
// (one atomic load; sessions started before the lanes were turned off may move). False: the session
// ended while it waited.
func (s *session) awaitMoves() bool {
	if s.sh.gated {
		return true
	}
	if s.snap.SharedLanes == 0 {
		return s.in.moves.wait(s.arrived, s.done)
	}
	s.in.moves.begin(&s.sh.turn, s.arrived, 0)
	s.sh.gated = true
	return true
}

// movedBefore writes what bw holds and ends the move gate, before the rest of a long command is read
// from the client: a slow client must not hold the other clients up (the move's own command is
// written by then). A failed write shows at the next one.
func (s *session) movedBefore(bw *bufio.Writer) {
	if s.sh.gated {
		bw.Flush()
		s.moved()
	}
}

// moved ends the move gate the reader's last move took, once that move's commands are written.
func (s *session) moved() {
	if s.sh.gated {
		s.sh.gated = false
		s.in.moves.end()
	}
}
