package gateway

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
)

// Stage 3, the reader: the session's goroutine that reads batches of commands from the client, has each
// decided (decide.go), queues their reply slots (replystate.go) and sends the forwarded ones — to the
// session's own backend connection here (sendDedicated), or on a shared lane (lanesend.go).

// read is the client-to-backend half. It returns true when it ends to park the session (park.go): the
// session is then idle, and its state is kept for the reader that resumes it.
func (s *session) read() (parked bool) {
	defer s.moved()  // a move that failed half-way (askBackendID) must not hold the other sessions up
	var raw net.Conn // the socket, when the reader reads nothing else (see commandReader)
	if s.conn == s.client.raw {
		raw = s.conn
	}
	var src io.Reader = s.conn
	arr := s.holdRead(raw)
	if arr != nil {
		src = arr
		defer s.letGo(arr, raw) // after the command reader is put back (its non-waiting read is arr's)
	}
	if t := s.snap.IdleTimeout; t > 0 {
		src = idleReader{s: s, src: src, timeout: t}
	}
	if !s.client.proxied {
		s.client.sniff.r = src
		src = &s.client.sniff
	}
	st := &decideState{renames: s.snap.Renames, sess: s}
	if a := s.park.auth; a != nil { // kept across a park (park.go)
		st.auth, s.park.auth = *a, nil
	} else {
		st.auth.start(s.in, s.in.snap.Load(), s.addr)
		s.noteUser(st.auth.user.Name(), st.auth.authed)
	}
	lim := s.snap.Limits
	rd := s.in.bufs.commandReader(src, lim, raw, arr)
	defer s.in.bufs.putCommandReader(rd)
	st.rd = rd
	var slots []slot
	var acts []act
	var ents []*command // the command table's entries of the segment's commands (decide)
	for {
		if lim.Unauthenticated == st.auth.authed { // Redis's bounds until the client has authenticated
			lim.Unauthenticated = !st.auth.authed
			rd.SetLimits(lim)
		}
		cmds, err := rd.ReadBatch()
		if s.closing() { // nothing read after a close runs (a held read's socket is only shut down: holdRead)
			return false
		}
		s.arrived = arrivedAt(arr)
		if s.parkAsked(err) {
			if s.parkable(rd.Idle()) {
				a := st.auth
				s.park.auth = &a
				s.client.sniff.r = nil // the socket is the room's now: keep nothing of this read path
				return true
			}
			continue
		}
		if err != nil {
			var pe *resp.ProtocolError
			if errors.As(err, &pe) {
				s.in.m.refusedProtocol.Inc()
				s.in.activity.record(s.addr, ReasonProtocolError)
				s.in.log.Info("closing connection: protocol error", "client", s.peer, "err", pe.Error())
				var final []byte
				if !st.replyOff && !st.skipNext { // like Redis, CLIENT REPLY OFF|SKIP silences this too
					final = pe.Reply()
				}
				s.hangUp(final)
				return false
			}
			if errors.Is(err, io.EOF) {
				s.hangUp(nil)
				return false
			}
			// Idle timeout, or closed under us: nothing more to reply to.
			s.close()
			return false
		}
		slots, acts = slots[:0], acts[:0]
		st.batch()
		// The batch is answered when a reply of it is written promptly: the client's socket is written to,
		// and so found reset, before the reader would miss it (arrivals.answering). Only commands moat
		// answers or a shared lane runs at once qualify, and only while the session is on a shared lane
		// (a dedicated connection may hold its replies behind a blocked command).
		answered, late := false, false
		if st.auth.refresh(s.in, s.addr); st.auth.gone { // deleted while the batch was on its way
			s.in.log.Info("closing connection: its ACL user was deleted, or may not log in from this address", "client", s.peer)
			s.close()
			return false
		}
		// The batch goes in segments: a command that needs the connection under another backend identity
		// (identity.go) starts a new one, switched before it is decided.
		for rest := cmds; len(rest) > 0; {
			if !s.identityFor(st, rest) {
				return false
			}
			seg := rest
			slots, acts, ents = slots[:0], acts[:0], ents[:0]
			quit, silentQuit := false, false
			for i := range seg {
				if i > 0 && (s.switchNeeded(st, &seg[i]) || st.mixedConfigSet(&seg[i])) { // configmix.go
					seg = seg[:i]
					break
				}
				sl, a, e := st.decide(&seg[i])
				acts, ents = append(acts, a), append(ents, e)
				switch {
				case sl.local != nil:
					answered = true
				case e == nil || !e.promptFor(&seg[i]):
					late = true
				case sl.kind == kindOne:
					answered, sl.prompt = true, !e.pausableFor(&seg[i])
				}
				if sl.close {
					seg = seg[:i+1]
					quit = true
					// QUIT under CLIENT REPLY OFF|SKIP says nothing: end like a hang-up, so that whatever the
					// backend still sends (pub/sub pushes are not silenced) comes through. So does a command
					// the backend answers after which the connection ends (an EXEC: multiacl.go), its slot
					// queued.
					if silentQuit = sl.local == nil; silentQuit && sl.kind == kindNone {
						break
					}
				}
				slots = append(slots, sl)
				if quit {
					break
				}
			}
			rest = rest[len(seg):]
			// Slots are queued before their commands can reach the backend, so the pump always knows what a
			// frame answers.
			s.noteBatch(st, ents[len(seg)-1], &seg[len(seg)-1])
			from := 0
			if s.sh.lane != nil {
				if from = s.sendShared(rd, st, seg, ents, acts, slots); from < 0 {
					return false
				}
			} else {
				s.enqueue(slots)
			}
			if from < len(seg) {
				sent := s.sendDedicated(rd, seg[from:], acts[from:], st.guard)
				s.moved() // a move's commands are written: the other sessions may send again (ready.go)
				if !sent {
					return false
				}
			} else {
				s.moved()
			}
			if quit {
				if silentQuit {
					s.hangUp(nil)
				}
				return false
			}
		}
		arr.answering(answered && !late && s.sh.lane != nil)
	}
}

// sendDedicated writes a batch's commands to the session's own backend connection, and the rest of a
// command too long to hold; g is the script guard of wrapped ones. False: the session ends.
//
// It first waits for the moves of other sessions (awaitMoves): a command this client sent after another
// client's blocking one must not run before it.
func (s *session) sendDedicated(rd *resp.Reader, cmds []resp.Command, acts []act, g *backend.ScriptGuard) bool {
	if !s.awaitMoves() {
		return false
	}
	// The writer to the backend is held only while a batch is written: an idle connection does not
	// keep one (bufpool.go).
	bw := s.in.bufs.writer(s.be)
	forwarded := 0
	for i := range cmds {
		if acts[i] == actWrap {
			bw.Write(g.Enter)
		}
		if acts[i] != actForward && acts[i] != actWrap {
			if acts[i] == actReplace {
				forwarded++
				if _, err := bw.Write(cmds[i].Raw); err != nil {
					s.backendLost(err)
					return false
				}
			}
			if cmds[i].More {
				s.movedBefore(bw)
				if err := s.cont(rd, io.Discard); err != nil {
					s.close()
					return false
				}
			}
			continue
		}
		forwarded++
		if _, err := bw.Write(cmds[i].Raw); err != nil {
			s.backendLost(err)
			return false
		}
		if cmds[i].More {
			s.movedBefore(bw)
			if err := s.cont(rd, bw); err != nil {
				s.close() // the backend holds half a command: the lane cannot be reused
				return false
			}
		}
		if acts[i] == actWrap {
			if _, err := bw.Write(g.Leave); err != nil {
				s.backendLost(err)
				return false
			}
		}
	}
	if forwarded > 0 {
		if err := bw.Flush(); err != nil {
			s.backendLost(err)
			return false
		}
		s.in.m.forwarded.Add(float64(forwarded))
	}
	s.in.bufs.putWriter(bw)
	return true
}

// holdRead returns the arrival-stamping source of the client socket raw, nil when there is none. While
// it holds a read open (arrivals.hold), which a Close would wait for, close only shuts raw down.
func (s *session) holdRead(raw net.Conn) *arrivals {
	arr := newArrivals(raw)
	if arr != nil {
		arr.onHold = s.setHolding
	}
	return arr
}

// setHolding records whether the reader holds a read of the client socket open; it refuses to begin
// one once close has begun (which then closes the socket itself).
func (s *session) setHolding(on bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on && s.closing() {
		return false
	}
	s.holding = on
	return true
}

// letGo ends the reader's hold of raw; if close came while it was held (and only shut raw down), it
// closes raw.
func (s *session) letGo(arr *arrivals, raw net.Conn) {
	arr.release()
	if s.closing() {
		raw.Close()
	}
}

// hangUp ends the client's input: at its EOF (final nil), or at a protocol error (final is the error
// reply, or nil when replies are off). The client may still be reading (printf … | nc): like Redis, which
// answers the commands before the end of input, then sends final and closes, moat delivers every reply
// still to come, then final, then closes. The backend is told the same way (its write side is shut), so
// it answers what it has read and closes; the pump copies everything up to that EOF (see drained), which
// needs no reply counting. A command still blocked is dropped, as Redis drops a blocked client that
// hangs up. A backend connection that cannot be half-closed falls back on a closing reply slot.
func (s *session) hangUp(final []byte) {
	cw, ok := s.be.(interface{ CloseWrite() error })
	if !ok {
		s.enqueue([]slot{{local: final, kind: kindNone, close: true}})
		return
	}
	s.mu.Lock()
	s.final = final
	s.mu.Unlock()
	s.hungUp.Store(true)
	if err := cw.CloseWrite(); err != nil {
		s.close()
	}
}

// idleReader reads from the client under the idle timeout (snapshot.IdleTimeout). Like Redis, which
// exempts blocked and pub/sub clients, only an idle connection times out: no reply owed, not subscribed,
// not monitoring, and no reply sent for the whole timeout. Every read restarts the clock, so a long
// argument streamed slowly is not cut off while bytes keep coming. The time is the instance's clock
// (clock.go), and bytes that arrived as the timeout passed are still read.
type idleReader struct {
	s       *session
	src     io.Reader // s.conn, or its arrivals
	timeout time.Duration
}

// idleLastLook is how long a connection found idle is read once more before it times out.
const idleLastLook = time.Millisecond

func (r idleReader) Read(p []byte) (int, error) {
	clk := r.s.in.clock
	end := clk.Now().Add(r.timeout)
	for {
		wait := clk.step(end.Sub(clk.Now()))
		r.s.conn.SetReadDeadline(time.Now().Add(max(wait, idleLastLook)))
		n, err := r.src.Read(p)
		var ne net.Error
		if n > 0 || err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		now := clk.Now()
		if r.s.owed.Load() > 0 || r.s.listening.Load() {
			end = now.Add(r.timeout)
			continue
		}
		if last := time.Unix(0, r.s.lastReply.Load()).Add(r.timeout); last.After(end) {
			end = last
		}
		if now.Before(end) || wait > idleLastLook {
			continue
		}
		return n, err
	}
}
