package snapshot

import (
	"strings"

	"github.com/moat-dev/moat/internal/resp"
)

// The replies of admission refusals: the one table of what a refused connection reads before it is
// disconnected. The gateway sends them; CheckAccess and `moat check` report them. Texts are Redis
// 7.0.15's where Redis has the situation ("-DENIED …" of protected mode, its "Setup a an" typo
// included), moat's own in Redis's style otherwise.
var (
	// W8: the address is in no whitelist group and no bound security group.
	ReplyIllegalAddress = []byte("-ERR illegal address\r\n")
	// N2: protected mode, sent on accept (after the handshake on a TLS listener).
	ReplyDenied = []byte("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n")
	// N5, moat's: a trusted load balancer's connection did not start with a valid PROXY header.
	ReplyProxyExpected = []byte("-ERR Protocol error: expected a PROXY protocol header from this load balancer\r\n")
	// N5, moat's: a trusted load balancer's PROXY header whose client is not a TCP one (v2 UDP or unix).
	ReplyProxyNotTCP = []byte("-ERR Protocol error: the PROXY protocol header carries no TCP client address\r\n")
	// N5, moat's: a PROXY header from a peer that is not a trusted load balancer (ErrUntrustedProxy).
	ReplyProxyUntrusted = ErrUntrustedProxy.Reply()
)

// ErrUntrustedProxy is the protocol error (N5) for a PROXY header from a peer not in proxy-protocol:
// the client reads "-ERR Protocol error: …" and is disconnected, as for any protocol error.
var ErrUntrustedProxy = &resp.ProtocolError{Msg: "PROXY protocol header from an address not in proxy-protocol"}

// Reply is what a client whose connection gets verdict v reads before it is disconnected, as wire
// bytes: nil when v admits it, or when nothing is sent (a PROXY header from an untrusted peer on a TLS
// listener: the handshake fails).
func (v Verdict) Reply() []byte {
	switch {
	case v.Admitted:
		return nil
	case v.Reason == ReasonIllegalAddress:
		return ReplyIllegalAddress
	case v.Reason == ReasonProtectedMode:
		return ReplyDenied
	case v.By == RuleAwaitPROXY:
		return ReplyProxyExpected
	case v.Reason == ReasonProtocolError && !v.AfterHandshake:
		return ReplyProxyUntrusted
	}
	return nil
}

// ReplyText is Reply without its final CRLF: "" when nothing is sent.
func (v Verdict) ReplyText() string { return strings.TrimSuffix(string(v.Reply()), "\r\n") }
