package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
)

// The session's side of the shared lane (lane.go). A session starts on a shared lane of the RESP2 pool
// when the instance has shared lanes (snapshot SharedLanes > 0). HELLO 3 / HELLO 2 move it between the
// RESP2 and RESP3 pools once every reply owed on the old lane has arrived. A command that needs
// connection state moves it, for good, to a dedicated lane: the reader dials the session's own backend
// connection (turned to RESP3 first if the session speaks it), queues a move slot, and from then on the
// session is an ordinary dedicated one; the pump serves the shared replies up to the move slot and then
// becomes the dedicated pump.

// sharedState is the session's shared-lane state. lane and resp3 belong to the reader; the inbox to the
// lane's reader and the pump, under session.mu.
type sharedState struct {
	lane  *lane // nil: on a dedicated lane (or never shared)
	resp3 bool  // lane is of the RESP3 pool

	gated bool     // the reader's move holds the instance's move gate until its commands are written (ready.go)
	turn  moveTurn // its place in the gate while gated

	inbox []byte // reply bytes delivered and not yet taken by the pump
	ends  []int  // where each complete frame in inbox ends

	longReplies atomic.Bool // a reply longer than longReply came for this session (the lane's reader sets it)

	out    progressWriter     // the pump's way to the client
	unsent func() (int, bool) // the client socket's send queue (sendq_linux.go); nil: not known
	took   atomic.Int64       // reply bytes the client's socket has taken (the pump counts them)
	held   atomic.Int64       // nanoseconds the lane's readers waited for this client since it last caught up

	wake    chan struct{} // the pump has something to do: slots queued or replies delivered
	drained chan struct{} // the pump took the inbox, or the client took bytes (the lane's reader may wait)
	settled chan struct{} // every reply owed has been delivered (the reader may be waiting for that)
}

// laneNeed is what a forwarded command asks of the lane.
type laneNeed uint8

const (
	needShared    laneNeed = iota // any lane of the session's protocol
	needDedicated                 // connection state: leave the shared lane before sending it
	needRESP2                     // HELLO 2: a lane of the RESP2 pool
	needRESP3                     // HELLO 3: a lane of the RESP3 pool
)

// sharedNeed says whether c (a command of entry e, decided as sl and forwarded) can go on a shared
// lane. Anything that leaves state on the connection (transactions, database, name, reply mode,
// tracking, pub/sub, MONITOR, replication, cluster flags), blocks it, or is too long to hold needs a
// dedicated lane; so does every command of a client that was sent a long reply (over longReply bytes),
// which holds up the other clients on its lane while it passes: such a client has its own lane from its
// next command on.
func (s *session) sharedNeed(e *command, c *resp.Command, sl *slot) laneNeed {
	if c.More || sl.call != nil || s.sh.longReplies.Load() {
		return needDedicated
	}
	switch sl.kind {
	case kindOne, kindWrapped, kindInfo, kindLatency:
	case kindHello:
		if len(c.Args) < 2 {
			return needShared
		}
		if v, _ := atoi(string(c.Args[1])); v == 3 {
			return needRESP3
		}
		return needRESP2
	default:
		return needDedicated
	}
	return e.laneFor(c) // the command table's (commandtable.go)
}

// xreadBlocks reports whether an XREAD or XREADGROUP command has the BLOCK option: it reads the
// options up to STREAMS as Redis does (GROUP takes two values, COUNT and BLOCK one, NOACK none), so a
// group, consumer or stream named "block" is not taken for it. Malformed options read as not blocking:
// the backend refuses the command.
func xreadBlocks(args [][]byte) bool {
	for i := 1; i < len(args); {
		var b [16]byte
		switch lower(args, i, &b) {
		case "block":
			return true
		case "group":
			i += 3
		case "count":
			i += 2
		case "noack":
			i++
		default: // STREAMS, or something the backend will refuse
			return false
		}
	}
	return false
}

// sendShared sends a decided batch on shared lanes (ents are its commands' entries, as decide looked
// them up): enqueues its slots and submits its forwarded commands, switching pools at a HELLO that
// changes the protocol. It stops at the first command that needs a dedicated lane, moves the session
// there (with that command's slot and the rest queued after the move slot) and returns that command's
// index; len(cmds) when everything went shared; -1 when the session ends.
func (s *session) sendShared(rd *resp.Reader, st *decideState, cmds []resp.Command, ents []*command, acts []act, slots []slot) int {
	start, n, fwd := 0, 0, 0 // n: replies owed for cmds[start:i], fwd: commands forwarded
	for i := 0; i <= len(cmds); i++ {
		need := needShared
		if i < len(cmds) {
			if acts[i] == actDrop {
				continue
			}
			need = s.sharedNeed(ents[i], &cmds[i], &slots[i])
			if s.fits(need) {
				n += frames(acts[i], &slots[i])
				fwd++
				continue
			}
		}
		// Send cmds[start:i] on the current lane (or one not held up, laneheld.go).
		if n > 0 && !s.laneReady() {
			s.enqueue([]slot{{local: replyBackendUnavailable, close: true}})
			return -1
		}
		if n > 0 {
			s.avoidHeld()
			if !s.in.moves.wait(s.arrived, s.done) { // a move that began first writes first (ready.go)
				return -1
			}
		}
		s.enqueue(slots[start:min(i, len(slots))]) // a silent QUIT, last, has no slot
		if n > 0 {
			err := s.sh.lane.submit(s, cmds[start:i], acts[start:i], n, st.guard)
			if errors.Is(err, errLaneRetired) && s.laneReady() { // it retired since laneReady looked
				err = s.sh.lane.submit(s, cmds[start:i], acts[start:i], n, st.guard)
			}
			if err != nil {
				s.backendLost(err)
				return -1
			}
			s.in.m.forwarded.Add(float64(fwd))
		}
		if i == len(cmds) {
			break
		}
		if need == needDedicated {
			window := time.Duration(0)
			if ents[i].blocksFor(&cmds[i]) {
				window = moveWindow
			}
			if !s.moveToDedicated(!cmds[i].More, window) {
				return -1
			}
			s.enqueue(slots[i:])
			return i
		}
		// HELLO 2|3 changing the protocol: once the old lane has answered everything (so that nothing sent
		// on the new lane overtakes it), change pools.
		if !s.settle() {
			return -1
		}
		l, err := s.in.lanes[boolIndex(need == needRESP3)].acquire(s.snap.SharedLanes)
		if err != nil {
			s.in.log.Info("no shared lane for the protocol: moving to a dedicated lane", "client", s.peer, "err", err)
			if !s.moveToDedicated(false, 0) {
				return -1
			}
			s.enqueue(slots[i:])
			return i
		}
		s.sh.lane, s.sh.resp3 = l, need == needRESP3
		start, n, fwd = i, 1, 1
	}
	if last := &cmds[len(cmds)-1]; last.More && acts[len(cmds)-1] == actDrop {
		if err := s.cont(rd, io.Discard); err != nil {
			s.close()
			return -1
		}
	}
	return len(cmds)
}

// fits reports whether the session's current lane serves a command that needs need.
func (s *session) fits(need laneNeed) bool {
	switch need {
	case needShared:
		return true
	case needRESP2:
		return !s.sh.resp3
	case needRESP3:
		return s.sh.resp3
	}
	return false
}

// laneReady reports whether the session's lane takes commands. It replaces one that failed (the backend
// went away) while the session owed nothing on it: such a client is not disconnected, and is served
// again once the backend is back. It replaces a draining one (lanedrain.go) once every reply owed on it
// has come, so that nothing sent on the new lane overtakes them. False: no lane; the client is told the
// backend is unavailable (or the session ended).
func (s *session) laneReady() bool {
	if s.sh.lane.usable() {
		return true
	}
	if s.sh.lane.failed() && s.inflight.Load() > 0 {
		return false // the lane's reader closes this session: its replies are lost
	}
	if !s.settle() {
		return false
	}
	l, err := s.in.lanes[boolIndex(s.sh.resp3)].acquire(s.snap.SharedLanes)
	if err != nil {
		s.in.m.dialErrors.Inc()
		s.in.log.Error("backend unavailable", "client", s.peer, "backend", s.in.backend.String(), "err", err)
		return false
	}
	s.sh.lane = l
	return true
}

// settle waits until every reply owed on the shared lane has been delivered. False: the session ended.
func (s *session) settle() bool {
	for s.inflight.Load() > 0 {
		select {
		case <-s.sh.settled:
		case <-s.done:
			return false
		}
	}
	return true
}

// moveToDedicated takes the session's own backend connection (a ready one, ready.go) and queues the
// move slot. It first waits for the replies owed on the shared lane: a command sent on the new
// connection must not overtake (run before) one sent on the old. gated: the move then holds the
// instance's move gate until the reader has written its commands (session.moved), so that no command
// another client sends later overtakes them. On failure the client gets moat's backend-unavailable
// error after the replies still owed, and the session ends.
func (s *session) moveToDedicated(gated bool, window time.Duration) bool {
	s.park.never.Store(true) // its own backend connection may send at any time (park.go)
	if !s.settle() {
		return false
	}
	if gated {
		s.in.moves.begin(&s.sh.turn, s.arrived, window)
		s.sh.gated = true
	}
	pool := s.in.ready[boolIndex(s.sh.resp3)]
	take := pool.dial // a move that waits for a round trip anyway (identity.go) dials its own
	if gated {
		take = pool.take
	}
	be, err := take()
	if err != nil {
		s.moved()
		s.in.m.dialErrors.Inc()
		s.in.log.Error("backend unavailable for a dedicated lane", "client", s.peer, "backend", s.in.backend.String(), "err", err)
		s.enqueue([]slot{{local: replyBackendUnavailable, close: true}})
		return false
	}
	s.mu.Lock()
	s.be = be
	s.mu.Unlock()
	s.in.monitor.owned()
	if s.closing() { // close may have run before be was set
		be.Close()
		s.moved()
		return false
	}
	s.sh.lane = nil
	s.in.m.movedDedicated.Inc()
	s.enqueue([]slot{{kind: kindNone, move: true}})
	return s.askBackendID(be)
}

// errNoRESP3: the backend answered HELLO 3 with something other than a map.
var errNoRESP3 = errors.New("the backend does not speak RESP3 (HELLO 3 did not answer a map)")

// hello3 turns a fresh backend connection to RESP3 before anything else is sent on it. The backend
// sends nothing unasked on a fresh connection, so the reply is all there is to read. A busy backend is
// waited for as the backend's own handshake waits (backend.AnswerTimeout).
func hello3(be net.Conn) error {
	be.SetDeadline(time.Now().Add(backend.AnswerTimeout))
	defer be.SetDeadline(time.Time{})
	if _, err := be.Write(helloCmd); err != nil {
		return err
	}
	br := bufio.NewReaderSize(be, 4096)
	var info resp.ReplyInfo
	if err := resp.CopyReply(bufio.NewWriterSize(io.Discard, 64), br, &info); err != nil {
		return err
	}
	if info.Type != '%' || br.Buffered() > 0 {
		return errNoRESP3
	}
	return nil
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
