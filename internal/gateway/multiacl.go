package gateway

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"strconv"

	"github.com/moat-dev/moat/internal/acl"
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
// Known differences: the commands run when the reader decides EXEC, before the backend answers it, so
// a transaction the backend then aborts (a WATCHed key changed, a queue-time error only the backend
// saw) has had its AUTH and ACL effects anyway; users changed by another connection between queueing
// and EXEC are not judged again; HELLO with AUTH inside MULTI stays refused (dooming the transaction).

// txState is what moat knows of a transaction holding commands it answers at EXEC. Reader-only.
type txState struct {
	on bool // the transaction holds AUTH or ACL
	// Who the connection will be when EXEC reaches the next command, and the users then.
	user   *acl.User
	authed bool
	users  *acl.Users
	items  []txItem
	// replaying: EXEC runs the items; AUTH and ACL execute instead of being queued.
	replaying bool
}

// txItem is a queued command that does not reach the backend: an AUTH or ACL command (args), or a
// command refused as EXEC will refuse it (refusal, its error reply; deny, for the ACL LOG).
type txItem struct {
	at      int // the command's place in EXEC's array
	args    [][]byte
	refusal []byte
	deny    *acl.Decision
}

// execInsert is a reply moat puts into EXEC's array at at: local bytes, or a call the pump runs.
type execInsert struct {
	at    int
	local []byte
	call  *clientCall
}

// queueLocal queues an AUTH or ACL command inside MULTI (args under the original name): it runs at
// EXEC. The users it would change are changed for the later commands' judgement now.
func (st *decideState) queueLocal(c *resp.Command, args [][]byte) (slot, act) {
	st.txBegin()
	if sl, a, done := st.txJudge(c, args); done { // refused by an earlier AUTH or ACL of the transaction
		return sl, a
	}
	st.tx.items = append(st.tx.items, txItem{at: st.queued - 1, args: cloneArgs(args)})
	st.txApply(args)
	return st.answer(c, slot{local: replyQueued}, false)
}

func (st *decideState) txBegin() {
	if !st.tx.on {
		st.tx = txState{on: true, user: st.auth.user, authed: st.auth.authed, users: st.auth.users}
	}
}

// txApply changes the transaction's idea of the connection's user and users as an AUTH or ACL
// SETUSER/DELUSER will when EXEC runs it (no side effect: no ACL LOG, no lockout, nothing stored).
func (st *decideState) txApply(args [][]byte) {
	tx := &st.tx
	var b [16]byte
	switch lower(args, 0, &b) {
	case "auth":
		if len(args) < 2 || len(args) > 3 {
			return
		}
		name, pass := "default", args[1]
		if len(args) == 3 {
			name, pass = string(args[1]), args[2]
		}
		if u := tx.users.Authenticate(name, pass); u != nil && st.auth.snap.SourceAllows(name, st.sess.addr) {
			tx.user, tx.authed = u, true
		}
		return
	case "acl":
	default:
		return
	}
	sub := lower(args, 1, &b)
	if (sub != "setuser" && sub != "deluser") || len(args) < 3 {
		return
	}
	us := tx.users.Clone()
	var err error
	if sub == "setuser" {
		err = us.SetUser(string(args[2]), strs(args[3:])...)
	} else {
		_, err = us.DelUser(strs(args[2:])...)
	}
	if err != nil {
		return
	}
	tx.users = us
	if u := us.Get(tx.user.Name()); u != nil && (u.Enabled() || !tx.authed) {
		tx.user = u
	} else {
		tx.user, tx.authed = us.Get("default"), false
	}
}

// txJudge judges a command queued after an AUTH or ACL of the transaction (args under the original
// name) as EXEC will: done when its rules refuse it, which is then answered +QUEUED and noted.
func (st *decideState) txJudge(c *resp.Command, args [][]byte) (sl slot, a act, done bool) {
	tx := &st.tx
	if !tx.on || (tx.authed && tx.user.Unrestricted()) || c.More {
		return sl, a, false
	}
	cmd, cerr := tx.users.Table().Resolve(args)
	if cerr != nil {
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

// txExec runs the transaction's AUTH and ACL commands and logs its refusals, in order, and gives EXEC's
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
		case it.deny != nil:
			st.logDenied(*it.deny, it.args)
		case it.refusal == nil:
			c := resp.Command{Args: it.args}
			var r slot
			var b [16]byte
			if lower(it.args, 0, &b) == "auth" {
				r, _ = st.authCommand(&c)
			} else {
				r, _ = st.aclCommand(&c, it.args)
			}
			ins.local, ins.call = r.local, r.call
			if ins.call != nil && ins.call.op == opACLLog { // the log as it is at this point of EXEC
				ins.call.acl.entries = st.sess.in.aclLog.Entries(ins.call.acl.count)
				ins.call.acl.captured = true
			}
			sl.close = sl.close || r.close
		}
		sl.insert = append(sl.insert, ins)
	}
	st.replyOff, st.skipNext = off, skip
	st.tx = txState{}
	sl.kind = kindExecFiltered
}

// backendQueued is how many commands of the transaction the backend has queued so far.
func (st *decideState) backendQueued() int { return st.queued - len(st.tx.items) }

// copyExec copies EXEC's reply without the elements at sl.skip (the script guard's AUTHs) and with
// sl.insert's replies at their places. A reply that is not an array (EXECABORT, a null for a failed
// WATCH) is copied as it is.
func (s *session) copyExec(dst *bufio.Writer, src *bufio.Reader, sl *slot, resp3 bool) error {
	skip, insert := sl.skip, sl.insert
	line, err := src.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[0] != '*' || line[1] == '-' {
		_, err = dst.Write(line)
		return err
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < len(skip) {
		return resp.ErrReply
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
			insert = s.writeInserts(dst, insert, &out, resp3, false)
			out++
		}
		if err := resp.CopyReply(w, src, &info); err != nil {
			return err
		}
		switch {
		case k >= 0 && k%2 == 0: // an AUTH to the script user
			enterFailed = info.Type == '-'
		case k < 0 && enterFailed && info.Type != '-':
			return errGuardBypassed
		case k < 0:
			enterFailed = false
		}
	}
	s.writeInserts(dst, insert, &out, resp3, true)
	if sl.call != nil && sl.call.op == opMirrorLua {
		dst.Flush() // the client has EXEC's reply before the backend's log is read
		s.mirrorScriptDenials()
	}
	return nil
}

// writeInserts writes the inserts due at element *out (all of them when rest), advancing *out, and
// returns the ones left.
func (s *session) writeInserts(dst *bufio.Writer, insert []execInsert, out *int, resp3, rest bool) []execInsert {
	for len(insert) > 0 && (rest || insert[0].at <= *out) {
		if insert[0].call != nil {
			reply, _ := insert[0].call.run(s, resp3)
			dst.Write(reply)
		}
		dst.Write(insert[0].local)
		insert = insert[1:]
		*out++
	}
	return insert
}

// reject answers a command refused before it runs (args under the original name; reply an error
// reply), as Redis's rejectCommand: a refused EXEC gets "-EXECABORT Transaction discarded because of:
// <error>", and inside MULTI the transaction is discarded (DISCARD in its place, whose reply the pump
// replaces with that text).
func (st *decideState) reject(c *resp.Command, args [][]byte, reply []byte) (slot, act) {
	var b [16]byte
	if lower(args, 0, &b) != "exec" {
		return st.answer(c, slot{local: reply}, true)
	}
	msg := bytes.TrimPrefix(reply[1:], []byte("ERR ")) // Redis's arity text has no code there
	text := append(append([]byte(nil), execAbortBecause...), msg...)
	if !st.multi {
		return st.answer(c, slot{local: text}, true)
	}
	st.multiDone(false)
	st.multi, st.dirty, st.queued, st.multiScript = false, false, 0, false
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
