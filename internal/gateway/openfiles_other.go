//go:build !unix

package gateway

// openFilesLimit is the process's open-files limit: unknown (0) here.
func openFilesLimit() int { return 0 }
