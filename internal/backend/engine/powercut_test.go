package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

// volatileFile models the page cache for the power-cut test: what the engine writes stays in this
// process's memory and reaches the file on disk only when the engine syncs it. Killing the process
// then leaves on disk exactly what a power cut would leave of a file whose writes were all cached:
// what was fsynced. (The kernel and the disk are taken to keep fsync's promise; that is not tested.)
type volatileFile struct {
	mu     sync.Mutex
	f      *os.File
	cached []byte
}

func (v *volatileFile) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cached = append(v.cached, p...)
	return len(p), nil
}

func (v *volatileFile) Sync() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.f.Write(v.cached); err != nil {
		return err
	}
	v.cached = v.cached[:0]
	return v.f.Sync()
}

func (v *volatileFile) Close() error { return v.f.Close() }

// powerCutEnv names the directory of TestPowerCutChild.
const powerCutEnv = "MOAT_ENGINE_POWER_CUT_DIR"

// TestPowerCutChild is the child process of TestPowerCutLosesAtMostOneSecond: an engine whose log is
// a volatileFile, written by SET k<i> i one at a time, each acknowledged once answered, until killed.
func TestPowerCutChild(t *testing.T) {
	dir := storetest.CrashChildPath(t, powerCutEnv)
	e, err := open(dir, nil, func(f *os.File) logFile { return &volatileFile{f: f} })
	if err != nil {
		storetest.ChildFail(err)
	}
	c, rd := serveChild(e, dir)
	for i := 0; ; i++ {
		n := strconv.Itoa(i)
		if _, err := c.Write(resp2Command(nil, "SET", "k"+n, n)); err != nil {
			storetest.ChildFail(err)
		}
		if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
			storetest.ChildFail(fmt.Errorf("SET k%d: %q, %v", i, line, err))
		}
		storetest.Ack(i)
	}
}

// powerCutSlack is how late past SyncEvery the test lets an fsync be (the sync loop's ticker on a
// busy machine).
const powerCutSlack = 500 * time.Millisecond

// A power cut loses at most the last second of acknowledged writes: the engine runs in a child process
// with its log in a volatileFile (writes reach the disk only when fsynced), writing continuously; it is
// killed at a random moment 2.5–3.5 s in, and what is on disk then is what a power cut would leave.
// After the restart the writes there are a prefix of the acknowledged ones, every write acknowledged
// more than SyncEvery (+ slack) before the cut is there, and in some round later ones are lost (the
// model drops what was not fsynced, so the test can fail). A round may lose nothing when the cut
// comes right after an fsync that nothing followed (a busy machine did not run the child between
// them): up to 5 rounds are run until one loses something.
func TestPowerCutLosesAtMostOneSecond(t *testing.T) {
	dir := shortDir(t)
	sawLoss := false
	for round := 0; round < 2 || (!sawLoss && round < 5); round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), powerCutEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var acked []time.Time // acked[i]: when the parent read the acknowledgement of k<i>
		done := make(chan struct{})
		go func() {
			defer close(done)
			br := bufio.NewReader(out)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if s, ok := strings.CutPrefix(line, "ack "); ok {
					mu.Lock()
					if n, _ := strconv.Atoi(strings.TrimSpace(s)); n == len(acked) {
						acked = append(acked, time.Now())
					}
					mu.Unlock()
				}
			}
		}()
		time.Sleep(2500*time.Millisecond + rand.N(time.Second))
		cut := time.Now()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-done
		_ = cmd.Wait()
		if len(acked) == 0 {
			t.Fatalf("round %d: no write acknowledged; child stderr:\n%s", round, stderr.String())
		}

		s := openT(t, dir)
		c := s.resp2(t)
		// The writes on disk: k0 … k(kept-1), with nothing after the first missing one.
		kept := 0
		for from := 0; kept == from && from < len(acked); from += 1000 {
			args := []any{"MGET"}
			for i := from; i < min(from+1000, len(acked)); i++ {
				args = append(args, "k"+strconv.Itoa(i))
			}
			vals, _ := c.Do(context.Background(), args...).Slice()
			for i, v := range vals {
				if v != strconv.Itoa(from+i) {
					break
				}
				kept++
			}
		}
		if kept < len(acked) {
			if got := do(c, "EXISTS", "k"+strconv.Itoa(len(acked)-1)); got != "0" {
				t.Errorf("round %d: k%d is lost but the later k%d is there", round, kept, len(acked)-1)
			}
		}
		lost := len(acked) - kept
		var window time.Duration
		if lost > 0 {
			window = cut.Sub(acked[kept])
		}
		t.Logf("round %d: %d writes acknowledged, %d lost, the first lost one acknowledged %v before the cut",
			round, len(acked), lost, window.Round(time.Millisecond))
		if window > SyncEvery+powerCutSlack {
			t.Errorf("round %d: a write acknowledged %v before the power cut is lost, want at most %v", round, window, SyncEvery)
		}
		sawLoss = sawLoss || lost > 0
		s.Close()
		// The next round writes the same keys again, over the log as the cut left it.
		_ = os.Remove(filepath.Join(dir, LogFile))
	}
	if !sawLoss {
		t.Error("no round lost anything: the model did not drop what was not fsynced")
	}
}

// serveChild has a crash child's engine e serve on a socket in dir and returns a connection to it (any
// failure ends the child).
func serveChild(e *Engine, dir string) (net.Conn, *bufio.Reader) {
	sock := filepath.Join(dir, "child.sock")
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		storetest.ChildFail(err)
	}
	go e.Serve(l)
	c, err := net.Dial("unix", sock)
	if err != nil {
		storetest.ChildFail(err)
	}
	return c, bufio.NewReader(c)
}
