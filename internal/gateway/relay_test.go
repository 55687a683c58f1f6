package gateway_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A pipeline written in one go is answered completely and in order.
func TestPipelineInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")

	const n = 10000 // commands: n/2 SET, n/2 GET, interleaved
	var b strings.Builder
	for i := 0; i < n/2; i++ {
		k := "key:" + strconv.Itoa(i)
		b.WriteString(cmd("SET", k, "value-"+strconv.Itoa(i*7)))
		b.WriteString(cmd("GET", k))
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.c.Write([]byte(b.String())) // one write; replies are read meanwhile
		sent <- err
	}()
	for i := 0; i < n/2; i++ {
		if got := c.readReply(); got != "+OK\r\n" {
			t.Fatalf("reply %d (SET key:%d): %q, want +OK", 2*i, i, got)
		}
		if got, want := c.readReply(), bulk("value-"+strconv.Itoa(i*7)); got != want {
			t.Fatalf("reply %d (GET key:%d): %q, want %q", 2*i+1, i, got, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("write pipeline: %v", err)
	}
	c.expectNothing(50 * time.Millisecond)
	if got := c.do("DBSIZE"); got != ":"+strconv.Itoa(n/2)+"\r\n" {
		t.Fatalf("DBSIZE %q, want %d", got, n/2)
	}
	// The counter is bumped after the flush to the backend, so the last reply may overtake it.
	forwarded := func() float64 {
		return e.counter("moat_commands_forwarded_total", map[string]string{"instance": "r-test"})
	}
	if !eventually(time.Second, func() bool { return forwarded() == n+1 }) {
		t.Errorf("moat_commands_forwarded_total = %v, want %d", forwarded(), n+1)
	}
}

func TestMultiExec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	c.send(cmd("MULTI") + cmd("SET", "n", "10") + cmd("INCR", "n") + cmd("GET", "n") + cmd("EXEC"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n", array("+OK\r\n", ":11\r\n", bulk("11"))} {
		c.expect(want)
	}
	// DISCARD drops the queue; errors inside MULTI abort EXEC.
	c.send(cmd("MULTI") + cmd("INCR", "n") + cmd("DISCARD") + cmd("GET", "n"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+OK\r\n", bulk("11")} {
		c.expect(want)
	}
	c.send(cmd("MULTI") + cmd("NOSUCHCOMMAND") + cmd("EXEC"))
	c.expect("+OK\r\n")
	if got := c.readReply(); !strings.HasPrefix(got, "-ERR unknown command") {
		t.Fatalf("unknown command in MULTI: %q", got)
	}
	if got := c.readReply(); !strings.HasPrefix(got, "-EXECABORT") {
		t.Fatalf("EXEC after an error: %q", got)
	}
}

func TestWatchAbortsOnConcurrentChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	a := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	if got := a.do("SET", "balance", "100"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	a.send(cmd("WATCH", "balance") + cmd("GET", "balance") + cmd("MULTI") + cmd("SET", "balance", "90"))
	for _, want := range []string{"+OK\r\n", bulk("100"), "+OK\r\n", "+QUEUED\r\n"} {
		a.expect(want)
	}
	if got := b.do("SET", "balance", "50"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	a.send(cmd("EXEC"))
	a.expect("*-1\r\n")
	if got := a.do("GET", "balance"); got != bulk("50") {
		t.Fatalf("GET balance %q, want the other client's 50", got)
	}
	// Without interference the same transaction commits.
	a.send(cmd("WATCH", "balance") + cmd("MULTI") + cmd("DECRBY", "balance", "10") + cmd("EXEC"))
	for _, want := range []string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", array(":40\r\n")} {
		a.expect(want)
	}
}

func TestSelectIsPerConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	a := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	a.send(cmd("SELECT", "2") + cmd("SET", "where", "db2"))
	a.expect("+OK\r\n")
	a.expect("+OK\r\n")
	if got := b.do("GET", "where"); got != "$-1\r\n" {
		t.Fatalf("other connection (db 0) sees %q, want nil", got)
	}
	if got := b.do("SET", "where", "db0"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := a.do("GET", "where"); got != bulk("db2") {
		t.Fatalf("db 2 connection GET %q, want db2", got)
	}
	// A new connection starts in the backend's database, whatever others selected.
	c := dial(t, e.addr, "127.0.0.4")
	if got := c.do("GET", "where"); got != bulk("db0") {
		t.Fatalf("new connection GET %q, want db0", got)
	}
}

func TestBlockingPopWakesOnPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	a := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	a.send(cmd("BLPOP", "jobs", "5"))
	a.expectNothing(150 * time.Millisecond) // blocked
	if got := b.do("LPUSH", "jobs", "job-1"); got != ":1\r\n" {
		t.Fatalf("LPUSH %q", got)
	}
	a.expect(array(bulk("jobs"), bulk("job-1")))
	// The connection is usable afterwards, and a timed-out BLPOP gets its nil.
	a.send(cmd("BLPOP", "jobs", "0.1") + cmd("PING"))
	a.expect("*-1\r\n")
	a.expect("+PONG\r\n")
}

func TestPubSubRESP2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	sub := dial(t, e.addr, "127.0.0.2")
	pub := dial(t, e.addr, "127.0.0.3")

	sub.send(cmd("SUBSCRIBE", "ch1", "ch2"))
	sub.expect(array(bulk("subscribe"), bulk("ch1"), ":1\r\n"))
	sub.expect(array(bulk("subscribe"), bulk("ch2"), ":2\r\n"))

	if got := pub.do("PUBLISH", "ch1", "hello"); got != ":1\r\n" {
		t.Fatalf("PUBLISH ch1: %q, want 1 receiver", got)
	}
	sub.expect(array(bulk("message"), bulk("ch1"), bulk("hello")))
	if got := pub.do("PUBLISH", "ch2", "world"); got != ":1\r\n" {
		t.Fatalf("PUBLISH ch2: %q", got)
	}
	sub.expect(array(bulk("message"), bulk("ch2"), bulk("world")))

	// PING in subscribed mode (RESP2) is the two-element array.
	sub.send(cmd("PING"))
	sub.expect(array(bulk("pong"), bulk("")))
	sub.send(cmd("PING", "hi"))
	sub.expect(array(bulk("pong"), bulk("hi")))

	sub.send(cmd("PSUBSCRIBE", "news.*"))
	sub.expect(array(bulk("psubscribe"), bulk("news.*"), ":3\r\n"))
	if got := pub.do("PUBLISH", "news.tech", "go"); got != ":1\r\n" {
		t.Fatalf("PUBLISH news.tech: %q", got)
	}
	sub.expect(array(bulk("pmessage"), bulk("news.*"), bulk("news.tech"), bulk("go")))

	// Messages published while a command's replies are owed are delivered, and the replies still match.
	pub.send(cmd("PUBLISH", "ch1", "m1") + cmd("PUBLISH", "ch2", "m2"))
	pub.expect(":1\r\n")
	pub.expect(":1\r\n")
	sub.send(cmd("PING", "after"))
	var gotMsgs []string
	for len(gotMsgs) < 3 {
		r := sub.readReply()
		gotMsgs = append(gotMsgs, r)
		if r == array(bulk("pong"), bulk("after")) {
			break
		}
	}
	if want := []string{
		array(bulk("message"), bulk("ch1"), bulk("m1")),
		array(bulk("message"), bulk("ch2"), bulk("m2")),
		array(bulk("pong"), bulk("after")),
	}; strings.Join(gotMsgs, "") != strings.Join(want, "") {
		t.Fatalf("frames %q, want %q", gotMsgs, want)
	}

	// UNSUBSCRIBE with no arguments: one confirmation per channel, the count falling to the patterns left.
	sub.send(cmd("UNSUBSCRIBE"))
	seen := map[string]bool{}
	for i, left := range []string{":2\r\n", ":1\r\n"} {
		r := sub.readReply()
		var ch string
		switch r {
		case array(bulk("unsubscribe"), bulk("ch1"), left):
			ch = "ch1"
		case array(bulk("unsubscribe"), bulk("ch2"), left):
			ch = "ch2"
		default:
			t.Fatalf("unsubscribe confirmation %d: %q", i, r)
		}
		if seen[ch] {
			t.Fatalf("channel %s confirmed twice", ch)
		}
		seen[ch] = true
	}
	// The next command's reply is its own, not a stray confirmation.
	sub.send(cmd("PUNSUBSCRIBE"))
	sub.expect(array(bulk("punsubscribe"), bulk("news.*"), ":0\r\n"))
	// Out of subscribed mode, ordinary commands work again.
	if got := sub.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET after unsubscribing: %q", got)
	}
	if got := sub.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after unsubscribing: %q", got)
	}
	// UNSUBSCRIBE when subscribed to nothing: one confirmation with a nil channel.
	sub.send(cmd("UNSUBSCRIBE") + cmd("PING"))
	sub.expect(array(bulk("unsubscribe"), "$-1\r\n", ":0\r\n"))
	sub.expect("+PONG\r\n")
	if got := pub.do("PUBLISH", "ch1", "nobody"); got != ":0\r\n" {
		t.Fatalf("PUBLISH after unsubscribe: %q, want 0 receivers", got)
	}
}

func TestPubSubPipelined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	sub := dial(t, e.addr, "127.0.0.2")
	// Subscribe, then unsubscribe everything and run a command, all in one write.
	sub.send(cmd("SUBSCRIBE", "a", "b", "c") + cmd("PSUBSCRIBE", "p*") + cmd("UNSUBSCRIBE") + cmd("PUNSUBSCRIBE") + cmd("GET", "x"))
	sub.expect(array(bulk("subscribe"), bulk("a"), ":1\r\n"))
	sub.expect(array(bulk("subscribe"), bulk("b"), ":2\r\n"))
	sub.expect(array(bulk("subscribe"), bulk("c"), ":3\r\n"))
	sub.expect(array(bulk("psubscribe"), bulk("p*"), ":4\r\n"))
	for i := 0; i < 3; i++ {
		if r := sub.readReply(); !strings.HasPrefix(r, "*3\r\n"+bulk("unsubscribe")) || !strings.HasSuffix(r, ":"+strconv.Itoa(3-i)+"\r\n") {
			t.Fatalf("unsubscribe confirmation %d: %q", i, r)
		}
	}
	sub.expect(array(bulk("punsubscribe"), bulk("p*"), ":0\r\n"))
	sub.expect("$-1\r\n")
}

func TestPubSubRESP3(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	sub := dial(t, e.addr, "127.0.0.2")
	pub := dial(t, e.addr, "127.0.0.3")

	hello := sub.do("HELLO", "3")
	if !strings.HasPrefix(hello, "%") || !strings.Contains(hello, bulk("proto")+":3\r\n") {
		t.Fatalf("HELLO 3: %q, want a map with proto 3", hello)
	}
	if got := sub.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	sub.send(cmd("SUBSCRIBE", "ch1", "ch2"))
	sub.expect(push(bulk("subscribe"), bulk("ch1"), ":1\r\n"))
	sub.expect(push(bulk("subscribe"), bulk("ch2"), ":2\r\n"))
	if got := pub.do("PUBLISH", "ch2", "hello"); got != ":1\r\n" {
		t.Fatalf("PUBLISH: %q", got)
	}
	sub.expect(push(bulk("message"), bulk("ch2"), bulk("hello")))

	// RESP3 allows every command while subscribed; replies after pushes are still matched right.
	if got := sub.do("GET", "k"); got != bulk("v") {
		t.Fatalf("GET while subscribed: %q", got)
	}
	if got := pub.do("PUBLISH", "ch1", "m"); got != ":1\r\n" {
		t.Fatalf("PUBLISH: %q", got)
	}
	sub.send(cmd("GET", "k"))
	sub.expect(push(bulk("message"), bulk("ch1"), bulk("m")))
	sub.expect(bulk("v"))
	sub.send(cmd("PING"))
	sub.expect("+PONG\r\n")
	sub.send(cmd("HGETALL", "nohash"))
	sub.expect("%0\r\n")

	sub.send(cmd("UNSUBSCRIBE", "ch1") + cmd("GET", "missing"))
	sub.expect(push(bulk("unsubscribe"), bulk("ch1"), ":1\r\n"))
	sub.expect("_\r\n")

	// Back to RESP2 on the same connection.
	if got := sub.do("HELLO", "2"); !strings.HasPrefix(got, "*") {
		t.Fatalf("HELLO 2: %q, want an array", got)
	}
	sub.send(cmd("UNSUBSCRIBE"))
	sub.expect(array(bulk("unsubscribe"), bulk("ch2"), ":0\r\n"))
	if got := sub.do("GET", "missing"); got != "$-1\r\n" {
		t.Fatalf("GET in RESP2: %q", got)
	}
}

func TestClientSetName(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	a := dial(t, e.addr, "127.0.0.2")
	b := dial(t, e.addr, "127.0.0.3")
	if got := a.do("CLIENT", "SETNAME", "worker-a"); got != "+OK\r\n" {
		t.Fatalf("CLIENT SETNAME: %q", got)
	}
	if got := a.do("CLIENT", "GETNAME"); got != bulk("worker-a") {
		t.Fatalf("CLIENT GETNAME: %q", got)
	}
	if got := b.do("CLIENT", "GETNAME"); got != "$-1\r\n" {
		t.Fatalf("other connection's CLIENT GETNAME: %q, want nil", got)
	}
}

func TestClientReply(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")

	c.send(cmd("CLIENT", "REPLY", "OFF") + cmd("SET", "a", "1") + cmd("INCR", "a") + cmd("GET", "a") + cmd("NOSUCH"))
	c.expectNothing(200 * time.Millisecond)
	c.send(cmd("CLIENT", "REPLY", "ON") + cmd("GET", "a"))
	c.expect("+OK\r\n")
	c.expect(bulk("2"))

	c.send(cmd("CLIENT", "REPLY", "SKIP") + cmd("SET", "b", "x") + cmd("GET", "b") + cmd("PING"))
	c.expect(bulk("x"))
	c.expect("+PONG\r\n")

	// Separate writes: the reply-less commands must not leave the pump waiting for a reply.
	c.send(cmd("CLIENT", "REPLY", "OFF"))
	c.send(cmd("SET", "c", "1"))
	c.expectNothing(100 * time.Millisecond)
	c.send(cmd("CLIENT", "REPLY", "ON"))
	c.expect("+OK\r\n")
	if got := c.do("GET", "c"); got != bulk("1") {
		t.Fatalf("GET c: %q", got)
	}
	c.expectNothing(50 * time.Millisecond)
}

func TestMonitorSeesOtherConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	mon := dial(t, e.addr, "127.0.0.2")
	other := dial(t, e.addr, "127.0.0.3")
	if got := mon.do("MONITOR"); got != "+OK\r\n" {
		t.Fatalf("MONITOR: %q", got)
	}
	if got := other.do("SET", "watched-key", "42"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	deadline := time.Now().Add(replyTimeout)
	for {
		line := mon.readReply()
		if !strings.HasPrefix(line, "+") || line[1] < '0' || line[1] > '9' {
			t.Fatalf("monitor line %q: want +<timestamp> …", line)
		}
		if strings.Contains(line, `"SET" "watched-key" "42"`) || strings.Contains(line, `"set" "watched-key" "42"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("monitor never showed the other client's SET")
		}
	}
	// QUIT on the monitoring connection is answered in order and closes it.
	mon.send(cmd("QUIT"))
	for {
		r := mon.readReply()
		if r == "+OK\r\n" {
			break
		}
		if !strings.HasPrefix(r, "+") || r[1] < '0' || r[1] > '9' {
			t.Fatalf("after QUIT on a monitor: %q", r)
		}
	}
	mon.expectEOF(replyTimeout)
}

func TestInlineCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	c.send("PING\r\n")
	c.expect("+PONG\r\n")
	c.send("SET k \"a b\"\r\n")
	c.expect("+OK\r\n")
	c.send("GET k\r\n")
	c.expect(bulk("a b"))
	// Escapes, single quotes, bare LF, empty lines, and inline mixed with multibulk in one write.
	c.send("SET q 'it\\'s'\n\r\n\nGET q\r\n" + cmd("APPEND", "q", "!") + "set x \"\\x41\\tb\"\r\nget x\r\n")
	c.expect("+OK\r\n")
	c.expect(bulk("it's"))
	c.expect(":5\r\n")
	c.expect("+OK\r\n")
	c.expect(bulk("A\tb"))
}

func TestQuitAnswersPipelineFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	c.send(cmd("SET", "k", "v") + cmd("GET", "k") + cmd("BLPOP", "empty", "0.2") + cmd("QUIT") + cmd("SET", "k", "after-quit"))
	c.expect("+OK\r\n")
	c.expect(bulk("v"))
	c.expect("*-1\r\n")
	c.expect("+OK\r\n")
	c.expectEOF(replyTimeout)

	d := dial(t, e.addr, "127.0.0.3")
	if got := d.do("GET", "k"); got != bulk("v") {
		t.Fatalf("GET k: %q, want v (commands after QUIT must not run)", got)
	}
	d.send("QUIT\r\n")
	d.expect("+OK\r\n")
	d.expectEOF(replyTimeout)
	if !eventually(2*time.Second, func() bool {
		return e.counter("moat_connections_active", map[string]string{"instance": "r-test"}) == 0
	}) {
		t.Errorf("moat_connections_active = %v after every client quit, want 0",
			e.counter("moat_connections_active", map[string]string{"instance": "r-test"}))
	}
}

// A client that ends its input after a pipeline (printf … | nc) still gets every reply, then EOF, as
// from Redis itself. A command still blocked when the client hangs up is dropped, as Redis drops it: it
// must not consume a later push.
func TestHalfCloseAnswersPipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	for i := 0; i < 20; i++ {
		c := dial(t, e.addr, "127.0.0.2")
		c.send("PING\r\n" + cmd("SET", "k", strconv.Itoa(i)) + cmd("GET", "k"))
		if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.expect("+PONG\r\n")
		c.expect("+OK\r\n")
		c.expect(bulk(strconv.Itoa(i)))
		c.expectEOF(replyTimeout)
	}

	blocked := dial(t, e.addr, "127.0.0.2")
	blocked.send(cmd("BLPOP", "queue", "0"))
	blocked.expectNothing(100 * time.Millisecond)
	if err := blocked.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	blocked.expectEOF(3 * time.Second)
	other := dial(t, e.addr, "127.0.0.3")
	if got := other.do("RPUSH", "queue", "item"); got != ":1\r\n" {
		t.Fatalf("RPUSH: %q", got)
	}
	if got := other.do("LLEN", "queue"); got != ":1\r\n" {
		t.Fatalf("LLEN queue after the blocked client hung up: %q, want 1 (nobody popped it)", got)
	}
	if got := e.counter("moat_backend_errors_total", map[string]string{"instance": "r-test", "kind": "io"}); got != 0 {
		t.Errorf("moat_backend_errors_total{kind=io} = %v after clients hung up, want 0", got)
	}
}
