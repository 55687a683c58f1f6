package gateway

import (
	"bufio"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// The client connection as moat knows it: how it was accepted, and what CLIENT LIST and CLIENT INFO show
// of it (describe), kept up to date by the reader and the pump.

// clientState is what a session knows of its client connection: how it was accepted (socket, TLS, PROXY
// header, address) and what CLIENT LIST shows of it. Fields are set before the session is visible to
// other goroutines and not changed after, unless noted.
type clientState struct {
	id       int64
	created  time.Time
	raw      net.Conn       // the accepted socket (conn may be TLS, or read a PROXY header's leftovers first)
	secure   bool           // accepted on a TLS listener
	proxied  bool           // from a trusted load balancer: a PROXY header comes first
	deferred string         // the verdict's refusal reason, sent once the TLS handshake is done (protected mode); "": none
	counted  bool           // counted in acceptState.perIP; guarded by Instance.mu
	addrPort netip.AddrPort // the client's address and port, unmapped (the PROXY header's when proxied)
	lb       netip.AddrPort // the load balancer, when proxied

	sniff proxySniffer // the read path's first bytes (reader goroutine)
	// changingACL: the reader is inside an ACL change (aclcmd.go); Publish leaves the connection to
	// close itself after its reply if its own user went.
	changingACL atomic.Bool
	subs        subsView // what the pump last published to view (pump goroutine)

	view clientView // for CLIENT LIST; guarded by session.mu
}

// clientView is the part of CLIENT LIST that changes as the connection is used.
type clientView struct {
	lastCmd string // canonical name of the last known command; "" before the first
	lastAt  int64  // unix nanoseconds of the last batch of commands
	multi   int    // commands queued inside MULTI, -1 outside
	name    string // CLIENT SETNAME / HELLO SETNAME, once the backend accepted it
	user    string // the ACL user (auth.go)
	authed  bool   // authenticated as user
	db      int
	resp3   bool
	subsView
}

type subsView struct {
	sub, psub, ssub int
	monitor         bool
}

// noteBatch records, for CLIENT LIST, the last command of a batch the reader decided.
func (s *session) noteBatch(st *decideState, e *command, last *resp.Command) {
	name := commandName(e, last)
	now := time.Now().UnixNano()
	multi := -1
	if st.multi {
		multi = st.queued
	}
	s.mu.Lock()
	if name != "" {
		s.client.view.lastCmd = name
	}
	s.client.view.lastAt = now
	s.client.view.multi = multi
	s.mu.Unlock()
}

// commandName is the canonical name CLIENT LIST shows for c, whose entry decide looked up as e: its
// original name (rename-command undone), "container|sub" for a known subcommand, "" for a command Redis
// does not know.
func commandName(e *command, c *resp.Command) string {
	return e.canonicalFor(c)
}

// noteSubs publishes the pump's subscription state to the view when it changed.
func (s *session) noteSubs(st *pumpState) {
	v := subsView{sub: st.channels, psub: st.patterns, ssub: st.shards, monitor: st.monitoring}
	if v == s.client.subs {
		return
	}
	s.client.subs = v
	s.mu.Lock()
	s.client.view.subsView = v
	s.mu.Unlock()
}

// noteReply records what a completed reply tells about the connection: the database SELECT chose, the
// name CLIENT SETNAME or HELLO set, the protocol HELLO chose, RESET's clean slate. Pump goroutine.
func (s *session) noteReply(sl *slot, info *resp.ReplyInfo) {
	ok := info.Type != '-' && info.Type != '!'
	switch {
	case sl.kind == kindSelect && ok:
		s.mu.Lock()
		s.client.view.db = sl.n
		s.mu.Unlock()
	case sl.kind == kindHello && ok:
		s.mu.Lock()
		s.client.view.resp3 = info.Type == '%' // HELLO answers a map in RESP3, an array in RESP2
		if sl.call != nil {
			s.client.view.name = sl.call.name
		}
		s.mu.Unlock()
	case sl.kind == kindReset && ok:
		s.noteReset()
	case sl.call != nil && sl.call.op == opMirrorLua && !ok:
		s.mirrorScriptDenials(0) // a restricted user's script refused something (scriptlog.go)
	case sl.call != nil && sl.call.op == opSetName && ok:
		s.mu.Lock()
		s.client.view.name = sl.call.name
		s.mu.Unlock()
	}
}

// noteReset records RESET's clean slate: database 0, no name, RESP2.
func (s *session) noteReset() {
	s.mu.Lock()
	s.client.view.db, s.client.view.name, s.client.view.resp3 = 0, "", false
	s.mu.Unlock()
}

func (s *session) snapshotView() clientView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client.view
}

func (s *session) addrPort() netip.AddrPort { return s.client.addrPort }

func (s *session) addrString() string { return s.client.addrPort.String() }

// localAddr is the client's socket's local address (while the session is parked, its parkedConn's).
func (s *session) localAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client.raw.LocalAddr()
}

func (s *session) laddrString() string {
	a := s.localAddr()
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return a.String()
}

// user is the connection's ACL user, as CLIENT LIST shows it.
func (s *session) user() string { return s.snapshotView().user }

// noteUser records the connection's ACL user (reader goroutine, at AUTH, HELLO AUTH and RESET).
func (s *session) noteUser(name string, authed bool) {
	s.mu.Lock()
	s.client.view.user, s.client.view.authed = name, authed
	s.mu.Unlock()
}

func (s *session) clientType() int8 {
	v := s.snapshotView()
	if v.sub+v.psub+v.ssub > 0 {
		return typePubSub
	}
	return typeNormal
}

// fd returns the socket's file descriptor, or -1.
func (s *session) fd() int {
	s.mu.Lock()
	raw, parked := s.client.raw, s.park.pc
	s.mu.Unlock()
	if parked != nil {
		return parked.fd
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// bufferFigures are the buffer fields of a CLIENT LIST / CLIENT INFO line of the connection that runs
// the command. moat measures them only then — the reader when it decides the command (readFigures), the
// pump when it builds the reply (replyBuffer) — so forwarded commands pay nothing for them. What each
// field shows in moat [Redis 7.0's meaning]:
//
//   - qbuf [query buffer length]: the bytes the CLIENT LIST/INFO command took in moat's read buffer (26
//     for *2 $6 client $4 list; an inline command's line). Redis also counts what else of the same read
//     is still in its buffer; moat's reader has moved on by the time the reply is built.
//   - qbuf-free [the query buffer's free space]: the rest of moat's read buffer (its size less qbuf).
//   - argv-mem [the current command's arguments]: the bytes of its arguments, as Redis's argv_len_sum.
//   - multi-mem [the commands queued in MULTI]: 0, moat holds none: the backend queues them.
//   - rbs [the reply buffer's usable size]: the size of the buffer moat writes the client's replies
//     through (16 KiB).
//   - rbp [the reply buffer's peak use in the last 5 s]: not tracked; rbs, as Redis shows it before its
//     cron first measures a peak.
//   - obl [bytes in the reply buffer]: replies to the client's earlier commands buffered, not yet written.
//   - oll, omem [the reply list beyond the buffer]: 0, moat keeps no list: a reply longer than the
//     buffer is written through to the socket.
//   - tot-mem [the client's memory]: moat's read and reply buffers (qbuf + qbuf-free + rbs).
//
// Inside EXEC the command's bytes left the read buffer when it was queued: qbuf, qbuf-free and argv-mem
// are 0. Another connection's line shows 0 for every field: its buffers belong to its own goroutines,
// which CLIENT LIST does not stop to read (an idle one holds neither: bufpool.go lends its read buffer,
// but on TLS, and pools its reply writer). Redis's resizing of its buffers (its clients cron, which
// unit/querybuf.tcl tests) has no counterpart in moat.
type bufferFigures struct {
	qbuf, qbufFree, argvMem int // the reader's, when it decides the command
	rbs, obl                int // the pump's, when it builds the reply
}

// readFigures measures c, a CLIENT LIST or INFO being decided, in the read buffer. Reader goroutine.
func (st *decideState) readFigures(c *resp.Command) bufferFigures {
	if c.Raw == nil || st.rd == nil { // replayed at EXEC: no longer in the read buffer
		return bufferFigures{}
	}
	f := bufferFigures{qbuf: c.InputSize()}
	f.qbufFree = max(st.rd.Size()-f.qbuf, 0)
	for _, a := range c.Args {
		f.argvMem += len(a)
	}
	return f
}

// replyBuffer measures w, the pump's writer to the client, as a call's reply is about to be built.
func (f *bufferFigures) replyBuffer(w *bufio.Writer) { f.rbs, f.obl = w.Size(), w.Buffered() }

// describe appends the connection's CLIENT LIST line (without the newline): Redis 7.0's fields in
// Redis's order, with moat's values, then moat's own instance=. Its buffer figures are 0
// (bufferFigures: the caller's own line has them).
func (s *session) describe(b []byte, now time.Time) []byte {
	return s.describeView(b, now, s.snapshotView(), bufferFigures{})
}

// describeInExec is describe while the connection runs EXEC of a transaction of queued commands, as
// Redis shows a client then: flags x, multi=queued, cmd=exec; with the figures f of its buffers.
func (s *session) describeInExec(b []byte, now time.Time, queued int, f bufferFigures) []byte {
	v := s.snapshotView()
	v.multi, v.lastCmd = queued, "exec"
	return s.describeView(b, now, v, f)
}

// describeView is describe with the view v and the buffer figures f.
func (s *session) describeView(b []byte, now time.Time, v clientView, f bufferFigures) []byte {
	last := v.lastAt
	if last == 0 {
		last = s.client.created.UnixNano()
	}
	flags := ""
	if v.monitor {
		flags += "O"
	}
	if v.sub+v.psub+v.ssub > 0 {
		flags += "P"
	}
	if v.multi >= 0 {
		flags += "x"
	}
	if flags == "" {
		flags = "N"
	}
	cmd := v.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	proto := 2
	if v.resp3 {
		proto = 3
	}
	b = append(b, "id="...)
	b = strconv.AppendInt(b, s.client.id, 10)
	b = append(b, " addr="...)
	b = append(b, s.addrString()...)
	b = append(b, " laddr="...)
	b = append(b, s.laddrString()...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(s.fd()), 10)
	b = append(b, " name="...)
	b = append(b, v.name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(s.client.created)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, max(0, (now.UnixNano()-last)/int64(time.Second)), 10)
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(v.db), 10)
	b = append(b, " sub="...)
	b = strconv.AppendInt(b, int64(v.sub), 10)
	b = append(b, " psub="...)
	b = strconv.AppendInt(b, int64(v.psub), 10)
	b = append(b, " ssub="...)
	b = strconv.AppendInt(b, int64(v.ssub), 10)
	b = append(b, " multi="...)
	b = strconv.AppendInt(b, int64(v.multi), 10)
	b = append(b, " qbuf="...)
	b = strconv.AppendInt(b, int64(f.qbuf), 10)
	b = append(b, " qbuf-free="...)
	b = strconv.AppendInt(b, int64(f.qbufFree), 10)
	b = append(b, " argv-mem="...)
	b = strconv.AppendInt(b, int64(f.argvMem), 10)
	b = append(b, " multi-mem=0 rbs="...)
	b = strconv.AppendInt(b, int64(f.rbs), 10)
	b = append(b, " rbp="...)
	b = strconv.AppendInt(b, int64(f.rbs), 10)
	b = append(b, " obl="...)
	b = strconv.AppendInt(b, int64(f.obl), 10)
	b = append(b, " oll=0 omem=0 tot-mem="...)
	b = strconv.AppendInt(b, int64(f.qbuf+f.qbufFree+f.rbs), 10)
	b = append(b, " events=r cmd="...)
	b = append(b, cmd...)
	b = append(b, " user="...)
	b = append(b, v.user...)
	b = append(b, " redir=-1 resp="...)
	b = strconv.AppendInt(b, int64(proto), 10)
	b = append(b, " instance="...)
	b = append(b, s.in.id...)
	return b
}

// userGone reports an authenticated connection whose user users no longer has, and that is not itself
// making the change. A disabled user's connections are not gone: Redis 7.0 keeps them working.
func (ss *session) userGone(users *acl.Users) bool {
	v := ss.snapshotView()
	if !v.authed || ss.client.changingACL.Load() {
		return false
	}
	return users.Get(v.user) == nil
}
