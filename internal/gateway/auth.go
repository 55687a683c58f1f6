package gateway

import (
	"bytes"
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
	// gone: the connection's user was deleted or disabled; it is closed after its current reply.
	gone bool
}

// usersOf returns the snapshot's users, or the instance's fresh default set when it has none.
func (in *Instance) usersOf(s *snapshot.Snapshot) *acl.Users {
	if s.Users != nil {
		return s.Users
	}
	return in.freshUsers
}

// start gives a new connection (or one that RESET) the default user.
func (a *authState) start(in *Instance, s *snapshot.Snapshot) {
	a.snap, a.users = s, in.usersOf(s)
	a.set(a.users.Get("default"), a.users.DefaultAuthenticated())
}

func (a *authState) set(u *acl.User, authed bool) {
	a.user, a.authed = u, authed
	a.free = authed && u.Unrestricted()
}

// refresh moves the connection to the users of the snapshot in force, if it changed: its user's new
// rules apply from the next command, as in Redis. A user deleted or disabled meanwhile marks it gone.
func (a *authState) refresh(in *Instance) {
	s := in.snap.Load()
	if s == a.snap {
		return
	}
	a.snap, a.users = s, in.usersOf(s)
	u := a.users.Get(a.user.Name())
	if u == nil || (a.authed && !u.Enabled()) {
		a.gone = true
		a.set(a.users.Get("default"), false)
		return
	}
	a.set(u, a.authed)
}

// authorize runs the checks Redis makes before a command runs, for a connection that is not free:
// lookup and arity, NOAUTH, NOPERM. cmd is the original (not renamed) lower-case name. When the command
// may not run, done is true and sl/a are its refusal.
func (st *decideState) authorize(c *resp.Command, args [][]byte) (sl slot, a act, done bool) {
	au := &st.auth
	cmd, cerr := au.users.Table().Resolve(args)
	if cerr != nil {
		sl, a = st.answer(c, slot{local: errorReply(cerr.Reply)}, true)
		return sl, a, true
	}
	if r := protectedCommand(cmd.Name); r != nil {
		sl, a = st.answer(c, slot{local: r}, true)
		return sl, a, true
	}
	if !au.authed && !cmd.NoAuth() {
		sl, a = st.answer(c, slot{local: replyNoAuth}, true)
		return sl, a, true
	}
	if cmd.NoAuth() {
		return sl, a, false // AUTH, HELLO, QUIT, RESET always pass the command check
	}
	d := au.user.Check(cmd, args)
	if !d.Allowed() {
		st.logDenied(d, args)
		sl, a = st.answer(c, slot{local: errorReply(d.Reply())}, true)
		return sl, a, true
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

// protectedCommand is Redis's refusal of DEBUG and MODULE (checked after arity, before NOAUTH), or nil.
func protectedCommand(name string) []byte {
	switch name {
	case "debug":
		return replyDebugNotAllowed
	case "module":
		return replyModuleNotAllowed
	}
	return nil
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

func (st *decideState) logAuthFailure(typed []byte, username string) {
	now := time.Now()
	st.sess.in.aclLog.Add(acl.AuthEntry(string(typed), username, st.logContext(), string(st.sess.describe(nil, now)), now))
	st.sess.in.m.authFailed.Inc()
	st.sess.in.log.Info("AUTH failed", "client", st.sess.peer, "user", username)
}

// login switches the connection to u, as a successful AUTH or HELLO AUTH does.
func (st *decideState) login(u *acl.User) {
	st.auth.set(u, true)
	st.sess.noteUser(u.Name(), true)
}

// auth answers AUTH [user] password (A2), including moat's one-argument "user:password" form. Inside
// MULTI moat refuses it, dooming the transaction (Redis would queue it).
func (st *decideState) authCommand(c *resp.Command) (slot, act) {
	args := c.Args
	switch {
	case len(args) < 2:
		return st.answer(c, slot{local: wrongArity("auth")}, true)
	case len(args) > 3:
		return st.answer(c, slot{local: replySyntaxError}, true)
	case st.multi:
		return st.answer(c, slot{local: replyNotInMulti}, true)
	}
	var u *acl.User
	var tried string
	if len(args) == 3 {
		tried = string(args[1])
		u = st.auth.users.Authenticate(tried, args[2])
	} else {
		u, tried = st.authOneArg(args[1])
		if u == nil && tried == "" {
			return st.answer(c, slot{local: replyAuthNoPassword}, true)
		}
	}
	if u == nil {
		st.logAuthFailure(args[0], tried)
		return st.answer(c, slot{local: replyWrongPass}, true)
	}
	st.login(u)
	return slot{local: replyOK}, actDrop
}

// authOneArg is AUTH with one argument: the default user's password, or else (moat's addition, the
// managed-cloud form) "user:password". tried is the user name to log on failure; "" with a nil user
// means Redis's error for AUTH <password> while the default user is nopass.
func (st *decideState) authOneArg(arg []byte) (u *acl.User, tried string) {
	us := st.auth.users
	def := us.Get("default")
	if !def.NoPass() {
		if u := us.Authenticate("default", arg); u != nil {
			return u, "default"
		}
	}
	if i := bytes.IndexByte(arg, ':'); i > 0 {
		name := string(arg[:i])
		if us.Get(name) != nil {
			return us.Authenticate(name, arg[i+1:]), name
		}
	}
	if def.NoPass() {
		return nil, ""
	}
	return nil, "default"
}

// hello handles HELLO [protover [AUTH user pass] [SETNAME name]]: moat checks the version and options,
// authenticates, and forwards HELLO without its AUTH part, so the backend never sees client credentials.
// ok is false when the command was answered (refused) here.
func (st *decideState) hello(c *resp.Command) (sl slot, a act, ok bool) {
	args := c.Args
	if len(args) < 2 {
		if !st.auth.authed {
			sl, a = st.answer(c, slot{local: replyNoAuthHello}, true)
			return sl, a, false
		}
		return sl, a, true
	}
	if c.More {
		sl, a = st.answer(c, slot{local: replyHelloTooLong}, true)
		return sl, a, false
	}
	ver, err := strconv.ParseInt(string(args[1]), 10, 64)
	if err != nil || !strictInt(args[1]) {
		sl, a = st.answer(c, slot{local: replyHelloVersion}, true)
		return sl, a, false
	}
	if ver < 2 || ver > 3 {
		sl, a = st.answer(c, slot{local: replyNoProto}, true)
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
			sl, a = st.answer(c, slot{local: errorReply("ERR Syntax error in HELLO option '" + string(cstr(args[i], 128)) + "'")}, true)
			return sl, a, false
		}
	}
	if authAt >= 0 && st.multi {
		sl, a = st.answer(c, slot{local: replyNotInMulti}, true)
		return sl, a, false
	}
	if authAt >= 0 {
		name := string(args[authAt+1])
		u := st.auth.users.Authenticate(name, args[authAt+2])
		if u == nil {
			st.logAuthFailure(args[0], name)
			sl, a = st.answer(c, slot{local: replyWrongPass}, true)
			return sl, a, false
		}
		st.login(u)
		st.stripHelloAuth(c, authAt)
	}
	if !st.auth.authed {
		sl, a = st.answer(c, slot{local: replyNoAuthHello}, true)
		return sl, a, false
	}
	return sl, a, true
}

// stripHelloAuth rewrites c.Raw (into st.scratch) without HELLO's "AUTH user pass" at args[at:at+3].
func (st *decideState) stripHelloAuth(c *resp.Command, at int) {
	start := len(st.scratch)
	st.scratch = append(st.scratch, '*')
	st.scratch = appendInt(st.scratch, len(c.Args)-3)
	st.scratch = append(st.scratch, '\r', '\n')
	for i, arg := range c.Args {
		if i >= at && i < at+3 {
			continue
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
