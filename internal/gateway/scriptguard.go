package gateway

import (
	"bufio"
	"context"
	"errors"
	"slices"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// The script guard (N4). Scripts and functions run inside the backend, where moat cannot see which
// commands they call; rename-command must hold there too. While the instance removes or renames
// anything, the backend keeps an ACL user without the denied commands (backend/guard.go), and every
// script or function command is sent between two AUTHs — to that user, and back to the backend login —
// on whatever lane the session is on: [AUTH script-user][EVAL …][AUTH login]. The three are written
// together (a shared lane's writer never splits one session's batch), so no other command runs as the
// script user. The client sees only the command's own reply: the slot (kindWrapped) swallows the AUTH
// replies, and inside MULTI, where all three are queued, EXEC's array is given back without their
// elements (kindExecFiltered).
//
// Where the guard cannot be had (no ACL users on the backend, or moat's login may not manage them),
// those commands are refused with replyScriptsUnguarded, unless the unguarded-scripts parameter
// accepts the risk. While nothing is renamed, nothing here costs anything.
//
// If the backend refused the first AUTH (its user was removed behind moat's back), the command ran as
// the login: a reply other than an error then closes the session and is logged as an error.

// guardScript decides a script or function command. done false: forward it as any other command.
func (st *decideState) guardScript(c *resp.Command) (sl slot, a act, done bool) {
	if st.sess.in.backend == nil || st.sess.identUser != "" { // an identity lacks the denied commands
		return slot{}, actForward, false
	}
	g := st.sess.in.backend.ScriptGuard()
	switch {
	case g.State == backend.GuardOff:
		return slot{}, actForward, false
	case g.State != backend.GuardReady:
		if st.sess.in.snap.Load().UnguardedScripts {
			return slot{}, actForward, false
		}
		sl, a = st.refuse(c, replyScriptsUnguarded)
		return sl, a, true
	}
	st.guard = g
	// Three frames: the AUTHs' and the command's; the second (counting down, n == show) is delivered.
	sl = slot{kind: kindWrapped, n: 3, show: 2}
	switch {
	case st.replyOff:
		sl = slot{kind: kindNone}
	case st.skipNext: // the backend skips the first AUTH's reply; the client gets none
		st.skipNext = false
		sl.n, sl.show = 2, 0
	}
	if st.multi {
		at := st.backendQueued() - 1 + st.wrapExtra
		st.wrapAt = append(st.wrapAt, at, at+2)
		st.wrapExtra += 2
	}
	return sl, actWrap, true
}

// execSlot gives EXEC's slot the positions of the guard's AUTHs in its array.
func (st *decideState) execSlot(sl *slot) {
	if len(st.wrapAt) > 0 {
		sl.kind = kindExecFiltered
		sl.skip = slices.Clone(st.wrapAt)
	}
	if len(st.hellos) > 0 { // HELLO, SELECT, CLIENT SETNAME inside MULTI (multiacl.go)
		sl.kind = kindExecFiltered
		sl.hellos = slices.Clone(st.hellos)
	}
}

// endMulti forgets the transaction's wrapped commands.
func (st *decideState) endMulti() {
	st.wrapAt, st.wrapExtra = st.wrapAt[:0], 0
	st.hellos = st.hellos[:0]
}

// appendWrapped appends a wrapped command (whole) to b.
func appendWrapped(b []byte, g *backend.ScriptGuard, raw []byte) []byte {
	b = append(b, g.Enter...)
	b = append(b, raw...)
	return append(b, g.Leave...)
}

// frames is how many reply frames the backend sends for a forwarded command decided as sl.
func frames(a act, sl *slot) int {
	if a == actWrap {
		return sl.n
	}
	return 1
}

// errGuardBypassed: the backend refused the AUTH to the script user and then ran the command.
var errGuardBypassed = errors.New("the backend refused the script user's AUTH and ran a script command as moat's login")

// wrapFrame applies one reply frame of a wrapped command to its slot (the head): it reports whether
// the frame is the client's, and done when the slot is complete. An error on the first AUTH followed by
// a command reply that is not an error returns errGuardBypassed; a refused AUTH back to the login is
// logged (the connection then runs as the script user, which can only refuse more).
func (s *session) wrapFrame(sl *slot, typ byte) (show, done bool, err error) {
	defer func() { sl.n-- }()
	switch {
	case sl.n == sl.show:
		if sl.wrapFailed && typ != '-' {
			return true, sl.n == 1, errGuardBypassed
		}
		return true, sl.n == 1, nil
	case sl.n == 3: // the first AUTH
		sl.wrapFailed = typ == '-'
	case sl.n == 1 && typ == '-':
		s.in.log.Error("the backend refused moat's AUTH back to its login after a script", "client", s.peer)
	}
	return false, sl.n == 1, nil
}

// guardBypassed ends a session whose script ran unguarded.
func (s *session) guardBypassed() {
	s.in.log.Error("closing connection: "+errGuardBypassed.Error()+"; was the script user removed on the backend?",
		"client", s.peer, "backend", s.in.backend.String())
	s.close()
}

// syncScriptGuard gives the backend the commands s denies inside scripts (its renames), when they
// changed. It runs before s is published, so that sessions admitted under s find the guard as s wants
// it; a backend that cannot be reached now is brought up to date by its next connection.
func (in *Instance) syncScriptGuard(s *snapshot.Snapshot) {
	if in.backend == nil {
		return
	}
	deny := s.Renames.Denied()
	in.guardMu.Lock()
	defer in.guardMu.Unlock()
	if in.guardSynced && slices.Equal(deny, in.guardDeny) {
		return
	}
	in.guardDeny, in.guardSynced = deny, true
	ctx, cancel := context.WithTimeout(context.Background(), in.dialTimeout)
	defer cancel()
	err := in.backend.SetScriptDeny(ctx, in.id, deny)
	switch {
	case len(deny) == 0:
	case err == nil:
		in.log.Info("scripts and functions run as a backend ACL user without the renamed and removed commands",
			"user", in.backend.ScriptGuard().User, "denied", deny)
	case s.UnguardedScripts:
		in.log.Warn("scripts and functions run unguarded (unguarded-scripts yes): they can call renamed and removed commands",
			"denied", deny, "reason", err)
	default:
		in.log.Error("scripts and functions are refused while commands are renamed or removed: the backend cannot refuse them inside scripts",
			"denied", deny, "reason", err)
	}
}

// pushNext reports that the next frame on br is a RESP3 push (it answers no command).
func pushNext(br *bufio.Reader) bool {
	b, err := br.Peek(1)
	return err == nil && b[0] == '>'
}
