package gateway

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// AUTH and ACL inside MULTI (issue 18, item 7), as Redis 7.0.15 runs them: queued (+QUEUED, after the
// queue-time checks: lookup, arity, NOAUTH, NOPERM), executed in their place when EXEC runs, their
// replies in their place in EXEC's array. Redis judges every queued command again when EXEC runs it
// (src/multi.c), as the user the connection is at that point — which an AUTH or ACL SETUSER earlier in
// the transaction changes: a command those rules refuse gets "-NOPERM ACLs rules changed …" in its
// place, with an ACL LOG entry (context multi), and does not run.
//
// moat answers AUTH and ACL itself, so they never reach the backend. From the first of them in a
// transaction, the reader keeps who the connection will be when EXEC reaches each later command
// (txState: AUTH judged against the users, ACL SETUSER/DELUSER applied to a copy) and judges each later
// command as that user: a refusal is not sent to the backend either, but answered +QUEUED and noted
// with its place. At EXEC, the noted AUTH and ACL commands run for real, in order (logins, lockout, ACL
// LOG, changes through the UserStore), and the refusals are logged; the pump puts their replies into
// the backend's EXEC array at their places (copyExec).
//
// The CLIENT subcommands moat answers (LIST, INFO, ID, KILL: clientcmd.go) are queued the same way
// after their arity check, and run at EXEC in their place with moat's IDs: their calls run in the pump
// as EXEC's array is written, so each sees the connections as the commands before it left them, and
// the connection itself shows as Redis shows a client running EXEC (flags x, multi=, cmd=exec).
//
// HELLO is queued whatever its arguments: moat's refusals of it (version, options) are elements of
// EXEC's array; a HELLO moat forwards is run by the backend in its place, and the pump gives its
// element moat's client ID and takes the protocol and name it sets from there on (copyExec). Its AUTH
// is moat's, and must be judged when the HELLO is queued, since that decides whether the backend gets
// the HELLO — and so the protocol switch and the name, which Redis applies only after a login
// (queueHelloAuth).
//
// Known differences: the commands run when the reader decides EXEC, before the backend answers it, so
// a transaction the backend then aborts (a WATCHed key changed, a queue-time error only the backend
// saw) has had its AUTH and ACL effects anyway; users changed by another connection between queueing
// and EXEC are not judged again, except a HELLO's login, which runs again at EXEC: judged otherwise
// there, it closes the connection after EXEC's reply.

// txState is what moat knows of a transaction holding commands it answers at EXEC. Reader-only.
type txState struct {
	on bool // the transaction holds a command moat answers at EXEC (AUTH, ACL, CLIENT …) or refuses
	// Who the connection will be when EXEC reaches the next command, and the users then.
	user   *acl.User
	authed bool
	users  *acl.Users
	items  []txItem
	fwd    int // items the backend also queued: HELLO … AUTH whose login was judged to succeed
	// replaying: EXEC runs the items; AUTH and ACL execute instead of being queued.
	replaying bool
}

// txItem is a queued command that does not reach the backend: an AUTH, ACL, CONFIG or CLIENT command
// moat answers (args), or a command refused as EXEC will refuse it (refusal, its error reply; deny,
// for the ACL LOG).
type txItem struct {
	at      int // the command's place in EXEC's array
	args    [][]byte
	refusal []byte
	deny    *acl.Decision
	// hello: a HELLO … AUTH, its AUTH at args[hello:] (0: not one). fwd: its login was judged to
	// succeed when queued, so the backend got the HELLO, which is hellos[ex] of EXEC's slot; otherwise
	// refusal is the wrong-password reply.
	hello int
	fwd   bool
	ex    int
}

// execHello is a HELLO (kind kindHello), SELECT (kindSelect, n the database) or CLIENT SETNAME
// (kindOne) the backend runs inside EXEC, whose success CLIENT LIST must see from its place on: at, its
// place in the backend's EXEC array; call, the opSetName of its SETNAME, or nil; refuse: a HELLO's AUTH
// failed at EXEC though it was judged to succeed when queued — the element becomes the wrong-password
// reply and the connection closes after EXEC's.
type execHello struct {
	at     int
	kind   replyKind
	n      int
	call   *clientCall
	refuse bool
}

// execInsert is a reply moat puts into EXEC's array at at: local bytes, or a call the pump runs.
type execInsert struct {
	at    int
	local []byte
	call  *clientCall
	last  bool // the connection ends after it (its own user deleted)
}

// queueLocal queues an AUTH or ACL command inside MULTI (args under the original name): it runs at
// EXEC. The users it would change are changed for the later commands' judgement now.
func (st *decideState) queueLocal(c *resp.Command, args [][]byte) (slot, act) {
	st.txBegin()
	if sl, a, done := st.txJudge(c, args); done { // refused by an earlier AUTH or ACL of the transaction
		return sl, a
	}
	sl, a := st.queueAtExec(c, args)
	st.txApply(args)
	return sl, a
}

// queueAtExec queues a command moat answers inside MULTI (args under the original name), judged
// already: it runs at EXEC (txExec), its reply in its place in EXEC's array.
func (st *decideState) queueAtExec(c *resp.Command, args [][]byte) (slot, act) {
	st.txBegin()
	st.tx.items = append(st.tx.items, txItem{at: st.queued - 1, args: cloneArgs(args)})
	return st.answer(c, slot{local: replyQueued}, false)
}

func (st *decideState) txBegin() {
	if !st.tx.on {
		st.tx = txState{on: true, user: st.auth.user, authed: st.auth.authed, users: st.auth.users}
	}
}

// queueRefusal queues a command moat refuses when EXEC runs it (reply, an error reply) inside MULTI.
func (st *decideState) queueRefusal(c *resp.Command, reply []byte) (slot, act) {
	st.txBegin()
	st.tx.items = append(st.tx.items, txItem{at: st.queued - 1, refusal: reply})
	return st.answer(c, slot{local: replyQueued}, false)
}

// queueHelloAuth queues HELLO … AUTH user pass (its AUTH at authAt) inside MULTI. Whether the backend
// gets the HELLO (without its AUTH part) must be chosen now, so its login is judged now, as EXEC will
// judge it: against the users as the transaction's earlier commands leave them, the user's source
// addresses and the lockout as it stands. A login judged to succeed is forwarded (ok; noteHello records
// it), one judged to fail gets the wrong-password reply at EXEC and the backend never sees it: the
// protocol and the name change only with a login, as in Redis. The login itself runs at EXEC (txExec).
func (st *decideState) queueHelloAuth(c *resp.Command, authAt int) (sl slot, a act, ok bool) {
	st.txBegin()
	tx, in, args := &st.tx, st.sess.in, c.Args
	name := string(args[authAt+1])
	u := tx.users.Authenticate(name, args[authAt+2])
	if u != nil && (!st.auth.snap.SourceAllows(name, st.sess.addr) ||
		in.lockout.status(st.sess.addr, lockKey(tx.users, name), st.auth.snap).LockedOut()) {
		u = nil
	}
	item := txItem{at: st.queued - 1, args: cloneArgs(args), hello: authAt}
	if u == nil {
		item.refusal = replyWrongPass
		tx.items = append(tx.items, item)
		sl, a = st.answer(c, slot{local: replyQueued}, false)
		return sl, a, false
	}
	item.fwd, item.ex = true, len(st.hellos)
	tx.items = append(tx.items, item)
	tx.fwd++
	tx.user, tx.authed = u, true
	st.stripHelloAuth(c, authAt)
	return sl, a, true
}

// noteHello records a HELLO sent to the backend inside MULTI: its place in EXEC's array.
func (st *decideState) noteHello(c *resp.Command) {
	st.noteInExec(execHello{kind: kindHello, call: helloSetName(c)})
}

// noteInExec records h, a command just sent to the backend inside MULTI that changes what CLIENT LIST
// shows (HELLO, SELECT, CLIENT SETNAME), at its place in EXEC's array.
func (st *decideState) noteInExec(h execHello) {
	h.at = st.backendQueued() - 1 + st.wrapExtra
	st.hellos = append(st.hellos, h)
}

// txApply changes the transaction's idea of the connection's user and users as an AUTH or ACL
// SETUSER/DELUSER will when EXEC runs it (no side effect: no ACL LOG, no lockout, nothing stored).
func (st *decideState) txApply(args [][]byte) {
	tx := &st.tx
	var b [16]byte
	var us *acl.Users
	switch lower(args, 0, &b) {
	case "auth":
		if len(args) < 2 || len(args) > 3 {
			return
		}
		name, pass, ok := "", []byte(nil), true
		if len(args) == 3 {
			name, pass = string(args[1]), args[2]
		} else if name, pass, ok = oneArgCredentials(tx.users, args[1]); !ok {
			return
		}
		// As EXEC will run it (authCommand): the password, the user's sources and the lockout as it
		// stands, so that a locked-out guess is judged a failure here too.
		if u := tx.users.Authenticate(name, pass); u != nil && st.auth.snap.SourceAllows(name, st.sess.addr) &&
			!st.sess.in.lockout.status(st.sess.addr, lockKey(tx.users, name), st.auth.snap).LockedOut() {
			tx.user, tx.authed = u, true
		}
		return
	case "config": // CONFIG SET requirepass (configcmd.go)
		pass, ok := configSetRequirePass(args)
		if !ok {
			return
		}
		if us = tx.users.Clone(); us.SetRequirePass(pass) != nil {
			return
		}
	case "acl":
		sub := lower(args, 1, &b)
		if (sub != "setuser" && sub != "deluser") || len(args) < 3 {
			return
		}
		us = tx.users.Clone()
		var err error
		if sub == "setuser" {
			err = us.SetUser(string(args[2]), strs(args[3:])...)
		} else {
			_, err = us.DelUser(strs(args[2:])...)
		}
		if err != nil {
			return
		}
	default:
		return
	}
	tx.users = us
	if u := us.Get(tx.user.Name()); u != nil { // disabled, it stays logged in, as in Redis
		tx.user = u
	} else {
		tx.user, tx.authed = us.Get("default"), false
	}
}

// txJudge judges a command queued after an AUTH or ACL of the transaction (args under the original
// name) as EXEC will: done when its rules refuse it, which is then answered +QUEUED and noted.
func (st *decideState) txJudge(c *resp.Command, args [][]byte) (sl slot, a act, done bool) {
	tx := &st.tx
	if !tx.on || c.More {
		return sl, a, false
	}
	cmd, cerr := tx.users.Table().Resolve(args)
	if cerr != nil { // an unknown command or wrong arity dooms it, also for a free connection
		sl, a = st.reject(c, args, errorReply(cerr.Reply))
		return sl, a, true
	}
	if tx.authed && tx.user.UnrestrictedRules() {
		return sl, a, false
	}
	item := txItem{at: st.queued - 1}
	if d := tx.user.Check(cmd, args); !d.Allowed() {
		item.refusal = errorReply(d.ExecReply())
		item.args, item.deny = cloneArgs(args), &d
	} else if msg := tx.user.SortDenied(cmd, args); msg != "" {
		item.refusal = errorReply(msg)
	} else {
		return sl, a, false
	}
	tx.items = append(tx.items, item)
	sl, a = st.answer(c, slot{local: replyQueued}, false)
	return sl, a, true
}

// txExec runs the transaction's AUTH, ACL and CLIENT commands and logs its refusals, in order, and gives EXEC's
// slot their replies. Called for an EXEC that reaches the backend.
func (st *decideState) txExec(sl *slot) {
	if !st.tx.on {
		return
	}
	items := st.tx.items
	st.tx.replaying = true
	off, skip := st.replyOff, st.skipNext
	st.replyOff, st.skipNext = false, false // these are elements of EXEC's array, not replies of their own
	for _, it := range items {
		ins := execInsert{at: it.at, local: it.refusal}
		switch {
		case it.hello > 0:
			if !st.helloLogin(it, sl) {
				continue // the backend answers in its place
			}
		case it.deny != nil:
			st.logDenied(*it.deny, it.args)
			st.sess.in.noteError(it.refusal)
		case it.refusal != nil:
			st.sess.in.noteError(it.refusal)
		default:
			c := resp.Command{Args: it.args}
			var r slot
			var b [16]byte
			began := time.Now()
			switch lower(it.args, 0, &b) {
			case "auth":
				r, _ = st.authCommand(&c)
			case "config":
				r, _, _ = st.configCommand(&c)
			case "client":
				var sub [16]byte
				if r = st.client(&c, lower(it.args, 1, &sub)); r.call != nil {
					r.call.exec = st.queued
				}
			default:
				r, _ = st.aclCommand(&c, it.args)
			}
			ins.local, ins.call = r.local, r.call
			st.noteExecCall(&c, r, began)
			if ins.call != nil && ins.call.op == opACLLog { // the log as it is at this point of EXEC
				ins.call.acl.entries = st.sess.in.aclLog.Entries(ins.call.acl.count)
				ins.call.acl.captured = true
			}
			sl.close = sl.close || r.close
			ins.last = r.close
		}
		sl.insert = append(sl.insert, ins)
	}
	st.replyOff, st.skipNext = off, skip
	st.tx = txState{}
	sl.kind = kindExecFiltered
}

// noteExecCall counts in the statistics (stats.go) a command moat ran inside EXEC (c, answered r,
// begun at began): at once for a local reply, when the pump runs it for a call.
func (st *decideState) noteExecCall(c *resp.Command, r slot, began time.Time) {
	in := st.sess.in
	var buf [rediscmd.MaxNameLen]byte
	se := in.cmds.statEntry(in.cmds.get(lowerInto(c.Args[0], buf[:])), c)
	if r.call != nil {
		r.call.stat = se
		return
	}
	in.noteCall(se, time.Since(began), r.local)
}

// helloLogin runs the login of a queued HELLO … AUTH at EXEC, and reports whether moat answers in its
// place (else the backend's HELLO does). A result other than the one judged when it was queued closes
// the connection after EXEC's reply: the backend switched the protocol and set the name for a login
// that failed, or did not for one that succeeded.
func (st *decideState) helloLogin(it txItem, sl *slot) (local bool) {
	name := string(it.args[it.hello+1])
	if ok := st.login(it.args[0], name, it.args[it.hello+2]) != nil; ok != it.fwd {
		st.sess.in.log.Info("closing connection: a HELLO AUTH inside MULTI was judged otherwise at EXEC than when queued",
			"client", st.sess.peer, "user", name)
		sl.close = true
		if it.fwd {
			sl.hellos[it.ex].refuse = true
		}
	}
	return !it.fwd
}

// backendQueued is how many commands of the transaction the backend has queued so far.
func (st *decideState) backendQueued() int { return st.queued - len(st.tx.items) + st.tx.fwd }

// copyExec copies EXEC's reply without the elements at sl.skip (the script guard's AUTHs) and with
// sl.insert's replies at their places. A reply that is not an array (EXECABORT, a null for a failed
// WATCH) is copied as it is. end: an insert killed the connection itself (CLIENT KILL), which then
// closes: as in Redis, the elements after that one are not written.
func (s *session) copyExec(dst *bufio.Writer, src *bufio.Reader, sl *slot, st *pumpState) (end bool, err error) {
	skip, insert, hellos := sl.skip, sl.insert, sl.hellos
	line, err := src.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if len(line) < 3 || line[0] != '*' || line[1] == '-' {
		_, err = dst.Write(line)
		return false, err
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < len(skip) {
		return false, resp.ErrReply
	}
	dst.WriteByte('*')
	dst.WriteString(strconv.Itoa(n - len(skip) + len(insert)))
	dst.WriteString("\r\n")
	discard := bufio.NewWriterSize(io.Discard, 64)
	var info resp.ReplyInfo
	enterFailed := false
	out := 0 // elements written
	for i := 0; i < n; i++ {
		w := dst
		k := slices.Index(skip, i)
		if k >= 0 {
			w = discard
		} else {
			var last bool
			if insert, last = s.writeInserts(dst, insert, &out, st.resp3, false, &end); last {
				dst, w = discard, discard // nothing more of the array after an element that ends the connection
			}
			out++
		}
		if len(hellos) > 0 && hellos[0].at == i && hellos[0].kind == kindHello {
			if err := s.copyExecHello(dst, src, &hellos[0], st, &info); err != nil {
				return false, err
			}
			hellos = hellos[1:]
		} else if err := resp.CopyReply(w, src, &info); err != nil {
			return false, err
		} else if len(hellos) > 0 && hellos[0].at == i { // SELECT, CLIENT SETNAME
			h := slot{kind: hellos[0].kind, n: hellos[0].n, call: hellos[0].call}
			s.noteReply(&h, &info)
			hellos = hellos[1:]
		}
		switch {
		case k >= 0 && k%2 == 0: // an AUTH to the script user
			enterFailed = info.Type == '-'
		case k < 0 && enterFailed && info.Type != '-':
			return false, errGuardBypassed
		case k < 0:
			enterFailed = false
		}
	}
	s.writeInserts(dst, insert, &out, st.resp3, true, &end)
	if sl.call != nil && sl.call.op == opMirrorLua {
		s.mirrorScriptDenials(sl.call.exec) // before the end of EXEC's reply goes out (scriptlog.go)
	}
	return end, nil
}

// copyExecHello copies the element of EXEC's array a HELLO answered (h): with moat's ID of the
// connection in it, and the protocol and name it chose kept from here on; the wrong-password reply
// instead when its login failed at EXEC.
func (s *session) copyExecHello(dst *bufio.Writer, src *bufio.Reader, h *execHello, st *pumpState, info *resp.ReplyInfo) error {
	c := newCapture()
	if err := resp.CopyReply(c.w, src, info); err != nil {
		return err
	}
	c.w.Flush()
	if h.refuse {
		dst.Write(replyWrongPass)
		return nil
	}
	hs := slot{kind: kindHello, call: h.call}
	s.noteReply(&hs, info)
	st.answer(&hs, info)
	dst.Write(s.toMoatIDs(c.buf.Bytes(), kindHello))
	return nil
}

// writeInserts writes the inserts due at element *out (all of them when rest), advancing *out, and
// returns the ones left; last when one of them ended the connection: like Redis, which writes nothing
// to a client it is closing, the caller then writes nothing more of EXEC's array (the commands after
// it still run). *killed is set when a call killed the connection itself (CLIENT KILL … SKIPME no),
// which the pump closes after EXEC.
func (s *session) writeInserts(dst *bufio.Writer, insert []execInsert, out *int, resp3, rest bool, killed *bool) (left []execInsert, last bool) {
	for len(insert) > 0 && (rest || insert[0].at <= *out) {
		last = insert[0].last
		if insert[0].call != nil {
			insert[0].call.figs.replyBuffer(dst)
			reply, closeSelf := insert[0].call.runCounted(s, resp3)
			dst.Write(reply)
			if closeSelf {
				*killed, last = true, true
			}
		}
		dst.Write(insert[0].local)
		insert = insert[1:]
		*out++
		if last {
			return insert, true
		}
	}
	return insert, false
}

// reject answers a command refused before it runs (args under the original name; reply an error
// reply), as Redis's rejectCommand: a refused EXEC gets "-EXECABORT Transaction discarded because of:
// <error>", and inside MULTI the transaction is discarded (DISCARD in its place, whose reply the pump
// replaces with that text).
func (st *decideState) reject(c *resp.Command, args [][]byte, reply []byte) (slot, act) {
	var b [16]byte
	if lower(args, 0, &b) != "exec" {
		return st.refuse(c, reply)
	}
	st.rejected = true
	msg := bytes.TrimPrefix(reply[1:], []byte("ERR ")) // Redis's arity text has no code there
	text := append(append([]byte(nil), execAbortBecause...), msg...)
	if !st.multi {
		return st.answer(c, slot{local: text}, true)
	}
	st.multiDone(false)
	st.multi, st.dirty, st.queued, st.multiScript = false, false, 0, false
	st.resetAtExec = false
	st.endMulti()
	st.tx = txState{}
	c.Raw = discardCmd
	if st.replyOff || st.skipNext { // the backend does not answer the DISCARD either
		st.skipNext = false
		return slot{kind: kindNone}, actReplace
	}
	return slot{kind: kindExecAbort, abort: text}, actReplace
}

// execAbortReply is what a kindExecAbort slot answers.
func execAbortReply(sl *slot) []byte {
	if sl.abort != nil {
		return sl.abort
	}
	return replyExecAbort
}

func cloneArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = slices.Clone(a)
	}
	return out
}
