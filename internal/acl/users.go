package acl

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"weak"
)

// DefaultUserRules are the rules of the default user of a fresh server: "on nopass ~* &* +@all".
var defaultUserRules = []string{"on", "nopass", "~*", "&*", "+@all"}

// Users is the set of ACL users of one instance, compiled against one Table. It always holds "default".
//
// Users is a plain value owned by one writer (the control plane, under its lock); it is not safe for
// concurrent mutation. The *User values it hands out are immutable, so a connection may keep one and
// Check with it while the set changes; to publish the set to the data plane, publish a Clone.
type Users struct {
	table *Table
	cfg   Config
	m     userMap
	// src are the lines of the aclfile the set was read from (ReparseACLFile); never changed once read,
	// so clones share them. Each line that is not blank holds one user, the one of its name in m
	// (lineUser) unless that name is in edited: set or deleted in place since (copied by Clone).
	src    []string
	edited map[string]bool
	// parent and changed say which set us was made from, changing which users alone (ChangedFrom);
	// mutated: us has been changed in place, and no set made from it before knows how (delta.go).
	parent  weak.Pointer[Users]
	changed []string
	mutated bool
}

// NewUsers returns a set holding only the default user, "on nopass ~* &* +@all".
func NewUsers(t *Table, cfg Config) *Users {
	us := &Users{table: t, cfg: cfg, m: newUserMap(1)}
	if err := us.SetUser("default", defaultUserRules...); err != nil {
		panic("acl: default user: " + err.Error()) // the rules are constant
	}
	return us
}

// Table is the command table the users are compiled against.
func (us *Users) Table() *Table { return us.table }

// Clone returns a copy that shares the immutable users.
func (us *Users) Clone() *Users {
	return &Users{table: us.table, cfg: us.cfg, m: us.m.clone(), src: us.src, edited: maps.Clone(us.edited)}
}

// Config returns the settings the users are built with.
func (us *Users) Config() Config { return us.cfg }

// SetScriptsNeedAllKeys changes Config.ScriptsNeedAllKeys for every user (each is replaced by a copy).
func (us *Users) SetScriptsNeedAllKeys(on bool) {
	us.changedInPlace()
	us.src, us.edited = nil, nil // every user is replaced
	us.cfg.ScriptsNeedAllKeys = on
	m := newUserMap(us.m.len())
	for name, u := range us.m.all() {
		m.set(name, u.withScriptsNeedAllKeys(on))
	}
	us.m = m
}

// WithScriptsNeedAllKeys returns a copy of us with Config.ScriptsNeedAllKeys on, as a Clone then
// SetScriptsNeedAllKeys(on) would. When prev is that copy made earlier of from (both may be nil), the
// users of us that are the same as in from are taken from prev rather than copied again: publishing a
// set that changed in one user copies one user, and when us knows which users it changed from from
// (ChangedFrom) it looks at those alone. The copy is made from prev then (ChangedFrom(prev) reports the
// same users), else from nothing.
func (us *Users) WithScriptsNeedAllKeys(on bool, from, prev *Users) *Users {
	out := &Users{table: us.table, cfg: us.cfg}
	out.cfg.ScriptsNeedAllKeys = on
	if from == nil || prev == nil || prev.table != out.table || prev.cfg != out.cfg || prev.mutated {
		from, prev = nil, nil
	}
	if names, ok := us.ChangedFrom(from); ok && prev != nil {
		out.m = prev.m.clone()
		for _, name := range names {
			if u := us.m.get(name); u != nil {
				out.m.set(name, u.withScriptsNeedAllKeys(on))
			} else {
				out.m.del(name)
			}
		}
		out.derived(prev, slices.Clone(names))
		return out
	}
	out.m = newUserMap(us.m.len())
	for name, u := range us.m.all() {
		if c := reusedCopy(from, prev, name, u); c != nil {
			out.m.set(name, c)
			continue
		}
		out.m.set(name, u.withScriptsNeedAllKeys(on))
	}
	return out
}

// withScriptsNeedAllKeys is a copy of u with Config.ScriptsNeedAllKeys set to on.
func (u *User) withScriptsNeedAllKeys(on bool) *User {
	c := u.clone()
	c.scriptsNeedAllKeys = on
	return c
}

// reusedCopy is prev's user name when from (the set prev was copied from) has u as that user; else nil
// (also when prev is nil).
func reusedCopy(from, prev *Users, name string, u *User) *User {
	if prev == nil || from.m.get(name) != u {
		return nil
	}
	return prev.m.get(name)
}

// All iterates over the users, in no particular order.
func (us *Users) All() iter.Seq2[string, *User] { return us.m.all() }

// Get returns the user, or nil.
func (us *Users) Get(name string) *User { return us.m.get(name) }

// Len is the number of users.
func (us *Users) Len() int { return us.m.len() }

// Names returns the user names in ACL USERS order (byte order).
func (us *Users) Names() []string {
	var names []string
	for name := range us.m.all() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// List returns ACL LIST: "user <name> <rules>" per user, in name order.
func (us *Users) List() []string {
	var out []string
	for _, n := range us.Names() {
		out = append(out, "user "+n+" "+us.m.get(n).Describe())
	}
	return out
}

// SetUser is ACL SETUSER name rules…: it creates the user when it does not exist and applies the rules
// left to right, atomically — when one fails nothing changes, and the error is Redis's reply. Several
// arguments of one selector ("(~x", "+get)") are merged first, as Redis does.
func (us *Users) SetUser(name string, rules ...string) error {
	if hasSpaces(name) {
		return replyErr(replyUsernameSpaces)
	}
	u, err := us.build(us.m.get(name), name, rules, func(rule string, e error) *ReplyError {
		return replyErr(replySetUserModifier(rule, e))
	}, func(arg string) *ReplyError {
		return replyErr(replyUnmatchedParen(arg))
	})
	if err != nil {
		return err
	}
	us.editedInPlace(name)
	us.m.set(name, u)
	return nil
}

// build applies rules to a copy of old (or to a new user) and returns it.
func (us *Users) build(old *User, name string, rules []string,
	ruleErr func(rule string, e error) *ReplyError, unmatched func(arg string) *ReplyError) (*User, error) {
	merged, open := mergeSelectorArgs(rules)
	if open >= 0 {
		return nil, unmatched(rules[open])
	}
	var u *User
	if old != nil {
		u = old.clone()
		u.scriptsNeedAllKeys = us.cfg.ScriptsNeedAllKeys
	} else {
		u = newUser(us.table, name, us.cfg)
	}
	for _, r := range merged {
		if err := u.applyRule(r, us.cfg); err != nil {
			return nil, ruleErr(r, err)
		}
	}
	return u, nil
}

// DelUser is ACL DELUSER: it deletes the named users that exist and returns how many. Naming "default"
// fails with Redis's error and deletes nothing. The caller must close the connections of deleted users.
func (us *Users) DelUser(names ...string) (int, error) {
	if slices.Contains(names, "default") {
		return 0, replyErr(replyDefaultUndelete)
	}
	n := 0
	for _, name := range names {
		if us.m.get(name) != nil {
			us.editedInPlace(name)
			us.m.del(name)
			n++
		}
	}
	return n, nil
}

// Authenticate is AUTH: the user named name if pass opens it (it exists, is on, and is nopass or has
// the password), else nil. Every failure looks the same, as WRONGPASS does.
func (us *Users) Authenticate(name string, pass []byte) *User {
	u := us.m.get(name)
	if u == nil || !u.CheckPassword(pass) {
		return nil
	}
	return u
}

// SetRequirePass is the requirepass setting: the default user gets "resetpass" then ">pass", or
// "nopass" when pass is empty (§2.7).
func (us *Users) SetRequirePass(pass string) error {
	second := "nopass"
	if pass != "" {
		second = ">" + pass
	}
	return us.SetUser("default", "resetpass", second)
}

// DefaultAuthenticated reports whether new connections start authenticated: default is on and nopass.
func (us *Users) DefaultAuthenticated() bool {
	d := us.m.get("default")
	return d != nil && d.enabled && d.nopass
}

// Rebind recompiles every user against another table (a backend's COMMAND reply), by re-applying the
// rules ACL LIST shows. It fails, changing nothing, when a rule names a command the new table lacks.
func (us *Users) Rebind(t *Table) (*Users, error) {
	out := &Users{table: t, cfg: us.cfg, m: newUserMap(us.m.len())}
	for _, name := range us.Names() {
		rules := splitSpaces(us.m.get(name).Describe())
		if err := out.SetUser(name, rules...); err != nil {
			return nil, fmt.Errorf("acl: rebind user %q to %s: %w", name, t.Source, err)
		}
	}
	return out, nil
}

// DryRun is ACL DRYRUN username command args…: args is the command line (args[0] the command). The
// reply is "OK" (send +OK) or a denial text (send as a bulk string); err is an error reply: no such user,
// no such command, wrong number of arguments.
func (us *Users) DryRun(username string, args [][]byte) (reply string, err error) {
	u := us.m.get(username)
	if u == nil {
		return "", replyErr(replyNoSuchUser(username))
	}
	if len(args) == 0 {
		return "", replyErr(replyDryRunArity)
	}
	base := us.table.lookupTop(args[0])
	c := base
	if base != nil && base.subs != nil && len(args) > 1 {
		c = base.lookupSub(args[1])
	}
	if c == nil {
		return "", replyErr(replyNoSuchCommand(args[0]))
	}
	if (c.Arity > 0 && c.Arity != len(args)) || len(args) < -c.Arity {
		return "", replyErr(replyArity(c.Name))
	}
	return u.Check(c, args).DryRunText(args), nil
}

// GenPass is ACL GENPASS [bits]: ceil(bits/4) random hex characters, 256 bits by default (bits 0).
func GenPass(bits int) (string, error) {
	if bits == 0 {
		bits = 256
	}
	if bits < 0 || bits > 4096 {
		return "", replyErr(replyGenPassBits)
	}
	chars := (bits + 3) / 4
	buf := make([]byte, (chars+1)/2)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf)[:chars], nil
}

// ParseGenPassBits reads ACL GENPASS's argument as Redis does (a long); 0 is returned as an error like
// any value out of range.
func ParseGenPassBits(arg []byte) (int, error) {
	n, ok := string2ll(arg)
	if !ok {
		return 0, replyErr(replyNotInteger)
	}
	if n <= 0 || n > 4096 {
		return 0, replyErr(replyGenPassBits)
	}
	return int(n), nil
}

// splitSpaces splits on ' ' only, dropping empty words (how ACL LIST text is read back).
func splitSpaces(s string) []string {
	var out []string
	for _, w := range strings.Split(s, " ") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}
