package engine

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/redistest"
)

// do runs a command and renders its reply or error, for comparing two servers.
func do(c *redis.Client, args ...any) string {
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%v", v)
}

// The engine's HyperLogLogs count as redis-server's do (the same registers and estimator), and each
// reads the other's values: redis-server's sparse and dense strings, the engine's dense ones.
func TestHyperLogLogAnswersAsRedis(t *testing.T) {
	srv := redistest.Start(t)
	r := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { r.Close() })
	s := openT(t, shortDir(t))
	c := s.client(t)
	both := func(args ...any) string {
		t.Helper()
		want, got := do(r, args...), do(c, args...)
		if got != want {
			t.Errorf("%v: engine %q, redis-server %q", args, got, want)
		}
		return got
	}
	for _, n := range []int{0, 1, 3, 100, 1000, 20000, 200000} {
		key := "h" + strconv.Itoa(n)
		both("PFADD", key)
		for i := 0; i < n; i += 1000 {
			args := []any{"PFADD", key}
			for j := i; j < min(n, i+1000); j++ {
				args = append(args, "el"+strconv.Itoa(j*7))
			}
			both(args...)
		}
		both("PFADD", key, "el0") // no register grows: 0
		both("PFCOUNT", key)
		// Each reads the other's value.
		rv, _ := r.Get(context.Background(), key).Result()
		ev, _ := c.Get(context.Background(), key).Result()
		must(t, c, "SET", "fromredis", rv)
		if err := r.Set(context.Background(), "fromredis", rv, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := r.Set(context.Background(), "fromengine", ev, 0).Err(); err != nil {
			t.Fatal(err)
		}
		want := do(r, "PFCOUNT", key)
		if got := do(c, "PFCOUNT", "fromredis"); got != want {
			t.Errorf("%d elements: the engine counts redis-server's value (%d bytes) %s, want %s", n, len(rv), got, want)
		}
		if got := do(r, "PFCOUNT", "fromengine"); got != want {
			t.Errorf("%d elements: redis-server counts the engine's value %s, want %s", n, got, want)
		}
		both("PFADD", "fromredis", "more", "elements")
		both("PFCOUNT", "fromredis")
	}
	both("PFCOUNT", "h3", "h100", "h1000", "nokey")
	both("PFMERGE", "m", "h3", "h1000", "nokey")
	both("PFCOUNT", "m")
	both("PFMERGE", "empty")
	both("PFCOUNT", "empty")
	both("PFCOUNT", "nokey")
	both("SET", "str", "not an hll")
	both("PFADD", "str", "a")
	both("PFCOUNT", "str")
	both("PFMERGE", "m", "str")
	both("RPUSH", "list", "a")
	both("PFADD", "list", "a")
	both("PFCOUNT", "h1", "list")
	both("PFADD")
	both("TYPE", "h1")
	// A sparse value whose opcodes cover fewer registers than there are (its cached count marked stale).
	both("SET", "corrupt", "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f")
	both("PFCOUNT", "corrupt")
	// Expiry is kept.
	both("PFADD", "ttl", "a")
	both("EXPIRE", "ttl", "1000")
	both("PFADD", "ttl", "b")
	both("TTL", "ttl")
	// In a transaction and in a script.
	for _, cl := range []*redis.Client{r, c} {
		if _, err := cl.TxPipelined(context.Background(), func(p redis.Pipeliner) error {
			p.PFAdd(context.Background(), "tx", "a", "b", "c")
			p.PFCount(context.Background(), "tx")
			p.Do(context.Background(), "PFADD", "list", "x")
			p.PFMerge(context.Background(), "tx2", "tx", "h100")
			return nil
		}); err != nil && err.Error() != "WRONGTYPE Operation against a key holding the wrong kind of value" {
			t.Fatal(err)
		}
	}
	both("PFCOUNT", "tx")
	both("PFCOUNT", "tx2")
	both("EVAL", "redis.call('pfadd', KEYS[1], 'x', 'y'); return redis.call('pfcount', KEYS[1])", "1", "lua")
}

// A HyperLogLog survives restarts, a log rewrite included.
func TestHyperLogLogPersists(t *testing.T) {
	s := openT(t, shortDir(t))
	c := s.client(t)
	for i := range 50 {
		must(t, c, "PFADD", "p", "a"+strconv.Itoa(i), "b"+strconv.Itoa(i*i))
	}
	must(t, c, "PFMERGE", "q", "p")
	must(t, c, "PFADD", "q", "more")
	must(t, c, "EVAL", "return redis.call('pfadd', KEYS[1], 'x')", "1", "lua")
	want := fmt.Sprint(must(t, c, "PFCOUNT", "p"), must(t, c, "PFCOUNT", "q"), must(t, c, "PFCOUNT", "lua"))
	c3 := restartAndRewrite(t, s).client(t)
	if got := fmt.Sprint(must(t, c3, "PFCOUNT", "p"), must(t, c3, "PFCOUNT", "q"), must(t, c3, "PFCOUNT", "lua")); got != want {
		t.Errorf("PFCOUNT p q lua = %s after a rewrite, want %s", got, want)
	}
}

// BenchmarkPFADD adds one new element per op to one HyperLogLog (read, changed in a copy when a
// register grows, written back).
func BenchmarkPFADD(b *testing.B) {
	e, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	p := server.NewPeer(discard())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.srv.Dispatch(p, []string{"PFADD", "h", "el" + strconv.Itoa(i)})
	}
}
