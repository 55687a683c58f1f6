package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Backend hands out connections ready for commands: authenticated with the backend credentials of
// the instance (never the client's) and with the configured database selected. All methods are safe
// for concurrent use.
type Backend interface {
	// Dial opens a new connection. The caller owns it and must close it; Close of the Backend does not
	// close connections already handed out. Connecting gives up after DialTimeout; a connected backend
	// has AnswerTimeout to answer the handshake (TLS, AUTH, SELECT, the cluster question); ctx's
	// deadline, when earlier, and its cancellation end either at once. Errors name the backend (String()) and the cause, and wrap one of
	// ErrUnavailable, ErrAuth, ErrSelect (both through a *RefusedError), ErrHandshake, ErrClosed, or
	// ErrCluster or ErrClusterUnknown (cluster.go: a backend moat cannot guard).
	Dial(ctx context.Context) (net.Conn, error)
	// String names the backend for logs: its URL with the password replaced by "xxxxx".
	String() string
	// SetScriptDeny makes the scripts and functions of instance unable to run the deny commands (see
	// ScriptGuard, guard.go) and writes the backend's script user now, within ctx; every later Dial writes
	// it again. An empty deny turns the guard off. The error is the guard's (also in ScriptGuard().Err).
	SetScriptDeny(ctx context.Context, instance string, deny []string) error
	// ScriptGuard returns the script guard's current state; never nil.
	ScriptGuard() *ScriptGuard
	// Identity returns the backend ACL user standing in for user of instance with rules (identity.go);
	// nil when the backend has no ACL users.
	Identity(instance, user string, rules []string) *Identity
	// LoginAuth is AUTH as the backend login (a whole RESP command); nil without ACL users.
	LoginAuth() []byte
	// WriteIdentities writes set and deletes the identities named del within ctx, on the one connection
	// the backend keeps for these writes (dialled again when it breaks; closed by Close). The error wraps
	// ErrNoACL or ErrACLPermission when the backend cannot hold them.
	WriteIdentities(ctx context.Context, set []*Identity, del []string) error
	// Close stops the backend: later Dials fail with ErrClosed; it waits for an identity write under way
	// (bounded by that write's ctx). For the embedded engine it also stops the engine and closes its
	// database; every write acknowledged before is on disk. Idempotent.
	Close() error
}

// DialTimeout bounds connecting to the backend: an address that does not accept within it is
// unreachable.
const DialTimeout = 2 * time.Second

// AnswerTimeout bounds the handshake on a connected backend. It is long because a backend answers a new
// connection as it answers any client, once free: one busy with a long command or with making a large
// reply (a GET of 512 MiB takes seconds) keeps a new connection waiting as it keeps its own clients,
// and that is not a failure.
const AnswerTimeout = 30 * time.Second

// Errors wrapped by Dial.
var (
	ErrUnavailable = errors.New("unreachable")    // connect or TLS handshake failed
	ErrAuth        = errors.New("AUTH refused")   // the backend refused the configured credentials
	ErrSelect      = errors.New("SELECT refused") // the backend refused the configured database
	ErrHandshake   = errors.New("handshake")      // the connection broke or misbehaved during AUTH/SELECT
	ErrClosed      = errors.New("backend closed") // Dial after Close
)

// Open opens the backend described by spec (see ParseSpec) without a server binary to run (OpenWith
// with nil): "auto" opens the in-process engine and "managed" is an error.
func Open(spec string, dir string, log *slog.Logger) (Backend, error) {
	return OpenWith(spec, dir, nil, log)
}

// OpenWith opens the backend described by spec (see ParseSpec). dir is the instance's own data
// directory, used by the in-process engine and the managed server (it is created with mode 0700 if
// missing). srv is the redis-server/valkey-server binary that serves "managed" and, unless dir holds
// only the in-process engine's data, "auto" (managed.go); nil: none was found, "auto" opens the
// in-process engine. log receives the backend's own events; nil discards them.
func OpenWith(spec string, dir string, srv *Server, log *slog.Logger) (Backend, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch s.Kind {
	case KindAuto:
		if srv == nil || keepEmbedded(dir, srv, log) {
			return openEmbedded(dir, log)
		}
		return openManaged(dir, srv, log)
	case KindManaged:
		if srv == nil {
			return nil, fmt.Errorf("backend managed: %w", ErrNoServer)
		}
		return openManaged(dir, srv, log)
	case KindEmbedded:
		return openEmbedded(dir, log)
	case KindRedis, KindRediss, KindUnix:
		return openUpstream(s, log)
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrSpec, s.Kind)
	}
}

// dialContext applies DialTimeout to ctx.
func dialContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, DialTimeout)
}

// answerDeadline is when a handshake begun now must end: wait (AnswerTimeout but in tests) from now,
// or ctx's deadline when that is earlier.
func answerDeadline(ctx context.Context, wait time.Duration) time.Time {
	dl := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		return d
	}
	return dl
}

// dial connects, retrying while a unix socket's accept queue is full, until ctx ends. When ctx ends
// while it waits for room, the error is the full queue's (however late the waiting goroutine runs).
func dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	wait := time.Millisecond
	var full error // the last attempt's, while the queue is full
	for {
		c, err := d.DialContext(ctx, network, addr)
		if full != nil && err != nil && ctx.Err() != nil {
			return nil, full // ran out of time waiting for room
		}
		if err == nil || network != "unix" || !isBacklogFull(err) {
			return c, err
		}
		full = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
