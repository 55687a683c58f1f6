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

// The questions asked, as RESP. CONFIG GET first: an admin command, MONITOR does not show it to the
// backend's monitors (moat asks on every new connection); INFO cluster when CONFIG is refused (a
// restricted login, CONFIG renamed away): more logins may run it.
var (
	configGetCluster = appendCommand(nil, "CONFIG", "GET", "cluster-enabled")
	infoCluster      = appendCommand(nil, "INFO", "cluster")
)

// maxLine bounds a reply's header line (an error's text).
const maxLine = 1024

// maxInfoReply bounds one bulk string of the replies (INFO cluster is a few dozen bytes on Redis 7).
const maxInfoReply = 16 << 10

// maxItems bounds an array reply (CONFIG GET of one parameter answers 2).
const maxItems = 16

// refuseCluster asks the backend behind c (handshake done, deadline set) whether it is a Redis Cluster
// node and returns an error wrapping ErrCluster when it is (CONFIG GET cluster-enabled answers yes, or
// INFO cluster says cluster_enabled:1), ErrClusterUnknown when it refuses both questions for a reason
// other than missing authentication (NOAUTH: the connection can relay nothing until AUTH, so nothing
// is at risk; the gateway's own checks report it). Replies are read exactly: nothing is left buffered.
func (u *upstream) refuseCluster(c net.Conn) error {
	r, err := u.ask(c, configGetCluster, "CONFIG GET cluster-enabled")
	switch {
	case err != nil:
		return err
	case r.err == nil && r.array && len(r.bulks) == 2:
		if strings.EqualFold(string(r.bulks[1]), "yes") {
			return fmt.Errorf("backend %s: CONFIG GET cluster-enabled is yes: %w", u.name, ErrCluster)
		}
		return nil
	case bytes.HasPrefix(r.err, []byte("-NOAUTH")):
		return nil
	}
	if r, err = u.ask(c, infoCluster, "INFO cluster"); err != nil {
		return err
	}
	switch {
	case bytes.HasPrefix(r.err, []byte("-NOAUTH")):
		return nil
	case r.err != nil:
		return fmt.Errorf("backend %s: CONFIG GET and INFO cluster refused (%s): %w", u.name, truncate(r.err[1:]), ErrClusterUnknown)
	case r.array || len(r.bulks) != 1:
		return fmt.Errorf("backend %s: INFO cluster answered with an array: %w", u.name, ErrClusterUnknown)
	case clusterEnabled(r.bulks[0]):
		return fmt.Errorf("backend %s: INFO cluster reports cluster_enabled:1: %w", u.name, ErrCluster)
	}
	return nil
}

// ask sends cmd (what names it in errors) and reads its reply.
func (u *upstream) ask(c net.Conn, cmd []byte, what string) (reply, error) {
	if _, err := c.Write(cmd); err != nil {
		return reply{}, fmt.Errorf("backend %s: %w: %s: %w", u.name, u.exchangeErr(err), what, err)
	}
	r, err := readShortReply(c, maxInfoReply)
	if err != nil {
		return reply{}, fmt.Errorf("backend %s: %w: %s: %w", u.name, u.exchangeErr(err), what, err)
	}
	return r, nil
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

// reply is one RESP2 reply of the kinds refuseCluster reads: an error line (with its '-'), a bulk
// string, or an array of bulk strings.
type reply struct {
	err   []byte
	bulks [][]byte
	array bool
}

// readShortReply reads exactly one reply (an error, a bulk string of at most max bytes, or an array of at
// most maxItems such strings). The backend answers only what it was sent, so reading in chunks cannot
// consume later traffic; bytes beyond the reply are an error.
func readShortReply(c net.Conn, max int) (reply, error) {
	buf := make([]byte, 0, 256)
	for {
		r, n, err := parseReply(buf, max)
		if err != nil {
			return r, err
		}
		if n > 0 {
			if n != len(buf) {
				return r, fmt.Errorf("%d unexpected bytes after the reply", len(buf)-n)
			}
			return r, nil
		}
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, 2*cap(buf)), buf...)
		}
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && m == 0 {
			return reply{}, err
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
