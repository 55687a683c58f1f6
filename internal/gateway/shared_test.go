package gateway_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The shared lane (lane.go, lanesend.go, inbox.go): sessions start on a few shared backend connections
// and move, for good, to one of their own before a command that needs connection state.

// skipWithoutLanes skips a test about the shared lane when the package runs with the dedicated lane
// alone (MOAT_TEST_SHARED_LANES=0).
func skipWithoutLanes(t *testing.T) {
	t.Helper()
	if testLanes == 0 {
		t.Skip("shared lanes are off (MOAT_TEST_SHARED_LANES=0)")
	}
}

// sharedSnap is the loopback snapshot with n shared lanes per protocol.
func sharedSnap(t *testing.T, n int) *env {
	t.Helper()
	snap := allowLoopback(t)
	snap.SharedLanes = n
	return newEnv(t, snap)
}

// movedDedicated is moat_sessions_moved_dedicated_total.
func (e *env) movedDedicated() float64 {
	return e.counter("moat_sessions_moved_dedicated_total", map[string]string{"instance": "r-test"})
}

// activeConns is moat_connections_active.
func (e *env) activeConns() float64 {
	return e.counter("moat_connections_active", map[string]string{"instance": "r-test"})
}

// backendClients returns redis-server's clients, asked directly with CLIENT LIST, as field maps, without
// the asking connection.
func backendClients(t *testing.T, e *env) []map[string]string {
	t.Helper()
	admin := dial(t, e.srv.Addr, "127.0.0.1") // redis-server's protected mode trusts only 127.0.0.1
	defer admin.c.Close()
	id := clientID(t, admin)
	var out []map[string]string
	for _, line := range strings.Split(admin.do("CLIENT", "LIST"), "\n") {
		line = strings.TrimSpace(line)
		if !strings.Contains(line, " addr=") {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["id"] != id {
			out = append(out, f)
		}
	}
	return out
}

// countResp counts the clients speaking protocol resp ("2" or "3").
func countResp(clients []map[string]string, resp string) int {
	n := 0
	for _, c := range clients {
		if c["resp"] == resp {
			n++
		}
	}
	return n
}

// sendErr writes raw on c without failing the test, for goroutines.
func sendErr(c *client, raw string) error {
	c.c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, err := io.WriteString(c.c, raw)
	return err
}

// expectErr reads one reply and compares it with want, without failing the test, for goroutines.
func expectErr(c *client, want string) error {
	got, err := c.readReplyErr(replyTimeout)
	if err != nil {
		return fmt.Errorf("read reply (want %q): %v (got %q so far)", truncate(want), err, truncate(got))
	}
	if got != want {
		return fmt.Errorf("reply %q, want %q", truncate(got), truncate(want))
	}
	return nil
}

// scriptErr dials addr from from, sends raw in one write and reads one reply per want, in order.
func scriptErr(addr, from, raw string, want []string) error {
	c, err := dialErr(addr, from)
	if err != nil {
		return err
	}
	defer c.c.Close()
	if err := sendErr(c, raw); err != nil {
		return err
	}
	for i, w := range want {
		if err := expectErr(c, w); err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
	}
	return nil
}

// Twenty clients running pipelines at once are all served over the two shared backend connections:
// redis-server sees no other connection, and nobody moved to a dedicated one.
func TestSharedManyClientsFewConnections(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := sharedSnap(t, 2)

	const clients, commands, batch = 20, 200, 10
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = dial(t, e.addr, "127.0.0."+strconv.Itoa(2+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{}) // every client starts at once
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			prefix := "many:" + strconv.Itoa(i) + ":"
			incr := 0
			for m := 0; m < commands; m += batch {
				var raw strings.Builder
				var want []string
				for j := m; j < m+batch; j++ {
					switch j % 3 {
					case 0:
						raw.WriteString(cmd("SET", prefix+strconv.Itoa(j), "value-"+strconv.Itoa(i)+"-"+strconv.Itoa(j)))
						want = append(want, "+OK\r\n")
					case 1:
						raw.WriteString(cmd("GET", prefix+strconv.Itoa(j-1)))
						want = append(want, bulk("value-"+strconv.Itoa(i)+"-"+strconv.Itoa(j-1)))
					case 2:
						incr++
						raw.WriteString(cmd("INCR", prefix+"n"))
						want = append(want, ":"+strconv.Itoa(incr)+"\r\n")
					}
				}
				if err := sendErr(c, raw.String()); err != nil {
					errs <- fmt.Errorf("client %d: send: %v", i, err)
					return
				}
				for j, w := range want {
					if err := expectErr(c, w); err != nil {
						errs <- fmt.Errorf("client %d, command %d: %v", i, m+j, err)
						return
					}
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// The clients are all still connected: redis-server has the lanes and nothing else. (A connection of
	// redistest's own start-up check may linger for a moment, hence eventually.)
	var conns []map[string]string
	if !eventually(3*time.Second, func() bool {
		conns = backendClients(t, e)
		return len(conns) <= 2
	}) {
		t.Errorf("redis-server has %d client connections for %d moat clients, want at most 2 shared lanes: %v", len(conns), clients, conns)
	}
	if len(conns) == 0 {
		t.Errorf("redis-server has no client connection at all while %d moat clients are served", clients)
	}
	if n := countResp(conns, "2"); n != len(conns) {
		t.Errorf("%d of redis-server's %d connections speak RESP2, want all (no client asked for RESP3): %v", n, len(conns), conns)
	}
	if got := e.movedDedicated(); got != 0 {
		t.Errorf("moat_sessions_moved_dedicated_total = %v, want 0", got)
	}
	if got := e.activeConns(); got != clients {
		t.Errorf("moat_connections_active = %v, want %d", got, clients)
	}
}

// helloID matches the connection id in a HELLO reply, which differs between connections.
var helloID = regexp.MustCompile(`\$2\r\nid\r\n:\d+\r\n`)

// Each rule of sharedNeed: a fresh client sending the command moves (the metric rises by exactly one)
// or stays, and gets the reply redis-server itself gives for it.
func TestSharedMoveRules(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	if got := direct.do("XADD", "s", "1-1", "f", "v"); got != bulk("1-1") {
		t.Fatalf("XADD: %q", got)
	}
	if got := direct.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	if got := direct.do("XGROUP", "CREATE", "s", "g", "$"); got != "+OK\r\n" {
		t.Fatalf("XGROUP CREATE: %q", got)
	}
	big := strings.Repeat("x", 2<<20) // longer than moat holds (MaxBuffered, 1 MiB): streamed
	cases := []struct {
		name string
		args []string
		move bool
		want string // "": what redis-server answers on a fresh connection of its own
	}{
		{"MULTI", []string{"MULTI"}, true, "+OK\r\n"},
		{"WATCH", []string{"WATCH", "k"}, true, "+OK\r\n"},
		{"SELECT", []string{"SELECT", "1"}, true, "+OK\r\n"},
		{"BLPOP", []string{"BLPOP", "nolist", "0.1"}, true, "*-1\r\n"},
		{"XREAD BLOCK", []string{"XREAD", "BLOCK", "10", "STREAMS", "s", "$"}, true, "*-1\r\n"},
		{"SUBSCRIBE", []string{"SUBSCRIBE", "ch"}, true, array(bulk("subscribe"), bulk("ch"), ":1\r\n")},
		{"MONITOR", []string{"MONITOR"}, true, "+OK\r\n"},
		{"CLIENT SETNAME", []string{"CLIENT", "SETNAME", "x"}, true, "+OK\r\n"},
		{"CLIENT REPLY ON", []string{"CLIENT", "REPLY", "ON"}, true, "+OK\r\n"},
		{"CLIENT TRACKING ON", []string{"CLIENT", "TRACKING", "ON"}, true, "+OK\r\n"},
		{"RESET", []string{"RESET"}, true, "+RESET\r\n"},
		{"WAIT", []string{"WAIT", "0", "0"}, true, ":0\r\n"},
		{"long SET", []string{"SET", "big", big}, true, "+OK\r\n"},
		// More of the same rules: the other blocking commands (by the command table's flag), the rest of
		// the transaction and pub/sub commands, a name set by HELLO.
		{"BRPOP", []string{"BRPOP", "nolist", "0.01"}, true, "*-1\r\n"},
		{"BLMOVE", []string{"BLMOVE", "nolist", "other", "LEFT", "RIGHT", "0.01"}, true, "*-1\r\n"},
		{"BZPOPMIN", []string{"BZPOPMIN", "nozset", "0.01"}, true, "*-1\r\n"},
		{"BLMPOP", []string{"BLMPOP", "0.01", "1", "nolist", "LEFT"}, true, "*-1\r\n"},
		{"XREADGROUP BLOCK", []string{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"}, true, "*-1\r\n"},
		{"UNWATCH", []string{"UNWATCH"}, true, "+OK\r\n"},
		{"PSUBSCRIBE", []string{"PSUBSCRIBE", "p*"}, true, array(bulk("psubscribe"), bulk("p*"), ":1\r\n")},
		{"SSUBSCRIBE", []string{"SSUBSCRIBE", "sh"}, true, array(bulk("ssubscribe"), bulk("sh"), ":1\r\n")},
		{"HELLO 3 SETNAME", []string{"HELLO", "3", "SETNAME", "x"}, true, ""},

		{"GET", []string{"GET", "k"}, false, bulk("v")},
		{"SET", []string{"SET", "k", "v"}, false, "+OK\r\n"},
		{"XREAD", []string{"XREAD", "COUNT", "1", "STREAMS", "s", "0"}, false, ""},
		{"CLIENT GETNAME", []string{"CLIENT", "GETNAME"}, false, "$-1\r\n"},
		{"CLIENT SETINFO", []string{"CLIENT", "SETINFO", "LIB-NAME", "x"}, false, ""}, // an error on 7.0
		{"HELLO 2", []string{"HELLO", "2"}, false, ""},
		{"HELLO 3", []string{"HELLO", "3"}, false, ""},
		{"EVAL", []string{"EVAL", "return 1", "0"}, false, ":1\r\n"},
		{"PING", []string{"PING"}, false, "+PONG\r\n"},
		{"XREADGROUP", []string{"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", "0"}, false, ""},
		// BLOCK is an option, not any argument spelled so.
		{"XREAD of a stream named block", []string{"XREAD", "COUNT", "1", "STREAMS", "block", "0"}, false, "*-1\r\n"},
		{"XREADGROUP by a consumer named block", []string{"XREADGROUP", "GROUP", "g", "block", "COUNT", "1", "STREAMS", "s", "0"}, false, ""},
		{"XREADGROUP NOACK BLOCK", []string{"XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "10", "STREAMS", "s", ">"}, true, "*-1\r\n"},
	}
	for _, tc := range cases {
		oracle := dial(t, e.srv.Addr, "127.0.0.1")
		want := oracle.do(tc.args...)
		oracle.c.Close()
		if tc.want != "" && want != tc.want {
			t.Fatalf("%s: redis-server answers %q, the test expects %q", tc.name, truncate(want), truncate(tc.want))
		}
		want = helloID.ReplaceAllString(want, "$$2\r\nid\r\n:ID\r\n")

		before := e.movedDedicated()
		c := expectAdmitted(t, e.addr, "127.0.0.2") // PING: still on the shared lane
		if got := e.movedDedicated(); got != before {
			t.Fatalf("%s: PING moved the session (metric %v → %v)", tc.name, before, got)
		}
		got := helloID.ReplaceAllString(c.do(tc.args...), "$$2\r\nid\r\n:ID\r\n")
		if got != want {
			t.Errorf("%s: moat answers %q, redis-server %q", tc.name, truncate(got), truncate(want))
		}
		moved := e.movedDedicated() - before
		switch {
		case tc.move && moved != 1:
			t.Errorf("%s: moat_sessions_moved_dedicated_total rose by %v, want 1 (the session moves)", tc.name, moved)
		case !tc.move && moved != 0:
			t.Errorf("%s: moat_sessions_moved_dedicated_total rose by %v, want 0 (no move)", tc.name, moved)
		}
		c.c.Close()
	}
	if got := direct.do("STRLEN", "big"); got != ":"+strconv.Itoa(len(big))+"\r\n" {
		t.Errorf("STRLEN big after the streamed SET: %q, want %d", got, len(big))
	}
}

// The rules judge a renamed command by its original name (N4): the new names of MULTI and BLPOP move,
// the new name of GET does not, and the old name of MULTI, now unknown, is answered by moat at once.
func TestSharedMoveRulesUnderRenames(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, renamed(t, "MULTI TX, BLPOP BPOP, GET FETCH"))
	for _, tc := range []struct {
		args []string
		move bool
		want string
	}{
		{[]string{"TX"}, true, "+OK\r\n"},
		{[]string{"bpop", "nolist", "0.01"}, true, "*-1\r\n"},
		{[]string{"FETCH", "nokey"}, false, "$-1\r\n"},
		{[]string{"MULTI"}, false, "-ERR unknown command 'MULTI', with args beginning with: \r\n"},
	} {
		before := e.movedDedicated()
		c := expectAdmitted(t, e.addr, "127.0.0.2")
		if got := c.do(tc.args...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.args[0], got, tc.want)
		}
		moved := e.movedDedicated() - before
		if tc.move && moved != 1 || !tc.move && moved != 0 {
			t.Errorf("%s: moat_sessions_moved_dedicated_total rose by %v, want move=%v", tc.args[0], moved, tc.move)
		}
		c.c.Close()
	}
}

// Replies keep their order across a move in the middle of a pipeline written at once: the commands
// before the move are answered on the shared lane, the rest on the dedicated one. Fifty times each,
// concurrently, so that the sessions share the lanes while they move.
func TestSharedOrderingAcrossMove(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))

	const workers, rounds = 10, 5
	var incrWant []string
	for i := 1; i <= 50; i++ {
		incrWant = append(incrWant, ":"+strconv.Itoa(i)+"\r\n")
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := "127.0.0." + strconv.Itoa(2+w)
			for r := 0; r < rounds; r++ {
				key := "order:" + strconv.Itoa(w) + ":" + strconv.Itoa(r)
				if err := scriptErr(e.addr, from,
					cmd("SET", key, "v")+cmd("MULTI")+cmd("GET", key)+cmd("EXEC"),
					[]string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", array(bulk("v"))}); err != nil {
					errs <- fmt.Errorf("worker %d round %d, SET MULTI GET EXEC: %v", w, r, err)
					return
				}
				var raw strings.Builder
				for i := 0; i < 50; i++ {
					raw.WriteString(cmd("INCR", key+":n"))
				}
				raw.WriteString(cmd("BLPOP", key+":nothing", "0.1") + cmd("GET", key+":n"))
				want := append(append([]string(nil), incrWant...), "*-1\r\n", bulk("50"))
				if err := scriptErr(e.addr, from, raw.String(), want); err != nil {
					errs <- fmt.Errorf("worker %d round %d, INCR×50 BLPOP GET: %v", w, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := e.movedDedicated(), float64(2*workers*rounds); !t.Failed() && got != want {
		t.Errorf("moat_sessions_moved_dedicated_total = %v, want %v (one move per pipeline)", got, want)
	}
}

// A client blocked on its dedicated lane does not hold up the shared lane it left: another client on
// that lane is served at once, and its push releases the blocked one.
func TestSharedBlockedClientDoesNotHoldUpLane(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := sharedSnap(t, 1) // one lane: the blocked client was on the lane the other one uses
	admin := dial(t, e.srv.Addr, "127.0.0.1")
	a := expectAdmitted(t, e.addr, "127.0.0.2")
	b := expectAdmitted(t, e.addr, "127.0.0.3")
	if got := b.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}

	a.send(cmd("BLPOP", "q", "0"))
	if !eventually(replyTimeout, func() bool { return e.blockedClients(admin) == "1" }) {
		t.Fatalf("BLPOP never blocked on the backend (blocked_clients %s)", e.blockedClients(admin))
	}
	if got := e.movedDedicated(); got != 1 {
		t.Errorf("moat_sessions_moved_dedicated_total = %v after BLPOP, want 1", got)
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		b.send(cmd("GET", "k"))
		got, err := b.readReplyErr(3 * time.Second)
		if err != nil || got != bulk("v") {
			t.Fatalf("GET %d behind a blocked client: %q, %v", i, got, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("100 GETs behind a blocked client took %v", d)
	}
	a.expectNothing(20 * time.Millisecond) // still blocked
	if got := b.do("LPUSH", "q", "x"); got != ":1\r\n" {
		t.Fatalf("LPUSH: %q", got)
	}
	a.expect(array(bulk("q"), bulk("x")))
	mustDo(t, a, "+PONG\r\n", "PING")
	wantMoved(t, e, 1)
}

// HELLO 3 and HELLO 2 switch a session between the RESP2 and RESP3 pools without a move, one command at
// a time and within one pipeline; a RESP3 session that then moves still speaks RESP3.
func TestSharedRESP3Pool(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	mapFV := "%1\r\n" + bulk("f") + bulk("v")
	arrayFV := array(bulk("f"), bulk("v"))

	c := expectAdmitted(t, e.addr, "127.0.0.2")
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") || !strings.Contains(got, bulk("proto")+":3\r\n") {
		t.Fatalf("HELLO 3: %q, want the RESP3 map", got)
	}
	if got := c.do("HSET", "h", "f", "v"); got != ":1\r\n" {
		t.Fatalf("HSET: %q", got)
	}
	if got := c.do("HGETALL", "h"); got != mapFV {
		t.Fatalf("HGETALL in RESP3: %q, want %q", got, mapFV)
	}
	if n := countResp(backendClients(t, e), "3"); n < 1 || n > testLanes {
		t.Errorf("redis-server has %d RESP3 connections, want between 1 and %d (the RESP3 pool)", n, testLanes)
	}
	if got := c.do("HELLO", "2"); !strings.HasPrefix(got, "*14\r\n") || !strings.Contains(got, bulk("proto")+":2\r\n") {
		t.Fatalf("HELLO 2: %q, want the RESP2 array", got)
	}
	if got := c.do("HGETALL", "h"); got != arrayFV {
		t.Fatalf("HGETALL in RESP2: %q, want %q", got, arrayFV)
	}

	// Both switches in one write: every reply is in the protocol in force when its command ran.
	p := expectAdmitted(t, e.addr, "127.0.0.3")
	p.send(cmd("HGETALL", "h") + cmd("HELLO", "3") + cmd("HGETALL", "h") + cmd("HGETALL", "h") + cmd("HELLO", "2") + cmd("HGETALL", "h"))
	p.expect(arrayFV)
	if got := p.readReply(); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("pipelined HELLO 3: %q", got)
	}
	p.expect(mapFV)
	p.expect(mapFV)
	if got := p.readReply(); !strings.HasPrefix(got, "*14\r\n") {
		t.Fatalf("pipelined HELLO 2: %q", got)
	}
	p.expect(arrayFV)
	if got := e.movedDedicated(); got != 0 {
		t.Errorf("moat_sessions_moved_dedicated_total = %v after HELLO switches, want 0", got)
	}

	// A RESP3 session that moves gets a RESP3 backend connection of its own.
	m := expectAdmitted(t, e.addr, "127.0.0.4")
	if got := m.do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	m.send(cmd("MULTI") + cmd("HGETALL", "h") + cmd("EXEC") + cmd("HGETALL", "h"))
	m.expect("+OK\r\n")
	m.expect("+QUEUED\r\n")
	m.expect(array(mapFV))
	m.expect(mapFV)
	mustDo(t, m, mapFV, "HGETALL", "h")
	wantMoved(t, e, 1)
	// And HELLO 2 there turns it back, on its own connection.
	if got := m.do("HELLO", "2"); !strings.HasPrefix(got, "*14\r\n") {
		t.Fatalf("HELLO 2 on the dedicated lane: %q", got)
	}
	mustDo(t, m, arrayFV, "HGETALL", "h")
	wantMoved(t, e, 1)
}

// mustDo sends one command and fails the test unless the reply is want.
func mustDo(t *testing.T, c *client, want string, args ...string) {
	t.Helper()
	if got := c.do(args...); got != want {
		t.Fatalf("%s: %q, want %q", strings.Join(args, " "), got, want)
	}
}

// wantMoved checks moat_sessions_moved_dedicated_total.
func wantMoved(t *testing.T, e *env, want float64) {
	t.Helper()
	if got := e.movedDedicated(); got != want {
		t.Errorf("moat_sessions_moved_dedicated_total = %v, want %v", got, want)
	}
}

// A client that reads none of its replies is closed once it has held up the lane for a while; the
// other clients on the lane are served again afterwards, every reply intact.
func TestSharedStalledReaderIsClosed(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := sharedSnap(t, 1)
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	// Set straight on redis-server: a 1 MiB SET through moat is a long command, which moves.
	value := strings.Repeat("v", 1<<20)
	if got := direct.do("SET", "big", value); got != "+OK\r\n" {
		t.Fatalf("SET big: %q", got)
	}

	a := expectAdmitted(t, e.addr, "127.0.0.2")
	b := expectAdmitted(t, e.addr, "127.0.0.3")
	if got := e.activeConns(); got != 2 {
		t.Fatalf("moat_connections_active = %v, want 2", got)
	}
	var gets strings.Builder
	for i := 0; i < 200; i++ {
		gets.WriteString(cmd("GET", "big"))
	}
	a.send(gets.String()) // 200 MiB of replies that A never reads
	start := time.Now()

	pong := func(when string) time.Duration {
		t.Helper()
		t0 := time.Now()
		b.send(cmd("PING"))
		got, err := b.readReplyErr(replyTimeout)
		if err != nil || got != "+PONG\r\n" {
			t.Fatalf("PING %s: %q, %v", when, got, err)
		}
		return time.Since(t0)
	}
	var slowest time.Duration
	for e.activeConns() != 1 {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the client that reads nothing is still connected after %v", time.Since(start))
		}
		slowest = max(slowest, pong("while A stalls the lane"))
	}
	t.Logf("A closed %v after its pipeline; B's slowest PING meanwhile took %v", time.Since(start).Round(time.Millisecond), slowest)

	// A's connection is closed: what moat wrote before is there to read, then the end.
	a.c.SetReadDeadline(time.Now().Add(replyTimeout))
	n, err := io.Copy(io.Discard, a.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("A's connection still open after moat_connections_active fell (read %d bytes)", n)
	}
	if n >= 200<<20 {
		t.Errorf("A got all %d bytes of its replies, yet was closed", n)
	}

	// B is served again, promptly.
	pong("after A was closed") // may wait for the lane to skip A's remaining replies
	for i := 0; i < 20; i++ {
		if d := pong("after A was closed"); d > 2*time.Second {
			t.Errorf("PING %d after A was closed took %v", i, d)
		}
	}
	if got := b.do("GET", "big"); got != bulk(value) {
		t.Errorf("GET big on B: %q", truncate(got))
	}
}

// After the backend restarts, the shared lanes of both pools are dialled again and stay bounded: an
// idle RESP3 client is served in RESP3 again, new clients of both protocols are served, and redis-server
// still sees no more than the lanes. (TestBackendDiesUnderEstablishedClients covers the RESP2 client.)
func TestSharedLanesRedialledAfterRestart(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := sharedSnap(t, 2)
	idle2 := expectAdmitted(t, e.addr, "127.0.0.2")
	idle3 := expectAdmitted(t, e.addr, "127.0.0.3")
	if got := idle3.do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	if got := idle3.do("HSET", "h", "f", "v"); got != ":1\r\n" {
		t.Fatalf("HSET: %q", got)
	}
	lanes := len(backendClients(t, e))
	ioErrors := func() float64 {
		return e.counter("moat_backend_errors_total", map[string]string{"instance": "r-test", "kind": "io"})
	}
	before := ioErrors()

	e.srv.Stop()
	// Wait until moat has seen every lane go, so the clients below find failed lanes to replace.
	if !eventually(5*time.Second, func() bool { return ioErrors()-before >= float64(lanes) }) {
		t.Fatalf("moat_backend_errors_total{kind=io} rose by %v after the backend died, want %d (its lanes)", ioErrors()-before, lanes)
	}
	e.srv.Restart(t)

	if got := idle3.do("HGETALL", "h"); got != "%0\r\n" { // persistence is off: the restarted server is empty
		t.Fatalf("HGETALL on the idle RESP3 client after the restart: %q, want the empty RESP3 map", got)
	}
	if got := idle2.do("HGETALL", "h"); got != "*0\r\n" {
		t.Fatalf("HGETALL on the idle RESP2 client after the restart: %q, want the empty array", got)
	}
	for i := 0; i < 10; i++ {
		c := expectAdmitted(t, e.addr, "127.0.0."+strconv.Itoa(10+i))
		if i%2 == 1 {
			if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") {
				t.Fatalf("HELLO 3 on a new client after the restart: %q", got)
			}
		}
		k := "after:" + strconv.Itoa(i)
		if got := c.do("HSET", k, "f", "v"); got != ":1\r\n" {
			t.Fatalf("HSET on a new client after the restart: %q", got)
		}
		want := array(bulk("f"), bulk("v"))
		if i%2 == 1 {
			want = "%1\r\n" + bulk("f") + bulk("v")
		}
		if got := c.do("HGETALL", k); got != want {
			t.Fatalf("HGETALL on a new client after the restart: %q, want %q", got, want)
		}
	}
	var conns []map[string]string
	if !eventually(3*time.Second, func() bool {
		conns = backendClients(t, e)
		return countResp(conns, "2") <= 2 && countResp(conns, "3") <= 2 && len(conns) <= 4
	}) {
		t.Errorf("after the restart redis-server has %d connections (%d RESP2, %d RESP3), want at most 2 lanes per protocol: %v",
			len(conns), countResp(conns, "2"), countResp(conns, "3"), conns)
	}
	if got := e.movedDedicated(); got != 0 {
		t.Errorf("moat_sessions_moved_dedicated_total = %v, want 0", got)
	}
}

// A client sent a long reply (over 64 KiB, streamed through the lane's reader) moves to a dedicated
// lane at its next command; one sent only short replies stays. The command pipelined with the GET is
// judged before that reply comes, so it stays on the shared lane.
func TestSharedLongReplyMovesClient(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := newEnv(t, allowLoopback(t))
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	long, short := strings.Repeat("l", 1<<20), strings.Repeat("s", 1<<10)
	for k, v := range map[string]string{"long": long, "short": short} {
		if got := direct.do("SET", k, v); got != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, got)
		}
	}
	for _, tc := range []struct {
		key, value string
		move       bool
	}{{"short", short, false}, {"long", long, true}} {
		before := e.movedDedicated()
		c := expectAdmitted(t, e.addr, "127.0.0.2")
		c.send(cmd("GET", tc.key) + cmd("PING"))
		c.expect(bulk(tc.value))
		c.expect("+PONG\r\n")
		if got := e.movedDedicated(); got != before {
			t.Errorf("GET %s: moved with the command pipelined after it (metric %v → %v)", tc.key, before, got)
		}
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Fatalf("PING after GET %s: %q", tc.key, got)
		}
		if got := c.do("GET", tc.key); got != bulk(tc.value) {
			t.Fatalf("GET %s again: %q", tc.key, truncate(got))
		}
		moved := e.movedDedicated() - before
		switch {
		case tc.move && moved != 1:
			t.Errorf("after a %d-byte reply the next command moved %v sessions, want 1", len(tc.value), moved)
		case !tc.move && moved != 0:
			t.Errorf("after a %d-byte reply the next command moved %v sessions, want 0", len(tc.value), moved)
		}
		c.c.Close()
	}
}

// Long replies (streamed through the lane's reader) followed by a reply that does not come from that
// lane: moat's own (CLIENT ID), the move to a dedicated lane (MULTI; or any command, once the client
// was sent a long reply), QUIT's goodbye. Every one must come, whatever the sizes; forty sizes, so that
// the long frames end at every kind of buffer boundary.
func TestSharedLongReplyThenOtherReply(t *testing.T) {
	t.Parallel()
	skipWithoutLanes(t)
	e := sharedSnap(t, 1)
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	for i := 0; i < 40; i++ {
		size := 2<<20 + i*1000
		value := strings.Repeat("x", size)
		if got := direct.do("SET", "long", value); got != "+OK\r\n" {
			t.Fatalf("SET long: %q", got)
		}
		c := expectAdmitted(t, e.addr, "127.0.0.2")
		var last []string
		var want string
		switch i % 4 {
		case 0:
			last, want = []string{"CLIENT", "ID"}, ":"+clientID(t, c)+"\r\n"
		case 1:
			last, want = []string{"MULTI"}, "+OK\r\n"
		case 2:
			last, want = []string{"QUIT"}, "+OK\r\n"
		case 3:
			last, want = []string{"PING"}, "+PONG\r\n" // sent once the replies are read: it moves
		}
		pipeline := cmd("GET", "long") + cmd("GET", "long")
		if i%4 != 3 {
			pipeline += cmd(last...)
		}
		c.send(pipeline)
		for j := 0; j < 2; j++ {
			if got, err := c.readReplyErr(replyTimeout); err != nil || got != bulk(value) {
				t.Fatalf("size %d: GET %d: %q, %v", size, j, truncate(got), err)
			}
		}
		if i%4 == 3 {
			c.send(cmd(last...))
		}
		if got, err := c.readReplyErr(3 * time.Second); err != nil || got != want {
			t.Fatalf("size %d: %s after two long replies: %q, %v, want %q", size, last[0], got, err, want)
		}
		c.c.Close()
	}
}
