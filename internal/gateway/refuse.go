package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// refusalPacer writes refusal replies and closes the connections, at full speed up to refusalRate a
// second and paced beyond: during a connect-and-refuse flood the refused connections wait their turn
// (up to refusalQueue of them; past that the accept loop waits too), so that the flood slows down to
// the pace instead of taking the CPU of the clients being served. Every refused client still gets its
// reply, later. Safe for concurrent use.
type refusalPacer struct {
	lim   *rate.Limiter // read on clock
	clock clock
	queue chan refusal
	paced prometheus.Counter // refusals that waited their turn

	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

type refusal struct {
	conn  net.Conn
	reply []byte // nil: close only
}

// Pacing of refusals; a scan of a few hundred addresses a second is not slowed.
const (
	refusalRate  = 500
	refusalBurst = 100
	refusalQueue = 1024
)

// newRefusalPacer returns a pacer whose paced refusals wait for run, which its owner runs on a goroutine.
func newRefusalPacer(paced prometheus.Counter, clk clock) *refusalPacer {
	p := &refusalPacer{
		lim:   rate.NewLimiter(refusalRate, refusalBurst),
		clock: clk,
		queue: make(chan refusal, refusalQueue),
		paced: paced,
		done:  make(chan struct{}),
	}
	return p
}

// send refuses conn with reply: now, or in its turn when refusals come faster than the pace.
func (p *refusalPacer) send(conn net.Conn, reply []byte) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed || (len(p.queue) == 0 && p.lim.AllowN(p.clock.Now(), 1)) {
		finishRefusal(refusal{conn, reply})
		return
	}
	p.paced.Inc()
	select {
	case p.queue <- refusal{conn, reply}:
	case <-p.done:
		finishRefusal(refusal{conn, reply})
	}
}

// run writes the paced refusals until close; its owner runs it on a goroutine (Instance.spawn).
func (p *refusalPacer) run() {
	for {
		select {
		case r := <-p.queue:
			p.wait()
			finishRefusal(r)
		case <-p.done:
			for {
				select {
				case r := <-p.queue:
					finishRefusal(r)
				default:
					return
				}
			}
		}
	}
}

// wait blocks until the pace allows the next refusal, or the pacer closes.
func (p *refusalPacer) wait() {
	now := p.clock.Now()
	p.clock.waitUntil(now.Add(p.lim.ReserveN(now, 1).DelayFrom(now)), p.done)
}

// close refuses what waits at once; later refusals are not paced.
func (p *refusalPacer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// finishRefusal writes the reply (with a short deadline: a refused client cannot hold moat) and closes.
func finishRefusal(r refusal) {
	if r.reply != nil {
		r.conn.SetWriteDeadline(time.Now().Add(time.Second))
		r.conn.Write(r.reply)
	}
	r.conn.Close()
}

// refuse counts and logs a refusal, writes its reply and closes the connection (paced during a flood:
// refuse.go).
func (in *Instance) refuse(conn net.Conn, addr netip.Addr, reason string, reply []byte) {
	in.refuseAs(conn, conn.RemoteAddr().String(), addr, reason, reply)
}

// refuseAs is refuse with the client named for the log (the address a PROXY header carried).
func (in *Instance) refuseAs(conn net.Conn, peer string, addr netip.Addr, reason string, reply []byte) {
	in.noteRefusal(peerName(peer), addr, reason)
	in.refusals.send(conn, reply)
}

// peerName is a client's name for the log.
type peerName string

func (p peerName) String() string { return string(p) }

// noteRefusal counts a refusal in the metrics and the activity record, and logs it (logRefusal).
func (in *Instance) noteRefusal(peer fmt.Stringer, addr netip.Addr, reason string) {
	switch reason {
	case ReasonMaxClients:
		in.m.refusedMaxClients.Inc()
	case ReasonProtectedMode:
		in.m.refusedProtected.Inc()
	case ReasonIllegalAddress:
		in.m.refusedAddress.Inc()
	case ReasonProtocolError:
		in.m.refusedProtocol.Inc()
	case ReasonTLSHandshake:
		in.m.refusedTLS.Inc()
	}
	in.activity.record(addr, reason)
	in.logRefusal(peer, reason)
}

// logRefusal logs a refused connection, at most about one a second (bursts of 10), so that a scan cannot
// flood the log; the count of refusals not logged is reported with the next line. Every refusal is counted
// in the metrics regardless. peer names the client (its String is called only for a line logged).
func (in *Instance) logRefusal(peer fmt.Stringer, reason string) {
	if !in.refusalLog.Allow() {
		in.suppressed.Add(1)
		return
	}
	in.log.Warn("connection refused", "client", peer.String(), "reason", reason, "not_logged_since_last", in.suppressed.Swap(0))
}
