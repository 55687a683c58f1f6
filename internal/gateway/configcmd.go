package gateway

import (
	"bytes"
	"errors"
	"slices"
	"strconv"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// CONFIG SET and CONFIG GET of moat's own parameters are answered by moat, as Redis 7.0.15 answers
// them, and never reach the backend:
//
//   - requirepass is the instance's default user's password: CONFIG SET requirepass pw is the
//     instance parameter requirepass (ACL SETUSER default resetpass >pw; empty: resetpass nopass),
//     stored and published through the ConfigStore before the reply, as ACL SETUSER is. The backend's
//     own password never changes. CONFIG GET requirepass answers, as Redis answers from
//     server.requirepass, the instance's requirepass as last set from any source (the published
//     snapshot's RequirePass: CONFIG SET through any gateway, ModifyInstanceConfig, the CLI, the config
//     file), whatever ACL SETUSER default did since.
//   - acllog-max-len bounds moat's ACL LOG: it is the instance parameter, set through the ConfigStore.
//   - maxclients is the instance parameter moat enforces on accept (admit.go: "max number of clients
//     reached"), set through the ConfigStore and checked as Redis checks it (maxclients.go); the
//     backend's own maxclients never changes. Connections already open above a lowered limit stay.
//
// A CONFIG SET naming only these is answered here, once every earlier command of the client has run
// (configBarrier, as for a mixed one: a CONFIG GET still under way shows the values before it); one
// that mixes them with the backend's parameters
// is applied all or none with the backend's (configmix.go), and inside MULTI refused with Redis's
// protected-config text naming moat's parameter. A CONFIG GET whose patterns are all exactly these
// names is answered here; other patterns go to the backend, and when one matches a password parameter
// (secretConfig) or one of these names (a glob such as max*, or the exact name beside others), its
// reply is rewritten (configReply) so that no client sees the backend's passwords and these have
// moat's values. The user's ACL rules have judged
// CONFIG SET or GET before (authorize), as for any command.

// ConfigStore makes a client's CONFIG SET of moat's parameters durable: SetParams sets the instance's
// parameters together (all or none, as the control plane's ModifyInstanceConfig) and publishes the
// result (Instance.Publish) before it returns. user and source say who asked, for the audit log. A
// UserStore that is also a ConfigStore serves CONFIG SET; without one, CONFIG SET of moat's parameters
// fails as a failed ACL save does.
type ConfigStore interface {
	SetParams(instance, user, source string, values map[string]string) error
}

// opConfigGet is CONFIG GET of moat's parameters: its reply depends on the protocol (a map in RESP3).
const opConfigGet clientOp = 32

// maxACLLogLen is the largest acllog-max-len moat stores (the control plane's range, 0–100000); Redis
// takes any non-negative 64-bit integer.
const maxACLLogLen = 100000

// moatConfig are the canonical names of moat's CONFIG parameters.
var moatConfig = [...]string{"requirepass", "acllog-max-len", "maxclients"}

// moatConfigParam is the canonical name of one of moat's CONFIG parameters (name in any case), or "".
func moatConfigParam(name []byte) string {
	for _, p := range moatConfig {
		if bytes.EqualFold(name, []byte(p)) {
			return p
		}
	}
	return ""
}

// moatConfigValue is the value CONFIG GET answers for moat's parameter name (canonical), from snap.
func moatConfigValue(snap *snapshot.Snapshot, name string) string {
	switch name {
	case "acllog-max-len":
		return strconv.Itoa(snap.ACLLogMaxLen)
	case "maxclients":
		return strconv.Itoa(snap.MaxClients)
	}
	return snap.RequirePass
}

// configCommand answers CONFIG SET or GET when it names moat's parameters, and CONFIG SET naming the
// backend's wiring outside MULTI (configwiring.go) (done); else it leaves the command to the backend
// after the guarded-parameter check (guardedConfigSet).
func (st *decideState) configCommand(c *resp.Command) (sl slot, a act, done bool) {
	var b [16]byte
	args := c.Args
	sub := lower(args, 1, &b)
	if len(args) < 3 || (sub != "set" && sub != "get") || (sub == "set" && len(args)%2 != 0) {
		return sl, a, false // the backend answers the arity and syntax errors, changing nothing
	}
	mine, other, wiring := []byte(nil), false, false
	for i := 2; i < len(args); i += 1 + boolInt(sub == "set") {
		var long [64]byte
		switch {
		case moatConfigParam(args[i]) != "":
			if mine == nil {
				mine = args[i]
			}
		case sub == "set" && guardedParam(args[i], &long) != "":
			other, wiring = true, true
		default:
			other = true
		}
	}
	secret := sub == "get" && configPattern(args[2:], other, secretConfig[:])
	switch {
	case secret || sub == "get" && configPattern(args[2:], other, moatConfig[:]) && !st.multi:
		// The backend answers, and its passwords are hidden from the reply, moat's parameters given
		// moat's values (configReply): a dedicated lane's reply path does that (sharedNeed sends this
		// kind there). Inside MULTI the EXEC array is not rewritten: refused (not queued) rather than
		// shown, or, matching moat's parameters and no password, the backend's values.
		if st.multi {
			sl, a = st.answer(c, slot{local: replyConfigGetSecretInMulti}, true)
			return sl, a, true
		}
		return slot{kind: kindConfigGet}, actForward, true
	case mine == nil && (!wiring || st.multi): // the backend's, or refused in MULTI (guardedConfigSet)
		return sl, a, false
	case other && sub == "get":
		return sl, a, false
	case other && st.multi: // configmix.go cannot run at EXEC
		sl, a = st.answer(c, slot{local: replyGuardedConfig(mine)}, true)
		return sl, a, true
	case other:
		r := st.configSetMixed(args[2:])
		if r == nil { // the session ended
			r = replyBackendUnavailable
		}
		sl, a = st.answer(c, slot{local: r}, r[0] == '-')
		return sl, a, true
	}
	if st.multi && !st.tx.replaying {
		sl, a = st.queueLocal(c, args) // runs at EXEC (multiacl.go)
		return sl, a, true
	}
	if sub == "get" {
		sl, a = st.answer(c, slot{call: st.configGet(args[2:])}, false)
		return sl, a, true
	}
	if !st.multi && !st.sess.configBarrier(st) { // as a mixed one: after the replies still owed
		sl, a = st.answer(c, slot{local: replyBackendUnavailable}, true)
		return sl, a, true
	}
	if r := st.configSet(args[2:]); r != nil {
		sl, a = st.answer(c, slot{local: r}, true)
		return sl, a, true
	}
	sl, a = st.answer(c, slot{local: replyOK}, false)
	return sl, a, true
}

// configSet applies CONFIG SET's pairs, all of them moat's parameters; nil when done, else the error
// reply (nothing changed).
func (st *decideState) configSet(pairs [][]byte) []byte {
	values, bad := configValues(pairs, nil)
	if bad.reply == nil {
		bad = st.sess.in.applyFailure(values)
	}
	if bad.reply != nil {
		return bad.reply
	}
	return st.storeParams(values)
}

// storeParams stores moat's parameters through the ConfigStore (published before it returns); nil when
// done, else the error reply (nothing changed).
func (st *decideState) storeParams(values map[string]string) []byte {
	in := st.sess.in
	store, ok := in.users.(ConfigStore)
	if !ok {
		return replyACLSaveFailed
	}
	st.sess.client.changingACL.Store(true) // Publish leaves this connection to close itself after its reply
	err := store.SetParams(in.id, st.auth.user.Name(), st.sess.addr.String(), values)
	st.sess.client.changingACL.Store(false)
	if err != nil {
		var re *acl.ReplyError
		if errors.As(err, &re) {
			return errorReply(re.Reply)
		}
		in.log.Error("CONFIG SET not stored", "client", st.sess.peer, "err", err)
		return replyACLSaveFailed
	}
	st.auth.refresh(in, st.sess.addr)
	return nil
}

// configFailure is a failure of one pair of a CONFIG SET as Redis reports it: in its first pass (names:
// unknown, protected, duplicate), its second (values, set in order) or its third (the new values
// applied: maxclients against the open-files limit), at pair index at, with its reply. The zero value
// is none.
type configFailure struct {
	pass, at int
	reply    []byte
}

// first is the failure Redis names of f and g: any of the first pass before the second, then the
// earlier pair.
func (f configFailure) first(g configFailure) configFailure {
	switch {
	case f.reply == nil:
		return g
	case g.reply == nil, f.pass < g.pass, f.pass == g.pass && f.at <= g.at:
		return f
	}
	return g
}

// configValues checks CONFIG SET's pairs that are moat's parameters (all of them, or those whose index
// mine reports) as Redis does: the values by canonical name, or the failure Redis names first of
// them. Nothing is changed.
func configValues(pairs [][]byte, mine func(i int) bool) (values map[string]string, bad configFailure) {
	values = make(map[string]string, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		if mine != nil && !mine(i/2) {
			continue
		}
		name, v := moatConfigParam(pairs[i]), pairs[i+1]
		if _, dup := values[name]; dup { // as typed: the first pass names argv
			bad = bad.first(configFailure{1, i / 2, replyDuplicateConfig(pairs[i])})
			continue
		}
		values[name] = string(v)
		if why := checkConfigValue(name, v); why != "" { // canonical: the second pass names the config
			bad = bad.first(configFailure{2, i / 2, replyConfigSetFailed([]byte(name), why)})
		}
	}
	return values, bad
}

// checkConfigValue is the reason Redis gives for refusing value v of moat's parameter name, or "".
func checkConfigValue(name string, v []byte) string {
	if name == "requirepass" {
		return ""
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || !strictInt(v) || string(v) == "-0" { // string2ll's rules
		return "argument couldn't be parsed into an integer"
	}
	if name == "maxclients" {
		return checkMaxClients(n)
	}
	switch {
	case n < 0:
		return "argument must be between 0 and 9223372036854775807 inclusive"
	case n > maxACLLogLen: // moat's bound, in Redis's words
		return "argument must be between 0 and " + strconv.Itoa(maxACLLogLen) + " inclusive"
	}
	return ""
}

// configSetRequirePass is the password a CONFIG SET of moat's parameters (args, the whole command) will
// set when it runs, if it sets one.
func configSetRequirePass(args [][]byte) (pass string, ok bool) {
	var b [16]byte
	if lower(args, 1, &b) != "set" || len(args) < 4 || len(args)%2 != 0 {
		return "", false
	}
	values, bad := configValues(args[2:], nil)
	pass, ok = values["requirepass"]
	return pass, ok && bad.reply == nil
}

// secretConfig are the parameters whose values are passwords: the backend's, which no client sees
// through moat (moat's own requirepass is answered as configGet answers it).
var secretConfig = [...]string{"requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"}

// configPattern reports whether a CONFIG GET pattern (any case, Redis's glob) matches one of names.
// moat's own parameter names count only beside others (withOthers): alone, moat answers them.
func configPattern(patterns [][]byte, withOthers bool, names []string) bool {
	for _, p := range patterns {
		if !withOthers && moatConfigParam(p) != "" {
			continue
		}
		lp := string(bytes.ToLower(p))
		for _, name := range names {
			if acl.GlobMatch(lp, []byte(name)) {
				return true
			}
		}
	}
	return false
}

// configReply is the backend's reply to a CONFIG GET whose patterns match a password parameter or
// moat's (kindConfigGet), with each password's value hidden: moat's parameters (requirepass among
// them) as configGet answers them, the other passwords empty. A reply not of CONFIG GET's shape (an error, say) passes as it is
// when it holds no pair, else an empty array in its place: nothing of it could be vetted.
func (s *session) configReply(reply []byte) []byte {
	if len(reply) == 0 || (reply[0] != '*' && reply[0] != '%') {
		return reply
	}
	i := bytes.Index(reply, crlf)
	n, err := strconv.Atoi(string(reply[1:max(i, 1)]))
	if i < 0 || err != nil || n < 0 {
		return reply[:0:0]
	}
	pairs, rest := n, reply[i+2:]
	if reply[0] == '*' {
		pairs = n / 2
	}
	out := append([]byte(nil), reply[:i+2]...)
	for range pairs {
		name, tail, ok := cutBulk(rest)
		if !ok {
			return resp.AppendMap(nil, 0, reply[0] == '%')
		}
		val, tail2, ok := cutBulk(tail)
		if !ok {
			return resp.AppendMap(nil, 0, reply[0] == '%')
		}
		out = resp.AppendBulkString(out, string(name))
		switch v := string(bytes.ToLower(name)); {
		case moatConfigParam(name) != "":
			out = resp.AppendBulkString(out, moatConfigValue(s.in.snap.Load(), v))
		case slices.Contains(secretConfig[:], v):
			out = resp.AppendBulkString(out, "")
		default:
			out = resp.AppendBulkString(out, string(val))
		}
		rest = tail2
	}
	return out
}

// cutBulk splits the RESP bulk string at the start of b from what follows it.
func cutBulk(b []byte) (bulk, rest []byte, ok bool) {
	i := bytes.Index(b, crlf)
	if i < 1 || b[0] != '$' {
		return nil, nil, false
	}
	n, err := strconv.Atoi(string(b[1:i]))
	if err != nil || n < 0 || len(b) < i+2+n+2 {
		return nil, nil, false
	}
	return b[i+2 : i+2+n], b[i+2+n+2:], true
}

// configGet is the call answering CONFIG GET of moat's parameters, each once, named as first asked
// (Redis echoes a name that is not a pattern as the client spelled it), in the order asked (Redis's
// order of several is its dictionary's, which a per-process hash seed makes arbitrary).
func (st *decideState) configGet(names [][]byte) *clientCall {
	in := st.sess.in
	var pairs []string
	for i, n := range names {
		name := moatConfigParam(n)
		if name == "" || slices.ContainsFunc(names[:i], func(m []byte) bool { return moatConfigParam(m) == name }) {
			continue
		}
		pairs = append(pairs, string(n), moatConfigValue(in.snap.Load(), name))
	}
	return &clientCall{op: opConfigGet, config: pairs}
}

// runConfigGet encodes CONFIG GET's reply: a flat array in RESP2, a map in RESP3.
func (k *clientCall) runConfigGet(resp3 bool) []byte {
	out := resp.AppendMap(nil, len(k.config)/2, resp3)
	for _, s := range k.config {
		out = resp.AppendBulkString(out, s)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
