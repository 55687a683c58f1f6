//go:build unix && !linux

package backend

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// childAttr puts the managed server in its own process group (a Ctrl-C meant for moat does not reach
// it: moat stops it in order). There is no parent-death signal here: after moat is killed, the next
// start stops the server it left (reapOrphan).
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// processArgs returns the command line of process pid as ps shows it; an error when it does not run.
func processArgs(pid int) (string, error) {
	out, err := exec.Command("ps", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	return strings.TrimSpace(string(out)), err
}
