package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/moat-dev/moat/internal/backend/engine"
)

// Embedded engine layout under the instance's data directory.
const (
	embeddedLog    = engine.LogFile // the append-only log (engine.aof)
	embeddedLock   = "engine.lock"  // flock held while the engine runs: one engine per directory
	embeddedSock   = "engine.sock"  // the engine's unix socket, inside embeddedRunDir
	embeddedRunDir = "run"          // mode 0700: nobody but this user can reach the socket
	redkaDB        = "redka.db"     // the database of the engine before this one (moat ≤ stop 22)
)

// embedded is the in-process engine (package engine) served on a unix socket that only this user can
// reach. Dial connects to that socket, so the gateway talks to it exactly as to an upstream server.
type embedded struct {
	name    string // for logs and errors
	logPath string
	sock    string // socket path
	sockDir string // directory holding the socket, mode 0700
	tmpDir  bool   // sockDir is a private temp dir (data dir path too long for a socket)
	eng     *engine.Engine
	served  chan error // receives Serve's result once the engine has stopped serving
	lock    *os.File
	log     *slog.Logger

	mu     sync.Mutex
	closed bool
	err    error // result of the first Close

	guard atomic.Pointer[ScriptGuard] // nil: off
}

var _ Backend = (*embedded)(nil)

func openEmbedded(dir string, log *slog.Logger) (_ *embedded, err error) {
	if dir == "" {
		return nil, fmt.Errorf("backend embedded: no data directory")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("backend embedded: data directory: %w", err)
	}
	if err := privateDir(dir, log); err != nil {
		return nil, fmt.Errorf("backend embedded: data directory: %w", err)
	}
	e := &embedded{
		logPath: filepath.Join(dir, embeddedLog),
		served:  make(chan error, 1),
		log:     log,
	}
	e.name = "embedded:" + e.logPath
	defer func() {
		if err != nil {
			e.cleanup()
		}
	}()

	if e.lock, err = lockFile(filepath.Join(dir, embeddedLock)); err != nil {
		return nil, fmt.Errorf("backend %s: %w", e.name, err)
	}
	if err := e.makeSocketDir(dir); err != nil {
		return nil, fmt.Errorf("backend %s: socket: %w", e.name, err)
	}
	if _, err := os.Stat(filepath.Join(dir, redkaDB)); err == nil {
		if _, err := os.Stat(e.logPath); errors.Is(err, os.ErrNotExist) {
			log.Error("embedded engine: this directory holds the data of the earlier engine (redka.db), which is not loaded; the instance starts empty",
				"dir", dir, "file", redkaDB)
		}
	}
	eng, err := engine.Open(dir, log.With("engine", "embedded"))
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", e.name, err)
	}
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("backend %s: listen on %s: %w", e.name, e.sock, err)
	}
	// The directory already keeps others out; the socket's own mode is a second lock on the door.
	if err := os.Chmod(e.sock, 0o600); err != nil {
		_ = l.Close()
		_ = eng.Close()
		return nil, fmt.Errorf("backend %s: socket: %w", e.name, err)
	}
	e.eng = eng
	go func() { e.served <- eng.Serve(l) }()
	log.Debug("embedded engine started", "log", e.logPath, "socket", e.sock)
	return e, nil
}

// privateDir creates dir with mode 0700, or tightens an existing one to 0700: it holds the data.
func privateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data directory was accessible to other users; setting mode 0700", "dir", dir, "mode", fi.Mode().Perm().String())
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// makeSocketDir picks the socket path: <dir>/run/engine.sock, or a fresh private temp directory when
// that path is too long for a unix socket. The directory has mode 0700 either way; the socket is
// never on TCP and never abstract.
func (e *embedded) makeSocketDir(dir string) error {
	sockDir := filepath.Join(dir, embeddedRunDir)
	if len(filepath.Join(sockDir, embeddedSock)) <= maxSocketPath {
		if err := os.Mkdir(sockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		fi, err := os.Lstat(sockDir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", sockDir)
		}
		if err := os.Chmod(sockDir, 0o700); err != nil {
			return err
		}
		e.sockDir = sockDir
		e.sock = filepath.Join(sockDir, embeddedSock)
		// We hold the directory lock, so a socket file left here belongs to an engine that died.
		if err := os.Remove(e.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	tmp, err := os.MkdirTemp("", "moat-")
	if err != nil {
		return err
	}
	e.sockDir, e.tmpDir = tmp, true
	if err := os.Chmod(tmp, 0o700); err != nil {
		return err
	}
	e.sock = filepath.Join(tmp, embeddedSock)
	if len(e.sock) > maxSocketPath {
		return fmt.Errorf("%s: longer than the %d bytes a unix socket allows (set TMPDIR to a shorter path)", e.sock, maxSocketPath)
	}
	return nil
}

func (e *embedded) String() string { return e.name }

// Dial connects to the engine's socket. No AUTH or SELECT: the engine has neither users nor
// databases; the gateway enforces access.
func (e *embedded) Dial(ctx context.Context) (net.Conn, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("backend %s: %w", e.name, ErrClosed)
	}
	ctx, cancel := dialContext(ctx)
	defer cancel()
	var d net.Dialer
	c, err := dial(ctx, &d, "unix", e.sock)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w: %w", e.name, ErrUnavailable, err)
	}
	return c, nil
}

// Close stops the engine (open engine connections are closed once the command each runs has
// finished), writes and fsyncs its log, removes the socket and releases the directory.
func (e *embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.eng != nil {
		if err := e.eng.Close(); err != nil {
			e.err = fmt.Errorf("backend %s: close: %w", e.name, err)
		}
		if err := <-e.served; err != nil && e.err == nil {
			e.err = fmt.Errorf("backend %s: serve: %w", e.name, err)
		}
	}
	e.cleanup()
	e.log.Debug("embedded engine stopped", "log", e.logPath)
	return e.err
}

// cleanup removes the socket (and its temp dir) and releases the lock. Safe on a half-opened engine.
func (e *embedded) cleanup() {
	if e.sock != "" {
		_ = os.Remove(e.sock)
	}
	if e.tmpDir {
		_ = os.RemoveAll(e.sockDir)
	}
	if e.lock != nil {
		unlockFile(e.lock)
		e.lock = nil
	}
}
