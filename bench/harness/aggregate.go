package harness

import (
	"math"
	"slices"
)

// DirectTarget is the target every ratio is taken against.
const DirectTarget = "direct"

// Target is one row of the table: a name, and why it was skipped if it was.
type Target struct {
	Name  string
	Label string // longer description for the table, e.g. "HAProxy 2.6 TCP, 1,000-CIDR allow list"
	Skip  string // non-empty: declared but not measured, and why
	Auth  bool   // the client logs in (AUTH) on every connection it opens
	User  string // as this ACL user ("" with Auth: the default user)
}

// Cell is the medians of one target's samples of one test.
type Cell struct {
	N                int
	RPS, Min, Max    float64 // median, smallest and largest ops/s
	Ratio            float64 // RPS / the direct target's RPS for the same test (NaN if no direct figure)
	P50Ms            float64
	ProxyCores       float64 // CPU of the proxy process / wall time of the run
	RedisCores       float64
	ClientCores      float64
	FloodCores       float64
	OtherCores       float64
	SoftirqCores     float64 // part of OtherCores
	ProxyUsPerOp     float64 // µs of proxy CPU per request (per connection for churn)
	RedisUsPerOp     float64
	FloodConnsPerSec float64
}

// Summary is what the table, results.csv and the chart show.
type Summary struct {
	Targets []Target
	Tests   []string
	Cells   map[string]map[string]*Cell // target → test → cell
	// Flood compares moat's served throughput without and with the refusal flood (nil if not run).
	Flood *FloodSummary
	Idle  *IdleResult
}

// FloodSummary: the served throughput of moat's flood instance without and with a connect-and-refuse
// flood from a non-whitelisted address.
type FloodSummary struct {
	Off, On *Cell
	Ratio   float64 // On.RPS / Off.RPS
	// UsPerRefusal estimates moat's CPU per refused connection: its cores during the flood run, less what
	// the served requests cost at the unflooded run's µs/op, over the refusals per second.
	UsPerRefusal float64
}

// IdleResult is the idle-memory test: moat's RSS before and after Conns idle client connections.
type IdleResult struct {
	Requested, Conns    int
	RSSBefore, RSSAfter int64 // bytes
	BytesPerConn        float64
	// From moat's /metrics when it exports them (0 otherwise): Go heap in use and goroutines.
	HeapBefore, HeapAfter             int64
	GoroutinesBefore, GoroutinesAfter int64
	Note                              string
}

// Median of xs (NaN for none); xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Aggregate computes per-target, per-test medians of samples, and ratios to the direct target. Targets
// with Skip set get no cells. Tests other than MainTests (the flood pair) are summarised in Flood.
func Aggregate(targets []Target, samples []Sample) *Summary {
	sum := &Summary{Targets: targets, Tests: MainTests, Cells: map[string]map[string]*Cell{}}
	type key struct{ target, test string }
	groups := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Target, s.Test}
		groups[k] = append(groups[k], s)
	}
	cellOf := func(ss []Sample) *Cell {
		if len(ss) == 0 {
			return nil
		}
		med := func(f func(Sample) float64) float64 {
			xs := make([]float64, 0, len(ss))
			for _, s := range ss {
				xs = append(xs, f(s))
			}
			return Median(xs)
		}
		per := func(cpu, wall float64) float64 {
			if wall <= 0 {
				return math.NaN()
			}
			return cpu / wall
		}
		perOp := func(cpu float64, ops int64) float64 {
			if ops <= 0 {
				return math.NaN()
			}
			return cpu * 1e6 / float64(ops)
		}
		c := &Cell{N: len(ss), Ratio: math.NaN()}
		c.RPS = med(func(s Sample) float64 { return s.RPS })
		c.Min, c.Max = math.Inf(1), math.Inf(-1)
		for _, s := range ss {
			c.Min, c.Max = math.Min(c.Min, s.RPS), math.Max(c.Max, s.RPS)
		}
		c.P50Ms = med(func(s Sample) float64 { return s.P50Ms })
		c.ProxyCores = med(func(s Sample) float64 { return per(s.ProxyCPU, s.WallSec) })
		c.RedisCores = med(func(s Sample) float64 { return per(s.RedisCPU, s.WallSec) })
		c.ClientCores = med(func(s Sample) float64 { return per(s.ClientCPU, s.WallSec) })
		c.FloodCores = med(func(s Sample) float64 { return per(s.FloodCPU, s.WallSec) })
		c.OtherCores = med(func(s Sample) float64 { return per(s.OtherCPU, s.WallSec) })
		c.SoftirqCores = med(func(s Sample) float64 { return per(s.SoftirqCPU, s.WallSec) })
		c.ProxyUsPerOp = med(func(s Sample) float64 { return perOp(s.ProxyCPU, s.Ops) })
		c.RedisUsPerOp = med(func(s Sample) float64 { return perOp(s.RedisCPU, s.Ops) })
		c.FloodConnsPerSec = med(func(s Sample) float64 { return per(float64(s.FloodConns), s.WallSec) })
		return c
	}
	for _, t := range targets {
		if t.Skip != "" {
			continue
		}
		row := map[string]*Cell{}
		for _, test := range MainTests {
			if c := cellOf(groups[key{t.Name, test}]); c != nil {
				row[test] = c
			}
		}
		sum.Cells[t.Name] = row
	}
	if direct := sum.Cells[DirectTarget]; direct != nil {
		for _, row := range sum.Cells {
			for test, c := range row {
				if d := direct[test]; d != nil && d.RPS > 0 {
					c.Ratio = c.RPS / d.RPS
				}
			}
		}
	}
	var off, on []Sample
	for _, s := range samples {
		switch s.Test {
		case TestFloodOff:
			off = append(off, s)
		case TestFloodOn:
			on = append(on, s)
		}
	}
	if len(off) > 0 || len(on) > 0 {
		f := &FloodSummary{Off: cellOf(off), On: cellOf(on), Ratio: math.NaN(), UsPerRefusal: math.NaN()}
		if f.Off != nil && f.On != nil && f.Off.RPS > 0 {
			f.Ratio = f.On.RPS / f.Off.RPS
			if f.On.FloodConnsPerSec > 0 {
				extra := f.On.ProxyCores - f.On.RPS*f.Off.ProxyUsPerOp/1e6
				f.UsPerRefusal = extra * 1e6 / f.On.FloodConnsPerSec
			}
		}
		sum.Flood = f
	}
	return sum
}
