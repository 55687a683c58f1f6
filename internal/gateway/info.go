package gateway

import (
	"bytes"
	"strconv"

	"github.com/moat-dev/moat/internal/resp"
)

// INFO is the backend's, but for what only moat knows: the statistics of the commands moat answers
// itself (stats.go, infostats.go), and in its Clients section, connected_clients is the number of
// moat's clients of the instance (its sessions, those still reading a PROXY header included, as
// maxclients counts them: admit.go), not the backend's count of moat's lanes; maxclients is the
// instance's (configcmd.go). An INFO whose sections hold one of those sections (none named, or
// "default", "all", "everything", "clients", "stats", "errorstats", "commandstats", "latencystats",
// in any case: Redis 7.0.15's genInfoSectionDict) has the reply kind kindInfo, and its reply — a bulk
// string, or RESP3's verbatim string — is rewritten by the pump that writes it (infoReply), on a
// shared lane as on a dedicated one; other INFOs pass untouched.
//
// What stays the backend's, and why: blocked_clients, tracking_clients and clients_in_timeout_table
// count connections that block or track, and a client of moat that does either holds a backend
// connection of its own, so the backend's counts are moat's clients' (with the backend's other clients,
// which Redis would count too); client_recent_max_input_buffer and _output_buffer are the backend's
// connections' buffers (moat's lanes'), which moat does not measure per client; cluster_connections is
// the backend's. The rest of INFO (total_connections_received, rejected_connections …) is the
// backend's view too. Inside MULTI, INFO's reply in EXEC's array is not rewritten, nor INFO run
// by a script.

// infoSections are the INFO section arguments (lower case) whose reply holds a section moat rewrites:
// Clients, Stats, Errorstats (default), Commandstats and Latencystats (all), Redis 7.0.15's
// genInfoSectionDict.
var infoSections = [...]string{"default", "all", "everything", "clients", "stats", "errorstats", "commandstats", "latencystats"}

// infoRewritten reports whether INFO with these section arguments answers a section moat rewrites.
func infoRewritten(sections [][]byte) bool {
	if len(sections) == 0 {
		return true
	}
	for _, s := range sections {
		for _, name := range infoSections {
			if bytes.EqualFold(s, []byte(name)) {
				return true
			}
		}
	}
	return false
}

// decideInfo gives an INFO that answers a section moat rewrites the reply kind kindInfo, outside MULTI.
func (st *decideState) decideInfo(c *resp.Command, d *decision) bool {
	if !st.multi && !c.More && infoRewritten(c.Args[1:]) {
		d.sl.kind = kindInfo
	}
	return false
}

// rewriteWhole is the reply of a slot whose reply the pump rewrites whole (rewrittenWhole).
func (s *session) rewriteWhole(sl *slot, reply []byte) []byte {
	if sl.kind == kindLatency {
		return s.latencyReply(reply, sl.names)
	}
	return s.infoReply(reply)
}

// infoReply is INFO's reply with moat's figures in it: the Clients section's connected_clients and
// maxclients, and the statistics of the commands moat answers (infostats.go). A reply that is not a
// whole bulk or verbatim string is returned as it is.
func (s *session) infoReply(reply []byte) []byte {
	if len(reply) == 0 || (reply[0] != '$' && reply[0] != '=') {
		return reply
	}
	i := bytes.Index(reply, crlf)
	n, err := strconv.Atoi(string(reply[1:max(i, 1)]))
	if i < 0 || err != nil || n < 0 || len(reply) != i+2+n+2 {
		return reply
	}
	body := reply[i+2 : i+2+n]
	var format []byte // RESP3's verbatim format, "txt:"
	if reply[0] == '=' && len(body) >= 4 {
		format, body = body[:4], body[4:]
	}
	text := s.infoEditor().edit(append([]byte(nil), format...), body)
	out := make([]byte, 0, len(text)+16)
	out = strconv.AppendInt(append(out, reply[0]), int64(len(text)), 10)
	out = append(out, crlf...)
	out = append(out, text...)
	return append(out, crlf...)
}

// connectedClients is the number of the instance's client connections: its sessions and those still
// reading a PROXY header, as maxclients counts them (admit).
func (in *Instance) connectedClients() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.sessions) + len(in.accept.pending)
}
