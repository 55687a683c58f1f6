package controlplane

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

// The apply crash test (SG5, W10), on storetest's crash-test harness: a child process applies
// generation after generation of a desired state that rewrites every rule and membership of ten
// groups, acknowledging each after the apply returns; the parent kills it with SIGKILL at random
// points and checks that the stored groups are always exactly one generation — never a mix — at least
// the last acknowledged one, and that the audit log's last ApplySecurityGroups entry says so.

const applyCrashEnv = "MOAT_APPLY_CRASH_CHILD"

const (
	crashGroups = 10
	crashHosts  = 6
	crashRules  = 20
)

// generation is the desired state number n: every rule of every group says "gen n", and the members
// of group g are the hosts whose index has the parity of n+g.
func generation(n int) model.Desired {
	var d model.Desired
	for g := 0; g < crashGroups; g++ {
		members := []string{}
		for h := (n + g) % 2; h < crashHosts; h += 2 { // each host in 5 groups, the ECS quota
			members = append(members, fmt.Sprintf("i-h%d", h))
		}
		rules := []model.DesiredRule{}
		for r := 0; r < crashRules; r++ {
			port := (n*crashRules+r)%60000 + 1
			rules = append(rules, model.DesiredRule{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", port, port), CIDR: "10.0.0.0/8",
				Priority: json.Number(strconv.Itoa(r%100 + 1)), Description: fmt.Sprintf("gen %d", n)})
		}
		d.SecurityGroups = append(d.SecurityGroups, model.DesiredGroup{ID: fmt.Sprintf("sg-g%d", g), Members: &members, Rules: &rules})
	}
	return d
}

func TestApplyCrashChild(t *testing.T) {
	path := storetest.CrashChildPath(t, applyCrashEnv)
	st, err := store.OpenBolt(path)
	if err != nil {
		storetest.ChildFail(err)
	}
	p := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for h := 0; h < crashHosts; h++ {
		id := fmt.Sprintf("i-h%d", h)
		if _, err := p.Host(id); err != nil {
			if err := p.CreateHost(admin, model.Host{ID: id, PrivateIPs: []string{fmt.Sprintf("10.9.0.%d", h+1)}}); err != nil {
				storetest.ChildFail(err)
			}
		}
	}
	start := 0
	if g, err := p.SecurityGroup("sg-g0"); err == nil && len(g.Rules) > 0 {
		start, _ = strconv.Atoi(strings.TrimPrefix(g.Rules[0].Description, "gen "))
		start++
	}
	for n := start; ; n++ {
		if _, err := p.ApplySecurityGroups(admin, generation(n)); err != nil {
			storetest.ChildFail(err)
		}
		storetest.Ack(n)
	}
}

func TestApplySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	child := storetest.CrashChild{Test: "TestApplyCrashChild", Env: applyCrashEnv, Path: path}
	rng := rand.New(rand.NewPCG(3, 5))
	for _, target := range []int{1, 6, 15, 3, 9, 20} {
		acks := child.RunAndKill(t, target, time.Duration(rng.IntN(3000))*time.Microsecond, nil)
		checkGeneration(t, path, acks[len(acks)-1])
	}
}

// checkGeneration checks the stored groups are exactly one generation, at least min, and that the last
// ApplySecurityGroups audit entry's "after" is that state.
func checkGeneration(t *testing.T, path string, min int) {
	t.Helper()
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := New(st, nil)
	groups, err := p.SecurityGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != crashGroups {
		t.Fatalf("%d groups after kill, want %d", len(groups), crashGroups)
	}
	gen := -1
	for i, g := range groups {
		if err := g.Validate(); err != nil {
			t.Fatalf("stored group invalid after kill: %v", err)
		}
		if len(g.Rules) != crashRules {
			t.Fatalf("group %s has %d rules after kill: a half-applied change", g.ID, len(g.Rules))
		}
		for _, r := range g.Rules {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.Description, "gen "))
			if gen == -1 {
				gen = n
			}
			if n != gen {
				t.Fatalf("group %s rule %s is generation %d, others %d: a half-applied change", g.ID, r.ID, n, gen)
			}
		}
		want := []string{}
		for h := (gen + i) % 2; h < crashHosts; h += 2 {
			want = append(want, fmt.Sprintf("i-h%d", h))
		}
		if strings.Join(g.Members, ",") != strings.Join(want, ",") {
			t.Fatalf("group %s members %v, generation %d wants %v", g.ID, g.Members, gen, want)
		}
	}
	if gen < min {
		t.Fatalf("stored generation %d, but %d was acknowledged", gen, min)
	}
	log, err := p.AuditLog(AuditFilter{Action: "ApplySecurityGroups", Limit: 1})
	if err != nil || len(log) != 1 {
		t.Fatalf("audit: %v %v", err, log)
	}
	var after []model.SecurityGroup
	if err := json.Unmarshal(log[0].After, &after); err != nil || len(after) != crashGroups || after[0].Rules[0].Description != fmt.Sprintf("gen %d", gen) {
		t.Fatalf("the last audited apply is not the stored state (generation %d): %v", gen, err)
	}
}
