package backend

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Server is a redis-server or valkey-server binary that can run managed backends. It is immutable.
type Server struct {
	Path    string // absolute path of the binary
	Name    string // "redis-server" or "valkey-server", from what the binary says it is
	Version string // e.g. "7.0.15"
}

func (s *Server) String() string { return s.Name + " " + s.Version + " (" + s.Path + ")" }

// Errors of FindServer and OpenWith.
var (
	// ErrNoServer: no redis-server or valkey-server binary to run a managed backend with.
	ErrNoServer = errors.New("no redis-server or valkey-server found (install one, e.g. apt-get install redis-server, or name it with --redis-server)")
	// ErrServerVersion: the binary is older than a managed backend needs (ACL users in the config file,
	// channel patterns: Redis 6.2).
	ErrServerVersion = errors.New("a managed backend needs Redis 6.2 or later, or Valkey")
)

// versionTimeout bounds `<server> --version`.
const versionTimeout = 5 * time.Second

// FindServer finds the binary managed backends run: path when set (a file name is looked up on PATH),
// else the first of redis-server and valkey-server on PATH. It runs the binary with --version to learn what it is. The error
// wraps ErrNoServer when nothing is found (path empty), ErrServerVersion when the binary is too old, and
// otherwise names path and the cause.
func FindServer(path string) (*Server, error) {
	if path == "" {
		for _, name := range []string{"redis-server", "valkey-server"} {
			if p, err := exec.LookPath(name); err == nil {
				return probeServer(p)
			}
		}
		return nil, ErrNoServer
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return nil, fmt.Errorf("redis server %q: %w", path, err)
	}
	return probeServer(p)
}

// probeServer runs path --version and parses what it says.
func probeServer(path string) (*Server, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("redis server %q: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, abs, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("redis server %q: %s --version: %w", path, abs, err)
	}
	s, err := parseServerVersion(string(out))
	if err != nil {
		return nil, fmt.Errorf("redis server %q: %w", path, err)
	}
	s.Path = abs
	return s, nil
}

// parseServerVersion reads the first line of `--version`: "Redis server v=7.0.15 sha=…" or
// "Valkey server v=8.0.2 …".
func parseServerVersion(out string) (*Server, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Fields(line)
	if len(f) < 3 || f[1] != "server" || !strings.HasPrefix(f[2], "v=") {
		return nil, fmt.Errorf("--version said %q: not a Redis or Valkey server", truncate([]byte(line)))
	}
	s := &Server{Version: strings.TrimPrefix(f[2], "v=")}
	switch strings.ToLower(f[0]) {
	case "redis":
		s.Name = "redis-server"
		if !versionAtLeast(s.Version, 6, 2) {
			return nil, fmt.Errorf("redis-server %s: %w", s.Version, ErrServerVersion)
		}
	case "valkey":
		s.Name = "valkey-server"
	default:
		return nil, fmt.Errorf("--version said %q: not a Redis or Valkey server", truncate([]byte(line)))
	}
	return s, nil
}

// versionAtLeast reports whether the dotted version v is major.minor or later.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	ma, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma > major || ma == major && mi >= minor
}
