package gateway

import (
	"unsafe"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// decideState is what the reader must remember between commands to know how many replies each one gets.
type decideState struct {
	multi    bool // inside MULTI: every command gets one reply (QUEUED or an error) until EXEC/DISCARD
	replyOff bool // CLIENT REPLY OFF: no replies until CLIENT REPLY ON
	skipNext bool // CLIENT REPLY SKIP: no reply for the next command

	// dirty: moat refused a command inside MULTI (a renamed-away command, a CLIENT subcommand moat
	// answers), which the backend never saw. Like Redis, the transaction must then fail: EXEC is
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
	// hellos: the HELLOs sent inside MULTI (multiacl.go).
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

	auth    authState // who the connection is (auth.go)
	sess    *session  // for the ACL LOG's client info, the ACL command and the UserStore
	argsBuf [][]byte  // a renamed command's arguments under their original name
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

// decide gives a command its reply slot and says what reaches the backend. It never allocates for
// commands forwarded unchanged.
func (st *decideState) decide(c *resp.Command) (slot, act) {
	var name, sub, arg [16]byte
	cmd := lower(c.Args, 0, &name)
	orig := "" // the original name of a renamed command
	if !st.renames.Empty() && len(c.Args) > 0 {
		var long [rediscmd.MaxNameLen]byte
		if r, ok := st.renames.Lookup(lowerInto(c.Args[0], long[:])); ok {
			if r.Removed {
				return st.answer(c, slot{local: unknownCommand(c)}, true)
			}
			if st.sess.identUser != "" {
				return st.answer(c, slot{local: replyRenamedOnIdentity}, true)
			}
			cmd, orig = r.Original, r.Original
			st.rewriteName(c, r.Original)
		}
	}
	if !st.auth.free {
		if sl, a, done := st.authorize(c, st.withName(c, orig)); done {
			return sl, a
		}
	}
	sl := slot{kind: kindOne}
	fwd := actForward
	if st.multi {
		switch cmd {
		case "exec", "discard", "multi", "watch", "quit", "reset":
		default:
			st.queued++
			if cmd != "auth" && cmd != "acl" {
				if sl, a, done := st.txJudge(c, st.withName(c, orig)); done {
					return sl, a
				}
			}
		}
	}
	switch cmd {
	case "auth":
		return st.authCommand(c)
	case "acl":
		return st.aclCommand(c, st.withName(c, orig))
	case "debug", "module": // a restricted connection had them refused by authorize already
		if len(c.Args) < 2 {
			return st.answer(c, slot{local: wrongArity(cmd)}, true)
		}
		if r := st.protected(cmd); r != nil {
			return st.answer(c, slot{local: r}, true)
		}
	case "config":
		if sl, a, done := st.configCommand(c); done {
			return sl, a
		}
		if r := guardedConfigSet(c); r != nil {
			return st.answer(c, slot{local: r}, true)
		}
	case "quit":
		// Answered here: the backend connection stays clean and the client's goodbye is not delayed.
		sl = slot{local: replyOK, close: true}
		fwd = actDrop
	case "multi":
		if !st.multi {
			st.multi, st.dirty, st.queued = true, false, 0
			st.endMulti()
		}
	case "exec", "discard":
		st.multiDone(cmd == "exec" && !st.dirty)
		if cmd == "exec" && st.multi && st.dirty && !c.More {
			c.Raw = discardCmd
			sl.kind = kindExecAbort
			fwd = actReplace
		} else if cmd == "exec" && st.multi {
			st.execSlot(&sl)
			st.txExec(&sl)
			if st.multiScript && st.sess.identUser != "" {
				sl.kind, sl.call = kindExecFiltered, &clientCall{op: opMirrorLua}
			}
		}
		st.multiScript = false
		st.multi, st.dirty, st.queued = false, false, 0
		st.tx = txState{}
		st.endMulti()
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "function":
		if !st.auth.free && st.identityRefuses() {
			if st.subscribedCtx {
				return st.answer(c, slot{local: cantExecute(c)}, true)
			}
			return st.answer(c, slot{local: replyIdentityUnavailable}, true)
		}
		if sl, a, done := st.guardScript(c); done {
			return sl, a
		}
		if st.sess.identUser != "" { // the backend logs what it refuses inside: mirrored (scriptlog.go)
			if st.multi {
				st.multiScript = true
			} else {
				sl.call = &clientCall{op: opMirrorLua}
			}
		}
	case "reset":
		// RESET turns CLIENT REPLY OFF back on before it answers, but a SKIP in force still silences it.
		skipped := st.skipNext
		*st = decideState{renames: st.renames, scratch: st.scratch, sess: st.sess, argsBuf: st.argsBuf}
		st.sess.subs.clear()
		st.auth.start(st.sess.in, st.sess.in.snap.Load(), st.sess.addr)
		st.sess.noteUser(st.auth.user.Name(), st.auth.authed)
		sl.kind = kindReset
		if skipped {
			sl.kind = kindNone
			sl.reset = true
		}
		return sl, actForward
	case "hello":
		if sl, a, ok := st.hello(c); !ok {
			return sl, a
		}
		if !st.multi {
			sl.kind = kindHello
			sl.call = helloSetName(c)
		} else {
			st.noteHello(c)
		}
	case "select":
		if !st.multi && len(c.Args) == 2 {
			if db, ok := atoi(string(c.Args[1])); ok {
				sl.kind, sl.n = kindSelect, db
			}
		}
	case "monitor":
		if !st.multi {
			sl.kind = kindMonitor
		}
	case "sync", "psync":
		if !st.multi {
			sl.kind = kindReplica
		}
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
		st.noteSubscription(cmd, c)
		if !st.multi {
			sl.kind = subscriptionKind(cmd)
			sl.n = len(c.Args) - 1
			if sl.n == 0 && (sl.kind == kindSubscribe || sl.kind == kindPSubscribe || sl.kind == kindSSubscribe) {
				sl.n = 1 // wrong number of arguments: one error
			}
			if c.More {
				sl.n = 1 // an argument too long to hold: at least one frame; errors end the slot anyway
			}
		}
	case "client":
		switch subcmd := lower(c.Args, 1, &sub); subcmd {
		case "list", "info", "kill", "id":
			if l, mine := st.client(c, subcmd); mine {
				return st.answer(c, l, l.local != nil)
			}
		case "unblock", "tracking": // they name other clients by moat's IDs (clientid.go)
			if st.translateClientIDs(c, subcmd) {
				fwd = actReplace
			}
		case "getredir", "trackinginfo": // they answer with the backend's ID of the redirect target
			if !st.multi {
				sl.kind = kindMoatIDs
			}
		case "setname":
			if !st.multi && len(c.Args) == 3 {
				sl.call = &clientCall{op: opSetName, name: string(c.Args[2])}
			}
		case "reply":
			// Inside MULTI, CLIENT REPLY is only queued.
			if !st.multi && len(c.Args) == 3 {
				switch lower(c.Args, 2, &arg) {
				case "on":
					st.replyOff, st.skipNext = false, false
					return sl, actForward
				case "off":
					st.replyOff = true
				case "skip":
					if !st.replyOff {
						st.skipNext = true
						sl.kind = kindNone
						return sl, actForward
					}
				}
			}
		}
	}
	if st.replyOff || st.skipNext {
		st.skipNext = false
		// Redis 7 sends subscription confirmations even then (they are pushes, which CLIENT REPLY does
		// not silence), but not the error of a subscribe command without channels.
		if subscriptionKind(cmd) == kindOne || st.multi || (len(c.Args) < 2 && sl.n == 1) {
			sl.kind = kindNone
		}
		sl.local = nil
		if sl.kind == kindNone {
			sl.call = nil
		}
	}
	return sl, fwd
}

// guardedConfigSet is the refusal of a CONFIG SET that names a parameter of the backend's wiring
// (rediscmd.GuardedConfig), as Redis refuses a protected config, or nil. The backend judges the rest,
// and answers an odd number of arguments with a syntax error before it changes anything.
func guardedConfigSet(c *resp.Command) []byte {
	var sub [16]byte
	if len(c.Args) < 4 || len(c.Args)%2 != 0 || lower(c.Args, 1, &sub) != "set" {
		return nil
	}
	for i := 2; i < len(c.Args); i += 2 {
		var long [64]byte
		if len(c.Args[i]) <= len(long) && rediscmd.GuardedConfig(lowerInto(c.Args[i], long[:])) {
			return replyGuardedConfig(c.Args[i])
		}
	}
	return nil
}

// protected is Redis's refusal of DEBUG or MODULE (name, lower case) for this connection under
// enable-debug-command / enable-module-command, or nil: allowed (forwarded; the backend's own setting
// then applies) or another command.
func (st *decideState) protected(name string) []byte {
	snap := st.sess.in.snap.Load()
	enable := snap.DebugCommand
	if name == "module" {
		enable = snap.ModuleCommand
	}
	if enable.Allows(st.sess.addr.IsLoopback()) { // "local": loopback, as for protected mode
		return nil
	}
	return protectedCommand(name)
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

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func appendInt(b []byte, n int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// helloSetName returns the call that records HELLO's SETNAME once the backend accepts the HELLO.
func helloSetName(c *resp.Command) *clientCall {
	for i := 2; i+1 < len(c.Args); i++ {
		var b [16]byte
		if lower(c.Args, i, &b) == "setname" {
			return &clientCall{op: opSetName, name: string(c.Args[i+1])}
		}
	}
	return nil
}

// subscriptionKind maps a confirmation or command name to its reply kind; kindOne for anything else.
func subscriptionKind(name string) replyKind {
	switch name {
	case "subscribe":
		return kindSubscribe
	case "unsubscribe":
		return kindUnsubscribe
	case "psubscribe":
		return kindPSubscribe
	case "punsubscribe":
		return kindPUnsubscribe
	case "ssubscribe":
		return kindSSubscribe
	case "sunsubscribe":
		return kindSUnsubscribe
	}
	return kindOne
}

// lower returns args[i] lower-cased in buf, or "" when absent or longer than buf (no command name that
// matters here is). The string aliases buf, which must not change while the string is in use; this keeps
// command dispatch free of allocations.
func lower(args [][]byte, i int, buf *[16]byte) string {
	if i >= len(args) {
		return ""
	}
	return lowerInto(args[i], buf[:])
}

// lowerInto is lower for any buffer: a lower-cased in buf, or "" when a is longer than buf.
func lowerInto(a []byte, buf []byte) string {
	if len(a) > len(buf) || len(a) == 0 {
		return ""
	}
	for j, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
	}
	return unsafe.String(&buf[0], len(a))
}
