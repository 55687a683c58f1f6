package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// Client IDs that mean one thing (issue 18 item 3). A client only ever sees moat's connection IDs
// (CLIENT LIST, INFO, KILL are moat's: clientcmd.go; CLIENT ID's reply is turned into moat's). The two
// commands that name another client for the backend to act on — CLIENT UNBLOCK id and CLIENT TRACKING … REDIRECT id — are forwarded with
// the ID translated to the backend's ID of that client's own backend connection:
//
//   - a client with its own backend connection (it moved to a dedicated lane: blocking commands,
//     pub/sub, …) is looked up once in the backend's CLIENT LIST by the local address of that
//     connection, on a connection of its own (one round trip, only for these two commands), and the ID
//     is kept with the session; behind a Unix socket, where every connection has the same address,
//     the connection was asked its ID with CLIENT ID when it was opened (askBackendID);
//   - CLIENT ID gives its client a backend connection of its own (it is forwarded: decideClientID, and
//     its reply tells the backend's ID at once): a client that learns its ID to hand it to another as a
//     redirect target, as client-side caching does, is on a dedicated lane by then and can receive
//     what Redis sends a redirect target (RESP3 invalidate pushes; __redis__:invalidate messages once
//     subscribed under RESP2);
//   - a client without one (on a shared lane: it never asked CLIENT ID, nor blocked or subscribed — it
//     learnt its ID from HELLO or CLIENT LIST), an unknown ID, or a backend that cannot tell gives the
//     ID 0, which no Redis client has: CLIENT UNBLOCK then answers 0 (not blocked) and REDIRECT
//     Redis's "The client ID you want redirect to does not exist".
//
// Every other argument, and the order Redis checks them in, is left to the backend. The replies that
// name a redirect target — CLIENT GETREDIR and the redirect of CLIENT TRACKINGINFO (kindMoatIDs), and
// the tracking-redir-broken push (redirBroken) — are given back with moat's ID of the target this
// session named, even once the target is gone.

// translateClientIDs rewrites the client IDs of CLIENT UNBLOCK or CLIENT TRACKING (sub, lower case) in
// c to the backend's, and reports whether it did (the command is then forwarded as actReplace). An
// argument that is not a strict integer is left for the backend to refuse.
func (st *decideState) translateClientIDs(c *resp.Command, sub string) bool {
	if c.More {
		return false
	}
	var at []int // the arguments holding client IDs
	switch sub {
	case "unblock":
		if n := len(c.Args); n == 3 || n == 4 {
			at = append(at, 2)
		}
	case "tracking":
		// Redis's parser: ON|OFF, then options; PREFIX and REDIRECT take a value.
		for j := 3; j+1 < len(c.Args); j++ {
			var b [16]byte
			switch lower(c.Args, j, &b) {
			case "redirect":
				at = append(at, j+1)
				j++
			case "prefix":
				j++
			}
		}
	}
	args := make([][]byte, len(c.Args))
	copy(args, c.Args)
	args[0] = []byte("CLIENT") // the backend gets original names (rename-command, N4)
	changed := false
	for _, i := range at {
		if !strictInt(args[i]) {
			continue
		}
		id, err := strconv.ParseInt(string(args[i]), 10, 64)
		if err != nil {
			continue
		}
		var backendID int64
		if ss := st.sess.in.client(id); ss != nil {
			backendID = st.sess.in.backendIDOf(ss)
		}
		if sub == "tracking" && backendID > 0 {
			st.sess.noteRedirect(idPair{backend: backendID, moat: id})
		}
		args[i] = strconv.AppendInt(nil, backendID, 10)
		changed = true
	}
	if !changed {
		return false
	}
	start := len(st.scratch)
	st.scratch = resp.AppendArray(st.scratch, len(args))
	for _, a := range args {
		st.scratch = resp.AppendBulk(st.scratch, a)
	}
	c.Raw = st.scratch[start:len(st.scratch):len(st.scratch)]
	return true
}

// backendIDOf returns the backend's ID of ss's own backend connection; 0 when it has none or the
// backend cannot tell which it is (see above). The first lookup asks the backend; the answer is kept.
func (in *Instance) backendIDOf(ss *session) int64 {
	if id := ss.beID.Load(); id != 0 {
		return max(id, 0)
	}
	ss.mu.Lock()
	be := ss.be
	ss.mu.Unlock()
	if be == nil || be.LocalAddr().Network() != "tcp" {
		return 0
	}
	id, ok := in.lookupBackendID(be.LocalAddr().String())
	if !ok {
		return 0
	}
	ss.beID.Store(id)
	return max(id, 0)
}

// clientListCmd is CLIENT LIST, asked on a connection of moat's own.
var clientListCmd = []byte("*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n")

// maxClientList bounds the CLIENT LIST reply read (a line is about 300 bytes).
const maxClientList = 64 << 20

// lookupBackendID finds the ID of the backend's client whose address is addr (moat's end of one of its
// backend connections) in the backend's CLIENT LIST. ok is false when the backend could not be asked;
// an address it does not list is -1 (kept: the connection is gone or never was one of its clients).
func (in *Instance) lookupBackendID(addr string) (id int64, ok bool) {
	c, err := in.dialBackend()
	if err != nil {
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(in.dialTimeout))
	if _, err := c.Write(clientListCmd); err != nil {
		return 0, false
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 || n > maxClientList {
		return 0, false
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, false
	}
	want := []byte(" addr=" + addr + " ")
	for _, line := range bytes.Split(body[:n], []byte("\n")) {
		if !bytes.Contains(line, want) || !bytes.HasPrefix(line, []byte("id=")) {
			continue
		}
		field, _, _ := bytes.Cut(line[3:], []byte(" "))
		if v, err := strconv.ParseInt(string(field), 10, 64); err == nil {
			return v, true
		}
	}
	return -1, true
}

// idPair is one client's backend and moat IDs.
type idPair struct{ backend, moat int64 }

// maxRedirects bounds the redirect targets a session remembers (the latest are kept).
const maxRedirects = 8

// noteRedirect remembers a redirect target the session named (reader goroutine).
func (s *session) noteRedirect(p idPair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.redirs {
		if q == p {
			return
		}
	}
	if len(s.redirs) == maxRedirects {
		s.redirs = s.redirs[1:]
	}
	s.redirs = append(s.redirs, p)
	s.redirected.Store(true)
}

// redirBroken returns a push (frame, as info read it) with moat's ID of the redirect target in place of
// the backend's when it is a tracking-redir-broken push; any other push as it is. Pump goroutine.
func (s *session) redirBroken(frame []byte, info *resp.ReplyInfo) []byte {
	if info.HeadString(0) != "tracking-redir-broken" {
		return frame
	}
	s.mu.Lock()
	pairs := slices.Clone(s.redirs)
	s.mu.Unlock()
	for _, p := range pairs {
		old := slices.Concat([]byte(":"), strconv.AppendInt(nil, p.backend, 10), crlf)
		if bytes.HasSuffix(frame, old) {
			return slices.Concat(frame[:len(frame)-len(old)], []byte(":"), strconv.AppendInt(nil, p.moat, 10), crlf)
		}
	}
	return frame
}

// clientIDCmd is CLIENT ID, asked by moat on a connection behind a Unix socket.
var clientIDCmd = []byte("*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")

// askBackendID asks the backend for the ID of the session's new dedicated connection be when it is
// behind a Unix socket, where the CLIENT LIST lookup cannot tell connections apart (they all have the
// socket's address). CLIENT ID goes ahead of the session's commands and the pump keeps its reply
// (kindBackendID, noteBackendID); the client never sees it. Reader goroutine, before anything else is
// written to be. False: the write failed (the session ends).
func (s *session) askBackendID(be net.Conn) bool {
	if be.LocalAddr().Network() != "unix" {
		return true
	}
	s.enqueue([]slot{{kind: kindBackendID}}) // before the command can reach the backend
	be.SetWriteDeadline(time.Now().Add(s.in.dialTimeout))
	_, err := be.Write(clientIDCmd)
	be.SetWriteDeadline(time.Time{})
	if err != nil {
		s.backendLost(err)
		return false
	}
	return true
}

// noteBackendID keeps the backend's ID from its reply to askBackendID's CLIENT ID (an error leaves the
// session without one: absent, as above). Pump goroutine.
func (s *session) noteBackendID(reply []byte) {
	if len(reply) < 4 || reply[0] != ':' {
		return
	}
	if id, err := strconv.ParseInt(string(reply[1:len(reply)-2]), 10, 64); err == nil && id > 0 {
		s.beID.Store(id)
	}
}

// toMoatIDs returns a reply with the backend's client IDs in it turned into moat's: the reply of the
// client's CLIENT ID (kind kindClientID, kept as the session's backend ID) and the id of HELLO's reply
// (kind kindHello) become the session's; the reply of CLIENT GETREDIR (an integer) and the
// "redirect" entry of CLIENT TRACKINGINFO's become moat's ID of the redirect target the session named.
// It may modify reply in place. Pump goroutine.
func (s *session) toMoatIDs(reply []byte, kind replyKind) []byte {
	if kind == kindClientID {
		if len(reply) == 0 || reply[0] != ':' {
			return reply
		}
		s.noteBackendID(reply)
		return resp.AppendInt(nil, s.client.id)
	}
	if kind == kindHello {
		key := []byte("$2\r\nid\r\n:")
		at := bytes.Index(reply, key)
		if at < 0 {
			return reply
		}
		end := bytes.Index(reply[at+len(key):], crlf)
		if end < 0 {
			return reply
		}
		end += at + len(key)
		return slices.Concat(reply[:at+len(key)], strconv.AppendInt(nil, s.client.id, 10), reply[end:])
	}
	s.mu.Lock()
	pairs := slices.Clone(s.redirs)
	s.mu.Unlock()
	for _, p := range pairs {
		be := strconv.AppendInt(nil, p.backend, 10)
		mo := strconv.AppendInt(nil, p.moat, 10)
		if bytes.Equal(reply, slices.Concat([]byte(":"), be, crlf)) { // GETREDIR
			return slices.Concat([]byte(":"), mo, crlf)
		}
		key := []byte("$8\r\nredirect\r\n:")
		if old := slices.Concat(key, be, crlf); bytes.Contains(reply, old) { // TRACKINGINFO
			return bytes.Replace(reply, old, slices.Concat(key, mo, crlf), 1)
		}
	}
	return reply
}

var crlf = []byte("\r\n")

// nextByte is the first byte the reader holds or can read next (0 when it cannot).
func nextByte(br *bufio.Reader) byte {
	b, err := br.Peek(1)
	if err != nil {
		return 0
	}
	return b[0]
}
