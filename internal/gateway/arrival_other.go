//go:build !linux

package gateway

import (
	"net"
	"syscall"
)

// arrivals is Linux's alone (arrival_linux.go): elsewhere moves are ordered by the time their commands
// were read.
type arrivals struct {
	onHold func(on bool) bool // never called: no read is held here
}

func newArrivals(net.Conn) *arrivals { return nil }

func (*arrivals) Read([]byte) (int, error) { return 0, nil }
func (*arrivals) Now([]byte) (int, error)  { return 0, nil }
func (*arrivals) At() int64                { return 0 }
func (*arrivals) release()                 {}
func (*arrivals) answering(bool)           {}

func stampAccepted(string, string, syscall.RawConn) error { return nil }
