package gateway

import (
	"errors"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// The ACL command (A3) is answered by moat from the instance's users, with redis-server 7.0.15's reply
// shapes. SETUSER and DELUSER change the users through the instance's UserStore (the control plane):
// durably and audited, then published, before the reply is written, so the next command — on any
// connection — is judged by the new rules. ACL SAVE and ACL LOAD answer as Redis 7.0.15 started
// without an aclfile does: moat's users are always stored, and there is no file to read or write. Inside MULTI the ACL command is queued and runs at EXEC, as in
// Redis (multiacl.go).

// UserStore makes ACL changes durable. ChangeUsers applies fn to a copy of the instance's users and,
// when fn succeeds, stores the result and publishes it (Instance.Publish) before it returns. fn's error
// is returned as is. user and source say who asked, for the audit log.
type UserStore interface {
	ChangeUsers(instance, user, source, action string, fn func(*acl.Users) error) error
}

// The ACL LOG and GETUSER replies depend on the protocol, which only the pump knows: they are built
// there (clientCall.run).
const (
	opACLGetUser clientOp = iota + 16
	opACLLog
)

// aclCall is the part of a clientCall for ACL GETUSER and ACL LOG.
type aclCall struct {
	info  *acl.UserInfo // GETUSER; nil: no such user
	count int           // LOG
	// entries are LOG's entries when captured (an ACL LOG inside MULTI: as they were when EXEC ran it).
	entries  []acl.LogEntry
	captured bool
}

// aclCommand answers one ACL subcommand. args carry the original command name (rename-command undone).
func (st *decideState) aclCommand(c *resp.Command, args [][]byte) (slot, act) {
	us := st.auth.users
	if _, cerr := us.Table().Resolve(args); cerr != nil {
		return st.answer(c, slot{local: errorReply(cerr.Reply)}, true)
	}
	if st.multi && !st.tx.replaying {
		return st.queueLocal(c, args) // runs at EXEC (multiacl.go)
	}
	var b [16]byte
	var out []byte
	sub := lower(args, 1, &b)
	switch sub {
	case "cat", "genpass", "log": // Redis checks these counts itself: the table's arity is -2
		if len(args) > 3 {
			return st.answer(c, slot{local: replyACLSubcommandArity(string(cstr(args[1], 128)))}, true)
		}
	}
	switch sub {
	case "whoami":
		out = resp.AppendBulkString(nil, st.auth.user.Name())
	case "users":
		out = bulkArray(us.Names())
	case "list":
		out = bulkArray(us.List())
	case "cat":
		names := acl.CategoryNames()
		if len(args) == 3 {
			var err error
			if names, err = us.Table().CategoryCommands(string(args[2])); err != nil {
				return st.answerErr(c, err)
			}
		}
		out = bulkArray(names)
	case "genpass":
		bits := 0
		if len(args) == 3 {
			var err error
			if bits, err = acl.ParseGenPassBits(args[2]); err != nil {
				return st.answerErr(c, err)
			}
		}
		pass, err := acl.GenPass(bits)
		if err != nil {
			return st.answerErr(c, err)
		}
		out = resp.AppendBulkString(nil, pass)
	case "dryrun":
		text, err := us.DryRun(string(args[2]), args[3:])
		if err != nil {
			return st.answerErr(c, err)
		}
		if text == "OK" {
			out = replyOK
		} else {
			out = resp.AppendBulkString(nil, text)
		}
	case "getuser":
		call := &clientCall{op: opACLGetUser, acl: &aclCall{}}
		if u := us.Get(string(args[2])); u != nil {
			info := u.Info()
			call.acl.info = &info
		}
		return st.answer(c, slot{call: call}, false)
	case "log":
		count := 10
		if len(args) == 3 {
			if lower(args, 2, &b) == "reset" {
				st.sess.in.aclLog.Reset()
				return st.answer(c, slot{local: replyOK}, false)
			}
			n, err := strconv.ParseInt(string(args[2]), 10, 64)
			if err != nil || !strictInt(args[2]) {
				return st.answer(c, slot{local: replyNotInteger}, true)
			}
			count = int(max(n, 0))
		}
		return st.answer(c, slot{call: &clientCall{op: opACLLog, acl: &aclCall{count: count}}}, false)
	case "setuser":
		name, rules := string(args[2]), strs(args[3:])
		if failed := st.changeUsers("ACL SETUSER", func(us *acl.Users) error { return us.SetUser(name, rules...) }); failed != nil {
			return st.answer(c, slot{local: failed}, true)
		}
		out = replyOK
	case "deluser":
		names := strs(args[2:])
		var n int
		if failed := st.changeUsers("ACL DELUSER", func(us *acl.Users) (err error) {
			n, err = us.DelUser(names...)
			return err
		}); failed != nil {
			return st.answer(c, slot{local: failed}, true)
		}
		out = resp.AppendInt(nil, int64(n))
	case "save", "load":
		return st.answer(c, slot{local: replyACLNoFile}, true)
	case "help":
		out = resp.AppendArray(nil, len(aclHelp))
		for _, line := range aclHelp {
			out = resp.AppendSimple(out, line)
		}
	default: // Resolve knows every subcommand of the table; a newer table's are not moat's to answer
		return st.answer(c, slot{local: replyACLUnknownSubcommand(string(cstr(args[1], 128)))}, true)
	}
	sl, a := st.answer(c, slot{local: out}, false)
	if st.auth.gone || st.sess.subscriberKilled() { // this connection's own user was deleted, or lost a channel it is subscribed to: it ends after the reply
		sl.close = true
	}
	return sl, a
}

// changeUsers runs an ACL change through the UserStore and moves the connection to the new users. It
// returns the error reply when the change was refused or could not be stored (nothing changed), else nil.
func (st *decideState) changeUsers(action string, fn func(*acl.Users) error) (failed []byte) {
	in := st.sess.in
	if in.users == nil {
		return replyACLSaveFailed
	}
	st.sess.client.changingACL.Store(true) // Publish leaves this connection to close itself after its reply
	err := in.users.ChangeUsers(in.id, st.auth.user.Name(), st.sess.addr.String(), action, fn)
	st.sess.client.changingACL.Store(false)
	if err != nil {
		var re *acl.ReplyError
		if errors.As(err, &re) {
			return errorReply(re.Reply)
		}
		in.log.Error("ACL change not stored", "client", st.sess.peer, "action", action, "err", err)
		return replyACLSaveFailed
	}
	st.auth.refresh(in, st.sess.addr)
	return nil
}

// answerErr answers an *acl.ReplyError (any other error is a fault: Redis's generic text).
func (st *decideState) answerErr(c *resp.Command, err error) (slot, act) {
	var re *acl.ReplyError
	if errors.As(err, &re) {
		return st.answer(c, slot{local: errorReply(re.Reply)}, true)
	}
	return st.answer(c, slot{local: replyACLSaveFailed}, true)
}

// runACL builds the GETUSER or LOG reply for the protocol in use.
func (k *clientCall) runACL(s *session, resp3 bool) []byte {
	if k.op == opACLGetUser {
		return appendUserInfo(nil, k.acl.info, resp3)
	}
	now := time.Now()
	entries := k.acl.entries
	if !k.acl.captured {
		entries = s.in.aclLog.Entries(k.acl.count)
	}
	out := resp.AppendArray(nil, len(entries))
	for _, e := range entries {
		out = resp.AppendMap(out, 7, resp3)
		out = resp.AppendBulkString(out, "count")
		out = resp.AppendInt(out, int64(e.Count))
		out = appendField(out, "reason", string(e.Reason))
		out = appendField(out, "context", string(e.Context))
		out = appendField(out, "object", e.Object)
		out = appendField(out, "username", e.Username)
		out = resp.AppendBulkString(out, "age-seconds")
		out = resp.AppendDouble(out, e.AgeSeconds(now), resp3)
		out = appendField(out, "client-info", e.ClientInfo)
	}
	return out
}

// appendUserInfo encodes ACL GETUSER's map (7.0.15): flags, passwords, commands, keys, channels,
// selectors.
func appendUserInfo(out []byte, info *acl.UserInfo, resp3 bool) []byte {
	if info == nil {
		return resp.AppendNull(out, resp3)
	}
	out = resp.AppendMap(out, 6, resp3)
	out = resp.AppendBulkString(out, "flags")
	out = resp.AppendSet(out, len(info.Flags), resp3)
	for _, f := range info.Flags {
		out = resp.AppendBulkString(out, f)
	}
	out = resp.AppendBulkString(out, "passwords")
	out = resp.AppendArray(out, len(info.Passwords))
	for _, p := range info.Passwords {
		out = resp.AppendBulkString(out, p)
	}
	out = appendSelector(out, info.SelectorInfo)
	out = resp.AppendBulkString(out, "selectors")
	out = resp.AppendArray(out, len(info.Selectors))
	for _, sel := range info.Selectors {
		out = resp.AppendMap(out, 3, resp3)
		out = appendSelector(out, sel)
	}
	return out
}

func appendSelector(out []byte, s acl.SelectorInfo) []byte {
	out = appendField(out, "commands", s.Commands)
	out = appendField(out, "keys", s.Keys)
	return appendField(out, "channels", s.Channels)
}

func appendField(out []byte, name, value string) []byte {
	out = resp.AppendBulkString(out, name)
	return resp.AppendBulkString(out, value)
}

func bulkArray(items []string) []byte {
	out := resp.AppendArray(nil, len(items))
	for _, s := range items {
		out = resp.AppendBulkString(out, s)
	}
	return out
}

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}
