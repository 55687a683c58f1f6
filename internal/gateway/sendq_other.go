//go:build !linux

package gateway

import "net"

// unsentBytes is not available here: holdLane sees a client's progress by its pump's writes alone.
func unsentBytes(net.Conn) func() (int, bool) { return nil }
