package server

import (
	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/refused"
)

var _ api.RefusalSource = (*Server)(nil)

// RefusedConnections reports a served instance's recent refused connections (api.RefusalSource).
func (s *Server) RefusedConnections(id string) (refused.Report, bool) {
	gw := s.Gateway(id)
	if gw == nil {
		return refused.Report{}, false
	}
	return gw.Activity(), true
}
