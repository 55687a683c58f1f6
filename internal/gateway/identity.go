package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Per-user backend identities (issue 18): scripts and functions of a restricted ACL user judged as Redis
// judges them.
//
// A user of moat that is restricted (not all keys, all channels and all commands) has a backend ACL user
// of its own, its identity (backend/identity.go): the user's rules minus the instance's denied commands,
// with a password derived from moat's backend login. syncIdentities writes the identities of the
// restricted users of every snapshot published (ACL SETUSER for the ones that changed, ACL DELUSER for
// users gone or no longer restricted). While the backend holds them (identReady), the snapshot's users
// are judged without moat's scripting rule (acl.Config.ScriptsNeedAllKeys): moat judges a script command
// by its name and declared keys, as Redis does, and the backend judges what the script touches.
//
// A session of a restricted user, at its first script or function command (or MULTI), leaves the
// shared lane for its own backend connection and switches it to the identity (switchIdentity): ACL
// SETUSER (so that an identity lost in a backend restart comes back) and AUTH, whose replies are checked
// before anything more is sent. From then on every command of the session runs as the identity; moat
// still judges each one first. If the switch fails, the session's script commands are refused
// (replyIdentityUnavailable): they never run as moat's login. If the session's user changes later (AUTH,
// RESET), the connection is switched to the new user's identity, or back to the login.
//
// Renamed commands are refused on such a connection (replyRenamedOnIdentity): the identity lacks their
// original names. Where the backend has no ACL users or moat's login may not manage them, the state is
// identUnavailable and moat's scripting rule stays: a restricted user's script commands get NOPERM.

// identityRules are the rules of u's identity: u's, minus deny (the instance's removed and renamed
// commands), plus what moat itself sends on a connection running as it: DISCARD in place of an EXEC
// whose transaction moat refused (decide), CLIENT REPLY around a switch made under CLIENT REPLY OFF or
// SKIP (switchLane). Neither reaches the backend from the client without moat judging it by u's rules.
func identityRules(u *acl.User, deny []string) []string {
	return append(u.BackendRules(deny), "+discard", "+client|reply")
}

// Identity states.
const (
	identUnknown     uint32 = iota // not written yet: moat's scripting rule applies
	identReady                     // the backend holds the identities
	identUnavailable               // the backend has no ACL users, or moat's login may not manage them
)

// identSync is what syncIdentities and scriptsByIdentity keep between publishes, under identMu, so
// that publishing a snapshot whose users did not change (a whitelist change) costs nothing per user, and
// one whose users changed in one user describes and copies that user alone.
type identSync struct {
	written  map[string]identEntry // by user name, as last written
	computed map[string]identEntry // by user name, as last computed with deny
	deny     []string              // the denied commands computed was made with
	synced   *acl.Users            // users whose identities (with deny) are the ones written: nothing to do
	// scriptsByIdentity's last copy: to is from with the scripting rule changed.
	from, to *acl.Users
}

// identEntry is one restricted user's identity and the user it was made from.
type identEntry struct {
	user *acl.User
	id   *backend.Identity
}

// syncIdentities writes the identities of s's restricted users that changed and deletes the ones no
// longer wanted. A backend that cannot be reached leaves everything as it was: the next publish retries.
func (in *Instance) syncIdentities(s *snapshot.Snapshot) {
	if in.backend == nil {
		return
	}
	users := in.usersOf(s)
	deny := s.Renames.Denied()
	in.identMu.Lock()
	defer in.identMu.Unlock()
	st := &in.ident
	if users == st.synced && slices.Equal(deny, st.deny) {
		return
	}
	commit, set, del, ok := in.identityChanges(users, deny)
	st.synced = nil
	if !ok {
		in.identState.Store(identUnavailable)
		return
	}
	if len(set) == 0 && len(del) == 0 {
		commit()
		st.synced = users
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.dialTimeout)
	defer cancel()
	err := in.backend.WriteIdentities(ctx, set, del)
	switch {
	case err == nil:
		commit()
		st.synced = users
		in.identState.Store(identReady)
		in.primeScriptLog()
	case errors.Is(err, backend.ErrNoACL) || errors.Is(err, backend.ErrACLPermission):
		in.identState.Store(identUnavailable)
		in.log.Error("scripts and functions of restricted ACL users are refused: the backend cannot hold their identities", "reason", err)
	case errors.Is(err, backend.ErrUnavailable):
		in.log.Warn("restricted ACL users' backend identities not written: backend unreachable", "reason", err)
	default:
		in.identState.Store(identUnavailable)
		in.log.Error("scripts and functions of restricted ACL users are refused: the backend refused their identities", "reason", err)
	}
}

// identityChanges returns how the identities users want (identities) differ from the ones written: the
// identities to write, in user name order, and the backend users to delete; commit makes the wanted ones
// the written ones, once written. When users is the set synced last with some users changed
// (acl.Users.ChangedFrom), with the same deny, only those users are looked at. identMu held.
func (in *Instance) identityChanges(users *acl.Users, deny []string) (commit func(), set []*backend.Identity, del []string, ok bool) {
	st := &in.ident
	if names, known := users.ChangedFrom(st.synced); known && slices.Equal(deny, st.deny) {
		return in.changedIdentities(users, names, deny)
	}
	want, ok := in.identities(users, deny)
	if !ok {
		return nil, nil, nil, false
	}
	var changed []string
	for name, e := range want {
		if old, ok := st.written[name]; !ok || old.id != e.id && !bytes.Equal(old.id.SetUser, e.id.SetUser) {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	set = make([]*backend.Identity, len(changed))
	for i, name := range changed {
		set[i] = want[name].id
	}
	for name, old := range st.written {
		if _, ok := want[name]; !ok {
			del = append(del, old.id.User)
		}
	}
	return func() { st.written = want }, set, del, true
}

// changedIdentities is identityChanges when users is the set whose identities are written with names
// changed (sorted): those users' identities made again; commit changes the written ones in place (they
// are then the computed ones too). identMu held.
func (in *Instance) changedIdentities(users *acl.Users, names, deny []string) (commit func(), set []*backend.Identity, del []string, ok bool) {
	st := &in.ident
	changed := make(map[string]identEntry, len(names)) // a zero entry: no identity
	for _, name := range names {
		u := users.Get(name)
		old, had := st.written[name]
		if u == nil || u.UnrestrictedRules() { // a disabled user's connections keep running, scripts included
			if had {
				changed[name] = identEntry{}
				del = append(del, old.id.User)
			}
			continue
		}
		if had && old.user == u {
			continue
		}
		id := in.backend.Identity(in.id, name, identityRules(u, deny))
		if id == nil {
			return nil, nil, nil, false
		}
		changed[name] = identEntry{user: u, id: id}
		if !had || !bytes.Equal(old.id.SetUser, id.SetUser) {
			set = append(set, id)
		}
	}
	return func() {
		if st.written == nil {
			st.written = map[string]identEntry{}
		}
		for name, e := range changed {
			if e.id == nil {
				delete(st.written, name)
			} else {
				st.written[name] = e
			}
		}
		st.computed = st.written
	}, set, del, true
}

// identities returns the identity of each enabled, restricted user of users, by name: the one computed
// last time for a user that is the same *acl.User, else a new one. ok is false when the backend cannot
// hold identities. identMu held.
func (in *Instance) identities(users *acl.Users, deny []string) (want map[string]identEntry, ok bool) {
	st := &in.ident
	if !slices.Equal(deny, st.deny) {
		st.computed, st.deny = nil, deny
	}
	want = make(map[string]identEntry, len(st.computed))
	for name, u := range users.All() {
		if u.UnrestrictedRules() { // a disabled user's connections keep running, scripts included
			continue
		}
		e, ok := st.computed[name]
		if !ok || e.user != u {
			id := in.backend.Identity(in.id, name, identityRules(u, deny))
			if id == nil {
				return nil, false
			}
			e = identEntry{user: u, id: id}
		}
		want[name] = e
	}
	st.computed = want
	return want, true
}

// scriptsByIdentity returns s with its users judged without moat's scripting rule when the backend
// holds their identities, and with it otherwise (a copy when that changes anything; the users that did
// not change since the last copy are taken from it).
func (in *Instance) scriptsByIdentity(s *snapshot.Snapshot) *snapshot.Snapshot {
	rule := in.identState.Load() != identReady
	if s.Users == nil || s.Users.Config().ScriptsNeedAllKeys == rule {
		return s
	}
	in.identMu.Lock()
	st := &in.ident
	if s.Users != st.from || st.to.Config().ScriptsNeedAllKeys != rule {
		st.from, st.to = s.Users, s.Users.WithScriptsNeedAllKeys(rule, st.from, st.to)
	}
	us := st.to
	in.identMu.Unlock()
	cp := *s
	cp.Users = us
	return &cp
}

// IdentitiesReady reports whether restricted users' scripts run as their backend identities.
func (in *Instance) IdentitiesReady() bool { return in.identState.Load() == identReady }

// scriptCommand reports a command that runs or manages scripts or functions (name lower case).
func scriptCommand(name string) bool {
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro", "function", "script":
		return true
	}
	return false
}

// wantsIdentity reports a command that needs its restricted user's identity: a script or function
// command, or MULTI (whose transaction may hold one, and inside which the connection cannot switch),
// by original name.
func (st *decideState) wantsIdentity(c *resp.Command) bool {
	var buf [16]byte
	name := lower(c.Args, 0, &buf)
	if !st.renames.Empty() {
		if r, ok := st.renames.Lookup(name); ok {
			name = r.Original
		}
	}
	return name == "multi" || scriptCommand(name)
}

// switchNeeded reports whether c, the next command of the batch, needs the session's backend connection
// under another identity than it is: it is a script command of a restricted user whose identity the
// connection does not run as, or the connection runs as an identity its user no longer has.
func (s *session) switchNeeded(st *decideState, c *resp.Command) bool {
	if (s.identUser == "" && (st.auth.free || !st.auth.authed)) || st.multi {
		return false // the common case; and never inside a transaction, where AUTH would be queued
	}
	return s.identityWanted(st, c) != s.identUser
}

// identityWanted is the user whose identity the connection should run as for c ("": the login's): the
// connection's user when restricted and c wants it (wantsIdentity) or the connection already runs as an
// identity.
func (s *session) identityWanted(st *decideState, c *resp.Command) string {
	u := st.auth.user
	if !st.auth.authed || u.UnrestrictedRules() || s.in.identState.Load() != identReady {
		return ""
	}
	if s.identUser != "" || st.wantsIdentity(c) {
		return u.Name()
	}
	return ""
}

// identityFor puts the session's backend connection under the identity rest's first command needs
// (identityWanted). False: the session ended.
func (s *session) identityFor(st *decideState, rest []resp.Command) bool {
	if !s.switchNeeded(st, &rest[0]) {
		return true
	}
	u := st.auth.user
	restricted := s.identityWanted(st, &rest[0]) != ""
	if s.sh.lane != nil && !s.moveToDedicated(false, 0) {
		return false
	}
	var cmd []byte
	frames, name := 0, ""
	if restricted {
		id := s.in.backend.Identity(s.in.id, u.Name(), identityRules(u, st.auth.snap.Renames.Denied()))
		if s.identUser != "" { // another user's identity may not write this one: back to the login first
			cmd, frames = append(cmd, s.in.backend.LoginAuth()...), 1
		}
		cmd = append(append(cmd, id.SetUser...), id.Enter...)
		frames, name = frames+2, u.Name()
	} else {
		cmd, frames = s.in.backend.LoginAuth(), 1
	}
	ok, alive := s.switchLane(st, cmd, frames)
	for snap := st.auth.snap; ok && alive && restricted && s.in.snap.Load() != snap; {
		// Published while the identity was written: write it again with the rules in force now (the
		// publish's own write may have come first). A user deleted meanwhile is closed by the publish.
		snap = s.in.snap.Load()
		cur := s.in.usersOf(snap).Get(u.Name())
		if cur == nil || cur.UnrestrictedRules() {
			break
		}
		id := s.in.backend.Identity(s.in.id, u.Name(), identityRules(cur, snap.Renames.Denied()))
		// The identity may not write itself: from the login, then back to it.
		rewrite := append(append(s.in.backend.LoginAuth(), id.SetUser...), id.Enter...)
		ok, alive = s.switchLane(st, rewrite, 3)
	}
	switch {
	case !alive:
		return false
	case ok:
		s.identUser = name
	case restricted && st.subscribedCtx: // Redis refuses the script itself there (decide)
	case restricted:
		s.in.log.Error("a restricted ACL user's connection could not switch to its backend identity: its scripts are refused",
			"client", s.peer, "user", u.Name())
	default:
		s.in.log.Error("closing connection: the backend refused moat's AUTH back to its login", "client", s.peer)
		s.close()
		return false
	}
	return true
}

// Commands that let the switch see its replies under CLIENT REPLY OFF|SKIP and put the mode back.
var (
	clientReplyOn   = []byte("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n")
	clientReplyOff  = []byte("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n")
	clientReplySkip = []byte("*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n")
)

// switchLane sends cmd (frames commands) on the session's own backend connection and waits for the pump
// to read their replies: ok when none is an error. Under CLIENT REPLY OFF or SKIP, cmd goes between
// CLIENT REPLY ON (which answers even then) and the mode again (which does not answer). alive false:
// the session ended.
func (s *session) switchLane(st *decideState, cmd []byte, frames int) (ok, alive bool) {
	res := make(chan switchResult, 1)
	var after []byte
	switch {
	case st.replyOff:
		after = clientReplyOff
	case st.skipNext:
		after = clientReplySkip
	}
	if after != nil {
		frames++
	}
	s.enqueue([]slot{{kind: kindSwitch, n: frames, switched: res}})
	bw := s.in.bufs.writer(s.be)
	if after != nil {
		bw.Write(clientReplyOn)
	}
	bw.Write(cmd)
	bw.Write(after)
	err := bw.Flush()
	s.in.bufs.putWriter(bw)
	if err != nil {
		s.backendLost(err)
		return false, false
	}
	select {
	case r := <-res:
		st.subscribedCtx = r == switchSubscribed
		return r == switchOK, true
	case <-s.done:
		return false, false
	}
}

// switchResult is how a switch went.
type switchResult uint8

const (
	switchOK         switchResult = iota
	switchFailed                  // an error reply
	switchSubscribed              // refused because the connection is subscribed under RESP2
)

// capture holds one reply frame of a switch, to read its error text. The pump's alone.
type capture struct {
	buf bytes.Buffer
	w   *bufio.Writer
}

func newCapture() *capture {
	c := &capture{}
	c.w = bufio.NewWriterSize(&c.buf, 256)
	return c
}

// frame applies one reply frame, captured in c, to a switch slot (the head); done when the slot is
// complete.
func (c *capture) frame(sl *slot, typ byte) (done bool) {
	c.w.Flush()
	if typ == '-' {
		sl.wrapFailed = true
		if bytes.Contains(c.buf.Bytes(), subscribedContext) {
			sl.subscribedCtx = true
		}
	}
	c.buf.Reset()
	sl.n--
	if sl.n > 0 {
		return false
	}
	switch {
	case sl.subscribedCtx:
		sl.switched <- switchSubscribed
	case sl.wrapFailed:
		sl.switched <- switchFailed
	default:
		sl.switched <- switchOK
	}
	return true
}

// identityRefuses reports a script or function command of a restricted user that may not be forwarded:
// its users are judged without moat's scripting rule (the backend holds their identities), but the
// connection does not run as that user's identity (the switch failed, or the user changed meanwhile).
// Under moat's scripting rule, Check has judged the command already.
func (st *decideState) identityRefuses() bool {
	u := st.auth.user
	return st.auth.authed && !u.UnrestrictedRules() && !st.auth.users.Config().ScriptsNeedAllKeys && st.sess.identUser != u.Name()
}

// txIdentityRefuses reports a script or function command queued after an AUTH or ACL change of its
// transaction (txState.on) that EXEC would not run as the user it runs as by then: the connection
// cannot switch identities inside MULTI, so the command runs as the identity the connection has, which
// must be the one tx.user needs (a restricted user's, else the login) and made from tx.user's rules.
func (st *decideState) txIdentityRefuses() bool {
	tx := &st.tx
	want := ""
	if tx.authed && !tx.user.UnrestrictedRules() && !tx.users.Config().ScriptsNeedAllKeys {
		want = tx.user.Name()
	}
	if want != st.sess.identUser {
		return true
	}
	return want != "" && st.auth.users.Get(want) != tx.user // its rules changed in the transaction
}

// UserScripts says in one sentence how the scripts and functions of user run on this instance, for
// `moat check --user`: "" when the user does not exist or is unrestricted (its scripts run as moat's
// login, as any command of it).
func (in *Instance) UserScripts(user string) string {
	u := in.usersOf(in.snap.Load()).Get(user)
	if u == nil || u.UnrestrictedRules() {
		return ""
	}
	if in.IdentitiesReady() {
		return "scripts and functions run on the backend as its ACL identity " + backend.IdentityName(in.id, user) +
			", which judges the keys and commands they touch as Redis does"
	}
	return "scripts and functions are refused (NOPERM): the backend does not hold its ACL identity (no ACL users, moat's backend login may not manage them, or not reached since the users changed)"
}

// cantExecute is Redis's refusal of a script or function command (c) on a RESP2 connection subscribed
// to channels: the switch to the identity met it, so the command would meet it too.
func cantExecute(c *resp.Command) []byte {
	var b1, b2 [16]byte
	name := lower(c.Args, 0, &b1)
	if name == "function" && len(c.Args) > 1 {
		name += "|" + lower(c.Args, 1, &b2)
	}
	return replyCantExecuteSubscribed(name)
}
