package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/backend/spec"
)

// Errors wrapped by Dial when the backend cannot be guarded; defined in spec (see there) so that the
// control plane names them without importing the data plane.
var (
	ErrCluster        = spec.ErrCluster
	ErrClusterUnknown = spec.ErrClusterUnknown
)

// The questions asked, as RESP. CONFIG GET first, in the handshake's write: an admin command, MONITOR
// does not show it to the backend's monitors (moat asks on every new connection); INFO cluster when
// CONFIG is refused (a restricted login, CONFIG renamed away): more logins may run it.
var (
	configGetCluster = appendCommand(nil, "CONFIG", "GET", "cluster-enabled")
	infoCluster      = appendCommand(nil, "INFO", "cluster")
)

const configGetClusterName = "CONFIG GET cluster-enabled"

// maxLine bounds a reply's header line (an error's text).
const maxLine = 1024

// maxInfoReply bounds one bulk string of the replies (INFO cluster is a few dozen bytes on Redis 7).
const maxInfoReply = 16 << 10

// maxItems bounds an array reply (CONFIG GET of one parameter answers 2).
const maxItems = 16

// refuseCluster judges the backend behind c (handshake done, deadline set) by r, its reply to CONFIG
// GET cluster-enabled, asking INFO cluster when CONFIG was refused. The error wraps ErrCluster when
// it is a Redis Cluster node (CONFIG GET cluster-enabled answers yes, or INFO cluster says
// cluster_enabled:1), ErrClusterUnknown when it refuses both questions for a reason other than
// missing authentication (NOAUTH: the connection can relay nothing until AUTH, so nothing is at risk;
// the gateway's own checks report it). Replies are read exactly: nothing is left buffered.
func (u *upstream) refuseCluster(c net.Conn, r reply) error {
	switch {
	case r.err == nil && r.array && len(r.bulks) == 2:
		if strings.EqualFold(string(r.bulks[1]), "yes") {
			return fmt.Errorf("backend %s: CONFIG GET cluster-enabled is yes: %w", u.name, ErrCluster)
		}
		return nil
	case bytes.HasPrefix(r.err, []byte("-NOAUTH")):
		return nil
	}
	rs, err := u.exchange(c, infoCluster, 1, "INFO cluster")
	if err != nil {
		return err
	}
	switch r = rs[0]; {
	case bytes.HasPrefix(r.err, []byte("-NOAUTH")):
		return nil
	case r.err != nil:
		return fmt.Errorf("backend %s: CONFIG GET and INFO cluster refused (%s): %w", u.name, truncate(r.err[1:]), ErrClusterUnknown)
	case r.array || len(r.bulks) != 1:
		return fmt.Errorf("backend %s: INFO cluster answered %s: %w", u.name, r.kind(), ErrClusterUnknown)
	case clusterEnabled(r.bulks[0]):
		return fmt.Errorf("backend %s: INFO cluster reports cluster_enabled:1: %w", u.name, ErrCluster)
	}
	return nil
}

// exchange sends cmds (what names them in errors) and reads their n replies.
func (u *upstream) exchange(c net.Conn, cmds []byte, n int, what string) ([]reply, error) {
	if _, err := c.Write(cmds); err != nil {
		return nil, fmt.Errorf("backend %s: %w: %s: %w", u.name, u.exchangeErr(err), what, err)
	}
	rs, err := readReplies(c, n, maxInfoReply)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w: %s: %w", u.name, u.exchangeErr(err), what, err)
	}
	return rs, nil
}

// exchangeErr classifies a failed exchange after the handshake. On TLS, the server's verdict on the
// client certificate arrives (TLS 1.3) with the first exchange after the handshake, as an alert or a
// reset: a connection error there is a failed TLS handshake, ErrUnavailable. Anything else is
// ErrHandshake.
func (u *upstream) exchangeErr(err error) error {
	var oe *net.OpError
	if u.tls != nil && (errors.As(err, &oe) || errors.Is(err, io.EOF)) {
		return ErrUnavailable
	}
	return ErrHandshake
}

// clusterEnabled reports whether an INFO reply holds the line cluster_enabled:1.
func clusterEnabled(info []byte) bool {
	for _, line := range bytes.Split(info, []byte("\n")) {
		if string(bytes.TrimSpace(line)) == "cluster_enabled:1" {
			return true
		}
	}
	return false
}

// reply is one RESP2 reply of the kinds the handshake reads: a status or an error line (with its '+'
// or '-'), a bulk string, or an array of bulk strings.
type reply struct {
	status []byte
	err    []byte
	bulks  [][]byte
	array  bool
}

// kind names the reply's type for errors.
func (r reply) kind() string {
	switch {
	case r.status != nil:
		return "a status"
	case r.err != nil:
		return "an error"
	case r.array:
		return "an array"
	}
	return "a bulk string"
}

// readReplies reads exactly n replies (each a status, an error, a bulk string of at most max bytes, or
// an array of at most maxItems such strings). The backend answers only what it was sent, so reading in
// chunks cannot consume later traffic; bytes beyond the n-th reply are an error.
func readReplies(c net.Conn, n, max int) ([]reply, error) {
	buf := make([]byte, 0, 256)
	out := make([]reply, 0, n)
	start := 0
	for {
		for len(out) < n {
			r, m, err := parseReply(buf[start:], max)
			if err != nil {
				return nil, err
			}
			if m == 0 {
				break
			}
			out = append(out, r)
			start += m
		}
		if len(out) == n {
			if start != len(buf) {
				return nil, fmt.Errorf("%d unexpected bytes after the reply", len(buf)-start)
			}
			return out, nil
		}
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && m == 0 {
			return nil, err
		}
	}
}

// parseReply parses the reply at the start of b and returns its length; 0 (and no error) when b
// holds only part of it.
func parseReply(b []byte, max int) (reply, int, error) {
	i := indexCRLF(b)
	if i < 0 {
		if len(b) > maxLine {
			return reply{}, 0, fmt.Errorf("unexpected reply %q", truncate(b))
		}
		return reply{}, 0, nil
	}
	head := b[:i]
	switch {
	case len(head) > 0 && head[0] == '+':
		return reply{status: head}, i + 2, nil
	case len(head) > 0 && head[0] == '-':
		return reply{err: head}, i + 2, nil
	case len(head) > 1 && head[0] == '$':
		bulk, n, err := parseBulk(b, max)
		if n == 0 || err != nil {
			return reply{}, 0, err
		}
		return reply{bulks: [][]byte{bulk}}, n, nil
	case len(head) > 1 && head[0] == '*':
		count, err := strconv.Atoi(string(head[1:]))
		if err != nil || count < 0 || count > maxItems {
			return reply{}, 0, fmt.Errorf("unexpected reply %q", truncate(head))
		}
		r, pos := reply{array: true}, i+2
		for range count {
			bulk, n, err := parseBulk(b[pos:], max)
			if n == 0 || err != nil {
				return reply{}, 0, err
			}
			r.bulks = append(r.bulks, bulk)
			pos += n
		}
		return r, pos, nil
	default:
		return reply{}, 0, fmt.Errorf("unexpected reply %q", truncate(head))
	}
}

// parseBulk parses the bulk string at the start of b and returns it and its length; 0 (and no error)
// when b holds only part of it.
func parseBulk(b []byte, max int) ([]byte, int, error) {
	i := indexCRLF(b)
	if i < 0 {
		if len(b) > maxLine {
			return nil, 0, fmt.Errorf("unexpected reply %q", truncate(b))
		}
		return nil, 0, nil
	}
	head := b[:i]
	n, err := strconv.Atoi(string(head[min(1, len(head)):]))
	if len(head) < 2 || head[0] != '$' || err != nil || n < 0 || n > max {
		return nil, 0, fmt.Errorf("unexpected reply %q", truncate(head))
	}
	end := i + 2 + n + 2
	if len(b) < end {
		return nil, 0, nil
	}
	if b[end-2] != '\r' || b[end-1] != '\n' {
		return nil, 0, fmt.Errorf("bulk string of %d bytes not followed by CRLF", n)
	}
	return b[i+2 : i+2+n], end, nil
}

// Guardable dials be once, at an instance's start, and returns Dial's error when it wraps ErrCluster or
// ErrClusterUnknown: such a backend must not be served. Any other failure (a backend not reachable
// yet, say) is not Guardable's to judge and gives nil: lanes dial again, and each Dial checks anew.
func Guardable(ctx context.Context, be Backend) error {
	ctx, cancel := dialContext(ctx) // a start is not a client: it waits DialTimeout, not AnswerTimeout
	defer cancel()
	c, err := be.Dial(ctx)
	if err == nil {
		c.Close()
		return nil
	}
	if errors.Is(err, ErrCluster) || errors.Is(err, ErrClusterUnknown) {
		return err
	}
	return nil
}
