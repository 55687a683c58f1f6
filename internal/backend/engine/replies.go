package engine

import "strconv"

// The replies the engine's own connection loop writes (the rest are miniredis's): Redis 7.0.15's texts.

// unknownPrefix starts miniredis's own reply to an unknown command, which the loop replaces with Redis's
// (appendUnknown).
const unknownPrefix = "-ERR unknown command `"

// unknownCommand starts every reply to an unknown command, miniredis's and Redis's (the stats do not
// count such a command by name).
const unknownCommand = "-ERR unknown command"

// replyExecAbort: EXEC of a transaction in which a command was refused while queueing.
var replyExecAbort = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")

// appendUnknownCommand appends Redis's reply to an unknown command: its name and the first arguments,
// quoted (list, as the caller built it), each cut as Redis cuts them.
func appendUnknownCommand(b []byte, name string, list []byte) []byte {
	b = append(b, "-ERR unknown command '"...)
	b = append(b, name...)
	b = append(b, "', with args beginning with: "...)
	b = append(b, list...)
	return append(b, "\r\n"...)
}

// Replies of the engine's own HyperLogLog commands (hyperloglog.c), without "-".
const (
	replyNotHLL     = "WRONGTYPE Key is not a valid HyperLogLog string value."
	replyHLLCorrupt = "INVALIDOBJ Corrupted HLL object detected"
)

// wrongArgs is Redis's reply (without "-") to a command (lower case) given too few arguments.
func wrongArgs(cmd string) string {
	return "ERR wrong number of arguments for '" + cmd + "' command"
}

// appendInfo appends INFO's reply: a bulk string, or in RESP3 a verbatim string of format "txt" (as
// Redis 7 sends it).
func appendInfo(b []byte, text string, resp3 bool) []byte {
	if resp3 {
		b = append(b, '=')
		b = strconv.AppendInt(b, int64(len(text)+4), 10)
		b = append(b, "\r\ntxt:"...)
	} else {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(text)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, text...)
	return append(b, "\r\n"...)
}

// Redis's replies (without "-") to a string grown past proto-max-bulk-len (t_string.c
// checkStringLength) and to SETBIT's bit offset outside 0 … 2^32-1 (getBitOffsetFromArgument), which
// the library does not refuse (limits.go).
const (
	replyStringTooLong = "ERR string exceeds maximum allowed size"
	replyBitOffset     = "ERR bit offset is not an integer or out of range"
	replyNotInteger    = "ERR value is not an integer or out of range"
	replyOutOfRange    = "ERR value is out of range"
)

// replyLuaStackLimit: a script's reply nested past maxReplyDepth (depth.go), Redis's text for it.
var replyLuaStackLimit = []byte("-ERR reached lua stack limit\r\n")

// replyScriptFailed (moat's): the library failed while it ran or answered a script (a Lua value it
// cannot convert, say); the engine put its state right and logged why.
var replyScriptFailed = []byte("-ERR the in-process engine could not answer this script (moat's log says why)\r\n")
