package main

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/redistest"
)

// clientChecks are the checks every client runs (testdata/clients/check.py and check.mjs print one
// line for each, goRedisChecks has one subtest for each).
var clientChecks = []string{"ping", "set_get", "pipeline", "big_value", "multi", "watch", "scripting",
	"pubsub", "blocking", "hello3", "streams", "expiry"}

// What a new user tries first, with the three clients they are most likely to use, through moat on
// each engine: the in-process engine (the default) and a real redis-server. Both must pass all of it.
// Then the in-process engine's data must survive a clean restart of moat.
func TestClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	srv := redistest.Start(t)
	for _, eng := range []struct{ name, backend string }{{"embedded", ""}, {"redis-server", "redis://" + srv.Addr}} {
		t.Run(eng.name, func(t *testing.T) {
			dir := t.TempDir()
			listen, api := freePort(t), freePort(t)
			args := []string{"serve", "--data-dir", dir, "--listen", listen, "--api-listen", api}
			if eng.backend != "" {
				args = append(args, "--backend", eng.backend)
			}
			p := serveCmd(t, dir, exec.Command(bin, args...))
			c := client(t, dir)
			if err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": instanceID(t, c),
				"SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
				t.Fatal(err)
			}
			t.Run("go-redis", func(t *testing.T) { goRedisChecks(t, listen) })
			t.Run("redis-py", func(t *testing.T) {
				runClientScript(t, "python3-redis", []string{"/usr/bin/python3", "-c", "import redis"}, "/usr/bin/python3", "check.py", listen)
			})
			t.Run("ioredis", func(t *testing.T) {
				runClientScript(t, "ioredis", []string{"node", "-e", "require.resolve('ioredis')"}, "node", "check.mjs", listen)
			})
			if eng.backend != "" {
				return
			}
			// A clean restart keeps what the clients wrote.
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Wait(); err != nil {
				t.Fatalf("moat after SIGTERM: %v\n%s", err, p.stderr.String())
			}
			serveCmd(t, dir, exec.Command(bin, args...))
			r := redis.NewClient(&redis.Options{Addr: listen})
			defer r.Close()
			for k, want := range map[string]string{"go:k": "v", "py:k": "v", "js:k": "v", "go:n": "100", "py:s": "5"} {
				if got, err := r.Get(context.Background(), k).Result(); err != nil || got != want {
					t.Errorf("after a restart of moat: GET %s = %q, %v; want %q", k, got, err, want)
				}
			}
		})
	}
}

// runClientScript runs testdata/clients/script with interp against addr and fails t for each check
// that failed or did not report. pkg is what scripts/test-deps.sh installs; probe tells whether it is
// there.
func runClientScript(t *testing.T, pkg string, probe []string, interp, script, addr string) {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "clients"))
	pc := exec.Command(probe[0], probe[1:]...)
	pc.Dir = dir
	if out, err := pc.CombinedOutput(); err != nil {
		t.Fatalf("%s is not installed (run scripts/test-deps.sh): %v %s", pkg, err, out)
	}
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, interp, script, host, port)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", interp, script, err, out)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			seen[strings.TrimPrefix(line, "ok ")] = true
		case strings.HasPrefix(line, "FAIL "):
			t.Error(line)
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), ":")
			seen[name] = true
		}
	}
	for _, c := range clientChecks {
		if !seen[c] {
			t.Errorf("check %s did not report:\n%s", c, out)
		}
	}
}

// goRedisChecks are the checks of check.py and check.mjs with go-redis v9 (RESP3 by default: it
// starts every connection with HELLO 3).
func goRedisChecks(t *testing.T, addr string) {
	ctx := context.Background()
	newClient := func(t *testing.T) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second})
		t.Cleanup(func() { c.Close() })
		return c
	}
	checks := map[string]func(t *testing.T, r *redis.Client){
		"ping": func(t *testing.T, r *redis.Client) {
			if v, err := r.Ping(ctx).Result(); err != nil || v != "PONG" {
				t.Fatalf("PING = %q, %v", v, err)
			}
		},
		"set_get": func(t *testing.T, r *redis.Client) {
			r.Set(ctx, "go:k", "v", 0)
			if v, err := r.Get(ctx, "go:k").Result(); err != nil || v != "v" {
				t.Fatalf("GET = %q, %v", v, err)
			}
		},
		"pipeline": func(t *testing.T, r *redis.Client) {
			r.Del(ctx, "go:n")
			cmds, err := r.Pipelined(ctx, func(p redis.Pipeliner) error {
				for range 100 {
					p.Incr(ctx, "go:n")
				}
				return nil
			})
			if err != nil || cmds[99].(*redis.IntCmd).Val() != 100 {
				t.Fatalf("100 pipelined INCRs: %v, last %v", err, cmds[99])
			}
		},
		"big_value": func(t *testing.T, r *redis.Client) {
			v := strings.Repeat("x", 8<<20)
			r.Set(ctx, "go:big", v, 0)
			if got, err := r.Get(ctx, "go:big").Result(); err != nil || got != v {
				t.Fatalf("8 MB value: %d bytes back, %v", len(got), err)
			}
		},
		"multi": func(t *testing.T, r *redis.Client) {
			r.Del(ctx, "go:m")
			cmds, err := r.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "go:m")
				p.Incr(ctx, "go:m")
				return nil
			})
			if err != nil || cmds[1].(*redis.IntCmd).Val() != 2 {
				t.Fatalf("MULTI INCR INCR EXEC: %v %v", cmds, err)
			}
		},
		"watch": func(t *testing.T, r *redis.Client) {
			r.Set(ctx, "go:w", "0", 0)
			err := r.Watch(ctx, func(tx *redis.Tx) error {
				newClient(t).Set(ctx, "go:w", "other", 0)
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, "go:w", "mine", 0).Err() })
				return err
			}, "go:w")
			if !errors.Is(err, redis.TxFailedErr) || r.Get(ctx, "go:w").Val() != "other" {
				t.Fatalf("EXEC after the WATCHed key changed: %v, value %q", err, r.Get(ctx, "go:w").Val())
			}
		},
		"scripting": func(t *testing.T, r *redis.Client) {
			r.Set(ctx, "go:s", "1", 0)
			if v, err := r.Eval(ctx, "return redis.call('incrby', KEYS[1], ARGV[1])", []string{"go:s"}, 4).Int(); err != nil || v != 5 {
				t.Fatalf("EVAL = %d, %v", v, err)
			}
			s := redis.NewScript("return redis.call('get', KEYS[1])")
			if v, err := s.Run(ctx, r, []string{"go:s"}).Text(); err != nil || v != "5" {
				t.Fatalf("EVALSHA (Script.Run) = %q, %v", v, err)
			}
		},
		"pubsub": func(t *testing.T, r *redis.Client) {
			ps := r.Subscribe(ctx, "go:ch")
			defer ps.Close()
			if err := ps.PSubscribe(ctx, "go:c*"); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil { // the two confirmations
					t.Fatal(err)
				}
			}
			newClient(t).Publish(ctx, "go:ch", "hello")
			var got []string
			tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for range 2 {
				m, err := ps.ReceiveMessage(tctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m.Pattern+"|"+m.Payload)
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"go:c*|hello", "|hello"}) && !slices.Equal(got, []string{"|hello", "go:c*|hello"}) {
				t.Fatalf("messages %q", got)
			}
		},
		"blocking": func(t *testing.T, r *redis.Client) {
			r.Del(ctx, "go:q")
			var wg sync.WaitGroup
			wg.Go(func() {
				time.Sleep(200 * time.Millisecond)
				newClient(t).RPush(ctx, "go:q", "job")
			})
			defer wg.Wait()
			if v, err := r.BLPop(ctx, 5*time.Second, "go:q").Result(); err != nil || !slices.Equal(v, []string{"go:q", "job"}) {
				t.Fatalf("BLPOP = %q, %v", v, err)
			}
			if _, err := r.BLPop(ctx, time.Second, "go:q").Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("BLPOP of an empty list after 1 s: %v, want nil", err)
			}
		},
		"hello3": func(t *testing.T, r *redis.Client) {
			v, err := r.Do(ctx, "HELLO", "3").Result()
			m, ok := v.(map[any]any)
			if err != nil || !ok || m["proto"] != int64(3) {
				t.Fatalf("HELLO 3 = %#v, %v", v, err)
			}
			if h, err := r.HGetAll(ctx, "nokey").Result(); err != nil || len(h) != 0 {
				t.Fatalf("HGETALL (a RESP3 map) = %v, %v", h, err)
			}
		},
		"streams": func(t *testing.T, r *redis.Client) {
			r.Del(ctx, "go:x")
			id := r.XAdd(ctx, &redis.XAddArgs{Stream: "go:x", Values: []string{"f", "v"}}).Val()
			res, err := r.XRead(ctx, &redis.XReadArgs{Streams: []string{"go:x", "0"}}).Result()
			if err != nil || len(res) != 1 || len(res[0].Messages) != 1 || res[0].Messages[0].ID != id {
				t.Fatalf("XREAD = %v, %v (XADD gave %s)", res, err, id)
			}
		},
		"expiry": func(t *testing.T, r *redis.Client) {
			r.Set(ctx, "go:e", "v", 200*time.Millisecond)
			time.Sleep(400 * time.Millisecond)
			if err := r.Get(ctx, "go:e").Err(); !errors.Is(err, redis.Nil) {
				t.Fatalf("GET of an expired key: %v", err)
			}
		},
	}
	for _, name := range clientChecks {
		t.Run(name, func(t *testing.T) { checks[name](t, newClient(t)) })
	}
}
