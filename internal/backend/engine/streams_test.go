package engine

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/redistest"
)

// view renders what a client sees of streams and HyperLogLogs that both engines keep alike: PFCOUNT,
// the entries, length and last generated ID, each group's consumers and last-delivered ID, each
// consumer's pending count and the pending entries (ID, owner, delivery count; not idle times).
func view(t *testing.T, c *redis.Client, hlls []string, streams map[string][]string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, h := range hlls {
		fmt.Fprintf(&b, "PFCOUNT %s = %s\n", h, do(c, "PFCOUNT", h))
	}
	for _, s := range slices.Sorted(maps.Keys(streams)) {
		groups := streams[s]
		fmt.Fprintf(&b, "XRANGE %s = %s\n", s, do(c, "XRANGE", s, "-", "+"))
		info, _ := c.Do(ctx, "XINFO", "STREAM", s).Slice()
		last := field(info, "last-generated-id")
		if last == "" {
			last = "0-0" // the library's for a stream no entry was ever added to
		}
		fmt.Fprintf(&b, "%s length=%v last-generated-id=%v\n", s, field(info, "length"), last)
		for _, g := range groups {
			gs, _ := c.Do(ctx, "XINFO", "GROUPS", s).Slice()
			for _, gi := range gs {
				if gm, _ := gi.([]any); field(gm, "name") == g {
					fmt.Fprintf(&b, "group %s consumers=%v last-delivered-id=%v\n", g, field(gm, "consumers"), field(gm, "last-delivered-id"))
				}
			}
			cs, _ := c.Do(ctx, "XINFO", "CONSUMERS", s, g).Slice()
			for _, ci := range cs {
				cm, _ := ci.([]any)
				fmt.Fprintf(&b, "consumer %v pending=%v\n", field(cm, "name"), field(cm, "pending"))
			}
			ps, _ := c.Do(ctx, "XPENDING", s, g, "-", "+", "1000000").Slice()
			for _, pi := range ps {
				p, _ := pi.([]any)
				fmt.Fprintf(&b, "pending %v %v count=%v\n", p[0], p[1], p[3])
			}
		}
	}
	return b.String()
}

// restartAndRewrite closes s and opens its directory again, rewrites the log, and opens it once more:
// each time the data must be what s had.
func restartAndRewrite(t *testing.T, s *served) *served {
	t.Helper()
	s.Close()
	s2 := openT(t, s.dir)
	sameData(t, "after a restart", s.Engine, s2.Engine)
	s2.rewrite()
	s2.Close()
	s3 := openT(t, s.dir)
	sameData(t, "after a rewrite and a restart", s.Engine, s3.Engine)
	return s3
}

// resp2 is a RESP2 client of s (replies parse as redis-server's do with Protocol 2).
func (s *served) resp2(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// A stream's consumer groups (last-delivered IDs, consumers, pending entries with their owners and
// delivery counts, pending entries whose entry was deleted), its last generated ID after its newest
// entry was deleted, an empty stream and an empty stream with a group: as redis-server has them, and
// the same after a restart, after a rewrite and a restart, and with a later XADD * above the old IDs;
// claims that depend on idle times (XAUTOCLAIM, XCLAIM) stay as they were made.
func TestStreamGroupsReadBackWhole(t *testing.T) {
	srv := redistest.Start(t)
	r := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { r.Close() })
	s := openT(t, shortDir(t))
	c := s.resp2(t)
	script := [][]any{
		{"XADD", "s", "1-1", "f", "a"}, {"XADD", "s", "1-2", "f", "b"}, {"XADD", "s", "2-1", "f", "c"},
		{"XADD", "s", "3-1", "f", "d"}, {"XADD", "s", "4-1", "f", "e"},
		{"XGROUP", "CREATE", "s", "g1", "0"}, {"XGROUP", "CREATE", "s", "g2", "$"},
		{"XGROUP", "CREATECONSUMER", "s", "g2", "idle"},
		{"XREADGROUP", "GROUP", "g1", "c1", "COUNT", "3", "STREAMS", "s", ">"},
		{"XREADGROUP", "GROUP", "g1", "c2", "COUNT", "1", "STREAMS", "s", ">"},
		{"XREADGROUP", "GROUP", "g1", "c1", "STREAMS", "s", "0"}, // a second delivery to c1
		{"XACK", "s", "g1", "1-1"}, {"XCLAIM", "s", "g1", "c2", "0", "1-2"},
		{"XDEL", "s", "2-1"},                                 // pending, deleted
		{"XADD", "s", "5-1", "f", "x"}, {"XDEL", "s", "5-1"}, // the last generated ID outlives its entry
		{"XADD", "e", "1-1", "f", "v"}, {"XDEL", "e", "1-1"}, // an empty stream
		{"XGROUP", "CREATE", "mk", "g", "$", "MKSTREAM"}, // an empty stream with a group
		{"PFADD", "h", "a", "b", "c"},
	}
	for _, cmd := range script {
		do(r, cmd...)
		do(c, cmd...)
	}
	// Claims that depend on idle times: w's 1-1 was delivered 150 ms before them, 2-1 just now.
	for _, cmd := range [][]any{
		{"XADD", "w", "1-1", "f", "a"}, {"XADD", "w", "2-1", "f", "b"}, {"XGROUP", "CREATE", "w", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "w", ">"}, {"SLEEP"},
		{"XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "STREAMS", "w", ">"},
		{"XAUTOCLAIM", "w", "g", "c3", "100", "0"}, {"XCLAIM", "w", "g", "c3", "100", "2-1"},
	} {
		if cmd[0] == "SLEEP" {
			time.Sleep(150 * time.Millisecond)
			continue
		}
		do(r, cmd...)
		do(c, cmd...)
	}
	streams := map[string][]string{"s": {"g1", "g2"}, "e": nil, "mk": {"g"}, "w": {"g"}}
	want := view(t, r, []string{"h"}, streams)
	if got := view(t, c, []string{"h"}, streams); got != want {
		t.Fatalf("engine:\n%s\nredis-server:\n%s", got, want)
	}
	c3 := restartAndRewrite(t, s).resp2(t)
	if got := view(t, c3, []string{"h"}, streams); got != want {
		t.Errorf("after a rewrite and a restart:\n%s\nredis-server:\n%s", got, want)
	}
	for _, cl := range []*redis.Client{r, c3} {
		do(cl, "XADD", "s", "5-*", "f", "y")
		do(cl, "XREADGROUP", "GROUP", "g1", "c3", "STREAMS", "s", ">")
	}
	if got, want := view(t, c3, nil, streams), view(t, r, nil, streams); got != want {
		t.Errorf("writes after the restart:\n%s\nredis-server:\n%s", got, want)
	}
}

// boundRound is round i of the bounded-log workload, one transaction: a PFADD, an XADD to a stream
// capped at 20 entries, an XREADGROUP by one of three consumers, and XACKs, XCLAIMs and XDELs that keep
// about 50 entries pending, some of them deleted.
func boundRound(i int) [][]any {
	id := func(n int) string { return strconv.Itoa(n+1) + "-1" } // round n's entry
	cmds := [][]any{
		{"PFADD", "h", "a" + strconv.Itoa(i), "b" + strconv.Itoa(i%1000)},
		{"XADD", "s", "MAXLEN", "=", "20", id(i), "f", strconv.Itoa(i)},
		{"XREADGROUP", "GROUP", "g", "c" + strconv.Itoa(i%3), "COUNT", "1", "STREAMS", "s", ">"},
	}
	if i%3 == 0 {
		cmds = append(cmds, []any{"XACK", "s", "g", id(i)})
	}
	if i >= 50 {
		cmds = append(cmds, []any{"XACK", "s", "g", id(i - 50)})
	}
	if i%5 == 0 && i >= 1 && (i-1)%7 != 0 {
		cmds = append(cmds, []any{"XCLAIM", "s", "g", "c9", "0", id(i - 1)})
	}
	if i%7 == 0 {
		cmds = append(cmds, []any{"XDEL", "s", id(i)})
	}
	return cmds
}

// runRound runs round i as MULTI … EXEC on w and reads the replies from rd.
func runRound(w net.Conn, rd *bufio.Reader, i int) error {
	req := resp2Command(nil, "MULTI")
	cmds := boundRound(i)
	for _, c := range cmds {
		req = resp2Command(req, c...)
	}
	req = resp2Command(req, "EXEC")
	if _, err := w.Write(req); err != nil {
		return err
	}
	for range len(cmds) + 1 { // +OK, +QUEUED…
		line, err := rd.ReadString('\n')
		if err != nil || line[0] == '-' {
			return fmt.Errorf("round %d: %q, %v", i, line, err)
		}
	}
	// EXEC's reply: skip it whole.
	return skipReply(rd)
}

func resp2Command(b []byte, args ...any) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		s := fmt.Sprint(a)
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(s), s)
	}
	return b
}

func skipReply(rd *bufio.Reader) error {
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '*':
		for range max(n, 0) {
			if err := skipReply(rd); err != nil {
				return err
			}
		}
	case '$':
		if n >= 0 {
			_, err = rd.Discard(n + 2)
		}
	case '-':
		return fmt.Errorf("EXEC: %s", line)
	}
	return err
}

// boundChildEnv names the directory of TestLogBoundedChild.
const boundChildEnv = "MOAT_ENGINE_BOUND_CHILD_DIR"

// testMinRewrite is the smallest log the bounded-log test rewrites.
const testMinRewrite = 256 << 10

// TestLogBoundedChild is the child process of TestLogStaysBoundedAndStateSurvivesKill: it runs rounds
// of the workload from where the engine's data ends, acknowledging each round once EXEC is answered,
// until it is killed.
func TestLogBoundedChild(t *testing.T) {
	dir := storetest.CrashChildPath(t, boundChildEnv)
	e, err := Open(dir, nil)
	if err != nil {
		storetest.ChildFail(err)
	}
	e.log.mu.Lock()
	e.log.min = testMinRewrite
	e.log.mu.Unlock()
	b, rd := serveChild(e, dir)
	start := 0
	if _, err := b.Write(resp2Command(nil, "XINFO", "STREAM", "s")); err != nil {
		storetest.ChildFail(err)
	}
	if line, _ := rd.ReadString('\n'); line[0] == '*' {
		var fields []string
		for range 2 * 2 {
			l, _ := rd.ReadString('\n')
			if l[0] == '$' {
				l, _ = rd.ReadString('\n')
			}
			fields = append(fields, strings.TrimSpace(l))
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(fields[3], "-1"))
		start = n
	} else {
		_, _ = b.Write(resp2Command(nil, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
		_, _ = rd.ReadString('\n')
	}
	for i := start; ; i++ {
		if err := runRound(b, rd, i); err != nil {
			storetest.ChildFail(err)
		}
		storetest.Ack(i)
	}
}

// A workload that keeps changing a HyperLogLog and a stream with a consumer group (entries added,
// trimmed, delivered, acknowledged, claimed, deleted) for thousands of rounds keeps the log within a
// bound (it is rewritten again and again), and after each kill -9 the data is whole: every
// acknowledged round is there, and PFCOUNT, the entries, the group, its consumers and pending entries
// equal a real redis-server's after the same rounds.
func TestLogStaysBoundedAndStateSurvivesKill(t *testing.T) {
	dir := shortDir(t)
	srv := redistest.Start(t)
	r := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { r.Close() })
	path := filepath.Join(dir, LogFile)
	const bound = 4 * testMinRewrite
	total := 0
	for kill := range 2 {
		var maxSize int64
		drops := 0
		acks := storetest.CrashChild{Test: "TestLogBoundedChild", Env: boundChildEnv, Path: dir}.RunAndKill(t, 1000, 0, func() error {
			var last int64
			// At least 2 s, until 3 rewrites were seen (at most 15 s: a slow machine writes less).
			start := time.Now()
			for time.Since(start) < 2*time.Second || drops < 3 && time.Since(start) < 15*time.Second {
				time.Sleep(5 * time.Millisecond)
				fi, err := os.Stat(path)
				if err != nil {
					continue // renamed over just now
				}
				if fi.Size() < last {
					drops++
				}
				last = fi.Size()
				maxSize = max(maxSize, fi.Size())
			}
			return nil
		})
		acked := acks[len(acks)-1] + 1
		t.Logf("kill %d: rounds up to %d acknowledged; log at most %d bytes, rewritten %d times while watched", kill, acked, maxSize, drops)
		if maxSize > bound {
			t.Errorf("kill %d: the log reached %d bytes, want at most %d", kill, maxSize, bound)
		}
		if drops < 3 {
			t.Errorf("kill %d: the log was rewritten %d times while watched, want several", kill, drops)
		}

		s := openT(t, dir)
		c := s.resp2(t)
		info, _ := c.Do(context.Background(), "XINFO", "STREAM", "s").Slice()
		last, _ := field(info, "last-generated-id").(string)
		rounds, _ := strconv.Atoi(strings.TrimSuffix(last, "-1"))
		if rounds < acked {
			t.Fatalf("kill %d: %d rounds there after the restart, %d acknowledged", kill, rounds, acked)
		}
		total = rounds
		// The same rounds on redis-server, from empty.
		if err := r.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		rc, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		rrd := bufio.NewReader(rc)
		_, _ = rc.Write(resp2Command(nil, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"))
		_, _ = rrd.ReadString('\n')
		for i := range total {
			if err := runRound(rc, rrd, i); err != nil {
				t.Fatal(err)
			}
		}
		rc.Close()
		streams := map[string][]string{"s": {"g"}}
		if got, want := view(t, c, []string{"h"}, streams), view(t, r, []string{"h"}, streams); got != want {
			t.Fatalf("kill %d, after %d rounds: engine\n%s\nredis-server:\n%s", kill, total, got, want)
		}
		s.Close()
	}
}

// XCLAIM claims only entries idle at least min-idle-time, as redis-server does (the library claimed
// every pending one), from a client, inside MULTI and from a script.
func TestXclaimHonoursMinIdleTime(t *testing.T) {
	srv := redistest.Start(t)
	r := redis.NewClient(&redis.Options{Addr: srv.Addr, Protocol: 2})
	t.Cleanup(func() { r.Close() })
	c := openT(t, shortDir(t)).resp2(t)
	ctx := context.Background()
	both := func(f func(cl *redis.Client) string) {
		t.Helper()
		if got, want := f(c), f(r); got != want {
			t.Errorf("engine %s, redis-server %s", got, want)
		}
	}
	for _, cl := range []*redis.Client{r, c} {
		for _, cmd := range [][]any{{"XADD", "w", "1-1", "f", "a"}, {"XGROUP", "CREATE", "w", "g", "0"},
			{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "w", ">"}} {
			do(cl, cmd...)
		}
	}
	claims := func(cl *redis.Client) string {
		tx, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "XCLAIM", "w", "g", "c3", "100", "1-1", "JUSTID")
			return nil
		})
		return fmt.Sprint(do(cl, "XCLAIM", "w", "g", "c2", "100", "1-1", "JUSTID"), " ",
			do(cl, "EVAL", "return redis.call('xclaim', KEYS[1], 'g', 'c4', 100, '1-1', 'JUSTID')", "1", "w"), " ",
			tx, err, " ", do(cl, "XCLAIM", "w", "g", "c5", "100", "1-1", "IDLE", "0", "JUSTID"))
	}
	both(claims) // just delivered: none claims it
	time.Sleep(150 * time.Millisecond)
	both(func(cl *redis.Client) string { return do(cl, "XCLAIM", "w", "g", "c2", "100", "1-1", "JUSTID") })
	both(claims)                                                                // c2 just claimed it (its idle time restarts): none claims it
	both(func(cl *redis.Client) string { return do(cl, "XPENDING", "w", "g") }) // c2 owns it
}
