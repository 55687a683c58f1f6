package gateway

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/resp"
)

// ACL LOG entries of denials inside scripts (issue 18, item 1). A restricted user's scripts run on the
// backend as its identity (identity.go), so a key or command a script touches is refused by the
// backend, which writes the ACL LOG entry (context "lua", username the identity's name). moat mirrors
// those entries into its own ACL LOG, with the user's name and the client's CLIENT LIST line:
//
//   - when a script or function command on a connection running as an identity gets an error reply,
//     and at EXEC of a transaction holding one there, the pump reads the backend's ACL LOG (the entries
//     of this instance's identities, context lua) on a connection of its own as moat's login, and adds
//     to moat's log one entry per occurrence new since the last read (the backend groups entries as
//     Redis does: what is new is the growth of each (reason, object, identity)'s count), before the
//     client gets the reply: an ACL LOG sent after it, on any connection, shows the entry;
//   - the backend's log as it stands when the identities are first written is the starting point;
//   - a connection the backend closed since the last read (ACL LOAD, CLIENT KILL, timeout, restart) is
//     found dead by the read, which is made again once on a new one;
//   - entries the backend's log lost since the last read (ACL LOG RESET there, a restart, trimming)
//     show as a count that grew less than the number of that denial's entries updated since the last
//     read, each at least one new occurrence: those entries' counts are then new whole. An entry was
//     updated since the last read when its age-seconds is less than the time since then on the
//     backend's clock, which TIME, sent with ACL LOG, gives (to the millisecond, age-seconds'
//     resolution; without TIME's reply, as when the backend refuses it, nothing is found lost).
//
// Limits: a denial a script catches (pcall) and that ends without an error is mirrored at the next read,
// with that read's client; two connections of one user whose scripts are refused at the same moment
// may each be named for the other's entry; the entries come after the moat entries of commands
// pipelined behind the script (moat logs its own refusals when it decides them, so that a client that
// hangs up cannot take them back), so Redis's grouping of neighbouring entries can count them
// differently. Redis 7.0's entries have no identity: when the backend's log lost entries and an entry
// updated since the last read had been there before it, its earlier occurrences are counted again;
// when it lost them and the denial's count still grew at least by its number of updated entries (a
// reset followed by more occurrences than it took), the lost ones are not made up for; entries updated
// within 2 ms of the last read are not told apart from older ones, and a step of the backend's clock
// can make entries look updated or not.

// scriptLog is an instance's mirror of its identities' ACL LOG entries on the backend. Safe for
// concurrent use.
type scriptLog struct {
	mu     sync.Mutex
	conn   net.Conn
	br     *bufio.Reader
	seen   map[scriptDenial]int // the backend's count per denial at the last read
	readAt int64                // the backend's clock at the last read, in ms (0: unknown)
	primed bool
}

// scriptDenial is one kind of denial in the backend's ACL LOG.
type scriptDenial struct {
	reason, object, identity string
}

// opMirrorLua is the call of a script command's (or EXEC's) slot on an identity connection: after its
// reply, mirror the backend's new script denials (clientview.go's noteReply, copyExec).
const opMirrorLua clientOp = iota + 24

// scriptLogCommand reads the backend's ACL LOG, as long as Redis keeps it by default, and the backend's
// clock then.
var scriptLogCommand = []byte("*3\r\n$3\r\nACL\r\n$3\r\nLOG\r\n$3\r\n128\r\n*1\r\n$4\r\nTIME\r\n")

// primeScriptLog takes the backend's log as it stands as the starting point (once).
func (in *Instance) primeScriptLog() {
	l := &in.scriptLog
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primed {
		l.primed = in.readScriptLog(nil, 0) == nil
	}
}

// mirrorScriptDenials adds to moat's ACL LOG the script denials the backend logged since the last read,
// as s's: running EXEC of a transaction of exec commands (0: not), whose scripts were refused there.
func (s *session) mirrorScriptDenials(exec int) {
	l := &s.in.scriptLog
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := s.in.readScriptLog(s, exec); err != nil {
		s.in.log.Warn("script denials not mirrored into ACL LOG: the backend's ACL LOG could not be read", "client", s.peer, "err", err)
	}
}

// readScriptLog reads the backend's ACL LOG and, for s (nil: only note the counts) running EXEC of exec
// commands (0: not), adds the new occurrences of this instance's identities' script denials to moat's
// log, with s's CLIENT LIST line as Redis writes it then. l.mu held.
func (in *Instance) readScriptLog(s *session, exec int) error {
	l := &in.scriptLog
	v, at, err := l.query(in)
	if err != nil {
		return err
	}
	// An entry's age is the time between its last update (u) and ACL LOG's run, in whole ms of the
	// backend's clock; TIME, run right after ACL LOG, read at ms: u is at least at - age - 1 ms. The last
	// read ran before l.readAt + 1 ms. So an entry is surely updated since then when age < since.
	since := int64(-1)
	if at > 0 && l.readAt > 0 {
		since = at - l.readAt - 1
	}
	l.readAt = at
	prefix := backend.IdentityName(in.id, "")
	counts := map[scriptDenial]int{}
	updated := map[scriptDenial]scriptUpdates{}
	for _, e := range v.Elems {
		f := logFields(e)
		if f["context"].Str != string(acl.ContextLua) || !strings.HasPrefix(f["username"].Str, prefix) {
			continue
		}
		d := scriptDenial{reason: f["reason"].Str, object: f["object"].Str, identity: f["username"].Str}
		n := int(f["count"].Int)
		counts[d] += n
		if age, err := strconv.ParseFloat(f["age-seconds"].Str, 64); err == nil && age >= 0 && int64(math.Round(age*1000)) < since {
			u := updated[d]
			u.entries++
			u.count += n
			updated[d] = u
		}
	}
	now := time.Now()
	var info string
	switch {
	case s != nil && exec > 0:
		info = string(s.describeInExec(nil, now, exec, bufferFigures{}))
	case s != nil:
		info = string(s.describe(nil, now))
	}
	for d, n := range counts {
		k := n - l.seen[d]
		if u := updated[d]; k < u.entries { // entries of d were lost: the updated ones are new
			k = u.count
		}
		for ; s != nil && k > 0; k-- {
			name, err := hex.DecodeString(strings.TrimPrefix(d.identity, prefix))
			if err != nil {
				break
			}
			in.aclLog.Add(acl.LogEntry{Count: 1, Reason: acl.LogReason(d.reason), Context: acl.ContextLua, Object: d.object,
				Username: string(name), ClientInfo: info, Time: now})
			in.m.aclDenied.Inc()
		}
	}
	l.seen = counts
	return nil
}

// scriptUpdates are a denial's entries updated since the last read: how many, and their counts' sum.
type scriptUpdates struct {
	entries, count int
}

// query sends ACL LOG and TIME on the mirror's connection (dialled as moat's login when there is none)
// and returns the log and the backend's clock in ms (0 when TIME was refused). A connection kept from an
// earlier read that fails (the backend closed it meanwhile) is replaced, and the commands sent again on
// the new one, once.
func (l *scriptLog) query(in *Instance) (log acl.Value, at int64, err error) {
	kept := l.conn != nil
	log, at, err = l.queryOnce(in)
	if err != nil && kept && !errors.Is(err, resp.ErrReply) {
		log, at, err = l.queryOnce(in)
	}
	return log, at, err
}

// queryOnce is one attempt of query; the connection is closed when it fails.
func (l *scriptLog) queryOnce(in *Instance) (log acl.Value, at int64, err error) {
	if l.conn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), in.dialTimeout)
		c, err := in.backend.Dial(ctx)
		cancel()
		if err != nil {
			return acl.Value{}, 0, err
		}
		l.conn, l.br = c, bufio.NewReader(c)
	}
	defer func() {
		if err != nil && !errors.Is(err, resp.ErrReply) {
			l.conn.Close()
			l.conn = nil
		}
	}()
	l.conn.SetDeadline(time.Now().Add(in.dialTimeout))
	if _, err := l.conn.Write(scriptLogCommand); err != nil {
		return acl.Value{}, 0, err
	}
	log, err = acl.ReadValue(l.br)
	if err != nil {
		return acl.Value{}, 0, err
	}
	clock, err := acl.ReadValue(l.br)
	if err != nil {
		return acl.Value{}, 0, err
	}
	if log.Kind != acl.KindArray {
		return acl.Value{}, 0, resp.ErrReply
	}
	return log, backendClock(clock), nil
}

// backendClock is TIME's reply in ms, 0 when it is not one.
func backendClock(v acl.Value) int64 {
	if v.Kind != acl.KindArray || len(v.Elems) != 2 {
		return 0
	}
	sec, err1 := strconv.ParseInt(v.Elems[0].Str, 10, 64)
	usec, err2 := strconv.ParseInt(v.Elems[1].Str, 10, 64)
	if err1 != nil || err2 != nil || sec <= 0 {
		return 0
	}
	return sec*1000 + usec/1000
}

// close ends the mirror's connection.
func (l *scriptLog) close() {
	l.mu.Lock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	l.mu.Unlock()
}

// logFields maps an ACL LOG entry's field names to their values.
func logFields(e acl.Value) map[string]acl.Value {
	f := map[string]acl.Value{}
	for i := 0; i+1 < len(e.Elems); i += 2 {
		f[e.Elems[i].Str] = e.Elems[i+1]
	}
	return f
}
