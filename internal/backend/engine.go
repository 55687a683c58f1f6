package backend

import "github.com/moat-dev/moat/internal/backend/spec"

// Engine says what serves an instance's data (spec.Engine: the API reports it without importing the
// data plane).
type Engine = spec.Engine

// Engine kinds.
const (
	EngineManaged   = spec.EngineManaged
	EngineInProcess = spec.EngineInProcess
	EngineExternal  = spec.EngineExternal
)

// EngineOf describes the engine behind b.
func EngineOf(b Backend) Engine {
	switch b := b.(type) {
	case *managed:
		return Engine{Kind: EngineManaged, Server: b.srv.Name, Version: b.srv.Version, Path: b.srv.Path, PID: b.PID()}
	case *embedded:
		return Engine{Kind: EngineInProcess}
	}
	return Engine{Kind: EngineExternal}
}
