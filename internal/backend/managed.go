package backend

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Managed server layout in the instance's data directory (mode 0700). The server's own files (Redis 7's
// appendonlydir/, Redis 6.2's appendonly.aof) are there too: the server runs with dir set to it.
const (
	managedConf   = "managed.conf"  // the server's configuration, rewritten at every start (0600)
	managedLogin  = "managed.login" // the backend login's password (0600), generated at the first start
	managedPID    = "managed.pid"   // the running server's PID, for the start after moat was killed
	managedLock   = "managed.lock"  // flock held while moat runs the server: one moat per directory
	managedSock   = "server.sock"   // the server's socket, in embeddedRunDir (mode 0700)
	managedRunDir = embeddedRunDir  // shared with the in-process engine: "run"
)

// ManagedLogin is the backend ACL user moat logs in to a managed server as. The server's default user
// is off, so nothing but this login (and the users it writes: the script guard's and the identities)
// can run a command there.
const ManagedLogin = "moat"

// managed is a redis-server or valkey-server that moat runs as its child and supervises
// (supervise.go): it listens on a unix socket only, in a 0700 directory, with no TCP port; appendonly
// yes with appendfsync everysec; its default user off, moat's login a backend ACL user allowed to
// manage ACL users. Dial, the script guard and the identities are the upstream's, on that socket.
type managed struct {
	*upstream
	srv     *Server
	dir     string // the instance's data directory, absolute
	sock    string
	sockDir string
	tmpDir  bool // sockDir is a private temp dir (dir's path too long for a socket)
	lock    *os.File
	log     *slog.Logger

	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the supervisor has stopped the server
	closeOnce sync.Once

	mu  sync.Mutex
	cur *child // the running server; nil while it is down
}

var _ Backend = (*managed)(nil)

func openManaged(dir string, srv *Server, log *slog.Logger) (_ *managed, err error) {
	if dir == "" {
		return nil, errors.New("backend managed: no data directory")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("backend managed: data directory: %w", err)
	}
	if strings.ContainsAny(dir, "\"\\\n\r") {
		// Written into the server's configuration file, where these would need quoting rules of their own.
		return nil, fmt.Errorf("backend managed: data directory %q: must not contain '\"', '\\' or a line break", dir)
	}
	if err := privateDir(dir, log); err != nil {
		return nil, fmt.Errorf("backend managed: data directory: %w", err)
	}
	m := &managed{srv: srv, dir: dir, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	defer func() {
		if err != nil {
			m.cleanup()
		}
	}()
	if m.lock, err = lockFile(filepath.Join(dir, managedLock)); err != nil {
		return nil, fmt.Errorf("backend managed %s: %w", dir, err)
	}
	m.reapOrphan()
	if err := m.socketPath(); err != nil {
		return nil, fmt.Errorf("backend managed %s: socket: %w", dir, err)
	}
	pass, err := loginPassword(filepath.Join(dir, managedLogin))
	if err != nil {
		return nil, fmt.Errorf("backend managed %s: login: %w", dir, err)
	}
	if err := writePrivate(filepath.Join(dir, managedConf), serverConfig(dir, m.sock, pass)); err != nil {
		return nil, fmt.Errorf("backend managed %s: configuration: %w", dir, err)
	}
	m.upstream = newUpstream(Spec{Kind: KindUnix, Addr: m.sock, User: ManagedLogin, Password: pass}, log)
	m.upstream.name = "managed " + srv.Name + " unix://" + m.sock
	c, err := m.start()
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", m.name, err)
	}
	m.setChild(c)
	go m.supervise(c)
	return m, nil
}

// keepEmbedded reports whether an "auto" instance stays on the in-process engine although a server was
// found: its directory holds the engine's data and no managed server ever ran there (moving the data is
// the operator's call, not a side effect of installing redis-server).
func keepEmbedded(dir string, srv *Server, log *slog.Logger) bool {
	if _, err := os.Stat(filepath.Join(dir, embeddedLog)); err != nil {
		return false
	}
	if _, err := os.Stat(filepath.Join(dir, managedConf)); err == nil {
		return false
	}
	log.Warn("the instance keeps the in-process engine: its data is the engine's (backend \"managed\" starts an empty "+srv.Name+")",
		"dir", dir, "data", embeddedLog)
	return true
}

// socketPath picks <dir>/run/server.sock (run/ made 0700 and emptied of a dead server's socket), or a
// fresh private temp directory when that path is too long for a unix socket.
func (m *managed) socketPath() error {
	m.sockDir = filepath.Join(m.dir, managedRunDir)
	m.sock = filepath.Join(m.sockDir, managedSock)
	if len(m.sock) > maxSocketPath {
		tmp, err := os.MkdirTemp("", "moat-")
		if err != nil {
			return err
		}
		m.sockDir, m.sock, m.tmpDir = tmp, filepath.Join(tmp, managedSock), true
		if len(m.sock) > maxSocketPath {
			return fmt.Errorf("%s: longer than the %d bytes a unix socket allows (set TMPDIR to a shorter path)", m.sock, maxSocketPath)
		}
		return os.Chmod(tmp, 0o700)
	}
	if err := os.Mkdir(m.sockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if fi, err := os.Lstat(m.sockDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", m.sockDir)
	}
	if err := os.Chmod(m.sockDir, 0o700); err != nil {
		return err
	}
	if err := os.Remove(m.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// loginPassword reads the login's password from path, or generates one (256 random bits, hex) and
// writes it there with mode 0600. It is never logged; the server's configuration holds only its SHA-256.
func loginPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if p := strings.TrimSpace(string(b)); len(p) >= 32 {
			return p, nil
		}
		return "", fmt.Errorf("%s: shorter than 32 characters (delete it to have a new one generated)", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	p := hex.EncodeToString(raw[:])
	return p, writePrivate(path, p+"\n")
}

// writePrivate writes data to path with mode 0600, through a temp file renamed into place.
func writePrivate(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an older tmp file may have had another mode
		return err
	}
	return os.Rename(tmp, path)
}

// serverConfig is the managed server's configuration file. dir and sock hold no '"', '\' or line break
// (openManaged checks dir; sock is under dir or a temp dir).
func serverConfig(dir, sock, pass string) string {
	sum := sha256.Sum256([]byte(pass))
	return `# Written by moat at every start of this managed server: edits are lost.
daemonize no
set-proc-title no
port 0
unixsocket "` + sock + `"
unixsocketperm 600
protected-mode yes
dir "` + dir + `"
logfile ""
loglevel notice
always-show-logo no
appendonly yes
appendfsync everysec
save ""
user default off resetpass resetkeys resetchannels -@all
user ` + ManagedLogin + ` on #` + hex.EncodeToString(sum[:]) + ` ~* &* +@all
`
}

// String names the backend for logs: which server, on which socket.
func (m *managed) String() string { return m.name }

// Close stops the server (SIGTERM: it writes its append-only file and exits; SIGKILL after
// stopTimeout) and waits for it; later Dials fail with ErrClosed. Idempotent and safe to call
// concurrently.
func (m *managed) Close() error {
	m.closeOnce.Do(func() {
		m.upstream.Close()
		close(m.stop)
		<-m.done
		m.cleanup()
		m.log.Info("managed server stopped", "server", m.srv.Name)
	})
	return nil
}

// cleanup removes the socket (and its temp dir) and the PID file, and releases the directory. Safe on
// a half-opened backend.
func (m *managed) cleanup() {
	if m.sock != "" {
		_ = os.Remove(m.sock)
	}
	if m.tmpDir {
		_ = os.RemoveAll(m.sockDir)
	}
	if m.lock != nil {
		_ = os.Remove(filepath.Join(m.dir, managedPID))
		unlockFile(m.lock)
		m.lock = nil
	}
}

func (m *managed) setChild(c *child) {
	m.mu.Lock()
	m.cur = c
	m.mu.Unlock()
}

// PID returns the running server's process ID, 0 while it is down.
func (m *managed) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return 0
	}
	return m.cur.pid
}
