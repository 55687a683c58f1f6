package gateway

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/snapshot"
)

// decideStep is one command of a connection and what the reader makes of it: the reply slot's kind
// and frame count, whether moat answers it (local), what reaches the backend, the lane it needs when
// forwarded (sharedNeed) and the name CLIENT LIST shows (commandName).
type decideStep struct {
	cmd   string // the command line, space-separated
	kind  replyKind
	n     int
	local bool // moat answers it (local bytes, or a CLIENT call)
	act   act
	lane  laneNeed // checked when the command is forwarded
	name  string
	multi int // st.queued after it: commands queued in MULTI
}

// pinnedState is a connection that is free (no ACL users, the common case) on an instance judged with
// redis-server 7.0.15's table, under renames: everything decide, sharedNeed and commandName read,
// without sockets.
func pinnedState(t *testing.T, renames string) (*decideState, *session) {
	t.Helper()
	st, s := decideBench(t)
	r, err := rediscmd.ParseRenames(renames)
	if err != nil {
		t.Fatal(err)
	}
	st.renames = r
	s.in.snap.Store(&snapshot.Snapshot{})    // DEBUG and MODULE: enable-*-command no
	s.in.log = slog.New(slog.DiscardHandler) // CONFIG SET dir: no backend to read its value from (logged)
	s.in.freshUsers = acl.NewUsers(s.in.table, acl.Config{ScriptsNeedAllKeys: true})
	st.auth.users = s.in.freshUsers
	st.auth.set(st.auth.users.Get("default"), true)
	return st, s
}

// TestDecisionsPinned pins what decide, sharedNeed and commandName make of a representative set of
// commands — forwarded, answered by moat, blocking, the subscribe family, MULTI, CLIENT, CONFIG and ACL
// subcommands, renamed and removed names — so that the command table that replaced the per-command
// switches is seen to decide as they did.
func TestDecisionsPinned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		renames string
		steps   []decideStep
	}{
		{"forwarded", "", []decideStep{
			{cmd: "GET k", lane: needShared, name: "get", multi: 0},
			{cmd: "get k", lane: needShared, name: "get"},
			{cmd: "HINCRBY h f 1", lane: needShared, name: "hincrby"},
			{cmd: "PING", lane: needShared, name: "ping"},
			{cmd: "NOSUCHCOMMAND x", lane: needShared, name: ""},
			{cmd: "OBJECT ENCODING k", lane: needShared, name: "object|encoding"},
			{cmd: "OBJECT NOSUCHSUB k", lane: needShared, name: "object"},
		}},
		{"blocking and connection state", "", []decideStep{
			{cmd: "BLPOP l 0", lane: needDedicated, name: "blpop"},
			{cmd: "BZMPOP 0 1 z MIN", lane: needDedicated, name: "bzmpop"},
			{cmd: "XREAD COUNT 1 STREAMS s 0", lane: needShared, name: "xread"},
			{cmd: "XREAD BLOCK 0 STREAMS s $", lane: needDedicated, name: "xread"},
			{cmd: "XREAD STREAMS block 0", lane: needShared, name: "xread"},
			{cmd: "XREADGROUP GROUP g c BLOCK 0 STREAMS s >", lane: needDedicated, name: "xreadgroup"},
			{cmd: "WAIT 0 0", lane: needDedicated, name: "wait"},
			{cmd: "WATCH k", lane: needDedicated, name: "watch"},
			{cmd: "UNWATCH", lane: needDedicated, name: "unwatch"},
			{cmd: "READONLY", lane: needDedicated, name: "readonly"},
			{cmd: "SELECT 1", kind: kindSelect, n: 1, lane: needDedicated, name: "select"},
			{cmd: "SELECT x", lane: needDedicated, name: "select"},
			{cmd: "MONITOR", kind: kindMonitor, lane: needDedicated, name: "monitor"},
			{cmd: "SYNC", kind: kindReplica, lane: needDedicated, name: "sync"},
			{cmd: "PSYNC ? -1", kind: kindReplica, lane: needDedicated, name: "psync"},
		}},
		{"subscribe family", "", []decideStep{
			{cmd: "SUBSCRIBE a b", kind: kindSubscribe, n: 2, lane: needDedicated, name: "subscribe"},
			{cmd: "PSUBSCRIBE", kind: kindPSubscribe, n: 1, lane: needDedicated, name: "psubscribe"},
			{cmd: "SSUBSCRIBE s", kind: kindSSubscribe, n: 1, lane: needDedicated, name: "ssubscribe"},
			{cmd: "UNSUBSCRIBE", kind: kindUnsubscribe, n: 0, lane: needDedicated, name: "unsubscribe"},
			{cmd: "PUNSUBSCRIBE p", kind: kindPUnsubscribe, n: 1, lane: needDedicated, name: "punsubscribe"},
			{cmd: "SUNSUBSCRIBE", kind: kindSUnsubscribe, n: 0, lane: needDedicated, name: "sunsubscribe"},
		}},
		{"CLIENT", "", []decideStep{
			{cmd: "CLIENT GETNAME", lane: needShared, name: "client|getname"},
			{cmd: "CLIENT HELP", lane: needShared, name: "client|help"},
			{cmd: "CLIENT SETINFO lib-name x", lane: needShared, name: "client"},
			{cmd: "CLIENT UNBLOCK 5", act: actReplace, lane: needShared, name: "client|unblock"},
			{cmd: "CLIENT NO-EVICT on", lane: needDedicated, name: "client|no-evict"},
			{cmd: "CLIENT NOSUCHSUB", lane: needDedicated, name: "client"},
			{cmd: "CLIENT SETNAME n", local: false, lane: needDedicated, name: "client|setname"},
			{cmd: "CLIENT GETREDIR", kind: kindMoatIDs, lane: needDedicated, name: "client|getredir"},
			{cmd: "CLIENT TRACKINGINFO", kind: kindMoatIDs, lane: needDedicated, name: "client|trackinginfo"},
			{cmd: "CLIENT ID", kind: kindClientID, lane: needDedicated, name: "client|id"},
			{cmd: "CLIENT INFO x", local: true, act: actDrop, name: "client|info"},
			{cmd: "CLIENT REPLY OFF", kind: kindNone, lane: needDedicated, name: "client|reply"},
			{cmd: "GET k", kind: kindNone, lane: needDedicated, name: "get"}, // a reply-less slot is not shared
			{cmd: "SUBSCRIBE a", kind: kindSubscribe, n: 1, lane: needDedicated, name: "subscribe"},
			{cmd: "CLIENT REPLY ON", lane: needDedicated, name: "client|reply"},
			{cmd: "CLIENT REPLY SKIP", kind: kindNone, lane: needDedicated, name: "client|reply"},
			{cmd: "GET k", kind: kindNone, lane: needDedicated, name: "get"}, // a reply-less slot is not shared
			{cmd: "GET k", lane: needShared, name: "get"},
		}},
		{"CONFIG, ACL, DEBUG, QUIT", "", []decideStep{
			{cmd: "CONFIG GET maxmemory", lane: needShared, name: "config|get"},
			{cmd: "CONFIG SET maxmemory 1", lane: needShared, name: "config|set"},
			{cmd: "CONFIG SET dir /tmp", local: true, act: actDrop, name: "config|set"},
			{cmd: "CONFIG RESETSTAT", lane: needShared, name: "config|resetstat"},
			{cmd: "ACL WHOAMI", local: true, act: actDrop, name: "acl|whoami"},
			{cmd: "ACL NOSUCHSUB", local: true, act: actDrop, name: "acl"},
			{cmd: "DEBUG SLEEP 0", local: true, act: actDrop, name: "debug"},
			{cmd: "DEBUG", local: true, act: actDrop, name: "debug"},
			{cmd: "QUIT", local: true, act: actDrop, name: "quit"},
		}},
		{"MULTI", "", []decideStep{
			{cmd: "MULTI", lane: needDedicated, name: "multi"},
			{cmd: "SET k v", lane: needShared, name: "set", multi: 1},
			{cmd: "SUBSCRIBE a", lane: needDedicated, name: "subscribe", multi: 2},
			{cmd: "SELECT 2", lane: needDedicated, name: "select", multi: 3},
			{cmd: "CLIENT GETREDIR", lane: needDedicated, name: "client|getredir", multi: 4},
			{cmd: "CLIENT ID", local: true, act: actDrop, name: "client|id", multi: 5},
			{cmd: "WATCH k", lane: needDedicated, name: "watch", multi: 5},
			{cmd: "MULTI", lane: needDedicated, name: "multi", multi: 5},
			{cmd: "EXEC", kind: kindExecFiltered, lane: needDedicated, name: "exec"}, // CLIENT ID is run at EXEC
			{cmd: "MULTI", lane: needDedicated, name: "multi"},
			{cmd: "INCR k", lane: needShared, name: "incr", multi: 1},
			{cmd: "DISCARD", lane: needDedicated, name: "discard"},
			{cmd: "MULTI", lane: needDedicated, name: "multi"},
			{cmd: "EXEC", lane: needDedicated, name: "exec"},
		}},
		{"renamed", "CONFIG XCONF, FLUSHALL \"\", BLPOP NOTBLPOP", []decideStep{
			{cmd: "XCONF GET maxmemory", lane: needShared, name: "config|get"},
			{cmd: "xconf set dir /x", local: true, act: actDrop, name: "config|set"},
			{cmd: "CONFIG GET maxmemory", local: true, act: actDrop, name: ""},
			{cmd: "FLUSHALL", local: true, act: actDrop, name: ""},
			{cmd: "NOTBLPOP l 0", lane: needDedicated, name: "blpop"},
			{cmd: "BLPOP l 0", local: true, act: actDrop, name: ""},
			{cmd: "GET k", lane: needShared, name: "get"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, s := pinnedState(t, tc.renames)
			for _, step := range tc.steps {
				c := benchCommand(strings.Fields(step.cmd)...)
				st.batch()
				sl, a, e := st.decide(&c)
				local := sl.local != nil || sl.call != nil && sl.call.op != opSetName
				if sl.kind != step.kind || sl.n != step.n || local != step.local || a != step.act {
					t.Errorf("%s: decided kind %d n %d local %v act %d, want kind %d n %d local %v act %d",
						step.cmd, sl.kind, sl.n, local, a, step.kind, step.n, step.local, step.act)
				}
				if a != actDrop {
					if need := s.sharedNeed(e, &c, &sl); need != step.lane {
						t.Errorf("%s: lane need %d, want %d", step.cmd, need, step.lane)
					}
				}
				if name := commandName(e, &c); name != step.name {
					t.Errorf("%s: CLIENT LIST name %q, want %q", step.cmd, name, step.name)
				}
				if st.queued != step.multi {
					t.Errorf("%s: %d queued in MULTI, want %d", step.cmd, st.queued, step.multi)
				}
			}
		})
	}
}

// TestCommandTableEntries pins the command table's entries (commandtable.go) as the lookup returns them
// for names as clients type them: moat's handling, the reply kind, the lane, whether MULTI queues the
// command, the flags, and the canonical name, subcommands included.
func TestCommandTableEntries(t *testing.T) {
	st, s := pinnedState(t, `CONFIG XCONF, FLUSHALL ""`)
	ct := s.in.cmds
	for _, tc := range []struct {
		cmd       string
		handled   bool // moat has a handler for it
		kind      replyKind
		lane      laneNeed
		flags     cmdFlags
		canonical string
		blocks    bool // its move waits moveWindow (blocksFor)
		late      bool // its reply may come late on a shared lane too (not promptFor; a dedicated lane's may)
		pausable  bool // CLIENT PAUSE WRITE may postpone its reply (pausableFor)
	}{
		{cmd: "GET k", canonical: "get"},
		{cmd: "Get k", canonical: "get"},
		{cmd: "BLMOVE a b LEFT LEFT 0", lane: needDedicated, flags: cmdBlocks, canonical: "blmove", blocks: true, late: true, pausable: true},
		{cmd: "XREAD STREAMS s 0", flags: cmdBlockOption, canonical: "xread"},
		{cmd: "XREADGROUP GROUP g c BLOCK 0 STREAMS s >", lane: needDedicated, flags: cmdBlockOption, canonical: "xreadgroup", blocks: true, late: true, pausable: true},
		{cmd: "AUTH pw", handled: true, flags: cmdJudgedAtExec, canonical: "auth"},
		{cmd: "ACL SETUSER u", handled: true, flags: cmdJudgedAtExec, canonical: "acl|setuser"},
		{cmd: "MULTI", handled: true, lane: needDedicated, flags: cmdNotQueued, canonical: "multi"},
		{cmd: "EXEC", handled: true, lane: needDedicated, flags: cmdNotQueued, canonical: "exec"},
		{cmd: "WATCH k", lane: needDedicated, flags: cmdNotQueued, canonical: "watch"},
		{cmd: "QUIT", handled: true, flags: cmdNotQueued, canonical: "quit"},
		{cmd: "RESET", handled: true, kind: kindReset, lane: needDedicated, flags: cmdNotQueued, canonical: "reset"},
		{cmd: "HELLO 3", handled: true, kind: kindHello, canonical: "hello"},
		{cmd: "SUBSCRIBE a", handled: true, kind: kindSubscribe, lane: needDedicated, flags: cmdSubscription, canonical: "subscribe"},
		{cmd: "SUNSUBSCRIBE", handled: true, kind: kindSUnsubscribe, lane: needDedicated, flags: cmdSubscription, canonical: "sunsubscribe"},
		{cmd: "EVALSHA x 0", handled: true, flags: cmdMayStall, canonical: "evalsha", late: true, pausable: true},
		{cmd: "FCALL_RO f 0", handled: true, flags: cmdMayStall, canonical: "fcall_ro", late: true},
		{cmd: "MIGRATE h 1 k 0 0", flags: cmdMayStall, canonical: "migrate", late: true, pausable: true},
		{cmd: "SET k v", canonical: "set", pausable: true},
		{cmd: "PUBLISH c m", canonical: "publish", pausable: true}, // MAY_REPLICATE, which COMMAND does not show
		{cmd: "PFCOUNT k", canonical: "pfcount", pausable: true},
		{cmd: "WAIT 1 0", lane: needDedicated, canonical: "wait", late: true},
		{cmd: "FUNCTION LIST", handled: true, canonical: "function|list"},
		{cmd: "CLIENT GETNAME", handled: true, lane: needShared, canonical: "client|getname"},
		{cmd: "CLIENT SETINFO lib-ver 1", handled: true, lane: needShared, canonical: "client", pausable: true}, // unknown to the table
		{cmd: "CLIENT PAUSE 10", handled: true, lane: needDedicated, canonical: "client|pause"},
		{cmd: "DEBUG SLEEP 0", handled: true, lane: needDedicated, flags: cmdProtected, canonical: "debug"},
		{cmd: "MODULE LIST", handled: true, lane: needDedicated, canonical: "module|list"},
		{cmd: "XCONF SET maxmemory 1", handled: true, canonical: "config|set"},
		{cmd: "config|get maxmemory", canonical: "config|get"}, // typed as a name: forwarded as it is
		{cmd: "CONFIG GET x", canonical: "", pausable: true},   // renamed away: unknown
		{cmd: "FLUSHALL", canonical: "", pausable: true},       // removed: unknown
		{cmd: "NOSUCHCOMMAND", canonical: "", pausable: true},
	} {
		c := benchCommand(strings.Fields(tc.cmd)...)
		var buf [rediscmd.MaxNameLen]byte
		e, _, _ := ct.lookup(st.renames, &c, &buf)
		if got := e.decide != nil; got != tc.handled {
			t.Errorf("%s: handled by moat %v, want %v", tc.cmd, got, tc.handled)
		}
		if flags := e.flags &^ cmdPausable; e.kind != tc.kind || e.laneFor(&c) != tc.lane || flags != tc.flags || e.canonicalFor(&c) != tc.canonical {
			t.Errorf("%s: kind %d lane %d flags %b name %q, want kind %d lane %d flags %b name %q", tc.cmd,
				e.kind, e.laneFor(&c), flags, e.canonicalFor(&c), tc.kind, tc.lane, tc.flags, tc.canonical)
		}
		if got := e.pausableFor(&c); got != tc.pausable {
			t.Errorf("%s: pausable %v, want %v", tc.cmd, got, tc.pausable)
		}
		if got := e.blocksFor(&c); got != tc.blocks {
			t.Errorf("%s: blocks %v, want %v", tc.cmd, got, tc.blocks)
		}
		if late, want := !e.promptFor(&c), tc.late || tc.lane == needDedicated; late != want {
			t.Errorf("%s: reply may come late %v, want %v", tc.cmd, late, want)
		}
	}
	if s := ct.get("config").subs["set"]; s.flags != cmdGuardedSet {
		t.Errorf("CONFIG SET's flags %b, want cmdGuardedSet", s.flags)
	}
	for _, sub := range []string{"load", "loadex", "unload"} {
		if s := ct.get("module").subs[sub]; s.flags != cmdProtected {
			t.Errorf("MODULE %s's flags %b, want cmdProtected", sub, s.flags)
		}
	}
	if s := ct.get("client").subs["reply"]; s.decide == nil || s.lane != needDedicated {
		t.Errorf("CLIENT REPLY: handled %v lane %d, want a handler and a dedicated lane", s.decide != nil, s.lane)
	}
}
