package backend

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
)

// Script guard (N4). Scripts and functions run inside the backend and call commands by their backend
// names, where moat cannot see them. When an instance removes or renames commands, the backend itself
// must refuse the denied names there: moat keeps a backend ACL user of its own per instance,
// "moat-scripts-<instance>", with every command but the denied ones, and the gateway sends each script
// and function command between two AUTHs — to that user and back to the backend login — so that only the
// script runs as it. Direct commands, which the gateway judges and translates itself, keep running as
// the backend login, which has the originals.
//
// The user's password is derived (HMAC-SHA256) from the backend login's credentials and the instance
// ID, so every gateway of a fleet sharing the backend derives the same one and none is stored; it is
// set as a SHA-256 hash ("#…"), never in clear. The user is (re)written with ACL SETUSER when the denied
// set changes and on every new backend connection (in the same round trip as AUTH/SELECT), so it comes
// back with its current rules after a backend restart. That needs the backend login to be allowed
// ACL SETUSER (+acl|setuser) and AUTH.

// ScriptUserPrefix starts the name of the backend ACL user moat runs an instance's scripts as.
const ScriptUserPrefix = "moat-scripts-"

// GuardState says whether scripts can run guarded.
type GuardState uint8

const (
	// GuardOff: nothing is denied; scripts need no guard and are sent as they are.
	GuardOff GuardState = iota
	// GuardReady: the script user exists with the current rules; send scripts between Enter and Leave.
	GuardReady
	// GuardNoACL: the backend has no ACL users (the embedded engine, Redis before 6).
	GuardNoACL
	// GuardFailed: the script user could not be written (moat's backend login may not manage ACL users,
	// the backend refused the rules, or it has not been reachable since the rules changed); Err says why.
	GuardFailed
)

// ScriptGuard is the current state of an instance's script guard. It is immutable.
type ScriptGuard struct {
	State GuardState
	// User is the backend ACL user scripts run as (GuardReady).
	User string
	// Enter and Leave are whole RESP commands: AUTH as User, and AUTH back as the backend login.
	Enter, Leave []byte
	// Err is why the guard is not ready (GuardNoACL, GuardFailed); it holds no credential.
	Err error
}

// Errors of the script guard.
var (
	ErrNoACL         = errors.New("the backend has no ACL users (Redis 6 or later, or Valkey, is needed)")
	ErrACLPermission = errors.New("moat's backend login may not manage ACL users (it needs +acl|setuser and +auth)")
	ErrGuardPending  = errors.New("the script user has not been written since the rules changed (backend unreachable)")
)

// guardPlan is what the backend must hold for the current denied set; nil deny: off.
type guardPlan struct {
	deny    []string
	user    string
	setuser []byte // ACL SETUSER, sent on every new connection
	enter   []byte
	leave   []byte
}

// newGuardPlan derives the script user of instance for a login (user, password) and denied commands.
func newGuardPlan(instance, loginUser, loginPass string, deny []string) *guardPlan {
	user := ScriptUserPrefix + instance
	mac := hmac.New(sha256.New, []byte("moat script user\x00"+loginUser+"\x00"+loginPass))
	mac.Write([]byte(instance))
	pass := hex.EncodeToString(mac.Sum(nil))
	sum := sha256.Sum256([]byte(pass))
	args := []string{"ACL", "SETUSER", user, "reset", "on", "#" + hex.EncodeToString(sum[:]), "~*", "&*", "+@all"}
	for _, d := range deny {
		args = append(args, "-"+d)
	}
	p := &guardPlan{deny: deny, user: user, setuser: appendCommand(nil, args...), enter: appendCommand(nil, "AUTH", user, pass)}
	lu := loginUser
	if lu == "" {
		lu = "default" // a login without a user is the default user; without a password it is nopass
	}
	p.leave = appendCommand(nil, "AUTH", lu, loginPass)
	return p
}

// guard is the script-guard state a backend keeps; safe for concurrent use.
type guard struct {
	plan atomic.Pointer[guardPlan]
	cur  atomic.Pointer[ScriptGuard]
}

var guardOff = &ScriptGuard{State: GuardOff}

func (g *guard) current() *ScriptGuard {
	if c := g.cur.Load(); c != nil {
		return c
	}
	return guardOff
}

// noted records what the backend answered to the plan's ACL SETUSER (reply without its '-' or '+'
// marker; ok when it was +OK), unless the plan changed meanwhile.
func (g *guard) noted(p *guardPlan, ok bool, reply string) {
	if g.plan.Load() != p {
		return
	}
	sg := &ScriptGuard{State: GuardReady, User: p.user, Enter: p.enter, Leave: p.leave}
	if !ok {
		sg = &ScriptGuard{State: GuardFailed, Err: identityError(p.user, reply)}
		if sg.Err == ErrNoACL {
			sg.State = GuardNoACL
		}
	}
	g.cur.Store(sg)
}

// SetScriptDeny implements Backend: the plan for deny is in force for every Dial from now on, and one
// Dial writes the script user at once.
func (u *upstream) SetScriptDeny(ctx context.Context, instance string, deny []string) error {
	if len(deny) == 0 {
		u.guard.plan.Store(nil)
		u.guard.cur.Store(guardOff)
		return nil
	}
	p := newGuardPlan(instance, u.loginUser, u.loginPass, deny)
	u.guard.plan.Store(p)
	u.guard.cur.Store(&ScriptGuard{State: GuardFailed, Err: ErrGuardPending})
	c, err := u.Dial(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGuardPending, err)
	}
	c.Close()
	return u.guard.current().Err
}

// ScriptGuard implements Backend.
func (u *upstream) ScriptGuard() *ScriptGuard { return u.guard.current() }

// SetScriptDeny implements Backend: the embedded engine has no ACL users (and no scripting).
func (e *embedded) SetScriptDeny(_ context.Context, _ string, deny []string) error {
	if len(deny) == 0 {
		e.guard.Store(guardOff)
		return nil
	}
	e.guard.Store(&ScriptGuard{State: GuardNoACL, Err: ErrNoACL})
	return ErrNoACL
}

// ScriptGuard implements Backend.
func (e *embedded) ScriptGuard() *ScriptGuard {
	if g := e.guard.Load(); g != nil {
		return g
	}
	return guardOff
}
