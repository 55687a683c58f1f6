//go:build unix

package backend

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile opens (creating it 0600) and exclusively locks path, without waiting. The lock is held by
// the open file: it is released by unlockFile or when the process dies, so a crashed engine never
// leaves its directory locked.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory in use by another engine (%s is locked)", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// isBacklogFull reports whether a unix-socket connect failed because the listener's accept queue is
// full: connect(2) then fails with EAGAIN instead of waiting as it does for TCP.
func isBacklogFull(err error) bool { return errors.Is(err, syscall.EAGAIN) }

func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	_ = f.Close()
}
