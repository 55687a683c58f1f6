// Package redistest starts a real redis-server for tests.
//
// Every server runs in its own process with persistence off (--save "" --appendonly no), its working
// directory in a test temp dir, bound to 127.0.0.1 (or a unix socket only, see StartUnix), and is killed
// when the test ends. The helpers fail the test (t.Fatal) when redis-server is not installed, so a test
// that needs a real Redis never silently passes without one.
//
// Tests only; it imports no other moat package.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// NotFound is the t.Fatal text when redis-server is not on PATH.
const NotFound = "redis-server not found: install it (apt-get install -y redis-server) or run the README test command"

// startTimeout bounds how long one start attempt waits for PING to be answered.
const startTimeout = 10 * time.Second

// Server is one running (or stopped) redis-server. Addr and Port are empty/zero for a unix-only server.
// Methods are safe for concurrent use.
type Server struct {
	Addr string // "127.0.0.1:port"; "" for StartUnix
	Port int    // 0 for StartUnix
	Dir  string // the server's working directory (dir in redis.conf terms)

	bin    string
	args   []string // full argument list used for the last start (port included)
	socket string   // unix socket path, "" when none

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	logb *Buffer
}

// Start runs redis-server on 127.0.0.1 with a free port, plus extra redis.conf-style args
// (e.g. "--requirepass", "pw"). An option with several words takes them as separate args:
// "--user", "alice", "on", ">secret", "~*", "+@all" (one arg with spaces is quoted by redis-server and
// fails). It returns once the server has logged that it is ready and answers PING (any reply, NOAUTH
// included, counts as up), and kills the server in t.Cleanup. Readiness is read from the server's
// log on stdout, so do not pass --logfile or a --loglevel above notice.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := lookPath(t)
	s := &Server{bin: bin, Dir: t.TempDir()}
	t.Cleanup(s.Stop)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.args = append([]string{"--port", strconv.Itoa(port)}, args...)
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		// Most likely another process took the port between probe and bind: try another one.
	}
	t.Fatalf("redistest: start redis-server: %v", lastErr)
	return nil
}

// StartUnix runs redis-server listening only on a unix socket (port 0) in a short temp dir, so the
// path stays well below the sun_path limit. It returns the server and the socket path.
func StartUnix(t testing.TB, args ...string) (*Server, string) {
	t.Helper()
	bin := lookPath(t)
	sockDir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatalf("redistest: socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "redis.sock")
	s := &Server{bin: bin, Dir: t.TempDir(), socket: sock}
	t.Cleanup(s.Stop)
	s.args = append([]string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700"}, args...)
	if err := s.start(); err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	return s, sock
}

// Stop kills the server now (SIGKILL, no shutdown save) and waits for it to exit. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
	if s.socket != "" {
		os.Remove(s.socket)
	}
}

// Restart starts the server again with the same arguments, on the same port (or socket). It stops
// the server first if it is still running. The port may have been taken by someone else in between;
// Restart retries for a few seconds before failing the test.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: restart redis-server on %s: %v", s.where(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns what the server has written to stdout/stderr so far (its log), for failure messages.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logb == nil {
		return ""
	}
	return s.logb.String()
}

func (s *Server) where() string {
	if s.socket != "" {
		return s.socket
	}
	return s.Addr
}

// start launches the process and waits until it answers PING or exits.
func (s *Server) start() error {
	args := append([]string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--dir", s.Dir,
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	logb := &Buffer{}
	cmd.Stdout = logb
	cmd.Stderr = logb
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited during start: %s", bytes.TrimSpace([]byte(logb.String())))
		default:
		}
		// The log line proves the listener is this process's (and not another server that grabbed the
		// same port between freePort and bind); the PING proves it serves.
		if strings.Contains(strings.ToLower(logb.String()), "ready to accept connections") && s.ping() {
			s.mu.Lock()
			s.cmd, s.done, s.logb = cmd, done, logb
			s.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer PING on %s within %v: %s", s.where(), startTimeout, logb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping reports whether something at the server's address answers a RESP PING with any reply line.
func (s *Server) ping() bool {
	network, addr := "tcp", s.Addr
	if s.socket != "" {
		network, addr = "unix", s.socket
	}
	c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && len(line) > 0 && (line[0] == '+' || line[0] == '-')
}

func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(NotFound)
	}
	return bin
}

// freePort asks the kernel for a free port on 127.0.0.1 and releases it.
// FreePort returns a TCP port that is free on 127.0.0.1, for a test to bind a moment later. It is drawn
// at random below Linux's ephemeral range (32768–60999 by default), where neither the kernel's choice
// for a ":0" listener nor the local port of an outgoing connection can take it in between: with many
// tests' servers and clients at once, an ephemeral port found free is soon taken.
func FreePort() (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free port found in 20000-31999")
}

// FreeAddr is FreePort as "127.0.0.1:port"; it fails the test when none is found.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// Buffer collects output written from several goroutines (a child process's output, a logger) while
// a test reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
