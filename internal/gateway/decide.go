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

	dec decision // the decision decide is making (its handlers work on it)

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

// decide gives a command its reply slot and says what reaches the backend. It looks the command up
// once in the instance's command table and runs the entry's handler. It never allocates for commands
// forwarded unchanged.
func (st *decideState) decide(c *resp.Command) (slot, act) {
	var buf [rediscmd.MaxNameLen]byte
	e, r, renamed := st.sess.in.cmds.lookup(st.renames, c, &buf)
	orig := "" // the original name of a renamed command
	if renamed {
		if r.Removed {
			return st.answer(c, slot{local: unknownCommand(c)}, true)
		}
		if st.sess.identUser != "" {
			return st.answer(c, slot{local: replyRenamedOnIdentity}, true)
		}
		orig = r.Original
		st.rewriteName(c, r.Original)
	}
	if !st.auth.free {
		if sl, a, done := st.authorize(c, st.withName(c, orig)); done {
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

// The handlers of the commands moat decides itself (commandtable.go's moatCommands), in decide's terms.

func (st *decideState) decideAuth(c *resp.Command, d *decision) bool {
	return d.set(st.authCommand(c))
}

func (st *decideState) decideACL(c *resp.Command, d *decision) bool {
	return d.set(st.aclCommand(c, st.withName(c, d.orig)))
}

// decideProtected: DEBUG and MODULE (a restricted connection had them refused by authorize already).
func (st *decideState) decideProtected(c *resp.Command, d *decision) bool {
	if len(c.Args) < 2 {
		return d.set(st.answer(c, slot{local: wrongArity(d.cmd.name)}, true))
	}
	if r := st.protected(d.cmd.name); r != nil {
		return d.set(st.answer(c, slot{local: r}, true))
	}
	return false
}

func (st *decideState) decideConfig(c *resp.Command, d *decision) bool {
	if sl, a, done := st.configCommand(c); done {
		return d.set(sl, a)
	}
	if s := d.cmd.subcommand(c); s != nil && s.flags&cmdGuardedSet != 0 {
		if r := guardedConfigSet(c); r != nil {
			return d.set(st.answer(c, slot{local: r}, true))
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
	if exec && st.multi && st.dirty && !c.More {
		c.Raw = discardCmd
		d.sl.kind = kindExecAbort
		d.fwd = actReplace
	} else if exec && st.multi {
		st.execSlot(&d.sl)
		st.txExec(&d.sl)
		if st.multiScript && st.sess.identUser != "" {
			d.sl.kind, d.sl.call = kindExecFiltered, &clientCall{op: opMirrorLua}
		}
	}
	st.multiScript = false
	st.multi, st.dirty, st.queued = false, false, 0
	st.tx = txState{}
	st.endMulti()
}

// decideScript: EVAL, FCALL and FUNCTION, run under the script guard or a backend identity.
func (st *decideState) decideScript(c *resp.Command, d *decision) bool {
	if !st.auth.free && st.identityRefuses() {
		if st.subscribedCtx {
			return d.set(st.answer(c, slot{local: cantExecute(c)}, true))
		}
		return d.set(st.answer(c, slot{local: replyIdentityUnavailable}, true))
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
	*st = decideState{renames: st.renames, scratch: st.scratch, sess: st.sess, argsBuf: st.argsBuf, dec: st.dec}
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
	if !st.multi && len(c.Args) == 2 {
		if db, ok := atoi(string(c.Args[1])); ok {
			d.sl.kind, d.sl.n = d.cmd.kind, db
		}
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

// decideClientLocal: CLIENT LIST, INFO, KILL and ID, which moat answers (clientcmd.go).
func (st *decideState) decideClientLocal(c *resp.Command, d *decision) bool {
	if l, mine := st.client(c, d.sub.name); mine {
		return d.set(st.answer(c, l, l.local != nil))
	}
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
	if !st.multi && len(c.Args) == 3 {
		d.sl.call = &clientCall{op: opSetName, name: string(c.Args[2])}
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

// guardedConfigSet is the refusal of a CONFIG SET (c is one) that names a parameter of the backend's
// wiring (rediscmd.GuardedConfig), as Redis refuses a protected config, or nil. The backend judges the
// rest, and answers an odd number of arguments with a syntax error before it changes anything.
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
