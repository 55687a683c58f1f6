package gateway

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// CLIENT LIST, CLIENT INFO, CLIENT ID and CLIENT KILL are answered by moat with moat's view of the
// instance's connections: the real client address (the one a trusted PROXY header carries), moat's
// connection IDs, the instance. Their replies are built in the pump when their slot reaches the head,
// so that they see the connection as Redis would at that point (protocol, name, database) and KILL acts
// in order with the commands around it. Outside MULTI, CLIENT ID goes to the backend, which gives the
// client a backend connection of its own, and its reply becomes moat's ID (clientid.go). CLIENT UNBLOCK
// and CLIENT TRACKING … REDIRECT take client IDs too: they go to the backend with moat's IDs translated
// to the backend's (clientid.go).

type clientOp uint8

const (
	opList clientOp = iota + 1
	opInfo
	opID
	opKill
	opSetName // not answered by moat: records CLIENT SETNAME / HELLO SETNAME once the backend accepts it
)

// Client types, as CLIENT LIST TYPE and CLIENT KILL TYPE name them. moat's clients are normal or
// pubsub; no connection is a master or a replica.
const (
	typeAny int8 = iota - 1
	typeNormal
	typeReplica
	typePubSub
	typeMaster
)

// clientCall is a CLIENT subcommand moat answers (or a name to record), parsed by the reader and run
// by the pump.
type clientCall struct {
	op     clientOp
	silent bool   // CLIENT REPLY OFF|SKIP: act, but write nothing
	name   string // opSetName

	typ  int8    // LIST TYPE; KILL TYPE
	exec int     // run inside EXEC of a transaction of exec commands (0: not): how the caller's line shows
	ids  []int64 // LIST ID …; nil: every client

	// KILL filters.
	old            bool // CLIENT KILL ip:port: +OK or -ERR No such client, and it may kill the caller
	addr, laddr    string
	hasAddr, hasLA bool
	id             int64
	user           string
	hasUser        bool
	skipMe         bool

	figs bufferFigures // LIST, INFO: the caller's buffers (clientview.go)

	acl    *aclCall // ACL GETUSER, ACL LOG (aclcmd.go)
	config []string // CONFIG GET of moat's parameters: name, value, … (configcmd.go)

	// stat: the entry whose statistics count the call when it runs (stats.go); nil: not counted.
	stat *command
}

// runCounted runs k (run) and counts it in the instance's statistics when it is a command moat
// answers (stat). Pump goroutine.
func (k *clientCall) runCounted(s *session, resp3 bool) (reply []byte, closeSelf bool) {
	if k.stat == nil {
		return k.run(s, resp3)
	}
	began := time.Now()
	reply, closeSelf = k.run(s, resp3) // nil when silent: not counted as an error
	s.in.noteCall(k.stat, time.Since(began), reply)
	return reply, closeSelf
}

// clientArity is Redis's arity error for a CLIENT subcommand moat owns (LIST, INFO, ID, KILL), or nil.
// Inside MULTI it is the only check made when the command is queued, as in Redis.
func clientArity(c *resp.Command, sub string) []byte {
	n := len(c.Args)
	switch sub {
	case "id", "info":
		if n != 2 {
			return wrongArity("client|" + sub)
		}
	case "kill":
		if n < 3 {
			return wrongArity("client|kill")
		}
	}
	return nil
}

// client parses a CLIENT subcommand moat owns (LIST, INFO, ID, KILL), whose arity clientArity accepted,
// into a call; or the slot is an error (local). Inside MULTI it runs at EXEC (queueAtExec, txExec).
func (st *decideState) client(c *resp.Command, sub string) slot {
	n := len(c.Args)
	call := &clientCall{typ: typeAny}
	switch sub {
	case "id":
		call.op = opID
	case "info":
		call.op, call.figs = opInfo, st.readFigures(c)
	case "list":
		call.op, call.figs = opList, st.readFigures(c)
		switch {
		case n == 2:
		case n == 4 && strings.EqualFold(string(c.Args[2]), "type"):
			t, ok := clientType(c.Args[3])
			if !ok {
				return slot{local: replyClientType(string(c.Args[3]))}
			}
			call.typ = t
		case n > 3 && strings.EqualFold(string(c.Args[2]), "id"):
			call.ids = make([]int64, 0, n-3)
			for _, a := range c.Args[3:] {
				id, err := strconv.ParseInt(string(a), 10, 64)
				if err != nil || !strictInt(a) {
					return slot{local: replyInvalidClientID}
				}
				call.ids = append(call.ids, id)
			}
		default:
			return slot{local: replySyntaxError}
		}
	case "kill":
		call.op = opKill
		known := func(name string) bool { return st.auth.users.Get(name) != nil }
		if l, ok := call.parseKill(c.Args, known); !ok {
			return slot{local: l}
		}
	}
	return slot{call: call}
}

// parseKill reads CLIENT KILL's filters; on a bad one it returns Redis's error reply. known tells
// whether a user exists.
func (k *clientCall) parseKill(args [][]byte, known func(string) bool) ([]byte, bool) {
	if len(args) == 3 { // old form: CLIENT KILL addr
		k.old, k.addr, k.hasAddr = true, string(args[2]), true
		return nil, true
	}
	k.skipMe = true
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return replySyntaxError, false
		}
		v := args[i+1]
		switch strings.ToLower(string(args[i])) {
		case "id":
			id, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || id < 1 || !strictInt(v) {
				return replyClientIDRange, false
			}
			k.id = id
		case "type":
			t, ok := clientType(v)
			if !ok {
				return replyClientType(string(v)), false
			}
			k.typ = t
		case "addr":
			k.addr, k.hasAddr = string(v), true
		case "laddr":
			k.laddr, k.hasLA = string(v), true
		case "user":
			if !known(string(v)) {
				return replyNoSuchUser(string(v)), false
			}
			k.user, k.hasUser = string(v), true
		case "skipme":
			switch strings.ToLower(string(v)) {
			case "yes":
				k.skipMe = true
			case "no":
				k.skipMe = false
			default:
				return replySyntaxError, false
			}
		default:
			return replySyntaxError, false
		}
	}
	return nil, true
}

// strictInt accepts what Redis's string2ll does: an optional '-', digits, no leading zero (but "0").
func strictInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func clientType(b []byte) (int8, bool) {
	switch strings.ToLower(string(b)) {
	case "normal":
		return typeNormal, true
	case "slave", "replica":
		return typeReplica, true
	case "pubsub":
		return typePubSub, true
	case "master":
		return typeMaster, true
	}
	return 0, false
}

// run executes a call for session s at its turn and returns the reply (nil when silent) and whether
// s itself must close once the reply is written.
func (k *clientCall) run(s *session, resp3 bool) (reply []byte, closeSelf bool) {
	var out []byte
	switch k.op {
	case opACLGetUser, opACLLog:
		out = k.runACL(s, resp3)
	case opConfigGet:
		out = k.runConfigGet(resp3)
	case opID:
		out = resp.AppendInt(nil, s.client.id)
	case opInfo:
		out = verbatim(resp3, k.line(nil, s, s, time.Now()), '\n')
	case opList:
		now := time.Now()
		var text []byte
		if k.ids != nil {
			for _, id := range k.ids {
				if ss := s.in.client(id); ss != nil {
					text = append(k.line(text, ss, s, now), '\n')
				}
			}
		} else {
			for _, ss := range s.in.clients() {
				if k.typ == typeAny || ss.clientType() == k.typ {
					text = append(k.line(text, ss, s, now), '\n')
				}
			}
		}
		out = verbatim(resp3, text, 0)
	case opKill:
		killed := 0
		for _, ss := range s.in.clients() {
			if !k.matches(ss, s) {
				continue
			}
			if ss == s {
				closeSelf = true
			} else {
				s.in.log.Info("closing connection: CLIENT KILL", "client", ss.peer, "by", s.peer)
				ss.close()
			}
			killed++
		}
		switch {
		case !k.old:
			out = resp.AppendInt(nil, int64(killed))
		case killed == 0:
			out = replyNoSuchClient
		default:
			out = replyOK
		}
	}
	if k.silent {
		out = nil
	}
	return out, closeSelf
}

// line appends ss's CLIENT LIST line, as caller (the connection running k) sees it: with k's figures of
// the caller's buffers on the caller's own line.
func (k *clientCall) line(b []byte, ss, caller *session, now time.Time) []byte {
	switch {
	case ss == caller && k.exec > 0:
		return ss.describeInExec(b, now, k.exec, k.figs)
	case ss == caller:
		return ss.describeView(b, now, ss.snapshotView(), k.figs)
	}
	return ss.describe(b, now)
}

func (k *clientCall) matches(ss, self *session) bool {
	switch {
	case k.hasAddr && ss.addrString() != k.addr,
		k.hasLA && ss.laddrString() != k.laddr,
		k.typ != typeAny && ss.clientType() != k.typ,
		k.id != 0 && ss.client.id != k.id,
		k.hasUser && ss.user() != k.user,
		ss == self && k.skipMe:
		return false
	}
	return true
}

// verbatim encodes text as CLIENT LIST does: a verbatim string ("txt") in RESP3, a bulk string in
// RESP2. A non-zero end byte is appended to text first.
func verbatim(resp3 bool, text []byte, end byte) []byte {
	if end != 0 {
		text = append(text, end)
	}
	var out []byte
	if resp3 {
		out = append(out, '=')
		out = strconv.AppendInt(out, int64(len(text)+4), 10)
		out = append(out, "\r\ntxt:"...)
	} else {
		out = append(out, '$')
		out = strconv.AppendInt(out, int64(len(text)), 10)
		out = append(out, '\r', '\n')
	}
	out = append(out, text...)
	return append(out, '\r', '\n')
}

// clients returns the instance's open connections ordered by ID. A connection being closed (killed,
// revoked) is gone, as Redis frees a killed client at once.
func (in *Instance) clients() []*session {
	in.mu.Lock()
	out := make([]*session, 0, len(in.sessions))
	for ss := range in.sessions {
		if !ss.closing() {
			out = append(out, ss)
		}
	}
	in.mu.Unlock()
	slices.SortFunc(out, func(a, b *session) int {
		switch {
		case a.client.id < b.client.id:
			return -1
		case a.client.id > b.client.id:
			return 1
		}
		return 0
	})
	return out
}

// client returns the connection with this ID, or nil.
func (in *Instance) client(id int64) *session {
	in.mu.Lock()
	defer in.mu.Unlock()
	for ss := range in.sessions {
		if ss.client.id == id && !ss.closing() {
			return ss
		}
	}
	return nil
}

// ClientInfo is one connection as moat sees it: what CLIENT LIST shows.
type ClientInfo struct {
	ID    int64
	Addr  netip.AddrPort // the client's address (from the PROXY header when one was read)
	Local string         // the moat listener address it connected to
	TLS   bool
	Name  string
	User  string
	Age   time.Duration
}

// Clients returns the instance's connections, ordered by ID.
func (in *Instance) Clients() []ClientInfo {
	var out []ClientInfo
	now := time.Now()
	for _, ss := range in.clients() {
		v := ss.snapshotView()
		out = append(out, ClientInfo{ID: ss.client.id, Addr: ss.addrPort(), Local: ss.laddrString(), TLS: ss.client.secure,
			Name: v.name, User: ss.user(), Age: now.Sub(ss.client.created)})
	}
	return out
}
