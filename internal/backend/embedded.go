package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nalgeon/redka"
	"github.com/nalgeon/redka/redsrv"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// Embedded engine layout under the instance's data directory.
const (
	embeddedDB     = "redka.db"   // SQLite database (plus -wal and -shm files while open)
	embeddedLock   = "redka.lock" // flock held while the engine runs: one engine per directory
	embeddedSock   = "redka.sock" // the engine's unix socket, inside embeddedRunDir
	embeddedRunDir = "run"        // mode 0700: nobody but this user can reach the socket
	sqliteDriver   = "sqlite"     // modernc.org/sqlite's driver name; redka infers the dialect from it
)

// embedded is the in-process engine: redka on modernc SQLite, served by redka's RESP server (redsrv,
// on redcon) on a unix socket that only this user can reach. Dial connects to that socket, so the
// gateway talks to it exactly as to an upstream server.
type embedded struct {
	name    string // for logs and errors
	dbPath  string
	sock    string // socket path
	sockDir string // directory holding the socket, mode 0700
	tmpDir  bool   // sockDir is a private temp dir (data dir path too long for a socket)
	srv     *redsrv.Server
	served  chan error // receives redsrv.Start's result once the server has stopped
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
	if strings.ContainsAny(dir, "?#%") {
		// The path is handed to SQLite as a file: URI, where these characters are syntax.
		return nil, fmt.Errorf("backend embedded: data directory %q: must not contain '?', '#' or '%%'", dir)
	}
	if err := privateDir(dir, log); err != nil {
		return nil, fmt.Errorf("backend embedded: data directory: %w", err)
	}
	e := &embedded{
		dbPath: filepath.Join(dir, embeddedDB),
		served: make(chan error, 1),
		log:    log,
	}
	e.name = "embedded:" + e.dbPath
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

	db, err := redka.Open(e.dbPath, &redka.Options{
		DriverName: sqliteDriver,
		// Pragma nil: redka's defaults, the same its own server uses: journal_mode=wal,
		// synchronous=normal, temp_store=memory, mmap_size=268435456, foreign_keys=on.
		Logger: slog.New(quietHandler{log.Handler()}).With("engine", "redka"),
	})
	if err != nil {
		return nil, fmt.Errorf("backend %s: open database: %w", e.name, err)
	}
	e.srv = redsrv.New("unix", e.sock, db)
	ready := make(chan error, 1)
	go func() { e.served <- e.srv.Start(ready) }()
	if err := <-ready; err != nil {
		<-e.served
		e.srv = nil
		_ = db.Close()
		return nil, fmt.Errorf("backend %s: listen on %s: %w", e.name, e.sock, err)
	}
	// The directory already keeps others out; the socket's own mode is a second lock on the door.
	if err := os.Chmod(e.sock, 0o600); err != nil {
		_ = e.srv.Stop()
		<-e.served
		e.srv = nil
		return nil, fmt.Errorf("backend %s: socket: %w", e.name, err)
	}
	log.Debug("embedded engine started", "db", e.dbPath, "socket", e.sock)
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

// makeSocketDir picks the socket path: <dir>/run/redka.sock, or a fresh private temp directory when
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

// Close stops the engine's server (open engine connections are closed; a command already running
// may still finish), closes the database, checkpoints the WAL into redka.db (synced to disk), removes
// the socket and releases the directory.
func (e *embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.srv != nil {
		if err := e.srv.Stop(); err != nil {
			e.err = fmt.Errorf("backend %s: close: %w", e.name, err)
		}
		if err := <-e.served; err != nil && e.err == nil {
			e.err = fmt.Errorf("backend %s: serve: %w", e.name, err)
		}
	}
	if e.srv != nil {
		e.checkpoint()
	}
	e.cleanup()
	e.log.Debug("embedded engine stopped", "db", e.dbPath)
	return e.err
}

// checkpoint moves the WAL into redka.db and syncs it. redka closes its read-write pool before its
// read-only one, and a read-only connection cannot checkpoint, so without this the last writes stay
// in redka.db-wal: still found on the next open, but with synchronous=normal not yet fsynced, so a
// power cut after a clean shutdown could lose them.
func (e *embedded) checkpoint() {
	db, err := sql.Open(sqliteDriver, "file:"+e.dbPath+"?_pragma=busy_timeout%3D5000")
	if err != nil {
		e.log.Warn("embedded engine: checkpoint", "db", e.dbPath, "error", err)
		return
	}
	defer db.Close()
	var busy, logFrames, done int
	err = db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	if err != nil || busy != 0 {
		e.log.Warn("embedded engine: checkpoint incomplete; the WAL is replayed on the next open",
			"db", e.dbPath, "error", err, "busy", busy, "frames", logFrames, "checkpointed", done)
	}
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
