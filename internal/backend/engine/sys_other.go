//go:build !linux

package engine

import "runtime"

// hostOS is the operating system and architecture, as Redis's INFO os field.
func hostOS() string { return runtime.GOOS + " " + runtime.GOARCH }

// totalMemory is the machine's memory in bytes: unknown here.
func totalMemory() uint64 { return 0 }

// residentMemory is the process's resident set: the memory the Go runtime holds from the system.
func residentMemory() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Sys
}

// cpuSeconds is the CPU time of the process: unknown here.
func cpuSeconds() (sys, user, childSys, childUser float64) { return 0, 0, 0, 0 }
