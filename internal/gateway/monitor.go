package gateway

import (
	"bytes"
	"hash/maphash"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/moat-dev/moat/internal/resp"
)

// MONITOR through moat (issue 18 item 3): every line names the client that sent the command through
// moat, by the address CLIENT LIST shows (its peer address, or the one its PROXY header carried), as
// Redis names its own clients. The backend's MONITOR names the backend connection a command came on —
// moat's end of it — so the monitoring session's pump (pump.go) rewrites each line (monitorView.rewrite):
//
//   - a dedicated backend connection is one session's own: its lines get that session's address;
//   - a shared lane carries many sessions' commands, in the order of its FIFO. While at least one
//     session monitors (monitorState.n > 0), the lane records, for each command it is given (submit,
//     under the lane's lock, so before its bytes can reach the backend), the sender's address and a
//     fingerprint of the command's bytes in a ring of monitorRing records (laneRing). The backend shows a
//     lane's commands in the order it runs them, which is the order of the ring: each monitor keeps, per
//     lane, the sequence number of the next record its lines have not matched, and a line takes the first
//     record from there whose fingerprint is the line's (its arguments unquoted and encoded as moat sent
//     them; for a line whose arguments the backend redacted, as MIGRATE's AUTH, that of the argument count
//     and name alone). Records skipped are commands the backend showed no line for (refused, say, or run
//     before the monitor's MONITOR was). A monitor begins at the records made after it sent MONITOR
//     (session.monFrom), and again after each new MONITOR (RESET ends one);
//   - lines of moat's own work are dropped: AUTH (every AUTH the backend sees is moat's: its login,
//     the script guard's and identities' switches); the handshake lines of the connections moat dials —
//     SELECT <db> of a backend URL with a database (handshakeDB), HELLO 3 of a RESP3 one: on a shared
//     lane they match no record; on a connection that is neither a session's nor a lane (ready
//     connections not yet taken, lookups, identity writes) they are known by their shape; on a
//     connection dialled for a dedicated lane while a session monitored (noteDial), which a client may
//     own by the time its handshake's lines come, they are dropped as the first lines of it the monitor
//     sees. A shared lane's line that matches no record is dropped too. CLIENT LIST, CONFIG GET and the
//     ACL commands moat sends on connections of its own are admin commands, which Redis shows no monitor;
//   - "[<db> lua]" lines (what scripts call) are the backend's, as Redis shows them; a connection that is
//     neither a session's nor a lane (another client of the backend, not through this gateway) is shown
//     as the backend names it, but for moat's handshake lines.
//
// Commands moat answers itself never reach the backend and have no line. Behind a unix:// backend every
// connection has the socket's address: lines keep it, moat's handshake lines (HELLO 3, CLIENT ID) too.
// The cost while nobody monitors is one atomic load per shared-lane batch (BenchmarkRelaySingle). Known
// limits: a monitor that falls more than monitorRing commands of one lane behind finds records
// overwritten (a line then takes a later identical command's record, or none and is dropped); a command
// sent on a lane at the very moment MONITOR began may take the record of a later identical command of
// another client. The records go when a lane is given commands while nobody monitors.

// monitorRing is how many commands a shared lane remembers for its monitors (a power of two).
const monitorRing = 1 << 14

// monitorState is an instance's record of its monitoring sessions.
type monitorState struct {
	n    atomic.Int32 // sessions that sent MONITOR and are open: lanes record while > 0
	seed maphash.Seed // of the commands' fingerprints
	// owners counts the backend connections that became a session's own (owned): a monitor looks up
	// again an address it found nobody's only once this has changed.
	owners atomic.Uint64

	// selectDB is the database the backend's handshake selects ("": none; see handshakeDB).
	selectDB string

	mu sync.Mutex
	// dialled: moat's end of the connections for dedicated lanes dialled while a session monitored, and
	// the handshake lines a monitor may see of each. Emptied when the last monitor leaves.
	dialled map[string]handshake
}

// owned notes that a backend connection became a session's own (s.be set).
func (m *monitorState) owned() { m.owners.Add(1) }

// handshake is the lines of a backend connection's handshake that the backend's MONITOR shows, in
// their order.
type handshake uint8

const (
	hsSelect handshake = 1 << iota // SELECT <db>: a backend URL with a database
	hsHello                        // HELLO 3: a RESP3 connection
)

// handshakeDB is what a backend tells of the database its handshake selects (backend's upstream).
type handshakeDB interface{ HandshakeDB() int }

// noteDial notes a connection for a dedicated lane, dialled and (hello) turned to RESP3: while a session
// monitors, its handshake lines may be shown to it, and are to be dropped.
func (m *monitorState) noteDial(be net.Conn, hello bool) {
	if m.n.Load() == 0 {
		return
	}
	var hs handshake
	if m.selectDB != "" {
		hs |= hsSelect
	}
	if hello {
		hs |= hsHello
	}
	if hs == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dialled == nil {
		m.dialled = make(map[string]handshake)
	}
	m.dialled[be.LocalAddr().String()] = hs
}

// handshakeOf is the handshake lines a monitor may see of the connection with moat's end addr.
func (m *monitorState) handshakeOf(addr string) handshake {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dialled[addr]
}

// monStart is where each shared lane's records for one MONITOR of a session begin (a lane dialled
// after: at 0).
type monStart struct{ from map[*lane]uint64 }

// startMonitor makes the lanes record their commands for the session, which is about to send MONITOR
// (reader goroutine), and notes where each lane's records for it begin. A session that monitors again
// (after RESET) begins anew; it counts once in monitorState.n until it closes.
func (s *session) startMonitor() {
	if !s.monitorOn.Swap(true) {
		s.in.monitor.n.Add(1)
	}
	start := &monStart{from: make(map[*lane]uint64)}
	for _, l := range s.in.allLanes() {
		l.mu.Lock()
		start.from[l] = l.mon.next
		l.mu.Unlock()
	}
	s.monFrom.Store(start)
	if s.closing() { // close may have run before monitorOn was set
		s.stopMonitor()
	}
}

// stopMonitor undoes startMonitor when the session closes.
func (s *session) stopMonitor() {
	if !s.monitorOn.Swap(false) {
		return
	}
	m := &s.in.monitor
	if m.n.Add(-1) == 0 {
		m.mu.Lock()
		m.dialled = nil
		m.mu.Unlock()
	}
}

// allLanes returns the instance's shared lanes: those of both pools' slots and those draining.
func (in *Instance) allLanes() []*lane {
	var out []*lane
	for _, p := range in.lanes {
		if p == nil { // an instance that was never started (the decide tests')
			continue
		}
		for i := range p.slots {
			sl := &p.slots[i]
			sl.mu.Lock()
			if sl.l != nil {
				out = append(out, sl.l)
			}
			sl.mu.Unlock()
		}
		p.mu.Lock()
		for l := range p.draining {
			out = append(out, l)
		}
		p.mu.Unlock()
	}
	return out
}

// laneAt returns the shared lane whose backend connection has the local address addr, or nil.
func (in *Instance) laneAt(addr string) *lane {
	for _, l := range in.allLanes() {
		if l.be.LocalAddr().String() == addr {
			return l
		}
	}
	return nil
}

// laneRing is a shared lane's record of the commands it was given while a session monitored (see
// above). Guarded by the lane's mu; recs is allocated at the first record.
type laneRing struct {
	recs []laneRec
	next uint64 // the sequence number of the next record (its index is next % monitorRing)
}

// laneRec is one command given to a lane: who sent it, its fingerprint and that of its head (the
// argument count and the name), for a line whose arguments the backend redacted.
type laneRec struct {
	fp, head uint64
	addr     netip.AddrPort
}

// record notes the forwarded commands of one batch of s (lane.submit, under the lane's mu).
func (r *laneRing) record(seed maphash.Seed, s *session, cmds []resp.Command, acts []act) {
	if r.recs == nil {
		r.recs = make([]laneRec, monitorRing)
	}
	for i := range cmds {
		if acts[i] == actDrop {
			continue
		}
		raw := cmds[i].Raw
		r.recs[r.next%monitorRing] = laneRec{fp: maphash.Bytes(seed, raw), head: maphash.Bytes(seed, cmdHead(raw)), addr: s.client.addrPort}
		r.next++
	}
}

// cmdHead is the start of a command (an array of bulk strings, as the reader gives it) up to the end of
// its name; the command itself when it is not such.
func cmdHead(raw []byte) []byte {
	i := bytes.IndexByte(raw, '\n') // the end of "*<n>\r\n"
	if i < 0 || i+1 >= len(raw) || raw[i+1] != '$' {
		return raw
	}
	j := bytes.IndexByte(raw[i+1:], '\n') // the end of "$<len>\r\n", from i+1
	if j < 2 {
		return raw
	}
	n, err := strconv.Atoi(string(raw[i+2 : i+j]))
	if end := i + j + 2 + n + 2; err == nil && n >= 0 && end <= len(raw) {
		return raw[:end]
	}
	return raw
}

// attribute returns the address of the client whose command has the fingerprint fp (or, byHead, whose
// head has it): the first record from *next on that has it, and moves *next past it. ok is false when no
// record has it.
func (l *lane) attribute(fp uint64, byHead bool, next *uint64) (addr netip.AddrPort, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &l.mon
	if r.recs == nil {
		return netip.AddrPort{}, false
	}
	from := *next
	if r.next > monitorRing && from < r.next-monitorRing {
		from = r.next - monitorRing // overwritten
	}
	for q := from; q < r.next; q++ {
		if rec := &r.recs[q%monitorRing]; rec.fp == fp && !byHead || rec.head == fp && byHead {
			*next = q + 1
			return rec.addr, true
		}
	}
	return netip.AddrPort{}, false
}
