// Package gateway is moat's data plane: it listens for an instance's clients, judges each peer address
// on accept (W8), and relays commands and replies between each client and the instance's backend.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Config is what an Instance needs besides its snapshot.
type Config struct {
	ID      string
	Listen  []string // host:port addresses
	Backend backend.Backend
	Log     *slog.Logger
	Metrics *Metrics
	// DialTimeout bounds connecting to the backend for a new client (default 2 s).
	DialTimeout time.Duration

	// TLSListen are addresses served with TLS (N3), configured by TLS for each handshake.
	TLSListen []string
	TLS       TLSSource
	// HandshakeTimeout bounds reading a PROXY header and the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
}

// Instance serves one instance's listeners. Its methods are safe for concurrent use.
type Instance struct {
	id          string
	backend     backend.Backend
	log         *slog.Logger
	metrics     *Metrics
	m           instanceMetrics
	dialTimeout time.Duration
	snap        atomic.Pointer[snapshot.Snapshot]

	listeners []net.Listener
	wg        sync.WaitGroup

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool

	refusalLog *rate.Limiter
	suppressed atomic.Int64 // refusals not logged since the last logged one

	activity Activity // recent refusals, for the console (activity.go)

	x instanceX // network security and connection management (admit.go)
}

// Start binds every listen address and begins serving with snap. Nothing is served if any address
// cannot be bound; the error names the instance and the address.
func Start(cfg Config, snap *snapshot.Snapshot) (*Instance, error) {
	if snap == nil {
		return nil, fmt.Errorf("instance %s: no snapshot", cfg.ID)
	}
	in := &Instance{
		id:          cfg.ID,
		backend:     cfg.Backend,
		log:         cfg.Log.With("instance", cfg.ID),
		metrics:     cfg.Metrics,
		m:           cfg.Metrics.forInstance(cfg.ID),
		dialTimeout: cfg.DialTimeout,
		sessions:    make(map[*session]struct{}),
		refusalLog:  rate.NewLimiter(rate.Every(time.Second), 10),
	}
	if in.dialTimeout <= 0 {
		in.dialTimeout = 2 * time.Second
	}
	in.snap.Store(snap)
	if err := in.configureX(cfg); err != nil {
		return nil, err
	}
	split := splitFamilies(cfg.Listen, cfg.TLSListen)
	for _, addr := range cfg.Listen {
		ln, err := listen(addr, split(addr))
		if err != nil {
			for _, l := range in.listeners {
				l.Close()
			}
			return nil, fmt.Errorf("instance %s: listen on %s: %w", cfg.ID, addr, err)
		}
		in.listeners = append(in.listeners, ln)
	}
	if err := in.listenTLS(cfg); err != nil {
		for _, l := range in.listeners {
			l.Close()
		}
		return nil, err
	}
	for _, ln := range in.listeners {
		in.wg.Add(1)
		go in.acceptLoop(ln, false)
	}
	for _, ln := range in.x.tlsListeners {
		in.wg.Add(1)
		go in.acceptLoop(ln, true)
	}
	return in, nil
}

// ID returns the instance ID.
func (in *Instance) ID() string { return in.id }

// Addrs returns the bound listen addresses (useful with port 0).
func (in *Instance) Addrs() []net.Addr {
	out := make([]net.Addr, len(in.listeners))
	for i, ln := range in.listeners {
		out[i] = ln.Addr()
	}
	return out
}

// Snapshot returns the snapshot in force.
func (in *Instance) Snapshot() *snapshot.Snapshot { return in.snap.Load() }

// Publish makes s the snapshot every new connection is judged by. Established connections continue (W9)
// unless s.DropOnRevoke is set, in which case those whose address s no longer allows are closed before
// Publish returns.
func (in *Instance) Publish(s *snapshot.Snapshot) {
	in.applyLimits(s)
	in.snap.Store(s)
	if !s.DropOnRevoke {
		return
	}
	in.mu.Lock()
	var revoked []*session
	for ss := range in.sessions {
		if !s.Allow.Allows(ss.addr) {
			revoked = append(revoked, ss)
		}
	}
	in.mu.Unlock()
	for _, ss := range revoked {
		in.log.Info("closing connection: address no longer allowed (drop-on-revoke)", "client", ss.peer)
		in.m.refusedRevoked.Inc()
		in.activity.record(ss.addr, ReasonRevoked)
		ss.close()
	}
}

// Close stops accepting, closes every client connection and waits for the sessions to end. The backend
// is not closed: its owner does that.
func (in *Instance) Close() error {
	in.mu.Lock()
	in.closed = true
	sessions := make([]*session, 0, len(in.sessions))
	for ss := range in.sessions {
		sessions = append(sessions, ss)
	}
	pending := in.pendingConns()
	in.mu.Unlock()
	for _, ln := range in.listeners {
		ln.Close()
	}
	for _, ln := range in.x.tlsListeners {
		ln.Close()
	}
	for _, c := range pending {
		c.Close()
	}
	for _, ss := range sessions {
		ss.close()
	}
	in.wg.Wait()
	in.metrics.forget(in.id)
	return nil
}

func (in *Instance) acceptLoop(ln net.Listener, secure bool) {
	defer in.wg.Done()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			in.log.Error("accept failed", "listen", ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		in.handle(conn, secure)
	}
}

// handle judges a new connection before reading a byte from it (W8), and before any TLS handshake,
// and starts its session if allowed (admit.go). Refusals are handled right here on the accept goroutine:
// they cost one write and one close. A connection from a trusted load balancer is judged by the address
// its PROXY header carries, which its session reads first (N5).
func (in *Instance) handle(conn net.Conn, secure bool) {
	addr := peerAddr(conn)
	snap := in.snap.Load()
	if len(snap.ProxyTrusted) > 0 && snap.TrustsProxy(addr) {
		in.admit(conn, addr, snap, secure, true)
		return
	}
	if !snap.Allow.Allows(addr) {
		in.m.refusedAddress.Inc()
		in.activity.record(addr, ReasonIllegalAddress)
		in.logRefusal(conn.RemoteAddr().String(), ReasonIllegalAddress)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		conn.Write(replyIllegalAddress)
		conn.Close()
		return
	}
	in.admit(conn, addr, snap, secure, false)
}

// logRefusal logs a refused connection, at most about one a second (bursts of 10), so that a scan cannot
// flood the log; the count of refusals not logged is reported with the next line. Every refusal is counted
// in the metrics regardless.
func (in *Instance) logRefusal(peer, reason string) {
	if !in.refusalLog.Allow() {
		in.suppressed.Add(1)
		return
	}
	in.log.Warn("connection refused", "client", peer, "reason", reason, "not_logged_since_last", in.suppressed.Swap(0))
}

func (in *Instance) dialBackend() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), in.dialTimeout)
	defer cancel()
	return in.backend.Dial(ctx)
}

// peerAddr returns the peer's IP address, IPv4-mapped IPv6 unmapped (W8). An address that cannot be
// determined is the zero Addr, which no allow set contains.
func peerAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
