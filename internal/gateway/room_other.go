//go:build !linux

package gateway

import (
	"errors"
	"net"
)

// waitingRoom: idle connections wait in one only on Linux (room_linux.go); here a session that would
// park keeps its goroutines.
type waitingRoom struct{ in *Instance }

// errNoRoom: this system has no waiting room.
var errNoRoom = errors.New("no waiting room for idle connections here")

func (r *waitingRoom) enter(*session, net.Conn) error { return errNoRoom }
func (r *waitingRoom) evict(*parkedConn)              {}
func (r *waitingRoom) close()                         {}
