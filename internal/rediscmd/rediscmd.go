// Package rediscmd knows the command names of Redis 7.0.15 and compiles rename-command directives
// (N4). It is pure data and parsing: no I/O.
//
// It is a leaf: it imports no other moat package.
package rediscmd

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Canonical returns the table's copy of a command name given in lower case — a top-level name
// ("get") or a subcommand's full name ("client|list") — and whether it is a Redis 7.0.15 command.
// The returned string is shared: callers may keep it without copying. It does not allocate.
func Canonical(lower string) (string, bool) {
	i := sort.SearchStrings(names[:], lower)
	if i < len(names) && names[i] == lower {
		return names[i], true
	}
	return "", false
}

// IsContainer reports whether a top-level command (lower case) has subcommands (CONFIG, CLIENT, ACL…).
func IsContainer(lower string) bool {
	i := sort.SearchStrings(names[:], lower+"|")
	return i < len(names) && strings.HasPrefix(names[i], lower+"|")
}

// Errors of ParseRenames, with Redis's own texts (config.c, rename-command).
var (
	//lint:ignore ST1005 Redis 7.0.15's own text (config.c)
	ErrNoSuchCommand = errors.New("No such command in rename-command")
	//lint:ignore ST1005 Redis 7.0.15's own text (config.c)
	ErrTargetExists = errors.New("Target command name already exists")
	ErrRenameSyntax = errors.New(`want NAME NEWNAME or NAME "" (remove), pairs separated by commas`)
	ErrRenameName   = errors.New("a new name is 1 to 64 printable ASCII characters, without spaces, quotes, commas or '|'")
)

// MaxNameLen is the longest new name a rename may give.
const MaxNameLen = 64

// Rename is what a name a client types means after rename-command.
type Rename struct {
	// Original is the command's original name (lower case), the one ACL rules and the backend use.
	Original string
	// Removed reports a name that no longer names a command: the client gets Redis's unknown-command
	// error. Original is then the name itself.
	Removed bool
}

// Renames is a compiled list of rename-command directives. The zero value renames nothing. It is
// immutable and safe for concurrent use.
type Renames struct {
	// changed holds only the names whose meaning differs from Redis's: new names (→ their original)
	// and original names that were renamed away or removed.
	changed map[string]Rename
}

// Lookup tells what a command name means. lower must be lower case. ok is false when the name keeps
// its ordinary meaning (no directive touched it); Lookup does not allocate.
func (r Renames) Lookup(lower string) (Rename, bool) {
	if r.changed == nil {
		return Rename{}, false
	}
	v, ok := r.changed[lower]
	return v, ok
}

// Empty reports that nothing is renamed.
func (r Renames) Empty() bool { return len(r.changed) == 0 }

// ParseRenames compiles a rename-command parameter: directives "NAME NEWNAME" or `NAME ""` (remove
// the command), separated by commas or newlines, applied in order as redis.conf applies its
// rename-command lines. Names are case-insensitive. As in Redis, the name renamed must name a command
// at that point (ErrNoSuchCommand) and the new name must not (ErrTargetExists); only top-level commands
// can be renamed. Every bad directive is reported at once. The empty string renames nothing.
func ParseRenames(s string) (Renames, error) {
	// current maps each name a client can use now to its original name, for names touched so far;
	// gone holds original names that no longer exist under their own name.
	current := map[string]string{}
	gone := map[string]bool{}
	exists := func(n string) bool {
		if _, ok := current[n]; ok {
			return true
		}
		return !gone[n] && isCommand(n)
	}
	var errs []error
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f := strings.Fields(item)
		if len(f) != 2 {
			errs = append(errs, fmt.Errorf("%q: %w", item, ErrRenameSyntax))
			continue
		}
		from, to := strings.ToLower(f[0]), f[1]
		if to == `""` || to == `''` {
			to = ""
		} else if !validName(to) {
			errs = append(errs, fmt.Errorf("%q: new name %q: %w", item, to, ErrRenameName))
			continue
		}
		to = strings.ToLower(to)
		if !exists(from) {
			errs = append(errs, fmt.Errorf("%q: %w", item, ErrNoSuchCommand))
			continue
		}
		if to != "" && exists(to) {
			errs = append(errs, fmt.Errorf("%q: %w", item, ErrTargetExists))
			continue
		}
		orig, ok := current[from]
		if !ok {
			orig = from
		}
		delete(current, from)
		if isCommand(from) {
			gone[from] = true
		}
		if to != "" {
			current[to] = orig
			delete(gone, to)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Renames{}, err
	}
	changed := map[string]Rename{}
	for n := range gone {
		changed[n] = Rename{Original: n, Removed: true}
	}
	for n, orig := range current {
		changed[n] = Rename{Original: orig}
	}
	if len(changed) == 0 {
		return Renames{}, nil
	}
	return Renames{changed: changed}, nil
}

// isCommand reports a top-level Redis command name (lower case).
func isCommand(n string) bool {
	_, ok := Canonical(n)
	return ok && !strings.Contains(n, "|")
}

func validName(n string) bool {
	if len(n) == 0 || len(n) > MaxNameLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\'' || c == ',' || c == '|' {
			return false
		}
	}
	return true
}

// Len returns how many names the table holds (commands and subcommands).
func Len() int { return len(names) }

// Names returns every name the table holds, sorted: top-level commands and subcommands'
// "container|sub". The slice is fresh; the strings are the ones Canonical returns.
func Names() []string { return append([]string(nil), names[:]...) }

// Denied returns, sorted, the original command names that a backend must refuse where moat cannot
// translate names — inside scripts and functions, which run on the backend and call commands by their
// backend names (N4): every removed command, the original of every renamed one, and an original name
// that a rename now gives to another command. Empty when nothing is renamed.
func (r Renames) Denied() []string {
	seen := map[string]bool{}
	for n, v := range r.changed {
		seen[v.Original] = true
		if !v.Removed && isCommand(n) {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
