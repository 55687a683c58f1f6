package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
)

// MONITOR through moat names every command by the address of the client that sent it (monitor.go), on
// shared lanes as on dedicated ones, and shows nothing of moat's own work.

// monitorAddr is the address a MONITOR line names ("+<time> [<db> <addr>] …"); "" when it has none.
func monitorAddr(line string) string {
	_, rest, ok := strings.Cut(line, "[")
	if !ok {
		return ""
	}
	rest, _, ok = strings.Cut(rest, "]")
	if !ok {
		return ""
	}
	_, addr, _ := strings.Cut(rest, " ")
	return addr
}

// monitorUntil reads mon's lines until every marker has appeared in one, and returns them all.
func monitorUntil(t *testing.T, mon *client, markers ...string) []string {
	t.Helper()
	var lines []string
	left := len(markers)
	seen := make(map[string]bool)
	for left > 0 {
		line := mon.readReply()
		lines = append(lines, line)
		for _, m := range markers {
			if !seen[m] && strings.Contains(line, m) {
				seen[m] = true
				left--
			}
		}
	}
	return lines
}

// Three clients, each sending pipelines, a script, a transaction, a move to RESP3 and one to a
// dedicated lane, all at once: each command's line names its own client, exactly once, with one,
// two and no shared lanes.
func TestMonitorNamesTheSenderOfEveryCommand(t *testing.T) {
	t.Parallel()
	for _, lanes := range []int{1, 2, 0} {
		t.Run(fmt.Sprintf("shared-lanes=%d", lanes), func(t *testing.T) {
			t.Parallel()
			snap := allowLoopback(t)
			snap.SharedLanes = lanes
			e := newEnv(t, snap)
			mon := dial(t, e.addr, "127.0.0.2")
			mon.expectOK("MONITOR")
			var cs []*client
			addr := map[string]string{} // key prefix → the address of the client using it
			for i := range 3 {
				c := dial(t, e.addr, fmt.Sprintf("127.0.0.%d", 3+i))
				cs = append(cs, c)
				addr[fmt.Sprintf("m%d:", i)] = c.c.LocalAddr().String()
			}
			// Round 1: every client's pipeline is sent before any reply is read, so that they share the
			// lanes' writes.
			const n = 8
			for i, c := range cs {
				var b strings.Builder
				for j := range n {
					b.WriteString(cmd("SET", fmt.Sprintf("m%d:%d", i, j), "v"))
				}
				b.WriteString(cmd("GET", fmt.Sprintf("m%d:0", i)))
				b.WriteString(cmd("EVAL", "return redis.call('incr', KEYS[1])", "1", fmt.Sprintf("m%d:n", i)))
				c.send(b.String())
			}
			for _, c := range cs {
				for range n {
					c.expect("+OK\r\n")
				}
				c.expect(bulk("v"))
				c.expect(":1\r\n")
			}
			// Round 2: a RESP3 client, a transaction (dedicated), a SELECT (dedicated), again all at once.
			cs[0].send(cmd("HELLO", "3") + cmd("SET", "m0:r3", "v"))
			cs[1].send(cmd("MULTI") + cmd("SET", "m1:tx", "v") + cmd("INCR", "m1:n") + cmd("EXEC"))
			cs[2].send(cmd("SELECT", "0") + cmd("SET", "m2:sel", "v"))
			cs[0].readReply()
			cs[0].expect("+OK\r\n")
			for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n+OK\r\n:2\r\n"} {
				cs[1].expect(want)
			}
			cs[2].expect("+OK\r\n")
			cs[2].expect("+OK\r\n")
			for i, c := range cs {
				mustDo(t, c, "+OK\r\n", "SET", fmt.Sprintf("m%d:end", i), "v")
			}
			lines := monitorUntil(t, mon, `"m0:end"`, `"m1:end"`, `"m2:end"`)

			clients := map[string]bool{}
			for _, a := range addr {
				clients[a] = true
			}
			count := map[string]int{}
			for _, line := range lines {
				got := monitorAddr(line)
				if got == "lua" {
					if !strings.Contains(line, `"incr"`) {
						t.Errorf("a script line of no script sent: %q", line)
					}
					continue
				}
				if !clients[got] {
					t.Errorf("line %q names %q, which is none of the clients", line, got)
					continue
				}
				for prefix, a := range addr {
					if k := `"` + prefix; strings.Contains(line, k) && got != a {
						t.Errorf("line %q names %s, want %s (the client using %s*)", line, got, a, prefix)
					}
				}
				_, args, _ := strings.Cut(line, "] ")
				count[got+" "+strings.TrimSpace(args)]++
			}
			want := map[string]int{
				addr["m0:"] + ` "HELLO" "3"`:   1, // the client's; the RESP3 lane's own is not shown
				addr["m1:"] + ` "MULTI"`:       1,
				addr["m1:"] + ` "EXEC"`:        1,
				addr["m1:"] + ` "INCR" "m1:n"`: 1,
				addr["m2:"] + ` "SELECT" "0"`:  1,
				addr["m2:"] + ` "EVAL" "return redis.call('incr', KEYS[1])" "1" "m2:n"`: 1,
			}
			for i := range cs {
				p := fmt.Sprintf("m%d:", i)
				for j := range n {
					want[fmt.Sprintf(`%s "SET" "%s%d" "v"`, addr[p], p, j)] = 1
				}
				want[fmt.Sprintf(`%s "GET" "%s0"`, addr[p], p)] = 1
			}
			for k, w := range want {
				if count[k] != w {
					t.Errorf("%d lines %s, want %d", count[k], k, w)
				}
			}
			// Nothing else comes: the ready connections dialled meanwhile, turned to RESP3, show nothing.
			mon.expectNothing(200 * time.Millisecond)
		})
	}
}

// What moat does on connections of its own — a restricted user's script switching its connection to the
// user's backend identity (AUTH), identities written when an administrator changes a user (ACL SETUSER),
// the backend ID looked up for CLIENT UNBLOCK (CLIENT LIST), the HELLO 3 of a new RESP3 lane — shows no
// line: every line a monitor sees names one of the clients, or a script.
func TestMonitorShowsNoneOfMoatsOwnWork(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, scriptUsers)
	mon := dial(t, e.addr, "127.0.0.2")
	mustDo(t, mon, "+OK\r\n", "AUTH", "admin", "adminpw")
	mon.expectOK("MONITOR")
	app := dial(t, e.addr, "127.0.0.3")
	admin := dial(t, e.addr, "127.0.0.4")
	r3 := dial(t, e.addr, "127.0.0.5")
	mustDo(t, app, "+OK\r\n", "AUTH", "app", "apw")
	mustDo(t, admin, "+OK\r\n", "AUTH", "admin", "adminpw")
	mustDo(t, r3, "+OK\r\n", "AUTH", "admin", "adminpw")

	mustDo(t, app, bulk("1"), "EVAL", "return redis.call('set', KEYS[1], '1') and '1'", "1", "app:s")
	mustDo(t, admin, "+OK\r\n", "ACL", "SETUSER", "app", "~app:*", "~more:*")
	mustDo(t, app, "+OK\r\n", "SET", "more:k", "v")
	mustDo(t, admin, ":0\r\n", "CLIENT", "UNBLOCK", clientID(t, app))
	if got := admin.do("CONFIG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Fatalf("CONFIG GET maxmemory: %q", got)
	}
	if got := r3.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", truncate(got))
	}
	mustDo(t, r3, "+OK\r\n", "SET", "r3:k", "v")
	mustDo(t, app, "+OK\r\n", "SET", "app:end", "v")
	mustDo(t, admin, "+OK\r\n", "SET", "admin:end", "v")
	lines := monitorUntil(t, mon, `"app:end"`, `"admin:end"`, `"r3:k"`)

	clients := map[string]string{
		app.c.LocalAddr().String():   "app",
		admin.c.LocalAddr().String(): "admin",
		r3.c.LocalAddr().String():    "r3",
		"lua":                        "a script",
	}
	var script, moved, hello bool
	for _, line := range lines {
		who, ok := clients[monitorAddr(line)]
		if !ok {
			t.Errorf("line %q names none of the clients", line)
		}
		if strings.Contains(strings.ToUpper(line), `"AUTH"`) {
			t.Errorf("line of moat's AUTH: %q", line)
		}
		script = script || who == "app" && strings.Contains(line, `"EVAL"`)
		moved = moved || who == "app" && strings.Contains(line, `"SET" "more:k" "v"`)
		hello = hello || who == "r3" && strings.Contains(line, `"HELLO" "3"`)
	}
	if !script || !moved || !hello {
		t.Errorf("the clients' own EVAL (%v), SET more:k (%v) and HELLO 3 (%v) not all shown under their addresses: %q",
			script, moved, hello, lines)
	}
	mon.expectNothing(200 * time.Millisecond)
}

// A client behind a trusted load balancer is named by the address its PROXY header carried, as CLIENT
// LIST names it, on its shared lane and on a dedicated one.
func TestMonitorNamesProxiedClientsByTheirCarriedAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, proxySnap(t))
	mon := dial(t, e.addr, "127.0.0.2")
	mon.expectOK("MONITOR")
	c := dial(t, e.addr, lb)
	c.send(headerV1("10.1.2.3", 40001) + cmd("SET", "px:shared", "v"))
	c.expect("+OK\r\n")
	mustDo(t, c, "+OK\r\n", "SELECT", "0")
	mustDo(t, c, "+OK\r\n", "SET", "px:own", "v")
	for _, line := range monitorUntil(t, mon, `"px:shared"`, `"px:own"`) {
		if got := monitorAddr(line); got != "10.1.2.3:40001" {
			t.Errorf("line %q names %s, want the carried 10.1.2.3:40001", line, got)
		}
	}
}

// A line whose arguments the backend redacted (MIGRATE's AUTH password) still names its client, on a
// shared lane as on a dedicated one.
func TestMonitorNamesRedactedCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	mon := dial(t, e.addr, "127.0.0.2")
	mon.expectOK("MONITOR")
	a := dial(t, e.addr, "127.0.0.3")
	b := dial(t, e.addr, "127.0.0.4")
	migrate := []string{"MIGRATE", "127.0.0.1", "1", "", "0", "1000", "AUTH", "secret", "KEYS", "nokey"}
	mustDo(t, a, "+NOKEY\r\n", migrate...)
	mustDo(t, b, "+OK\r\n", "SELECT", "0")
	mustDo(t, b, "+NOKEY\r\n", migrate...)
	mustDo(t, a, "+OK\r\n", "SET", "rd:end", "v")
	var got []string
	for _, line := range monitorUntil(t, mon, `"rd:end"`) {
		if strings.Contains(line, `"MIGRATE"`) {
			got = append(got, monitorAddr(line))
			if strings.Contains(line, "secret") {
				t.Errorf("MIGRATE line shows the password: %q", line)
			}
		}
	}
	want := []string{a.c.LocalAddr().String(), b.c.LocalAddr().String()}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("MIGRATE lines name %q, want %q", got, want)
	}
}

// A client that monitors again after RESET is shown the commands from then on, each under its sender's
// address: a command another client sent while it did not monitor is neither shown nor taken for the
// same command sent after.
func TestMonitorAgainAfterReset(t *testing.T) {
	t.Parallel()
	snap := allowLoopback(t)
	snap.SharedLanes = 1 // a's and b's commands on one lane
	e := newEnv(t, snap)
	mon := dial(t, e.addr, "127.0.0.2")
	a := dial(t, e.addr, "127.0.0.3")
	b := dial(t, e.addr, "127.0.0.4")
	check := func(lines []string, key string, want *client) {
		t.Helper()
		for _, line := range lines {
			if strings.Contains(line, key) && monitorAddr(line) != want.c.LocalAddr().String() {
				t.Errorf("line %q names %s, want %s", line, monitorAddr(line), want.c.LocalAddr())
			}
		}
	}
	mon.expectOK("MONITOR")
	mustDo(t, a, "+OK\r\n", "SET", "rs:a", "1")
	check(monitorUntil(t, mon, `"rs:a"`), `"rs:a"`, a)
	mon.send(cmd("RESET"))
	monitorUntil(t, mon, "+RESET\r\n")
	mustDo(t, a, "+OK\r\n", "SET", "rs:same", "v")
	mon.expectOK("MONITOR")
	mustDo(t, b, "+OK\r\n", "SET", "rs:same", "v")
	lines := monitorUntil(t, mon, `"rs:same"`)
	check(lines, `"rs:same"`, b)
	mustDo(t, b, "+OK\r\n", "SET", "rs:end", "v")
	lines = monitorUntil(t, mon, `"rs:end"`)
	check(lines, `"rs:same"`, b)
}

// Behind a backend URL with a database, every connection moat dials selects it first: that SELECT is
// moat's, and no monitor sees it — on shared lanes, on connections ready for moves, on connections
// dialled for a client as it moves (RESP2 and RESP3), and on moat's own lookups.
func TestMonitorHidesTheBackendDatabaseSelect(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	be, err := backend.Open("redis://"+srv.Addr+"/2", t.TempDir(), nil)
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	e := newEnv(t, allowLoopback(t), func(c *gateway.Config) { c.Backend = be })
	mon := dial(t, e.addr, "127.0.0.2")
	mon.expectOK("MONITOR")
	clients := map[string]bool{"lua": true}
	var markers []string
	for i := range 4 {
		c := dial(t, e.addr, fmt.Sprintf("127.0.0.%d", 3+i))
		clients[c.c.LocalAddr().String()] = true
		mustDo(t, c, "+OK\r\n", "SET", fmt.Sprintf("db:%d", i), "v")
		if i%2 == 1 {
			if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
				t.Fatalf("HELLO 3: %q", truncate(got))
			}
		}
		mustDo(t, c, "+OK\r\n", "SELECT", "0") // a dedicated lane of its own
		mustDo(t, c, ":0\r\n", "CLIENT", "UNBLOCK", clientID(t, c))
		key := fmt.Sprintf("db:end%d", i)
		mustDo(t, c, "+OK\r\n", "SET", key, "v")
		markers = append(markers, `"`+key+`"`)
	}
	for _, line := range monitorUntil(t, mon, markers...) {
		if !clients[monitorAddr(line)] {
			t.Errorf("line %q names none of the clients", line)
		}
		if strings.Contains(line, `"SELECT" "2"`) {
			t.Errorf("moat's SELECT of the backend URL's database shown: %q", line)
		}
	}
	mon.expectNothing(200 * time.Millisecond)
}

// Behind a unix:// backend every backend connection has the socket's address, so lines keep it, and
// none of the clients' commands is taken for moat's handshake and dropped.
func TestMonitorBehindUnixSocketShowsEveryCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t), withUnixBackend(t))
	mon := dial(t, e.addr, "127.0.0.2")
	mon.expectOK("MONITOR")
	c := dial(t, e.addr, "127.0.0.3")
	if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", truncate(got))
	}
	mustDo(t, c, "+OK\r\n", "SELECT", "1")
	mustDo(t, c, "+OK\r\n", "SET", "ux:end", "v")
	var hello, sel bool
	for _, line := range monitorUntil(t, mon, `"ux:end"`) {
		if !strings.HasPrefix(monitorAddr(line), "unix:") {
			t.Errorf("line %q does not name the socket", line)
		}
		hello = hello || strings.HasSuffix(line, `"HELLO" "3"`+"\r\n")
		sel = sel || strings.HasSuffix(line, `"SELECT" "1"`+"\r\n")
	}
	if !hello || !sel {
		t.Errorf("the client's HELLO 3 (%v) or SELECT 1 (%v) not shown", hello, sel)
	}
}

// A client of the backend that does not come through moat (another gateway's connection, say) is
// shown as the backend names it, line after line.
func TestMonitorShowsOtherBackendClientsAsTheBackendNamesThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	mon := dial(t, e.addr, "127.0.0.2")
	mon.expectOK("MONITOR")
	direct := dial(t, e.srv.Addr, "127.0.0.1") // the backend takes only 127.0.0.1 for loopback
	c := dial(t, e.addr, "127.0.0.3")
	for i := range 3 {
		mustDo(t, direct, "+OK\r\n", "SET", fmt.Sprintf("fx:%d", i), "v")
		mustDo(t, c, "+OK\r\n", "SET", fmt.Sprintf("mx:%d", i), "v")
	}
	want := map[string]string{`"fx:`: direct.c.LocalAddr().String(), `"mx:`: c.c.LocalAddr().String()}
	n := 0
	for _, line := range monitorUntil(t, mon, `"fx:2"`, `"mx:2"`) {
		for k, addr := range want {
			if strings.Contains(line, k) {
				n++
				if got := monitorAddr(line); got != addr {
					t.Errorf("line %q names %s, want %s", line, got, addr)
				}
			}
		}
	}
	if n != 6 {
		t.Errorf("%d lines of the six SETs", n)
	}
}
