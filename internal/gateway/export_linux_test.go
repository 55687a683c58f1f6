package gateway

// BreakWaitingRoom closes the instance's waiting room's epoll instance under it, as a failure would
// (for room_linux_test.go). False: the room is not open.
func BreakWaitingRoom(in *Instance) bool {
	in.room.mu.Lock()
	defer in.room.mu.Unlock()
	if in.room.ep == nil {
		return false
	}
	in.room.ep.Close()
	return true
}
