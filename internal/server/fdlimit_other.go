//go:build !linux

package server

// raiseFileLimit is a no-op off Linux: 0 means the limit is unknown, and the API's connection cap is
// then the configured one alone.
func raiseFileLimit() (uint64, error) { return 0, nil }
