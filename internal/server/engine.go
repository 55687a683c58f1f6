package server

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/moat-dev/moat/internal/backend"
)

// findRedisServer finds the binary that runs managed backends (path, else redis-server or
// valkey-server on PATH) and says in the log which engine serves instances without a backend, and how
// to get the other. A path that is named but unusable is an error; nothing usable on PATH is not (nil:
// the in-process engine serves).
func findRedisServer(path string, log *slog.Logger) (*backend.Server, error) {
	srv, err := backend.FindServer(path)
	switch {
	case err == nil:
		log.Info("engine: instances without a backend run a managed "+srv.Name+" each", "server", srv.Path, "version", srv.Version,
			"other", "the in-process engine: --backend embedded (config file: backend: embedded)")
		return srv, nil
	case path != "":
		return nil, fmt.Errorf("--redis-server: %w", err)
	case errors.Is(err, backend.ErrNoServer):
		log.Warn("engine: no redis-server or valkey-server on PATH: instances without a backend use the in-process engine",
			"other", "a real Redis: apt-get install redis-server (or --redis-server PATH), then restart moat")
	default:
		log.Warn("engine: the redis-server on PATH cannot run managed backends: instances without a backend use the in-process engine",
			"err", err, "other", "Redis 6.2 or later, or Valkey: --redis-server PATH")
	}
	return nil, nil
}

// InstanceEngine says what serves a served instance's data (api.EngineSource); ok=false if the
// instance is not served here.
func (s *Server) InstanceEngine(id string) (e backend.Engine, ok bool) {
	s.mu.Lock()
	sv := s.instances[id]
	s.mu.Unlock()
	if sv == nil {
		return backend.Engine{}, false
	}
	return backend.EngineOf(sv.backend), true
}

// engineText is an engine for the log: "managed redis-server 7.0.15 (pid 4242)", "in-process" or
// "external".
func engineText(e backend.Engine) string {
	if e.Kind != backend.EngineManaged {
		return e.Kind
	}
	return "managed " + e.Server + " " + e.Version + " (pid " + strconv.Itoa(e.PID) + ")"
}
