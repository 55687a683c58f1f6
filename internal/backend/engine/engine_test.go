package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// served is an engine serving on a unix socket in its directory.
type served struct {
	*Engine
	dir, sock string
}

func openT(t *testing.T, dir string) *served {
	t.Helper()
	e, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open %s: %v", dir, err)
	}
	sock := filepath.Join(dir, "s.sock")
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go e.Serve(l)
	t.Cleanup(func() { e.Close() })
	return &served{Engine: e, dir: dir, sock: sock}
}

// client is a go-redis client of s (RESP3, as go-redis defaults to).
func (s *served) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// shortDir is a temp dir whose socket path stays under the 108-byte limit.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "eng")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func must(t *testing.T, c *redis.Client, args ...any) any {
	t.Helper()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// dump renders every key of databases 0–15 with its value (sets, sorted sets and hashes in sorted
// order) and, separately, each key's absolute expiry in milliseconds.
func dump(t *testing.T, e *Engine) (string, map[string]int64) {
	t.Helper()
	var b strings.Builder
	exp := map[string]int64{}
	e.wmu.Lock() // the clock does not move meanwhile
	defer e.wmu.Unlock()
	now := e.clock() // TTLs are relative to the engine's clock
	for db := 0; db <= maxDB; db++ {
		d := e.m.DB(db)
		keys := d.Keys()
		slices.Sort(keys)
		for _, k := range keys {
			typ := d.Type(k)
			fmt.Fprintf(&b, "db%d %s %s: ", db, typ, k)
			switch typ {
			case "string":
				v, _ := d.Get(k)
				b.WriteString(strconv.Quote(v))
			case "list":
				v, _ := d.List(k)
				fmt.Fprintf(&b, "%q", v)
			case "set":
				v, _ := d.Members(k)
				slices.Sort(v)
				fmt.Fprintf(&b, "%q", v)
			case "zset":
				v, _ := d.SortedSet(k)
				ms := slices.Sorted(func(yield func(string) bool) {
					for m := range v {
						if !yield(m) {
							return
						}
					}
				})
				for _, m := range ms {
					fmt.Fprintf(&b, "%s=%v ", m, v[m])
				}
			case "hash":
				fs, _ := d.HKeys(k)
				slices.Sort(fs)
				for _, f := range fs {
					fmt.Fprintf(&b, "%s=%q ", f, d.HGet(k, f))
					if ttl := d.HTTL(k, f); ttl > 0 {
						exp[fmt.Sprintf("db%d %s.%s", db, k, f)] = now.Add(ttl).UnixMilli()
					}
				}
			case "stream":
				v, _ := d.Stream(k)
				fmt.Fprintf(&b, "%v %s", v, streamGroups(e, db, k))
			case "hll":
				n, _ := d.HllCount(k)
				fmt.Fprintf(&b, "count=%d", n)
			}
			b.WriteString("\n")
			if ttl := d.TTL(k); ttl > 0 {
				exp[fmt.Sprintf("db%d %s", db, k)] = now.Add(ttl).UnixMilli()
			}
		}
	}
	return b.String(), exp
}

// streamGroups renders a stream's last generated ID and its consumer groups: for each its
// last-delivered ID, consumers and pending entries (ID, consumer, delivery count; not idle times).
func streamGroups(e *Engine, db int, key string) string {
	r := e.reader(db)
	info, _ := r.do("XINFO", "STREAM", key).([]any)
	s := fmt.Sprintf("last-generated-id=%v groups:", field(info, "last-generated-id"))
	groups, _ := r.do("XINFO", "GROUPS", key).([]any)
	var names []string
	for _, g := range groups {
		names = append(names, fmt.Sprint(field(g.([]any), "name")))
	}
	slices.Sort(names)
	for _, g := range names {
		for _, gi := range groups {
			if fmt.Sprint(field(gi.([]any), "name")) == g {
				s += fmt.Sprintf(" %s last=%v pending=%v", g, field(gi.([]any), "last-delivered-id"), field(gi.([]any), "pending"))
			}
		}
		cons, _ := r.do("XINFO", "CONSUMERS", key, g).([]any)
		for _, c := range cons {
			s += fmt.Sprintf(" consumer %v pending=%v", field(c.([]any), "name"), field(c.([]any), "pending"))
		}
		pend, _ := r.do("XPENDING", key, g, "-", "+", "1000000").([]any)
		for _, p := range pend {
			p := p.([]any)
			s += fmt.Sprintf(" [%v %v %v]", p[0], p[1], p[3])
		}
	}
	return s
}

// sameData fails t unless a and b hold the same keys, values and expiries (within 1.5 s: TTLs are
// whole seconds for hash fields).
func sameData(t *testing.T, what string, a, b *Engine) {
	t.Helper()
	da, ea := dump(t, a)
	db, eb := dump(t, b)
	if da != db {
		t.Errorf("%s: data differs\nbefore:\n%s\nafter:\n%s", what, da, db)
	}
	if len(ea) != len(eb) {
		t.Errorf("%s: expiries %v, then %v", what, ea, eb)
	}
	for k, at := range ea {
		if d := eb[k] - at; d < -1500 || d > 1500 {
			t.Errorf("%s: %s expires at %d, then at %d", what, k, at, eb[k])
		}
	}
}

// writeEverything runs, through clients of s, one of each kind of write the log handles.
func writeEverything(t *testing.T, s *served, withUnreadable bool) {
	t.Helper()
	ctx := context.Background()
	c := s.client(t)
	for _, cmd := range [][]any{
		{"SET", "s", "v"}, {"SET", "e", "v", "EX", "1000"}, {"SETEX", "e2", "1000", "v"}, {"INCR", "n"},
		{"INCRBYFLOAT", "f", "1.5"}, {"APPEND", "s", "x"}, {"MSET", "a", "1", "b", "2"}, {"DEL", "b"},
		{"RPUSH", "l", "a", "b", "c"}, {"LPOP", "l"}, {"HSET", "h", "f", "v", "g", "w"},
		{"HEXPIRE", "h", "1000", "FIELDS", "1", "g"}, {"SADD", "st", "a", "b", "c"}, {"SPOP", "st"},
		{"ZADD", "z", "1", "a", "2", "b", "-inf", "m"}, {"ZINCRBY", "z", "3", "a"}, {"XADD", "x", "*", "f", "v"},
		{"XADD", "x", "MAXLEN", "~", "10", "*", "g", "w"}, {"SETBIT", "bits", "3", "1"}, {"EXPIRE", "l", "1000"},
		{"PEXPIREAT", "a", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)}, {"RENAME", "a", "a2"},
		{"SET", "gone", "v", "PX", "30"}, {"GETEX", "s", "EX", "2000"},
		{"EVAL", "redis.call('set', KEYS[1], 'fromlua'); redis.call('rpush', KEYS[2], 'x'); return 1", "2", "lua1", "lua2"},
		{"SET", "big", strings.Repeat("8", 8<<20)},
	} {
		must(t, c, cmd...)
	}
	if withUnreadable {
		must(t, c, "PFADD", "p", "a", "b", "c")
		must(t, c, "XGROUP", "CREATE", "x", "grp", "0")
		must(t, c, "XREADGROUP", "GROUP", "grp", "c1", "COUNT", "1", "STREAMS", "x", ">")
	}
	// A transaction, and one a WATCH aborts (its commands must not reach the log).
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "m1")
		p.Incr(ctx, "m2")
		p.LPush(ctx, "ml", "x")
		p.Expire(ctx, "ml", time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other := s.client(t)
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		must(t, other, "SET", "m1", "changed")
		_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "aborted", "1", 0)
			return nil
		})
		return err
	}, "m1")
	if err != redis.TxFailedErr {
		t.Fatalf("WATCHed transaction: %v, want it aborted", err)
	}
	// A blocked pop served by another client's push.
	popped := make(chan []string, 1)
	go func() {
		v, _ := s.client(t).BLPop(ctx, 5*time.Second, "bq").Result()
		popped <- v
	}()
	time.Sleep(100 * time.Millisecond)
	must(t, other, "RPUSH", "bq", "a", "b")
	if v := <-popped; !slices.Equal(v, []string{"bq", "a"}) {
		t.Fatalf("BLPOP = %q", v)
	}
	// Other databases.
	d2 := redis.NewClient(&redis.Options{Network: "unix", Addr: s.sock, DB: 2, DisableIdentity: true})
	defer d2.Close()
	must(t, d2, "SET", "d2", "v")
	must(t, d2, "SET", "d2b", "v")
	must(t, d2, "MOVE", "d2b", "3")
	time.Sleep(50 * time.Millisecond) // "gone" expires
}

func TestCleanRestartKeepsEveryWrite(t *testing.T) {
	dir := shortDir(t)
	s := openT(t, dir)
	writeEverything(t, s, true)
	if n := must(t, s.client(t), "EXISTS", "aborted", "gone"); n != int64(0) {
		t.Fatalf("EXISTS aborted gone = %v before the restart", n)
	}
	before, _ := dump(t, s.Engine)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s2 := openT(t, dir)
	sameData(t, "after Close and Open", s.Engine, s2.Engine)
	after, _ := dump(t, s2.Engine)
	if after != before {
		t.Errorf("data after the restart differs from before Close")
	}
	for _, want := range []string{`db0 string lua1: "fromlua"`, `db0 list bq: ["b"]`, `db2 string d2: "v"`, `db3 string d2b: "v"`,
		`db0 hash h: f="v" g="w"`, `db0 string m1: "changed"`, "db0 string p: ", "groups: grp last=", "consumer c1 pending=1"} {
		if !strings.Contains(after, want) {
			t.Errorf("after the restart: no %q in\n%.2000s", want, after)
		}
	}
}

func TestRewriteShrinksTheLogAndKeepsTheData(t *testing.T) {
	dir := shortDir(t)
	s := openT(t, dir)
	writeEverything(t, s, false)
	c := s.client(t)
	for i := range 2000 {
		must(t, c, "SET", "counter", strconv.Itoa(i))
	}
	if err := s.log.sync(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, LogFile))
	before := fi.Size()
	s.rewrite()
	fi, _ = os.Stat(filepath.Join(dir, LogFile))
	if fi.Size() >= before-2000*20 {
		t.Errorf("log %d bytes before the rewrite, %d after: want it smaller by the 2,000 SETs of one key", before, fi.Size())
	}
	// Writes after the rewrite go to the new log.
	must(t, c, "SET", "after", "rewrite")
	must(t, c, "RPUSH", "l", "z")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir)
	sameData(t, "after a rewrite and a restart", s.Engine, s2.Engine)
	if got := must(t, s2.client(t), "GET", "counter"); got != "1999" {
		t.Errorf("GET counter = %v", got)
	}
}

// A log cut in the middle of a unit (a crash during the write) loads up to the last whole unit and
// is truncated there, so that the next writes follow whole units.
func TestCutShortLogLoadsWholeUnits(t *testing.T) {
	dir := shortDir(t)
	s := openT(t, dir)
	c := s.client(t)
	must(t, c, "SET", "a", "1")
	ctx := context.Background()
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "b", "2", 0)
		p.Set(ctx, "c", "3", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, LogFile)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside the MULTI unit: after its first SET, before EXEC.
	cut := strings.Index(string(whole), "MULTI")
	cut = strings.Index(string(whole[cut:]), "$1\r\nc") + cut
	if err := os.WriteFile(path, whole[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir)
	c2 := s2.client(t)
	if got := must(t, c2, "MGET", "a", "b", "c"); fmt.Sprint(got) != "[1 <nil> <nil>]" {
		t.Errorf("MGET a b c = %v: want a only (the transaction was cut short)", got)
	}
	fi, _ := os.Stat(path)
	if off := strings.Index(string(whole), "*1\r\n$5\r\nMULTI"); fi.Size() != int64(off) {
		t.Errorf("log is %d bytes, want it truncated to %d (before the cut unit)", fi.Size(), off)
	}
	must(t, c2, "SET", "d", "4")
	s2.Close()
	s3 := openT(t, dir)
	if got := must(t, s3.client(t), "MGET", "a", "d"); fmt.Sprint(got) != "[1 4]" {
		t.Errorf("after writing past the truncation: MGET a d = %v", got)
	}
}
