package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/backend"
)

// replyUnavailable is the gateway's answer while the backend cannot be reached (gateway/replies.go).
const replyUnavailable = "-ERR backend unavailable, try again later"

// goRedisFrom is a go-redis client of addr whose connections come from source address src.
func goRedisFrom(t *testing.T, addr, src string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			return d.DialContext(ctx, network, addr)
		}})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitAOFWritten waits until the server behind addr has written its append-only buffer (appendfsync
// everysec may acknowledge a write before, while a background fsync runs).
func waitAOFWritten(t *testing.T, c *redis.Client) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		info, err := c.Info(context.Background(), "persistence").Result()
		if err == nil && strings.Contains(info, "aof_buffer_length:0") && strings.Contains(info, "aof_pending_bio_fsync:0") {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the append-only buffer was not written within 5 s: %v %s", err, info)
		}
	}
}

// An instance without a backend runs a managed redis-server. Supervision, through the gateway: after
// kill -9 of the server, clients get "-ERR backend unavailable" until moat has restarted it, and then
// find every write acknowledged before; a clean Close leaves no server running.
func TestManagedServerSupervisedBehindMoat(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	writeConfig(t, cfg, "instances:\n  - id: r-managed\n    listen: ["+listen+"]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer s.Close()
	e, ok := s.InstanceEngine("r-managed")
	if !ok || e.Kind != backend.EngineManaged || e.Server != "redis-server" || e.PID == 0 {
		t.Fatalf("engine %+v, %v; want a managed redis-server", e, ok)
	}
	c := goRedisFrom(t, listen, "127.0.0.5")
	ctx := context.Background()
	for i := range 50 {
		if err := c.Set(ctx, "k"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	waitAOFWritten(t, c)

	if err := syscall.Kill(e.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	sawUnavailable := false
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		got := do(t, listen, "127.0.0.6", "GET k7")
		if got == replyUnavailable {
			sawUnavailable = true
		} else if got == "7" && sawUnavailable {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("10 s after kill -9: GET answered %q (unavailable seen: %v)", got, sawUnavailable)
		}
	}
	now, _ := s.InstanceEngine("r-managed")
	for end := time.Now().Add(5 * time.Second); now.PID == 0 && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		now, _ = s.InstanceEngine("r-managed") // the server answers a moment before it is recorded
	}
	if now.PID == 0 || now.PID == e.PID {
		t.Fatalf("engine after the restart %+v, killed pid %d", now, e.PID)
	}
	for i := range 50 {
		if got, err := c.Get(ctx, "k"+strconv.Itoa(i)).Result(); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("after the restart GET k%d = %q, %v", i, got, err)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(now.PID) + "/cmdline"); err == nil && len(b) > 0 {
		t.Errorf("the managed server %d still runs after Close: %q", now.PID, b)
	}
}

// The config file's redis_server (like --redis-server) names the binary; one that cannot run is an error
// at start, naming it, rather than a silent fall-back to the in-process engine.
func TestRedisServerNamedButMissing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfg, "redis_server: /nonexistent/redis-server\ninstances:\n  - id: r-x\n    listen: ["+freeAddr(t)+"]\n")
	_, err := Start(Options{ConfigPath: cfg, DataDir: dir, APIListen: "127.0.0.1:0", Log: quiet()})
	if err == nil || !strings.Contains(err.Error(), "--redis-server") || !strings.Contains(err.Error(), "/nonexistent/redis-server") {
		t.Fatalf("Start with a missing redis_server: %v", err)
	}
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), RedisServer: "redis-server"})
	defer s.Close()
	insts, _ := s.Plane().Instances()
	if e, _ := s.InstanceEngine(insts[0].ID); e.Kind != backend.EngineManaged {
		t.Fatalf("--redis-server redis-server: engine %+v", e)
	}
}
