package gateway_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
)

// Order kept when a client changes lane (ready.go): the scenarios of Redis's own blocking tests (lists,
// sorted sets, streams), where clients send a blocking command one after the other without waiting
// for anything, and another client then pushes. Redis serves the blocked clients in the order they
// blocked; through moat each blocking command moves its client to a dedicated lane, and commands sent
// after it — by other clients, or moves of other clients — must not overtake it. Each scenario runs
// orderRounds times with fresh clients (every round moves them again).

const orderRounds = 10

// orderDialDelay is how slow moat's backend is to connect to; orderGap separates the clients' sends,
// as Redis's test client's sends are (one process writing in turn), so that the backend reads them in
// that order when they are sent to it directly.
const (
	orderDialDelay = 100 * time.Millisecond
	orderGap       = 20 * time.Millisecond
)

// sendInTurn sends raw on each client in turn, orderGap apart, and waits orderGap after the last.
func sendInTurn(raw string, cs ...*client) {
	for _, c := range cs {
		c.send(raw)
		time.Sleep(orderGap)
	}
}

// slowDial is a backend that takes orderDialDelay longer to connect to.
type slowDial struct{ backend.Backend }

func (b slowDial) Dial(ctx context.Context) (net.Conn, error) {
	time.Sleep(orderDialDelay)
	return b.Backend.Dial(ctx)
}

// orderTarget is where a scenario runs: through moat, or straight to its redis-server (which trusts
// only 127.0.0.1), to show the scenario is Redis's behaviour.
type orderTarget struct {
	name, addr string
	from       func(i int) string
}

// orderTargets runs fn against redis-server directly, then through moat. moat's backend is slow to
// connect to (each new connection waits orderDialDelay), so that a move that had to wait for a dial
// would be overtaken.
func orderTargets(t *testing.T, fn func(t *testing.T, tg orderTarget)) {
	e := newEnv(t, allowLoopback(t), func(c *gateway.Config) { c.Backend = slowDial{c.Backend} })
	for _, tg := range []orderTarget{
		{"direct", e.srv.Addr, func(int) string { return "127.0.0.1" }},
		{"moat", e.addr, func(i int) string { return "127.0.0." + strconv.Itoa(10+i) }},
	} {
		t.Run(tg.name, func(t *testing.T) { fn(t, tg) })
	}
}

// clients dials n fresh clients (through moat: from distinct addresses, each on the shared lane).
func (tg orderTarget) clients(t *testing.T, n int) []*client {
	t.Helper()
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, tg.addr, tg.from(i+1))
		mustDo(t, cs[i], "+PONG\r\n", "PING") // on the shared lane, before the blocking command moves it
	}
	return cs
}

func closeAll(cs []*client) {
	for _, c := range cs {
		c.c.Close()
	}
}

// As Redis's "BRPOPLPUSH with multiple blocked clients": the first blocked client's target holds a
// string, so it is served first and gets WRONGTYPE; the element stays for the second.
func TestOrderBRPOPLPUSHMultipleBlockedClients(t *testing.T) {
	t.Parallel()
	orderTargets(t, func(t *testing.T, tg orderTarget) {
		r := dial(t, tg.addr, tg.from(0))
		for round := range orderRounds {
			r.do("DEL", "blist", "target1", "target2")
			mustDo(t, r, "+OK\r\n", "SET", "target1", "nolist")
			cs := tg.clients(t, 2)
			sendInTurn(cmd("BRPOPLPUSH", "blist", "target1", "0"), cs[0])
			sendInTurn(cmd("BRPOPLPUSH", "blist", "target2", "0"), cs[1])
			mustDo(t, r, ":1\r\n", "LPUSH", "blist", "foo")
			if got := cs[0].readReply(); got != "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n" {
				t.Fatalf("round %d: first blocked client got %q, want WRONGTYPE", round, got)
			}
			cs[1].expect(bulk("foo"))
			mustDo(t, r, array(bulk("foo")), "LRANGE", "target2", "0", "-1")
			closeAll(cs)
		}
	})
}

// Three clients block on one list in turn; one RPUSH of three elements serves them in that order.
func TestOrderBLPOPServedInOrder(t *testing.T) {
	t.Parallel()
	orderTargets(t, func(t *testing.T, tg orderTarget) {
		r := dial(t, tg.addr, tg.from(0))
		for round := range orderRounds {
			cs := tg.clients(t, 3)
			sendInTurn(cmd("BLPOP", "q", "0"), cs...)
			mustDo(t, r, ":3\r\n", "RPUSH", "q", "a", "b", "c")
			for i, c := range cs {
				if got, want := c.readReply(), array(bulk("q"), bulk(string(rune('a'+i)))); got != want {
					t.Fatalf("round %d: client %d got %q, want %q", round, i, got, want)
				}
			}
			closeAll(cs)
		}
	})
}

// The same with sorted sets: BZPOPMIN clients are served lowest score first, in the order they blocked.
func TestOrderBZPOPMINServedInOrder(t *testing.T) {
	t.Parallel()
	orderTargets(t, func(t *testing.T, tg orderTarget) {
		r := dial(t, tg.addr, tg.from(0))
		for range orderRounds {
			cs := tg.clients(t, 2)
			sendInTurn(cmd("BZPOPMIN", "z", "0"), cs...)
			mustDo(t, r, ":2\r\n", "ZADD", "z", "1", "one", "2", "two")
			cs[0].expect(array(bulk("z"), bulk("one"), bulk("1")))
			cs[1].expect(array(bulk("z"), bulk("two"), bulk("2")))
			closeAll(cs)
		}
	})
}

// XREAD BLOCK with $ reads entries added after it: an XADD sent by another client right after it must
// not run first (the reader would then wait for the entry after that one).
func TestOrderXREADBlockBeforeXADD(t *testing.T) {
	t.Parallel()
	orderTargets(t, func(t *testing.T, tg orderTarget) {
		r := dial(t, tg.addr, tg.from(0))
		r.do("DEL", "s")
		for round := range orderRounds {
			id := strconv.Itoa(round+1) + "-1"
			cs := tg.clients(t, 2)
			sendInTurn(cmd("XREAD", "BLOCK", "0", "STREAMS", "s", "$"), cs...)
			mustDo(t, r, bulk(id), "XADD", "s", id, "f", "v")
			want := array(array(bulk("s"), array(array(bulk(id), array(bulk("f"), bulk("v"))))))
			for _, c := range cs {
				c.expect(want)
			}
			closeAll(cs)
		}
	})
}

// As Redis's "Blocking XREADGROUP: key deleted / key type changed with SET / … with transaction /
// flushed DB": the client that changes the key is already on a dedicated lane (CLIENT SETNAME moved
// it), and writes to its own backend connection. Its command, sent after the blocking one, must not
// run first: the blocked client is told the key is gone, where it would otherwise have found no group
// (NOGROUP) or a key of the wrong type (WRONGTYPE) when its XREADGROUP ran.
func TestOrderXREADGROUPBeforeDedicatedClient(t *testing.T) {
	t.Parallel()
	changes := []struct {
		name    string
		raw     string
		replies []string
	}{
		{"DEL", cmd("DEL", "mystream"), []string{":1\r\n"}},
		{"SET", cmd("SET", "mystream", "val1"), []string{"+OK\r\n"}},
		{"MULTI", cmd("MULTI") + cmd("DEL", "mystream") + cmd("SADD", "mystream", "e1") + cmd("EXEC"),
			[]string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n:1\r\n:1\r\n"}},
		{"FLUSHALL", cmd("FLUSHALL"), []string{"+OK\r\n"}},
	}
	orderTargets(t, func(t *testing.T, tg orderTarget) {
		r := dial(t, tg.addr, tg.from(0))
		mustDo(t, r, "+OK\r\n", "CLIENT", "SETNAME", "main") // through moat: to a dedicated lane
		for round := range orderRounds * len(changes) {
			ch := changes[round%len(changes)]
			r.do("DEL", "mystream")
			mustDo(t, r, bulk("666-0"), "XADD", "mystream", "666", "f", "v")
			mustDo(t, r, "+OK\r\n", "XGROUP", "CREATE", "mystream", "mygroup", "$")
			rd := tg.clients(t, 1)
			sendInTurn(cmd("XREADGROUP", "GROUP", "mygroup", "Alice", "BLOCK", "0", "STREAMS", "mystream", ">"), rd...)
			r.send(ch.raw)
			for _, want := range ch.replies {
				r.expect(want)
			}
			if got := rd[0].readReply(); got != "-UNBLOCKED the stream key no longer exists\r\n" {
				t.Fatalf("round %d: the XREADGROUP blocked before %s got %q, want UNBLOCKED", round, ch.name, got)
			}
			closeAll(rd)
		}
	})
}

// BenchmarkMoveToDedicated is one client's life that leaves the shared lane: connect, a command on the
// shared lane, one that moves it (SELECT), close. The move takes a ready backend connection instead of
// dialling one, and holds the other clients' shared commands while it writes.
func BenchmarkMoveToDedicated(b *testing.B) {
	e := newEnv(b, allowLoopback(b))
	b.ReportAllocs()
	for range b.N {
		c := dial(b, e.addr, "127.0.0.2")
		if got := c.do("PING"); got != "+PONG\r\n" {
			b.Fatalf("PING: %q", got)
		}
		if got := c.do("SELECT", "0"); got != "+OK\r\n" {
			b.Fatalf("SELECT: %q", got)
		}
		c.c.Close()
	}
}
