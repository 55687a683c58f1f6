package gateway

import "time"

// arrivedAt returns when the bytes a session's reader read last reached the machine, in unix
// nanoseconds: arr's stamp (arrival_linux.go), or now where the socket gives none (TLS, a PROXY
// header, systems without stamps, bytes read while the session was parked).
func arrivedAt(arr *arrivals) int64 {
	if arr != nil {
		if at := arr.At(); at != 0 {
			return at
		}
	}
	return time.Now().UnixNano()
}
