package gateway

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Statistics of the commands moat answers itself (issue 18, D6). INFO, LATENCY and CONFIG RESETSTAT
// are the backend's, which never sees AUTH, HELLO's refusals, ACL, CLIENT LIST/INFO/KILL, moat's
// parameters of CONFIG, nor moat's refusals (unknown or renamed-away command, arity, NOAUTH, NOPERM,
// EXECABORT of a transaction moat doomed …). moat counts those here, per instance, as Redis 7.0.15
// counts its own (src/server.c call(), afterErrorReply), and adds them to what the backend answers:
// INFO's commandstats, errorstats, latencystats and stats sections (info.go, infostats.go), LATENCY
// HISTOGRAM (latency.go). CONFIG RESETSTAT forgets them with the backend's.
//
//   - A call: a command moat ran (calls, usec, its latency histogram); failed_calls when its reply
//     is an error. The time is the decision's for AUTH, ACL, CONFIG, HELLO and QUIT (the password
//     check, ACL's changes: command.timed), or the run of the call in the pump for the replies built
//     there (CLIENT LIST/INFO/KILL, ACL LOG, CONFIG GET); 0 for a CLIENT syntax error.
//   - A rejected call: a command refused before it ran (lookup, arity, NOAUTH, NOPERM, a protected
//     command, a renamed command on a backend identity): rejected_calls of the command, when the name
//     is known (an unknown command or subcommand counts only as an error reply, as in Redis).
//   - An error reply: errorstat_<PREFIX>, the error's first word (up to 32 bytes, else ERR, as
//     Redis's afterErrorReply), and total_error_replies. Redis's limit of 128 distinct prefixes holds.
//
// Names are Redis's: "container|sub" for a subcommand. Commands queued inside MULTI are counted when
// EXEC runs them, not when queued (+QUEUED), as in Redis.
//
// Cost: nothing is counted on the path of a forwarded command (decide compares its act, once). The
// command counters are atomics in the command table's entries (allocated at a command's first count,
// then never again until CONFIG RESETSTAT); the error prefixes are a map under a mutex, taken only for
// an error moat answers.
//
// Latency histogram: per command, the count of calls in log-2 buckets of nanoseconds whose upper bounds
// are where Redis's LATENCY HISTOGRAM reads its HDR histogram (hdr_iter_log_init(…, 1024, 2) over a
// histogram of 2 significant digits: 1024·2^k + 1024·2^k/128 − 1 ns, so 1, 2, 4, 8, 16, 33, 66 … µs),
// up to Redis's largest recorded value, 1 s. A percentile (INFO latencystats) is the upper bound of the
// bucket that holds it — within a factor of 2 of the exact value, where Redis's is within 1%.
//
// Known differences: the backend counts what moat itself sends it (the CONFIG GET cluster-enabled of
// each new backend connection, logins and CLIENT REPLY of backend identities, the script guard's AUTH,
// DISCARD in place of a doomed EXEC, CLIENT LIST looking up backend IDs), and moat does not take those
// out. For a command both count (client|id, answered by the backend outside MULTI and by moat inside),
// INFO latencystats shows the backend's percentiles. moat records latencies whatever the backend's
// latency-tracking says, and writes latencystats lines at the percentiles the backend's own lines show
// (Redis's default 50, 99, 99.9 when it shows none). Under CLIENT REPLY OFF|SKIP, moat's calls answered
// in the pump are counted, but not whether their silenced reply was an error. A command EXEC refuses
// (the transaction's ACL changes, HELLO's refusals) counts as an error reply only. CONFIG RESETSTAT
// resets moat's counts when it is decided (at EXEC inside MULTI): a call the pump runs for a command
// pipelined before it is counted after the reset.

// histBuckets is the number of latency buckets: 1024·2^20 ns ≥ 1 s, Redis's largest recorded value.
const histBuckets = 21

// histTop is the largest value, in nanoseconds, that bucket k holds.
func histTop(k int) int64 {
	v := int64(1024) << k
	return v + v/128 - 1
}

// histBucket is the bucket of a duration of ns nanoseconds.
func histBucket(ns int64) int {
	for k := range histBuckets {
		if ns <= histTop(k) {
			return k
		}
	}
	return histBuckets - 1
}

// cmdStats are one command's counters. Safe for concurrent use; the zero value counts nothing.
type cmdStats struct {
	calls, usec, rejected, failed atomic.Int64
	hist                          [histBuckets]atomic.Int64
}

// cmdCounts is a copy of one command's counters, under its name in statistics.
type cmdCounts struct {
	name                          string
	calls, usec, rejected, failed int64
	hist                          [histBuckets]int64
}

// samples is how many calls the histogram holds.
func (c *cmdCounts) samples() int64 {
	var n int64
	for _, v := range c.hist {
		n += v
	}
	return n
}

// percentile is the value, in nanoseconds, at percentile p (0–100) of the histogram, as Redis's
// hdr_value_at_percentile picks it: the bucket where the count reaches p% of the calls (rounded, at
// least one), its lowest value for p 0, else its highest.
func (c *cmdCounts) percentile(p float64) int64 {
	want := max(int64(min(p, 100)/100*float64(c.samples())+0.5), 1)
	var seen int64
	for k, v := range c.hist {
		if seen += v; seen >= want {
			if p == 0 {
				if k == 0 {
					return 0
				}
				return histTop(k-1) + 1
			}
			return histTop(k)
		}
	}
	return histTop(histBuckets - 1)
}

// maxErrorPrefixes is Redis 7.0.15's limit on distinct error prefixes (ERROR_STATS_NUMBER).
const maxErrorPrefixes = 128

// stats are an instance's error counts; the command counts live in its command table. Safe for
// concurrent use; the zero value is empty.
type stats struct {
	mu     sync.Mutex
	errors map[string]*int64 // the counts by prefix; guarded by mu
	total  atomic.Int64      // error replies
}

// counters returns e's counters, allocated at its first count.
func (e *command) counters() *cmdStats {
	if s := e.stats.Load(); s != nil {
		return s
	}
	s := new(cmdStats)
	if e.stats.CompareAndSwap(nil, s) {
		return s
	}
	return e.stats.Load()
}

// noteError counts reply when it is an error reply.
func (in *Instance) noteError(reply []byte) bool {
	if len(reply) == 0 || reply[0] != '-' {
		return false
	}
	prefix := []byte("ERR")
	if sp := bytes.IndexByte(reply[:min(len(reply), 32)], ' '); sp > 1 {
		prefix = reply[1:sp]
	}
	st := &in.stats
	st.total.Add(1)
	st.mu.Lock()
	n := st.errors[string(prefix)] // does not allocate
	if n == nil && len(st.errors) < maxErrorPrefixes {
		if st.errors == nil {
			st.errors = map[string]*int64{}
		}
		n = new(int64)
		st.errors[string(prefix)] = n
	}
	if n != nil {
		*n++
	}
	st.mu.Unlock()
	return true
}

// noteRejected counts a command of entry e refused before it ran with reply (nil e: an unknown
// command or subcommand, counted as an error reply only).
func (in *Instance) noteRejected(e *command, reply []byte) {
	in.noteError(reply)
	if e != nil {
		e.counters().rejected.Add(1)
	}
}

// noteCall counts a call of entry e that took d and answered reply (nil: silenced; not an error).
func (in *Instance) noteCall(e *command, d time.Duration, reply []byte) {
	failed := in.noteError(reply)
	if e == nil {
		return
	}
	s := e.counters()
	s.calls.Add(1)
	s.usec.Add(d.Microseconds())
	s.hist[histBucket(int64(d))].Add(1)
	if failed {
		s.failed.Add(1)
	}
}

// resetStats forgets the counts (CONFIG RESETSTAT).
func (in *Instance) resetStats() {
	in.cmds.each(func(e *command) { e.stats.Store(nil) })
	st := &in.stats
	st.mu.Lock()
	st.errors = nil
	st.total.Store(0)
	st.mu.Unlock()
}

// commandCounts returns the counts of the commands moat counted, by name.
func (in *Instance) commandCounts() []cmdCounts {
	var out []cmdCounts
	in.cmds.each(func(e *command) {
		s := e.stats.Load()
		if s == nil {
			return
		}
		c := cmdCounts{name: e.statName, calls: s.calls.Load(), usec: s.usec.Load(), rejected: s.rejected.Load(), failed: s.failed.Load()}
		for k := range c.hist {
			c.hist[k] = s.hist[k].Load()
		}
		if c.calls+c.rejected+c.failed > 0 {
			out = append(out, c)
		}
	})
	slices.SortFunc(out, func(a, b cmdCounts) int { return strings.Compare(a.name, b.name) })
	return out
}

// errorCounts returns the error replies moat counted, by prefix, and their total.
func (in *Instance) errorCounts() (by map[string]int64, total int64) {
	st := &in.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	by = make(map[string]int64, len(st.errors))
	for p, n := range st.errors {
		by[p] = *n
	}
	return by, st.total.Load()
}
