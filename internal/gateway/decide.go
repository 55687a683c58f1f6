package gateway

import (
	"bytes"
	"time"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// Stage 4, decide: each command the reader read is judged once — looked up in the instance's command
// table (commandtable.go), checked against the connection's ACL user (auth.go) and handled by its entry's
// handler (decidehandlers.go) — and given its reply slot and what reaches the backend.

// decideState is what the reader must remember between commands to know how many replies each one gets.
type decideState struct {
	multi    bool // inside MULTI: every command gets one reply (QUEUED or an error) until EXEC/DISCARD
	replyOff bool // CLIENT REPLY OFF: no replies until CLIENT REPLY ON
	skipNext bool // CLIENT REPLY SKIP: no reply for the next command

	// dirty: moat refused a command inside MULTI (a renamed-away command, a wrong arity of a command
	// moat answers), which the backend never saw. Like Redis, the transaction must then fail: EXEC is
	// replaced by DISCARD and answered with EXECABORT.
	dirty  bool
	queued int // commands sent inside MULTI, for CLIENT LIST's multi=

	// renames are the connection's rename-command directives (N4); scratch holds the rewritten
	// commands of the current batch (see rewriteName).
	renames rediscmd.Renames
	scratch []byte

	// The script guard (scriptguard.go): the guard of the batch's wrapped commands, and inside MULTI
	// where the guard's AUTHs stand in the backend's queue, and how many there are.
	guard     *backend.ScriptGuard
	wrapAt    []int
	wrapExtra int
	// hellos: the HELLO, SELECT and CLIENT SETNAME commands sent inside MULTI (multiacl.go: execHello).
	hellos []execHello

	// subscribedCtx: the last switch to a backend identity (identity.go) was refused because the
	// connection is subscribed under RESP2.
	subscribedCtx bool

	// queuedSubs are the subscribe commands of the transaction, recorded at EXEC (pubsubacl.go).
	queuedSubs []queuedSub
	// tx: the transaction's AUTH and ACL commands, run at EXEC (multiacl.go).
	tx txState
	// multiScript: the transaction holds a script command sent as a backend identity (scriptlog.go).
	multiScript bool

	dec decision // the decision decide is making (its handlers work on it)

	// For the statistics of the commands moat answers (stats.go): when the handler of a timed entry
	// (command.timed) began; the command was refused before it ran (refuse); the reply CLIENT REPLY OFF|SKIP
	// silenced (answer); CONFIG RESETSTAT inside MULTI, applied at EXEC.
	began       time.Time
	rejected    bool
	silenced    []byte
	resetAtExec bool

	auth    authState    // who the connection is (auth.go)
	sess    *session     // for the ACL LOG's client info, the ACL command and the UserStore
	rd      *resp.Reader // the client's command reader, for CLIENT LIST's figures (clientview.go); may be nil
	argsBuf [][]byte     // a renamed command's arguments under their original name
}

// act is what the reader sends the backend for a command.
type act uint8

const (
	actForward act = iota // Raw, then the rest of a command too long to hold (More)
	actDrop               // nothing; the rest of a long command is read and discarded
	actReplace            // Raw, which decide replaced with a whole command; the rest is discarded
	actWrap               // as actForward, between the script guard's two AUTHs (scriptguard.go)
)

// Commands moat sends in place of one it answers itself.
var (
	// pingCmd consumes the backend's CLIENT REPLY SKIP when the skipped command never reaches it.
	pingCmd = []byte("*1\r\n$4\r\nPING\r\n")
	// discardCmd replaces EXEC when moat refused a command of the transaction.
	discardCmd = []byte("*1\r\n$7\r\nDISCARD\r\n")
)

// batch starts a new batch of commands: the scratch space of the previous one is reused.
func (st *decideState) batch() { st.scratch = st.scratch[:0] }

// decision is what decide makes of one command: its reply slot and what reaches the backend. The
// handler of the command's entry (commandtable.go) works on it.
type decision struct {
	sl   slot
	fwd  act
	cmd  *command // the command's entry (its original name's, for a renamed command)
	sub  *command // the subcommand's entry, for a subcommand's handler
	orig string   // the original name of a renamed command; ""
}

// set makes sl and a the decision; it returns true (done) for the handlers' convenience.
func (d *decision) set(sl slot, a act) bool {
	d.sl, d.fwd = sl, a
	return true
}

// decide gives a command its reply slot and says what reaches the backend. It looks the command up in
// the instance's command table, once: the entry it returns is the command's for the later stages (its
// lane: sharedNeed; its name in CLIENT LIST: commandName). It never allocates for commands forwarded
// unchanged.
func (st *decideState) decide(c *resp.Command) (slot, act, *command) {
	var buf [rediscmd.MaxNameLen]byte
	e, r, renamed := st.sess.in.cmds.lookup(st.renames, c, &buf)
	st.rejected = false
	sl, a := st.decideAs(c, e, r, renamed)
	if a != actForward {
		st.noteAnswer(c, e, &sl, a)
	}
	return sl, a, e
}

// noteAnswer counts a command decided as sl and a (not forwarded as it is) in the instance's
// statistics when moat answers it (stats.go): a rejected call, a call (one the pump runs is counted
// there: clientCall.stat), or nothing for a command queued inside MULTI or one the backend answers.
func (st *decideState) noteAnswer(c *resp.Command, e *command, sl *slot, a act) {
	rejected, silenced := st.rejected, st.silenced
	st.rejected, st.silenced = false, nil
	reply := sl.local
	if reply == nil {
		reply = silenced
	}
	switch {
	case a == actReplace && sl.kind == kindExecAbort:
		reply = execAbortReply(sl)
	case a == actReplace && !bytes.Equal(c.Raw, pingCmd):
		return // forwarded, rewritten
	case bytes.Equal(reply, replyQueued):
		return
	}
	in := st.sess.in
	se := in.cmds.statEntry(e, c)
	switch {
	case rejected:
		in.noteRejected(se, reply)
	case sl.call != nil && reply == nil:
		sl.call.stat = se
	default:
		var d time.Duration
		if e.timed {
			d = time.Since(st.began)
		}
		in.noteCall(se, d, reply)
	}
}

// refuse answers c with the error reply of a command refused before it runs: a rejected call in the
// statistics (stats.go).
func (st *decideState) refuse(c *resp.Command, reply []byte) (slot, act) {
	st.rejected = true
	return st.answer(c, slot{local: reply}, true)
}

// decideAs is decide for the command c of entry e, whose name renames touched when renamed (r then
// says what the name means), and runs e's handler.
func (st *decideState) decideAs(c *resp.Command, e *command, r rediscmd.Rename, renamed bool) (slot, act) {
	orig := "" // the original name of a renamed command
	if renamed {
		if r.Removed {
			return st.refuse(c, unknownCommand(c))
		}
		if st.sess.identUser != "" {
			return st.refuse(c, replyRenamedOnIdentity)
		}
		orig = r.Original
		st.rewriteName(c, r.Original)
	}
	if !st.auth.free {
		if sl, a, done := st.authorize(c, e, st.withName(c, orig)); done {
			return sl, a
		}
	}
	d := &st.dec // in st, not on the stack: a handler called through the table would make it escape
	*d = decision{sl: slot{kind: kindOne}, fwd: actForward, cmd: e, orig: orig}
	if st.multi && e.flags&cmdNotQueued == 0 {
		st.queued++
		if e.flags&cmdJudgedAtExec == 0 {
			if sl, a, done := st.txJudge(c, st.withName(c, orig)); done {
				return sl, a
			}
		}
	}
	if e.timed {
		st.began = time.Now()
	}
	if e.decide != nil && e.decide(st, c, d) {
		return d.sl, d.fwd
	}
	if st.replyOff || st.skipNext {
		st.skipNext = false
		// Redis 7 sends subscription confirmations even then (they are pushes, which CLIENT REPLY does
		// not silence), but not the error of a subscribe command without channels.
		if e.flags&cmdSubscription == 0 || st.multi || (len(c.Args) < 2 && d.sl.n == 1) {
			d.sl.kind = kindNone
		}
		d.sl.local = nil
		if d.sl.kind == kindNone {
			d.sl.call = nil
		}
	}
	return d.sl, d.fwd
}

// answer completes a slot moat answers itself (local bytes or a CLIENT call) for a command the backend
// does not get. isErr: the answer is an error, which inside MULTI dooms the transaction, as in Redis.
// Under CLIENT REPLY OFF|SKIP nothing is written (a call still acts); a SKIP the backend is waiting to
// apply is consumed with a PING whose reply it then skips.
func (st *decideState) answer(c *resp.Command, sl slot, isErr bool) (slot, act) {
	if st.multi && isErr {
		st.dirty = true
	}

	if !st.replyOff && !st.skipNext {
		if sl.call != nil {
			sl.kind = kindNone
		}
		return sl, actDrop
	}
	st.silenced = sl.local
	sl.local, sl.kind = nil, kindNone
	if sl.call != nil {
		sl.call.silent = true
	}
	if st.skipNext {
		st.skipNext = false
		c.Raw = pingCmd
		return sl, actReplace
	}
	return sl, actDrop
}

// rewriteName makes c.Raw carry the command's original name in place of the one the client typed
// (N4: the backend always receives original names). The new bytes live in st.scratch until the next
// batch. Raw is always multibulk (inline commands are re-encoded by the reader).
func (st *decideState) rewriteName(c *resp.Command, orig string) {
	raw := c.Raw
	// *N\r\n $len\r\n name\r\n rest…
	i := indexCRLF(raw)
	if i < 0 {
		return
	}
	j := indexCRLF(raw[i+2:])
	if j < 0 {
		return
	}
	n, ok := atoi(string(raw[i+3 : i+2+j]))
	restAt := i + 2 + j + 2 + n + 2
	if !ok || restAt > len(raw) {
		return
	}
	start := len(st.scratch)
	st.scratch = append(st.scratch, raw[:i+2]...)
	st.scratch = append(st.scratch, '$')
	st.scratch = appendInt(st.scratch, len(orig))
	st.scratch = append(st.scratch, '\r', '\n')
	st.scratch = append(st.scratch, orig...)
	st.scratch = append(st.scratch, '\r', '\n')
	st.scratch = append(st.scratch, raw[restAt:]...)
	c.Raw = st.scratch[start:len(st.scratch):len(st.scratch)]
}
