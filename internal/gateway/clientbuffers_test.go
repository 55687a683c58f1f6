package gateway_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// tclGlob compiles a Tcl string-match pattern of * wildcards (as Redis's test suite writes them).
func tclGlob(pattern string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)^` + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, `.*`) + `$`)
}

// bulkBody is the text of a RESP2 bulk string reply.
func bulkBody(t *testing.T, reply string) string {
	t.Helper()
	i := strings.Index(reply, "\r\n")
	if !strings.HasPrefix(reply, "$") || i < 0 {
		t.Fatalf("not a bulk string: %q", reply)
	}
	return reply[i+2 : len(reply)-2]
}

// Redis 7.0.15's "CLIENT LIST" and "CLIENT INFO" tests (unit/introspection.tcl:8, :18) pass through
// moat as against redis-server: the caller's line shows its command's 26 bytes in the query buffer and
// the other buffer fields as moat measures them.
func TestClientListMatchesRedisIntrospection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	oracle := redistest.Start(t)
	for _, q := range []struct{ sub, pattern string }{
		{"list", `id=* addr=*:* laddr=*:* fd=* name=* age=* idle=* flags=N db=* sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=* argv-mem=* multi-mem=0 rbs=* rbp=* obl=0 oll=0 omem=0 tot-mem=* events=r cmd=client|list user=* redir=-1 resp=2*`},
		{"info", `id=* addr=*:* laddr=*:* fd=* name=* age=* idle=* flags=N db=* sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=* argv-mem=* multi-mem=0 rbs=* rbp=* obl=0 oll=0 omem=0 tot-mem=* events=r cmd=client|info user=* redir=-1 resp=2*`},
	} {
		re := tclGlob(q.pattern)
		for who, c := range map[string]*client{"moat": dial(t, e.addr, "127.0.0.2"), "redis": dial(t, oracle.Addr, "127.0.0.1")} {
			if got := bulkBody(t, c.do("CLIENT", q.sub)); !re.MatchString(got) {
				t.Errorf("%s: CLIENT %s: %q does not match %q", who, strings.ToUpper(q.sub), got, q.pattern)
			}
		}
	}
}

// CLIENT INFO's buffer fields are moat's figures for the caller (bufferFigures): its command's bytes as
// read (an inline command's line), its arguments' bytes, the read buffer's room, the reply buffer's
// size and the earlier replies still in it; another connection's line shows 0 for them.
func TestClientInfoBufferFigures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	c := dial(t, e.addr, "127.0.0.2")
	other := dial(t, e.addr, "127.0.0.3")
	other.expect2("PING", "+PONG\r\n")
	fields := func(line string) map[string]string {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		return f
	}
	check := func(what, line string, want map[string]int) {
		t.Helper()
		f := fields(line)
		for k, v := range want {
			if f[k] != strconv.Itoa(v) {
				t.Errorf("%s: %s=%s, want %d (%q)", what, k, f[k], v, line)
			}
		}
	}
	const rbs = 16 * 1024
	check("CLIENT INFO", bulkBody(t, c.do("CLIENT", "INFO")), map[string]int{"qbuf": 26, "qbuf-free": 16*1024 - 26,
		"argv-mem": 10, "multi-mem": 0, "rbs": rbs, "rbp": rbs, "obl": 0, "oll": 0, "omem": 0, "tot-mem": 32 * 1024})
	c.send("client   info\r\n")
	check("inline CLIENT INFO", bulkBody(t, c.readReply()), map[string]int{"qbuf": 15, "qbuf-free": 16*1024 - 15, "argv-mem": 10})
	// Pipelined after a GET, whose 108-byte reply waits in the reply buffer, as in Redis's.
	c.expectOK("SET", "k", strings.Repeat("v", 100))
	c.send(cmd("GET", "k") + cmd("CLIENT", "INFO"))
	c.readReply()
	check("CLIENT INFO after GET", bulkBody(t, c.readReply()), map[string]int{"qbuf": 26, "obl": 108})
	direct := dial(t, e.srv.Addr, "127.0.0.1")
	direct.send(cmd("GET", "k") + cmd("CLIENT", "INFO"))
	direct.readReply()
	if f := fields(bulkBody(t, direct.readReply())); f["obl"] != "108" {
		t.Errorf("redis-server's obl after GET: %s", f["obl"])
	}
	// Another connection's line: not measured.
	for _, l := range strings.Split(bulkBody(t, c.do("CLIENT", "LIST")), "\n") {
		if f := fields(l); l != "" && f["addr"] == other.c.LocalAddr().String() {
			check("another connection", l, map[string]int{"qbuf": 0, "qbuf-free": 0, "argv-mem": 0, "rbs": 0, "obl": 0, "tot-mem": 0})
		}
	}
	// Inside EXEC the command is no longer in the read buffer.
	c.expectOK("MULTI")
	c.expect2("CLIENT", "+QUEUED\r\n", "INFO")
	exec := c.do("EXEC")
	line := exec[strings.Index(exec, "id="):]
	check("CLIENT INFO in EXEC", line, map[string]int{"qbuf": 0, "argv-mem": 0, "rbs": rbs})
}
