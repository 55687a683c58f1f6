// Package gateway is moat's data plane: it listens for an instance's clients, judges each peer address
// on accept (W8), and relays commands and replies between each client and the instance's backend.
//
// It is the data plane: it must not import the control plane, the server, the console, the CLI or the config
// file; it serves what snapshots say and reaches the backend through package backend.
//
// A connection goes through these stages, each in its own files:
//
//   - listen.go, accept.go, accept_linux.go: the listeners and their accept loops; the peer address is
//     judged before a byte is read (refuse.go writes and paces refusals);
//   - admit.go: the verdict acted on, limits counted, the session started (session.go: its life);
//   - handshake.go, proxysniff.go: the PROXY header and the TLS handshake;
//   - reader.go: batches of commands read from the client and sent to the backend;
//   - decide.go, decidehandlers.go, commandtable.go: each command judged once, by one table lookup
//     (auth.go, aclcmd.go, clientcmd.go, configcmd.go, multiacl.go: what moat answers itself);
//   - lanesend.go, lane*.go, ready.go: the lanes — shared backend connections, and the move to a dedicated one;
//   - replystate.go: the reply slots and what tells which frame answers which;
//   - pump.go, pumpshared.go, inbox.go: the replies written to the client, in order;
//   - clientview.go: the connection as CLIENT LIST shows it; monitor.go, monitorline.go: MONITOR's lines.
package gateway

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/moat-dev/moat/internal/acl"
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
	// DialTimeout bounds the gateway's own exchanges with the backend: the command table, identities,
	// client-ID lookups (default 2 s). Connections that carry clients' commands are bounded as the
	// backend bounds them (backend.DialTimeout to connect, backend.AnswerTimeout to answer): a busy
	// backend keeps them waiting as it keeps its own clients.
	DialTimeout time.Duration

	// TLSListen are addresses served with TLS (N3), configured by TLS for each handshake.
	TLSListen []string
	TLS       TLSSource
	// HandshakeTimeout bounds reading a PROXY header and the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// OpenFiles is the open-files limit a client's CONFIG SET maxclients is held to, as Redis holds it
	// (maxclients.go); 0: the process's RLIMIT_NOFILE, read at each such CONFIG SET.
	OpenFiles int

	// Commands is the command table ACL users are compiled against, for snapshots without users (nil:
	// redis-server 7.0.15's, acl.LoadDefault). Users makes ACL SETUSER and DELUSER durable; nil refuses
	// them.
	Commands *acl.Table
	Users    UserStore
	// DefaultCommands: judge with Commands without asking the backend (by default Start asks it with
	// COMMAND: CommandTable). The server sets it, with Commands the table it got from CommandTable and
	// compiled the snapshots' users against.
	DefaultCommands bool

	// Now is the clock of the decisions time makes in the gateway: the brute-force lockout's windows
	// and durations, the idle timeout and the pacing of refusals (clock.go). nil: time.Now. It must be
	// safe for concurrent use.
	Now func() time.Time
}

// Instance serves one instance's listeners. Its methods are safe for concurrent use.
//
// Locks, in the order they may be taken (a goroutine holding one takes only those after it):
//
//	Instance.identMu, Instance.guardMu  (Publish's backend writes: identity.go, scriptguard.go)
//	Instance.scriptLog.mu               (the backend's ACL LOG read and mirrored: scriptlog.go)
//	Instance.mu                         (sessions, accept state; TLSSource.Config is called under it)
//	session.mu, session.subs.mu         (a session's queue and view; its subscriptions)
//	lanePool slot.mu → lane.mu, lanePool.mu
//
// and leaves, taken with nothing else held after: the ready pools', the move gate's, the refusal
// pacer's, the activity record's and the lockout's. No lane lock is held while a session's is taken
// or the other way round: a lane's reader delivers to a session (session.deliver) with no lane lock held.
// Publish holds Instance.mu only to walk the sessions, never while it talks to the backend (which it does
// under identMu and guardMu alone), so accepts — which take Instance.mu only to register a session
// (admit) — do not wait for a snapshot being published. The caller of Publish (the server, under its own
// publish lock) comes before all of these.
type Instance struct {
	id          string
	backend     backend.Backend
	log         *slog.Logger
	metrics     *Metrics
	m           instanceMetrics
	dialTimeout time.Duration
	openFiles   int // Config.OpenFiles
	// closing is cancelled by Close: it ends backend dials under way and the accept loops.
	closing context.Context
	stop    context.CancelFunc
	snap    atomic.Pointer[snapshot.Snapshot]

	listeners []net.Listener
	wg        sync.WaitGroup // the accept loops and the sessions
	// bg: the instance's other goroutines (spawn) — the shared lanes' writers and readers, the ready
	// pools' fills, the overflow lanes' dials, the refusal pacer. Close waits for them once it has closed
	// what they serve. Only goroutines counted in wg or bg spawn them, and Start.
	bg sync.WaitGroup

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool

	refusalLog *rate.Limiter
	suppressed atomic.Int64 // refusals not logged since the last logged one

	activity Activity // recent refusals, for the console (activity.go)

	// ACLs (auth.go, aclcmd.go).
	table      *acl.Table    // the command table users are judged with (commands.go)
	cmds       *commandTable // what the gateway does with each command, derived from table (commandtable.go)
	freshUsers *acl.Users    // the users of a snapshot without any: Redis's fresh default user
	aclLog     *acl.Log
	users      UserStore
	lockout    lockout // A5 (lockout.go); per process

	clock    clock          // Config.Now (clock.go)
	bufs     sessionBuffers // bufpool.go
	inboxes  inboxBuffers   // bufpool.go
	refusals *refusalPacer  // refuse.go

	lanes [2]*lanePool  // shared lanes, RESP2 and RESP3 (lane.go)
	ready [2]*readyPool // connections ready for sessions leaving them, RESP2 and RESP3 (ready.go)
	moves moveGate      // orders those moves against the shared lanes' traffic (ready.go)

	monitor monitorState // the sessions that monitor, and what lanes record for them (monitor.go)

	// The script guard's denied commands as last given to the backend (scriptguard.go).
	guardMu     sync.Mutex
	guardDeny   []string
	guardSynced bool

	// Per-user backend identities (identity.go).
	identMu    sync.Mutex
	ident      identSync     // the identities as last computed and written
	identState atomic.Uint32 // identUnknown, identReady, identUnavailable
	scriptLog  scriptLog     // their ACL LOG entries, mirrored (scriptlog.go)

	accept acceptState // listeners, connection IDs and counts, PROXY headers awaited (admit.go)
	room   waitingRoom // where idle connections wait without goroutines (park.go)
	awake  awakeSet    // the sessions whose goroutines run, which the sweeper looks at (park.go)

	stats stats // the error replies of the commands moat answers itself; their calls: cmds (stats.go)
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
		openFiles:   cfg.OpenFiles,
		sessions:    make(map[*session]struct{}),
		refusalLog:  rate.NewLimiter(rate.Every(time.Second), 10),
	}
	in.closing, in.stop = context.WithCancel(context.Background())
	in.lanes = [2]*lanePool{{in: in}, {in: in, resp3: true}}
	in.ready = [2]*readyPool{{in: in}, {in: in, resp3: true}}
	in.clock = clock{now: cfg.Now}
	in.room.in = in
	in.monitor.seed = maphash.MakeSeed()
	if hd, ok := cfg.Backend.(handshakeDB); ok && hd.HandshakeDB() != 0 {
		in.monitor.selectDB = strconv.Itoa(hd.HandshakeDB())
	}
	in.lockout.clk = in.clock
	if in.dialTimeout <= 0 {
		in.dialTimeout = 2 * time.Second
	}
	table := cfg.Commands
	if table == nil {
		var err error
		if table, err = acl.LoadDefault(); err != nil {
			return nil, fmt.Errorf("instance %s: %w", cfg.ID, err)
		}
	}
	in.table = table
	in.aclLog = acl.NewLog(snap.ACLLogMaxLen)
	in.users = cfg.Users
	in.snap.Store(snap)
	if err := in.configureAccept(cfg); err != nil {
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
	// Bound: now ask the backend for its command table, before the first client is served.
	if !cfg.DefaultCommands && in.backend != nil {
		in.table = CommandTable(in.backend, in.dialTimeout, table, in.log)
	}
	in.cmds = newCommandTable(in.table)
	in.freshUsers = acl.NewUsers(in.table, acl.Config{ScriptsNeedAllKeys: true})
	in.syncScriptGuard(snap)
	in.syncIdentities(snap)
	in.snap.Store(in.scriptsByIdentity(in.bind(snap)))
	in.refusals = newRefusalPacer(in.m.refusalsPaced, in.clock) // from here on Start succeeds: Close stops it
	in.spawn(in.refusals.run)
	in.spawn(in.sweepParking)
	for _, ln := range in.listeners {
		in.wg.Add(1)
		go in.acceptLoop(ln, false)
	}
	for _, ln := range in.accept.tlsListeners {
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
//
// Connections authenticated as a user s deletes or disables are closed too (A3), but for one inside the
// ACL change itself, which closes after its reply. So are subscribers whose user lost the permission
// of a channel they are subscribed to, as in Redis 7.0 (pubsubacl.go).
func (in *Instance) Publish(s *snapshot.Snapshot) {
	prev := in.snap.Load()
	s = in.bind(s)
	bound := s
	in.syncScriptGuard(s)
	s = in.scriptsByIdentity(s)
	in.applyLimits(s)
	in.aclLog.SetMaxLen(s.ACLLogMaxLen)
	in.snap.Store(s)
	// After the store: a session that wrote its identity with the previous rules meanwhile sees the new
	// snapshot and writes it again (identity.go). With the users as compiled (the scripting rule does not
	// change an identity), which stay the same objects from one publish to the next while unchanged.
	in.syncIdentities(bound)
	if t := in.scriptsByIdentity(s); t != s && in.snap.CompareAndSwap(s, t) {
		s = t
	}
	users := in.usersOf(s)
	in.mu.Lock()
	var revoked, gone []*session
	for ss := range in.sessions {
		switch {
		case s.DropOnRevoke && !s.Admits(ss.addr):
			revoked = append(revoked, ss)
		case ss.userGone(users):
			gone = append(gone, ss)
		}
	}
	in.mu.Unlock()
	for _, ss := range revoked {
		in.log.Info("closing connection: address no longer allowed (drop-on-revoke)", "client", ss.peer)
		in.m.refusedRevoked.Inc()
		in.activity.record(ss.addr, ReasonRevoked)
		ss.close()
	}
	for _, ss := range gone {
		in.log.Info("closing connection: its ACL user was deleted", "client", ss.peer, "user", ss.user())
		ss.close()
	}
	if prev != nil {
		in.killRevokedSubscribers(in.usersOf(prev), users)
	}
}

// Close stops accepting, closes every client connection and waits for the sessions to end, then closes the
// shared lanes, the ready connections and the refusal pacer and waits for every goroutine the instance
// started. The backend is not closed: its owner does that.
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
	for _, ln := range in.accept.tlsListeners {
		ln.Close()
	}
	for _, c := range pending {
		c.Close()
	}
	in.stop()
	for _, ss := range sessions {
		ss.close()
	}
	in.wg.Wait()
	in.room.close()
	in.scriptLog.close()
	in.refusals.close()
	for _, p := range in.lanes {
		p.close()
	}
	for _, p := range in.ready {
		p.close()
	}
	in.bg.Wait()
	in.metrics.forget(in.id)
	return nil
}

// spawn runs f on a goroutine of the instance's, which Close waits for (Instance.bg). f must end once
// Close has closed the lanes, the ready pools and the refusal pacer, and the backend dials it makes are
// cancelled (Instance.closing); a backend that does not answer holds it up to backend.AnswerTimeout.
func (in *Instance) spawn(f func()) {
	in.bg.Add(1)
	go func() {
		defer in.bg.Done()
		f()
	}()
}

// dialBackend opens a backend connection for clients' commands, within the backend's bounds (see
// Config.DialTimeout); Close ends it.
func (in *Instance) dialBackend() (net.Conn, error) {
	return in.backend.Dial(in.closing)
}
