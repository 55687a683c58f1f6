package gateway_test

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Replies of any shape and size pass unchanged (issue 18 item 4): the same commands sent to
// redis-server directly and through moat get byte-identical replies, on a shared lane and on a
// dedicated one, and the connection goes on serving after each.

// shapeScripts are scripts whose replies Redis's own tests exercise, or that reach the extremes.
var shapeScripts = []struct {
	name, script string
	want         func() string // the reply, when it is too long to parse quickly under -race
}{
	// Redis's "Script return recursive object": a table holding itself nests until the Lua stack limit,
	// then Redis ends the reply with an error deep inside.
	{"recursive object", "local a = {}; local b = {a}; a[1] = b; return a", nil},
	// Redis's "Script check unpack with massive arguments".
	{"unpack with massive arguments", "local a = {} for i=1,7999 do a[i] = 1 end return redis.call('lpush', 'l', unpack(a))", nil},
	{"a million elements", "local t = {} for i=1,1000000 do t[i] = i end return t", millionInts},
	{"RESP3 types", "redis.setresp(3) return {{big_number='123456789012345678901234567890'}, " +
		"{verbatim_string={format='txt', string='hello'}}, {double=3.5}, {map={a=1}}, {set={x=true}}, {true}}", nil},
}

func TestRepliesOfAnyShapePassUnchanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	shared := dial(t, e.addr, "127.0.0.2")
	dedicated := dial(t, e.addr, "127.0.0.3")
	mustDo(t, dedicated, "+OK\r\n", "SELECT", "0") // moves it to its own backend connection
	for _, proto := range []string{"2", "3"} {
		hello := func(c *client) {
			if got := c.do("HELLO", proto); !strings.HasPrefix(got, "*") && !strings.HasPrefix(got, "%") {
				t.Fatalf("HELLO %s: %q", proto, truncate(got))
			}
		}
		hello(direct)
		hello(shared)
		hello(dedicated)
		for _, sc := range shapeScripts {
			direct.do("DEL", "l")
			var want string
			if sc.want != nil {
				want = sc.want()
				direct.send(cmd("EVAL", sc.script, "0"))
				if got := direct.readN(len(want)); got != want {
					t.Fatalf("RESP%s %s, directly: %q", proto, sc.name, truncate(got))
				}
			} else {
				want = direct.do("EVAL", sc.script, "0")
			}
			for name, c := range map[string]*client{"shared": shared, "dedicated": dedicated} {
				c.do("DEL", "l")
				// Read as many bytes as the backend's reply, at the speed of the socket: a shared-lane
				// client that reads a long reply slowly is cut off (README, Relay), as -race would make this
				// one if it parsed a million frames.
				c.send(cmd("EVAL", sc.script, "0"))
				if got := c.readN(len(want)); got != want {
					t.Errorf("RESP%s %s, %s lane: %d bytes %q, want the backend's %d bytes %q", proto, sc.name, name,
						len(got), truncate(got), len(want), truncate(want))
				}
				mustDo(t, c, "+PONG\r\n", "PING")
			}
		}
	}
}

// readN reads exactly n bytes off the connection, within replyTimeout and two seconds more per MiB (a
// loaded machine under -race moves a few MiB a second).
func (c *client) readN(n int) string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(replyTimeout + time.Duration(n>>20)*2*time.Second))
	buf := make([]byte, n)
	if k, err := io.ReadFull(c.br, buf); err != nil {
		c.t.Fatalf("read %d of %d bytes: %v", k, n, err)
	}
	return string(buf)
}

// millionInts is Redis's reply to a Lua script returning the integers 1 to 1,000,000.
func millionInts() string {
	var b strings.Builder
	b.WriteString("*1000000\r\n")
	for i := 1; i <= 1000000; i++ {
		b.WriteString(":" + strconv.Itoa(i) + "\r\n")
	}
	return b.String()
}

// SYNC through moat, as Redis's tests attach to the replication stream: the RDB payload (a bulk
// without its closing CRLF) and then the write commands come through as the backend sends them.
func TestSyncStreamsReplication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	w := dial(t, e.addr, "127.0.0.2")
	repl := dial(t, e.addr, "127.0.0.3")
	repl.send("SYNC\r\n")
	repl.c.SetReadDeadline(time.Now().Add(replyTimeout))
	var head string
	for head == "" || head == "\n" { // newlines keep the connection alive while the RDB is made
		line, err := repl.br.ReadString('\n')
		if err != nil {
			t.Fatalf("SYNC: %v", err)
		}
		head = line
	}
	if !strings.HasPrefix(head, "$") {
		t.Fatalf("SYNC: %q, want the RDB's length", head)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		t.Fatalf("SYNC: %q", head)
	}
	if rdb := repl.readN(n); !strings.HasPrefix(rdb, "REDIS") {
		t.Fatalf("RDB payload starts %q", truncate(rdb))
	}
	mustDo(t, w, "+OK\r\n", "SET", "k", "v")
	for { // the stream: SELECT, then the SET (PINGs may come between)
		got := repl.readReply()
		if got == array(bulk("SET"), bulk("k"), bulk("v")) || got == array(bulk("set"), bulk("k"), bulk("v")) {
			break
		}
	}
}
