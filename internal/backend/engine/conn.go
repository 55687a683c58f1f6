package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2/server"

	"github.com/moat-dev/moat/internal/resp"
)

// conn serves one connection: it reads every command already received, runs them one after the
// other, logs the writes, and sends the replies of the whole batch in one write.
type conn struct {
	e      *Engine
	nc     net.Conn
	src    *stashReader
	rd     *resp.Reader
	peer   *server.Peer
	sp     *server.Peer // the script peer: scriptReply commands run on it (dispatchGuarded)
	so     scriptOut    // its writer
	failed guarded      // how the last scriptReply command ended
	out    *sink

	db      int        // the database this connection has selected
	multi   bool       // between MULTI and EXEC/DISCARD
	txDirty bool       // a command was refused since MULTI: EXEC aborts
	queued  [][]string // the commands queued since MULTI (+QUEUED), in order
	logged  bool       // this batch appended to the log
}

func newConn(e *Engine, nc net.Conn) *conn {
	out := &sink{nc: nc, netOut: &e.stats.netOut}
	src := &stashReader{nc: nc}
	lim := resp.DefaultLimits()
	lim.MaxBuffered = maxCommand // hold every command whole: the engine needs all of it
	return &conn{
		e: e, nc: nc, src: src, out: out,
		rd:   resp.NewReader(src, lim),
		peer: server.NewPeer(bufio.NewWriterSize(out, 16*1024)),
	}
}

// maxCommand is the largest command the engine takes (Redis's proto-max-bulk-len is 512 MiB).
const maxCommand = 512<<20 + 64<<10

// serve runs until the client disconnects, sends QUIT, breaks the protocol or the engine closes.
func (c *conn) serve() {
	defer c.close()
	for {
		cmds, err := c.rd.ReadBatch()
		if err != nil {
			var pe *resp.ProtocolError
			if errors.As(err, &pe) {
				_, _ = c.nc.Write([]byte("-ERR " + pe.Error() + "\r\n"))
			}
			return
		}
		c.out.begin()
		for i := range cmds {
			c.e.stats.netIn.Add(int64(len(cmds[i].Raw)))
			if len(cmds[i].Args) == 0 {
				continue
			}
			// A fresh slice each time: the engine keeps a queued command's arguments until EXEC.
			args := make([]string, len(cmds[i].Args))
			for j, a := range cmds[i].Args {
				args[j] = string(a)
			}
			c.exec(args)
			if c.peer.Closed() {
				break
			}
		}
		if c.logged {
			c.logged = false
			c.e.log.writeOut()
		}
		if err := c.out.end(); err != nil || c.peer.Closed() {
			return
		}
	}
}

// close ends the connection; a command blocked on its behalf gives up.
func (c *conn) close() {
	c.peer.Close()
	_ = c.nc.Close()
	c.e.wake()
	c.e.forget(c)
}

// dispatch runs one command and returns its reply (valid until the batch ends).
func (c *conn) dispatch(args []string) []byte {
	start := c.out.mark()
	began := time.Now()
	if !scriptReply(args[0]) {
		c.e.srv.Dispatch(c.peer, args)
		c.peer.Flush()
	} else if c.failed = c.dispatchGuarded(args); c.failed.failed {
		c.out.truncate(start)
		c.out.appendReply(c.failed.reply)
	}
	r := c.out.since(start)
	c.e.stats.command(args, r, time.Since(began))
	switch {
	case bytes.HasPrefix(r, []byte(unknownPrefix)):
		c.out.truncate(start)
		return c.out.appendReply(appendUnknown(nil, args))
	case c.peer.Resp3 && len(r) > 0 && r[0] == '*' && (strings.EqualFold(args[0], "XREAD") || strings.EqualFold(args[0], "XREADGROUP")):
		m := streamsAsMap(r)
		c.out.truncate(start)
		return c.out.appendReply(m)
	}
	return r
}

// scriptReply reports a command whose reply a script may build: EVAL, EVALSHA and their _RO forms, and
// EXEC, whose transaction may hold one.
func scriptReply(name string) bool {
	switch strings.ToUpper(name) {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "EXEC":
		return true
	}
	return false
}

// guarded is how a scriptReply command ended: failed, with reply to send instead of what was written
// (a reply nested too deep, or a panic of the library's while it wrote it); for a failed EXEC, ran is
// how many of the queued commands ran (the rest did not).
type guarded struct {
	failed bool
	reply  []byte
	ran    int
}

// dispatchGuarded runs args, a scriptReply command, on the connection's script peer: the same
// connection state (c.peer's Ctx and protocol), but an unbuffered writer that follows the reply's
// nesting (scriptOut). Every byte of the reply reaches it while the library writes it, so a reply
// nesting past maxReplyDepth panics (errReplyTooDeep) inside the library's recursion, while the
// library's lock is held: EVAL's path (withTx) holds it from before the script runs until its reply is
// written, and releases it only after; EXEC's holds it with a deferred unlock, which the panic runs.
// A panic of the library's own while it runs or answers a script (a Lua value it cannot convert, say)
// happens there too and is taken the same way. Then what the library holds is put right: its lock on
// EVAL's path, the transaction on EXEC's (which EXEC ends only after its last command: a failed EXEC
// ends there, the queued commands after the failing one do not run), and the protocol a script's
// redis.setresp changed.
func (c *conn) dispatchGuarded(args []string) (g guarded) {
	if c.sp == nil {
		c.sp = server.NewPeer(bufio.NewWriterSize(&c.so, 1))
	}
	c.so = scriptOut{s: c.out}
	c.sp.Ctx, c.sp.Resp3, c.sp.ClientName = c.peer.Ctx, c.peer.Resp3, c.peer.ClientName
	exec := strings.EqualFold(args[0], "EXEC")
	defer func() {
		c.peer.Ctx = c.sp.Ctx // made by the library at this connection's first command, if it was this one
		c.peer.Resp3, c.sp.SwitchResp3 = c.sp.Resp3, nil
		r := recover()
		if r == nil {
			return
		}
		g.failed, g.reply = true, replyScriptFailed
		if r == errReplyTooDeep {
			g.reply = replyLuaStackLimit
		}
		c.e.lg.Warn("engine: a script's reply was cut", "reason", fmt.Sprint(r))
		if exec {
			g.ran = min(c.so.d.current()+1, len(c.queued))
			c.e.srv.Dispatch(c.sp, []string{"DISCARD"})
		} else {
			c.e.m.Unlock()
		}
		c.sp = nil // its writer may hold part of the reply
		c.peer.Resp3 = c.so.resp3
		c.e.wake() // what the script wrote may serve a blocked client
	}()
	c.so.resp3 = c.peer.Resp3
	c.e.srv.Dispatch(c.sp, args)
	c.so.after = true // a byte the 1-byte buffer kept is only its end: no deeper level comes
	c.sp.Flush()
	return g
}

// ttl answers TTL as Redis does: the milliseconds left rounded to the nearest second (the engine
// truncates).
func (c *conn) ttl(args []string) {
	start := c.out.mark()
	r := c.dispatch([]string{"PTTL", args[1]})
	if len(r) > 1 && r[0] == ':' && r[1] != '-' {
		ms, err := strconv.ParseInt(string(bytes.TrimSpace(r[1:])), 10, 64)
		if err == nil {
			c.out.truncate(start)
			c.out.appendReply(strconv.AppendInt([]byte{':'}, (ms+500)/1000, 10))
			c.out.appendReply([]byte("\r\n"))
		}
	}
}

// appendUnknown appends Redis 7's reply to an unknown command (server.c, processCommand): the name
// and the first arguments, each quoted and cut to 128 bytes in all.
func appendUnknown(b []byte, args []string) []byte {
	var list []byte
	for _, a := range args[1:] {
		if len(list) >= 128 {
			break
		}
		n := min(len(a), 128-len(list))
		list = append(list, '\'')
		list = append(list, a[:n]...)
		list = append(list, "' "...)
	}
	name := args[0]
	if len(name) > 128 {
		name = name[:128]
	}
	return appendUnknownCommand(b, name, list)
}

// exec runs one command and logs what it changed. Logged commands run under the engine's write lock
// so that the log holds them in the order they ran.
func (c *conn) exec(args []string) {
	name := strings.ToUpper(args[0])
	if c.multi {
		c.execQueued(name, args)
		return
	}
	k := classify(name, args)
	switch {
	case name == "TTL" && len(args) == 2:
		c.ttl(args)
	case name == "INFO":
		// Here, outside the library's lock, INFO lists the databases too.
		began := time.Now()
		r := c.out.appendReply(appendInfo(nil, c.e.infoText(args[1:], true), c.peer.Resp3))
		c.e.stats.command(args, r, time.Since(began))
	case name == "COMMAND":
		// The library's table is Redis 5.0.7's, without ACL categories: moat would judge ACL users by
		// it. Without one, moat uses redis-server 7.0.15's.
		c.out.appendReply(appendUnknown(nil, args))
	case name == "MULTI":
		if r := c.dispatch(args); isOK(r) {
			c.multi, c.queued = true, c.queued[:0]
		}
	case name == "SELECT":
		if r := c.dispatch(args); isOK(r) {
			c.db = atoiOr(args[1], c.db)
		}
	case k == kindBlocking:
		c.runBlocking(args)
		c.e.wmu.Lock()
		c.logUnit(c.db, [][]string{args}, [][]byte{nil}, true)
		c.e.wmu.Unlock()
	case k == kindNone:
		if blockingRead(name, args) {
			c.runBlocking(args)
			return
		}
		c.dispatch(args)
	default:
		c.e.wmu.Lock()
		r := c.dispatch(args)
		c.logUnit(c.db, [][]string{args}, [][]byte{r}, false)
		c.e.wmu.Unlock()
	}
}

// execQueued handles a command sent between MULTI and EXEC.
func (c *conn) execQueued(name string, args []string) {
	switch name {
	case "EXEC":
		if c.txDirty {
			// A command was refused while queueing (the engine does not abort for an unknown one).
			c.dispatch([]string{"DISCARD"})
			c.out.truncate(c.out.mark() - len("+OK\r\n"))
			c.out.appendReply(replyExecAbort)
			c.multi, c.txDirty, c.queued = false, false, c.queued[:0]
			return
		}
		c.e.wmu.Lock()
		r := c.dispatch(args)
		ran := c.queued
		switch {
		case c.failed.failed: // it ran up to the failing command (dispatchGuarded)
			ran = c.queued[:c.failed.ran]
			c.logUnit(c.db, ran, nil, true)
		case len(r) > 1 && r[0] == '*' && r[1] != '-':
			// It ran: each queued command's effect goes into the log as one unit.
			c.logUnit(c.db, ran, nil, true)
		}
		c.e.wmu.Unlock()
		for _, q := range ran {
			if strings.EqualFold(q[0], "SELECT") {
				c.db = atoiOr(q[1], c.db)
			}
		}
		c.multi, c.txDirty, c.queued = false, false, c.queued[:0]
	case "DISCARD":
		if r := c.dispatch(args); isOK(r) {
			c.multi, c.txDirty, c.queued = false, false, c.queued[:0]
		}
	default:
		run := args
		if isOwn(name) || limited(name) {
			run = ownInTx(args)
		}
		switch r := c.dispatch(run); {
		case string(r) == "+QUEUED\r\n":
			c.queued = append(c.queued, args)
		case len(r) > 0 && r[0] == '-' && name != "MULTI" && name != "WATCH": // Redis does not abort for these two
			c.txDirty = true
		}
	}
}

// logUnit appends what the commands cmds (run on database db, with replies replies when known)
// changed to the log as one unit. inTx: run inside EXEC or as a blocking command, where the replies
// cannot be read one by one; every command then logs the state of its keys or itself as sent.
// Called with the write lock held.
func (c *conn) logUnit(db int, cmds [][]string, replies [][]byte, inTx bool) {
	u := c.e.log.unit(db)
	for i, args := range cmds {
		var r []byte
		if replies != nil {
			r = replies[i]
		}
		c.e.record(u, args, r, inTx)
	}
	if c.e.log.commit(u) {
		c.logged = true
	}
}

// runBlocking runs a command that may wait for another client's write. While it waits, a watcher
// reads the connection so that a client that goes away ends the wait; what it reads is kept for the
// next batch.
func (c *conn) runBlocking(args []string) {
	c.e.stats.blocked.Add(1)
	defer c.e.stats.blocked.Add(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c.src.watch() {
			c.peer.Close()
			c.e.wake()
		}
	}()
	c.dispatch(args)
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	<-done
	_ = c.nc.SetReadDeadline(time.Time{})
}

// stashReader is the connection as the command reader sees it: what a watcher read while a
// blocking command ran comes first.
type stashReader struct {
	nc    net.Conn
	stash []byte
}

func (s *stashReader) Read(p []byte) (int, error) {
	if len(s.stash) > 0 {
		n := copy(p, s.stash)
		s.stash = s.stash[n:]
		return n, nil
	}
	return s.nc.Read(p)
}

// watch reads into the stash until the read deadline passes (false) or the client is gone (true).
func (s *stashReader) watch() bool {
	buf := make([]byte, 4096)
	for {
		n, err := s.nc.Read(buf)
		s.stash = append(s.stash, buf[:n]...)
		if err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

// sink is where a connection's replies go. During a batch they are gathered and sent in one write at
// its end; between batches (messages to a subscriber, sent by the engine's goroutines) they go out at
// once.
type sink struct {
	mu       sync.Mutex
	nc       net.Conn
	netOut   *atomic.Int64 // bytes sent, for INFO
	buf      []byte
	batching bool
}

// Write gathers p during a batch, else sends it.
func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batching {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	return s.nc.Write(p)
}

// scriptOut is the script peer's writer (conn.dispatchGuarded): it follows the reply's nesting and
// panics with errReplyTooDeep, p not taken, when it goes past maxReplyDepth while the library writes
// it; after (the last flush, the library done) it lets the reply through.
type scriptOut struct {
	s     *sink
	d     replyDepth
	after bool
	resp3 bool // the connection's protocol before the command
}

func (w *scriptOut) Write(p []byte) (int, error) {
	if w.d.feed(p) && !w.after {
		panic(errReplyTooDeep)
	}
	return w.s.Write(p)
}

func (s *sink) begin() {
	s.mu.Lock()
	s.batching = true
	s.mu.Unlock()
}

func (s *sink) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf)
}

// truncate drops the batch's replies from start on.
func (s *sink) truncate(start int) {
	s.mu.Lock()
	s.buf = s.buf[:start]
	s.mu.Unlock()
}

// appendReply adds r to the batch's replies and returns where it now is.
func (s *sink) appendReply(r []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := len(s.buf)
	s.buf = append(s.buf, r...)
	return s.buf[start:]
}

func (s *sink) since(start int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf[start:]
}

// end sends the batch's replies.
func (s *sink) end() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batching = false
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.nc.Write(s.buf)
	s.netOut.Add(int64(len(s.buf)))
	if cap(s.buf) > 1<<20 {
		s.buf = nil // a large reply's buffer is not kept
	} else {
		s.buf = s.buf[:0]
	}
	return err
}

var _ io.Writer = (*sink)(nil)

func isOK(r []byte) bool { return string(r) == "+OK\r\n" }
