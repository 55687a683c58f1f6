package gateway_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/resp"
)

// CLIENT ID, INFO, LIST and KILL inside MULTI are queued and answered in EXEC's array, in order with
// the other commands' replies, as redis-server answers them (issue 18, D9): byte for byte where the
// reply names no connection, field by field where it does.
func TestClientCommandsInMulti(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	oracle := redistest.Start(t) // no other client: moat's lanes are on e.srv

	// Replies that name no connection; an arity error dooms the transaction at once; a syntax error is
	// found at EXEC. Last, the connection kills itself: the rest of EXEC's array is not written, and it
	// closes.
	script := cmd("MULTI") + cmd("CLIENT", "KILL", "ID", "999999") + cmd("CLIENT", "LIST", "TYPE", "foo") +
		cmd("CLIENT", "KILL", "1.2.3.4:5") + cmd("CLIENT", "KILL", "ID", "0") + cmd("client", "kill", "FOO", "bar") +
		cmd("CLIENT", "LIST", "ID", "999999") + cmd("SET", "m", "1") + cmd("GET", "m") + cmd("EXEC") +
		cmd("MULTI") + cmd("SET", "m", "2") + cmd("CLIENT", "ID", "x") + cmd("CLIENT", "KILL") + cmd("CLIENT", "INFO", "x") + cmd("EXEC") + cmd("GET", "m") +
		cmd("MULTI") + cmd("CLIENT", "INFO") + cmd("DISCARD") +
		cmd("MULTI") + cmd("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no") + cmd("PING") + cmd("EXEC") + cmd("PING")
	want, err := transcript(t, oracle.Addr, "127.0.0.1", script)
	if err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	if !strings.HasSuffix(want, "+QUEUED\r\n*2\r\n:1\r\n") {
		t.Fatalf("redis-server's transcript does not end with the killed EXEC: %q", want)
	}
	got, err := transcript(t, e.addr, "127.0.0.2", script)
	if err != nil {
		t.Fatalf("moat: %v", err)
	}
	if got != want {
		t.Errorf("replies differ\nredis: %q\nmoat:  %q", want, got)
	}

	// Replies that name the connection: the same fields, with moat's ID; the connection shows as one
	// running EXEC.
	for _, proto := range []string{"2", "3"} {
		through, direct := dial(t, e.addr, "127.0.0.2"), dial(t, oracle.Addr, "127.0.0.1")
		var views [2]map[string]string
		for i, c := range []*client{through, direct} {
			if got := c.do("HELLO", proto); !strings.HasPrefix(got, "*") && !strings.HasPrefix(got, "%") {
				t.Fatalf("HELLO %s: %q", proto, got)
			}
			id := clientID(t, c)
			// SELECT and CLIENT SETNAME inside the transaction show from their place on.
			c.send(cmd("MULTI") + cmd("CLIENT", "ID") + cmd("SELECT", "2") + cmd("CLIENT", "SETNAME", "w"+proto) +
				cmd("CLIENT", "INFO") + cmd("CLIENT", "LIST", "ID", id) + cmd("SELECT", "0") + cmd("EXEC"))
			c.expect("+OK\r\n")
			for range 6 {
				c.expect("+QUEUED\r\n")
			}
			el := execElements(t, c.readReply())
			if len(el) != 6 || el[0] != ":"+id+"\r\n" || el[1] != "+OK\r\n" || el[2] != "+OK\r\n" || el[5] != "+OK\r\n" {
				t.Fatalf("RESP%s EXEC: %q (ID %s)", proto, el, id)
			}
			if after := lineFields(t, c.do("CLIENT", "INFO"), proto); after["db"] != "0" || after["name"] != "w"+proto {
				t.Errorf("RESP%s after EXEC: db=%s name=%s, want db=0 name=w%s", proto, after["db"], after["name"], proto)
			}
			info, list := lineFields(t, el[3], proto), lineFields(t, el[4], proto)
			if info["id"] != id || list["id"] != id || info["db"] != "2" || info["name"] != "w"+proto {
				t.Errorf("RESP%s: CLIENT INFO id=%s db=%s name=%s, CLIENT LIST id=%s, want %s, 2, w%s", proto, info["id"], info["db"], info["name"], list["id"], id, proto)
			}
			views[i] = info
			for _, k := range shownFields {
				if info[k] != list[k] {
					t.Errorf("RESP%s: CLIENT INFO %s=%s, CLIENT LIST %s=%s", proto, k, info[k], k, list[k])
				}
			}
		}
		for _, k := range shownFields {
			if views[0][k] != views[1][k] {
				t.Errorf("RESP%s inside EXEC: moat %s=%q, redis %q", proto, k, views[0][k], views[1][k])
			}
		}
	}

	// Killing another connection, and listing it after: in order.
	for _, addr := range []string{e.addr, oracle.Addr} {
		victim := dial(t, addr, "127.0.0.1")
		vid := clientID(t, victim)
		killer := dial(t, addr, "127.0.0.1")
		killer.send(cmd("MULTI") + cmd("CLIENT", "LIST", "ID", vid, "0") + cmd("CLIENT", "KILL", "ID", vid) + cmd("CLIENT", "LIST", "ID", vid) + cmd("EXEC"))
		for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n"} {
			killer.expect(want)
		}
		el := execElements(t, killer.readReply())
		if len(el) != 3 || lineFields(t, el[0], "2")["id"] != vid || el[1] != ":1\r\n" || el[2] != "$0\r\n\r\n" {
			t.Errorf("%s: EXEC killing %s: %q", addr, vid, el)
		}
		victim.expectEOF(replyTimeout)
	}
}

// shownFields are the CLIENT LIST fields that depend on the connection's state, not on who serves it.
var shownFields = []string{"name", "flags", "db", "sub", "psub", "ssub", "multi", "cmd", "user", "redir", "resp"}

// execElements splits an EXEC reply (an array) into its elements' raw frames.
func execElements(t *testing.T, reply string) []string {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(reply))
	head, err := br.ReadString('\n')
	if err != nil || head[0] != '*' {
		t.Fatalf("EXEC reply %q is not an array", reply)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	var out []string
	for range n {
		var b strings.Builder
		w := bufio.NewWriter(&b)
		if err := resp.CopyReply(w, br, nil); err != nil {
			t.Fatalf("EXEC reply %q: %v", reply, err)
		}
		w.Flush()
		out = append(out, b.String())
	}
	return out
}

// lineFields parses a one-line CLIENT INFO or LIST reply (a bulk string in RESP2, a verbatim string in
// RESP3) into its fields.
func lineFields(t *testing.T, frame, proto string) map[string]string {
	t.Helper()
	prefix := "$"
	if proto == "3" {
		prefix = "="
	}
	_, body, ok := strings.Cut(frame, "\r\n")
	if !strings.HasPrefix(frame, prefix) || !ok {
		t.Fatalf("RESP%s CLIENT line %q", proto, frame)
	}
	body = strings.TrimSuffix(strings.TrimPrefix(body, "txt:"), "\n\r\n")
	f := map[string]string{}
	for _, kv := range strings.Split(body, " ") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	return f
}
