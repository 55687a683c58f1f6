package server

import "github.com/moat-dev/moat/internal/controlplane/api"

var _ api.ScriptsSource = (*Server)(nil)

// UserScripts says how a served instance runs user's scripts (api.ScriptsSource).
func (s *Server) UserScripts(id, user string) string {
	gw := s.Gateway(id)
	if gw == nil {
		return ""
	}
	return gw.UserScripts(user)
}
