package controlplane

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

// The whitelist crash test (W10), on storetest's crash-test harness: a child process appends one entry
// per ModifySecurityIps call and acknowledges each after it returns; the parent kills it with SIGKILL
// at random points, restarts it on the same state file several times, and checks every acknowledged
// entry is there and the stored groups are valid.

const crashEnv = "MOAT_PLANE_CRASH_CHILD"

func TestPlaneCrashChild(t *testing.T) {
	path := storetest.CrashChildPath(t, crashEnv)
	st, err := store.OpenBolt(path)
	if err != nil {
		storetest.ChildFail(err)
	}
	p := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	in, err := p.Instance("r-crash")
	if err != nil {
		in = testInstance()
		in.ID = "r-crash"
		if err := p.PutInstance(admin, in); err != nil {
			storetest.ChildFail(err)
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
			storetest.ChildFail(err)
		}
		storetest.Ack(n)
	}
}

func crashEntry(n int) string { return fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256) }

func TestWhitelistSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	child := storetest.CrashChild{Test: "TestPlaneCrashChild", Env: crashEnv, Path: path}
	rng := rand.New(rand.NewPCG(7, 11))
	acked := map[int]bool{}
	for _, target := range []int{3, 40, 150, 10, 80} {
		for _, n := range child.RunAndKill(t, target, time.Duration(rng.IntN(3000))*time.Microsecond, nil) {
			acked[n] = true
		}
		checkAcked(t, path, acked)
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
