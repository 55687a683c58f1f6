package gateway

import (
	"bytes"
	"strconv"

	"github.com/moat-dev/moat/internal/resp"
)

// INFO is the backend's, but for what only moat knows: in its Clients section, connected_clients is the
// number of moat's clients of the instance (its sessions, those still reading a PROXY header included,
// as maxclients counts them: admit.go), not the backend's count of moat's lanes; maxclients is the
// instance's (configcmd.go). An INFO whose sections hold the Clients section (none named, or
// "default", "all", "everything", "clients", in any case: Redis 7.0.15's genInfoSectionDict) has the
// reply kind kindInfo, and its reply — a bulk string, or RESP3's verbatim string — is rewritten by the
// pump that writes it (infoReply), on a shared lane as on a dedicated one; other INFOs pass untouched.
//
// What stays the backend's, and why: blocked_clients, tracking_clients and clients_in_timeout_table
// count connections that block or track, and a client of moat that does either holds a backend
// connection of its own, so the backend's counts are moat's clients' (with the backend's other clients,
// which Redis would count too); client_recent_max_input_buffer and _output_buffer are the backend's
// connections' buffers (moat's lanes'), which moat does not measure per client; cluster_connections is
// the backend's. The rest of INFO (total_connections_received, rejected_connections, commandstats …)
// is the backend's view too. Inside MULTI, INFO's reply in EXEC's array is not rewritten, nor INFO run
// by a script.

// infoClients reports whether INFO with these section arguments answers the Clients section.
func infoClients(sections [][]byte) bool {
	if len(sections) == 0 {
		return true
	}
	for _, s := range sections {
		for _, name := range [...]string{"clients", "default", "all", "everything"} {
			if bytes.EqualFold(s, []byte(name)) {
				return true
			}
		}
	}
	return false
}

// decideInfo gives an INFO that answers the Clients section the reply kind kindInfo, outside MULTI.
func (st *decideState) decideInfo(c *resp.Command, d *decision) bool {
	if !st.multi && !c.More && infoClients(c.Args[1:]) {
		d.sl.kind = kindInfo
	}
	return false
}

// infoReply is INFO's reply with the Clients section's connected_clients and maxclients moat's. A
// reply that is not a whole bulk or verbatim string, or has no Clients section, is returned as it is.
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
	at := bytes.Index(body, []byte("# Clients\r\n"))
	if at < 0 {
		return reply
	}
	section := body[at:]
	if end := bytes.Index(section, []byte("\r\n\r\n")); end >= 0 {
		section = section[:end+2]
	}
	connected := strconv.Itoa(s.in.connectedClients())
	maxClients := moatConfigValue(s.in.snap.Load(), "maxclients")
	text := make([]byte, 0, len(body)+16)
	text = append(text, body[:at]...)
	for line := range bytes.SplitSeq(section, crlf) {
		switch {
		case len(line) == 0:
			continue
		case bytes.HasPrefix(line, []byte("connected_clients:")):
			line = append([]byte("connected_clients:"), connected...)
		case bytes.HasPrefix(line, []byte("maxclients:")):
			line = append([]byte("maxclients:"), maxClients...)
		}
		text = append(append(text, line...), crlf...)
	}
	text = append(text, body[at+len(section):]...)
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
