//go:build !unix

package backend

import "os"

// lockFile only creates the file where flock is not available; the embedded engine needs unix
// sockets anyway.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func unlockFile(f *os.File) { _ = f.Close() }

func isBacklogFull(error) bool { return false }
