package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// Stage 5, the pump: the session's second goroutine, which fills the reply slots in order and writes the
// client. pump is the dedicated lane's (frames copied from the session's backend connection); the
// shared lane's is pumpshared.go's. serveLocal and answerLocal are how both start a round.

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
	var ided *capture         // holds a reply whose client IDs become moat's (clientid.go), or a MONITOR line (monitor.go)
	var monitored monitorView
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
			end, err := s.copyExec(cw, br, &work[0], &st)
			if err != nil {
				if errors.Is(err, errGuardBypassed) {
					cw.Flush()
					s.guardBypassed()
				} else if !s.drained(err, cw) && !errors.Is(err, net.ErrClosed) {
					s.backendLost(err)
				}
				return
			}
			if end { // CLIENT KILL of itself inside the transaction
				cw.Flush()
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
		moatIDs := len(work) > 0 && (work[0].kind == kindMoatIDs || work[0].kind == kindHello || work[0].kind == kindConfigGet ||
			work[0].kind == kindClientID || rewrittenWhole(work[0].kind)) && !pushNext(br)
		// A monitoring connection's MONITOR lines name the backend connection a command came on: the
		// client's address goes in its place (monitor.go).
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
		case moatIDs && rewrittenWhole(work[0].kind):
			ided.w.Flush()
			cw.Write(s.rewriteWhole(&work[0], ided.buf.Bytes()))
			ided.buf.Reset()
		case moatIDs:
			ided.w.Flush()
			cw.Write(s.toMoatIDs(ided.buf.Bytes(), work[0].kind))
			ided.buf.Reset()
		case monitorLine:
			ided.w.Flush()
			line := ided.buf.Bytes()
			if len(work) == 0 || st.outOfBand(&info, work[0].kind) {
				line = monitored.rewrite(s, line)
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

// discardReply reports whether the next backend frame is the reply to a DISCARD sent in place of EXEC
// (+OK, or an error), rather than an out-of-band push that arrived first.
func (s *session) discardReply(br *bufio.Reader) bool {
	b, err := br.Peek(3)
	return err == nil && (string(b) == "+OK" || b[0] == '-')
}

// putClientWriter gives a pump's writer to the client back to the pool, if it holds one.
func (s *session) putClientWriter(cw **bufio.Writer) {
	if *cw != nil {
		s.in.bufs.putWriter(*cw)
		*cw = nil
	}
}

// serveLocal is how both pumps start a round: it takes a writer to the client if they gave theirs
// back, the slots queued since when work is done, and answers the local ones at its head
// (answerLocal). True: the connection is to close now.
func (s *session) serveLocal(cw **bufio.Writer, q *slotQueue, work *[]slot, st *pumpState, answered *int) bool {
	if *cw == nil {
		*cw = s.in.bufs.writer(s.conn)
	}
	// Slots queued while the local ones were answered are taken too: a backend frame already read must
	// be matched against every slot queued before it (an identity switch's, say), not taken for one no
	// command asked for.
	for {
		if len(*work) == 0 {
			*work = q.take(s)
		}
		rest, n, end := s.answerLocal(*cw, *work, st)
		*work = rest
		*answered += n
		if end || len(rest) > 0 || n == 0 {
			return end
		}
	}
}

// answerLocal writes moat's own replies (and runs the calls) of the slots at the head of work, up to the
// first the backend answers or a move slot. It returns what is left, how many slots it answered, and
// end when the connection is to close now.
func (s *session) answerLocal(cw *bufio.Writer, work []slot, st *pumpState) (rest []slot, n int, end bool) {
	for len(work) > 0 && (work[0].local != nil || work[0].kind == kindNone) && !work[0].move {
		if work[0].call != nil {
			work[0].call.figs.replyBuffer(cw)
			reply, closeSelf := work[0].call.runCounted(s, st.resp3)
			cw.Write(reply)
			if closeSelf {
				cw.Flush()
				return work, n, true
			}
		}
		if work[0].local != nil {
			cw.Write(work[0].local)
		}
		if work[0].close {
			cw.Flush()
			return work, n, true
		}
		if work[0].reset {
			*st = pumpState{}
			s.listening.Store(false)
			s.noteReset()
			s.noteSubs(st)
		}
		work = work[1:]
		n++
	}
	return work, n, false
}
