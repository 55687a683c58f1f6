package controlplane

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// The whitelist crash test (W10): a child process appends one entry per ModifySecurityIps call and
// prints "ack N" after each returns; the parent kills it with SIGKILL at random points, restarts it on
// the same state file several times, and checks every acknowledged entry is there and the stored
// groups are valid.

const crashEnv = "MOAT_PLANE_CRASH_CHILD"

func TestPlaneCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("child process of TestWhitelistSurvivesKill")
	}
	st, err := store.OpenBolt(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	p := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	in, err := p.Instance("r-crash")
	if err != nil {
		in = testInstance()
		in.ID = "r-crash"
		if err := p.PutInstance(admin, in); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
	}
	start := 0
	for _, g := range in.Groups {
		start += len(g.Entries)
	}
	for n := start; ; n++ {
		// Entries 10.x.y.z spread over groups g0..g9 so that each change rewrites one group.
		c := allowlist.Change{Group: fmt.Sprintf("g%d", n%10), Mode: allowlist.Append, Entries: crashEntry(n)}
		if _, err := p.ModifySecurityIps(admin, "r-crash", c); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("ack", n)
	}
}

func crashEntry(n int) string { return fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256) }

func TestWhitelistSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	rng := rand.New(rand.NewPCG(7, 11))
	acked := map[int]bool{}
	for round, target := range []int{3, 40, 150, 10, 80} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestPlaneCrashChild$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		got := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatalf("round %d: child: %s", round, line)
			}
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				v, _ := strconv.Atoi(n)
				acked[v] = true
				got++
				if got >= target {
					spin(time.Duration(rng.IntN(3000)) * time.Microsecond)
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		cmd.Wait()
		checkAcked(t, path, acked)
	}
}

// spin waits without sleeping, so the kill lands at a random point rather than on a scheduler tick.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func checkAcked(t *testing.T, path string, acked map[int]bool) {
	t.Helper()
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := New(st, nil).Instance("r-crash")
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Validate(); err != nil {
		t.Fatalf("stored instance invalid after kill: %v", err)
	}
	have := map[string]bool{}
	for _, g := range in.Groups {
		for _, e := range g.Entries {
			have[allowlist.FormatEntry(e)] = true
		}
	}
	for n := range acked {
		if !have[crashEntry(n)] {
			t.Fatalf("acknowledged change %d (%s) lost after kill", n, crashEntry(n))
		}
	}
}
