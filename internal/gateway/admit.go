package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/moat-dev/moat/internal/snapshot"
)

// TLSSource gives the TLS configuration for each new handshake (tlsconf.Server implements it).
// Config must be safe for concurrent use and may return a different configuration after a reload;
// established connections keep theirs.
type TLSSource interface {
	Config() *tls.Config
}

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
	go func() {
		defer in.wg.Done()
		ss.run()
		in.forget(ss)
		in.m.active.Dec()
	}()
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

// open does what must happen before a session relays: read the PROXY header of a trusted load
// balancer and judge the address it carries, the TLS handshake, and a refusal the verdict defers to
// after the handshake (protected mode over TLS). It reports whether the session may go on; when not,
// the connection is closed.
func (s *session) open() bool {
	if s.client.proxied && !s.readProxyHeader() {
		return false
	}
	if s.client.secure {
		if !s.handshake() {
			return false
		}
		if r := s.client.deferred; r != "" {
			s.in.refuseAs(s.conn, s.peer, s.addr, r, snapshot.Verdict{Reason: r}.Reply())
			return false
		}
	}
	return true
}

// handshake runs the TLS handshake under the instance's handshake timeout.
func (s *session) handshake() bool {
	tc := s.conn.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(s.in.accept.handshakeTimeout))
	err := tc.Handshake()
	if err == nil {
		tc.SetDeadline(time.Time{})
		return true
	}
	reason := ReasonTLSHandshake
	var rh tls.RecordHeaderError
	// The record header holds the first 5 bytes: a signature's first 5 are evidence enough.
	if errors.As(err, &rh) && proxySignature(rh.RecordHeader[:]) != sigNo {
		reason = ReasonProtocolError // a PROXY header from a peer not in proxy-protocol
		err = errProxyUntrusted
	}
	s.in.log.Debug("TLS handshake failed", "client", s.peer, "err", err)
	s.in.refuseAs(s.client.raw, s.peer, s.addr, reason, nil)
	return false
}

var errProxyUntrusted = errors.New("PROXY protocol header from an address not in proxy-protocol")

// readProxyHeader reads the PROXY header a trusted load balancer sends first (v1 or v2), then takes the
// client address it carries through the checks admit makes on a direct peer, in the same order: the
// snapshot's verdict on it (snapshot.Admit, with the balancer as the peer), the per-address limit,
// protected mode. A LOCAL header (the balancer's own health check) is judged as the balancer.
func (s *session) readProxyHeader() bool {
	in := s.in
	br := bufio.NewReaderSize(s.client.raw, 256)
	hdr, err := proxyproto.ReadHeaderTimeout(s.client.raw, br, in.accept.handshakeTimeout)
	if err != nil {
		in.log.Info("closing connection: no valid PROXY header from a trusted load balancer", "lb", s.peer, "err", err)
		in.refuse(s.client.raw, s.addr, ReasonProtocolError, snapshot.ReplyProxyExpected)
		return false
	}
	client := s.client.lb
	if hdr.Command.IsProxy() {
		if ta, ok := hdr.SourceAddr.(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	var conn net.Conn = &bufferedConn{Conn: s.client.raw, r: br}
	if br.Buffered() == 0 {
		conn = s.client.raw
	}
	addr, peer := client.Addr(), client.String()
	snap := in.snap.Load()
	v := snap.Admit(snapshot.Conn{Peer: s.client.lb.Addr(), TLS: s.client.secure, Proxy: true, Client: addr})
	if v.By == snapshot.RuleNone {
		in.refuseAs(conn, peer, addr, v.Reason, v.Reply())
		return false
	}
	if s.client.secure {
		conn = tls.Server(conn, in.accept.tls.Config())
	}
	in.mu.Lock()
	if in.overIPLimit(addr, snap) {
		in.mu.Unlock()
		in.refuseAs(conn, peer, addr, ReasonMaxClients, replyMaxClients)
		return false
	}
	if !v.Admitted && (!v.AfterHandshake || v.Reason != snapshot.ReasonProtectedMode) {
		// Protected mode on a plain listener; or the balancer is no longer trusted (the snapshot
		// changed since accept), so its header was a protocol error.
		in.mu.Unlock()
		in.refuseAs(s.client.raw, peer, addr, v.Reason, v.Reply())
		return false
	}
	delete(in.accept.pending, s)
	s.addr, s.client.addrPort, s.conn, s.peer = addr, client, conn, peer
	if !v.Admitted {
		s.client.deferred = v.Reason
	}
	in.enter(s)
	in.mu.Unlock()
	in.m.accepted.Inc()
	return true
}

// bufferedConn reads what a bufio.Reader holds before reading the connection again.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

// PROXY protocol signatures.
var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	sigNo    = iota // not a PROXY header
	sigMatch        // starts with a PROXY header signature
	sigMore         // too short to tell
)

// proxySignature tells whether b starts with a PROXY protocol v1 or v2 signature.
func proxySignature(b []byte) int {
	res := sigNo
	for _, sig := range [][]byte{sigV1, sigV2} {
		n := min(len(b), len(sig))
		if string(b[:n]) != string(sig[:n]) {
			continue
		}
		if n == len(sig) {
			return sigMatch
		}
		res = sigMore
	}
	return res
}

// proxySniffer turns a PROXY header at the start of a connection from a peer that is not a trusted
// load balancer into a protocol error (N5): such a header is never taken as commands (v2's signature
// would read as an inline QUIT). Only the first bytes are inspected; reads pass straight through after.
type proxySniffer struct {
	r    io.Reader
	done bool
	// Used only when the caller's buffer is too small to hold a signature: the bytes read to decide,
	// delivered before anything else, then err.
	buf    [12]byte
	off, n int
	err    error
}

func (p *proxySniffer) Read(b []byte) (int, error) {
	switch {
	case p.off < p.n:
		k := copy(b, p.buf[p.off:p.n])
		p.off += k
		return k, nil
	case p.err != nil:
		return 0, p.err
	case p.done:
		return p.r.Read(b)
	case len(b) < len(p.buf):
		if err := p.sniffInto(p.buf[:], &p.n); err != nil && p.n == 0 {
			return 0, err
		} else if err != nil && err != errProxyHeader {
			p.err = err
		} else if err == errProxyHeader {
			return 0, err
		}
		return p.Read(b)
	}
	var n int
	err := p.sniffInto(b, &n)
	if err == errProxyHeader {
		return 0, err
	}
	return n, err
}

// sniffInto reads into b (at least 12 bytes) until its start is known to be a PROXY signature or not,
// or the source ends; *n counts the bytes read.
func (p *proxySniffer) sniffInto(b []byte, n *int) error {
	for {
		switch proxySignature(b[:*n]) {
		case sigMatch:
			return errProxyHeader
		case sigNo:
			p.done = true
			return nil
		}
		m, err := p.r.Read(b[*n:])
		*n += m
		if err != nil {
			if proxySignature(b[:*n]) == sigMatch {
				return errProxyHeader
			}
			p.done = true
			return err
		}
	}
}

// configureAccept applies the configuration of accepting connections: TLS and the handshake timeout.
func (in *Instance) configureAccept(cfg Config) error {
	in.accept.tls = cfg.TLS
	in.accept.handshakeTimeout = cfg.HandshakeTimeout
	if in.accept.handshakeTimeout <= 0 {
		in.accept.handshakeTimeout = 10 * time.Second
	}
	if len(cfg.TLSListen) > 0 && cfg.TLS == nil {
		return fmt.Errorf("instance %s: TLS listen addresses without a TLS configuration", cfg.ID)
	}
	in.applyLimits(in.snap.Load())
	return nil
}

// listenTLS binds the TLS listen addresses; on error none is left open.
func (in *Instance) listenTLS(cfg Config) error {
	split := splitFamilies(cfg.Listen, cfg.TLSListen)
	for _, addr := range cfg.TLSListen {
		ln, err := listen(addr, split(addr))
		if err != nil {
			for _, l := range in.accept.tlsListeners {
				l.Close()
			}
			in.accept.tlsListeners = nil
			return fmt.Errorf("instance %s: listen (TLS) on %s: %w", cfg.ID, addr, err)
		}
		in.accept.tlsListeners = append(in.accept.tlsListeners, ln)
	}
	return nil
}

// TLSAddrs returns the bound TLS listen addresses.
func (in *Instance) TLSAddrs() []net.Addr {
	out := make([]net.Addr, len(in.accept.tlsListeners))
	for i, ln := range in.accept.tlsListeners {
		out[i] = ln.Addr()
	}
	return out
}

// pendingConns returns the sockets of connections still reading their PROXY header. Called with mu held.
func (in *Instance) pendingConns() []net.Conn {
	out := make([]net.Conn, 0, len(in.accept.pending))
	for ss := range in.accept.pending {
		out = append(out, ss.client.raw)
	}
	return out
}
