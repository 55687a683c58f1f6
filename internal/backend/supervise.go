package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Supervision of the managed server.
const (
	startTimeout = 15 * time.Second // from exec to a PING answered (or -LOADING)
	stopTimeout  = 10 * time.Second // from SIGTERM to SIGKILL
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
	stableAfter  = 10 * time.Second // a server up this long restarts after minBackoff again
	tailLines    = 8                // log lines kept for the error when a server fails to start
)

// child is one run of the server process.
type child struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	exited  chan struct{} // closed when the process has exited and been reaped
	err     error         // cmd.Wait's, once exited is closed

	mu   sync.Mutex
	tail []string // the last tailLines log lines
}

func (c *child) remember(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tail) == tailLines {
		c.tail = append(c.tail[:0], c.tail[1:]...)
	}
	c.tail = append(c.tail, line)
}

func (c *child) lastLines() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, " | ")
}

// start runs the server and waits until it answers PING as moat's login. On error no process is left.
func (m *managed) start() (*child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(m.srv.Path, filepath.Join(m.dir, managedConf))
	cmd.Dir = m.dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = childAttr() // its own process group; on Linux SIGTERM when moat dies
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start %s: %w", m.srv.Path, err)
	}
	w.Close()
	c := &child{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{})}
	go m.forwardLog(r, c)
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	if err := os.WriteFile(filepath.Join(m.dir, managedPID), []byte(strconv.Itoa(c.pid)+"\n"), 0o600); err != nil {
		m.log.Warn("managed server: PID file not written; after a crash of moat the next start cannot stop this server", "err", err)
	}
	if err := m.waitReady(c); err != nil {
		m.stopChild(c)
		return nil, err
	}
	return c, nil
}

// waitReady polls until the server answers PING as moat's login, the process exits, or startTimeout
// passes. A server still reading its append-only file then (it answers -LOADING) counts as up: clients
// get -LOADING from it until it is done, as from any Redis.
func (m *managed) waitReady(c *child) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := m.ping()
		if err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%s exited at start (%v): %s", m.srv.Name, c.err, c.lastLines())
		case <-m.stop:
			return errStopping
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errLoading) {
				m.log.Warn("managed server still loading its data: clients get -LOADING until it is done", "server", m.srv.Name, "pid", c.pid)
				return nil
			}
			return fmt.Errorf("%s did not answer within %s: %w (its log: %s)", m.srv.Name, startTimeout, err, c.lastLines())
		}
	}
}

// errStopping: Close was called while the server started.
var errStopping = errors.New("stopping")

// errLoading: the server answered PING with -LOADING.
var errLoading = errors.New("loading its data")

// ping dials as the login and sends PING; errLoading for -LOADING.
func (m *managed) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	conn, err := m.upstream.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(DialTimeout))
	if _, err := conn.Write(appendCommand(nil, "PING")); err != nil {
		return err
	}
	r, err := readStatusReplies(conn, 1)
	switch {
	case err != nil:
		return err
	case strings.HasPrefix(r[0], "-LOADING"):
		return errLoading
	case r[0] != "+PONG":
		return fmt.Errorf("PING: %s", r[0])
	}
	return nil
}

// supervise restarts the server whenever it exits, with a backoff from minBackoff doubling to
// maxBackoff (back to minBackoff after a run of stableAfter), until Close; then it stops the server.
// Meanwhile Dial fails with ErrUnavailable (the socket has no listener), which the gateway answers with
// "-ERR backend unavailable, try again later".
func (m *managed) supervise(c *child) {
	defer close(m.done)
	backoff := minBackoff
	for {
		select {
		case <-m.stop:
			m.stopChild(c)
			return
		case <-c.exited:
		}
		m.setChild(nil)
		if time.Since(c.started) >= stableAfter {
			backoff = minBackoff
		}
		m.log.Error("managed server exited: restarting it; clients get \"backend unavailable\" meanwhile", "server", m.srv.Name,
			"pid", c.pid, "exit", c.err, "uptime", time.Since(c.started).Round(time.Millisecond), "restart_in", backoff)
		for c = nil; c == nil; {
			select {
			case <-m.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			nc, err := m.start()
			if errors.Is(err, errStopping) {
				return
			}
			if err != nil {
				m.log.Error("managed server did not start", "server", m.srv.Name, "err", err, "retry_in", backoff)
				continue
			}
			c = nc
		}
		m.setChild(c)
		m.log.Info("managed server restarted", "server", m.srv.Name, "pid", c.pid)
	}
}

// stopChild sends SIGTERM (the server writes its append-only file and exits), SIGKILL after
// stopTimeout, and waits until the process is reaped.
func (m *managed) stopChild(c *child) {
	if err := terminate(c.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
		m.log.Warn("managed server: SIGTERM failed", "pid", c.pid, "err", err)
	}
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		m.log.Warn("managed server did not stop within the timeout: killed", "pid", c.pid, "timeout", stopTimeout)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	_ = os.Remove(filepath.Join(m.dir, managedPID))
}

// reapOrphan stops a server left running by a moat that was killed (its PID file remains and the
// process with that PID runs this directory's configuration), so that two servers never share the
// directory. Pdeathsig makes this rare on Linux; elsewhere it is the only guard.
func (m *managed) reapOrphan() {
	pidPath := filepath.Join(m.dir, managedPID)
	b, err := os.ReadFile(pidPath)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		_ = os.Remove(pidPath)
		return
	}
	args, err := processArgs(pid)
	if err != nil || !strings.Contains(args, filepath.Join(m.dir, managedConf)) {
		_ = os.Remove(pidPath) // gone, or the PID now belongs to another process
		return
	}
	m.log.Warn("managed server: a server from a previous run of moat still runs; stopping it", "pid", pid)
	p, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	_ = terminate(p)
	for end := time.Now().Add(stopTimeout); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !processRuns(pid, args) {
			_ = os.Remove(pidPath)
			return
		}
	}
	_ = p.Kill()
	for end := time.Now().Add(stopTimeout); processRuns(pid, args) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	_ = os.Remove(pidPath)
}

// processRuns reports whether pid still runs with the command line args.
func processRuns(pid int, args string) bool {
	now, err := processArgs(pid)
	return err == nil && now == args
}
