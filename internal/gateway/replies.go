package gateway

// Every reply a client can receive from moat itself, as wire bytes. Texts follow redis-server 7.0.15 where
// Redis has the situation; moat's own situations use Redis's style ("-ERR" + lower-case sentence).
var (
	// W8: the peer's address is in no whitelist group and no bound security group.
	replyIllegalAddress = []byte("-ERR illegal address\r\n")
	// The instance's backend could not be reached when the client connected.
	replyBackendUnavailable = []byte("-ERR backend unavailable, try again later\r\n")
	// QUIT.
	replyOK = []byte("+OK\r\n")
)

// Protocol errors carry Redis's own text (resp.ProtocolError) and are encoded with resp.AppendError.
