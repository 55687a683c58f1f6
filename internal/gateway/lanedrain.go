package gateway

import (
	"errors"
	"runtime"
	"time"
)

// A lane whose reader cut a client off while that client's reply passed (holdLane: the client stopped
// reading, or read too slowly) still has the rest of that reply coming from the backend, and a reply
// cannot be skipped on a connection: the replies owed after it come only once it has been read. So
// that nobody else waits behind it, the lane stops taking commands (it drains): sessions with nothing
// owed on it go to a fresh lane in its slot, and sessions owed replies there go once those have come.
// When every reply still owed is owed to a closed session, the lane retires: its backend connection is
// closed at once, and the backend sends none of the rest.

// errLaneRetired: the lane drained and was closed; a session that finds it so takes another lane.
var errLaneRetired = errors.New("shared backend connection retired")

// usable reports whether sessions may send commands on the lane: it works and is not draining.
func (l *lane) usable() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err == nil && !l.draining
}

// retire is called by the reader when a session it delivers to was closed. With nothing but closed
// sessions' replies owed — rest (the reader's, after the current one) and those queued — it retires the
// lane (closes its connection) and reports true; otherwise the lane drains. Queued commands are
// checked under the lock that submit takes, so nothing is accepted once the lane retires.
func (l *lane) retire(rest []pending) bool {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return true
	}
	if !allClosed(rest) || !allClosed(l.fifo) {
		l.draining = true
		l.mu.Unlock()
		return false
	}
	l.err = errLaneRetired
	l.mu.Unlock()
	l.be.Close()
	close(l.done)
	l.pool.forget(l)
	return true
}

// retireDrained retires a draining lane whose reader has delivered every reply owed to an open session
// (the reader calls it with nothing of its own left to deliver).
func (l *lane) retireDrained() bool {
	l.mu.Lock()
	draining := l.draining
	l.mu.Unlock()
	return draining && l.retire(nil)
}

func allClosed(ps []pending) bool {
	for _, p := range ps {
		if !p.s.closing() {
			return false
		}
	}
	return true
}

// keepDraining records a lane taken out of its slot while it drains (not failed), for close to end.
func (p *lanePool) keepDraining(l *lane) {
	if l == nil || l.failed() {
		return
	}
	p.mu.Lock()
	if p.draining == nil {
		p.draining = make(map[*lane]struct{})
	}
	p.draining[l] = struct{}{}
	p.mu.Unlock()
}

// forget drops a lane that failed or retired from the draining lanes close must end.
func (p *lanePool) forget(l *lane) {
	p.mu.Lock()
	delete(p.draining, l)
	p.mu.Unlock()
}

// dropper returns how the lane's reader drops the rest of a bulk string owed to a session that was
// closed (lanedrop_*.go): nil, read through the reader's buffer. While it drops, the lane retires as
// soon as every reply still owed is owed to a closed session (errLaneRetired ends the drop).
func (l *lane) dropper(k *inboxSink) func(n int64) (int64, error) {
	d := dropper(l.be)
	if d == nil {
		return nil
	}
	var since int64 // bytes dropped since the last pause
	return func(n int64) (int64, error) {
		if l.retire(k.rest) {
			return 0, errLaneRetired
		}
		m, err := d(n)
		if since += m; since >= dropPauseAfter {
			since = 0
			time.Sleep(dropPause)
		} else {
			runtime.Gosched()
		}
		return m, err
	}
}

// Every dropPauseAfter bytes dropped, the drop pauses for dropPause. A drop frees the socket's receive
// buffer as fast as the backend fills it, so one write of the backend goes on copying while the drop
// lasts, and a single-threaded backend serves nobody meanwhile. In a pause its write fills the socket
// and returns. Measured beside four 512 MiB replies being dropped (TestStalledReadersCostOthersNothing,
// MOAT_STALL_MIB=512): without pauses, redis-server's slowest single writes took 144–399 ms; with them,
// and the backend connection's receive buffer capped (backend.receiveBuffer), another client's first
// PING took 1–35 ms in 6 runs, and 14 ms–1 s in 6 runs without the pauses.
const (
	dropPauseAfter = 4 << 20
	dropPause      = 2 * time.Millisecond
)
