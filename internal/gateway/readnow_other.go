//go:build !unix

package gateway

import "net"

// readNow is not available here: command readers keep their buffers.
func readNow(net.Conn) func([]byte) (int, error) { return nil }
