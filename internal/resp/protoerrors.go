package resp

// The protocol errors a client can receive from moat's reader: Redis 7.0.15's texts (networking.c),
// sent as "-ERR Protocol error: <text>" before the connection is closed. Every one the reader returns
// is here; they are immutable and shared.
var (
	errUnbalancedQuotes   = &ProtocolError{Msg: "unbalanced quotes in request"}
	errTooBigRequest      = &ProtocolError{Msg: "too big request"}
	errTooBigInline       = &ProtocolError{Msg: "too big inline request"}
	errTooBigMbulkCount   = &ProtocolError{Msg: "too big mbulk count string"}
	errInvalidMbulkLength = &ProtocolError{Msg: "invalid multibulk length"}
	errTooBigBulkCount    = &ProtocolError{Msg: "too big bulk count string"}
	errInvalidBulkLength  = &ProtocolError{Msg: "invalid bulk length"}
	errUnauthMbulkLength  = &ProtocolError{Msg: "unauthenticated multibulk length"}
	errUnauthBulkLength   = &ProtocolError{Msg: "unauthenticated bulk length"}
)

// Reply is the error reply a client reads before the connection is closed: "-ERR Protocol error: …".
func (e *ProtocolError) Reply() []byte { return AppendError(nil, "ERR "+e.Error()) }

// errExpectedBulk is Redis's error for a multibulk element that is not a bulk string, naming the byte
// found (printable, as Redis escapes it).
func errExpectedBulk(got byte) error {
	return &ProtocolError{Msg: "expected '$', got '" + printable(got) + "'"}
}
