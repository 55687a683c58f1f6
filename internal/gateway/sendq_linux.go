package gateway

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsentBytes returns a probe of how many bytes the TCP socket c has in its send queue, not yet
// acknowledged by the peer (SIOCOUTQ): as the client reads, it falls, a byte at a time, where a blocked
// write only returns once half the send buffer is free. nil: c is not a TCP socket.
func unsentBytes(c net.Conn) func() (int, bool) {
	rc := tcpRaw(c)
	if rc == nil {
		return nil
	}
	return func() (int, bool) {
		var n int
		var err error
		if cerr := rc.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); cerr != nil || err != nil {
			return 0, false
		}
		return n, true
	}
}
