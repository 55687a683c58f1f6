package engine

import (
	"strconv"

	"github.com/alicebob/miniredis/v2/server"
)

// maxString is the largest string value Redis 7.0.15 makes (proto-max-bulk-len, 512 MiB). The library
// has no such limit: one SETRANGE or SETBIT with a large offset would allocate what it names, and the
// engine runs in moat's process, so every instance would go down with it.
const maxString = 512 << 20

// limited reports the commands (upper case) that may grow a string past maxString from a short command
// line: the pre-hook answers them when they would (overLimit), and MULTI queues them as a script so that the check runs at
// EXEC, on the values as they are then (ownInTx).
func limited(name string) bool {
	switch name {
	case "SETRANGE", "APPEND", "SETBIT":
		return true
	}
	return false
}

// overLimit answers name args (upper case, arguments without it) as p runs it, as Redis does, when the
// command would grow a string past maxString (checked in Redis's order) or names an offset past it with
// nothing to write; false lets the library run it (and give its own replies to a wrong arity or type).
func (e *Engine) overLimit(p *server.Peer, name string, args []string) bool {
	switch name {
	case "SETRANGE": // key offset value: the offset's range, the type, then the size, for a non-empty value
		if len(args) != 3 {
			return false
		}
		off, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || off < 0 || off <= maxString-int64(len(args[2])) {
			return false
		}
		n, ok := intReply(e.call(p, "STRLEN", args[0]))
		switch {
		case !ok:
			return false // WRONGTYPE, the library's
		case len(args[2]) == 0: // Redis changes nothing and answers the length; the library would grow it
			p.WriteInt(int(n))
		default:
			p.WriteError(replyStringTooLong)
		}
		return true
	case "APPEND": // key value
		if len(args) != 2 || len(args[1]) == 0 {
			return false
		}
		n, ok := intReply(e.call(p, "STRLEN", args[0])) // WRONGTYPE: the library's, at its APPEND
		if ok && n > maxString-int64(len(args[1])) {
			p.WriteError(replyStringTooLong)
			return true
		}
	case "SETBIT": // key offset value: the offset is checked first
		if len(args) != 3 {
			return false
		}
		if off, err := strconv.ParseInt(args[1], 10, 64); err != nil || off < 0 || off >= maxString*8 {
			p.WriteError(replyBitOffset)
			return true
		}
	}
	return false
}

// intReply is an integer reply's value.
func intReply(r []byte) (int64, bool) {
	if len(r) < 4 || r[0] != ':' || r[len(r)-2] != '\r' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r[1:len(r)-2]), 10, 64)
	return n, err == nil
}
