package acl

import "strings"

// Reason is the outcome of an ACL check. The denials are ordered as Redis ranks them when several
// selectors fail (§2.2): command < key < channel.
type Reason uint8

// Reasons.
const (
	Allowed Reason = iota
	DeniedCommand
	DeniedKey
	DeniedChannel
)

// String is the reason as ACL LOG names it ("command", "key", "channel"), "allowed" for Allowed.
func (r Reason) String() string {
	switch r {
	case DeniedCommand:
		return "command"
	case DeniedKey:
		return "key"
	case DeniedChannel:
		return "channel"
	}
	return "allowed"
}

// Decision is the result of Check. It is a small value: checking allocates nothing.
type Decision struct {
	Reason Reason
	// Cmd is the command that was judged.
	Cmd *Command
	// Pos is the index in args of the key or channel that failed (DeniedKey, DeniedChannel); 0 otherwise.
	Pos int
}

// Allowed reports whether the command may run.
func (d Decision) Allowed() bool { return d.Reason == Allowed }

// Reply is the error reply for a denial, without the leading '-' (7.0.15 texts, §1):
// "NOPERM this user has no permissions to run the 'get' command", "…to access one of the keys used as
// arguments", "…to access one of the channels used as arguments". "" when allowed. It does not allocate.
func (d Decision) Reply() string {
	switch d.Reason {
	case DeniedCommand:
		if d.Cmd == nil {
			return replyNoPermNoName
		}
		return d.Cmd.noperm
	case DeniedKey:
		return replyNoPermKey
	case DeniedChannel:
		return replyNoPermChannel
	}
	return ""
}

// Object is what ACL LOG records as the entry's object: the command's full name, or the key or channel
// argument that failed.
func (d Decision) Object(args [][]byte) string {
	switch d.Reason {
	case DeniedKey, DeniedChannel:
		if d.Pos < 0 || d.Pos >= len(args) {
			return "" // CheckHeld: in the part of a long command not read
		}
		return string(args[d.Pos])
	case DeniedCommand:
		return d.Cmd.Name
	}
	return ""
}

// DryRunText is ACL DRYRUN's bulk reply for a denial (7.0.15 texts): "This user has no permissions to run
// the 'get' command", "…to access the 'k' key", "…to access the 'ch' channel". "OK" when allowed (sent as
// +OK).
func (d Decision) DryRunText(args [][]byte) string {
	switch d.Reason {
	case DeniedCommand:
		return d.Cmd.dryrun
	case DeniedKey:
		return "This user has no permissions to access the '" + string(cstr(args[d.Pos])) + "' key"
	case DeniedChannel:
		return "This user has no permissions to access the '" + string(cstr(args[d.Pos])) + "' channel"
	}
	return "OK"
}

// ExecReply is the error EXEC puts in place of a queued command that the user's rules, changed since it
// was queued, no longer allow (R70:src/multi.c), without the leading '-'.
func (d Decision) ExecReply() string {
	switch d.Reason {
	case DeniedCommand:
		return replyExecNoCommand
	case DeniedKey:
		return replyExecNoKeys
	case DeniedChannel:
		return replyExecNoChannels
	}
	return ""
}

// Check judges one command line for u: allowed, or the reason it is not (ACLCheckAllUserCommandPerm).
// cmd is what Table.Resolve returned for args. A command is allowed when some selector allows the command
// and all its keys and channels; otherwise the denial with the highest reason wins, and among equal
// reasons the one with the highest argument index. A nil user is denied. Check does not allocate for
// commands with up to 16 keys and is safe for concurrent use.
func (u *User) Check(cmd *Command, args [][]byte) Decision {
	if u == nil || cmd == nil {
		return Decision{Reason: DeniedCommand, Cmd: cmd}
	}
	// The keys are found once, on first need, into a stack buffer shared by all selectors.
	var buf [16]keyRef
	var keys []keyRef
	found := false
	best := Decision{Reason: DeniedCommand, Cmd: cmd}
	for i := 0; i <= len(u.selectors); i++ {
		s := u.selector(i)
		if !s.commandAllowed(cmd, args) || (u.scriptsNeedAllKeys && !s.mayRunScript(cmd)) {
			continue // DeniedCommand at position 0 never beats what best holds
		}
		if !found && !s.allKeys && cmd.hasKeys {
			keys, found = cmd.keys(args, buf[:0]), true
		}
		r, pos := s.checkArgs(cmd, args, keys)
		if r == Allowed {
			return Decision{Reason: Allowed, Cmd: cmd}
		}
		if r > best.Reason || (r == best.Reason && pos > best.Pos) {
			best.Reason, best.Pos = r, pos
		}
	}
	return best
}

// selector returns the root selector for 0, else selector i-1.
func (u *User) selector(i int) *Selector {
	if i == 0 {
		return u.root
	}
	return u.selectors[i-1]
}

// commandAllowed is the command part of ACLSelectorCheckCmd.
func (s *Selector) commandAllowed(cmd *Command, args [][]byte) bool {
	return s.allCommands || cmd.noAuth || s.allowed.get(cmd.id) || s.firstArgAllowed(cmd, args)
}

// mayRunScript is Config.ScriptsNeedAllKeys: a @scripting command needs allkeys, allchannels and
// allcommands, since nothing judges what the script runs.
func (s *Selector) mayRunScript(cmd *Command) bool {
	return !cmd.cats.Has(CatScripting) || (s.allKeys && s.allChannels && s.allCommands)
}

// checkArgs is the key and channel part of ACLSelectorCheckCmd: the reason and the failing argument.
// keys are the command's keys (unused when the selector has allkeys).
func (s *Selector) checkArgs(cmd *Command, args [][]byte, keys []keyRef) (Reason, int) {
	if !s.allKeys && cmd.hasKeys {
		for _, k := range keys {
			if !s.keyAllowed(args[k.pos], k.flags.perm()) {
				return DeniedKey, int(k.pos)
			}
		}
	}
	if !s.allChannels && cmd.channels.checked() {
		start, stop := cmd.channels.span(len(args))
		pattern := cmd.channels.flags&ChannelPattern != 0
		for i := start; i < stop; i++ {
			if !s.channelAllowed(args[i], pattern) {
				return DeniedChannel, i
			}
		}
	}
	return Allowed, 0
}

// firstArgAllowed is the deprecated "+select|0" check: argv[1] (argv[2] for a subcommand) equals one of
// the allowed first arguments, case-insensitively.
func (s *Selector) firstArgAllowed(cmd *Command, args [][]byte) bool {
	if len(args) < 2 || s.firstArgs == nil {
		return false
	}
	allowed := s.firstArgs[cmd.id]
	idx := 1
	if cmd.parent != nil {
		idx = 2
	}
	if idx >= len(args) {
		return false
	}
	for _, a := range allowed {
		if equalFoldBytes(args[idx], cstring(a)) {
			return true
		}
	}
	return false
}

// channelAllowed is ACLCheckChannelAgainstList: a channel is glob-matched by the patterns; a
// PSUBSCRIBE pattern must equal one of them (as C strings).
func (s *Selector) channelAllowed(ch []byte, isPattern bool) bool {
	for i := range s.channels {
		cp := &s.channels[i]
		if isPattern {
			if string(cstr(ch)) == cstring(cp.pattern) {
				return true
			}
		} else if cp.m.match(ch) {
			return true
		}
	}
	return false
}

// HasFullKeyAccess reports whether some selector that allows this command line also grants need on
// every key: allkeys, or a pattern exactly "*" with need (ACLUserCheckCmdWithUnrestrictedKeyAccess).
func (u *User) HasFullKeyAccess(cmd *Command, args [][]byte, need Perm) bool {
	keys := cmd.keys(args, nil)
	for i := 0; i <= len(u.selectors); i++ {
		s := u.selector(i)
		if !s.commandAllowed(cmd, args) {
			continue
		}
		if r, _ := s.checkArgs(cmd, args, keys); r != Allowed {
			continue
		}
		if s.allKeys {
			return true
		}
		for _, kp := range s.keys {
			if kp.Perm&need == need && cstring(kp.Pattern) == "*" {
				return true
			}
		}
	}
	return false
}

func (u *User) allSelectors() []*Selector {
	return append([]*Selector{u.root}, u.selectors...)
}

// SortDenied is SORT's own ACL rule (R70:src/sort.c): a BY pattern with '*', or any GET, needs full read
// access to the keyspace. It parses the options as SORT does and returns the error reply SORT gives
// (without '-'), or "" when SORT would go on. Call it after Check allowed a SORT or SORT_RO; for other
// commands it returns "". Options SORT rejects before reaching BY/GET (syntax, a bad LIMIT) return "":
// the backend gives that error.
func (u *User) SortDenied(cmd *Command, args [][]byte) string {
	if cmd == nil || (cmd.Name != "sort" && cmd.Name != "sort_ro") {
		return ""
	}
	readonly := cmd.Name == "sort_ro"
	full := -1 // unknown until needed
	hasFull := func() bool {
		if full < 0 {
			full = 0
			if u.HasFullKeyAccess(cmd, args, PermRead) {
				full = 1
			}
		}
		return full == 1
	}
	for j := 2; j < len(args); j++ {
		left := len(args) - j - 1
		a := args[j]
		switch {
		case equalFoldBytes(a, "asc"), equalFoldBytes(a, "desc"), equalFoldBytes(a, "alpha"):
		case equalFoldBytes(a, "limit") && left >= 2:
			if _, ok := string2ll(args[j+1]); !ok {
				return ""
			}
			if _, ok := string2ll(args[j+2]); !ok {
				return ""
			}
			j += 2
		case !readonly && equalFoldBytes(a, "store") && left >= 1:
			j++
		case equalFoldBytes(a, "by") && left >= 1:
			if strings.IndexByte(string(cstr(args[j+1])), '*') >= 0 && !hasFull() {
				return replySortBy
			}
			j++
		case equalFoldBytes(a, "get") && left >= 1:
			if !hasFull() {
				return replySortGet
			}
			j++
		default:
			return ""
		}
	}
	return ""
}

// Unrestricted reports whether Check allows u every command line: u is on and its root selector has
// allcommands, allkeys and allchannels (what "+@all ~* &*" gives). The gateway skips Check for such a
// user; it says nothing about authentication.
func (u *User) Unrestricted() bool {
	return u != nil && u.enabled && u.UnrestrictedRules()
}

// UnrestrictedRules reports whether the user's rules grant every command, key and channel, whether or
// not the user is enabled: what Check allows a connection already logged in as it, which disabling the
// user does not end (Redis 7.0: "off" only refuses new logins). False for nil.
func (u *User) UnrestrictedRules() bool {
	return u != nil && u.root.allCommands && u.root.allKeys && u.root.allChannels
}

// CheckHeld judges a command too long for the gateway to hold whole: held are its first arguments, and
// more follow that nobody has seen yet, so keys and channels may lie beyond held. It is stricter than
// Check, never looser: some selector must allow the command by name and (with the scripting rule) run
// it, grant all channels when the command has channels, and grant its keys — all keys, or, when every
// key of the command sits at fixed positions inside held (no movable keys: SET, APPEND, RPUSH key …),
// both read and write on each of them, whatever the unseen options ask for. cmd is found by name.
func (u *User) CheckHeld(cmd *Command, held [][]byte) Decision {
	if u == nil || cmd == nil {
		return Decision{Reason: DeniedCommand, Cmd: cmd}
	}
	best := Decision{Reason: DeniedCommand, Cmd: cmd}
	fixed := cmd.fixedKeysWithin(len(held))
	for i := 0; i <= len(u.selectors); i++ {
		s := u.selector(i)
		if !s.commandAllowed(cmd, held) || (u.scriptsNeedAllKeys && !s.mayRunScript(cmd)) {
			continue
		}
		reason, pos := Allowed, 0
		switch {
		case cmd.channels.checked() && !s.allChannels:
			reason, pos = DeniedChannel, -1 // an argument not seen
		case cmd.hasKeys && !s.allKeys && !fixed:
			reason, pos = DeniedKey, -1
		case cmd.hasKeys && !s.allKeys:
			for k := cmd.FirstKey; k <= cmd.LastKey; k += cmd.Step {
				if !s.keyAllowed(held[k], PermRead|PermWrite) {
					reason, pos = DeniedKey, k
					break
				}
			}
		}
		if reason == Allowed {
			return Decision{Reason: Allowed, Cmd: cmd}
		}
		if reason > best.Reason || (reason == best.Reason && pos > best.Pos) {
			best.Reason, best.Pos = reason, pos
		}
	}
	return best
}

// fixedKeysWithin reports whether all of c's keys are at the fixed positions FirstKey…LastKey (by Step)
// and those lie below n: no movable keys, a non-negative last key.
func (c *Command) fixedKeysWithin(n int) bool {
	return !c.HasFlag("movablekeys") && c.FirstKey > 0 && c.LastKey >= c.FirstKey && c.Step > 0 && c.LastKey < n
}

// LookupArgs finds the command (or subcommand) a command line names, without checking its arity: for
// a command line the gateway holds only the start of. nil when unknown.
func (t *Table) LookupArgs(args [][]byte) *Command {
	if len(args) == 0 {
		return nil
	}
	base := t.lookupTop(args[0])
	if base != nil && base.subs != nil && len(args) > 1 {
		return base.lookupSub(args[1])
	}
	return base
}
