package gateway

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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
	// holding: the reader holds a read of the client socket open (arrivals), which a Close would wait
	// for; close shuts the socket down instead, and the reader closes it when it lets the read go.
	// Guarded by mu.
	holding bool

	// identUser is the user whose backend identity the session's own backend connection runs as; "": the
	// backend login (identity.go). The reader's alone.
	identUser string

	// arrived: when the bytes of the batch the reader handles reached the machine, unix nanoseconds
	// (arrivals; the time it was read where the socket gives none). The reader's alone.
	arrived int64

	subs subscriptions // the channels it subscribed to, for ACL changes (pubsubacl.go)

	sh       sharedState  // on a shared lane (lanesend.go, inbox.go)
	inflight atomic.Int64 // replies owed on the shared lane and not yet delivered
	beID     atomic.Int64 // the backend's ID of the dedicated connection once looked up (clientid.go)
	redirs   []idPair     // the redirect targets this session named, by backend ID (clientid.go); guarded by mu
	// redirected: redirs is not empty, so a push may name a redirect target (clientid.go).
	redirected atomic.Bool

	client clientState // the client connection as accepted and as CLIENT LIST shows it (clientview.go, admit.go)

	park parkState // an idle session's goroutines end while its socket waits (park.go)

	// monitorOn: the session sent MONITOR and counts in Instance.monitor (monitor.go); monFrom: where
	// each shared lane's records for its last MONITOR begin.
	monitorOn atomic.Bool
	monFrom   atomic.Pointer[monStart]
}

func newSession(in *Instance, conn net.Conn, addr netip.Addr, snap *snapshot.Snapshot) *session {
	return &session{in: in, conn: conn, addr: addr, peer: conn.RemoteAddr().String(), snap: snap, done: make(chan struct{})}
}

// close ends the session: both connections are closed, which unblocks both goroutines. Idempotent.
func (s *session) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.stopMonitor()
		s.mu.Lock() // run sets be under mu, and may still be dialling; wake sets conn
		conn, be, parked, holding := s.conn, s.be, s.park.pc, s.holding
		s.mu.Unlock()
		if holding {
			shutdown(conn) // the reader wakes to it, and closes conn
		} else {
			conn.Close()
		}
		if be != nil {
			be.Close()
		}
		if parked != nil {
			parked.Close() // takes the socket out of the waiting room and ends the session (room_linux.go)
		}
	})
}

// run serves the session from its start until it ends, or parks (true: park.go).
func (s *session) run() bool {
	if !s.open() {
		return false
	}
	if n := s.snap.SharedLanes; n > 0 {
		l, err := s.in.lanes[0].acquire(n)
		if err != nil {
			s.refuseBackend(err)
			return false
		}
		s.sh = sharedState{lane: l, out: progressWriter{s}, unsent: unsentBytes(s.client.raw),
			wake: make(chan struct{}, 1), drained: make(chan struct{}, 1), settled: make(chan struct{}, 1)}
		return s.serveShared()
	}
	s.park.never.Store(true)
	be, err := s.in.dialBackend()
	if err != nil {
		s.refuseBackend(err)
		return false
	}
	s.in.monitor.noteDial(be, false)
	s.mu.Lock()
	s.be = be
	s.mu.Unlock()
	s.in.monitor.owned()
	select {
	case <-s.done: // closed (drop-on-revoke, shutdown) while dialling
		be.Close()
		return false
	default:
	}
	if !s.askBackendID(be) {
		s.close()
		return false
	}
	return s.serve(func() { s.pump(pumpState{}) })
}

// serveShared serves a session on a shared lane (from its start, or as it wakes from a park) until
// it ends or parks (true).
func (s *session) serveShared() bool {
	return s.serve(func() {
		if st, moved := s.sharedPump(); moved {
			s.pump(st)
		}
	})
}

// serve runs pump beside the reader until both end; true: they ended to park the session.
func (s *session) serve(pump func()) bool {
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		pump()
		if !s.park.now.Load() {
			s.close()
		}
	}()
	parked := s.read()
	if parked {
		s.park.now.Store(true) // the pump, which has nothing to do, ends
		s.signal()
	}
	<-pumpDone
	s.park.now.Store(false)
	return parked
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

// closing reports a session whose close has begun.
func (s *session) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
