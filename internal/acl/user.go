package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"strings"
)

// User is one ACL user compiled against a Table: flags, password hashes, a root selector and further
// selectors. A *User obtained from Users is immutable (changes build a new User), so connections may
// hold it and call Check concurrently without locks.
type User struct {
	name      string
	table     *Table
	enabled   bool
	nopass    bool
	sanitize  sanitizeFlag
	passwords []string // SHA-256 hex, lower-case, in the order added
	root      *Selector
	selectors []*Selector // beyond the root, in the order added

	// scriptsNeedAllKeys is Config.ScriptsNeedAllKeys at the time the user was built.
	scriptsNeedAllKeys bool
}

// sanitizeFlag is the RESTORE payload flag: unset on a new user, set by reset.
type sanitizeFlag uint8

const (
	sanitizeUnset sanitizeFlag = iota
	sanitizeOn                 // "sanitize-payload"
	sanitizeSkip               // "skip-sanitize-payload"
)

// Config holds the server settings that shape users.
type Config struct {
	// AllChannels is acl-pubsub-default allchannels: new users and selectors start with '&*'. Redis 7.0's
	// default (false) is resetchannels: no channels.
	AllChannels bool

	// ScriptsNeedAllKeys is moat's rule for scripts (§7 of the reference): a script (EVAL, FCALL…) runs
	// inside the backend with the backend connection's rights, where moat cannot see the keys and
	// channels it touches, nor the commands it runs. With this set, a selector allows a @scripting
	// command only when it also has allkeys, allchannels and allcommands; a user restricted by key or
	// channel patterns or by commands gets the ordinary NOPERM for the command. The control plane sets it; the gateway clears it while the backend holds each
	// restricted user's identity (gateway/identity.go), which then enforces the rules inside scripts. The
	// zero value is Redis's own behaviour, which only judges the keys a script declares.
	ScriptsNeedAllKeys bool
}

// newUser returns a user as ACLCreateUser makes one: off, no passwords, no keys, no commands.
func newUser(t *Table, name string, cfg Config) *User {
	return &User{name: name, table: t, root: newSelector(t, cfg.AllChannels), scriptsNeedAllKeys: cfg.ScriptsNeedAllKeys}
}

// Name is the user name.
func (u *User) Name() string { return u.name }

// Enabled reports "on".
func (u *User) Enabled() bool { return u.enabled }

// NoPass reports "nopass": any password is accepted.
func (u *User) NoPass() bool { return u.nopass }

// PasswordHashes returns the SHA-256 hex hashes of the passwords (a fresh slice).
func (u *User) PasswordHashes() []string { return slices.Clone(u.passwords) }

// Table is the command table the user was compiled against.
func (u *User) Table() *Table { return u.table }

func (u *User) clone() *User {
	c := *u
	c.passwords = slices.Clone(u.passwords)
	c.root = u.root.clone()
	c.selectors = make([]*Selector, len(u.selectors))
	for i, s := range u.selectors {
		c.selectors[i] = s.clone()
	}
	return &c
}

// HashPassword returns the hex SHA-256 Redis stores for a password.
func HashPassword(pass []byte) string {
	sum := sha256.Sum256(pass)
	return hex.EncodeToString(sum[:])
}

// CheckPassword reports whether pass opens this user: the user is on and either nopass or one of its
// hashes equals SHA-256(pass), compared in constant time (ACLCheckUserCredentials). It does not say which
// of the two failed, like Redis.
func (u *User) CheckPassword(pass []byte) bool {
	if !u.enabled {
		return false
	}
	if u.nopass {
		return true
	}
	sum := sha256.Sum256(pass)
	var want [64]byte
	hex.Encode(want[:], sum[:])
	ok := 0
	for _, h := range u.passwords {
		ok |= subtle.ConstantTimeCompare(want[:], []byte(h))
	}
	return ok == 1
}

// validHash is ACLCheckPasswordHash: exactly 64 lower-case hex characters.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// applyRule applies one user rule (ACLSetUser) to u, which the caller owns. op is one merged argument: a
// selector "(…)" arrives whole.
func (u *User) applyRule(op string, cfg Config) error {
	if op == "" {
		return nil // an empty rule is a no-op
	}
	word := cstring(op) // Redis compares keywords with strcasecmp, which stops at a NUL
	switch {
	case equalFold(word, "on"):
		u.enabled = true
	case equalFold(word, "off"):
		u.enabled = false
	case equalFold(word, "skip-sanitize-payload"):
		u.sanitize = sanitizeSkip
	case equalFold(word, "sanitize-payload"):
		u.sanitize = sanitizeOn
	case equalFold(word, "nopass"):
		u.nopass = true
		u.passwords = nil
	case equalFold(word, "resetpass"):
		u.nopass = false
		u.passwords = nil
	case op[0] == '>' || op[0] == '#':
		h := op[1:]
		if op[0] == '>' {
			h = HashPassword([]byte(op[1:]))
		} else if !validHash(h) {
			return errBadHash
		}
		if !slices.Contains(u.passwords, h) {
			u.passwords = append(u.passwords, h)
		}
		u.nopass = false
	case op[0] == '<' || op[0] == '!':
		h := op[1:]
		if op[0] == '<' {
			h = HashPassword([]byte(op[1:]))
		} else if !validHash(h) {
			return errBadHash
		}
		i := slices.Index(u.passwords, h)
		if i < 0 {
			return errNoSuchPassword
		}
		u.passwords = slices.Delete(u.passwords, i, i+1)
	case op[0] == '(' && op[len(op)-1] == ')':
		s, err := selectorFromOpSet(u.table, op, cfg)
		if err != nil {
			return err
		}
		u.selectors = append(u.selectors, s)
	case equalFold(word, "clearselectors"):
		u.selectors = nil
	case equalFold(word, "reset"):
		u.nopass = false
		u.passwords = nil
		u.root.allKeys = false
		u.root.clearKeys()
		u.root.allChannels, u.root.channels = cfg.AllChannels, nil
		u.enabled = false
		u.sanitize = sanitizeOn
		u.selectors = nil
		_ = u.root.apply(u.table, "-@all")
	default:
		return u.root.apply(u.table, op)
	}
	return nil
}

// selectorFromOpSet builds a selector from "(rule rule …)" (aclCreateSelectorFromOpSet). The inside is
// split like a Redis config line; unbalanced quotes leave the selector empty, as in Redis.
func selectorFromOpSet(t *Table, op string, cfg Config) (*Selector, error) {
	s := newSelector(t, cfg.AllChannels)
	args, ok := splitArgs(op[1 : len(op)-1])
	if !ok {
		return s, nil
	}
	for _, a := range args {
		if err := s.apply(t, a); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// mergeSelectorArgs joins the arguments of a selector given as several arguments ("(~x" "+get)") into
// one, as ACLMergeSelectorArguments does. It returns the index of an unclosed '(' argument, or -1.
func mergeSelectorArgs(args []string) ([]string, int) {
	out := make([]string, 0, len(args))
	open := -1
	var sel strings.Builder
	for j, op := range args {
		last := byte(0)
		if op != "" {
			last = op[len(op)-1]
		}
		// A '(' argument inside an open selector starts it again, as in Redis.
		if op != "" && op[0] == '(' && last != ')' {
			sel.Reset()
			sel.WriteString(op)
			open = j
			continue
		}
		if open >= 0 {
			sel.WriteByte(' ')
			sel.WriteString(cstring(op)) // sdscatfmt "%s" stops at a NUL
			if last == ')' {
				out = append(out, sel.String())
				open = -1
			}
			continue
		}
		out = append(out, op)
	}
	if open >= 0 {
		return nil, open
	}
	return out, -1
}
