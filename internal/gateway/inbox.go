package gateway

import "time"

// The session's inbox on a shared lane: the lane's reader delivers reply frames here (deliver) and waits,
// within bounds, for a client that is slow to read them (holdLane); the pump takes them (pumpshared.go).

// deliver appends reply bytes for the session (lane reader); ends are where in p frames end. When the
// client has left more than inboxLimit unread, the reader waits for it as long as it keeps reading
// (holdLane), and not at all once it is closing. A closing session's bytes are dropped.
func (s *session) deliver(p []byte, ends []int) {
	s.mu.Lock()
	if len(s.sh.inbox) > inboxLimit && !s.closing() {
		s.mu.Unlock()
		s.holdLane()
		s.mu.Lock()
	}
	if !s.closing() {
		base := len(s.sh.inbox)
		s.sh.inbox = s.in.inboxes.appendTo(s.sh.inbox, p)
		for _, e := range ends {
			s.sh.ends = append(s.sh.ends, base+e)
		}
	}
	s.mu.Unlock()
	if len(ends) > 0 && s.inflight.Add(-int64(len(ends))) == 0 {
		s.sh.held.Store(0) // caught up: every reply owed is in moat
		poke(s.sh.settled)
	}
}

// holdLane is the lane's reader waiting for a client that has more than inboxLimit bytes unread, which
// holds up every session on the lane. It waits only while the client's socket keeps taking bytes: none
// taken for stallGrace (the client stopped reading), or inboxStall of such waits in all since the client
// last caught up (it reads more slowly than its lane delivers), and the session is closed — its replies
// are dropped and the lane goes on. It returns once the inbox is back within inboxLimit or the session
// is closing.
func (s *session) holdLane() {
	start := time.Now()
	held := time.Duration(s.sh.held.Load())
	defer func() { s.sh.held.Store(int64(held + time.Since(start))) }()
	took, tookAt := s.sh.took.Load(), start
	queued, _ := s.queued()
	timer := time.NewTimer(stallPoll)
	defer timer.Stop()
	for {
		s.signal()
		select {
		case <-s.sh.drained:
		case <-timer.C:
		case <-s.done:
			return
		}
		s.mu.Lock()
		over := len(s.sh.inbox) > inboxLimit
		s.mu.Unlock()
		if !over {
			return
		}
		now := time.Now()
		q, _ := s.queued()
		if t := s.sh.took.Load(); t != took || q < queued { // written on, or read from the socket
			took, tookAt = t, now
		}
		queued = q
		stalled, slow := now.Sub(tookAt), held+now.Sub(start)
		if stalled >= stallGrace || slow >= inboxStall {
			s.in.log.Warn("closing connection: it does not read its replies, holding up a shared backend connection",
				"client", s.peer, "unread", inboxLimit, "nothing_taken_for", stalled.Round(time.Millisecond).String(),
				"lane_held_for", slow.Round(time.Millisecond).String())
			s.close()
			return
		}
		timer.Reset(min(stallPoll, stallGrace-stalled, inboxStall-slow))
	}
}

// queued is how many bytes the client socket's send queue holds (0, false when not known).
func (s *session) queued() (int, bool) {
	if s.sh.unsent == nil {
		return 0, false
	}
	return s.sh.unsent()
}

// signal wakes the pump.
func (s *session) signal() { poke(s.sh.wake) }

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
