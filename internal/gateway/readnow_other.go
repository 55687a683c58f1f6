//go:build !unix

package gateway

import (
	"errors"
	"net"
)

// readNow is not available here: command readers keep their buffers.
func readNow(net.Conn) func([]byte) (int, error) { return nil }

// shutdown is not available here: readers hold no read open (arrivals is Linux's), so Close serves.
func shutdown(net.Conn) error { return errors.ErrUnsupported }
