package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// keepAlive is the TCP keep-alive period of backend connections.
const keepAlive = 30 * time.Second

// receiveBuffer is the SO_RCVBUF of TCP backend connections, set before any byte arrives (Linux
// doubles it: 2 MiB of kernel buffer, about 1 MiB of advertised window). Left to autotuning, the
// buffer of a connection that moat reads fast grows to tcp_rmem's maximum (32 MiB here), and one write
// of a long reply by the backend — redis-server writes a whole value per call — then copies for as long
// as moat keeps reading or dropping, up to hundreds of MB and of ms, while its event loop serves no one
// else. With the cap each such write ends once a few MiB are in flight. The cost is throughput over
// long round trips: about 1 MiB per round trip per connection (1 GB/s at 1 ms).
const receiveBuffer = 1 << 20

// upstream is a RESP server reached over TCP, TLS or a unix socket.
type upstream struct {
	name    string // Spec.String(), password redacted
	network string // "tcp" or "unix"
	addr    string
	tls     *tls.Config // nil unless rediss
	hello   []byte      // AUTH and SELECT commands sent on every new connection, pipelined
	steps   []step      // one per command in hello, in order
	db      int         // the database hello selects (0: none)
	closed  atomic.Bool
	log     *slog.Logger
	// files are rediss's CA and client certificate, nil without (tlsfiles.go).
	files *certFiles
	// The login's credentials, for the script guard (guard.go).
	loginUser, loginPass string
	guard                guard
	// answer bounds the handshake once connected: AnswerTimeout (tests shorten it).
	answer time.Duration
	ident  identConn // the connection identity writes keep (identity.go)
}

// step is one handshake command: its name for errors and the sentinel wrapped when it is refused.
type step struct {
	what string
	err  error
}

var _ Backend = (*upstream)(nil)

func newUpstream(s Spec, log *slog.Logger) *upstream {
	u := &upstream{name: s.String(), network: "tcp", addr: s.Addr, log: log, loginUser: s.User, loginPass: s.Password, answer: AnswerTimeout}
	if s.Kind == KindUnix {
		u.network = "unix"
	}
	if s.Kind == KindRediss {
		host, _, _ := net.SplitHostPort(s.Addr)
		name := s.ServerName
		if name == "" {
			name = host
		}
		u.tls = &tls.Config{
			ServerName:         name,
			InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // opt-in, for tests only
			MinVersion:         tls.VersionTLS12,
		}
	}
	switch {
	case s.User != "":
		u.hello = appendCommand(u.hello, "AUTH", s.User, s.Password)
		u.steps = append(u.steps, step{"AUTH", ErrAuth})
	case s.Password != "":
		u.hello = appendCommand(u.hello, "AUTH", s.Password)
		u.steps = append(u.steps, step{"AUTH", ErrAuth})
	}
	if s.DB != 0 {
		u.db = s.DB
		db := strconv.Itoa(s.DB)
		u.hello = appendCommand(u.hello, "SELECT", db)
		u.steps = append(u.steps, step{"SELECT " + db, ErrSelect})
	}
	return u
}

func (u *upstream) String() string { return u.name }

// HandshakeDB is the database each new connection's handshake selects — a SELECT the backend's MONITOR
// shows — or 0 when it selects none. The gateway drops that line from what its monitors see.
func (u *upstream) HandshakeDB() int { return u.db }

// Close makes later Dials fail and closes the connection kept for identity writes. Connections already
// handed out stay open.
func (u *upstream) Close() error {
	u.closed.Store(true)
	u.ident.mu.Lock()
	u.ident.close()
	u.ident.mu.Unlock()
	return nil
}

// Dial connects (within DialTimeout), then does the TLS handshake for rediss and sends AUTH and SELECT
// as configured, the script guard's ACL SETUSER and the cluster question (cluster.go) in one write,
// and checks their replies (within AnswerTimeout): one round trip, two when the backend refuses
// CONFIG. The connection comes back with its deadline cleared and no unread bytes: replies are read
// exactly, nothing is buffered ahead.
func (u *upstream) Dial(ctx context.Context) (net.Conn, error) {
	if u.closed.Load() {
		return nil, fmt.Errorf("backend %s: %w", u.name, ErrClosed)
	}
	cctx, cancel := dialContext(ctx)
	d := net.Dialer{KeepAlive: keepAlive}
	raw, err := dial(cctx, &d, u.network, u.addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w: %w", u.name, ErrUnavailable, err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(receiveBuffer) // best effort: an unset cap costs latency, not correctness
	}
	plan := u.guard.plan.Load()
	// One deadline for the whole handshake, and cancellation of ctx unblocks it at once.
	_ = raw.SetDeadline(answerDeadline(ctx, u.answer))
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	c, err := u.handshake(ctx, raw, plan)
	if !stop() && err == nil {
		// ctx ended just as the handshake finished; the deadline is poisoned.
		err = fmt.Errorf("backend %s: %w: %w", u.name, ErrUnavailable, context.Cause(ctx))
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// handshake runs TLS, then sends AUTH, SELECT, with a script-guard plan its ACL SETUSER, and the
// cluster question in one write, and checks their replies.
func (u *upstream) handshake(ctx context.Context, raw net.Conn, plan *guardPlan) (net.Conn, error) {
	c := raw
	if u.tls != nil {
		tc := tls.Client(raw, u.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("backend %s: %w: TLS: %w", u.name, ErrUnavailable, err)
		}
		c = tc
	}
	hello, n := u.hello, len(u.steps)
	if plan != nil {
		hello = append(append(make([]byte, 0, len(hello)+len(plan.setuser)), hello...), plan.setuser...)
		n++
	}
	hello = append(append(make([]byte, 0, len(hello)+len(configGetCluster)), hello...), configGetCluster...)
	replies, err := u.exchange(c, hello, n+1, u.what(n))
	if err != nil {
		return nil, err
	}
	for i, r := range replies[:len(u.steps)] {
		if r.err != nil {
			return nil, &RefusedError{Backend: u.name, Command: u.steps[i].what, Reply: string(r.err[1:]), kind: u.steps[i].err}
		}
		if r.status == nil {
			return nil, fmt.Errorf("backend %s: %w: %s answered %s", u.name, ErrHandshake, u.steps[i].what, r.kind())
		}
	}
	if plan != nil {
		r := replies[n-1]
		switch {
		case r.err != nil:
			u.guard.noted(plan, false, string(r.err[1:]))
		case r.status != nil:
			u.guard.noted(plan, true, string(r.status[1:]))
		default:
			return nil, fmt.Errorf("backend %s: %w: ACL SETUSER answered %s", u.name, ErrHandshake, r.kind())
		}
	}
	if err := u.refuseCluster(c, replies[n]); err != nil { // cluster.go
		return nil, err
	}
	return c, nil
}

// what names the handshake's commands for errors: the n before the cluster question (the steps, then
// the script guard's ACL SETUSER), never their arguments.
func (u *upstream) what(n int) string {
	var b strings.Builder
	for i := range n {
		if i < len(u.steps) {
			b.WriteString(u.steps[i].what)
		} else {
			b.WriteString("ACL SETUSER")
		}
		b.WriteString(", ")
	}
	b.WriteString(configGetClusterName)
	return b.String()
}

// RefusedError is the Dial error when the backend answers AUTH or SELECT with an error reply.
// It wraps ErrAuth or ErrSelect.
type RefusedError struct {
	Backend string // the backend's String()
	Command string // "AUTH" or "SELECT <db>" (never the credentials)
	Reply   string // the backend's error reply, without the leading '-'
	kind    error
}

func (e *RefusedError) Error() string {
	return "backend " + e.Backend + ": " + e.Command + " refused: " + e.Reply
}

func (e *RefusedError) Unwrap() error { return e.kind }

// appendCommand appends a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// maxHandshakeReply bounds each reply a backend may give to the handshake (and to the identities'
// ACL SETUSERs).
const maxHandshakeReply = 4096

var errReplyTooLong = errors.New("handshake reply longer than 4096 bytes")

// readStatusReplies reads exactly n RESP simple-string or error replies (lines starting with '+' or
// '-') and returns them without their CRLF. The backend answers only what it was sent, so reading in
// chunks cannot consume bytes that belong to later traffic; bytes beyond the n-th reply are reported
// as an error rather than lost.
func readStatusReplies(c net.Conn, n int) ([]string, error) { return readLineReplies(c, n, "+-") }

// readLineReplies reads n one-line replies whose first byte is one of kinds.
func readLineReplies(c net.Conn, n int, kinds string) ([]string, error) {
	buf := make([]byte, 0, 256)
	var out []string
	start := 0
	for {
		// Parse every complete line in buf[start:].
		for len(out) < n {
			i := indexCRLF(buf[start:])
			if i < 0 {
				break
			}
			line := buf[start : start+i]
			start += i + 2
			if len(line) == 0 || !strings.ContainsRune(kinds, rune(line[0])) {
				return nil, fmt.Errorf("unexpected reply %q", truncate(line))
			}
			out = append(out, string(line))
		}
		if len(out) == n {
			if start != len(buf) {
				return nil, fmt.Errorf("%d unexpected bytes after the replies", len(buf)-start)
			}
			return out, nil
		}
		if start > 0 { // drop the replies parsed: the bound is on one reply, not on n of them
			buf = buf[:copy(buf, buf[start:])]
			start = 0
		}
		if len(buf) == cap(buf) {
			if cap(buf) >= maxHandshakeReply {
				return nil, errReplyTooLong
			}
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
