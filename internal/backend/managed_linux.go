package backend

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// childAttr puts the managed server in its own process group (a Ctrl-C meant for moat does not reach
// it: moat stops it in order) and has the kernel send it SIGTERM when moat dies, even by SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// processArgs returns the command line of process pid, its arguments separated by spaces; an error
// or "" when it does not run (a zombie has none).
func processArgs(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), nil
}
