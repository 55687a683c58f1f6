package backend

// Engine says what serves an instance's data, for `moat instance describe` and the console.
type Engine struct {
	// Kind is EngineManaged, EngineInProcess or EngineExternal.
	Kind string
	// Server, Version and Path name the binary of a managed server; PID is its running process, 0
	// while it restarts.
	Server, Version, Path string
	PID                   int
}

// Engine kinds.
const (
	EngineManaged   = "managed"    // a redis-server/valkey-server moat runs (managed.go)
	EngineInProcess = "in-process" // the in-process engine
	EngineExternal  = "external"   // a server reached by URL, which moat does not run
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
