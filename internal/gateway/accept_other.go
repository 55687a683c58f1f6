//go:build !linux

package gateway

import "net"

// acceptLoop accepts connections and judges each (handle).
func (in *Instance) acceptLoop(ln net.Listener, secure bool) {
	defer in.wg.Done()
	in.acceptConns(ln, secure)
}
