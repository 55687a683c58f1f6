package gateway

import (
	"strconv"

	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Every reply a client can receive from moat itself, as wire bytes, except the admission refusals, which
// are the verdict's (snapshot.Verdict.Reply). Texts follow redis-server 7.0.15 where
// Redis has the situation; moat's own situations use Redis's style ("-ERR" + lower-case sentence).
var (
	// The instance's backend could not be reached when the client connected.
	replyBackendUnavailable = []byte("-ERR backend unavailable, try again later\r\n")
	// QUIT.
	replyOK = []byte("+OK\r\n")
	// moat's (issue 18): a restricted user's script or function command when its connection could not be
	// switched to the user's backend identity (identity.go), or runs as another user's.
	replyIdentityUnavailable = []byte("-ERR scripts and functions of this ACL user are unavailable: moat could not run them on the backend as the user's ACL identity\r\n")
	// moat's: a script or function command queued after an AUTH, HELLO … AUTH or ACL change of its
	// transaction that EXEC would not run as the user the transaction makes the connection (identity.go).
	replyScriptAfterTxLogin = []byte("-ERR scripts and functions cannot run after AUTH or an ACL change in the same transaction: moat runs them as the connection's backend ACL identity, which it cannot switch inside MULTI\r\n")
	// moat's (issue 18): a renamed command on a connection running as its user's backend identity.
	replyRenamedOnIdentity = []byte("-ERR renamed commands are unavailable on this connection: it runs as its ACL user's backend identity since its first script (its rules exclude the original names)\r\n")
	// moat's (N4): a script or function command while commands are removed or renamed and the backend
	// cannot refuse them inside scripts (scriptguard.go).
	replyScriptsUnguarded = []byte("-ERR scripts and functions are disabled on this instance: rename-command removed or renamed commands and the backend cannot refuse them inside scripts (see the unguarded-scripts parameter)\r\n")
)

// Authentication (A1, A2): Redis 7.0.15's texts.
var (
	replyNoAuth         = []byte("-NOAUTH Authentication required.\r\n")
	replyWrongPass      = []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	replyAuthNoPassword = []byte("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n")
	replyNoAuthHello    = []byte("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n")
	replyHelloVersion   = []byte("-ERR Protocol version is not an integer or out of range\r\n")
	replyNoProto        = []byte("-NOPROTO unsupported protocol version\r\n")
	// ACL LOG with a count that is not an integer.
	replyNotInteger = []byte("-ERR value is not an integer or out of range\r\n")
	// ACL LOAD and ACL SAVE, as Redis answers them without an aclfile (moat has none).
	replyACLNoFile = []byte("-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.\r\n")
	// An ACL change that could not be stored (ACL SAVE's failure text); the log says why.
	replyACLSaveFailed = []byte("-ERR There was an error trying to save the ACLs. Please check the server logs for more information\r\n")
	// DEBUG and MODULE are refused as by redis.conf's defaults (enable-debug-command no,
	// enable-module-command no): clients of moat never reach the backend's.
	replyDebugNotAllowed  = []byte("-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n")
	replyModuleNotAllowed = []byte("-ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n")
	// moat's: a HELLO whose arguments are too long to hold cannot have its AUTH part removed.
	replyHelloTooLong = []byte("-ERR HELLO arguments too long\r\n")
)

// aclHelp is ACL HELP's reply, one status line each, as redis-server 7.0.15 sends it.
var aclHelp = []string{
	"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CAT [<category>]",
	"    List all commands that belong to <category>, or all command categories",
	"    when no category is specified.",
	"DELUSER <username> [<username> ...]",
	"    Delete a list of users.",
	"DRYRUN <username> <command> [<arg> ...]",
	"    Returns whether the user can execute the given command without executing the command.",
	"GETUSER <username>",
	"    Get the user's details.",
	"GENPASS [<bits>]",
	"    Generate a secure 256-bit user password. The optional `bits` argument can",
	"    be used to specify a different size.",
	"LIST",
	"    Show users details in config file format.",
	"LOAD",
	"    Reload users from the ACL file.",
	"LOG [<count> | RESET]",
	"    Show the ACL log entries.",
	"SAVE",
	"    Save the current config to the ACL file.",
	"SETUSER <username> <attribute> [<attribute> ...]",
	"    Create or modify a user with the specified attributes.",
	"USERS",
	"    List all the registered usernames.",
	"WHOAMI",
	"    Return the current connection username.",
	"HELP",
	"    Prints this help.",
}

// Protocol errors carry Redis's own text (resp.ProtocolError) and are encoded with resp.AppendError.

// Network security (N2–N5) and connection management. Texts are Redis 7.0.15's unless noted as moat's.
var (
	// maxclients and maxclients-per-ip, sent on accept, then the connection is closed.
	replyMaxClients = []byte("-ERR max number of clients reached\r\n")
	replyExecAbort  = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
	// AUTH and ACL inside MULTI, which moat runs at EXEC (multiacl.go), and commands they will refuse.
	replyQueued = []byte("+QUEUED\r\n")
	// EXEC refused before it runs (NOAUTH, NOPERM, arity): the error follows.
	execAbortBecause = []byte("-EXECABORT Transaction discarded because of: ")
	// CLIENT LIST / KILL.
	replySyntaxError     = []byte("-ERR syntax error\r\n")
	replyNoSuchClient    = []byte("-ERR No such client\r\n")
	replyClientIDRange   = []byte("-ERR client-id should be greater than 0\r\n")
	replyInvalidClientID = []byte("-ERR Invalid client ID\r\n")
	// moat's: client IDs are moat's, not the backend's, so commands that pass one to the backend are
	// refused rather than let them reach another client's backend connection.
)

// errProxyHeader is the protocol error (N5) for a PROXY header from a peer not in proxy-protocol.
var errProxyHeader = snapshot.ErrUntrustedProxy

// subscribedContext is the part of Redis's refusal of a command on a RESP2 connection subscribed to
// channels that the backend's reply is recognised by (identity.go).
var subscribedContext = []byte("only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")

// replyCantExecuteSubscribed is Redis's refusal of command name on a RESP2 connection subscribed to
// channels.
func replyCantExecuteSubscribed(name string) []byte {
	return []byte("-ERR Can't execute '" + name + "': " + string(subscribedContext) + "\r\n")
}

// errorReply encodes a Redis error whose text holds client input; CR and LF become spaces, as Redis
// does, so the reply stays one line.
func errorReply(msg string) []byte { return resp.AppendError(nil, msg) }

// Replies that name client input (Redis 7.0.15's texts; input truncated by the callers as Redis does).

// replyGuardedConfig: CONFIG SET of a parameter of the backend's wiring (rediscmd.GuardedConfig), refused
// as Redis refuses a protected config (config.c); name as the client spelled it.
func replyGuardedConfig(name []byte) []byte {
	return replyConfigSetFailed(name, "can't set protected config")
}

// replyImmutableConfig: CONFIG SET of an immutable parameter (rediscmd.GuardedImmutable) to the value it
// has, refused as Redis refuses any CONFIG SET of it; name as the client spelled it.
func replyImmutableConfig(name []byte) []byte {
	return replyConfigSetFailed(name, "can't set immutable config")
}

// replyDuplicateConfig: CONFIG SET naming a parameter twice, refused at the second (name as the client
// spelled it there).
func replyDuplicateConfig(name []byte) []byte {
	return replyConfigSetFailed(name, "duplicate parameter")
}

// Redis's CONFIG SET refusals begin so: a first-pass one (unknown name) and a second-pass one (a value
// refused); configmix.go reads the backend's by them.
const (
	configSetUnknownText = "ERR Unknown option or number of arguments for CONFIG SET - '"
	configSetFailedText  = "ERR CONFIG SET failed (possibly related to argument '"
)

// replyConfigSetFailed: CONFIG SET of one of moat's parameters refused (config.c's text); name as the
// client spelled it.
func replyConfigSetFailed(name []byte, why string) []byte {
	return errorReply(configSetFailedText + string(cstr(name, 128)) + "') - " + why)
}

// maxClientsUnservable is Redis's reason for refusing a maxclients above what the open-files limit
// allows (config.c, updateMaxclients), n the most it can serve.
func maxClientsUnservable(n int) string {
	return "The operating system is not able to handle the specified number of clients, try with " + strconv.Itoa(n)
}

// replyConfigGetSecretInMulti: CONFIG GET matching a password parameter inside MULTI, which moat cannot
// vet in EXEC's array (moat's own: Redis has no such refusal).
var replyConfigGetSecretInMulti = []byte("-ERR CONFIG GET of a pattern matching a password parameter cannot be queued in MULTI through moat: send it outside the transaction\r\n")

// wrongArity is Redis's arity error for a command's full name ("client|kill").
func wrongArity(fullname string) []byte {
	return errorReply("ERR wrong number of arguments for '" + fullname + "' command")
}

// replyACLSubcommandArity: ACL CAT, GENPASS or LOG with too many arguments.
func replyACLSubcommandArity(sub string) []byte {
	return errorReply("ERR unknown subcommand or wrong number of arguments for '" + sub + "'. Try ACL HELP.")
}

// replyACLUnknownSubcommand: an ACL subcommand Redis does not have.
func replyACLUnknownSubcommand(sub string) []byte {
	return errorReply("ERR unknown subcommand '" + sub + "'. Try ACL HELP.")
}

// replyHelloSyntax: a HELLO option that is not AUTH or SETNAME.
func replyHelloSyntax(opt string) []byte {
	return errorReply("ERR Syntax error in HELLO option '" + opt + "'")
}

// replyClientType: CLIENT LIST/KILL TYPE with a type Redis does not have.
func replyClientType(typ string) []byte { return errorReply("ERR Unknown client type '" + typ + "'") }

// replyNoSuchUser: CLIENT KILL USER naming no user.
func replyNoSuchUser(user string) []byte { return errorReply("ERR No such user '" + user + "'") }

// unknownCommand is Redis's reply to a command it does not know — here, one renamed away (N4): the
// name as typed and the first arguments, each cut at a NUL byte as Redis's C strings are, at most
// 128 bytes of them.
func unknownCommand(c *resp.Command) []byte {
	b := []byte("ERR unknown command '")
	b = append(b, cstr(c.Args[0], 128)...)
	b = append(b, "', with args beginning with: "...)
	var args []byte
	for i := 1; i < len(c.Args) && len(args) < 128; i++ {
		args = append(args, '\'')
		args = append(args, cstr(c.Args[i], 128-len(args)+1)...)
		args = append(args, '\'', ' ')
	}
	return errorReply(string(append(b, args...)))
}

// cstr is a as printf's "%.*s" sees it: up to the first NUL, at most n bytes.
func cstr(a []byte, n int) []byte {
	for i, c := range a {
		if c == 0 {
			a = a[:i]
			break
		}
	}
	return a[:min(len(a), max(n, 0))]
}

// backendUnknownCommand begins a backend's (Redis's) refusal of a command it does not have, without
// "-": a backend without CONFIG (the in-process engine) answers CONFIG GET so (configmix.go).
const backendUnknownCommand = "ERR unknown command"
