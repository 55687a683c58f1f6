package storetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash-test harness (W10: no acknowledged change is lost to a kill). A crash test is two tests
// of one test binary. The child test, re-executed by the parent, commits numbered changes to the
// state file at CrashChildPath until it is killed, and acknowledges each with Ack once it has
// returned (is durable). The parent runs rounds of CrashChild.RunAndKill on the same state file: each
// starts the child, collects its acknowledgements, SIGKILLs it at a point of the parent's choosing
// and returns every acknowledgement; the parent then reopens the file and checks that each
// acknowledged change is there and that no change is half-applied. A process that is not a
// re-executed test (a whole binary) is killed with Kill.

// ackTimeout bounds the wait for the acknowledgements a round asks for. Generous: on a loaded box a
// child writing large changes to etcd acknowledged 131 in 20 s where a round asked for 146; the bound
// only says when a child that stopped acknowledging is given up on.
const ackTimeout = 90 * time.Second

// CrashChildPath returns the state file this process is the crash child for: the value of the
// environment variable env. When env is not set, the process is not a child and t is skipped: the
// child's test runs only when its parent re-executes it.
func CrashChildPath(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Skip("the child process of a crash test, run by its parent")
	}
	return path
}

// Ack acknowledges change n to the parent, as the line "ack n" on stdout written at once, so the
// parent never reads half of one. A child that cannot write (its parent is gone) ends.
func Ack(n int) {
	if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", n); err != nil {
		os.Exit(3)
	}
}

// ChildFail reports err to the parent (on stderr, which RunAndKill shows when it fails) and ends the
// child with status 2.
func ChildFail(err error) {
	fmt.Fprintln(os.Stderr, "crash child:", err)
	os.Exit(2)
}

// CrashChild is the child process of a crash test: this test binary re-executed to run the test
// named Test alone, with the environment variable Env set to Path, the state file.
type CrashChild struct {
	Test, Env, Path string
}

// RunAndKill starts the child and waits for target acknowledgements (at most 20 s). It then calls
// running, if not nil, while the child still runs (an error fails t), waits jitter by spinning, and
// kills the child with SIGKILL. It returns every acknowledgement the child printed, in order, those
// after the target included. t fails if the child ends before the target (its stderr is shown), or
// ends otherwise than by the SIGKILL.
func (c CrashChild) RunAndKill(t *testing.T, target int, jitter time.Duration, running func() error) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+c.Test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), c.Env+"="+c.Path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ackc := make(chan int, 1<<20) // never full: the reader must not slow the child down
	go readAcks(stdout, ackc)
	fail := func(format string, args ...any) {
		t.Helper()
		_ = cmd.Process.Kill()
		for range ackc {
		}
		_ = cmd.Wait()
		t.Fatalf("%s; child stderr:\n%s", fmt.Sprintf(format, args...), stderr.String())
	}

	var acks []int
	timeout := time.After(ackTimeout)
	for len(acks) < target {
		select {
		case n, ok := <-ackc:
			if !ok {
				fail("child exited after %d acks, want %d", len(acks), target)
			}
			acks = append(acks, n)
		case <-timeout:
			fail("only %d acks within %v, want %d", len(acks), ackTimeout, target)
		}
	}
	if running != nil {
		if err := running(); err != nil {
			fail("while the child runs: %v", err)
		}
	}
	// Spin rather than sleep: a sleeping parent tends to wake only when the next ack arrives (the runtime's
	// poller waits in whole milliseconds), which would land every kill just after an ack, at the same point
	// of the cycle.
	for deadline := time.Now().Add(jitter); time.Now().Before(deadline); {
	}
	if err := cmd.Process.Kill(); err != nil {
		fail("kill: %v", err)
	}
	for n := range ackc {
		acks = append(acks, n)
	}
	if err := killed(cmd.Wait()); err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	return acks
}

// readAcks sends the number of every "ack N" line of r to ackc, and closes ackc at r's end.
func readAcks(r io.Reader, ackc chan<- int) {
	defer close(ackc)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return // a partial last line is not an ack
		}
		if s, ok := strings.CutPrefix(line, "ack "); ok {
			if n, err := strconv.Atoi(strings.TrimSuffix(s, "\n")); err == nil {
				ackc <- n
			}
		}
	}
}

// Kill kills cmd's process (started, not waited for) with SIGKILL and waits for it to end. The error
// says why if the SIGKILL is not what ended it.
func Kill(cmd *exec.Cmd) error {
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", cmd.Path, err)
	}
	return killed(cmd.Wait())
}

// killed checks that a process ended with err (from exec.Cmd.Wait) was killed by SIGKILL.
func killed(err error) error {
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("child ended with %v, want killed by SIGKILL", err)
	}
	return nil
}
