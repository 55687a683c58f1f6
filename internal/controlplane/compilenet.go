package controlplane

import (
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/snapshot"
)

// compileNet fills in the network-security part of a snapshot (N2, N4, N5, connection limits).
func compileNet(in model.Instance, s *snapshot.Snapshot) {
	s.ProtectedMode = in.ProtectedMode()
	// No ACL users exist yet: the default user has no password. The ACL work replaces this with the
	// default user's state (requirepass, or an ACL default user without nopass turns protected mode off).
	s.DefaultUserNoPass = true
	s.Renames = in.Renames()
	s.MaxClients = int(in.ParamInt("maxclients"))
	s.MaxClientsPerIP = int(in.ParamInt("maxclients-per-ip"))
	s.ProxyTrusted = in.ProxyTrusted()
}
