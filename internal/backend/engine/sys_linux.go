package engine

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// hostOS is "Linux <release> <machine>", as Redis's INFO os field.
func hostOS() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "Linux"
	}
	cut := func(b []byte) string { return string(bytes.TrimRight(b, "\x00")) }
	return cut(u.Sysname[:]) + " " + cut(u.Release[:]) + " " + cut(u.Machine[:])
}

// totalMemory is the machine's memory in bytes (0 when unknown).
func totalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// residentMemory is the process's resident set in bytes (0 when unknown).
func residentMemory() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return pages * uint64(os.Getpagesize())
}

// cpuSeconds is the CPU time of the process and of its waited-for children, system and user.
func cpuSeconds() (sys, user, childSys, childUser float64) {
	var self, kids unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	sec := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(self.Stime), sec(self.Utime), sec(kids.Stime), sec(kids.Utime)
}
