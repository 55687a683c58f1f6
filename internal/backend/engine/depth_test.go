package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// A script's reply nested past Redis's limit is answered "-ERR reached lua stack limit" and the engine
// goes on serving, also for a table that holds itself and inside MULTI; nesting within the limit is
// served whole. (Without the limit the library's recursion overflowed the goroutine's stack, which
// ends the process.)
func TestDeepScriptRepliesAreCut(t *testing.T) {
	s := openT(t, shortDir(t))
	c := s.client(t)
	ctx := context.Background()
	nest := func(n string) string { return "local t={} for i=1," + n + " do t={t} end return t" }
	for _, script := range []string{
		nest("100000"),
		nest("8001"), // the last levels in the writer's last write: cut while the library holds its lock
		nest("8003"),
		"local t={} t[1]=t return t", // never ends
		"local t={1,2} for i=1,100000 do t={i,t,'x'} end return t",
		"redis.setresp(3) local t={} for i=1,100000 do t={t} end return t",
	} {
		err := c.Do(ctx, "EVAL", script, "0").Err()
		if err == nil || err.Error() != "ERR reached lua stack limit" {
			t.Errorf("%q: %v", script, err)
		}
		if got := must(t, c, "PING"); got != "PONG" {
			t.Fatalf("PING after %q: %v", script, got)
		}
	}
	v, err := c.Do(ctx, "EVAL", nest("5000"), "0").Result()
	for depth := 0; depth < 4999; depth++ { // within the limit: the whole reply
		a, ok := v.([]any)
		if err != nil || !ok || len(a) != 1 {
			t.Fatalf("5,000 deep: at %d %#v, %v", depth, v, err)
		}
		v = a[0]
	}
	// In MULTI: the commands before the script ran (and are logged), the transaction ends there: the
	// ones after it neither run nor reach the log.
	must(t, c, "SET", "kept", "1")
	pipe := c.TxPipeline()
	pipe.Set(ctx, "before", "1", 0)
	pipe.Eval(ctx, "redis.call('set','inside','1') "+nest("100000"), nil)
	pipe.Set(ctx, "after", "1", 0)
	pipe.Del(ctx, "kept")
	_, err = pipe.Exec(ctx)
	if err == nil || !strings.Contains(err.Error(), "reached lua stack limit") {
		t.Errorf("EXEC: %v", err)
	}
	if n := must(t, c, "EXISTS", "before", "inside", "after", "kept"); n != int64(3) {
		t.Errorf("EXISTS before inside after kept: %v, want 3", n)
	}
	if got := must(t, c, "SET", "later", "1"); got != "OK" { // not still in MULTI
		t.Fatalf("SET after the cut EXEC: %v", got)
	}
	s.Close()
	r := openT(t, s.dir)
	// "inside" is gone: a script's writes to keys it does not declare are not logged (doc.go).
	if n := must(t, r.client(t), "EXISTS", "before", "after", "later", "kept"); n != int64(3) {
		t.Errorf("after a restart, EXISTS before after later kept: %v, want 3", n)
	}
}

// replyDepth counts aggregates, not bytes that look like them: a blob's body, a status line, a map's
// pairs and empty or null aggregates, however the writes cut them.
func TestReplyDepthFollowsTheProtocol(t *testing.T) {
	deep := func(n int, inner string) string { return strings.Repeat("*1\r\n", n) + inner }
	for _, tc := range []struct {
		name  string
		reply string
		want  bool
	}{
		{"at the limit", deep(maxReplyDepth, ":1\r\n"), false},
		{"past it", deep(maxReplyDepth+1, ":1\r\n"), true},
		{"a blob that looks deep", "$" + strconv.Itoa(len(deep(maxReplyDepth+1, ""))) + "\r\n" + deep(maxReplyDepth+1, "") + "\r\n", false},
		{"a status that looks deep", "+" + strings.Repeat("*1", maxReplyDepth+1) + "\r\n", false},
		{"siblings, not nesting", "*" + strconv.Itoa(maxReplyDepth+1) + "\r\n" + strings.Repeat("*0\r\n", maxReplyDepth+1), false},
		{"null arrays close", strings.Repeat("*2\r\n*-1\r\n", maxReplyDepth) + ":1\r\n", false},
		{"maps nest", strings.Repeat("%1\r\n+k\r\n", maxReplyDepth+1) + "_\r\n", true},
		{"one reply after another", strings.Repeat(deep(maxReplyDepth, ":1\r\n"), 3), false},
	} {
		for _, cut := range []int{1, 2, 3, 7, 4096, len(tc.reply)} {
			d, got := &replyDepth{}, false
			for b := []byte(tc.reply); len(b) > 0 && !got; {
				n := min(cut, len(b))
				got, b = d.feed(b[:n]), b[n:]
			}
			if got != tc.want {
				t.Errorf("%s, writes of %d bytes: %v, want %v", tc.name, cut, got, tc.want)
			}
		}
	}
}

// FuzzReplyDepth: any bytes, cut anywhere, give the same answer as in one write, and nothing panics.
func FuzzReplyDepth(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n*1\r\n:1\r\n"), 5)
	f.Add([]byte("$-1\r\n*-1\r\n=5\r\ntxt:x\r\n~1\r\n#t\r\n"), 9)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		whole := (&replyDepth{}).feed(b)
		d := &replyDepth{}
		split := d.feed(b[:cut]) || d.feed(b[cut:])
		if whole != split {
			t.Errorf("%q cut at %d: %v, whole %v", b, cut, split, whole)
		}
	})
}

// A panic of the library's own while it answers a script (here: a Lua function, which it cannot
// convert) is an error reply, alone and inside MULTI, and the engine goes on serving every client: the
// library's lock, held then, is released.
func TestScriptTheLibraryCannotAnswer(t *testing.T) {
	s := openT(t, shortDir(t))
	c, other := s.client(t), s.client(t)
	ctx := context.Background()
	if err := c.Do(ctx, "EVAL", "return {print}", "0").Err(); err == nil || !strings.Contains(err.Error(), "could not answer this script") {
		t.Errorf("EVAL returning a function: %v", err)
	}
	if got := must(t, other, "SET", "k", "v"); got != "OK" {
		t.Fatalf("another client after it: %v", got)
	}
	pipe := c.TxPipeline()
	pipe.Set(ctx, "tx1", "1", 0)
	pipe.Eval(ctx, "return {print}", nil)
	pipe.Set(ctx, "tx2", "1", 0)
	if _, err := pipe.Exec(ctx); err == nil || !strings.Contains(err.Error(), "could not answer this script") {
		t.Errorf("EXEC: %v", err)
	}
	if n := must(t, other, "EXISTS", "tx1", "tx2"); n != int64(1) {
		t.Errorf("EXISTS tx1 tx2: %v, want 1 (the transaction ended at the script)", n)
	}
	if got := must(t, c, "GET", "k"); got != "v" {
		t.Errorf("GET k on the first client: %v", got)
	}
}
