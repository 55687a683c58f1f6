package gateway

import (
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// The reply state: the slot each command is owed, in order, the queue of slots from the reader to the
// pump, and what the pump knows of the backend connection (pumpState) to tell which frame answers which
// slot.

// slot is the reply owed for one command, in order.
type slot struct {
	local []byte // moat's own reply; nil when the backend answers
	kind  replyKind
	n     int  // frames expected for kindSubscribe (0: compute when the slot reaches the head)
	close bool // close the connection once this reply is written
	move  bool // kindNone: the session moved to its dedicated lane here (lanesend.go)
	reset bool // a RESET whose reply is skipped (kindNone): the connection state resets here
	// prompt: a shared lane's command the backend answers as soon as it runs it (command.promptFor), even
	// under CLIENT PAUSE WRITE (not command.pausableFor), so that replies written before it may wait for
	// its own and go out in the same write (pumpshared.go).
	prompt bool
	// call: a CLIENT subcommand moat answers (kindNone: run when the slot reaches the head), or a name
	// to record once the backend accepts the command (clientcmd.go).
	call *clientCall
	// The script guard (scriptguard.go). kindWrapped: n counts the frames still to come, the one that
	// arrives when n == show is the client's, wrapFailed notes a refused first AUTH. kindExecFiltered:
	// skip are the positions in EXEC's array to leave out.
	show       int
	wrapFailed bool
	skip       []int
	// kindExecFiltered: replies moat puts into EXEC's array; kindExecAbort: the reply in place of
	// DISCARD's when not replyExecAbort (multiacl.go).
	insert []execInsert
	abort  []byte
	hellos []execHello // kindExecFiltered: the HELLO, SELECT, CLIENT SETNAME the backend runs in EXEC (multiacl.go)
	// kindSwitch (identity.go): n frames to swallow; how the switch went is sent on switched;
	// subscribedCtx notes a refusal for a RESP2 connection's subscribed context.
	switched      chan switchResult
	subscribedCtx bool
	// kindLatency: the commands LATENCY HISTOGRAM named (a copy); nil: all. A pointer, to keep the
	// slots every command is given small.
	names *[][]byte
}

type replyKind uint8

const (
	kindOne       replyKind = iota // one reply frame
	kindNone                       // no reply (CLIENT REPLY OFF/SKIP)
	kindSubscribe                  // one confirmation per channel
	kindUnsubscribe
	kindPSubscribe
	kindPUnsubscribe
	kindSSubscribe
	kindSUnsubscribe
	kindHello
	kindReset
	kindMonitor
	kindSelect       // one reply; n is the database, recorded for CLIENT LIST when it succeeds
	kindExecAbort    // DISCARD sent in place of EXEC: its +OK is dropped and EXECABORT written instead
	kindWrapped      // a command sent between the script guard's AUTHs: n frames, one (or none) the client's
	kindExecFiltered // EXEC of a transaction holding wrapped commands: the AUTHs' elements are left out
	kindSwitch       // the switch of the connection to a backend identity (identity.go): n frames, none the client's
	kindMoatIDs      // CLIENT GETREDIR or TRACKINGINFO: the backend IDs of redirect targets become moat's (clientid.go)
	// kindReplica: SYNC or PSYNC. The backend's replies from here on are a replication stream (an RDB
	// payload without a closing CRLF, then commands), copied to the client as they come.
	kindReplica
	// kindBackendID: the reply to moat's CLIENT ID on a new dedicated connection behind a Unix socket,
	// kept as the session's backend ID and not the client's (clientid.go).
	kindBackendID
	// kindConfigGet: CONFIG GET whose patterns match a password parameter: the backend's passwords are
	// hidden and moat's parameters are moat's (configcmd.go, configReply).
	kindConfigGet
	// kindClientID: the client's CLIENT ID, forwarded so that the client has a backend connection of its
	// own: the backend's ID in the reply is kept as the session's, the client gets moat's (clientid.go).
	kindClientID
	// kindInfo: INFO answering the Clients section, whose connected_clients and maxclients are moat's
	// (info.go, infoReply); served on a shared lane as on a dedicated one.
	kindInfo
	// kindLatency: LATENCY HISTOGRAM, whose reply gets the histograms of the commands moat answers
	// (latency.go, latencyReply; names holds the commands named); served on any lane.
	kindLatency
)

// rewrittenWhole reports a reply kind whose reply the pump takes whole and rewrites (INFO, LATENCY
// HISTOGRAM).
func rewrittenWhole(k replyKind) bool { return k == kindInfo || k == kindLatency }

// enqueue appends slots for the pump, and wakes the pump if it waits on the backend while the first new
// reply is moat's own (otherwise the backend's reply wakes it).
func (s *session) enqueue(slots []slot) {
	if len(slots) == 0 {
		return
	}
	s.owed.Add(int64(len(slots)))
	s.mu.Lock()
	s.queue = append(s.queue, slots...)
	if s.idle && !s.interrupted && (slots[0].local != nil || slots[0].kind == kindNone) {
		s.interrupted = true
		s.be.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	if s.sh.wake != nil {
		s.signal()
	}
}

// slotQueue is the pump's side of the queue: the slice last taken goes back to the queue, once emptied,
// as its next backing array, so the steady state allocates nothing.
type slotQueue struct {
	batch, spare []slot
}

// take returns the slots queued since the last take (the previous ones must all be answered).
func (q *slotQueue) take(s *session) []slot {
	if q.batch != nil {
		q.spare, q.batch = q.batch[:0], nil
	}
	s.mu.Lock()
	work := s.queue
	s.queue = q.spare[:0]
	s.mu.Unlock()
	q.batch, q.spare = work, nil
	return work
}

// pumpState is what the pump knows of the backend connection's state.
type pumpState struct {
	resp3      bool
	channels   int // subscriptions, as the backend's confirmations report them
	patterns   int
	shards     int
	monitoring bool
}

// listening reports a connection that waits for messages: subscribed or monitoring.
func (st *pumpState) listening() bool {
	return st.channels+st.patterns+st.shards > 0 || st.monitoring
}

// outOfBand reports a frame that answers no command: a pub/sub message, a RESP3 push that is not a
// subscription confirmation, or a MONITOR line.
func (st *pumpState) outOfBand(info *resp.ReplyInfo, head replyKind) bool {
	switch info.Type {
	case '>':
		if subscriptionKind(info.HeadString(0)) == kindOne {
			return true
		}
		if head < kindSubscribe || head > kindSUnsubscribe {
			// A confirmation no slot waits for: SUBSCRIBE a b inside MULTI, whose EXEC array holds only
			// the first one. It still tells the subscription count.
			st.confirmed(info)
			return true
		}
		return false
	case '*':
		if st.resp3 || st.channels+st.patterns+st.shards == 0 {
			return false
		}
		switch info.HeadString(0) {
		case "message", "pmessage", "smessage":
			return true
		}
	case '+':
		// MONITOR lines start with the timestamp; no reply a monitoring client can get does.
		return st.monitoring && head != kindMonitor && info.Lead >= '0' && info.Lead <= '9'
	}
	return false
}

// answer applies one reply frame to the head slot and reports whether the slot is complete.
func (st *pumpState) answer(sl *slot, info *resp.ReplyInfo) bool {
	switch sl.kind {
	case kindHello:
		switch info.Type {
		case '%':
			st.resp3 = true
		case '*':
			st.resp3 = false
		}
	case kindReset:
		if info.Type == '+' {
			*st = pumpState{}
		}
	case kindMonitor:
		if info.Type == '+' {
			st.monitoring = true
		}
	case kindSubscribe, kindUnsubscribe, kindPSubscribe, kindPUnsubscribe, kindSSubscribe, kindSUnsubscribe:
		if info.Type == '-' {
			return true // the command failed as a whole
		}
		if sl.n == 0 { // UNSUBSCRIBE with no arguments: one confirmation per subscription, at least one
			switch sl.kind {
			case kindUnsubscribe:
				sl.n = max(1, st.channels)
			case kindPUnsubscribe:
				sl.n = max(1, st.patterns)
			default:
				sl.n = max(1, st.shards)
			}
		}
		st.confirmed(info)
		sl.n--
		return sl.n <= 0
	}
	return true
}

// confirmed updates the subscription counts from a confirmation ["subscribe", channel, count]. Redis's
// count is channels+patterns for (un)subscribe and (un)psubscribe, and shard channels for the shard kind.
func (st *pumpState) confirmed(info *resp.ReplyInfo) {
	n, ok := atoi(info.HeadString(2))
	if !ok {
		return
	}
	switch info.HeadString(0) {
	case "subscribe", "unsubscribe":
		st.channels = max(0, n-st.patterns)
	case "psubscribe", "punsubscribe":
		st.patterns = max(0, n-st.channels)
	case "ssubscribe", "sunsubscribe":
		st.shards = n
	}
}

// subscriptionKind maps a confirmation or command name to its reply kind; kindOne for anything else.
func subscriptionKind(name string) replyKind {
	switch name {
	case "subscribe":
		return kindSubscribe
	case "unsubscribe":
		return kindUnsubscribe
	case "psubscribe":
		return kindPSubscribe
	case "punsubscribe":
		return kindPUnsubscribe
	case "ssubscribe":
		return kindSSubscribe
	case "sunsubscribe":
		return kindSUnsubscribe
	}
	return kindOne
}
