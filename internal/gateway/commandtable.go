package gateway

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// The command table: everything the gateway decides by a command's name, in one entry per name. It is
// derived once per instance (Start) from the instance's ACL command table (the backend's COMMAND reply,
// or redis-server 7.0.15's: commands.go), Redis 7.0.15's names (package rediscmd) and moat's own
// handling below, and never changes after. decide looks each command up once, by its name as typed —
// lower-cased, rename-command undone (lookup) — and each stage reads what it needs from that entry:
// decide its handler and flags, sendShared its lane (laneFor), CLIENT LIST its canonical name.

// cmdFlags are what a command's name tells beyond its handler, as a bitset.
type cmdFlags uint16

const (
	// cmdNotQueued: inside MULTI the command is not queued (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
	cmdNotQueued cmdFlags = 1 << iota
	// cmdJudgedAtExec: queued inside MULTI without the transaction's ACL check, because moat runs it at
	// EXEC (AUTH, ACL: multiacl.go).
	cmdJudgedAtExec
	// cmdSubscription: a subscribe or unsubscribe command, whose confirmations are pushes that CLIENT
	// REPLY OFF|SKIP does not silence.
	cmdSubscription
	// cmdBlockOption: the command blocks when it has a BLOCK option (XREAD, XREADGROUP: xreadBlocks).
	cmdBlockOption
	// cmdGuardedSet: CONFIG SET, whose parameters of the backend's wiring moat refuses (guardedConfigSet).
	cmdGuardedSet
	// cmdProtected: Redis 7.0.15's PROTECTED flag (DEBUG; MODULE LOAD, LOADEX, UNLOAD), which COMMAND
	// does not show: refused unless enable-debug-command / enable-module-command allow it (protected).
	cmdProtected
	// cmdBlocks: the ACL command table flags the command "blocking" (BLPOP, BRPOPLPUSH, BZPOPMIN, …):
	// its move to a dedicated lane waits moveWindow, so that it keeps its place among other clients'
	// blocking commands (ready.go).
	cmdBlocks
	// cmdMayStall: the reply may wait without bound though the command is not flagged blocking (a script
	// or function runs until it ends; MIGRATE waits on another server): no promise of a prompt reply
	// (arrivals.answering).
	cmdMayStall
	// cmdPausable: the backend may postpone the command's reply under CLIENT PAUSE WRITE (an operator's,
	// or FAILOVER's): the ACL command table flags it "write" or "may_replicate". Replies before it are
	// not held for it (pumpshared.go).
	cmdPausable
)

// decideFunc is moat's handling of a command in decide, on d (its slot and what reaches the backend).
// done: d is the decision, returned at once; otherwise decide applies CLIENT REPLY OFF|SKIP to it.
type decideFunc func(st *decideState, c *resp.Command, d *decision) (done bool)

// command is one entry of the command table.
type command struct {
	name      string // lower case, as looked up: "get"; a subcommand's own name: "list"
	canonical string // the name CLIENT LIST shows: "get", "client|list"; "": not a Redis 7.0.15 command
	// decide is moat's handling (a local answer, a reply kind, a rewrite); nil: forwarded as it is.
	decide decideFunc
	kind   replyKind // the reply kind the handler gives the command outside MULTI
	lane   laneNeed  // needShared or needDedicated (HELLO's protocol is its argument's: sharedNeed)
	flags  cmdFlags
	subs   map[string]*command // subcommands by their own name; nil: none
	// timed: moat may run the command itself when deciding it, and its handler is timed for the
	// statistics of the calls moat answers (stats.go); no other command's decision reads the clock. (The
	// CLIENT subcommands moat runs are timed in the pump, which builds their replies.)
	timed bool

	// The statistics of the calls moat answers itself (stats.go): the name they show under (Redis's:
	// "client|list"; a command Redis 7.0.15 does not know by its name as looked up), and the counters,
	// nil until the first count.
	statName string
	stats    atomic.Pointer[cmdStats]
}

// commandTable is an instance's command table. Immutable once built; safe for concurrent use.
type commandTable struct {
	top     map[string]*command
	unknown command // a name the table does not hold: forwarded, on any lane
}

// moatCommand is what moat itself does with a command, by name: "container|sub" for a subcommand.
type moatCommand struct {
	decide decideFunc
	kind   replyKind
	lane   laneNeed
	flags  cmdFlags
	timed  bool // moat may run it itself at decide (AUTH, ACL, CONFIG, HELLO, QUIT): see command.timed
}

// moatCommands is moat's handling of the commands it answers, watches or sends on a dedicated lane. A
// command it does not name is forwarded as it is, on a dedicated lane when the ACL command table flags
// it "blocking", else on any.
func moatCommands() map[string]moatCommand {
	dedicated := moatCommand{lane: needDedicated}
	sub := moatCommand{decide: (*decideState).decideSubscription, lane: needDedicated, flags: cmdSubscription}
	script := moatCommand{decide: (*decideState).decideScript}
	m := map[string]moatCommand{
		"auth":    {decide: (*decideState).decideAuth, flags: cmdJudgedAtExec, timed: true},
		"acl":     {decide: (*decideState).decideACL, flags: cmdJudgedAtExec, timed: true},
		"config":  {decide: (*decideState).decideConfig, timed: true},
		"info":    {decide: (*decideState).decideInfo},
		"latency": {decide: (*decideState).decideLatency},
		"quit":    {decide: (*decideState).decideQuit, flags: cmdNotQueued, timed: true},
		"reset":   {decide: (*decideState).decideReset, kind: kindReset, lane: needDedicated, flags: cmdNotQueued},
		"hello":   {decide: (*decideState).decideHello, kind: kindHello, timed: true},
		"multi":   {decide: (*decideState).decideMulti, lane: needDedicated, flags: cmdNotQueued},
		"exec":    {decide: (*decideState).decideExec, lane: needDedicated, flags: cmdNotQueued},
		"discard": {decide: (*decideState).decideDiscard, lane: needDedicated, flags: cmdNotQueued},
		"watch":   {lane: needDedicated, flags: cmdNotQueued},
		"select":  {decide: (*decideState).decideSelect, kind: kindSelect, lane: needDedicated},
		"monitor": {decide: (*decideState).decideKind, kind: kindMonitor, lane: needDedicated},
		"sync":    {decide: (*decideState).decideKind, kind: kindReplica, lane: needDedicated},
		"psync":   {decide: (*decideState).decideKind, kind: kindReplica, lane: needDedicated},
		// DEBUG SLEEP would hold up a shared lane.
		"debug":  {decide: (*decideState).decideProtected, lane: needDedicated, flags: cmdProtected},
		"module": {decide: (*decideState).decideProtected, lane: needDedicated},
		// Connection state a shared lane must not hold, or waits that would hold it up.
		"unwatch": dedicated, "readonly": dedicated, "readwrite": dedicated, "asking": dedicated,
		"replconf": dedicated, "wait": dedicated, "waitaof": dedicated,
		// Blocking by an option, judged by the arguments.
		"xread":      {flags: cmdBlockOption},
		"xreadgroup": {flags: cmdBlockOption},
		"config|set": {flags: cmdGuardedSet},
		// MODULE's PROTECTED subcommands; LIST and HELP are not.
		"module|load": {lane: needDedicated, flags: cmdProtected}, "module|loadex": {lane: needDedicated, flags: cmdProtected},
		"module|unload": {lane: needDedicated, flags: cmdProtected},
		// CLIENT: connection state (a dedicated lane), but for what a shared connection may run (a shared
		// session has no name); moat answers some subcommands and translates the client IDs of others.
		"client":              {decide: (*decideState).decideClient, lane: needDedicated},
		"client|setinfo":      {},
		"client|getname":      {},
		"client|help":         {},
		"client|unblock":      {decide: (*decideState).decideClientIDs},
		"client|tracking":     {decide: (*decideState).decideClientIDs, lane: needDedicated},
		"client|list":         {decide: (*decideState).decideClientLocal, lane: needDedicated},
		"client|info":         {decide: (*decideState).decideClientLocal, lane: needDedicated},
		"client|kill":         {decide: (*decideState).decideClientLocal, lane: needDedicated},
		"client|id":           {decide: (*decideState).decideClientID, lane: needDedicated},
		"client|getredir":     {decide: (*decideState).decideKind, kind: kindMoatIDs, lane: needDedicated},
		"client|trackinginfo": {decide: (*decideState).decideKind, kind: kindMoatIDs, lane: needDedicated},
		"client|setname":      {decide: (*decideState).decideClientSetName, lane: needDedicated},
		"client|reply":        {decide: (*decideState).decideClientReply, lane: needDedicated},
	}
	m["function"] = script
	running := script // a script or function runs until it ends
	running.flags |= cmdMayStall
	for _, name := range []string{"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"} {
		m[name] = running
	}
	m["migrate"] = moatCommand{flags: cmdMayStall}
	for _, name := range []string{"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"} {
		s := sub
		s.kind = subscriptionKind(name)
		m[name] = s
	}
	return m
}

// newCommandTable derives an instance's command table from its ACL command table t.
func newCommandTable(t *acl.Table) *commandTable {
	ct := &commandTable{top: map[string]*command{}}
	ct.unknown.flags = cmdPausable // a module's command, say, may write
	// Every name anyone may know: Redis 7.0.15's, the backend's, moat's own.
	for _, name := range rediscmd.Names() {
		ct.entry(name)
	}
	for _, c := range t.Commands() {
		ct.entry(c.Name)
		for _, s := range c.Subcommands {
			ct.entry(s.Name)
		}
	}
	moat := moatCommands()
	for name := range moat {
		ct.entry(name)
	}
	// What each entry does: moat's handling, else forwarded; sent on a dedicated lane when moat says so,
	// or when the ACL command table flags the top-level command blocking. A subcommand goes where its
	// container goes unless moat says otherwise.
	for name, e := range ct.top {
		if strings.Contains(name, "|") { // "container|sub" typed as a command's name: forwarded as it is
			e.apply(forwarded(t, name))
			continue
		}
		m, mine := moat[name]
		if !mine {
			m = forwarded(t, name)
		}
		e.apply(m)
		e.flags |= pausable(t, name)
		for subName, s := range e.subs {
			m, mine := moat[name+"|"+subName]
			if !mine {
				m = moatCommand{lane: e.lane, flags: e.flags & cmdBlocks}
			}
			s.apply(m)
			s.flags |= pausable(t, name+"|"+subName)
		}
	}
	return ct
}

// blocking reports whether the ACL command table flags the command name (which may name a subcommand
// as "container|sub", as a client may type it) "blocking".
func blocking(t *acl.Table, name string) bool {
	c := t.Lookup(name)
	return c != nil && slices.Contains(c.Flags, "blocking")
}

// pausable is cmdPausable when the ACL command table flags the command name ("container|sub" for a
// subcommand) "write" or "may_replicate", or Redis 7.0.15 does (mayReplicate: its COMMAND does not show
// the flag); a name the table does not know may be either.
func pausable(t *acl.Table, name string) cmdFlags {
	c := t.Lookup(name)
	if c == nil || slices.Contains(c.Flags, "write") || slices.Contains(c.Flags, "may_replicate") || slices.Contains(mayReplicate, name) {
		return cmdPausable
	}
	return 0
}

// mayReplicate are Redis 7.0.15's commands flagged MAY_REPLICATE and not WRITE (src/commands/*.json),
// which CLIENT PAUSE WRITE postpones too.
var mayReplicate = []string{"eval", "evalsha", "fcall", "pfcount", "publish", "spublish"}

// forwarded is moat's handling of a command it does not handle itself: sent as it is, on a
// dedicated lane when the ACL command table flags it blocking.
func forwarded(t *acl.Table, name string) moatCommand {
	if blocking(t, name) {
		return moatCommand{lane: needDedicated, flags: cmdBlocks}
	}
	return moatCommand{lane: needShared}
}

// entry returns the entry of name ("get" or "container|sub"), added when new, with its canonical name.
func (ct *commandTable) entry(name string) *command {
	canonical, _ := rediscmd.Canonical(name)
	base, sub, isSub := strings.Cut(name, "|")
	e := ct.top[base]
	if e == nil {
		e = &command{name: base}
		e.canonical, _ = rediscmd.Canonical(base)
		e.statName = cmp.Or(e.canonical, base)
		ct.top[base] = e
	}
	if !isSub {
		return e
	}
	if ct.top[name] == nil { // a client may type "container|sub" as a command's name
		ct.top[name] = &command{name: name, canonical: canonical}
	}
	if e.subs == nil {
		e.subs = map[string]*command{}
	}
	s := e.subs[sub]
	if s == nil {
		s = &command{name: sub, canonical: canonical, statName: cmp.Or(canonical, name)}
		e.subs[sub] = s
	}
	return s
}

func (e *command) apply(m moatCommand) {
	e.decide, e.kind, e.lane, e.flags, e.timed = m.decide, m.kind, m.lane, m.flags, m.timed
}

// each calls fn with every entry of a command or subcommand (not those of "container|sub" typed as a
// command's name, which only forward).
func (ct *commandTable) each(fn func(e *command)) {
	for name, e := range ct.top {
		if strings.Contains(name, "|") {
			continue
		}
		fn(e)
		for _, s := range e.subs {
			fn(s)
		}
	}
}

// statEntry is the entry c's statistics count under (e is c's entry): its subcommand's; e's for a
// command without subcommands or a container without its subcommand (an arity error); nil for an
// unknown command or subcommand, which Redis counts under no command.
func (ct *commandTable) statEntry(e *command, c *resp.Command) *command {
	switch {
	case e == &ct.unknown:
		return nil
	case e.subs == nil || len(c.Args) < 2:
		return e
	}
	return e.subcommand(c)
}

// get returns the entry of a command name (lower case), or the unknown entry.
func (ct *commandTable) get(name string) *command {
	if e := ct.top[name]; e != nil {
		return e
	}
	return &ct.unknown
}

// lookup returns the entry of c's command: its name lower-cased into buf and, when renames touch it,
// rename-command undone (renamed true; r says what the name means, and a name renamed away or removed
// gets the unknown entry). It does not allocate.
func (ct *commandTable) lookup(renames rediscmd.Renames, c *resp.Command, buf *[rediscmd.MaxNameLen]byte) (e *command, r rediscmd.Rename, renamed bool) {
	if len(c.Args) == 0 {
		return &ct.unknown, r, false
	}
	name := lowerInto(c.Args[0], buf[:])
	if !renames.Empty() {
		if r, renamed = renames.Lookup(name); renamed {
			if r.Removed {
				return &ct.unknown, r, true
			}
			name = r.Original
		}
	}
	return ct.get(name), r, renamed
}

// subcommand returns the entry of c's subcommand (its second argument) when e has subcommands and
// knows that one, else nil. It does not allocate.
func (e *command) subcommand(c *resp.Command) *command {
	if e.subs == nil || len(c.Args) < 2 {
		return nil
	}
	var buf [rediscmd.MaxNameLen]byte
	return e.subs[lowerInto(c.Args[1], buf[:])]
}

// laneFor is the lane c (a command of entry e) needs by its name and arguments: its subcommand's, or
// a dedicated one when it blocks by an option.
func (e *command) laneFor(c *resp.Command) laneNeed {
	if s := e.subcommand(c); s != nil {
		return s.lane
	}
	if e.flags&cmdBlockOption != 0 && xreadBlocks(c.Args) {
		return needDedicated
	}
	return e.lane
}

// promptFor reports whether the backend answers c (a command of entry e) as soon as it runs it, on a
// shared lane: not blocking, not held to a dedicated lane (whose waits and state may delay it), and not
// a command whose run may last without bound (cmdMayStall).
func (e *command) promptFor(c *resp.Command) bool {
	return e.laneFor(c) == needShared && !e.blocksFor(c) && e.flags&cmdMayStall == 0
}

// pausableFor reports whether the backend may postpone c (a command of entry e) under CLIENT PAUSE
// WRITE: e's flag, or its subcommand's.
func (e *command) pausableFor(c *resp.Command) bool {
	if s := e.subcommand(c); s != nil {
		return s.flags&cmdPausable != 0
	}
	return e.flags&cmdPausable != 0
}

// blocksFor reports whether c (a command of entry e) blocks by its name or by its BLOCK option.
func (e *command) blocksFor(c *resp.Command) bool {
	if s := e.subcommand(c); s != nil {
		return s.flags&cmdBlocks != 0
	}
	return e.flags&cmdBlocks != 0 || (e.flags&cmdBlockOption != 0 && xreadBlocks(c.Args))
}

// protectedFor reports whether c (a command of entry e) has Redis's PROTECTED flag: e's, or its
// subcommand's.
func (e *command) protectedFor(c *resp.Command) bool {
	if e.flags&cmdProtected != 0 {
		return true
	}
	s := e.subcommand(c)
	return s != nil && s.flags&cmdProtected != 0
}

// canonicalFor is the name CLIENT LIST shows for c (a command of entry e): "container|sub" for a known
// subcommand, else e's canonical name ("" for a command Redis 7.0.15 does not know).
func (e *command) canonicalFor(c *resp.Command) string {
	if s := e.subcommand(c); s != nil && s.canonical != "" {
		return s.canonical
	}
	return e.canonical
}
