package gateway

import (
	"errors"
	"net"
	"time"
)

// A lane is held up when it owes replies and has read none for heldAfter (the backend is busy with a
// long command, or a client that stopped reading holds up a reply until holdLane cuts it off), or while a
// reply longer than inboxLimit passes, however fast: what is sent behind it waits for all of it. A session that owes nothing on its lane — so that nothing it sends elsewhere can
// overtake a reply still to come — sends its next commands on a lane that is not held up instead: one
// of the pool's, or an extra (overflow) lane dialled for the purpose, at most as many as the pool's,
// which closes once it owes nothing. Its commands then wait only for the backend, as a client of its
// own would, not for the bytes queued ahead of them on a held-up connection.

const (
	// heldAfter: a lane that owes replies and has read none for this long is held up.
	heldAfter = 50 * time.Millisecond
	// overflowIdle: an overflow lane that owed nothing for this long closes.
	overflowIdle = time.Second
)

// read1 records n replies read (the lane's reader).
func (l *lane) read1(n int) {
	l.since.Store(time.Now().UnixNano())
	l.owed.Add(-int64(n))
}

// held reports whether the lane owes replies and has read none for heldAfter, or a long reply passes.
func (l *lane) held(now time.Time) bool {
	return l.owed.Load() > 0 && (l.passing.Load() || now.UnixNano()-l.since.Load() > int64(heldAfter))
}

// retireIdle retires an overflow lane that owes nothing (its reader calls it when it has waited
// overflowIdle with nothing left to deliver), unless another lane of its pool is held up: sessions that
// leave that one (unheld) would find no lane ready and dial one while the backend is busy.
func (l *lane) retireIdle() bool {
	l.mu.Lock()
	idle := len(l.fifo) == 0
	l.mu.Unlock()
	return idle && !l.pool.anyHeld(l) && l.retire(nil)
}

// anyHeld reports whether a lane of the pool other than except is held up.
func (p *lanePool) anyHeld(except *lane) bool {
	now := time.Now()
	for i := range p.slots {
		sl := &p.slots[i]
		sl.mu.Lock()
		l := sl.l
		sl.mu.Unlock()
		if l != nil && l != except && l.held(now) {
			return true
		}
	}
	return false
}

// prepare dials an overflow lane in the background when the pool's first overflow slot (n) holds no
// working one: a reply over inboxLimit is passing on a lane, which holds it up, and a session that then leaves
// it (unheld) finds a lane ready instead of waiting for a dial while the backend is busy. An overflow
// lane that is not taken closes after overflowIdle, as any.
func (p *lanePool) prepare(n int) {
	n = min(max(n, 1), maxLanes)
	if 2*n > maxLanes || p.closed() || !p.preparing.CompareAndSwap(false, true) {
		return
	}
	p.in.spawn(func() {
		defer p.preparing.Store(false)
		sl := &p.slots[n] // the first overflow slot, which unheld tries first
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if l := sl.l; l == nil || !l.usable() {
			d, err := p.dial(true)
			switch {
			case err != nil:
			case p.closed():
				d.retire(nil)
			default:
				p.keepDraining(l)
				sl.l = d
			}
		}
	})
}

// unheld returns a working lane of the pool's first n that is not held up, or else an overflow lane
// (slots n to 2n-1) that is not, dialling one if needed; nil when there is none to be had.
func (p *lanePool) unheld(n int) *lane {
	n = min(max(n, 1), maxLanes)
	now := time.Now()
	for i := 0; i < min(2*n, maxLanes); i++ {
		sl := &p.slots[i]
		sl.mu.Lock()
		l := sl.l
		if (l == nil || !l.usable()) && i >= n && time.Since(sl.failedAt) >= time.Second && !p.closed() {
			if d, err := p.dial(true); err == nil {
				p.keepDraining(l)
				l, sl.l = d, d
			} else {
				sl.failedAt = time.Now()
			}
		}
		sl.mu.Unlock()
		if l != nil && l.usable() && !l.held(now) {
			return l
		}
	}
	return nil
}

func (p *lanePool) closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shut
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// avoidHeld moves the session, when it owes nothing on its lane and that lane is held up, to one that
// is not (if there is one to be had).
func (s *session) avoidHeld() {
	if s.inflight.Load() > 0 || !s.sh.lane.held(time.Now()) {
		return
	}
	if l := s.in.lanes[boolIndex(s.sh.resp3)].unheld(s.snap.SharedLanes); l != nil {
		s.sh.lane = l
	}
}
