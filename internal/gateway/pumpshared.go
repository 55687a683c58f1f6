package gateway

import (
	"bufio"
	"slices"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// The shared lane's pump: it fills the reply slots from moat's own replies and the frames the lane's
// reader delivered to the session's inbox (inbox.go), until the session moves to a dedicated lane.

// progressWriter is the shared pump's writer to its client: it writes in pieces of at most
// progressChunk, counts each piece the socket took (sharedState.took) and wakes the lane's reader,
// which may be waiting to see the client read (holdLane).
type progressWriter struct{ s *session }

func (w *progressWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		m, err := w.s.conn.Write(p[:min(len(p), progressChunk)])
		n += m
		w.s.sh.took.Add(int64(m))
		poke(w.s.sh.drained)
		if err != nil {
			return n, err
		}
		p = p[m:]
	}
	return n, nil
}

// sharedPump fills the reply slots while the session is on a shared lane: moat's own replies, and the
// frames the lane delivered to the inbox. At the move slot it hands the rest of the queue back and
// returns moved (the dedicated pump takes over with st); otherwise the session ended.
func (s *session) sharedPump() (st pumpState, moved bool) {
	st.resp3 = s.park.resp3 // as it was when the session parked (HELLO 3), if it did
	var cw *bufio.Writer    // taken by serveLocal
	defer s.putClientWriter(&cw)
	var q slotQueue
	var work []slot        // what is left of the slots last taken
	var in, inSpare []byte // in[pos:] is the part of the inbox taken and not yet written
	var ends, endsSpare []int
	var held []byte // the part of a frame to rewrite (rewrittenWhole) taken before its end
	pos, ei := 0, 0
	var head byte // the first byte of the head slot's frame, once some of it was written
	answered := 0
	var hold *time.Timer       // bounds a hold (below); made at the first
	var holdC <-chan time.Time // hold's channel while a hold runs
	holdOver := false          // the hold ran out: the replies written go out now
	for {
		if cw == nil {
			cw = s.in.bufs.writer(&s.sh.out)
		}
		// Moat's own replies and reply-less slots at the head go out at once.
		if s.serveLocal(&cw, &q, &work, &st, &answered) {
			return st, false
		}
		if len(work) > 0 && work[0].move {
			if err := cw.Flush(); err != nil {
				return st, false
			}
			s.answered(answered + 1)
			s.mu.Lock()
			s.queue = append(slices.Clone(work[1:]), s.queue...)
			s.mu.Unlock()
			return st, true
		}
		if len(work) > 0 {
			// A wrapped command's frames other than its own reply are not the client's (scriptguard.go).
			showing := work[0].kind != kindWrapped || work[0].n == work[0].show
			if ei < len(ends) { // the head slot's frame is complete
				if head == 0 {
					head = in[pos]
				}
				switch {
				case work[0].kind == kindHello && head == in[pos]: // whole here: its id becomes moat's
					cw.Write(s.toMoatIDs(in[pos:ends[ei]], kindHello))
				case rewrittenWhole(work[0].kind): // info.go, latency.go
					frame := in[pos:ends[ei]]
					if len(held) > 0 {
						held = append(held, frame...)
						frame, held = held, nil
					}
					cw.Write(s.rewriteWhole(&work[0], frame))
				case showing:
					cw.Write(in[pos:ends[ei]])
				}
				pos = ends[ei]
				ei++
				if work[0].kind == kindWrapped {
					_, done, err := s.wrapFrame(&work[0], head)
					head = 0
					if err != nil {
						cw.Flush()
						s.guardBypassed()
						return st, false
					}
					if done {
						work = work[1:]
						answered++
					}
					continue
				}
				if work[0].kind == kindHello {
					info := resp.ReplyInfo{Type: head}
					s.noteReply(&work[0], &info)
					st.answer(&work[0], &info)
				}
				head = 0
				work = work[1:]
				answered++
				continue
			}
			if pos < len(in) { // part of a long frame
				if head == 0 {
					head = in[pos]
				}
				switch {
				case rewrittenWhole(work[0].kind):
					held = append(held, in[pos:]...)
				case showing:
					cw.Write(in[pos:])
				}
				pos = len(in)
			}
			s.mu.Lock()
			took := len(s.sh.inbox) > 0 || len(s.sh.ends) > 0 // an end alone finishes a frame taken before
			if took {
				if cap(in) > keepBuffer { // written out: nothing refers to it (held is a copy)
					s.in.inboxes.put(in)
					in = nil
				}
				inSpare, endsSpare = in[:0], ends[:0]
				in, s.sh.inbox = s.sh.inbox, inSpare
				ends, s.sh.ends = s.sh.ends, endsSpare
			}
			s.mu.Unlock()
			if took {
				pos, ei = 0, 0
				poke(s.sh.drained)
				continue
			}
		}
		// Nothing to do until the reader queues slots or the lane delivers replies. (Slots queued while
		// the local ones were written may have spent their wake-up already.)
		if len(work) == 0 {
			s.mu.Lock()
			queued := len(s.queue) > 0
			s.mu.Unlock()
			if queued {
				continue
			}
		}
		// Replies already written wait for the head slot's when the backend answers it at once and none of
		// it has come, for at most holdReplies: they go out in one write, as Redis writes the replies of
		// what it read at once (an AUTH and the command after it, say). The head's reply wakes the pump.
		if len(work) > 0 && work[0].prompt && head == 0 && cw.Buffered() > 0 && !holdOver {
			if holdC == nil {
				if hold == nil {
					hold = time.NewTimer(holdReplies)
				} else {
					hold.Reset(holdReplies)
				}
				holdC = hold.C
			}
		} else {
			if holdC != nil {
				hold.Stop()
			}
			holdC, holdOver = nil, false
			if err := cw.Flush(); err != nil {
				return st, false
			}
			s.answered(answered)
			answered = 0
		}
		if len(work) == 0 {
			s.putClientWriter(&cw)
			if s.park.now.Load() { // the reader parks the session, which owes nothing (park.go)
				s.park.resp3 = st.resp3
				return st, false
			}
		}
		select {
		case <-s.sh.wake:
		case <-holdC:
			holdC, holdOver = nil, true
		case <-s.done:
			if holdC != nil {
				hold.Stop()
			}
			return st, false
		}
	}
}
