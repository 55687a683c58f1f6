package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// A session relays one client connection over its own backend connection (the dedicated lane), so that
// every piece of connection state — MULTI/WATCH, SELECT, blocking commands, pub/sub, HELLO 3, CLIENT
// SETNAME — behaves exactly as against the backend itself.
//
// Two goroutines share the work. The reader reads a batch of commands, decides each one, gives each a
// reply slot (in order), writes the forwarded ones to the backend and flushes once. The pump fills the
// slots in order: a local reply is written as is; a forwarded one is copied from the backend frame by
// frame as raw bytes. Out-of-band frames (pub/sub messages, RESP3 pushes, MONITOR lines) are copied
// through as they come. The pump flushes the client only when it is about to wait.
type session struct {
	in   *Instance
	conn net.Conn
	addr netip.Addr
	peer string
	snap *snapshot.Snapshot // the snapshot the connection was admitted under

	be net.Conn

	// Shared between the reader and the pump, guarded by mu.
	mu          sync.Mutex
	queue       []slot
	idle        bool // the pump waits for backend bytes with an empty queue
	interrupted bool // the reader cut that wait short with a read deadline

	// For the idle timeout (see idleReader): a connection owing replies, subscribed or monitoring is
	// not idle, and its idle time counts from its last reply.
	owed      atomic.Int64 // slots queued and not yet answered
	listening atomic.Bool  // subscribed or monitoring, as the pump last saw it
	lastReply atomic.Int64 // unix nanoseconds when owed last fell to zero
	hungUp    atomic.Bool  // the client ended its input (see hangUp)
	final     []byte       // the last reply after hangUp, guarded by mu

	closeOnce sync.Once
	done      chan struct{}

	// identUser is the user whose backend identity the session's own backend connection runs as; "": the
	// backend login (identity.go). The reader's alone.
	identUser string

	subs subscriptions // the channels it subscribed to, for ACL changes (pubsubacl.go)

	sh       sharedState  // on a shared lane (shared.go)
	inflight atomic.Int64 // replies owed on the shared lane and not yet delivered
	beID     atomic.Int64 // the backend's ID of the dedicated connection once looked up (clientid.go)
	redirs   []idPair     // the redirect targets this session named, by backend ID (clientid.go); guarded by mu
	// redirected: redirs is not empty, so a push may name a redirect target (clientid.go).
	redirected atomic.Bool

	client clientState // the client connection as accepted and as CLIENT LIST shows it (conn.go, admit.go)
}

// slot is the reply owed for one command, in order.
type slot struct {
	local []byte // moat's own reply; nil when the backend answers
	kind  replyKind
	n     int  // frames expected for kindSubscribe (0: compute when the slot reaches the head)
	close bool // close the connection once this reply is written
	move  bool // kindNone: the session moved to its dedicated lane here (shared.go)
	reset bool // a RESET whose reply is skipped (kindNone): the connection state resets here
	// call: a CLIENT subcommand moat answers (kindNone: run when the slot reaches the head), or a name
	// to record once the backend accepts the command (clientcmd.go).
	call *clientCall
	// The script guard (scriptguard.go). kindWrapped: n counts the frames still to come, the one that
	// arrives when n == show is the client's, wrapFailed notes a refused first AUTH. kindExecFiltered:
	// skip are the positions in EXEC's array to leave out.
	show       int
	wrapFailed bool
	skip       []int
	// kindExecFiltered: replies moat puts into EXEC's array; kindExecAbort: the reply in place of
	// DISCARD's when not replyExecAbort (multiacl.go).
	insert []execInsert
	abort  []byte
	hellos []execHello // kindExecFiltered: the HELLOs the backend runs in EXEC (multiacl.go)
	// kindSwitch (identity.go): n frames to swallow; how the switch went is sent on switched;
	// subscribedCtx notes a refusal for a RESP2 connection's subscribed context.
	switched      chan switchResult
	subscribedCtx bool
}

type replyKind uint8

const (
	kindOne       replyKind = iota // one reply frame
	kindNone                       // no reply (CLIENT REPLY OFF/SKIP)
	kindSubscribe                  // one confirmation per channel
	kindUnsubscribe
	kindPSubscribe
	kindPUnsubscribe
	kindSSubscribe
	kindSUnsubscribe
	kindHello
	kindReset
	kindMonitor
	kindSelect       // one reply; n is the database, recorded for CLIENT LIST when it succeeds
	kindExecAbort    // DISCARD sent in place of EXEC: its +OK is dropped and EXECABORT written instead
	kindWrapped      // a command sent between the script guard's AUTHs: n frames, one (or none) the client's
	kindExecFiltered // EXEC of a transaction holding wrapped commands: the AUTHs' elements are left out
	kindSwitch       // the switch of the connection to a backend identity (identity.go): n frames, none the client's
	kindMoatIDs      // CLIENT GETREDIR or TRACKINGINFO: the backend IDs of redirect targets become moat's (clientid.go)
	// kindReplica: SYNC or PSYNC. The backend's replies from here on are a replication stream (an RDB
	// payload without a closing CRLF, then commands), copied to the client as they come.
	kindReplica
	// kindBackendID: the reply to moat's CLIENT ID on a new dedicated connection behind a Unix socket,
	// kept as the session's backend ID and not the client's (clientid.go).
	kindBackendID
	// kindConfigGet: CONFIG GET whose patterns match a password parameter: the backend's passwords are
	// hidden and moat's parameters are moat's (configcmd.go, configReply).
	kindConfigGet
)

func newSession(in *Instance, conn net.Conn, addr netip.Addr, snap *snapshot.Snapshot) *session {
	return &session{in: in, conn: conn, addr: addr, peer: conn.RemoteAddr().String(), snap: snap, done: make(chan struct{})}
}

// close ends the session: both connections are closed, which unblocks both goroutines. Idempotent.
func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.conn.Close()
		s.mu.Lock() // run sets be under mu, and may still be dialling
		be := s.be
		s.mu.Unlock()
		if be != nil {
			be.Close()
		}
	})
}

func (s *session) run() {
	if !s.open() {
		return
	}
	if n := s.snap.SharedLanes; n > 0 {
		l, err := s.in.lanes[0].acquire(n)
		if err != nil {
			s.refuseBackend(err)
			return
		}
		s.sh = sharedState{lane: l, out: progressWriter{s}, unsent: unsentBytes(s.client.raw),
			wake: make(chan struct{}, 1), drained: make(chan struct{}, 1), settled: make(chan struct{}, 1)}
		s.serve(func() {
			if st, moved := s.sharedPump(); moved {
				s.pump(st)
			}
		})
		return
	}
	be, err := s.in.dialBackend()
	if err != nil {
		s.refuseBackend(err)
		return
	}
	s.mu.Lock()
	s.be = be
	s.mu.Unlock()
	select {
	case <-s.done: // closed (drop-on-revoke, shutdown) while dialling
		be.Close()
		return
	default:
	}
	if !s.askBackendID(be) {
		s.close()
		return
	}
	s.serve(func() { s.pump(pumpState{}) })
}

// serve runs pump beside the reader until both end.
func (s *session) serve(pump func()) {
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump()
		s.close()
	}()
	s.read()
	<-pumpDone
}

// refuseBackend answers a client that cannot be served because the backend is unreachable.
func (s *session) refuseBackend(err error) {
	s.in.m.dialErrors.Inc()
	s.in.m.refusedBackend.Inc()
	s.in.activity.record(s.addr, ReasonBackendUnavailable)
	s.in.log.Error("backend unavailable", "client", s.peer, "backend", s.in.backend.String(), "err", err)
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.conn.Write(replyBackendUnavailable)
	s.conn.Close()
}

// read is the client-to-backend half.
func (s *session) read() {
	var src io.Reader = s.conn
	if t := s.snap.IdleTimeout; t > 0 {
		src = idleReader{s: s, timeout: t}
	}
	if !s.client.proxied {
		s.client.sniff.r = src
		src = &s.client.sniff
	}
	lim := s.snap.Limits
	var raw net.Conn // the socket, when the reader reads nothing else (see commandReader)
	if s.conn == s.client.raw {
		raw = s.conn
	}
	rd := s.in.bufs.commandReader(src, lim, raw)
	defer s.in.bufs.putCommandReader(rd)
	st := decideState{renames: s.snap.Renames, sess: s}
	st.auth.start(s.in, s.in.snap.Load(), s.addr)
	s.noteUser(st.auth.user.Name(), st.auth.authed)
	var slots []slot
	var acts []act
	for {
		if lim.Unauthenticated == st.auth.authed { // Redis's bounds until the client has authenticated
			lim.Unauthenticated = !st.auth.authed
			rd.SetLimits(lim)
		}
		cmds, err := rd.ReadBatch()
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
				return
			}
			if errors.Is(err, io.EOF) {
				s.hangUp(nil)
				return
			}
			// Idle timeout, or closed under us: nothing more to reply to.
			s.close()
			return
		}
		slots, acts = slots[:0], acts[:0]
		st.batch()
		if st.auth.refresh(s.in, s.addr); st.auth.gone { // deleted while the batch was on its way
			s.in.log.Info("closing connection: its ACL user was deleted, or may not log in from this address", "client", s.peer)
			s.close()
			return
		}
		// The batch goes in segments: a command that needs the connection under another backend identity
		// (identity.go) starts a new one, switched before it is decided.
		for rest := cmds; len(rest) > 0; {
			if !s.identityFor(&st, rest) {
				return
			}
			seg := rest
			slots, acts = slots[:0], acts[:0]
			quit, silentQuit := false, false
			for i := range seg {
				if i > 0 && s.switchNeeded(&st, &seg[i]) {
					seg = seg[:i]
					break
				}
				sl, a := st.decide(&seg[i])
				acts = append(acts, a)
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
			s.noteBatch(&st, &seg[len(seg)-1])
			from := 0
			if s.sh.lane != nil {
				if from = s.sendShared(rd, &st, seg, acts, slots); from < 0 {
					return
				}
			} else {
				s.enqueue(slots)
			}
			if from < len(seg) {
				sent := s.sendDedicated(rd, seg[from:], acts[from:], st.guard)
				s.moved() // a move's commands are written: the other sessions may send again (ready.go)
				if !sent {
					return
				}
			} else {
				s.moved()
			}
			if quit {
				if silentQuit {
					s.hangUp(nil)
				}
				return
			}
		}
	}
}

// sendDedicated writes a batch's commands to the session's own backend connection, and the rest of a
// command too long to hold; g is the script guard of wrapped ones. False: the session ends.
func (s *session) sendDedicated(rd *resp.Reader, cmds []resp.Command, acts []act, g *backend.ScriptGuard) bool {
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
				if err := rd.Continue(io.Discard); err != nil {
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
			if err := rd.Continue(bw); err != nil {
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

// drained reports whether err is the backend's EOF after hangUp, and if so writes the final reply.
func (s *session) drained(err error, cw *bufio.Writer) bool {
	if !s.hungUp.Load() || !errors.Is(err, io.EOF) {
		return false
	}
	s.mu.Lock()
	final := s.final
	s.mu.Unlock()
	cw.Write(final)
	cw.Flush()
	return true
}

func (s *session) backendLost(err error) {
	select {
	case <-s.done:
	default:
		if !s.hungUp.Load() { // else the backend ended the connection because the client did
			s.in.m.ioErrors.Inc()
			s.in.log.Warn("backend connection lost", "client", s.peer, "err", err)
		}
	}
	s.close()
}

// enqueue appends slots for the pump, and wakes the pump if it waits on the backend while the first new
// reply is moat's own (otherwise the backend's reply wakes it).
func (s *session) enqueue(slots []slot) {
	if len(slots) == 0 {
		return
	}
	s.owed.Add(int64(len(slots)))
	s.mu.Lock()
	s.queue = append(s.queue, slots...)
	if s.idle && !s.interrupted && (slots[0].local != nil || slots[0].kind == kindNone) {
		s.interrupted = true
		s.be.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	if s.sh.wake != nil {
		s.signal()
	}
}

// slotQueue is the pump's side of the queue: the slice last taken goes back to the queue, once emptied,
// as its next backing array, so the steady state allocates nothing.
type slotQueue struct {
	batch, spare []slot
}

// take returns the slots queued since the last take (the previous ones must all be answered).
func (q *slotQueue) take(s *session) []slot {
	if q.batch != nil {
		q.spare, q.batch = q.batch[:0], nil
	}
	s.mu.Lock()
	work := s.queue
	s.queue = q.spare[:0]
	s.mu.Unlock()
	q.batch, q.spare = work, nil
	return work
}

// pumpState is what the pump knows of the backend connection's state.
type pumpState struct {
	resp3      bool
	channels   int // subscriptions, as the backend's confirmations report them
	patterns   int
	shards     int
	monitoring bool
}

// pump is the backend-to-client half of the dedicated lane; st is what the shared lane left.
func (s *session) pump(st pumpState) {
	br := s.in.bufs.reader(s.be)
	defer s.in.bufs.putReader(br)
	// The writer to the client is held only while replies are written: it goes back to the pool before
	// the pump waits with nothing owed, so an idle connection does not keep one (bufpool.go).
	var cw *bufio.Writer // taken by serveLocal
	defer s.putClientWriter(&cw)
	var q slotQueue
	var work []slot // what is left of the slots last taken
	var info resp.ReplyInfo
	var discard *bufio.Writer // swallows the reply of a DISCARD sent in place of EXEC
	var captured *capture     // holds the replies of an identity switch (identity.go)
	var ided *capture         // holds a reply whose client IDs become moat's, or a MONITOR line (clientid.go)
	monitored := monitorAddrs{}
	answered := 0 // slots completed since the last flush
	for {
		// Moat's own replies and reply-less slots at the head go out at once.
		if s.serveLocal(&cw, &q, &work, &st, &answered) {
			return
		}
		if br.Buffered() == 0 {
			if err := cw.Flush(); err != nil {
				return
			}
			s.answered(answered)
			answered = 0
			if len(work) == 0 {
				// Nothing owed: wait for an out-of-band frame or for the reader's next slots, then start over
				// so that a frame is always matched against every slot queued before it arrived.
				s.putClientWriter(&cw)
				if err := s.wait(br); err != nil {
					cw = s.in.bufs.writer(s.conn)
					s.drained(err, cw)
					return
				}
				continue
			}
		}
		if len(work) > 0 && work[0].kind == kindReplica {
			if cw.Flush() == nil {
				s.listening.Store(true) // a replica waits for the stream, as a subscriber for messages
				br.WriteTo(s.conn)
			}
			return
		}
		if len(work) > 0 && work[0].kind == kindExecFiltered && !pushNext(br) {
			if err := s.copyExec(cw, br, &work[0], &st); err != nil {
				if errors.Is(err, errGuardBypassed) {
					cw.Flush()
					s.guardBypassed()
				} else if !s.drained(err, cw) && !errors.Is(err, net.ErrClosed) {
					s.backendLost(err)
				}
				return
			}
			work = work[1:]
			answered++
			continue
		}
		dst := cw
		if len(work) > 0 && work[0].kind == kindWrapped && work[0].n != work[0].show && !pushNext(br) {
			if discard == nil {
				discard = bufio.NewWriterSize(io.Discard, 64)
			}
			dst = discard
		}
		if len(work) > 0 && work[0].kind == kindSwitch && !pushNext(br) {
			if captured == nil {
				captured = newCapture()
			}
			dst = captured.w
		}
		if len(work) > 0 && work[0].kind == kindExecAbort && s.discardReply(br) {
			if discard == nil {
				discard = bufio.NewWriterSize(io.Discard, 64)
			}
			dst = discard
		}
		if len(work) > 0 && work[0].kind == kindBackendID && !pushNext(br) {
			if ided == nil {
				ided = newCapture()
			}
			if err := resp.CopyReply(ided.w, br, &info); err != nil {
				return
			}
			ided.w.Flush()
			s.noteBackendID(ided.buf.Bytes())
			ided.buf.Reset()
			work = work[1:]
			answered++
			continue
		}
		moatIDs := len(work) > 0 && (work[0].kind == kindMoatIDs || work[0].kind == kindHello || work[0].kind == kindConfigGet) && !pushNext(br)
		// A monitoring connection's MONITOR lines name the backend connection a command came on: the
		// client's address goes in its place (clientid.go).
		monitorLine := st.monitoring && dst == cw && !moatIDs && nextByte(br) == '+'
		// A push may name a redirect target (tracking-redir-broken): by moat's ID (clientid.go).
		redirPush := dst == cw && !moatIDs && s.redirected.Load() && nextByte(br) == '>'
		if moatIDs || monitorLine || redirPush {
			if ided == nil {
				ided = newCapture()
			}
			dst = ided.w
		}
		if err := resp.CopyReply(dst, br, &info); err != nil {
			if !s.drained(err, cw) && !errors.Is(err, net.ErrClosed) {
				s.backendLost(err)
			}
			return
		}
		switch {
		case moatIDs && work[0].kind == kindConfigGet:
			ided.w.Flush()
			cw.Write(s.configReply(ided.buf.Bytes()))
			ided.buf.Reset()
		case moatIDs:
			ided.w.Flush()
			cw.Write(s.toMoatIDs(ided.buf.Bytes(), work[0].kind))
			ided.buf.Reset()
		case monitorLine:
			ided.w.Flush()
			line := ided.buf.Bytes()
			if len(work) == 0 || st.outOfBand(&info, work[0].kind) {
				line = monitored.rewrite(s.in, line)
			}
			cw.Write(line)
			ided.buf.Reset()
		case redirPush:
			ided.w.Flush()
			cw.Write(s.redirBroken(ided.buf.Bytes(), &info))
			ided.buf.Reset()
		}
		if dst == discard && work[0].kind == kindExecAbort {
			cw.Write(execAbortReply(&work[0]))
		}
		if len(work) == 0 || st.outOfBand(&info, work[0].kind) {
			if info.Type == '>' {
				s.listening.Store(st.listening())
				s.noteSubs(&st)
			}
			continue
		}
		kind := work[0].kind
		if kind == kindSwitch {
			if captured.frame(&work[0], info.Type) {
				work = work[1:]
				answered++
			}
			continue
		}
		if kind == kindWrapped {
			_, done, err := s.wrapFrame(&work[0], info.Type)
			if err != nil {
				cw.Flush()
				s.guardBypassed()
				return
			}
			if done {
				work = work[1:]
				answered++
			}
			continue
		}
		if kind != kindOne || work[0].call != nil {
			s.noteReply(&work[0], &info)
		}
		if st.answer(&work[0], &info) {
			work = work[1:]
			answered++
		}
		if kind != kindOne {
			s.listening.Store(st.listening())
			s.noteSubs(&st)
		}
	}
}

// answered records n slots answered and flushed.
func (s *session) answered(n int) {
	if n > 0 && s.owed.Add(-int64(n)) == 0 {
		s.lastReply.Store(s.in.clock.Now().UnixNano())
	}
}

// idleReader reads from the client under the idle timeout (snapshot.IdleTimeout). Like Redis, which
// exempts blocked and pub/sub clients, only an idle connection times out: no reply owed, not subscribed,
// not monitoring, and no reply sent for the whole timeout. Every read restarts the clock, so a long
// argument streamed slowly is not cut off while bytes keep coming. The time is the instance's clock
// (clock.go), and bytes that arrived as the timeout passed are still read.
type idleReader struct {
	s       *session
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
		n, err := r.s.conn.Read(p)
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

// wait blocks until the backend has bytes or the reader queues slots. It returns an error when the
// backend connection ended (io.EOF: see drained), failed or the session is closing.
func (s *session) wait(br *bufio.Reader) error {
	s.mu.Lock()
	if len(s.queue) > 0 {
		s.mu.Unlock()
		return nil
	}
	s.idle = true
	s.mu.Unlock()
	_, err := br.Peek(1)
	s.mu.Lock()
	s.idle = false
	if s.interrupted {
		s.interrupted = false
		s.be.SetReadDeadline(time.Time{})
	}
	// The reader's wake-up and the backend's end can arrive together, and the end may win: slots queued
	// meanwhile are still owed (moat's own replies first), so they are served before the end is looked at
	// again. The socket reports its end again on the next read.
	queued := len(s.queue) > 0
	s.mu.Unlock()
	if err == nil || queued {
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil // interrupted by the reader
	}
	if !(s.hungUp.Load() && errors.Is(err, io.EOF)) && !errors.Is(err, net.ErrClosed) {
		s.backendLost(err)
	}
	return err
}

// listening reports a connection that waits for messages: subscribed or monitoring.
func (st *pumpState) listening() bool {
	return st.channels+st.patterns+st.shards > 0 || st.monitoring
}

// outOfBand reports a frame that answers no command: a pub/sub message, a RESP3 push that is not a
// subscription confirmation, or a MONITOR line.
func (st *pumpState) outOfBand(info *resp.ReplyInfo, head replyKind) bool {
	switch info.Type {
	case '>':
		if subscriptionKind(info.HeadString(0)) == kindOne {
			return true
		}
		if head < kindSubscribe || head > kindSUnsubscribe {
			// A confirmation no slot waits for: SUBSCRIBE a b inside MULTI, whose EXEC array holds only
			// the first one. It still tells the subscription count.
			st.confirmed(info)
			return true
		}
		return false
	case '*':
		if st.resp3 || st.channels+st.patterns+st.shards == 0 {
			return false
		}
		switch info.HeadString(0) {
		case "message", "pmessage", "smessage":
			return true
		}
	case '+':
		// MONITOR lines start with the timestamp; no reply a monitoring client can get does.
		return st.monitoring && head != kindMonitor && info.Lead >= '0' && info.Lead <= '9'
	}
	return false
}

// answer applies one reply frame to the head slot and reports whether the slot is complete.
func (st *pumpState) answer(sl *slot, info *resp.ReplyInfo) bool {
	switch sl.kind {
	case kindHello:
		switch info.Type {
		case '%':
			st.resp3 = true
		case '*':
			st.resp3 = false
		}
	case kindReset:
		if info.Type == '+' {
			*st = pumpState{}
		}
	case kindMonitor:
		if info.Type == '+' {
			st.monitoring = true
		}
	case kindSubscribe, kindUnsubscribe, kindPSubscribe, kindPUnsubscribe, kindSSubscribe, kindSUnsubscribe:
		if info.Type == '-' {
			return true // the command failed as a whole
		}
		if sl.n == 0 { // UNSUBSCRIBE with no arguments: one confirmation per subscription, at least one
			switch sl.kind {
			case kindUnsubscribe:
				sl.n = max(1, st.channels)
			case kindPUnsubscribe:
				sl.n = max(1, st.patterns)
			default:
				sl.n = max(1, st.shards)
			}
		}
		st.confirmed(info)
		sl.n--
		return sl.n <= 0
	}
	return true
}

// confirmed updates the subscription counts from a confirmation ["subscribe", channel, count]. Redis's
// count is channels+patterns for (un)subscribe and (un)psubscribe, and shard channels for the shard kind.
func (st *pumpState) confirmed(info *resp.ReplyInfo) {
	n, ok := atoi(info.HeadString(2))
	if !ok {
		return
	}
	switch info.HeadString(0) {
	case "subscribe", "unsubscribe":
		st.channels = max(0, n-st.patterns)
	case "psubscribe", "punsubscribe":
		st.patterns = max(0, n-st.channels)
	case "ssubscribe", "sunsubscribe":
		st.shards = n
	}
}

func atoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
