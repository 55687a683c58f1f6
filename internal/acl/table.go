package acl

import (
	"fmt"
	"slices"
	"strings"
)

// Command is one command or subcommand of a command table, in the shape of one entry of redis-server's
// COMMAND reply (§2.10). The exported fields are data (they are what commands.json holds); the rest is
// compiled by the Table that owns the command. A Command is immutable once its Table is built.
type Command struct {
	// Name is the full name, lower-case: "get", "config|get".
	Name string `json:"name"`
	// Arity is Redis's arity: N means exactly N arguments (the name included), -N means at least N.
	Arity int `json:"arity"`
	// Flags are the command flags as COMMAND reports them ("write", "denyoom", "no_auth"…).
	Flags []string `json:"flags,omitempty"`
	// FirstKey, LastKey and Step are the legacy key range (0, 0, 0 when there is none).
	FirstKey int `json:"first_key"`
	LastKey  int `json:"last_key"`
	Step     int `json:"step"`
	// Categories are the ACL categories with the implicit ones included, as COMMAND reports them
	// ("@write", "@string", "@slow").
	Categories []string `json:"acl_categories,omitempty"`
	// KeySpecs are the key specifications in order.
	KeySpecs []KeySpec `json:"key_specs,omitempty"`
	// Subcommands of a container command (CONFIG, CLIENT, ACL…), sorted by name.
	Subcommands []*Command `json:"subcommands,omitempty"`

	id         int                 // index in Table.cmds and bit in selector command bitmaps
	parent     *Command            // container, for a subcommand
	subs       map[string]*Command // lower-case subcommand name (the part after '|') → subcommand
	cats       Categories          // known categories as a mask
	noAuth     bool                // "no_auth": runs before AUTH and always passes the ACL command check
	hasKeys    bool                // doesCommandHaveKeys: a key-spec that is not NOT_KEY, or a getkeys function
	useSpecs   bool                // key-specs are reliable: some spec is not NOT_KEY and none is VARIABLE_FLAGS
	incomplete bool                // some key spec is INCOMPLETE
	finder     keyFinder           // the command's own key finder (SET, SORT, EVAL…), noFinder for most
	channels   channelSpec         // the fixed channel table entry (SUBSCRIBE, PUBLISH…)
	noperm     string              // the 7.0 NOPERM reply for a denied command, without '-'
	dryrun     string              // the ACL DRYRUN text for a denied command
}

// KeySpec is one key specification (§2.9): where the keys start (BeginSearch), how many there are
// (FindKeys), and how the command uses them (Flags).
type KeySpec struct {
	// Flags as COMMAND reports them: exactly one of RO, RW, OW, RM, optionally access, update, insert,
	// delete, plus not_key, incomplete, variable_flags.
	Flags       []string    `json:"flags,omitempty"`
	BeginSearch BeginSearch `json:"begin_search"`
	FindKeys    FindKeys    `json:"find_keys"`

	mask KeyFlags
	// begin and find are BeginSearch.Type and FindKeys.Type compiled (Table.add), for the ACL check.
	begin beginKind
	find  findKind
}

type beginKind uint8

const (
	beginUnknown beginKind = iota
	beginIndex
	beginKeyword
)

type findKind uint8

// kindOf returns the position of name among names, and whether it is there.
func kindOf(name string, names ...string) (uint8, bool) {
	for i, n := range names {
		if n == name {
			return uint8(i), true
		}
	}
	return 0, false
}

const (
	findUnknown findKind = iota
	findRange
	findKeynum
)

// BeginSearch says where a key spec's first key is.
type BeginSearch struct {
	// Type is "index" (the first key is argv[Index]), "keyword" (the argument after Keyword, searched from
	// argv[StartFrom] forwards, or from argv[argc+StartFrom] backwards when StartFrom < 0) or "unknown".
	Type      string `json:"type"`
	Index     int    `json:"index,omitempty"`
	Keyword   string `json:"keyword,omitempty"`
	StartFrom int    `json:"startfrom,omitempty"`
}

// FindKeys says how many keys follow the first one.
type FindKeys struct {
	// Type is "range" (LastKey relative to the first key, or from the end when negative; every KeyStep'th
	// argument; Limit divides the rest when LastKey is -1), "keynum" (the number of keys is in the
	// argument KeyNumIdx after the first, and the keys start FirstKey after it, every KeyStep'th), or
	// "unknown".
	Type      string `json:"type"`
	LastKey   int    `json:"lastkey,omitempty"`
	KeyStep   int    `json:"keystep,omitempty"`
	Limit     int    `json:"limit,omitempty"`
	KeyNumIdx int    `json:"keynumidx,omitempty"`
	FirstKey  int    `json:"firstkey,omitempty"`
}

// KeyFlags are a key spec's flags as bits (R70:src/server.h CMD_KEY_*).
type KeyFlags uint16

// Key flags. RO/RW/OW/RM describe the operation; ACCESS/UPDATE/INSERT/DELETE are what the ACL check uses
// (ACCESS needs read permission, the other three need write permission).
const (
	KeyRO KeyFlags = 1 << iota
	KeyRW
	KeyOW
	KeyRM
	KeyAccess
	KeyUpdate
	KeyInsert
	KeyDelete
	KeyNotKey
	KeyIncomplete
	KeyVariableFlags
)

var keyFlagNames = []struct {
	f    KeyFlags
	name string
}{
	{KeyRW, "RW"}, {KeyRO, "RO"}, {KeyOW, "OW"}, {KeyRM, "RM"}, {KeyAccess, "access"}, {KeyUpdate, "update"},
	{KeyInsert, "insert"}, {KeyDelete, "delete"}, {KeyNotKey, "not_key"}, {KeyIncomplete, "incomplete"},
	{KeyVariableFlags, "variable_flags"},
}

// Names returns the flags as COMMAND and COMMAND GETKEYSANDFLAGS name them, in Redis's order.
func (f KeyFlags) Names() []string {
	var out []string
	for _, kf := range keyFlagNames {
		if f&kf.f != 0 {
			out = append(out, kf.name)
		}
	}
	return out
}

func parseKeyFlags(names []string) (KeyFlags, error) {
	var f KeyFlags
	for _, n := range names {
		found := false
		for _, kf := range keyFlagNames {
			if equalFold(kf.name, n) {
				f |= kf.f
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown key-spec flag %q", n)
		}
	}
	return f, nil
}

// perm is the ACL permission a key access needs (ACLSelectorCheckKey).
func (f KeyFlags) perm() Perm {
	var p Perm
	if f&KeyAccess != 0 {
		p |= PermRead
	}
	if f&(KeyInsert|KeyDelete|KeyUpdate) != 0 {
		p |= PermWrite
	}
	return p
}

// Parent returns the container of a subcommand, nil for a top-level command.
func (c *Command) Parent() *Command { return c.parent }

// Categories returns the command's known categories.
func (c *Command) CategorySet() Categories { return c.cats }

// HasFlag reports whether COMMAND lists flag (case-insensitive) for c.
func (c *Command) HasFlag(flag string) bool {
	for _, f := range c.Flags {
		if equalFold(f, flag) {
			return true
		}
	}
	return false
}

// Subcommand returns the subcommand named sub (case-insensitive), or nil.
func (c *Command) Subcommand(sub string) *Command {
	if c.subs == nil {
		return nil
	}
	return c.subs[strings.ToLower(sub)]
}

// NoPerm is the 7.0.15 reply (without the leading '-') when a user may not run this command:
// "NOPERM this user has no permissions to run the 'config|get' command".
func (c *Command) NoPerm() string { return c.noperm }

// Table is a command table: every command and subcommand a backend knows, with arity, flags, key specs
// and categories, plus moat's fixed knowledge (channel positions, the commands with their own key
// finders). Users are compiled against one Table. A Table is immutable and safe for concurrent use.
type Table struct {
	// Source says where the table came from ("redis-server 7.0.15 COMMAND").
	Source string

	top     map[string]*Command // top-level commands by lower-case name
	cmds    []*Command          // every command and subcommand, by id
	words   int                 // length of a command bitmap in uint64 words
	maxName int                 // longest top-level name, to bound the lookup buffer

	catMembers [numCategories]bitset // commands (and subcommands) in each category
	catApply   [numCategories]bitset // what +@cat/-@cat changes: members and all subcommands of members
}

// newTable builds a Table from top-level commands (their Subcommands filled in). It validates, sorts and
// compiles; cmds is not copied and must not be changed afterwards.
func newTable(source string, cmds []*Command) (*Table, error) {
	t := &Table{Source: source, top: make(map[string]*Command, len(cmds))}
	for _, c := range cmds {
		c.Name = strings.ToLower(c.Name)
		for _, s := range c.Subcommands {
			s.Name = strings.ToLower(s.Name)
		}
	}
	slices.SortFunc(cmds, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range cmds {
		if c.Name == "" || strings.Contains(c.Name, "|") {
			return nil, fmt.Errorf("command %q: not a top-level name", c.Name)
		}
		if _, dup := t.top[c.Name]; dup {
			return nil, fmt.Errorf("command %q: listed twice", c.Name)
		}
		t.top[c.Name] = c
		t.maxName = max(t.maxName, len(c.Name))
		if err := t.add(c, nil); err != nil {
			return nil, err
		}
		slices.SortFunc(c.Subcommands, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
		if len(c.Subcommands) > 0 {
			c.subs = make(map[string]*Command, len(c.Subcommands))
		}
		for _, s := range c.Subcommands {
			base, sub, ok := strings.Cut(s.Name, "|")
			if !ok || base != c.Name || sub == "" || strings.Contains(sub, "|") {
				return nil, fmt.Errorf("subcommand %q of %q: name is not %s|<sub>", s.Name, c.Name, c.Name)
			}
			if len(s.Subcommands) > 0 {
				return nil, fmt.Errorf("subcommand %q: nested subcommands are not supported", s.Name)
			}
			if _, dup := c.subs[sub]; dup {
				return nil, fmt.Errorf("subcommand %q: listed twice", s.Name)
			}
			c.subs[sub] = s
			if err := t.add(s, c); err != nil {
				return nil, err
			}
		}
	}
	t.words = (len(t.cmds) + 63) / 64
	for cat := range numCategories {
		t.catMembers[cat] = newBitset(t.words)
		t.catApply[cat] = newBitset(t.words)
	}
	for _, c := range t.cmds {
		for cat := range numCategories {
			if c.cats.Has(cat) {
				t.catMembers[cat].set(c.id)
				t.catApply[cat].set(c.id)
				for _, s := range c.Subcommands {
					t.catApply[cat].set(s.id)
				}
			}
		}
	}
	return t, nil
}

// add compiles c and gives it the next id.
func (t *Table) add(c *Command, parent *Command) error {
	c.id = len(t.cmds)
	c.parent = parent
	t.cmds = append(t.cmds, c)
	for _, name := range c.Categories {
		if cat, ok := CategoryByName(strings.TrimPrefix(name, "@")); ok {
			c.cats |= 1 << cat
		}
	}
	c.noAuth = c.HasFlag("no_auth")
	anyKey, varFlags := false, false
	for i := range c.KeySpecs {
		ks := &c.KeySpecs[i]
		m, err := parseKeyFlags(ks.Flags)
		if err != nil {
			return fmt.Errorf("command %q: key spec %d: %w", c.Name, i, err)
		}
		ks.mask = m
		begin, ok := kindOf(ks.BeginSearch.Type, "unknown", "index", "keyword") // in beginKind order
		if !ok {
			return fmt.Errorf("command %q: key spec %d: begin_search type %q", c.Name, i, ks.BeginSearch.Type)
		}
		find, ok := kindOf(ks.FindKeys.Type, "unknown", "range", "keynum") // in findKind order
		if !ok {
			return fmt.Errorf("command %q: key spec %d: find_keys type %q", c.Name, i, ks.FindKeys.Type)
		}
		ks.begin, ks.find = beginKind(begin), findKind(find)
		if m&KeyNotKey == 0 {
			anyKey = true
		}
		if m&KeyVariableFlags != 0 {
			varFlags = true
		}
		if m&KeyIncomplete != 0 {
			c.incomplete = true
		}
	}
	c.finder = keyFinderFor(c.Name)
	c.channels = channelSpecFor(c.Name)
	c.useSpecs = anyKey && !varFlags
	c.hasKeys = anyKey || c.finder != noFinder
	c.noperm = replyNoPermCommand(c.Name)
	c.dryrun = replyDryRunDenied(c.Name)
	return nil
}

// Commands returns the top-level commands sorted by name. The slice is fresh; the commands are shared.
func (t *Table) Commands() []*Command {
	out := make([]*Command, 0, len(t.top))
	for _, c := range t.cmds {
		if c.parent == nil {
			out = append(out, c)
		}
	}
	return out
}

// Len is the number of commands and subcommands.
func (t *Table) Len() int { return len(t.cmds) }

// Lookup finds a command by ACL rule name: "get" or "config|get", case-insensitive
// (ACLLookupCommand). It returns nil for an unknown name, for "a|b" where a has no subcommands, and for
// anything with more than one '|'.
func (t *Table) Lookup(name string) *Command {
	base, sub, hasSub := strings.Cut(name, "|")
	c := t.top[strings.ToLower(base)]
	if c == nil || !hasSub {
		return c
	}
	if c.subs == nil || strings.Contains(sub, "|") {
		return nil
	}
	return c.subs[strings.ToLower(sub)]
}

// lookupTop finds a top-level command by name as typed, without allocating.
func (t *Table) lookupTop(name []byte) *Command {
	if len(name) > t.maxName {
		return nil
	}
	var buf [64]byte
	var low []byte
	if len(name) <= len(buf) {
		low = buf[:len(name)]
	} else {
		low = make([]byte, len(name))
	}
	for i, c := range name {
		low[i] = lowerASCII(c)
	}
	return t.top[string(low)]
}

// lookupSub finds a subcommand of c by name as typed, without allocating.
func (c *Command) lookupSub(name []byte) *Command {
	var buf [64]byte
	if len(name) > len(buf) {
		return nil
	}
	low := buf[:len(name)]
	for i, ch := range name {
		low[i] = lowerASCII(ch)
	}
	return c.subs[string(low)]
}

// bitset is a fixed-size set of command ids.
type bitset []uint64

func newBitset(words int) bitset { return make(bitset, words) }

func (b bitset) get(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

func (b bitset) set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

func (b bitset) clear(i int) { b[i>>6] &^= 1 << (uint(i) & 63) }

func (b bitset) put(i int, v bool) {
	if v {
		b.set(i)
	} else {
		b.clear(i)
	}
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }

// NoAuth reports the no_auth flag (AUTH, HELLO, QUIT, RESET): the command runs before authentication
// and always passes the ACL command check.
func (c *Command) NoAuth() bool { return c.noAuth }
