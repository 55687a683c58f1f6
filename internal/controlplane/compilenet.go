package controlplane

// The network-security part of compiling a snapshot.

import (
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/snapshot"
)

// compileNet fills in the network-security part of a snapshot (N2, N4, N5, connection limits).
func compileNet(in model.Instance, s *snapshot.Snapshot) {
	s.ProtectedMode = in.ProtectedMode()
	s.Renames = in.Renames()
	s.UnguardedScripts = in.ParamBool("unguarded-scripts")
	s.DebugCommand = snapshot.ParseEnable(in.Param("enable-debug-command"))
	s.ModuleCommand = snapshot.ParseEnable(in.Param("enable-module-command"))
	s.MaxClients = int(in.ParamInt("maxclients"))
	s.MaxClientsPerIP = int(in.ParamInt("maxclients-per-ip"))
	s.ProxyTrusted = in.ProxyTrusted()
}
