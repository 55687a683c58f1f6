package gateway

import (
	"unsafe"

	"github.com/moat-dev/moat/internal/resp"
)

// decideState is what the reader must remember between commands to know how many replies each one gets.
type decideState struct {
	multi    bool // inside MULTI: every command gets one reply (QUEUED or an error) until EXEC/DISCARD
	replyOff bool // CLIENT REPLY OFF: no replies until CLIENT REPLY ON
	skipNext bool // CLIENT REPLY SKIP: no reply for the next command
}

// decide gives a command its reply slot and reports whether it is forwarded to the backend. It never
// allocates for forwarded commands.
func (st *decideState) decide(c *resp.Command) (slot, bool) {
	var name, sub, arg [16]byte
	cmd := lower(c.Args, 0, &name)
	sl := slot{kind: kindOne}
	forward := true
	switch cmd {
	case "quit":
		// Answered here: the backend connection stays clean and the client's goodbye is not delayed.
		sl = slot{local: replyOK, close: true}
		forward = false
	case "multi":
		st.multi = true
	case "exec", "discard":
		st.multi = false
	case "reset":
		// RESET turns CLIENT REPLY OFF back on before it answers, but a SKIP in force still silences it.
		skipped := st.skipNext
		*st = decideState{}
		sl.kind = kindReset
		if skipped {
			sl.kind = kindNone
			sl.reset = true
		}
		return sl, true
	case "hello":
		if !st.multi {
			sl.kind = kindHello
		}
	case "monitor":
		if !st.multi {
			sl.kind = kindMonitor
		}
	case "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe":
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
		// Inside MULTI, CLIENT REPLY is only queued.
		if !st.multi && len(c.Args) == 3 && lower(c.Args, 1, &sub) == "reply" {
			switch lower(c.Args, 2, &arg) {
			case "on":
				st.replyOff, st.skipNext = false, false
				return sl, true
			case "off":
				st.replyOff = true
			case "skip":
				if !st.replyOff {
					st.skipNext = true
					sl.kind = kindNone
					return sl, true
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
	}
	return sl, forward
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
	if i >= len(args) || len(args[i]) > len(buf) {
		return ""
	}
	a := args[i]
	for j, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
	}
	return unsafe.String(&buf[0], len(a))
}
