package engine

import (
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2/server"
)

// maxString is the largest string value Redis 7.0.15 makes (proto-max-bulk-len, 512 MiB). The library
// has no such limit: one SETRANGE or SETBIT with a large offset would allocate what it names, and the
// engine runs in moat's process, so every instance would go down with it.
const maxString = 512 << 20

// limited reports the commands (upper case) with which a short command line makes the library allocate
// without bound: a string past maxString, room for a huge COUNT, a huge repeated reply. The pre-hook
// answers them when they would (overLimit), and MULTI queues them as a script so that the check runs
// at EXEC, on the values as they are then (ownInTx).
func limited(name string) bool {
	switch name {
	case "SETRANGE", "APPEND", "SETBIT", "LPOS", "HRANDFIELD", "ZRANDMEMBER", "SRANDMEMBER":
		return true
	}
	return false
}

// maxRepeats bounds a negative count of HRANDFIELD, ZRANDMEMBER and SRANDMEMBER (elements repeated):
// the library builds the whole reply in memory first, so -10^12 would take the process down. Redis
// streams it; the engine refuses it with Redis's words for a count out of its range.
const maxRepeats = 1 << 24

// lposCountAll is the COUNT past which LPOS is run with COUNT 0 (every match) when the list is no
// longer than it: the library allocates room for COUNT matches, 8 bytes each, before it looks.
const lposCountAll = 1 << 16

// overLimit answers name args (a limited command, upper case, arguments without it) as p runs it when
// the library would allocate without bound: as Redis does for a string past maxString (checked in
// Redis's order) or an offset past it with nothing to write, as Redis's answer for LPOS's large COUNT,
// and with Redis's out-of-range reply for a repeated count below -maxRepeats. False lets the library
// run it (and give its own replies to a wrong arity or type).
func (e *Engine) overLimit(p *server.Peer, name string, args []string) bool {
	switch name {
	case "SETRANGE": // key offset value: the offset's range, the type, then the size, for a non-empty value
		if len(args) != 3 {
			return false
		}
		off, ok := redisInt(args[1])
		switch {
		case !ok: // the library takes "+5" and "007", and would grow the string by them
			p.WriteError(replyNotInteger)
			return true
		case off < 0 || len(args[2]) > 0 && off <= maxString-int64(len(args[2])):
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
	case "HRANDFIELD", "ZRANDMEMBER", "SRANDMEMBER": // key count …
		if len(args) >= 2 {
			if n, ok := redisInt(args[1]); ok && n < -maxRepeats {
				p.WriteError(replyOutOfRange)
				return true
			}
		}
	case "LPOS":
		return e.lposBounded(p, args)
	case "SETBIT": // key offset value: the offset is checked first
		if len(args) != 3 {
			return false
		}
		if off, ok := redisInt(args[1]); !ok || off < 0 || off >= maxString*8 {
			p.WriteError(replyBitOffset)
			return true
		}
	}
	return false
}

// redisInt parses s as Redis's string2ll does: decimal digits with an optional '-', no '+', no leading
// zero, in range.
func redisInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] == '+' || len(digits) > 1 && digits[0] == '0' || s == "-0" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// intReply is an integer reply's value.
func intReply(r []byte) (int64, bool) {
	if len(r) < 4 || r[0] != ':' || r[len(r)-2] != '\r' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(r[1:len(r)-2]), 10, 64)
	return n, err == nil
}

// lposBounded runs LPOS key element … COUNT n with n past lposCountAll and at least the list's length as
// COUNT 0, which finds the same matches, and answers p with them; false lets the library run it as sent.
func (e *Engine) lposBounded(p *server.Peer, args []string) bool {
	at := -1
	for i := 2; i+1 < len(args); i += 2 {
		if strings.EqualFold(args[i], "COUNT") {
			at = i + 1 // the last one counts, as in Redis
		}
	}
	if at < 0 {
		return false
	}
	n, ok := redisInt(args[at])
	if !ok || n <= lposCountAll {
		return false
	}
	if l, ok := intReply(e.call(p, "LLEN", args[0])); !ok || n < l {
		return false // WRONGTYPE, the library's; or a list longer than COUNT: room for COUNT is its size
	}
	run := append([]string{"LPOS"}, args...)
	run[at+1] = "0"
	r := e.call(p, run...)
	if len(r) > 0 && r[0] == '-' {
		p.WriteError(strings.TrimSuffix(string(r[1:]), "\r\n"))
		return true
	}
	ints, ok := intArray(r)
	if !ok {
		return false
	}
	p.WriteLen(len(ints))
	for _, v := range ints {
		p.WriteInt(int(v))
	}
	return true
}

// intArray is an array reply of integers: its values.
func intArray(r []byte) ([]int64, bool) {
	line, rest, ok := strings.Cut(string(r), "\r\n")
	if !ok || len(line) < 2 || line[0] != '*' {
		return nil, false
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return nil, false
	}
	out := make([]int64, 0, n)
	for range n {
		if line, rest, ok = strings.Cut(rest, "\r\n"); !ok || len(line) < 2 || line[0] != ':' {
			return nil, false
		}
		v, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}
