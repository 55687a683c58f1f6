//go:build unix

package gateway

import "syscall"

// openFilesLimit is the process's open-files limit (RLIMIT_NOFILE's soft value), 0 when unknown.
func openFilesLimit() int {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur > 1<<31-1 {
		return 0
	}
	return int(l.Cur)
}
