package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
	"golang.org/x/sys/unix"
)

// Control-plane scale (issue 20): 1,000 instances of 10 whitelist groups × 100 entries, and 10,000 ACL
// users on the gateway. The target is a change compiled and published in ≤ 1 ms at p99; start-up (every
// instance compiled from the store) ≤ 2 s; memory reported.
const (
	scaleGroups  = 10
	scaleEntries = 100
)

// scaleSize is how many instances and ACL users the benchmarks build: 1,000 and 10,000, or a tenth of
// each with -short (make test's smoke run of every benchmark, 100 iterations each, where the full size
// takes minutes).
func scaleSize() (instances, users int) {
	if testing.Short() {
		return 100, 1000
	}
	return 1000, 10000
}

// scaleInstance is instance i: scaleGroups groups of scaleEntries distinct IPv4 /32s and /24s, and
// users ACL users, each with 5 key patterns and 3 categories.
func scaleInstance(i, users int) model.Instance {
	in := model.Instance{
		ID: fmt.Sprintf("r-scale%04d", i), Listen: []string{fmt.Sprintf("127.0.0.1:%d", 20000+i)},
		Backend: "redis://127.0.0.1:1",
	}
	for g := range scaleGroups {
		grp := allowlist.Group{Name: fmt.Sprintf("group%d", g)}
		if g == 0 {
			grp.Name = allowlist.DefaultGroup
		}
		for e := range scaleEntries {
			a := netip.AddrFrom4([4]byte{10, byte(g), byte(e), byte(i)})
			bits := 32
			if e%2 == 1 {
				a, bits = netip.AddrFrom4([4]byte{11 + byte(g), byte(i >> 8), byte(i), byte(e)}), 32
			}
			grp.Entries = append(grp.Entries, netip.PrefixFrom(a, bits))
		}
		in.Groups = append(in.Groups, grp)
	}
	for u := range users {
		sum := sha256.Sum256(fmt.Appendf(nil, "pw-%d-%d", i, u))
		in.ACL = append(in.ACL, fmt.Sprintf("user u%d on #%s ~app%d:* ~cache%d:* ~q%d:* ~s%d:* ~t%d:* resetchannels -@all +@read +@write +@connection",
			u, hex.EncodeToString(sum[:]), u, u, u, u, u))
	}
	return in
}

// scalePlane stores the instances of the benchmark (the changed one holds changedUsers users, the others
// share the rest of scaleSize's) and returns the Plane and the changed instance.
func scalePlane(b *testing.B, changedUsers int) (*controlplane.Plane, model.Instance) {
	b.Helper()
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "moat.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p := controlplane.New(st, slog.New(slog.DiscardHandler))
	instances, users := scaleSize()
	perOther := (users - changedUsers) / (instances - 1)
	var changed model.Instance
	for i := range instances {
		users := perOther
		if i == 0 {
			users = changedUsers
		}
		in := scaleInstance(i, users)
		if err := p.CreateInstance(controlplane.Actor{KeyID: "bench"}, in); err != nil {
			b.Fatalf("instance %d: %v", i, err)
		}
		if i == 0 {
			changed = in
		}
	}
	return p, changed
}

// BenchmarkControlPlaneChange is one change to one instance of 1,000 — compiled (its groups, bound
// security groups and ACL users) and published to its running gateway, as Server.onChange does once the
// change is durable: a whitelist change (users-on-instance=N: the instance has N users), or a change to
// one user's rules among 10,000 (one-user-of=10000; the gateway writes that user's backend identity).
// p50 and p99 are reported per change. The store's durable write (an fsync) comes before and is not
// counted; BenchmarkControlPlaneChangeDurable counts it.
func BenchmarkControlPlaneChange(b *testing.B) {
	whitelist := func(in *model.Instance, base []netip.Prefix, i int) {
		g := slices.Clone(in.Groups)
		g[0].Entries = append(slices.Clone(base), netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), 32))
		in.Groups = g
	}
	user := func(in *model.Instance, _ []netip.Prefix, i int) {
		acl := slices.Clone(in.ACL)
		acl[i%len(acl)] += fmt.Sprintf(" ~extra%d:*", i)
		in.ACL = acl
	}
	_, users := scaleSize()
	for _, c := range []struct {
		name   string
		users  int
		change func(in *model.Instance, base []netip.Prefix, i int)
	}{
		{"users-on-instance=10", 10, whitelist},
		{fmt.Sprintf("users-on-instance=%d", users), users, whitelist},
		{fmt.Sprintf("one-user-of=%d", users), users, user},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, in := scalePlane(b, c.users)
			gw := scaleGateway(b, p, in)
			base := slices.Clone(in.Groups[0].Entries)
			times := make([]time.Duration, 0, b.N)
			cpu := make([]time.Duration, 0, b.N)
			runtime.LockOSThread() // for the thread's CPU time: the box may be shared, the wall clock then says little
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				next := in
				c.change(&next, base, i)
				start, cpu0 := time.Now(), threadCPU()
				snap, err := p.CompileInstance(next)
				if err != nil {
					b.Fatal(err)
				}
				gw.Publish(snap)
				times, cpu = append(times, time.Since(start)), append(cpu, threadCPU()-cpu0)
			}
			b.StopTimer()
			reportPercentiles(b, "", times)
			reportPercentiles(b, "cpu-", cpu)
		})
	}
}

// BenchmarkControlPlaneChangeDurable is the same change through the control plane's API path:
// validated, stored durably with its audit entry (bbolt, fsync), then compiled and published by the
// watcher.
func BenchmarkControlPlaneChangeDurable(b *testing.B) {
	p, in := scalePlane(b, 10)
	gw := scaleGateway(b, p, in)
	p.Watch(func(changed model.Instance, deleted bool) {
		if changed.ID != in.ID || deleted {
			return
		}
		snap, err := p.CompileInstance(changed)
		if err != nil {
			b.Error(err)
			return
		}
		gw.Publish(snap)
	})
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		mode := allowlist.Append // then Delete: the group stays within its 1,000 entries
		if i%2 == 1 {
			mode = allowlist.Delete
		}
		start := time.Now()
		if _, err := p.ModifySecurityIps(controlplane.Actor{KeyID: "bench"}, in.ID, allowlist.Change{
			Group: allowlist.DefaultGroup, Mode: mode, Entries: "192.168.0.1",
		}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, "", times)
}

// BenchmarkControlPlaneStartup compiles every stored instance (1,000, with 10,000 users among them), as
// moat does at start before it serves them, and reports the heap the snapshots hold.
func BenchmarkControlPlaneStartup(b *testing.B) {
	p, _ := scalePlane(b, 10)
	b.ReportAllocs()
	b.ResetTimer()
	var heap uint64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		all, err := p.Instances()
		if err != nil {
			b.Fatal(err)
		}
		snaps := make([]any, 0, len(all))
		for _, in := range all {
			s, err := p.CompileInstance(in)
			if err != nil {
				b.Fatal(err)
			}
			snaps = append(snaps, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapInuse - before.HeapInuse
		runtime.KeepAlive(snaps)
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-snapshots")
}

// scaleGateway starts the changed instance's gateway (one listener, a real redis-server behind it) as
// Server.startInstance does: the backend's command table is the one the plane compiles its users
// against, and the one the gateway judges with.
func scaleGateway(b *testing.B, p *controlplane.Plane, in model.Instance) *gateway.Instance {
	b.Helper()
	srv := redistest.Start(b)
	be, err := backend.Open("redis://"+srv.Addr, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	log := slog.New(slog.DiscardHandler)
	table := gateway.CommandTable(be, 2*time.Second, p.Commands(), log)
	p.SetCommandTable(in.ID, table)
	snap, err := p.CompileInstance(in)
	if err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.Start(gateway.Config{ID: in.ID, Listen: []string{"127.0.0.1:0"}, Backend: be,
		Log: log, Metrics: gateway.NewMetrics(), Commands: table, DefaultCommands: true}, snap)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gw.Close() })
	return gw
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// reportPercentiles reports the p50 and p99 of times in microseconds, as <prefix>p50-µs and <prefix>p99-µs.
func reportPercentiles(b *testing.B, prefix string, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	at := func(q float64) float64 {
		return float64(times[min(len(times)-1, int(q*float64(len(times))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), prefix+"p50-µs")
	b.ReportMetric(at(0.99), prefix+"p99-µs")
}
