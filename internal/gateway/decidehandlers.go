package gateway

import (
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// The handlers of the commands moat decides itself (commandtable.go's moatCommands), in decide's terms:
// each works on the decision of one command and says whether it is final.

func (st *decideState) decideAuth(c *resp.Command, d *decision) bool {
	return d.set(st.authCommand(c))
}

func (st *decideState) decideACL(c *resp.Command, d *decision) bool {
	return d.set(st.aclCommand(c, st.withName(c, d.orig)))
}

// decideProtected: DEBUG and MODULE (a restricted connection had them refused by authorize already).
// As in Redis, an unknown subcommand or a wrong arity is answered before a refusal.
func (st *decideState) decideProtected(c *resp.Command, d *decision) bool {
	if _, cerr := st.auth.users.Table().Resolve(st.withName(c, d.orig)); cerr != nil {
		return d.set(st.refuse(c, errorReply(cerr.Reply)))
	}
	if r := st.protected(d.cmd, c); r != nil {
		return d.set(st.refuse(c, r))
	}
	return false
}

func (st *decideState) decideConfig(c *resp.Command, d *decision) bool {
	if sl, a, done := st.configCommand(c); done {
		return d.set(sl, a)
	}
	s := d.cmd.subcommand(c)
	if s != nil && s.flags&cmdGuardedSet != 0 {
		if r := guardedConfigSet(c); r != nil {
			return d.set(st.answer(c, slot{local: r}, true))
		}
	}
	if s != nil && s.name == "resetstat" && len(c.Args) == 2 { // moat's statistics too (stats.go)
		if st.multi {
			st.resetAtExec = true
		} else {
			st.sess.in.resetStats()
		}
	}
	return false
}

// decideQuit answers QUIT here: the backend connection stays clean and the client's goodbye is not
// delayed.
func (st *decideState) decideQuit(c *resp.Command, d *decision) bool {
	d.sl = slot{local: replyOK, close: true}
	d.fwd = actDrop
	return false
}

func (st *decideState) decideMulti(c *resp.Command, d *decision) bool {
	if !st.multi {
		st.multi, st.dirty, st.queued = true, false, 0
		st.endMulti()
	}
	return false
}

func (st *decideState) decideExec(c *resp.Command, d *decision) bool {
	st.endTransaction(c, d, true)
	return false
}

func (st *decideState) decideDiscard(c *resp.Command, d *decision) bool {
	st.endTransaction(c, d, false)
	return false
}

// endTransaction is EXEC (exec) or DISCARD: a transaction moat doomed is discarded and answered
// EXECABORT; EXEC's slot learns what moat put in or left out of its array.
func (st *decideState) endTransaction(c *resp.Command, d *decision, exec bool) {
	st.multiDone(exec && !st.dirty)
	if st.resetAtExec && exec && st.multi && !st.dirty {
		st.sess.in.resetStats()
	}
	st.resetAtExec = false
	if exec && st.multi && st.dirty && !c.More {
		c.Raw = discardCmd
		d.sl.kind = kindExecAbort
		d.fwd = actReplace
	} else if exec && st.multi {
		st.execSlot(&d.sl)
		st.txExec(&d.sl)
		if st.multiScript && st.sess.identUser != "" {
			d.sl.kind, d.sl.call = kindExecFiltered, &clientCall{op: opMirrorLua, exec: st.queued}
		}
	}
	st.multiScript = false
	st.multi, st.dirty, st.queued = false, false, 0
	st.tx = txState{}
	st.endMulti()
}

// decideScript: EVAL, FCALL and FUNCTION, run under the script guard or a backend identity.
func (st *decideState) decideScript(c *resp.Command, d *decision) bool {
	if st.tx.on { // EXEC runs it as the transaction makes the user, not as the connection is now
		if st.txIdentityRefuses() {
			return d.set(st.queueRefusal(c, replyScriptAfterTxLogin))
		}
	} else if !st.auth.free && st.identityRefuses() {
		if st.subscribedCtx {
			return d.set(st.refuse(c, cantExecute(c)))
		}
		return d.set(st.refuse(c, replyIdentityUnavailable))
	}
	if sl, a, done := st.guardScript(c); done {
		return d.set(sl, a)
	}
	if st.sess.identUser != "" { // the backend logs what it refuses inside: mirrored (scriptlog.go)
		if st.multi {
			st.multiScript = true
		} else {
			d.sl.call = &clientCall{op: opMirrorLua}
		}
	}
	return false
}

// decideReset: RESET turns CLIENT REPLY OFF back on before it answers, but a SKIP in force still
// silences it.
func (st *decideState) decideReset(c *resp.Command, d *decision) bool {
	skipped := st.skipNext
	*st = decideState{renames: st.renames, scratch: st.scratch, sess: st.sess, argsBuf: st.argsBuf, dec: st.dec, rd: st.rd}
	st.sess.subs.clear()
	st.auth.start(st.sess.in, st.sess.in.snap.Load(), st.sess.addr)
	st.sess.noteUser(st.auth.user.Name(), st.auth.authed)
	d.sl.kind = d.cmd.kind
	if skipped {
		d.sl.kind = kindNone
		d.sl.reset = true
	}
	return d.set(d.sl, actForward)
}

func (st *decideState) decideHello(c *resp.Command, d *decision) bool {
	if sl, a, ok := st.hello(c); !ok {
		return d.set(sl, a)
	}
	if !st.multi {
		d.sl.kind = d.cmd.kind
		d.sl.call = helloSetName(c)
	} else {
		st.noteHello(c)
	}
	return false
}

func (st *decideState) decideSelect(c *resp.Command, d *decision) bool {
	if len(c.Args) != 2 {
		return false
	}
	switch db, ok := atoi(string(c.Args[1])); {
	case !ok:
	case st.multi:
		st.noteInExec(execHello{kind: kindSelect, n: db}) // recorded from its place in EXEC's array
	default:
		d.sl.kind, d.sl.n = d.cmd.kind, db
	}
	return false
}

// decideKind gives the slot the entry's reply kind outside MULTI (MONITOR, SYNC, CLIENT GETREDIR…).
func (st *decideState) decideKind(c *resp.Command, d *decision) bool {
	e := d.cmd
	if d.sub != nil {
		e = d.sub
	}
	if !st.multi {
		d.sl.kind = e.kind
		if e.kind == kindMonitor {
			st.sess.startMonitor() // before MONITOR reaches the backend (monitor.go)
		}
	}
	return false
}

// decideSubscription: the subscribe family, whose slot waits for one confirmation per channel.
func (st *decideState) decideSubscription(c *resp.Command, d *decision) bool {
	st.noteSubscription(d.cmd.name, c)
	if !st.multi {
		k := d.cmd.kind
		d.sl.kind, d.sl.n = k, len(c.Args)-1
		if d.sl.n == 0 && (k == kindSubscribe || k == kindPSubscribe || k == kindSSubscribe) {
			d.sl.n = 1 // wrong number of arguments: one error
		}
		if c.More {
			d.sl.n = 1 // an argument too long to hold: at least one frame; errors end the slot anyway
		}
	}
	return false
}

// decideClient runs the handler of CLIENT's subcommand, if it has one.
func (st *decideState) decideClient(c *resp.Command, d *decision) bool {
	if d.sub = d.cmd.subcommand(c); d.sub == nil || d.sub.decide == nil {
		return false
	}
	return d.sub.decide(st, c, d)
}

// decideClientLocal: CLIENT LIST, INFO, KILL and ID, which moat answers (clientcmd.go); inside MULTI
// they are queued and run at EXEC, as in Redis, after the arity check.
func (st *decideState) decideClientLocal(c *resp.Command, d *decision) bool {
	if r := clientArity(c, d.sub.name); r != nil {
		return d.set(st.answer(c, slot{local: r}, true))
	}
	if st.multi && !st.tx.replaying {
		return d.set(st.queueAtExec(c, st.withName(c, d.orig)))
	}
	l := st.client(c, d.sub.name)
	return d.set(st.answer(c, l, l.local != nil))
}

// decideClientID: CLIENT ID is forwarded (outside MULTI), which gives the client a backend connection
// of its own, so that it can be named as a redirect target (CLIENT TRACKING … REDIRECT: clientid.go);
// the client gets moat's ID in the reply (kindClientID).
func (st *decideState) decideClientID(c *resp.Command, d *decision) bool {
	if st.multi || len(c.Args) != 2 {
		return st.decideClientLocal(c, d)
	}
	d.sl.kind = kindClientID
	return false
}

// decideClientIDs: CLIENT UNBLOCK and TRACKING name other clients by moat's IDs (clientid.go).
func (st *decideState) decideClientIDs(c *resp.Command, d *decision) bool {
	if st.translateClientIDs(c, d.sub.name) {
		d.fwd = actReplace
	}
	return false
}

func (st *decideState) decideClientSetName(c *resp.Command, d *decision) bool {
	if len(c.Args) != 3 {
		return false
	}
	call := &clientCall{op: opSetName, name: string(c.Args[2])}
	if st.multi {
		st.noteInExec(execHello{kind: kindOne, call: call}) // recorded from its place in EXEC's array
	} else {
		d.sl.call = call
	}
	return false
}

// decideClientReply: CLIENT REPLY ON|OFF|SKIP; inside MULTI it is only queued.
func (st *decideState) decideClientReply(c *resp.Command, d *decision) bool {
	if st.multi || len(c.Args) != 3 {
		return false
	}
	var arg [16]byte
	switch lower(c.Args, 2, &arg) {
	case "on":
		st.replyOff, st.skipNext = false, false
		return d.set(d.sl, actForward)
	case "off":
		st.replyOff = true
	case "skip":
		if !st.replyOff {
			st.skipNext = true
			d.sl.kind = kindNone
			return d.set(d.sl, actForward)
		}
	}
	return false
}

// guardedConfigSet is the refusal of a CONFIG SET (c is one, inside MULTI: outside, configCommand
// judges it by the backend's values, configwiring.go) that names a parameter of the backend's wiring
// (rediscmd.GuardedConfig), as Redis refuses a protected config, or nil. The backend judges the rest,
// and answers an odd number of arguments with a syntax error before it changes anything.
func guardedConfigSet(c *resp.Command) []byte {
	if len(c.Args) < 4 || len(c.Args)%2 != 0 {
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

// protected is Redis's refusal of c (a command of entry e) for this connection when it has Redis's
// PROTECTED flag (DEBUG; MODULE LOAD, LOADEX, UNLOAD: cmdProtected) and enable-debug-command /
// enable-module-command does not allow it; or nil: allowed (forwarded; the backend's own setting then
// applies) or not protected (MODULE LIST, MODULE HELP, any other command).
func (st *decideState) protected(e *command, c *resp.Command) []byte {
	if !e.protectedFor(c) {
		return nil
	}
	snap := st.sess.in.snap.Load()
	enable, refusal := snap.DebugCommand, replyDebugNotAllowed
	if e.name == "module" {
		enable, refusal = snap.ModuleCommand, replyModuleNotAllowed
	}
	if enable.Allows(st.sess.addr.IsLoopback()) { // "local": loopback, as for protected mode
		return nil
	}
	return refusal
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
