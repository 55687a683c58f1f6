package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
)

// The shared lane: many sessions' stateless commands over a few backend connections (snapshot
// SharedLanes of them per protocol). Authentication and ACLs are moat's, so every lane connection is
// moat's own backend login and identities never mix on it.
//
// A session writes its batch's forwarded commands into the lane's buffer and the FIFO of replies owed,
// in one critical section, so the order of commands on the wire is the order of the FIFO. The lane's
// writer yields once before it takes the buffer, so that the commands of every session that is ready
// share one write. The lane's reader frames each reply, appends it to the inbox of the session at the
// FIFO's head (session.inbox) and wakes each session it served once per read from the backend. The
// session's pump (sharedPump) fills its reply slots in order from its inbox and moat's own replies.
//
// A session leaves the shared lane for a dedicated one, before the command is sent, when the command
// needs state a shared connection cannot hold (sharedNeed); it never comes back.
//
// While a session monitors, submit also records who sent each command, for the MONITOR lines that
// name the lane (monitor.go).
type lane struct {
	pool *lanePool
	be   net.Conn

	mu     sync.Mutex
	out    []byte    // commands not yet written
	outAt  int64     // the latest arrival (session.arrived) among the commands in out
	fifo   []pending // replies owed, in the order of the commands
	kicked bool      // the writer has been told about out
	err    error     // the lane failed or retired: nothing more is accepted
	// draining: a client was cut off while its reply passed (lanedrain.go); sessions send nothing
	// more here, and the lane retires once the open sessions have what they are owed.
	draining bool

	kick  chan struct{} // wakes the writer
	done  chan struct{} // closed when the lane fails
	spare []byte        // the writer's previous buffer, reused as the next out

	// For sessions choosing a lane that is not held up (laneheld.go).
	owed     atomic.Int64 // replies submitted and not yet read
	since    atomic.Int64 // unix nanoseconds of the last reply read, or of the submit that ended idleness
	passing  atomic.Bool  // a reply longer than inboxLimit is passing: whatever is sent now waits for its end
	overflow bool         // an extra lane, dialled while every lane was held up; it retires once idle

	mon laneRing // the commands given while a session monitors, guarded by mu (monitor.go)
}

// pending is n replies owed to s, in order.
type pending struct {
	s *session
	n int
}

// errLaneLost is how a session learns that its lane failed.
var errLaneLost = errors.New("shared backend connection lost")

// Bounds of the shared lane.
const (
	// inboxLimit is how many reply bytes a session may have waiting for its client before the lane's
	// reader waits for that client (which stalls every session on the lane) — only while the client
	// keeps taking them (see session.holdLane).
	inboxLimit = 4 << 20
	// stallGrace: a client over inboxLimit whose socket takes none of its replies for this long is
	// closed, so that a client that stopped reading holds up its lane for milliseconds, not seconds.
	stallGrace = 100 * time.Millisecond
	// stallPoll: how often holdLane looks at the client socket's send queue for bytes the client read.
	stallPoll = 20 * time.Millisecond
	// inboxStall bounds the time in all that the lane's reader waits for one client over inboxLimit
	// before that client has caught up (every reply it is owed delivered): a client that reads, but more
	// slowly than its lane delivers, is closed then.
	inboxStall = 2 * time.Second
	// progressChunk: the shared pump writes to its client in pieces of at most this size, and tells the
	// lane's reader of each one taken (see progressWriter).
	progressChunk = 64 << 10
	// holdReplies bounds how long the shared pump holds replies written for the reply of a prompt
	// command read with them (sharedPump): a few round trips of a shared lane to a backend on the same
	// host under load, so that a backend slower than that (busy, or its lane held up by another client)
	// costs one more write, not the client's wait. With 50 clients churning (AUTH + PING each), 1 ms
	// ran out on a third to a half of connections, 3 ms on ~3 % (bench/RESULTS.md, stop 21).
	holdReplies = 3 * time.Millisecond
	// keepBuffer: buffers larger than this are not kept for reuse once they are empty.
	keepBuffer = 256 << 10
	// longReply: a client sent a reply longer than this moves to a dedicated lane at its next command.
	longReply = 64 << 10
	// maxLanes bounds the shared-lanes parameter.
	maxLanes = 64
)

// submit queues the forwarded commands of one batch (acts[i] != actDrop) for the backend: n replies
// owed to s; g is the script guard of wrapped commands (scriptguard.go). Nothing is sent if the lane
// failed.
func (l *lane) submit(s *session, cmds []resp.Command, acts []act, n int, g *backend.ScriptGuard) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return errLaneLost
	}
	for i := range cmds {
		switch acts[i] {
		case actDrop:
		case actWrap:
			l.out = appendWrapped(l.out, g, cmds[i].Raw)
		default:
			l.out = append(l.out, cmds[i].Raw...)
		}
	}
	l.fifo = append(l.fifo, pending{s: s, n: n})
	l.outAt = max(l.outAt, s.arrived)
	if m := &l.pool.in.monitor; m.n.Load() > 0 {
		l.mon.record(m.seed, s, cmds, acts)
	} else if l.mon.recs != nil {
		l.mon.recs = nil // nobody monitors any more
	}
	s.inflight.Add(int64(n))
	if l.owed.Add(int64(n)) == int64(n) {
		l.since.Store(time.Now().UnixNano())
	}
	kick := !l.kicked
	l.kicked = true
	l.mu.Unlock()
	if kick {
		l.kick <- struct{}{} // never blocks: only the first submit after a write sends, and kick holds one
	}
	return nil
}

// write is the lane's writer goroutine.
func (l *lane) write() {
	for {
		select {
		case <-l.kick:
		case <-l.done:
			return
		}
		// Let the other sessions that are ready add their commands, so they share this write.
		runtime.Gosched()
		l.mu.Lock()
		buf, at := l.out, l.outAt
		l.out, l.outAt, l.kicked = l.spare[:0], 0, false
		failed := l.err != nil
		l.mu.Unlock()
		if failed {
			return
		}
		// A move that began since these commands passed the gate, of a command that arrived before one
		// of them, writes first (ready.go).
		if !l.pool.in.moves.wait(at, l.done) {
			return
		}
		if _, err := l.be.Write(buf); err != nil {
			l.fail(err)
			return
		}
		if cap(buf) > keepBuffer {
			buf = nil
		}
		l.spare = buf[:0]
	}
}

// read is the lane's reader goroutine: it routes every reply frame to the session that owes it.
func (l *lane) read() {
	br := bufio.NewReaderSize(l.be, 32<<10)
	sink := inboxSink{l: l}
	fw := bufio.NewWriterSize(&sink, 16<<10)
	drop := l.dropper(&sink)
	var work []pending // taken from fifo; work[wi] is owed the next frame
	wi := 0
	var served []*session // sessions given replies since the last wake-up
	var ends []int        // where the frames delivered at once end
	defer func() {        // replies delivered before the lane ended are still to be written
		for _, s := range served {
			s.signal()
		}
	}()
	for {
		if br.Buffered() == 0 {
			for _, s := range served {
				s.signal()
			}
			clear(served)
			served = served[:0]
			if wi == len(work) && l.retireDrained() {
				l.abandon(nil)
				return
			}
			idle := l.overflow && wi == len(work) // an idle overflow lane closes after overflowIdle
			if idle {
				l.be.SetReadDeadline(time.Now().Add(overflowIdle))
			}
			if _, err := br.Peek(1); err != nil {
				if idle && isTimeout(err) {
					if !l.retireIdle() {
						continue
					}
					return
				}
				l.fail(err)
				l.abandon(work[wi:])
				return
			}
			if idle {
				l.be.SetReadDeadline(time.Time{})
			}
		}
		if wi == len(work) {
			clear(work)
			l.mu.Lock()
			work, l.fifo = l.fifo, work[:0]
			l.mu.Unlock()
			wi = 0
			if len(work) == 0 {
				l.fail(fmt.Errorf("%w: a reply no command asked for", resp.ErrReply))
				return
			}
		}
		s := work[wi].s
		if len(served) == 0 || served[len(served)-1] != s {
			served = append(served, s)
		}
		// The frames s is owed that the buffer holds whole go to its inbox in one piece.
		buf, _ := br.Peek(br.Buffered())
		end := 0
		ends = ends[:0]
		for len(ends) < work[wi].n {
			n, err := resp.FrameLen(buf[end:])
			if err != nil {
				l.fail(err)
				l.abandon(work[wi:])
				return
			}
			if n == 0 {
				break
			}
			end += n
			ends = append(ends, end)
		}
		if len(ends) > 0 {
			s.deliver(buf[:end], ends)
			l.read1(len(ends))
			br.Discard(end)
			if work[wi].n -= len(ends); work[wi].n == 0 {
				wi++
			}
			continue
		}
		// A frame that has not all arrived, or is longer than the buffer: streamed through.
		sink.s, sink.last, sink.n, sink.rest = s, false, 0, work[wi+1:]
		err := resp.CopyReplyDrop(fw, br, nil, drop)
		l.passing.Store(false)
		if sink.n+fw.Buffered() > longReply {
			s.sh.longReplies.Store(true)
		}
		if err == nil {
			sink.last = true
			if err = fw.Flush(); errors.Is(err, resp.ErrDrop) { // s was cut off: the rest of its frame was read and dropped
				fw.Reset(&sink)
				err = nil
			}
			if sink.last { // flushed before it ended: the end is still to be recorded
				s.deliver(nil, frameEndsHere[:])
			}
		}
		if err != nil {
			l.fail(err)
			l.abandon(work[wi:])
			return
		}
		l.read1(1)
		if work[wi].n--; work[wi].n == 0 {
			wi++
		}
	}
}

// frameEndsHere is deliver's ends for bytes that finish a frame.
var frameEndsHere = [1]int{0}

// fail marks the lane failed and closes its backend connection; the reader then abandons every session
// still owed a reply. The pool replaces a failed lane.
func (l *lane) fail(err error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = err
	}
	l.mu.Unlock()
	if first {
		l.be.Close()
		close(l.done)
		l.pool.forget(l)
		if !errors.Is(err, net.ErrClosed) {
			l.pool.in.m.ioErrors.Inc()
			l.pool.in.log.Warn("shared backend connection lost", "backend", l.pool.in.backend.String(), "err", err)
		}
	}
}

// abandon closes the sessions owed replies that will not come: those of work (the reader's) and those
// still queued.
func (l *lane) abandon(work []pending) {
	l.mu.Lock()
	queued := l.fifo
	l.fifo = nil
	l.mu.Unlock()
	for _, p := range append(work, queued...) {
		p.s.close()
	}
}

func (l *lane) failed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err != nil
}

// inboxSink appends a frame's bytes to the inbox of the session being served. last marks the final write
// of a frame (the flush after CopyReply), which also records the frame's end. Once that session is
// closed (cut off for not reading: holdLane), the lane retires if nothing else is owed on it, which
// ends the frame's copy with errLaneRetired; if others are owed replies after it, the rest of the frame
// is not wanted (resp.ErrDrop).
type inboxSink struct {
	l    *lane
	s    *session
	last bool
	n    int       // bytes of the frame written so far
	rest []pending // the replies owed after this frame's session's, taken by the reader
}

func (k *inboxSink) Write(p []byte) (int, error) {
	if k.n <= inboxLimit && k.n+len(p) > inboxLimit {
		// A reply this long holds the lane up while it passes (or until its client is cut off): have
		// an overflow lane ready for those who leave it. Shorter ones pass before a dial would help, and
		// must not cost the backend a connection a second.
		k.l.passing.Store(true)
		k.l.pool.prepare(k.s.snap.SharedLanes)
	}
	k.n += len(p)
	if k.last {
		end := [1]int{len(p)}
		k.s.deliver(p, end[:])
	} else {
		k.s.deliver(p, nil)
	}
	k.last = false
	if k.s.closing() {
		if k.l.retire(k.rest) {
			return 0, errLaneRetired
		}
		return 0, resp.ErrDrop
	}
	if k.n > longReply {
		// A long reply is copied as fast as the backend sends it and would keep this goroutine on its
		// processor until preempted (10 ms); other clients' goroutines take their turn between chunks.
		// A short frame that merely arrived in pieces costs nothing here.
		runtime.Gosched()
	}
	return len(p), nil
}

// lanePool holds an instance's shared lanes of one protocol, dialled on first use and replaced when
// they fail.
type lanePool struct {
	in    *Instance
	resp3 bool

	mu       sync.Mutex
	next     int
	slots    [maxLanes]laneSlot
	draining map[*lane]struct{} // lanes taken out of their slot while draining (lanedrain.go)
	shut     bool

	preparing atomic.Bool // an overflow lane is being dialled ahead (laneheld.go)
}

type laneSlot struct {
	mu       sync.Mutex
	l        *lane
	failedAt time.Time // the last dial failed slowly then: callers within a second get that error at once
	dialErr  error
}

// acquire returns a working lane, one of the first n round robin, dialling it if needed.
func (p *lanePool) acquire(n int) (*lane, error) {
	n = min(max(n, 1), maxLanes)
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		return nil, errLaneLost
	}
	sl := &p.slots[p.next%n]
	p.next++
	p.mu.Unlock()
	sl.mu.Lock()
	if sl.l != nil && sl.l.usable() {
		defer sl.mu.Unlock()
		return sl.l, nil
	}
	if time.Since(sl.failedAt) < time.Second {
		// This slot's last dial failed slowly a moment ago: another slot's lane, if one works (the
		// backend may be back), else that error at once.
		err := sl.dialErr
		sl.mu.Unlock()
		if l := p.working(n); l != nil {
			return l, nil
		}
		return nil, err
	}
	defer sl.mu.Unlock()
	start := time.Now()
	l, err := p.dial(false)
	if err != nil {
		if time.Since(start) > 100*time.Millisecond { // a slow failure (a timeout) is not tried again at once
			sl.failedAt, sl.dialErr = time.Now(), err
		}
		return nil, err
	}
	p.mu.Lock()
	if p.shut {
		p.mu.Unlock()
		l.fail(net.ErrClosed)
		return nil, errLaneLost
	}
	p.mu.Unlock()
	p.keepDraining(sl.l)
	sl.l = l
	return l, nil
}

// working returns a working lane of the pool's first n, or nil.
func (p *lanePool) working(n int) *lane {
	for i := range n {
		sl := &p.slots[i]
		sl.mu.Lock()
		l := sl.l
		sl.mu.Unlock()
		if l != nil && l.usable() {
			return l
		}
	}
	return nil
}

// helloCmd turns a RESP3 lane's connection to RESP3.
var helloCmd = []byte("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")

func (p *lanePool) dial(overflow bool) (*lane, error) {
	be, err := p.in.dialBackend()
	if err != nil {
		return nil, err
	}
	if p.resp3 {
		if err := hello3(be); err != nil {
			be.Close()
			return nil, err
		}
	}
	l := &lane{pool: p, be: be, kick: make(chan struct{}, 1), done: make(chan struct{}), overflow: overflow}
	p.in.spawn(l.write)
	p.in.spawn(l.read)
	return l, nil
}

// close closes every lane; sessions still on them are closed by the instance.
func (p *lanePool) close() {
	p.mu.Lock()
	p.shut = true
	p.mu.Unlock()
	for i := range p.slots {
		sl := &p.slots[i]
		sl.mu.Lock()
		if sl.l != nil {
			sl.l.fail(net.ErrClosed)
		}
		sl.mu.Unlock()
	}
	p.mu.Lock()
	old := make([]*lane, 0, len(p.draining))
	for l := range p.draining {
		old = append(old, l)
	}
	p.mu.Unlock()
	for _, l := range old {
		l.fail(net.ErrClosed)
	}
}
