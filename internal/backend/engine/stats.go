package engine

import (
	"crypto/rand"
	"encoding/hex"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the engine's counters that INFO reports.
type stats struct {
	started      time.Time
	runID        string // 40 hex digits, new at each Open (as Redis's run_id)
	replID       string // 40 hex digits (Redis's master_replid)
	connections  atomic.Int64
	commands     atomic.Int64
	netIn        atomic.Int64
	netOut       atomic.Int64
	errorReplies atomic.Int64
	blocked      atomic.Int64
	opsPerSec    atomic.Int64 // commands in the last second, set by the sync loop
	lastCommands int64        // commands at the last sample (sync loop only)

	mu             sync.Mutex
	perCommand     map[string]*commandStat // by lower-case name ("xinfo|groups" for subcommands)
	errorCodes     map[string]int64        // by the first word of the error reply
	peakMemory     uint64
	rewrites       int
	rewriteFails   int // consecutive
	lastRewrite    time.Duration
	lastRewriteErr bool
	rewriting      bool
	expiries       map[int]expiries // by database, for INFO keyspace
}

// commandStat is one command's calls, time and latency histogram (bucket i: under 2^i µs).
type commandStat struct {
	calls, failed, usec int64
	hist                [40]int64
}

// maxErrorCodes bounds errorCodes (Redis stops tracking new codes at 128 too).
const maxErrorCodes = 128

func newStats() *stats {
	return &stats{
		started: time.Now(), runID: randomHex(), replID: randomHex(),
		perCommand: map[string]*commandStat{}, errorCodes: map[string]int64{}, expiries: map[int]expiries{},
	}
}

// randomHex is 40 random hex digits.
func randomHex() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isContainer reports the commands whose statistics are kept per subcommand, as Redis 7 keeps them.
func isContainer(name string) bool {
	switch name {
	case "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
		"object", "pubsub", "script", "slowlog", "xgroup", "xinfo":
		return true
	}
	return false
}

// command counts one command (args) that took took and replied reply.
func (s *stats) command(args []string, reply []byte, took time.Duration) {
	s.commands.Add(1)
	failed := len(reply) > 0 && reply[0] == '-'
	if failed {
		s.errorReply(reply)
		if strings.HasPrefix(string(reply), unknownCommand) {
			return
		}
	}
	var buf [64]byte // the name, lower case, without allocating for a lookup
	name := appendLower(buf[:0], args[0])
	if isContainer(string(name)) && len(args) > 1 {
		name = appendLower(append(name, '|'), args[1])
	}
	us := took.Microseconds()
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.perCommand[string(name)]
	if cs == nil {
		if failed {
			return // a name that never ran is not kept (clients choose subcommand names)
		}
		cs = &commandStat{}
		s.perCommand[string(name)] = cs
	}
	cs.calls++
	cs.usec += us
	if failed {
		cs.failed++
	}
	cs.hist[min(bits.Len64(uint64(us)), len(cs.hist)-1)]++
}

// errorReply counts an error reply by its code.
func (s *stats) errorReply(reply []byte) {
	s.errorReplies.Add(1)
	code, _, _ := strings.Cut(strings.TrimSuffix(string(reply[1:]), "\r\n"), " ")
	s.mu.Lock()
	if _, ok := s.errorCodes[code]; ok || len(s.errorCodes) < maxErrorCodes {
		s.errorCodes[code]++
	}
	s.mu.Unlock()
}

// sample sets the commands of the last second (called every second).
func (s *stats) sample() {
	n := s.commands.Load()
	s.opsPerSec.Store(n - s.lastCommands)
	s.lastCommands = n
}

// percentile is the upper bound (µs) of the histogram bucket holding the p-th percentile.
func (cs *commandStat) percentile(p float64) int64 {
	want := int64(p / 100 * float64(cs.calls))
	var seen int64
	for i, n := range cs.hist {
		seen += n
		if seen > want || seen == cs.calls {
			return 1 << i
		}
	}
	return 1 << (len(cs.hist) - 1)
}

// appendLower appends s in lower case (ASCII).
func appendLower(b []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}
