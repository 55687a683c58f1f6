package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/redistest"
)

func openEmbeddedT(t *testing.T, dir string) *embedded {
	t.Helper()
	b, err := Open("embedded", dir, nil)
	if err != nil {
		t.Fatalf("Open embedded in %s: %v", dir, err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*embedded)
}

// goRedis is a go-redis client whose every connection comes from b.Dial.
func goRedis(t *testing.T, b Backend) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Dialer:          func(ctx context.Context, _, _ string) (net.Conn, error) { return b.Dial(ctx) },
		Protocol:        2,
		DisableIdentity: true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestEmbeddedSetGetWithGoRedis(t *testing.T) {
	b := openEmbeddedT(t, t.TempDir())
	ctx := context.Background()
	c := goRedis(t, b)
	if err := c.Set(ctx, "user:1", "ada", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "user:1").Result(); err != nil || got != "ada" {
		t.Fatalf("GET = %q, %v; want ada", got, err)
	}
	if err := c.HSet(ctx, "h", "f", "v").Err(); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	if n, err := c.Incr(ctx, "counter").Result(); err != nil || n != 1 {
		t.Fatalf("INCR = %d, %v", n, err)
	}
	// Keys really expire.
	if err := c.Set(ctx, "short", "x", 150*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Get(ctx, "short").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET of an expired key: %v, want nil", err)
	}
}

func TestEmbeddedDurableAcrossCloseAndReopen(t *testing.T) {
	dir := t.TempDir()
	b, err := Open("embedded", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialR(t, b)
	for i := range 200 {
		if got := c.do("SET", "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)); got != "+OK" {
			t.Fatalf("SET k%d = %s", i, got)
		}
	}
	for _, v := range []string{"a", "b", "c"} {
		if got := c.do("RPUSH", "list", v); !strings.HasPrefix(got, ":") {
			t.Fatalf("RPUSH = %s", got)
		}
	}
	if got := c.do("EXPIRE", "k0", "1000"); got != ":1" {
		t.Fatalf("EXPIRE = %s", got)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The engine's connection is gone with it.
	if got := c.do("PING"); got != "(closed)" && !strings.HasPrefix(got, "(error") {
		t.Errorf("PING on an engine connection after Close = %s, want closed", got)
	}
	if _, err := b.Dial(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "engine.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}

	b2 := openEmbeddedT(t, dir)
	c2 := dialR(t, b2)
	if got := c2.do("DBSIZE"); got != ":201" {
		t.Errorf("DBSIZE after reopen = %s, want :201", got)
	}
	if got := c2.do("GET", "k199"); got != `"v199"` {
		t.Errorf("GET k199 after reopen = %s", got)
	}
	if got := c2.do("LRANGE", "list", "0", "-1"); got != `["a" "b" "c"]` {
		t.Errorf("LRANGE after reopen = %s", got)
	}
	if got := c2.do("TTL", "k0"); got == ":-1" || got == ":-2" {
		t.Errorf("TTL k0 after reopen = %s, want the expiry kept", got)
	}
}

func TestEmbeddedFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r-abc")
	e := openEmbeddedT(t, dir)
	if got, want := e.String(), "embedded:"+filepath.Join(dir, "engine.aof"); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	if m := mode(dir); m.Perm() != 0o700 || !m.IsDir() {
		t.Errorf("data dir mode %v, want drwx------", m)
	}
	if m := mode(filepath.Join(dir, "engine.aof")); !m.IsRegular() || m.Perm() != 0o600 {
		t.Errorf("engine.aof: %v, want the log, -rw-------", m)
	}
	sockDir := filepath.Join(dir, "run")
	if e.sock != filepath.Join(sockDir, "engine.sock") {
		t.Errorf("socket at %s, want inside %s", e.sock, sockDir)
	}
	if m := mode(sockDir); m.Perm() != 0o700 || !m.IsDir() {
		t.Errorf("socket dir mode %v, want drwx------", m)
	}
	if m := mode(e.sock); m.Type()&os.ModeSocket == 0 || m.Perm() != 0o600 {
		t.Errorf("socket mode %v, want srw-------", m)
	}
	// Nothing listens on TCP: the only way in is the socket (checked against the process's sockets).
	if tcp := listeningTCPInodes(t); len(tcp) > 0 {
		for _, ino := range socketInodesOfProcess(t) {
			if tcp[ino] {
				t.Errorf("this process listens on TCP (inode %s); the engine must only use its unix socket", ino)
			}
		}
	}
}

// listeningTCPInodes returns the inodes of listening TCP sockets (state 0A) in /proc/net/tcp{,6}.
func listeningTCPInodes(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 9 && fields[3] == "0A" {
				out[fields[9]] = true
			}
		}
	}
	return out
}

func socketInodesOfProcess(t *testing.T) []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var out []string
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"))
		}
	}
	return out
}

func TestEmbeddedTightensLooseDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	b, err := Open("embedded", dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v after Open, want 0700", fi.Mode().Perm())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "accessible to other users") {
		t.Errorf("no warning logged about the loose directory: %q", logs.String())
	}
}

func TestEmbeddedLongDirUsesPrivateTempSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	e := openEmbeddedT(t, dir)
	if !e.tmpDir || strings.HasPrefix(e.sock, dir) {
		t.Fatalf("socket %s: want a temp dir, the data dir path is too long", e.sock)
	}
	if len(e.sock) > maxSocketPath {
		t.Fatalf("socket path %d bytes", len(e.sock))
	}
	fi, err := os.Stat(filepath.Dir(e.sock))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("temp socket dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if got := dialR(t, e).do("SET", "a", "1"); got != "+OK" {
		t.Fatalf("SET = %s", got)
	}
	sockDir := filepath.Dir(e.sock)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp socket dir %s left behind after Close: %v", sockDir, err)
	}
}

func TestEmbeddedInstancesAreIndependent(t *testing.T) {
	a := dialR(t, openEmbeddedT(t, t.TempDir()))
	b := dialR(t, openEmbeddedT(t, t.TempDir()))
	a.do("SET", "color", "red")
	b.do("SET", "color", "blue")
	a.do("SET", "only-a", "1")
	if got := a.do("GET", "color"); got != `"red"` {
		t.Errorf("instance a: color = %s", got)
	}
	if got := b.do("GET", "color"); got != `"blue"` {
		t.Errorf("instance b: color = %s", got)
	}
	if got := b.do("EXISTS", "only-a"); got != ":0" {
		t.Errorf("instance b sees a's key: EXISTS = %s", got)
	}
}

func TestEmbeddedOneEnginePerDir(t *testing.T) {
	dir := t.TempDir()
	first := openEmbeddedT(t, dir)
	_, err := Open("embedded", dir, nil)
	if err == nil || !strings.Contains(err.Error(), "data directory in use by another engine") {
		t.Fatalf("second Open of the same dir: %v, want 'in use'", err)
	}
	// The failed Open did not disturb the running engine.
	if got := dialR(t, first).do("PING"); got != "+PONG" {
		t.Errorf("first engine after a refused second Open: PING = %s", got)
	}
	first.Close()
	openEmbeddedT(t, dir) // released by Close
}

func TestEmbeddedBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for _, dir := range []string{"", file} {
		if b, err := Open("embedded", dir, nil); err == nil {
			b.Close()
			t.Errorf("Open embedded in %q succeeded", dir)
		}
	}
}

// killChildEnv names the data directory of TestEmbeddedKillChild.
const killChildEnv = "MOAT_BACKEND_KILL_CHILD_DIR"

// TestEmbeddedKillChild is the child process of TestEmbeddedDurableAfterKill (storetest's crash-test
// harness): it writes keys k0, k1, ... through the engine, acknowledging each once the engine has
// answered, until it is killed.
func TestEmbeddedKillChild(t *testing.T) {
	b, err := Open("embedded", storetest.CrashChildPath(t, killChildEnv), nil)
	if err != nil {
		storetest.ChildFail(err)
	}
	c, err := b.Dial(context.Background())
	if err != nil {
		storetest.ChildFail(err)
	}
	r := bufio.NewReader(c)
	for i := 0; ; i++ {
		if _, err := c.Write(appendCommand(nil, "SET", "k"+strconv.Itoa(i), strconv.Itoa(i))); err != nil {
			storetest.ChildFail(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
			storetest.ChildFail(fmt.Errorf("SET k%d: %q, %v", i, line, err))
		}
		storetest.Ack(i)
	}
}

// Writes acknowledged by the engine survive SIGKILL of the whole process (they are in the log, written
// to the kernel before the reply), and the directory lock and stale socket of the dead process do not
// block the next Open.
func TestEmbeddedDurableAfterKill(t *testing.T) {
	dir := t.TempDir()
	acks := storetest.CrashChild{Test: "TestEmbeddedKillChild", Env: killChildEnv, Path: dir}.RunAndKill(t, 301, 0, nil)
	last := acks[len(acks)-1]
	for i, n := range acks {
		if n != i {
			t.Fatalf("ack %d is of k%d: acks not consecutive from k0", i, n)
		}
	}
	aof, err := os.Stat(filepath.Join(dir, "engine.aof"))
	if err != nil || aof.Size() == 0 {
		t.Fatalf("after SIGKILL: engine.aof %v, %v; want the writes there", aof, err)
	}
	t.Logf("killed after %d acknowledged SETs; log left behind: %d bytes", last+1, aof.Size())

	e := openEmbeddedT(t, dir)
	c := dialR(t, e)
	for i := 0; i <= last; i++ {
		if got := c.do("GET", "k"+strconv.Itoa(i)); got != strconv.Quote(strconv.Itoa(i)) {
			t.Fatalf("acknowledged write k%d lost after SIGKILL: GET = %s", i, got)
		}
	}
}

// killTxChildEnv names the data directory of TestEmbeddedKillTxChild.
const killTxChildEnv = "MOAT_BACKEND_KILL_TX_CHILD_DIR"

// TestEmbeddedKillTxChild is the child process of TestEmbeddedTransactionsAtomicAfterKill: round i
// is one MULTI / INCR a / INCR b / RPUSH l i / EXEC, pipelined in one write with a SET of a 64 KiB
// value (so that some log writes are large), acknowledged once EXEC's reply is read.
func TestEmbeddedKillTxChild(t *testing.T) {
	b, err := Open("embedded", storetest.CrashChildPath(t, killTxChildEnv), nil)
	if err != nil {
		storetest.ChildFail(err)
	}
	c, err := b.Dial(context.Background())
	if err != nil {
		storetest.ChildFail(err)
	}
	r := bufio.NewReader(c)
	big := strings.Repeat("v", 64<<10)
	for i := 0; ; i++ {
		var req []byte
		req = appendCommand(req, "SET", "big", big)
		req = appendCommand(req, "MULTI")
		req = appendCommand(req, "INCR", "a")
		req = appendCommand(req, "INCR", "b")
		req = appendCommand(req, "RPUSH", "l", strconv.Itoa(i))
		req = appendCommand(req, "EXEC")
		if _, err := c.Write(req); err != nil {
			storetest.ChildFail(err)
		}
		for range 5 {
			if _, err := readReply(r); err != nil {
				storetest.ChildFail(err)
			}
		}
		if got, err := readReply(r); err != nil || !strings.HasPrefix(got, "[:") {
			storetest.ChildFail(fmt.Errorf("EXEC %d: %s, %v", i, got, err))
		}
		storetest.Ack(i)
	}
}

// kill -9 in the middle of a stream of transactions: after restart every acknowledged one is there,
// and none is there in part (a == b == LLEN l), over several kills of the same directory.
func TestEmbeddedTransactionsAtomicAfterKill(t *testing.T) {
	dir := t.TempDir()
	total := 0
	for round := range 3 {
		acks := storetest.CrashChild{Test: "TestEmbeddedKillTxChild", Env: killTxChildEnv, Path: dir}.RunAndKill(t, 50, time.Duration(round)*time.Millisecond, nil)
		total += len(acks)
		e, err := Open("embedded", dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := dialR(t, e)
		a, bv, n := c.do("GET", "a"), c.do("GET", "b"), c.do("LLEN", "l")
		e.Close()
		got, _ := strconv.Atoi(strings.Trim(a, `"`))
		if a != bv || ":"+strconv.Itoa(got) != n {
			t.Fatalf("round %d: a = %s, b = %s, LLEN l = %s: a transaction is there in part", round, a, bv, n)
		}
		if got < total {
			t.Fatalf("round %d: %d transactions acknowledged in all, %d there after kill -9", round, total, got)
		}
		total = got // one more may have run without its acknowledgement being read
		t.Logf("round %d: %d acknowledged, %d after restart", round, len(acks), got)
	}
}

// redisScript is a sequence of commands a Redis 7 client may send, each run on a fresh connection of
// both engines in turn: the engine must answer as redis-server does, except for the few replies listed
// in embeddedDiffs (documented in doc.go and README).
var redisScript = [][]string{
	{"PING"}, {"PING", "hi"}, {"ECHO", "x"}, {"SET", "s", "v"}, {"GET", "s"}, {"SET", "s", "w", "GET"},
	{"SET", "n", "1", "EX", "100", "NX"}, {"SET", "n", "2", "NX"}, {"TTL", "n"}, {"INCRBY", "n", "2"}, {"INCRBYFLOAT", "n", "0.5"},
	{"MSET", "a", "1", "b", "2"}, {"MGET", "a", "b", "nope"}, {"MSETNX", "a", "3", "z", "4"}, {"GETDEL", "a"},
	{"APPEND", "s", "x"}, {"SETRANGE", "s", "0", "W"}, {"GETRANGE", "s", "0", "1"}, {"STRLEN", "s"},
	{"GETEX", "s", "EX", "50"}, {"TTL", "s"}, {"PERSIST", "s"}, {"TTL", "s"}, {"PTTL", "nokey"},
	{"LPUSH", "l", "a", "b", "c"}, {"RPUSH", "l", "x", "y"}, {"LRANGE", "l", "0", "-1"}, {"LRANGE", "nokey", "0", "-1"},
	{"LPOS", "l", "x"}, {"LMOVE", "l", "l2", "LEFT", "RIGHT"}, {"LPUSHX", "nokey", "a"}, {"LLEN", "l"}, {"LINDEX", "l", "-1"},
	{"LPOP", "l", "2"}, {"RPOP", "l"}, {"LTRIM", "l", "0", "0"}, {"LSET", "l", "0", "q"}, {"LREM", "l", "0", "q"},
	{"HSET", "h", "f", "v", "g", "w"}, {"HGET", "h", "f"}, {"HMGET", "h", "f", "nope"}, {"HINCRBY", "h", "c", "3"},
	{"HLEN", "h"}, {"HSTRLEN", "h", "f"}, {"HEXISTS", "h", "g"}, {"HDEL", "h", "g"}, {"HSETNX", "h", "f", "x"},
	{"SADD", "st", "a", "b", "c"}, {"SISMEMBER", "st", "a"}, {"SMISMEMBER", "st", "a", "z"}, {"SCARD", "st"},
	{"SREM", "st", "c"}, {"SINTERCARD", "1", "st"}, {"SADD", "st2", "b", "d"}, {"SUNIONSTORE", "su", "st", "st2"}, {"SCARD", "su"},
	{"ZADD", "z", "1", "a", "2", "b", "3", "c"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"ZSCORE", "z", "b"},
	{"ZINCRBY", "z", "5", "a"}, {"ZRANK", "z", "a"}, {"ZREVRANGE", "z", "0", "0"}, {"ZRANGEBYSCORE", "z", "2", "+inf"},
	{"ZPOPMIN", "z"}, {"ZMSCORE", "z", "b", "nope"}, {"ZCARD", "z"}, {"ZREM", "z", "c"}, {"ZCOUNT", "z", "-inf", "+inf"},
	{"PFADD", "p", "a", "b"}, {"PFCOUNT", "p"}, {"SETBIT", "bits", "7", "1"}, {"GETBIT", "bits", "7"}, {"BITCOUNT", "bits"},
	{"XADD", "x", "1-1", "f", "v"}, {"XADD", "x", "1-2", "g", "w"}, {"XLEN", "x"}, {"XRANGE", "x", "-", "+"},
	{"XREAD", "COUNT", "1", "STREAMS", "x", "0"}, {"XREAD", "STREAMS", "x", "0"}, {"XDEL", "x", "1-1"},
	{"EXISTS", "s", "nokey"}, {"TYPE", "h"}, {"TYPE", "z"}, {"TYPE", "x"}, {"TYPE", "nokey"}, {"DEL", "b", "nokey"},
	{"UNLINK", "z"}, {"RENAME", "st2", "st3"}, {"RENAMENX", "st3", "st"}, {"COPY", "st3", "st4"}, {"EXPIRE", "st4", "100"},
	{"EXPIRE", "st4", "10", "NX"}, {"EXPIRE", "st4", "10", "GT"}, {"TTL", "st4"}, {"EXPIRETIME", "nokey"},
	{"GET", "h"}, {"LLEN", "h"}, {"LPUSH", "h", "x"}, {"INCR", "s"}, {"HSET", "h", "f"},
	{"EVAL", "return redis.call('get', KEYS[1])", "1", "s"}, {"EVAL", "return {1, 2, 'x'}", "0"},
	{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"}, {"SCRIPT", "LOAD", "return 1"},
	{"EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"},
	{"PUBLISH", "ch", "m"}, {"SELECT", "3"}, {"DBSIZE"}, {"SWAPDB", "0", "1"}, {"DBSIZE"},
	{"NOSUCHCOMMAND", "x"}, {"GET"}, {"SET", "k", "v", "EX", "0"},
	{"WATCH", "s"}, {"UNWATCH"}, {"MULTI"}, {"EXEC"}, {"DISCARD"},
	{"MULTI"}, {"SET", "m1", "1"}, {"LPUSH", "h", "x"}, {"NOSUCHCOMMAND"}, {"EXEC"}, {"GET", "m1"},
	{"MULTI"}, {"SET", "m1", "1"}, {"LPUSH", "h", "x"}, {"EXEC"}, {"GET", "m1"},
}

// embeddedDiffs are the engine's replies that differ from redis-server's in redisScript.
var embeddedDiffs = map[string]string{
	`["SET" "k" "v" "EX" "0"]`: "-ERR invalid expire time in set",
}

func TestEmbeddedBehavesLikeRedis(t *testing.T) {
	srv := redistest.Start(t)
	real := dialR(t, openT(t, "redis://"+srv.Addr))
	emb := dialR(t, openEmbeddedT(t, t.TempDir()))
	for _, cmd := range redisScript {
		want, got := real.do(cmd...), emb.do(cmd...)
		if diff, ok := embeddedDiffs[fmt.Sprintf("%q", cmd)]; ok {
			want = diff
		}
		if want != got {
			t.Errorf("%q: redis-server %s, engine %s", cmd, want, got)
		}
	}
}

// 100 clients connecting and writing at once are all served. The engine answers them one write at a
// time, so on a loaded machine the last may wait long: each waits up to a minute for its replies.
func TestEmbeddedManyClientsAtOnce(t *testing.T) {
	b := openEmbeddedT(t, t.TempDir())
	const n = 100
	errs := make(chan string, n)
	for i := range n {
		go func() {
			c, err := b.Dial(context.Background())
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			r := &rconn{t: t, c: c, r: bufio.NewReader(c), wait: time.Minute}
			k := "client:" + strconv.Itoa(i)
			if got := r.do("SET", k, k); got != "+OK" {
				errs <- "SET " + got
				return
			}
			if got := r.do("GET", k); got != strconv.Quote(k) {
				errs <- "GET " + got
				return
			}
			errs <- ""
		}()
	}
	for range n {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// A unix socket whose accept queue is full refuses connect(2) with EAGAIN instead of queueing the
// caller as TCP does; dial waits for room instead of failing.
func TestDialRetriesFullUnixBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Fill the queue without accepting.
	var queued []net.Conn
	defer func() {
		for _, c := range queued {
			c.Close()
		}
	}()
	var d net.Dialer
	for {
		c, err := d.Dial("unix", path)
		if err != nil {
			if !isBacklogFull(err) {
				t.Fatalf("filling the backlog: %v", err)
			}
			break
		}
		queued = append(queued, c)
		if len(queued) > 64 {
			t.Skip("the kernel does not limit this unix socket's backlog")
		}
	}
	// Short of time, dial gives up: with the EAGAIN error, or (a loaded machine, the time out while a
	// try was under way) the dialer's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := dial(ctx, &d, "unix", path); !isBacklogFull(err) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial with a full backlog and 50ms: %v, want EAGAIN or a timeout", err)
	}
	// Once the server accepts again, a waiting dial gets through (however loaded the machine: it may
	// wait long).
	go func() {
		time.Sleep(100 * time.Millisecond)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dial(ctx, &d, "unix", path)
	if err != nil {
		t.Fatalf("dial once the server accepts again: %v", err)
	}
	c.Close()
}

// A MULTI whose queued command fails at EXEC (a type error) runs the others, as Redis does: the EXEC
// array has one reply per command and the earlier write stays.
func TestEmbeddedExecWithTypeErrorKeepsTheOtherWrites(t *testing.T) {
	b := openEmbeddedT(t, t.TempDir())
	c := dialR(t, b)
	c.do("HSET", "h", "f", "v")
	var req []byte
	req = appendCommand(req, "MULTI")
	req = appendCommand(req, "SET", "m1", "1")
	req = appendCommand(req, "LPUSH", "h", "x")
	req = appendCommand(req, "SET", "m2", "2")
	req = appendCommand(req, "EXEC")
	c.c.Write(req)
	for i, want := range []string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED",
		"[+OK -WRONGTYPE Operation against a key holding the wrong kind of value +OK]"} {
		if got := c.read(); got != want {
			t.Fatalf("reply %d = %s, want %s", i, got, want)
		}
	}
	if got := dialR(t, b).do("MGET", "m1", "m2"); got != `["1" "2"]` {
		t.Errorf("MGET m1 m2 = %s, want both writes kept", got)
	}
}
