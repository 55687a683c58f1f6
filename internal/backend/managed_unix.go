//go:build unix

package backend

import (
	"os"
	"syscall"
)

// terminate asks process p to stop: SIGTERM, on which Redis and Valkey write their append-only file
// and exit.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
