package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/moat-dev/moat/internal/redistest"
)

// EtcdBinary is where Debian's etcd-server package installs etcd; $MOAT_ETCD overrides it.
const EtcdBinary = "/usr/bin/etcd"

// notFound is the message when the etcd binary bin is missing.
func notFound(bin string) string {
	return "etcd not found at " + bin + ": install it (apt-get install -y etcd-server, or scripts/test-deps.sh) or set MOAT_ETCD"
}

// Binary returns the etcd binary to run. When there is none, t is skipped, or fails under CI (CI set), where
// scripts/test-deps.sh installs it and a missing binary is a broken setup, not a reason to skip.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("MOAT_ETCD")
	if bin == "" {
		bin = EtcdBinary
	}
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(notFound(bin))
		}
		t.Skip(notFound(bin))
	}
	return bin
}

// Cluster is a cluster of etcd processes on 127.0.0.1, each with its data in a temporary directory of the
// test. Members can be stopped and started again; the cluster is stopped when the test ends.
type Cluster struct {
	t       testing.TB
	bin     string
	initial string // the --initial-cluster value
	token   string
	args    []string // extra flags of every member
	members []*member
}

type member struct {
	name             string
	client, peer     string // URLs
	mu               sync.Mutex
	cmd              *exec.Cmd
	exited           chan struct{}
	log              *os.File
	logPath, dataDir string
}

// StartCluster starts an n-member cluster of the etcd binary (see Binary) and waits until it has a leader
// and answers a linearizable read on every member. Heartbeats and elections are fast (50 ms / 500 ms), so
// that a lost leader is replaced within about a second. args are further etcd flags for every member
// (such as "--max-txn-ops", "4096").
func StartCluster(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: Binary(t), token: fmt.Sprintf("moat-test-%d", time.Now().UnixNano()), args: args}
	dir := t.TempDir()
	var initial []string
	for i := range n {
		cp, err1 := redistest.FreePort()
		pp, err2 := redistest.FreePort()
		if err1 != nil || err2 != nil {
			t.Fatalf("free ports for etcd: %v %v", err1, err2)
		}
		m := &member{
			name:    fmt.Sprintf("m%d", i),
			client:  fmt.Sprintf("http://127.0.0.1:%d", cp),
			peer:    fmt.Sprintf("http://127.0.0.1:%d", pp),
			logPath: filepath.Join(dir, fmt.Sprintf("m%d.log", i)),
			dataDir: filepath.Join(dir, fmt.Sprintf("m%d.etcd", i)),
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.stopAll)
	for i := range c.members {
		c.Start(i)
	}
	for i := range c.members {
		c.WaitReady(i)
	}
	return c
}

// Endpoints returns every member's client URL.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.client
	}
	return out
}

// Endpoint returns member i's client URL.
func (c *Cluster) Endpoint(i int) string { return c.members[i].client }

// Start starts member i (again, with its data, after Stop). It does not wait for it to be ready.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		c.t.Fatalf("etcd member %s is already running", m.name)
	}
	log, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, append([]string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", c.initial, "--initial-cluster-state", "new", "--initial-cluster-token", c.token,
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
	}, c.args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		c.t.Fatalf("start etcd member %s: %v", m.name, err)
	}
	m.cmd, m.log, m.exited = cmd, log, make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(cmd, m.exited)
}

// Stop stops member i with SIGTERM (SIGKILL after 10 s) and waits for it to exit. Its data stays.
func (c *Cluster) Stop(i int) { c.stop(i, syscall.SIGTERM) }

// Kill stops member i with SIGKILL and waits for it to exit. Its data stays.
func (c *Cluster) Kill(i int) { c.stop(i, syscall.SIGKILL) }

func (c *Cluster) stop(i int, sig syscall.Signal) {
	m := c.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.log.Close()
	m.cmd = nil
}

func (c *Cluster) stopAll() {
	for i := range c.members {
		c.Kill(i)
	}
	if c.t.Failed() {
		for _, m := range c.members {
			if b, err := os.ReadFile(m.logPath); err == nil {
				c.t.Logf("etcd member %s log (last 4 KiB):\n%s", m.name, tail(b, 4096))
			}
		}
	}
}

// WaitReady waits (up to 30 s) until member i answers a linearizable read, which needs a leader and a
// quorum; it fails the test when the member has exited or does not answer in time.
func (c *Cluster) WaitReady(i int) {
	c.t.Helper()
	m := c.members[i]
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.client}, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return
		}
		m.mu.Lock()
		exited := m.exited
		m.mu.Unlock()
		select {
		case <-exited:
			b, _ := os.ReadFile(m.logPath)
			c.t.Fatalf("etcd member %s exited: %s", m.name, tail(b, 4096))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("etcd member %s not ready within 30s: %v", m.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
