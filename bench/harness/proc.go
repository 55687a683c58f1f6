package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux this harness targets (Go
// cannot call sysconf without cgo; run.sh checks `getconf CLK_TCK` and refuses anything else).
const ClockTicks = 100

// ParseProcStatCPU returns utime+stime, in seconds, from the contents of /proc/<pid>/stat. The counts
// include every thread of the process, live or exited.
func ParseProcStatCPU(stat string) (float64, error) {
	// The command name (field 2) is in parentheses and may contain spaces and ')': split after the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat: no command field")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: utime %q stime %q", f[11], f[12])
	}
	return float64(ut+st) / ClockTicks, nil
}

// ProcCPU is ParseProcStatCPU of a live process (0 and an error if it is gone).
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseProcStatCPU(string(b))
}

// ParseBoxBusy returns the busy time of all CPUs together, in seconds, from the contents of /proc/stat:
// user+nice+system+irq+softirq+steal of the aggregate "cpu" line (idle and iowait excluded; guest time is
// already inside user), and of that the softirq part — on loopback, much of the network stack's work,
// which the kernel charges to no process.
func ParseBoxBusy(stat string) (busy, softirq float64, err error) {
	for line := range strings.Lines(stat) {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var b, si uint64
		for _, j := range []int{1, 2, 3, 6, 7, 8} { // user nice system [idle iowait] irq softirq steal
			v, err := strconv.ParseUint(f[j], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/stat: %q", line)
			}
			b += v
			if j == 7 {
				si = v
			}
		}
		return float64(b) / ClockTicks, float64(si) / ClockTicks, nil
	}
	return 0, 0, fmt.Errorf("/proc/stat: no aggregate cpu line")
}

// BoxBusy is ParseBoxBusy of the running system.
func BoxBusy() (busy, softirq float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return ParseBoxBusy(string(b))
}

// ParseStatusRSS returns VmRSS, in bytes, from the contents of /proc/<pid>/status.
func ParseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS (process gone or a kernel thread)")
}

// RSS is the resident set size of a live process in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusRSS(string(b))
}

// MetricValues picks unlabelled samples out of a Prometheus text exposition: name → value, for the
// names asked for. Missing names are absent from the result.
func MetricValues(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %q", f[0], f[1])
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}
