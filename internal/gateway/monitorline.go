package gateway

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/resp"
)

// monitorView is what a monitoring session knows of the backend connections its MONITOR lines name
// (monitor.go), by moat's end of each. The zero value is ready. Pump goroutine.
type monitorView struct {
	conns map[string]*monConn
	start *monStart // session.monFrom, as of the last line: a new MONITOR begins anew
	// unowned: the addresses no session owned when looked up, with monitorState.owners then (another
	// gateway's connections to the backend, say, whose every line would cost a walk of the sessions).
	unowned map[string]uint64

	buf  []byte // the line's arguments, unquoted, one after another
	ends []int  // where each argument ends in buf
	enc  []byte // the arguments encoded as a command, for its fingerprint
}

// monConn is one backend connection a monitor's lines name: a session's own, or a shared lane.
type monConn struct {
	s    *session // the owner of a dedicated connection
	l    *lane    // or the shared lane
	next uint64   // the lane's next record to match (laneRing)
	// hs: the handshake lines of a dedicated connection dialled while a session monitored, still to be
	// dropped (they come first); shown: a line of it was shown (no handshake line comes after).
	hs    handshake
	shown bool
}

// rewrite returns a MONITOR line ("+<time> [<db> <addr>] "arg" …") of the session s with the backend
// address replaced by the address of the client that sent the command; the line as it is when it names
// no connection of moat's (a script's, another client of the backend); nil for a line of moat's own
// work, which the monitor is not shown (see monitor.go).
func (v *monitorView) rewrite(s *session, line []byte) []byte {
	open := bytes.IndexByte(line, '[')
	if open < 0 {
		return line
	}
	sp := bytes.IndexByte(line[open:], ' ')
	end := bytes.IndexByte(line[open:], ']')
	if sp < 0 || end < sp {
		return line
	}
	addrAt, addrEnd := open+sp+1, open+end
	if cmd := line[addrEnd+1:]; len(cmd) > 7 && bytes.EqualFold(cmd[:8], []byte(` "AUTH" `)) {
		return nil
	}
	addr := string(line[addrAt:addrEnd])
	// A script's; behind a unix socket ("unix:<path>", "<path>:0" in older Redis), any connection's.
	if addr == "lua" || strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") {
		return line
	}
	parsed := false
	parse := func() bool {
		if !parsed {
			parsed = v.parseArgs(line[addrEnd:])
		}
		return parsed
	}
	c := v.conn(s, addr)
	if c == nil {
		if parse() && v.handshakeLine() {
			return nil
		}
		return line
	}
	if c.hs != 0 && !c.shown && parse() && v.dropHandshake(c, s.in.monitor.selectDB) {
		return nil
	}
	var client string
	if c.s != nil {
		client = c.s.addrString()
	} else {
		if !parse() {
			return line
		}
		fp, byHead := v.fingerprint(s.in.monitor.seed)
		a, ok := c.l.attribute(fp, byHead, &c.next)
		if !ok {
			return nil
		}
		client = a.String()
	}
	c.shown = true
	return slices.Concat(line[:addrAt], []byte(client), line[addrEnd:])
}

// maxUnowned bounds monitorView.unowned (it starts again empty).
const maxUnowned = 4096

// conn returns what v knows of the connection with moat's end addr, looking it up when it is new or
// has ended; nil when it is neither a session's nor a lane (not kept: a ready connection becomes a
// session's later).
func (v *monitorView) conn(s *session, addr string) *monConn {
	if start := s.monFrom.Load(); start != v.start {
		v.start, v.conns = start, nil
	}
	c := v.conns[addr]
	switch {
	case c == nil:
	case c.s != nil && !c.s.closing() && c.s.backendAddr() == addr, c.l != nil && !c.l.failed():
		return c
	}
	in := s.in
	var ss *session
	owners := in.monitor.owners.Load()
	if seen, ok := v.unowned[addr]; !ok || seen != owners {
		if ss = in.ownerOf(addr); ss == nil {
			if v.unowned == nil || len(v.unowned) >= maxUnowned {
				v.unowned = make(map[string]uint64)
			}
			v.unowned[addr] = owners
		}
	}
	if ss != nil {
		c = &monConn{s: ss}
	} else if l := in.laneAt(addr); l != nil {
		c = &monConn{l: l}
		if v.start != nil {
			c.next = v.start.from[l]
		}
	} else {
		return c // nil, or a connection that ended: its last lines may still come
	}
	if c.s != nil {
		c.hs = in.monitor.handshakeOf(addr)
	}
	if v.conns == nil {
		v.conns = make(map[string]*monConn)
	}
	v.conns[addr] = c
	return c
}

// parseArgs unquotes the arguments of a MONITOR line (p: from the ']' after the address), as Redis
// quotes them (sdscatrepr: \\ \" \n \r \t \a \b and \xHH), into buf and ends. False: p is not such.
func (v *monitorView) parseArgs(p []byte) bool {
	v.buf, v.ends = v.buf[:0], v.ends[:0]
	p = bytes.TrimSuffix(p[1:], crlf)
	for len(p) > 0 {
		if len(p) < 2 || p[0] != ' ' || p[1] != '"' {
			return false
		}
		p = p[2:]
		closed := false
		for len(p) > 0 && !closed {
			c := p[0]
			if c == '"' {
				p, closed = p[1:], true
				continue
			}
			if c != '\\' {
				v.buf = append(v.buf, c)
				p = p[1:]
				continue
			}
			if len(p) < 2 {
				return false
			}
			step := 2
			switch p[1] {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'a':
				c = '\a'
			case 'b':
				c = '\b'
			case '\\', '"':
				c = p[1]
			case 'x':
				hi, lo := unhex(p, 2), unhex(p, 3)
				if hi < 0 || lo < 0 {
					return false
				}
				c, step = byte(hi<<4|lo), 4
			default:
				return false
			}
			v.buf = append(v.buf, c)
			p = p[step:]
		}
		if !closed {
			return false
		}
		v.ends = append(v.ends, len(v.buf))
	}
	return len(v.ends) > 0
}

// unhex is the value of the hex digit p[i]; -1 when there is none.
func unhex(p []byte, i int) int {
	if i >= len(p) {
		return -1
	}
	switch c := p[i]; {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// arg is the parsed line's argument i.
func (v *monitorView) arg(i int) []byte {
	start := 0
	if i > 0 {
		start = v.ends[i-1]
	}
	return v.buf[start:v.ends[i]]
}

// fingerprint is the parsed line's command's, as laneRing.record takes it: of the command encoded as
// moat sends it (an array of bulk strings); byHead: of its head alone, as the backend redacted some of
// its arguments (Redis shows "(redacted)" in place of MIGRATE's AUTH, say).
func (v *monitorView) fingerprint(seed maphash.Seed) (fp uint64, byHead bool) {
	v.enc = resp.AppendArray(v.enc[:0], len(v.ends))
	for i := range v.ends {
		a := v.arg(i)
		if i > 0 && string(a) == "(redacted)" {
			byHead = true
		}
		v.enc = resp.AppendBulk(v.enc, a)
	}
	if byHead {
		return maphash.Bytes(seed, cmdHead(v.enc)), true
	}
	return maphash.Bytes(seed, v.enc), false
}

// handshakeLine reports whether the parsed line is one moat's handshake of a backend connection sends:
// HELLO 3 (a RESP3 connection), SELECT <db> (a backend URL with a database).
func (v *monitorView) handshakeLine() bool {
	if len(v.ends) != 2 {
		return false
	}
	switch name, a := string(v.arg(0)), v.arg(1); name {
	case "HELLO":
		return string(a) == "3"
	case "SELECT":
		return strictInt(a)
	}
	return false
}

// dropHandshake reports whether the parsed line, the first of c shown to this monitor, is one of c's
// handshake lines still expected, and if so takes it (and those before it) off c.hs.
func (v *monitorView) dropHandshake(c *monConn, db string) bool {
	if len(v.ends) != 2 {
		return false
	}
	switch name, a := string(v.arg(0)), string(v.arg(1)); {
	case c.hs&hsSelect != 0 && name == "SELECT" && a == db:
		c.hs &^= hsSelect
		return true
	case c.hs&hsHello != 0 && name == "HELLO" && a == "3":
		c.hs = 0
		return true
	}
	return false
}

// backendAddr is moat's end of the session's dedicated backend connection ("" without one).
func (s *session) backendAddr() string {
	s.mu.Lock()
	be := s.be
	s.mu.Unlock()
	if be == nil {
		return ""
	}
	return be.LocalAddr().String()
}

// ownerOf returns the open session whose dedicated backend connection has the local address addr.
func (in *Instance) ownerOf(addr string) *session {
	for _, ss := range in.clients() {
		if ss.backendAddr() == addr {
			return ss
		}
	}
	return nil
}
