package server

import (
	"net/netip"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

var _ api.LockoutSource = (*Server)(nil)

// LoginLockout reports a served instance's brute-force lockout of logins as user from addr
// (api.LockoutSource).
func (s *Server) LoginLockout(id string, addr netip.Addr, user string) (pairUntil, addressUntil time.Time, ok bool) {
	gw := s.Gateway(id)
	if gw == nil {
		return time.Time{}, time.Time{}, false
	}
	st := gw.Lockout(addr, user)
	return st.PairUntil, st.AddressUntil, true
}
