package gateway

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"github.com/moat-dev/moat/internal/snapshot"
)

// acceptState is the instance's state of accepting connections: the TLS listeners and handshake, the
// connection IDs given, the connections awaiting a PROXY header, the counts per client address.
type acceptState struct {
	tlsListeners     []net.Listener
	tls              TLSSource
	handshakeTimeout time.Duration

	nextID int64 // the last connection ID given; guarded by Instance.mu

	// Guarded by Instance.mu.
	pending map[*session]struct{} // from a trusted load balancer, PROXY header not read yet
	perIP   map[netip.Addr]int    // connections per client address, kept while maxclients-per-ip is set
}

// admit acts on the snapshot's verdict v on a new connection (snapshot.Admit, which alone decides
// whether the address may in) and starts its session. The checks come in this order, Redis's where
// Redis has them:
//
//  1. the verdict's whitelist stage (W8): -ERR illegal address on accept;
//  2. the gateway's live state, which no snapshot holds: maxclients and maxclients-per-ip (the
//     brute-force lockout acts on AUTH, not here: lockout.go);
//  3. the rest of the verdict, protected mode (N2): -DENIED on accept, or after the TLS handshake on
//     a TLS listener (session.open).
//
// A trusted load balancer's connection (snapshot.RuleAwaitPROXY) meets only maxclients here: its
// session reads the PROXY header and takes the address it carries through 1–3 (readProxyHeader). It
// runs on the accept goroutine and, for the plain case, allocates nothing but the session.
func (in *Instance) admit(conn net.Conn, addr netip.Addr, snap *snapshot.Snapshot, secure bool, v snapshot.Verdict) {
	proxied := v.By == snapshot.RuleAwaitPROXY
	if v.By == snapshot.RuleNone {
		in.refuse(conn, addr, v.Reason, v.Reply())
		return
	}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		conn.Close()
		return
	}
	if snap.MaxClients > 0 && len(in.sessions)+len(in.accept.pending) >= snap.MaxClients {
		in.mu.Unlock()
		in.refuse(conn, addr, ReasonMaxClients, replyMaxClients)
		return
	}
	if !proxied && in.overIPLimit(addr, snap) {
		in.mu.Unlock()
		in.refuse(conn, addr, ReasonMaxClients, replyMaxClients)
		return
	}
	if !v.Admitted && !v.AfterHandshake {
		in.mu.Unlock()
		in.refuse(conn, addr, v.Reason, v.Reply())
		return
	}
	ss := newSession(in, conn, addr, snap)
	in.accept.nextID++
	ss.client = clientState{id: in.accept.nextID, created: time.Now(), raw: conn, secure: secure, proxied: proxied}
	if !v.Admitted {
		ss.client.deferred = v.Reason
	}
	ss.client.view.multi = -1
	ss.park.never.Store(secure || proxied || snap.IdleTimeout > 0)
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		ss.client.addrPort = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if proxied {
		ss.client.lb = ss.client.addrPort
		if in.accept.pending == nil {
			in.accept.pending = make(map[*session]struct{})
		}
		in.accept.pending[ss] = struct{}{}
	} else {
		if secure {
			ss.conn = tls.Server(conn, in.accept.tls.Config())
		}
		in.enter(ss)
	}
	in.wg.Add(1)
	in.mu.Unlock()
	if !proxied {
		in.m.accepted.Inc()
	}
	in.m.active.Inc()
	go in.live(ss, ss.run)
}

// live runs a session — from its start (run) or as it wakes from a park (serveShared) — and ends it
// unless it parks (park.go), which it may do again and again.
func (in *Instance) live(ss *session, serve func() bool) {
	in.awake.add(ss)
	for serve() {
		in.awake.remove(ss) // before the room has it: its wake may add it again at once
		if in.park(ss) {
			return
		}
		in.awake.add(ss)
		if ss.closing() {
			break
		}
		serve = ss.serveShared // it could not park: it goes on
	}
	in.awake.remove(ss)
	in.ended(ss)
}

// ended removes a session whose connection was closed.
func (in *Instance) ended(ss *session) {
	in.forget(ss)
	in.m.active.Dec()
	in.wg.Done()
}

// overIPLimit reports a client address at its maxclients-per-ip. Called with mu held.
func (in *Instance) overIPLimit(addr netip.Addr, snap *snapshot.Snapshot) bool {
	return snap.MaxClientsPerIP > 0 && in.accept.perIP != nil && in.accept.perIP[addr] >= snap.MaxClientsPerIP
}

// enter registers a session whose client address is final. Called with mu held.
func (in *Instance) enter(ss *session) {
	in.sessions[ss] = struct{}{}
	if in.accept.perIP != nil {
		in.accept.perIP[ss.addr]++
		ss.client.counted = true
	}
}

// forget removes a session that ended.
func (in *Instance) forget(ss *session) {
	in.mu.Lock()
	delete(in.accept.pending, ss)
	delete(in.sessions, ss)
	if ss.client.counted && in.accept.perIP != nil {
		if n := in.accept.perIP[ss.addr] - 1; n > 0 {
			in.accept.perIP[ss.addr] = n
		} else {
			delete(in.accept.perIP, ss.addr)
		}
	}
	in.mu.Unlock()
}

// applyLimits starts or stops counting connections per client address as maxclients-per-ip is set or
// cleared, so that the plain accept path does no map work while there is no such limit.
func (in *Instance) applyLimits(s *snapshot.Snapshot) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case s.MaxClientsPerIP > 0 && in.accept.perIP == nil:
		in.accept.perIP = make(map[netip.Addr]int, len(in.sessions))
		for ss := range in.sessions {
			in.accept.perIP[ss.addr]++
			ss.client.counted = true
		}
	case s.MaxClientsPerIP == 0 && in.accept.perIP != nil:
		in.accept.perIP = nil
		for ss := range in.sessions {
			ss.client.counted = false
		}
	}
}

// pendingConns returns the sockets of connections still reading their PROXY header. Called with mu held.
func (in *Instance) pendingConns() []net.Conn {
	out := make([]net.Conn, 0, len(in.accept.pending))
	for ss := range in.accept.pending {
		out = append(out, ss.client.raw)
	}
	return out
}
