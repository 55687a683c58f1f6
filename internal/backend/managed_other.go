//go:build !unix

package backend

import (
	"errors"
	"os"
	"syscall"
)

// childAttr: nothing to set here.
func childAttr() *syscall.SysProcAttr { return nil }

// processArgs is not available here: a server left by a killed moat is not recognised.
func processArgs(int) (string, error) { return "", errors.New("process arguments: not supported") }

// terminate kills p: there is no SIGTERM here.
func terminate(p *os.Process) error { return p.Kill() }
