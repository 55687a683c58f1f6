package acl

// Every reply text the ACL layer gives a client, without the leading '-' and the CRLF: Redis 7.0.15's
// wording (reference/redis-security.md §1). Texts that name user input are built by the functions
// below, which truncate and sanitize the input as Redis does; the callers never spell a reply inline.

// Denials (Decision.Reply, Decision.ExecReply, User.SortDenied).
const (
	replyNoPermKey      = "NOPERM this user has no permissions to access one of the keys used as arguments"
	replyNoPermChannel  = "NOPERM this user has no permissions to access one of the channels used as arguments"
	replyNoPermNoName   = "NOPERM this user has no permissions to run the '' command"
	replyExecChanged    = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: "
	replyExecNoCommand  = replyExecChanged + "no permission to execute the command or subcommand"
	replyExecNoKeys     = replyExecChanged + "no permission to touch the specified keys"
	replyExecNoChannels = replyExecChanged + "no permission to access one of the channels used as arguments"
	replySortBy         = "ERR BY option of SORT denied due to insufficient ACL permissions."
	replySortGet        = "ERR GET option of SORT denied due to insufficient ACL permissions."
)

// Command lookup (Table.Resolve, Users.DryRun).
const (
	replyUnknownNoName = "ERR unknown command ''"
	replyDryRunArity   = "ERR wrong number of arguments for 'acl|dryrun' command"
)

// ACL subcommands.
const (
	replyUsernameSpaces  = "ERR Usernames can't contain spaces or null characters"
	replyDefaultUndelete = "ERR The 'default' user cannot be removed"
	replyGenPassBits     = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"
	replyNotInteger      = "ERR value is not an integer or out of range"
	replyACLFileWarning  = "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
)

// replyNoPermCommand is the denial of a command by name ("get", "config|get").
func replyNoPermCommand(name string) string {
	return "NOPERM this user has no permissions to run the '" + name + "' command"
}

// replyDryRunDenied is ACL DRYRUN's bulk answer for a denied command.
func replyDryRunDenied(name string) string {
	return "This user has no permissions to run the '" + name + "' command"
}

// replyArity is the wrong-number-of-arguments error of a command (its full name).
func replyArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// replyUnknownSubcommand names the subcommand (truncated to 128) and the command (upper case).
func replyUnknownSubcommand(sub, cmd []byte) string {
	return sanitizeReply("ERR unknown subcommand '" + truncC(sub, 128) + "'. Try " + upperASCII(cstr(cmd)) + " HELP.")
}

// replyUnknownCommand names the command and the first arguments, as Redis quotes them.
func replyUnknownCommand(name []byte, args string) string {
	return sanitizeReply("ERR unknown command '" + truncC(name, 128) + "', with args beginning with: " + args)
}

func replyUnknownCategory(cat string) string { return "ERR Unknown category '" + cstring(cat) + "'" }

func replySetUserModifier(rule string, err error) string {
	return "ERR Error in ACL SETUSER modifier '" + cstring(rule) + "': " + err.Error()
}

func replyUnmatchedParen(arg string) string {
	return "ERR Unmatched parenthesis in acl selector starting at '" + cstring(arg) + "'."
}

// replyACLFileErrors is ACL LOAD's (and an aclfile's) refusal: every error found, then the warning.
func replyACLFileErrors(errs string) string { return "ERR " + errs + replyACLFileWarning }

func replyNoSuchUser(name string) string { return "ERR User '" + cstring(name) + "' not found" }

func replyNoSuchCommand(name []byte) string {
	return "ERR Command '" + string(cstr(name)) + "' not found"
}
