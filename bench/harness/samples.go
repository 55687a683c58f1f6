package harness

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// The tests of the round-robin, in table order. A redis-benchmark run of `-t set,get` yields two samples
// (its SET and GET lines); both carry that run's CPU figures.
const (
	TestP1Set  = "P1 SET"
	TestP1Get  = "P1 GET"
	TestP16Set = "P16 SET"
	TestP16Get = "P16 GET"
	TestChurn  = "churn"
	// The refusal-flood pair, run against moat's flood instance only.
	TestFloodOff = "flood off: P1 GET"
	TestFloodOn  = "flood on: P1 GET"
)

// MainTests are the columns of the throughput table, in order.
var MainTests = []string{TestP1Set, TestP1Get, TestP16Set, TestP16Get, TestChurn}

// Sample is one test of one redis-benchmark run against one target, with the CPU every process of
// interest used during that run. CPU figures are seconds of CPU (user+system) over the whole run.
type Sample struct {
	Round  int
	Target string
	Test   string
	RPS    float64
	P50Ms  float64
	// Ops is the number of requests of the whole redis-benchmark run (all its tests); WallSec its
	// duration. CPU per op divides by Ops, cores divide by WallSec.
	Ops     int64
	WallSec float64
	// ClientCPU: redis-benchmark (from its rusage). ProxyCPU: the target's proxy process (0 for direct).
	// RedisCPU: the redis-server behind every target. FloodCPU: the refusal-flood client, if one ran.
	// OtherCPU: everything else the box did meanwhile (all CPUs' busy time minus the above) — other
	// people's work, and kernel work not charged to a process; SoftirqCPU: the softirq part of the box's
	// busy time (inside OtherCPU), mostly the loopback network stack.
	ClientCPU, ProxyCPU, RedisCPU, FloodCPU, OtherCPU, SoftirqCPU float64
	// FloodConns: connections the flood client saw refused during the run.
	FloodConns int64
	Note       string
}

var sampleHeader = []string{"round", "target", "test", "rps", "p50_ms", "ops", "wall_s",
	"client_cpu_s", "proxy_cpu_s", "redis_cpu_s", "flood_cpu_s", "other_cpu_s", "softirq_cpu_s", "flood_conns", "note"}

// SampleWriter appends samples to the raw samples file (CSV with a header).
type SampleWriter struct {
	w *csv.Writer
}

// NewSampleWriter writes the header unless header is false (appending to an existing file).
func NewSampleWriter(w io.Writer, header bool) (*SampleWriter, error) {
	sw := &SampleWriter{w: csv.NewWriter(w)}
	if header {
		if err := sw.w.Write(sampleHeader); err != nil {
			return nil, err
		}
		sw.w.Flush()
	}
	return sw, sw.w.Error()
}

// Write writes and flushes one sample, so a run that dies midway keeps what it measured.
func (sw *SampleWriter) Write(s Sample) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	rec := []string{strconv.Itoa(s.Round), s.Target, s.Test, f(s.RPS), f(s.P50Ms),
		strconv.FormatInt(s.Ops, 10), f(s.WallSec), f(s.ClientCPU), f(s.ProxyCPU), f(s.RedisCPU),
		f(s.FloodCPU), f(s.OtherCPU), f(s.SoftirqCPU), strconv.FormatInt(s.FloodConns, 10), s.Note}
	if err := sw.w.Write(rec); err != nil {
		return err
	}
	sw.w.Flush()
	return sw.w.Error()
}

// ReadSamples reads a raw samples file written by SampleWriter.
func ReadSamples(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(sampleHeader)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	var out []Sample
	for i, rec := range recs {
		if i == 0 && rec[0] == sampleHeader[0] {
			continue
		}
		var s Sample
		var errs []error
		num := func(j int) float64 {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %q", sampleHeader[j], rec[j]))
			}
			return v
		}
		integer := func(j int) int64 {
			v, err := strconv.ParseInt(rec[j], 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %q", sampleHeader[j], rec[j]))
			}
			return v
		}
		s.Round = int(integer(0))
		s.Target, s.Test = rec[1], rec[2]
		s.RPS, s.P50Ms = num(3), num(4)
		s.Ops, s.WallSec = integer(5), num(6)
		s.ClientCPU, s.ProxyCPU, s.RedisCPU, s.FloodCPU, s.OtherCPU, s.SoftirqCPU = num(7), num(8), num(9), num(10), num(11), num(12)
		s.FloodConns = integer(13)
		s.Note = rec[14]
		if len(errs) > 0 {
			return nil, fmt.Errorf("samples line %d: bad %v", i+1, errs)
		}
		out = append(out, s)
	}
	return out, nil
}
