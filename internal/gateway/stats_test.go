package gateway_test

import (
	"bufio"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// statsUsers: the default user without a password, as Redis's test suite runs; ACL SETUSER through moat
// changes them (newPublishingEnv).
var statsUsers = [][]string{{"default", "on", "nopass", "~*", "&*", "+@all"}}

// statsPair is moat (with statsUsers) in front of a redis-server, beside a plain redis-server: the same
// script runs on both (each) and what it shows must be the same.
type statsPair struct {
	moat  *env
	plain *redistest.Server
}

func newStatsPair(t *testing.T) *statsPair {
	t.Helper()
	return &statsPair{moat: newPublishingEnv(t, statsUsers), plain: redistest.Start(t)}
}

// check runs script on both (each), after CONFIG RESETSTAT, and wants want from each; what names it in
// the failure.
func (p *statsPair) check(t *testing.T, what, want string, script func(c *client) string) {
	t.Helper()
	moat, plain := p.each(t, func(c *client) string {
		c.expectOK("CONFIG", "RESETSTAT")
		return script(c)
	})
	if moat != want || plain != want {
		t.Errorf("%s:\nmoat:  %q\nredis: %q\nwant:  %q", what, moat, plain, want)
	}
}

// each runs script on a new client of moat, then of the plain redis-server, and returns what it
// returned for each.
func (p *statsPair) each(t *testing.T, script func(c *client) string) (moat, plain string) {
	t.Helper()
	moat = script(dial(t, p.moat.addr, "127.0.0.2"))
	plain = script(dial(t, p.plain.Addr, "127.0.0.1"))
	return moat, plain
}

// timings matches the figures of INFO's statistics that are times: usec, usec_per_call, percentiles.
var timings = regexp.MustCompile(`(usec|usec_per_call|p[0-9.]+)=[0-9.]+`)

// statLines are the lines of an INFO reply that name, with their times masked, sorted: the lines of
// names given whole ("total_error_replies"), or starting with a name ending in "_" ("errorstat_").
func statLines(reply string, names ...string) string {
	var out []string
	for line := range strings.SplitSeq(reply, "\r\n") {
		key, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if key == n || strings.HasSuffix(n, "_") && strings.HasPrefix(key, n) {
				out = append(out, timings.ReplaceAllString(line, "$1=T"))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// histogramEntries decodes a LATENCY HISTOGRAM reply (RESP2 or RESP3) into "name calls=N samples=S" per command,
// in order, S the sum of the histogram's last cumulative count; its buckets must rise.
func histogramEntries(t *testing.T, reply string) []string {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(reply))
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("LATENCY HISTOGRAM reply %q: %v", reply, err)
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	count := func(prefix byte) int {
		l := line()
		n, err := strconv.Atoi(l[1:])
		if l[0] != prefix || err != nil {
			t.Fatalf("LATENCY HISTOGRAM reply %q: %q where %c was due", reply, l, prefix)
		}
		return n
	}
	str := func() string { count('$'); return line() }
	pairsOf := func() int { // a map: RESP2's flat array, or RESP3's
		if b, _ := br.Peek(1); len(b) == 1 && b[0] == '%' {
			return count('%')
		}
		return count('*') / 2
	}
	var out []string
	n := pairsOf()
	for range n {
		name := str()
		pairsOf()
		str() // calls
		calls := count(':')
		str() // histogram_usec
		pairs := pairsOf()
		last, lastUsec := 0, -1
		for range pairs {
			usec, cum := count(':'), count(':')
			if usec <= lastUsec || cum <= last {
				t.Errorf("%s: bucket %d:%d after %d:%d in %q", name, usec, cum, lastUsec, last, reply)
			}
			last, lastUsec = cum, usec
		}
		out = append(out, name+" calls="+strconv.Itoa(calls)+" samples="+strconv.Itoa(last))
	}
	if rest, _ := br.Peek(1); len(rest) > 0 {
		t.Fatalf("LATENCY HISTOGRAM reply %q: bytes after its end", reply)
	}
	sort.Strings(out)
	return out
}

// Redis's unit/latency-monitor "LATENCY HISTOGRAM sub commands": CLIENT ID and CLIENT LIST (which moat
// answers) show in LATENCY HISTOGRAM client as in redis-server's, one call each; so do one named
// command alone and the whole histogram (but for the CONFIG GET moat asks on each of its connections
// to the backend); and over RESP3, a map of maps.
func TestLatencyHistogramHasMoatsCommands(t *testing.T) {
	t.Parallel()
	want := "client|id calls=1 samples=1,client|list calls=1 samples=1 | client|list calls=1 samples=1 | " +
		"client|id calls=1 samples=1,client|list calls=1 samples=1,config|resetstat calls=1 samples=1,latency|histogram calls=2 samples=2 | " +
		"client|id calls=1 samples=1,client|info calls=1 samples=1,client|list calls=1 samples=1"
	newStatsPair(t).check(t, "LATENCY HISTOGRAM", want, func(c *client) string {
		c.do("CLIENT", "ID")
		c.do("CLIENT", "LIST")
		got := strings.Join(histogramEntries(t, c.do("LATENCY", "HISTOGRAM", "client")), ",")
		got += " | " + strings.Join(histogramEntries(t, c.do("LATENCY", "HISTOGRAM", "CLIENT|LIST", "nosuch")), ",")
		var all []string // moat's own connections to the backend add their CONFIG GET: left out
		for _, e := range histogramEntries(t, c.do("LATENCY", "HISTOGRAM")) {
			if !strings.HasPrefix(e, "config|get ") {
				all = append(all, e)
			}
		}
		got += " | " + strings.Join(all, ",")
		if r := c.do("HELLO", "3"); !strings.HasPrefix(r, "%") {
			t.Fatalf("HELLO 3: %q", r)
		}
		c.do("CLIENT", "INFO")
		return got + " | " + strings.Join(histogramEntries(t, c.do("LATENCY", "HISTOGRAM", "client")), ",")
	})
}

// Redis's unit/info "latencystats: subcommands": the percentiles of CLIENT ID (which the backend
// answers outside MULTI) and CLIENT INFO (which moat answers) are in INFO latencystats, at the
// percentiles configured on the backend.
func TestInfoLatencystatsSubcommands(t *testing.T) {
	t.Parallel()
	want := "latency_percentiles_usec_client|id:p50=T,p99=T,p99.9=T\nlatency_percentiles_usec_client|info:p50=T,p99=T,p99.9=T\n" +
		"latency_percentiles_usec_config|resetstat:p50=T,p99=T,p99.9=T\nlatency_percentiles_usec_config|set:p50=T,p99=T,p99.9=T" +
		" | latency_percentiles_usec_client|info:p0=T,p100=T"
	newStatsPair(t).check(t, "INFO latencystats", want, func(c *client) string {
		c.expectOK("CONFIG", "SET", "latency-tracking", "yes")
		c.expectOK("CONFIG", "SET", "latency-tracking-info-percentiles", "50.0 99.0 99.9")
		c.do("CLIENT", "ID")
		c.do("CLIENT", "INFO")
		// Not config|get: moat's own connections to the backend ask it.
		got := statLines(c.do("INFO", "latencystats"), "latency_percentiles_usec_client|id", "latency_percentiles_usec_client|info",
			"latency_percentiles_usec_config|set", "latency_percentiles_usec_config|resetstat")
		c.expectOK("CONFIG", "SET", "latency-tracking-info-percentiles", "0 100")
		return got + " | " + statLines(c.do("INFO", "latencystats"), "latency_percentiles_usec_client|info")
	})
}

// Redis's unit/info "errorstats: failed call authentication error": a failed AUTH (which moat answers)
// is a failed call of auth, an ERR error reply; CONFIG RESETSTAT forgets it.
func TestErrorstatsFailedAuth(t *testing.T) {
	t.Parallel()
	fields := []string{"errorstat_", "cmdstat_auth", "total_error_replies"}
	want := "total_error_replies:0 | cmdstat_auth:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=1\n" +
		"errorstat_ERR:count=1\ntotal_error_replies:1 | total_error_replies:0"
	newStatsPair(t).check(t, "statistics of a failed AUTH", want, func(c *client) string {
		before := statLines(c.do("INFO", "all"), fields...)
		if r := c.do("AUTH", "k"); !strings.HasPrefix(r, "-ERR AUTH") {
			t.Errorf("AUTH k: %q", r)
		}
		after := statLines(c.do("INFO", "all"), fields...)
		c.expectOK("CONFIG", "RESETSTAT")
		return before + " | " + after + " | " + statLines(c.do("INFO"), fields...)
	})
}

// Redis's unit/info "errorstats: failed call within MULTI/EXEC": the AUTH run by EXEC (moat's, in
// EXEC's array) is a failed call; EXEC's own error afterwards is the backend's.
func TestErrorstatsFailedCallInsideExec(t *testing.T) {
	t.Parallel()
	fields := []string{"errorstat_", "cmdstat_auth", "cmdstat_set", "cmdstat_exec", "total_error_replies"}
	want := "*2\r\n+OK\r\n-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n" +
		"cmdstat_auth:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=1\n" +
		"cmdstat_exec:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=0\n" +
		"cmdstat_set:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=0\nerrorstat_ERR:count=1\ntotal_error_replies:1 | " +
		"cmdstat_auth:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=1\n" +
		"cmdstat_exec:calls=2,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=1\n" +
		"cmdstat_set:calls=1,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=0\nerrorstat_ERR:count=2\ntotal_error_replies:2"
	newStatsPair(t).check(t, "statistics of a failed AUTH inside EXEC", want, func(c *client) string {
		c.expectOK("MULTI")
		c.send(cmd("SET", "a", "b") + cmd("AUTH", "a"))
		c.expect("+QUEUED\r\n")
		c.expect("+QUEUED\r\n")
		exec := c.do("EXEC")
		got := statLines(c.do("INFO", "all"), fields...)
		c.do("EXEC")
		return exec + got + " | " + statLines(c.do("INFO", "all"), fields...)
	})
}

// Redis's unit/info "errorstats: rejected call by authorization error": moat's NOPERM is a rejected
// call of the command and a NOPERM error reply; CONFIG RESETSTAT forgets it.
func TestErrorstatsRejectedByACL(t *testing.T) {
	t.Parallel()
	fields := []string{"errorstat_", "cmdstat_set", "total_error_replies"}
	want := "cmdstat_set:calls=0,usec=T,usec_per_call=T,rejected_calls=1,failed_calls=0\nerrorstat_NOPERM:count=1\ntotal_error_replies:1 | " +
		"total_error_replies:0"
	newStatsPair(t).check(t, "statistics of a NOPERM", want, func(c *client) string {
		c.expectOK("ACL", "SETUSER", "alice", "on", ">p1pp0", "~cached:*", "+get", "+info", "+config")
		c.expectOK("AUTH", "alice", "p1pp0")
		if r := c.do("SET", "a", "b"); !strings.HasPrefix(r, "-NOPERM") {
			t.Errorf("SET as alice: %q", r)
		}
		got := statLines(c.do("INFO", "all"), fields...)
		c.expectOK("CONFIG", "RESETSTAT")
		got += " | " + statLines(c.do("INFO", "all"), fields...)
		c.expectOK("AUTH", "default", "")
		return got
	})
}

// The commands moat refuses or answers itself for restricted users count in INFO as redis-server with
// the same users counts them: NOPERM of a command and of a key (rejected calls), an arity error, an
// unknown command and subcommand (errors only), a wrong password (a failed AUTH: its errorstat; the
// calls of auth are not compared, since moat logs its connections to the backend in as a restricted
// user's backend identity), a CLIENT KILL that finds no client (a failed call, answered in the pump),
// a transaction doomed by an arity error (EXECABORT: a failed EXEC), NOAUTH; INFO everything and INFO
// over RESP3 show the same.
func TestStatsOfMoatsRefusalsMatchRedis(t *testing.T) {
	t.Parallel()
	e := newACLEnv(t)
	fields := []string{"errorstat_", "total_error_replies", "cmdstat_set", "cmdstat_flushall", "cmdstat_get",
		"cmdstat_client|kill", "cmdstat_client|list", "cmdstat_exec", "cmdstat_acl|whoami"}
	var got [2]string
	for i, addr := range []string{e.oracle.Addr, e.addr} {
		admin := dial(t, addr, "127.0.0.1")
		admin.expectOK("AUTH", "admin", "adminpw")
		admin.expectOK("CONFIG", "RESETSTAT")
		c := dial(t, addr, "127.0.0.2")
		c.send(cmd("GET", "k") + cmd("AUTH", "alice", "wrong") + cmd("AUTH", "alice", "apw") + cmd("SET", "other", "v") +
			cmd("FLUSHALL") + cmd("GET") + cmd("FOO") + cmd("CLIENT", "NOSUCH") + cmd("CLIENT", "KILL", "10.9.9.9:1") +
			cmd("CLIENT", "LIST", "TYPE", "x") + cmd("ACL", "WHOAMI") + cmd("SET", "app:1", "v") +
			cmd("MULTI") + cmd("SET", "app:1") + cmd("EXEC"))
		for range 15 {
			got[i] += c.readReply()
		}
		got[i] += admin.do("CLIENT", "KILL", "10.9.9.9:1")
		got[i] += statLines(admin.do("INFO", "everything"), fields...)
		if r := admin.do("HELLO", "3"); !strings.HasPrefix(r, "%") {
			t.Fatalf("HELLO 3: %q", r)
		}
		got[i] += " | " + statLines(admin.do("INFO", "errorstats", "stats"), "errorstat_", "total_error_replies")
	}
	if got[1] != got[0] {
		t.Errorf("statistics of refusals:\nredis: %q\nmoat:  %q", got[0], got[1])
	}
	if !strings.Contains(got[0], "errorstat_NOPERM:count=4") || !strings.Contains(got[0], "cmdstat_client|kill:calls=1,") {
		t.Errorf("redis-server's statistics: %q", got[0])
	}
}

// CLIENT ID is answered by the backend outside MULTI and by moat inside: its calls add up in
// commandstats and in one LATENCY HISTOGRAM entry, whose buckets merge, as in redis-server's.
func TestStatsOfACommandBothCount(t *testing.T) {
	t.Parallel()
	want := "client|id calls=3 samples=3 | cmdstat_client|id:calls=3,usec=T,usec_per_call=T,rejected_calls=0,failed_calls=0"
	newStatsPair(t).check(t, "CLIENT ID inside and outside MULTI", want, func(c *client) string {
		c.do("CLIENT", "ID")
		c.expectOK("MULTI")
		c.send(cmd("CLIENT", "ID") + cmd("CLIENT", "ID"))
		c.expect("+QUEUED\r\n")
		c.expect("+QUEUED\r\n")
		if r := c.do("EXEC"); !strings.HasPrefix(r, "*2\r\n:") {
			t.Errorf("EXEC: %q", r)
		}
		got := strings.Join(histogramEntries(t, c.do("LATENCY", "HISTOGRAM", "client|id")), ",")
		return got + " | " + statLines(c.do("INFO", "commandstats"), "cmdstat_client|id")
	})
}
