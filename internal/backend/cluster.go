package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// Errors wrapped by Dial when the backend cannot be guarded. A Redis Cluster node answers MOVED and ASK
// with other nodes' addresses, and a cluster-aware client following them reaches those nodes directly,
// past every whitelist and ACL: until moat can guard redirections it relays nothing to a cluster node,
// nor to a backend that will not say whether it is one.
var (
	// ErrCluster: INFO cluster says cluster_enabled:1.
	ErrCluster = errors.New("backend is a Redis Cluster node: moat cannot yet guard MOVED/ASK redirections, which lead clients straight to other nodes past the whitelist and ACL; point moat at a standalone server")
	// ErrClusterUnknown: INFO cluster was refused (other than with NOAUTH).
	ErrClusterUnknown = errors.New("moat cannot check that the backend is not a Redis Cluster node (it cannot yet guard MOVED/ASK redirections); allow moat's backend login the INFO command")
)

// infoCluster is INFO cluster as RESP.
var infoCluster = appendCommand(nil, "INFO", "cluster")

// maxLine bounds the first line of a reply (an error's text).
const maxLine = 1024

// maxInfoReply bounds INFO cluster's reply (a few dozen bytes on Redis 7).
const maxInfoReply = 16 << 10

// refuseCluster asks the backend behind c (handshake done, deadline set) for INFO cluster and returns
// an error wrapping ErrCluster when it reports cluster_enabled:1, ErrClusterUnknown when it refuses
// INFO for a reason other than missing authentication (NOAUTH: the connection can relay nothing until AUTH, so nothing is at
// risk; the gateway's own checks report it). The reply is read exactly: nothing is left buffered.
func (u *upstream) refuseCluster(c net.Conn) error {
	if _, err := c.Write(infoCluster); err != nil {
		return fmt.Errorf("backend %s: %w: INFO cluster: %w", u.name, u.exchangeErr(err), err)
	}
	reply, err := readBulkReply(c, maxInfoReply)
	if err != nil {
		return fmt.Errorf("backend %s: %w: INFO cluster: %w", u.name, u.exchangeErr(err), err)
	}
	if reply[0] == '-' {
		if bytes.HasPrefix(reply, []byte("-NOAUTH")) {
			return nil
		}
		return fmt.Errorf("backend %s: INFO cluster refused (%s): %w", u.name, truncate(reply[1:]), ErrClusterUnknown)
	}
	if clusterEnabled(reply) {
		return fmt.Errorf("backend %s: INFO cluster reports cluster_enabled:1: %w", u.name, ErrCluster)
	}
	return nil
}

// exchangeErr classifies a failed INFO exchange. On TLS, the server's verdict on the client certificate
// arrives (TLS 1.3) with the first exchange after the handshake, as an alert or a reset: a connection
// error there is a failed TLS handshake, ErrUnavailable. Anything else is ErrHandshake.
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

// readBulkReply reads exactly one RESP2 reply that is a bulk string (returned without its header
// and CRLF) or an error line (returned with its '-'), of at most max bytes. The backend answers only
// what it was sent, so reading in chunks cannot consume later traffic; bytes beyond the reply are an
// error.
func readBulkReply(c net.Conn, max int) ([]byte, error) {
	buf := make([]byte, 0, 256)
	for {
		if i := indexCRLF(buf); i >= 0 {
			head := buf[:i]
			switch {
			case len(head) > 0 && head[0] == '-':
				if i+2 != len(buf) {
					return nil, fmt.Errorf("%d unexpected bytes after the reply", len(buf)-i-2)
				}
				return head, nil
			case len(head) > 1 && head[0] == '$':
				n, err := strconv.Atoi(string(head[1:]))
				if err != nil || n < 0 || n > max {
					return nil, fmt.Errorf("unexpected reply %q", truncate(head))
				}
				if end := i + 2 + n + 2; len(buf) >= end {
					if len(buf) > end {
						return nil, fmt.Errorf("%d unexpected bytes after the reply", len(buf)-end)
					}
					return buf[i+2 : i+2+n], nil
				}
			default:
				return nil, fmt.Errorf("unexpected reply %q", truncate(head))
			}
		} else if len(buf) > maxLine {
			return nil, fmt.Errorf("unexpected reply %q", truncate(buf))
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
