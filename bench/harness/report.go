package harness

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Goals are moat's targets from issue 7, as ratios to direct Redis (throughput), bytes (idle memory) and
// the largest tolerated loss of served throughput under a refusal flood.
var Goals = struct {
	P1, P16, Churn    float64
	IdleBytesPerConn  float64
	FloodLossFraction float64
}{P1: 0.90, P16: 0.75, Churn: 0.90, IdleBytesPerConn: 16 * 1024, FloodLossFraction: 0.10}

// GoalFor is moat's ratio target for a main test (NaN if none).
func GoalFor(test string) float64 {
	switch test {
	case TestP1Set, TestP1Get:
		return Goals.P1
	case TestP16Set, TestP16Get:
		return Goals.P16
	case TestChurn:
		return Goals.Churn
	}
	return math.NaN()
}

// Thousands formats v rounded to an integer with comma separators: 1273885.2 → "1,273,885".
func Thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fixed(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func label(t Target) string {
	if t.Label != "" {
		return t.Label
	}
	return t.Name
}

// WriteTable writes the summary as Markdown tables: throughput medians with ratios to direct Redis, the
// CPU each process used, the refusal flood, the idle-memory test, and moat's goals met or missed.
func WriteTable(w io.Writer, sum *Summary) {
	fmt.Fprintf(w, "Throughput: median ops/s over the rounds (ratio to direct redis-server in the same run); churn = new connections/s\n\n")
	fmt.Fprintf(w, "| target | %s | n |\n", strings.Join(sum.Tests, " | "))
	fmt.Fprintf(w, "|---|%s---|\n", strings.Repeat("---|", len(sum.Tests)))
	for _, t := range sum.Targets {
		if t.Skip != "" {
			fmt.Fprintf(w, "| %s | %s |%s |\n", label(t), "skipped: "+t.Skip, strings.Repeat(" |", len(sum.Tests)-1))
			continue
		}
		row := sum.Cells[t.Name]
		cols := make([]string, 0, len(sum.Tests))
		n := 0
		for _, test := range sum.Tests {
			c := row[test]
			if c == nil {
				cols = append(cols, "–")
				continue
			}
			n = max(n, c.N)
			cols = append(cols, fmt.Sprintf("%s (%s)", Thousands(c.RPS), fixed(c.Ratio, 2)))
		}
		fmt.Fprintf(w, "| %s | %s | %d |\n", label(t), strings.Join(cols, " | "), n)
	}
	var notes []string
	for _, t := range sum.Targets {
		if t.Skip == "" && t.Auth {
			notes = append(notes, t.Name+": "+authNote(t))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "\n\n"))
	}

	fmt.Fprintf(w, "\nCPU during each run (medians): cores = CPU seconds / wall seconds; µs/op = CPU per request "+
		"(per connection for churn; a set,get run's CPU is shared by its SET and GET rows, so both show the same figure). "+
		"\"rest\" = the box's busy time not charged to the client, the proxy or redis-server: other people's work, and kernel work charged to no process, "+
		"of which softirq (mostly the loopback network stack) is shown in parentheses.\n\n")
	fmt.Fprintf(w, "| target | test | p50 ms | proxy cores | proxy µs/op | redis cores | redis µs/op | client cores | rest cores (softirq) | spread ops/s |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range sum.Targets {
		if t.Skip != "" {
			continue
		}
		for _, test := range sum.Tests {
			c := sum.Cells[t.Name][test]
			if c == nil {
				continue
			}
			proxyCores, proxyUs := fixed(c.ProxyCores, 2), fixed(c.ProxyUsPerOp, 1)
			if t.Name == DirectTarget {
				proxyCores, proxyUs = "–", "–"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s–%s |\n", t.Name, test,
				fixed(c.P50Ms, 3), proxyCores, proxyUs, fixed(c.RedisCores, 2), fixed(c.RedisUsPerOp, 1),
				fixed(c.ClientCores, 2), rest(c), Thousands(c.Min), Thousands(c.Max))
		}
	}

	if f := sum.Flood; f != nil {
		fmt.Fprintf(w, "\nRefusal flood (moat's flood instance, `-t get -P 1`; the flood connects from a refused 127.0.0.x address "+
			"and reads the refusal, as fast as it can, during the \"on\" run):\n\n")
		fmt.Fprintf(w, "| run | ops/s | n | p50 ms | moat cores | redis cores | client cores | flood client cores | refused conn/s | rest cores (softirq) |\n")
		fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range []struct {
			name string
			c    *Cell
		}{{"no flood", f.Off}, {"flood", f.On}} {
			if r.c == nil {
				continue
			}
			c := r.c
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.name, Thousands(c.RPS), c.N,
				fixed(c.P50Ms, 3), fixed(c.ProxyCores, 2), fixed(c.RedisCores, 2), fixed(c.ClientCores, 2),
				fixed(c.FloodCores, 2), Thousands(c.FloodConnsPerSec), rest(c))
		}
		fmt.Fprintf(w, "\nServed with flood / without: %s; moat CPU per refused connection ≈ %s µs "+
			"(its extra cores during the flood over the refusals per second)\n", fixed(f.Ratio, 2), fixed(f.UsPerRefusal, 1))
	}

	if id := sum.Idle; id != nil {
		fmt.Fprintf(w, "\nIdle memory (moat): %s idle client connections (each sent one PING, then stays open): "+
			"RSS %s → %s bytes, %s bytes per connection", Thousands(float64(id.Conns)), Thousands(float64(id.RSSBefore)),
			Thousands(float64(id.RSSAfter)), Thousands(id.BytesPerConn))
		if id.HeapAfter > 0 {
			fmt.Fprintf(w, "; Go heap in use %s → %s, goroutines %d → %d", Thousands(float64(id.HeapBefore)),
				Thousands(float64(id.HeapAfter)), id.GoroutinesBefore, id.GoroutinesAfter)
		}
		fmt.Fprintln(w)
		if id.Note != "" {
			fmt.Fprintf(w, "(%s)\n", id.Note)
		}
	}

	for _, name := range []string{"moat", "moat+acl"} {
		row := sum.Cells[name]
		if row == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s against issue 7's targets", name)
		if c := row[TestP1Set]; c != nil && c.N < 3 {
			fmt.Fprintf(w, " (%d round(s): indicative only, one noisy sample can flip a verdict)", c.N)
		}
		fmt.Fprintf(w, ":\n\n")
		for _, test := range sum.Tests {
			c := row[test]
			if c == nil {
				continue
			}
			g := GoalFor(test)
			fmt.Fprintf(w, "- %s: %s (target ≥ %.2f) %s\n", test, fixed(c.Ratio, 2), g, verdict(c.Ratio >= g, c.Ratio))
		}
		if name != "moat" {
			continue // the idle and flood tests run against moat's plain instances only
		}
		if id := sum.Idle; id != nil && id.Conns > 0 {
			fmt.Fprintf(w, "- idle memory: %s bytes/connection (target ≤ %s) %s\n", Thousands(id.BytesPerConn),
				Thousands(Goals.IdleBytesPerConn), verdict(id.BytesPerConn <= Goals.IdleBytesPerConn, id.BytesPerConn))
		}
		if f := sum.Flood; f != nil {
			fmt.Fprintf(w, "- refusal flood: served %s of unflooded (target ≥ %.2f) %s\n", fixed(f.Ratio, 2),
				1-Goals.FloodLossFraction, verdict(f.Ratio >= 1-Goals.FloodLossFraction, f.Ratio))
		}
	}
}

// authNote says how a target's client logs in, and what that adds to churn.
func authNote(t Target) string {
	who := "the default user (AUTH password)"
	if t.User != "" {
		who = fmt.Sprintf("ACL user %q (AUTH %s password)", t.User, t.User)
	}
	return "redis-benchmark logs in as " + who + " on every connection it opens, so each new connection of churn " +
		"includes an AUTH round trip (and its password check) before the PING"
}

func rest(c *Cell) string {
	return fmt.Sprintf("%s (%s)", fixed(c.OtherCores, 2), fixed(c.SoftirqCores, 2))
}

func verdict(ok bool, v float64) string {
	switch {
	case math.IsNaN(v):
		return "not measured"
	case ok:
		return "met"
	}
	return "MISSED"
}

var resultsHeader = []string{"target", "test", "n", "median_ops_per_s", "min_ops_per_s", "max_ops_per_s",
	"ratio_to_direct", "p50_ms", "proxy_cores", "proxy_us_per_op", "redis_cores", "redis_us_per_op",
	"client_cores", "flood_client_cores", "flood_refused_per_s", "rest_cores", "softirq_cores", "value", "unit", "note"}

// WriteResultsCSV writes one line per target and test (medians), one per skipped target, the flood pair
// (ratio = flooded / unflooded) and the idle-memory figure (value in bytes per connection).
func WriteResultsCSV(w io.Writer, sum *Summary) error {
	cw := csv.NewWriter(w)
	cw.Write(resultsHeader)
	f := func(v float64, prec int) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	cell := func(target, test string, c *Cell, ratio float64, value, unit, note string) {
		cw.Write([]string{target, test, strconv.Itoa(c.N), f(c.RPS, 2), f(c.Min, 2), f(c.Max, 2), f(ratio, 4),
			f(c.P50Ms, 3), f(c.ProxyCores, 3), f(c.ProxyUsPerOp, 2), f(c.RedisCores, 3), f(c.RedisUsPerOp, 2),
			f(c.ClientCores, 3), f(c.FloodCores, 3), f(c.FloodConnsPerSec, 0), f(c.OtherCores, 3), f(c.SoftirqCores, 3), value, unit, note})
	}
	for _, t := range sum.Targets {
		if t.Skip != "" {
			cw.Write([]string{t.Name, "", "0", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "skipped: " + t.Skip})
			continue
		}
		for _, test := range sum.Tests {
			if c := sum.Cells[t.Name][test]; c != nil {
				note := ""
				if t.Auth {
					note = authNote(t)
				}
				cell(t.Name, test, c, c.Ratio, "", "", note)
			}
		}
	}
	if fl := sum.Flood; fl != nil {
		if fl.Off != nil {
			cell("moat", TestFloodOff, fl.Off, math.NaN(), "", "", "moat flood instance, no flood")
		}
		if fl.On != nil {
			cell("moat", TestFloodOn, fl.On, fl.Ratio, f(fl.UsPerRefusal, 1), "moat µs per refused connection (estimate)",
				"ratio = flooded / unflooded")
		}
	}
	if id := sum.Idle; id != nil {
		cw.Write([]string{"moat", "idle memory", strconv.Itoa(id.Conns), "", "", "", "", "", "", "", "", "", "", "", "", "", "",
			f(id.BytesPerConn, 0), "bytes/connection",
			fmt.Sprintf("RSS %d -> %d bytes over %d idle connections", id.RSSBefore, id.RSSAfter, id.Conns)})
	}
	cw.Flush()
	return cw.Error()
}
