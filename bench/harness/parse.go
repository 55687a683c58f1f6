// Package harness is the logic of moat's benchmark harness (bench/run.sh): parsing redis-benchmark's CSV,
// the raw samples file, medians and ratios to direct Redis, the printed table, results.csv, the chart,
// and the generated configurations of the peers. The process juggling lives in run.sh and cmd/moatbench.
package harness

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// BenchResult is one line of `redis-benchmark --csv`: one test (SET, GET, PING_MBULK …) of one run.
type BenchResult struct {
	Test  string  // as redis-benchmark names it, upper case: SET, GET, PING_MBULK
	RPS   float64 // requests per second
	AvgMs float64
	P50Ms float64
	P99Ms float64
}

// ParseBenchCSV reads redis-benchmark's --csv output:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
//	"SET","80000.00","0.3",…
//
// Lines that are not CSV records of that shape (warnings that reached stdout, blank lines, the progress
// lines of a terminal run) are skipped; columns are found by the header's names, so older releases that
// print fewer columns still parse. An input with no result line is an error.
func ParseBenchCSV(r io.Reader) ([]BenchResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	col := map[string]int{}
	var out []BenchResult
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// The progress display of a terminal run ends in '\r'-separated updates; keep the last.
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = strings.TrimSpace(line[i+1:])
		}
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) < 2 {
			continue
		}
		if rec[0] == "test" {
			col = map[string]int{}
			for i, name := range rec {
				col[name] = i
			}
			continue
		}
		if len(col) == 0 {
			// No header seen: redis-benchmark before 6.2 printed "TEST","rps" pairs only.
			col = map[string]int{"test": 0, "rps": 1}
		}
		get := func(name string) (float64, bool, error) {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return 0, false, nil
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return 0, true, fmt.Errorf("redis-benchmark csv: %s %q of %q: %w", name, rec[i], rec[0], err)
			}
			return v, true, nil
		}
		res := BenchResult{Test: strings.ToUpper(rec[col["test"]])}
		var ok bool
		var err2 error
		if res.RPS, ok, err2 = get("rps"); err2 != nil {
			return nil, err2
		} else if !ok {
			continue
		}
		if res.AvgMs, _, err2 = get("avg_latency_ms"); err2 != nil {
			return nil, err2
		}
		if res.P50Ms, _, err2 = get("p50_latency_ms"); err2 != nil {
			return nil, err2
		}
		if res.P99Ms, _, err2 = get("p99_latency_ms"); err2 != nil {
			return nil, err2
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("redis-benchmark csv: no result line")
	}
	return out, nil
}
