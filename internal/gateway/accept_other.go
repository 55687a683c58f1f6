//go:build !linux

package gateway

import (
	"net"
	"syscall"
)

// acceptLoop accepts connections and judges each (handle).
func (in *Instance) acceptLoop(ln net.Listener, secure bool) {
	defer in.wg.Done()
	in.acceptConns(ln, secure)
}

// listenControl is a listening socket's Control (net.ListenConfig): nothing here (Go's Accept sets each
// accepted socket's options).
func listenControl(network, address string, c syscall.RawConn) error {
	return stampAccepted(network, address, c)
}

// socketConn serves fd, a TCP socket (a parked session's, as it leaves the waiting room), as a net.Conn.
func socketConn(fd int, _, _ net.Addr) (net.Conn, error) { return fileConn(fd) }
