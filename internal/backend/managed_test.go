package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// findServerT is the redis-server the managed tests run.
func findServerT(t testing.TB) *Server {
	t.Helper()
	srv, err := FindServer("")
	if err != nil {
		t.Fatalf("FindServer: %v (%s)", err, redistest.NotFound)
	}
	return srv
}

// openManagedT opens a managed backend in dir, logging into log (nil: discarded).
func openManagedT(t testing.TB, dir string, log *redistest.Buffer) *managed {
	t.Helper()
	var l *slog.Logger
	if log != nil {
		l = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := OpenWith("", dir, findServerT(t), l)
	if err != nil {
		t.Fatalf("OpenWith auto in %s: %v", dir, err)
	}
	t.Cleanup(func() { b.Close() })
	m, ok := b.(*managed)
	if !ok {
		t.Fatalf("auto with a server found opened %T, want the managed server", b)
	}
	return m
}

// processGone reports whether pid no longer runs (a zombie counts as gone).
func processGone(pid int) bool {
	args, err := processArgs(pid)
	return err != nil || args == ""
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if processGone(pid) {
			return
		}
	}
	t.Fatalf("process %d still runs %s later", pid, within)
}

// listeningTCP returns the inodes of the listening TCP sockets of the host (/proc/net/tcp and tcp6).
func listeningTCP(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && fs[3] == "0A" { // TCP_LISTEN
				out["socket:["+fs[9]+"]"] = true
			}
		}
	}
	return out
}

func TestManagedServesPrivately(t *testing.T) {
	var log redistest.Buffer
	dir := t.TempDir()
	m := openManagedT(t, dir, &log)
	c := dialR(t, m)
	if got := c.do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %s", got)
	}
	if got := c.do("GET", "k"); got != `"v"` {
		t.Fatalf("GET = %s", got)
	}
	for param, want := range map[string]string{"port": "0", "appendonly": "yes", "appendfsync": "everysec", "dir": dir,
		"unixsocket": filepath.Join(dir, "run", "server.sock")} {
		if got := c.do("CONFIG", "GET", param); got != fmt.Sprintf("[%q %q]", param, want) {
			t.Errorf("CONFIG GET %s = %s, want %s", param, got, want)
		}
	}
	if got := c.do("ACL", "WHOAMI"); got != strconv.Quote(ManagedLogin) {
		t.Errorf("ACL WHOAMI = %s, want the login %s", got, ManagedLogin)
	}

	// The socket's directory is private; the instance directory too.
	for _, d := range []string{dir, filepath.Join(dir, "run")} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
	for _, f := range []string{managedLogin, managedConf} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}

	// No TCP port: none of the server's sockets is a listening TCP socket.
	pid := m.PID()
	listening := listeningTCP(t)
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if listening[target] {
			t.Errorf("the managed server (pid %d) listens on TCP: fd %s is %s", pid, fd.Name(), target)
		}
	}

	// The default user is off: a connection that does not log in as moat's login can do nothing.
	raw, err := net.Dial("unix", filepath.Join(dir, "run", "server.sock"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRconn(t, raw)
	if got := r.do("PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without AUTH = %s, want NOAUTH", got)
	}
	if got := r.do("AUTH", "default", ""); !strings.HasPrefix(got, "-WRONGPASS") {
		t.Errorf("AUTH default \"\" = %s, want WRONGPASS", got)
	}

	// The login may manage ACL users: the script guard is ready.
	if err := m.SetScriptDeny(context.Background(), "r-test", []string{"flushall"}); err != nil || m.ScriptGuard().State != GuardReady {
		t.Errorf("SetScriptDeny: %v, state %v; want the guard ready", err, m.ScriptGuard().State)
	}

	e := EngineOf(m)
	if e.Kind != EngineManaged || e.Server != "redis-server" || e.PID != pid || e.Version == "" {
		t.Errorf("EngineOf = %+v, want managed redis-server with pid %d", e, pid)
	}
	pass, _ := os.ReadFile(filepath.Join(dir, managedLogin))
	if p := strings.TrimSpace(string(pass)); len(p) < 32 || strings.Contains(log.String(), p) {
		t.Errorf("login password %d characters, in the log: %v", len(p), strings.Contains(log.String(), p))
	}
	if !strings.Contains(log.String(), "ready to accept connections") || !strings.Contains(log.String(), "pid="+strconv.Itoa(pid)) {
		t.Errorf("the server's log is not forwarded with its PID:\n%s", log.String())
	}
}

// Supervision: kill -9 the server; Dial fails as unavailable meanwhile, the server is restarted and
// every acknowledged write is still there (the append-only file is written before the reply).
func TestManagedRestartsAfterKill(t *testing.T) {
	var log redistest.Buffer
	m := openManagedT(t, t.TempDir(), &log)
	c := dialR(t, m)
	for i := range 100 {
		if got := c.do("SET", "k"+strconv.Itoa(i), strconv.Itoa(i)); got != "+OK" {
			t.Fatalf("SET = %s", got)
		}
	}
	// appendfsync everysec: while a background fsync runs, Redis may acknowledge writes it has not yet
	// written to the file (it postpones the write up to 2 s). Once the buffer is written, kill -9 of the
	// process cannot lose them.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		info := c.do("INFO", "persistence")
		if strings.Contains(info, "aof_buffer_length:0") && strings.Contains(info, "aof_pending_bio_fsync:0") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the append-only buffer was not written within 5 s: %s", info)
		}
	}
	old := m.PID()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := c.do("GET", "k1"); !strings.HasPrefix(got, "(") {
		t.Errorf("GET on a connection to the killed server = %s, want it closed", got)
	}
	sawDown := false
	deadline := time.Now().Add(10 * time.Second)
	for m.PID() == 0 || m.PID() == old {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted within 10 s; log:\n%s", log.String())
		}
		if conn, err := m.Dial(context.Background()); err != nil {
			// Handshake: connected as the server died.
			if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrHandshake) {
				t.Fatalf("Dial while the server is down: %v, want ErrUnavailable", err)
			}
			sawDown = true
		} else {
			conn.Close()
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawDown {
		t.Error("Dial never failed while the server was down")
	}
	c = dialR(t, m)
	for i := range 100 {
		if got := c.do("GET", "k"+strconv.Itoa(i)); got != strconv.Quote(strconv.Itoa(i)) {
			t.Fatalf("after the restart GET k%d = %s", i, got)
		}
	}
	if !strings.Contains(log.String(), "managed server exited") || !strings.Contains(log.String(), "managed server restarted") {
		t.Errorf("the restart is not logged:\n%s", log.String())
	}
	if !processGone(old) {
		t.Errorf("the killed server %d still runs", old)
	}
}

// A clean Close stops the server (no process left, socket gone); the data is there on the next open.
func TestManagedCloseLeavesNoProcess(t *testing.T) {
	dir := t.TempDir()
	m := openManagedT(t, dir, nil)
	if got := dialR(t, m).do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %s", got)
	}
	pid := m.PID()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("process %d runs after Close", pid)
	}
	for _, f := range []string{"run/server.sock", managedPID} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v, want it removed", f, err)
		}
	}
	if _, err := m.Dial(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
	m2 := openManagedT(t, dir, nil)
	if got := dialR(t, m2).do("GET", "k"); got != `"v"` {
		t.Errorf("after reopening GET = %s, want v", got)
	}
}

// A server left running by a moat that was killed (here: started by hand, so no parent-death signal
// stops it) is stopped by the next open, which then serves the same data.
func TestManagedStopsServerLeftByKilledMoat(t *testing.T) {
	dir := t.TempDir()
	m := openManagedT(t, dir, nil)
	if got := dialR(t, m).do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET = %s", got)
	}
	m.Close()
	orphan := exec.Command(m.srv.Path, filepath.Join(dir, managedConf))
	orphan.Dir = dir
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { orphan.Wait(); close(reaped) }() // reap it once stopped
	t.Cleanup(func() { orphan.Process.Kill(); <-reaped })
	if err := os.WriteFile(filepath.Join(dir, managedPID), []byte(strconv.Itoa(orphan.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := openManagedT(t, dir, nil)
	if !processGone(orphan.Process.Pid) {
		t.Errorf("the left-over server %d still runs", orphan.Process.Pid)
	}
	if got := dialR(t, m2).do("GET", "k"); got != `"v"` {
		t.Errorf("GET = %s, want v", got)
	}
}

// kill -9 of moat itself: the kernel stops the server (Pdeathsig), and the next start serves.
func TestManagedServerDiesWithMoat(t *testing.T) {
	if dir := os.Getenv("MOAT_MANAGED_HELPER"); dir != "" {
		b, err := OpenWith("", dir, findServerT(t), nil)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", b.(*managed).PID())
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestManagedServerDiesWithMoat$", "-test.count=1")
	helper.Env = append(os.Environ(), "MOAT_MANAGED_HELPER="+dir)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	var pid int
	if _, serr := fmt.Sscanf(line, "PID %d", &pid); err != nil || serr != nil {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	waitGone(t, pid, 10*time.Second)
	m := openManagedT(t, dir, nil)
	if got := dialR(t, m).do("PING"); got != "+PONG" {
		t.Errorf("PING after the restart = %s", got)
	}
}

func TestManagedAutoKeepsEmbeddedData(t *testing.T) {
	dir := t.TempDir()
	e, err := Open("embedded", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	b, err := OpenWith("", dir, findServerT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if k := EngineOf(b).Kind; k != EngineInProcess {
		t.Errorf("auto on a directory with the in-process engine's data: %s, want it kept", k)
	}
	if _, err := OpenWith("managed", t.TempDir(), nil, nil); !errors.Is(err, ErrNoServer) {
		t.Errorf("managed without a server: %v, want ErrNoServer", err)
	}
	b2, err := OpenWith("", t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if k := EngineOf(b2).Kind; k != EngineInProcess {
		t.Errorf("auto without a server: %s, want the in-process engine", k)
	}
}

func TestParseServerVersion(t *testing.T) {
	tests := []struct {
		out, name, version, err string
	}{
		{"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n", "redis-server", "7.0.15", ""},
		{"Valkey server v=8.0.2 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1\n", "valkey-server", "8.0.2", ""},
		{"Redis server v=6.2.14 sha=0", "redis-server", "6.2.14", ""},
		{"Redis server v=6.0.16 sha=0", "", "", "needs Redis 6.2"},
		{"KeyDB server v=6.3.4", "", "", "not a Redis or Valkey server"},
		{"usage: foo", "", "", "not a Redis or Valkey server"},
	}
	for _, tt := range tests {
		s, err := parseServerVersion(tt.out)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want an error with %q", tt.out, err, tt.err)
			}
			continue
		}
		if err != nil || s.Name != tt.name || s.Version != tt.version {
			t.Errorf("%q: %+v, %v; want %s %s", tt.out, s, err, tt.name, tt.version)
		}
	}
	if _, err := FindServer("/nonexistent/redis-server"); err == nil || !strings.Contains(err.Error(), "/nonexistent/redis-server") {
		t.Errorf("FindServer of a missing path: %v", err)
	}
}

func TestParseServerLog(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"4242:M 06 Dec 2026 07:36:10.123 * Ready to accept connections unix", slog.LevelInfo, "Ready to accept connections unix"},
		{"4242:M 06 Dec 2026 07:36:10.123 # WARNING Memory overcommit must be enabled!", slog.LevelWarn, "WARNING Memory overcommit must be enabled!"},
		{"4243:C 06 Dec 2026 07:36:10.123 - Accepted connection", slog.LevelDebug, "Accepted connection"},
		{"*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***", slog.LevelInfo, "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"},
	}
	for _, tt := range tests {
		if l, m := parseServerLog(tt.line); l != tt.level || m != tt.msg {
			t.Errorf("%q: %v %q, want %v %q", tt.line, l, m, tt.level, tt.msg)
		}
	}
}
