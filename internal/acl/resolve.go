package acl

import "strings"

// ReplyError is an error whose text is redis-server 7.0.15's error reply, without the leading '-'
// ("ERR Error in ACL SETUSER modifier '%~x': Syntax error"). User data in it has CR and LF mapped to
// spaces, so it can be written as an error line as it is.
type ReplyError struct {
	Reply string
}

func (e *ReplyError) Error() string { return e.Reply }

func replyErr(s string) *ReplyError { return &ReplyError{Reply: sanitizeReply(s)} }

// CommandError is a command Resolve cannot run: unknown command or subcommand, or wrong arity. Reply is
// redis-server 7.0.15's error reply without the leading '-'.
type CommandError struct {
	Reply string
}

func (e *CommandError) Error() string { return e.Reply }

// Resolve finds the command a client's command line runs (lookupCommand) and checks its arity, giving
// Redis's replies for an unknown command, an unknown subcommand and a wrong number of arguments (§1).
// These come before NOAUTH and before the ACL check (§0). It does not allocate when the command exists.
func (t *Table) Resolve(args [][]byte) (*Command, *CommandError) {
	if len(args) == 0 {
		return nil, &CommandError{Reply: replyUnknownNoName}
	}
	base := t.lookupTop(args[0])
	c := base
	if base != nil && base.subs != nil && len(args) > 1 {
		c = base.lookupSub(args[1])
	}
	if c == nil {
		if base != nil {
			return nil, &CommandError{Reply: replyUnknownSubcommand(args[1], args[0])}
		}
		var b strings.Builder
		for i := 1; i < len(args) && b.Len() < 128; i++ {
			b.WriteString("'" + truncC(args[i], 128-b.Len()) + "' ")
		}
		return nil, &CommandError{Reply: replyUnknownCommand(args[0], b.String())}
	}
	if (c.Arity > 0 && c.Arity != len(args)) || len(args) < -c.Arity {
		return nil, &CommandError{Reply: replyArity(c.Name)}
	}
	return c, nil
}

// upperASCII is sdstoupper: ASCII letters only.
func upperASCII(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

// truncC is printf("%.Ns", arg): at most n bytes, stopping at a NUL.
func truncC(b []byte, n int) string {
	b = cstr(b)
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// sanitizeReply maps CR and LF to spaces, as Redis does for error replies carrying user data.
func sanitizeReply(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}
