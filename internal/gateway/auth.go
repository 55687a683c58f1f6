package gateway

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Authentication and ACLs (A1–A3) are enforced by moat itself, in Redis 7.0.15's order: command lookup
// and arity, then NOAUTH, then the ACL check (NOPERM, with an ACL LOG entry). The backend only ever sees
// moat's own backend login. A connection starts as Redis's does: user "default", authenticated when the
// default user is on and nopass.

// authState is a connection's ACL identity, kept by the reader goroutine.
type authState struct {
	snap   *snapshot.Snapshot // whose Users the fields below come from
	users  *acl.Users
	user   *acl.User // Redis's c->user
	authed bool      // Redis's c->authenticated
	// free: authenticated as a user Check would allow everything, so Check is skipped (the common case
	// of an instance without ACL users).
	free bool
	// gone: the connection's user was deleted (or may no longer log in from its address, A4); it is
	// closed after its current reply. A disabled user's connections keep working, as in Redis 7.0.
	gone bool
}

// usersOf returns the snapshot's users, or the instance's fresh default set when it has none.
func (in *Instance) usersOf(s *snapshot.Snapshot) *acl.Users {
	if s.Users != nil {
		return s.Users
	}
	return in.freshUsers
}

// start gives a new connection (or one that RESET) from addr the default user: authenticated when the
// default user is on and nopass, or the client is a password-free VPC client (W11), unless the default
// user is restricted to other source addresses (A4).
func (a *authState) start(in *Instance, s *snapshot.Snapshot, addr netip.Addr) {
	a.snap, a.users = s, in.usersOf(s)
	def := a.users.Get("default")
	authed := a.users.DefaultAuthenticated() || (s.PasswordFree(addr) && def.Enabled())
	a.set(def, authed && s.SourceAllows("default", addr))
}

func (a *authState) set(u *acl.User, authed bool) {
	a.user, a.authed = u, authed
	a.free = authed && u.UnrestrictedRules()
}

// refresh moves the connection to the users of the snapshot in force, if it changed: its user's new
// rules apply from the next command, as in Redis. A user deleted meanwhile, or restricted to other
// source addresses (A4), marks it gone; a user disabled meanwhile does not: like Redis, "off" only
// refuses new logins.
func (a *authState) refresh(in *Instance, addr netip.Addr) {
	s := in.snap.Load()
	if s == a.snap {
		return
	}
	a.snap, a.users = s, in.usersOf(s)
	u := a.users.Get(a.user.Name())
	if u == nil || (a.authed && !s.SourceAllows(u.Name(), addr)) {
		a.gone = true
		a.set(a.users.Get("default"), false)
		return
	}
	a.set(u, a.authed)
}

// authorize runs the checks Redis makes before a command runs, for a connection that is not free:
// lookup and arity, DEBUG/MODULE's protected subcommands, NOAUTH, NOPERM. e is the command's entry and
// args its command line under the command's original name. When the command may not run, done is true
// and sl/a are its refusal. A command too long to hold (c.More) is judged by its name and what is held,
// strictly (acl.User.CheckHeld): its arity and any key in the part not read yet cannot be seen.
func (st *decideState) authorize(c *resp.Command, e *command, args [][]byte) (sl slot, a act, done bool) {
	au := &st.auth
	table := au.users.Table()
	var cmd *acl.Command
	var cerr *acl.CommandError
	if c.More {
		if cmd = table.LookupArgs(args); cmd == nil {
			_, cerr = table.Resolve(args) // the unknown-command text
		}
	} else {
		cmd, cerr = table.Resolve(args)
	}
	if cerr != nil {
		sl, a = st.reject(c, args, errorReply(cerr.Reply))
		return sl, a, true
	}
	if r := st.protected(e, c); r != nil {
		sl, a = st.refuse(c, r)
		return sl, a, true
	}
	if !au.authed && !cmd.NoAuth() {
		st.sess.in.m.aclNoAuth.Inc()
		sl, a = st.reject(c, args, replyNoAuth)
		return sl, a, true
	}
	if cmd.NoAuth() {
		return sl, a, false // AUTH, HELLO, QUIT, RESET always pass the command check
	}
	var d acl.Decision
	if c.More {
		d = au.user.CheckHeld(cmd, args)
	} else {
		d = au.user.Check(cmd, args)
	}
	if !d.Allowed() {
		st.logDenied(d, args)
		sl, a = st.reject(c, args, errorReply(d.Reply()))
		return sl, a, true
	}
	if c.More {
		return sl, a, false
	}
	if msg := au.user.SortDenied(cmd, args); msg != "" {
		sl, a = st.answer(c, slot{local: errorReply(msg)}, true)
		return sl, a, true
	}
	return sl, a, false
}

// withName returns c's arguments with the original name of a renamed command (orig; "" when not
// renamed) in place of the name typed: ACL rules and replies judge the command a new name stands for.
func (st *decideState) withName(c *resp.Command, orig string) [][]byte {
	if orig == "" {
		return c.Args
	}
	st.argsBuf = append(st.argsBuf[:0], []byte(orig))
	st.argsBuf = append(st.argsBuf, c.Args[1:]...)
	return st.argsBuf
}

// logContext is the ACL LOG context of the command being decided.
func (st *decideState) logContext() acl.LogContext {
	if st.multi {
		return acl.ContextMulti
	}
	return acl.ContextTopLevel
}

func (st *decideState) logDenied(d acl.Decision, args [][]byte) {
	now := time.Now()
	st.sess.in.aclLog.Add(acl.DeniedEntry(d, args, st.auth.user.Name(), st.logContext(), string(st.sess.describe(nil, now)), now))
	st.sess.in.m.aclDenied.Inc()
}

// login checks a login attempt as name with pass (AUTH, HELLO AUTH) and, when it succeeds, makes the
// connection that user. A failure — wrong password, unknown or disabled user, a source address the
// user is restricted from (A4), a login locked out (A5) — looks the same to the client; the ACL LOG,
// the metrics and moat's log say which it was. A locked-out login does the same credential work as
// any other and discards it, so its timing tells nothing either (lockout.go).
func (st *decideState) login(typed []byte, name string, pass []byte) *acl.User {
	in, addr, snap := st.sess.in, st.sess.addr, st.auth.snap
	at, locked := in.lockout.begin(addr, lockKey(st.auth.users, name), snap)
	u := st.auth.users.Authenticate(name, pass)
	switch {
	case locked == lockByPair:
		st.loginRefused(typed, name, acl.LogLockout, whyPairLocked)
		return nil
	case locked == lockByAddress:
		st.loginRefused(typed, name, acl.LogLockout, whyAddressLocked)
		return nil
	case u == nil:
		st.loginRefused(typed, name, acl.LogAuth, "wrong password, or unknown or disabled user")
	case !snap.SourceAllows(name, addr):
		st.loginRefused(typed, name, acl.LogSource, "source address not allowed for this user")
		u = nil
	}
	pairLocked, addrLocked := in.lockout.end(at, snap, u != nil)
	if pairLocked {
		in.log.Warn("logins locked out after repeated failures", "client", st.sess.peer, "user", name,
			"failures", snap.AuthLockoutThreshold, "for", snap.AuthLockoutDuration.String())
	}
	if addrLocked {
		in.log.Warn("logins from an address locked out after repeated failures, whatever the user", "client", st.sess.peer,
			"failures", snap.AuthLockoutAddressThreshold, "for", snap.AuthLockoutDuration.String())
	}
	if u == nil {
		return nil
	}
	st.auth.set(u, true)
	st.sess.noteUser(u.Name(), true)
	return u
}

// loginRefused records a refused login: an ACL LOG entry with reason (auth, moat's source or lockout),
// its metric, a log line saying why and, for a lockout, a refusal record. The client gets the
// wrong-password reply whatever the reason.
func (st *decideState) loginRefused(typed []byte, name string, reason acl.LogReason, why string) {
	in := st.sess.in
	now := time.Now()
	e := acl.AuthEntry(string(typed), name, st.logContext(), string(st.sess.describe(nil, now)), now)
	e.Reason = reason
	in.aclLog.Add(e)
	switch reason {
	case acl.LogSource:
		in.m.authSource.Inc()
	case acl.LogLockout:
		in.m.authLockouts.Inc()
		in.activity.record(st.sess.addr, ReasonAuthLockout)
	default:
		in.m.authFailed.Inc()
	}
	in.log.Info("login refused", "client", st.sess.peer, "user", name, "why", why)
}

// Why a locked login was refused, for moat's log.
const (
	whyPairLocked    = "this user is locked out from this address after repeated failed logins"
	whyAddressLocked = "this address is locked out after repeated failed logins, whatever the user"
)

// auth answers AUTH [user] password (A2), including moat's one-argument "user:password" form. Inside
// MULTI it is queued and runs at EXEC, as in Redis (multiacl.go).
func (st *decideState) authCommand(c *resp.Command) (slot, act) {
	args := c.Args
	switch {
	case len(args) < 2:
		return st.answer(c, slot{local: wrongArity("auth")}, true)
	case st.multi && !st.tx.replaying:
		return st.queueLocal(c, args)
	case len(args) > 3:
		return st.answer(c, slot{local: replySyntaxError}, true)
	}
	name, pass := string(args[1]), args[len(args)-1]
	if len(args) == 2 {
		var ok bool
		if name, pass, ok = oneArgCredentials(st.auth.users, args[1]); !ok {
			return st.answer(c, slot{local: replyAuthNoPassword}, true)
		}
	}
	if st.login(args[0], name, pass) == nil {
		return st.answer(c, slot{local: replyWrongPass}, true)
	}
	return slot{local: replyOK}, actDrop
}

// oneArgCredentials reads AUTH's one argument against the users us: the default user's password, or
// else (moat's addition, the managed-cloud form) "user:password" for an existing user. ok is false for
// Redis's error: AUTH <password> while the default user is nopass.
func oneArgCredentials(us *acl.Users, arg []byte) (name string, pass []byte, ok bool) {
	def := us.Get("default")
	if !def.NoPass() && us.Authenticate("default", arg) != nil {
		return "default", arg, true
	}
	if i := bytes.IndexByte(arg, ':'); i > 0 && us.Get(string(arg[:i])) != nil {
		return string(arg[:i]), arg[i+1:], true
	}
	return "default", arg, !def.NoPass()
}

// hello handles HELLO [protover [AUTH user pass] [SETNAME name]]: moat checks the version and options,
// authenticates, and forwards HELLO without its AUTH part, so the backend never sees client credentials.
// ok is false when the command was answered here. Inside MULTI every HELLO is queued, as in Redis: its
// refusals become elements of EXEC's array and its AUTH runs at EXEC (multiacl.go).
func (st *decideState) hello(c *resp.Command) (sl slot, a act, ok bool) {
	args := c.Args
	if len(args) < 2 {
		if !st.auth.authed {
			sl, a = st.helloRefused(c, replyNoAuthHello)
			return sl, a, false
		}
		return sl, a, true
	}
	if c.More {
		sl, a = st.helloRefused(c, replyHelloTooLong)
		return sl, a, false
	}
	ver, err := strconv.ParseInt(string(args[1]), 10, 64)
	if err != nil || !strictInt(args[1]) {
		sl, a = st.helloRefused(c, replyHelloVersion)
		return sl, a, false
	}
	if ver < 2 || ver > 3 {
		sl, a = st.helloRefused(c, replyNoProto)
		return sl, a, false
	}
	authAt := -1
	for i := 2; i < len(args); i++ {
		var b [16]byte
		switch opt := lower(args, i, &b); {
		case opt == "auth" && i+2 < len(args):
			authAt = i
			i += 2
		case opt == "setname" && i+1 < len(args):
			i++
		default:
			sl, a = st.helloRefused(c, replyHelloSyntax(string(cstr(args[i], 128))))
			return sl, a, false
		}
	}
	if authAt >= 0 && st.multi {
		return st.queueHelloAuth(c, authAt)
	}
	if authAt >= 0 {
		if st.login(args[0], string(args[authAt+1]), args[authAt+2]) == nil {
			sl, a = st.answer(c, slot{local: replyWrongPass}, true)
			return sl, a, false
		}
		st.stripHelloAuth(c, authAt)
	}
	if !st.auth.authed {
		sl, a = st.helloRefused(c, replyNoAuthHello)
		return sl, a, false
	}
	return sl, a, true
}

// helloRefused answers a HELLO refused before it runs: at once, or inside MULTI queued, its refusal
// an element of EXEC's array (Redis judges HELLO's arguments when it runs).
func (st *decideState) helloRefused(c *resp.Command, reply []byte) (slot, act) {
	if st.multi {
		return st.queueRefusal(c, reply)
	}
	return st.answer(c, slot{local: reply}, true)
}

// helloName is HELLO's name as the backend gets it.
var helloName = []byte("HELLO")

// stripHelloAuth rewrites c.Raw (into st.scratch) without HELLO's "AUTH user pass" at args[at:at+3],
// under HELLO's original name.
func (st *decideState) stripHelloAuth(c *resp.Command, at int) {
	start := len(st.scratch)
	st.scratch = append(st.scratch, '*')
	st.scratch = appendInt(st.scratch, len(c.Args)-3)
	st.scratch = append(st.scratch, '\r', '\n')
	for i, arg := range c.Args {
		if i >= at && i < at+3 {
			continue
		}
		if i == 0 {
			arg = helloName // the original name, as rewriteName gave the backend (N4)
		}
		st.scratch = append(st.scratch, '$')
		st.scratch = appendInt(st.scratch, len(arg))
		st.scratch = append(st.scratch, '\r', '\n')
		st.scratch = append(st.scratch, arg...)
		st.scratch = append(st.scratch, '\r', '\n')
	}
	c.Raw = st.scratch[start:len(st.scratch):len(st.scratch)]
	c.Args = append(c.Args[:at:at], c.Args[at+3:]...)
}
