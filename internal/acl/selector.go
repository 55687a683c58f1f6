package acl

import (
	"slices"
	"strings"
)

// KeyPattern is one key pattern of a selector and the permission it grants.
type KeyPattern struct {
	Pattern string
	Perm    Perm
	m       matcher
}

// String renders the pattern as ACL LIST does: "~p", "%R~p" or "%W~p" (sdsCatPatternString).
func (kp KeyPattern) String() string {
	switch kp.Perm {
	case PermRead:
		return "%R~" + kp.Pattern
	case PermWrite:
		return "%W~" + kp.Pattern
	}
	return "~" + kp.Pattern
}

// channelPattern is one channel pattern of a selector.
type channelPattern struct {
	pattern string
	m       matcher
}

// Selector is one set of permissions: commands, key patterns, channel patterns. A user has a root
// selector and zero or more further ones (§2.2). A Selector inside a published User is never changed.
type Selector struct {
	allKeys     bool
	allChannels bool
	// allCommands is Redis's ALLCOMMANDS flag: set by +@all, cleared when any command is denied, so
	// while it is set every bit is set. future is Redis's reserved "future commands" bit: set by +@all,
	// cleared only by -@all; rendering starts from "+@all" when it is set.
	allCommands bool
	future      bool

	allowed   bitset           // by command id
	firstArgs map[int][]string // deprecated first-arg allows, by command id, as typed
	keys      []KeyPattern
	probes    []keyProbe // one per key pattern, in step with keys (keyprobe.go)
	channels  []channelPattern
}

// newSelector returns an empty selector: no keys, no commands, channels per acl-pubsub-default
// (ACLCreateSelector).
func newSelector(t *Table, allChannels bool) *Selector {
	return &Selector{allowed: newBitset(t.words), allChannels: allChannels}
}

func (s *Selector) clone() *Selector {
	c := *s
	c.allowed = s.allowed.clone()
	c.keys = slices.Clone(s.keys)
	c.probes = slices.Clone(s.probes)
	c.channels = slices.Clone(s.channels)
	if s.firstArgs != nil {
		c.firstArgs = make(map[int][]string, len(s.firstArgs))
		for id, args := range s.firstArgs {
			c.firstArgs[id] = slices.Clone(args)
		}
	}
	return &c
}

// ruleError is why one rule failed; its text is ACLSetUserStringError's.
type ruleError string

func (e ruleError) Error() string { return string(e) }

// The rule error texts of R70:src/acl.c ACLSetUserStringError.
const (
	errUnknownCommand ruleError = "Unknown command or category name in ACL"
	errSyntax         ruleError = "Syntax error"
	errKeysAfterAll   ruleError = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	errChansAfterAll  ruleError = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	errNoSuchPassword ruleError = "The password you are trying to remove from the user does not exist"
	errBadHash        ruleError = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	errFirstArgSub    ruleError = "Allowing first-arg of a subcommand is not supported"
)

// apply applies one selector rule (ACLSetSelector). On error s may be partly changed; callers work on a
// copy.
func (s *Selector) apply(t *Table, op string) error {
	// Redis compares keywords with strcasecmp and looks names up as C strings: both stop at a NUL.
	// Patterns keep every byte (and reject a NUL).
	word := cstring(op)
	switch {
	case equalFold(word, "allkeys") || equalFold(word, "~*"):
		s.allKeys = true
		s.clearKeys()
	case equalFold(word, "resetkeys"):
		s.allKeys = false
		s.clearKeys()
	case equalFold(word, "allchannels") || equalFold(word, "&*"):
		s.allChannels = true
		s.channels = nil
	case equalFold(word, "resetchannels"):
		s.allChannels = false
		s.channels = nil
	case equalFold(word, "allcommands") || equalFold(word, "+@all"):
		for i := range s.allowed {
			s.allowed[i] = ^uint64(0)
		}
		s.allCommands, s.future = true, true
		s.firstArgs = nil
	case equalFold(word, "nocommands") || equalFold(word, "-@all"):
		clear(s.allowed)
		s.allCommands, s.future = false, false
		s.firstArgs = nil
	case op != "" && (op[0] == '~' || op[0] == '%'):
		return s.addKeyPattern(op)
	case op != "" && op[0] == '&':
		return s.addChannel(op[1:])
	case len(word) >= 2 && (word[0] == '+' || word[0] == '-') && word[1] == '@':
		cat, ok := CategoryByName(word[2:])
		if !ok {
			return errUnknownCommand
		}
		s.setCategory(t, cat, word[0] == '+')
	case word != "" && word[0] == '+':
		return s.allowCommand(t, word[1:])
	case word != "" && word[0] == '-':
		c := t.Lookup(word[1:])
		if c == nil {
			return errUnknownCommand
		}
		s.changePerm(c, false)
	default:
		return errSyntax
	}
	return nil
}

// addKeyPattern handles "~pattern" and "%RW~pattern".
func (s *Selector) addKeyPattern(op string) error {
	if s.allKeys {
		return errKeysAfterAll
	}
	perm, offset := PermAll, 1
	if op[0] == '%' {
		perm = 0
		for ; offset < len(op); offset++ {
			c := op[offset]
			if (c == 'R' || c == 'r') && perm&PermRead == 0 {
				perm |= PermRead
			} else if (c == 'W' || c == 'w') && perm&PermWrite == 0 {
				perm |= PermWrite
			} else if c == '~' {
				offset++
				break
			} else {
				return errSyntax
			}
		}
	}
	// "%~x" (no permission: CVE-2024-31227, fixed in Debian's 7.0.15) is a syntax error. An empty pattern
	// ("~", "%R~", even "%R" without '~') is accepted, as in Redis, and matches the empty key.
	if perm == 0 {
		return errSyntax
	}
	pat := op[offset:]
	if hasSpaces(pat) {
		return errSyntax
	}
	s.addKey(pat, perm) // re-adding a pattern ORs the permissions in
	s.allKeys = false
	return nil
}

func (s *Selector) addChannel(pat string) error {
	if s.allChannels {
		return errChansAfterAll
	}
	if hasSpaces(pat) {
		return errSyntax
	}
	for _, c := range s.channels {
		if c.pattern == pat {
			return nil
		}
	}
	s.channels = append(s.channels, channelPattern{pattern: pat, m: compileGlob(pat)})
	return nil
}

// allowCommand handles "+cmd", "+cmd|sub" and the deprecated first-arg form "+cmd|arg".
func (s *Selector) allowCommand(t *Table, name string) error {
	bar := strings.LastIndexByte(name, '|')
	if bar < 0 {
		c := t.Lookup(name)
		if c == nil {
			return errUnknownCommand
		}
		s.changePerm(c, true)
		return nil
	}
	base, sub := name[:bar], name[bar+1:]
	c := t.Lookup(base)
	switch {
	case c == nil:
		return errUnknownCommand
	case c.parent != nil:
		return errFirstArgSub
	case sub == "":
		return errSyntax
	case c.subs != nil:
		sc := t.Lookup(name)
		if sc == nil {
			return errUnknownCommand
		}
		s.changePerm(sc, true)
	default:
		s.addFirstArg(c.id, sub)
	}
	return nil
}

func (s *Selector) addFirstArg(id int, arg string) {
	if s.firstArgs == nil {
		s.firstArgs = make(map[int][]string)
	}
	for _, a := range s.firstArgs[id] {
		if equalFold(cstring(a), cstring(arg)) {
			return
		}
	}
	s.firstArgs[id] = append(s.firstArgs[id], arg)
}

// changePerm allows or denies one command; for a container, all its subcommands too. It drops the
// command's first-arg allows (ACLChangeSelectorPerm).
func (s *Selector) changePerm(c *Command, allow bool) {
	s.allowed.put(c.id, allow)
	delete(s.firstArgs, c.id)
	for _, sub := range c.Subcommands {
		s.allowed.put(sub.id, allow)
	}
	if !allow {
		s.allCommands = false // ACLSetSelectorCommandBit clears ALLCOMMANDS with any bit
	}
}

// setCategory applies +@cat or -@cat: every command (and subcommand) in the category, each with
// changePerm, so a container in the category takes all its subcommands along.
func (s *Selector) setCategory(t *Table, cat Category, allow bool) {
	for _, c := range t.cmds {
		if c.cats.Has(cat) {
			s.changePerm(c, allow)
		}
	}
}

// hasSpaces is ACLStringHasSpaces: C isspace or NUL.
func hasSpaces(s string) bool {
	for i := 0; i < len(s); i++ {
		if isCSpace(s[i]) || s[i] == 0 {
			return true
		}
	}
	return false
}
