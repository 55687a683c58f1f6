package gateway

import (
	"bufio"
	"bytes"
	"maps"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// LATENCY HISTOGRAM is the backend's, with the histograms of the commands moat answers itself
// (stats.go) in it, as Redis 7.0.15 answers it (src/latency.c latencyAllCommandsFillCDF,
// latencySpecificCommandsFillCDF): a map of command name → {calls, histogram_usec: a map of a bucket's
// upper bound in µs → the cumulative count of calls up to it}, only the buckets where the count grows.
// Without arguments, every command with calls; with some, the commands they name ("client" names
// CLIENT and its subcommands, "client|list" one subcommand; unknown names are skipped). A command both
// count gets one histogram, the two merged bucket by bucket (moat's buckets have the bounds Redis's
// show: stats.go); one only moat counted is added after the backend's. The reply keeps the backend's
// protocol (RESP2 arrays, RESP3 maps). Inside MULTI, LATENCY HISTOGRAM's reply in EXEC's array is the
// backend's alone.

// decideLatency gives LATENCY HISTOGRAM the reply kind kindLatency (outside MULTI), with a copy of the
// commands it names.
func (st *decideState) decideLatency(c *resp.Command, d *decision) bool {
	var b [16]byte
	if !st.multi && !c.More && len(c.Args) >= 2 && lower(c.Args, 1, &b) == "histogram" {
		d.sl.kind = kindLatency
		if len(c.Args) > 2 {
			names := cloneArgs(c.Args[2:])
			d.sl.names = &names
		}
	}
	return false
}

// histogramEntry is one command's histogram in a LATENCY HISTOGRAM reply: its calls and the count of
// each bucket (not cumulative), by the bucket's upper bound in µs.
type histogramEntry struct {
	name    string
	calls   int64
	buckets map[int64]int64
}

// latencyReply is the backend's LATENCY HISTOGRAM reply with moat's histograms of the commands names
// names (nil: all) merged in. A reply of another shape (an error) is returned as it is.
func (s *session) latencyReply(reply []byte, names *[][]byte) []byte {
	mine := s.in.latencyCounts(names)
	if len(mine) == 0 || len(reply) == 0 || (reply[0] != '*' && reply[0] != '%') {
		return reply
	}
	v, err := acl.ReadValue(bufio.NewReader(bytes.NewReader(reply)))
	pairs, ok := v.Pairs()
	if err != nil || !ok {
		return reply
	}
	var entries []histogramEntry
	for i := 0; i < len(pairs); i += 2 {
		e, ok := parseHistogram(pairs[i], pairs[i+1])
		if !ok {
			return reply
		}
		entries = append(entries, e)
	}
	for _, c := range mine {
		if !slices.ContainsFunc(entries, func(e histogramEntry) bool { return e.name == c.name }) {
			entries = append(entries, histogramEntry{name: c.name, buckets: map[int64]int64{}})
		}
		for i := range entries { // a command named twice is shown twice
			if entries[i].name != c.name {
				continue
			}
			for k, n := range c.hist {
				if n > 0 {
					entries[i].buckets[histTop(k)/1000] += n
					entries[i].calls += n
				}
			}
		}
	}
	return appendHistograms(nil, entries, reply[0] == '%')
}

// latencyCounts are the counts of the commands moat counted that names name (nil: all), with calls.
func (in *Instance) latencyCounts(names *[][]byte) []cmdCounts {
	all := in.commandCounts()
	var out []cmdCounts
	for _, c := range all {
		if c.samples() > 0 && (names == nil || histogramNamed(c.name, *names)) {
			out = append(out, c)
		}
	}
	return out
}

// histogramNamed reports whether LATENCY HISTOGRAM's arguments names name (a statistics name).
func histogramNamed(name string, names [][]byte) bool {
	container, _, _ := strings.Cut(name, "|")
	for _, n := range names {
		if strings.EqualFold(string(n), name) || strings.EqualFold(string(n), container) {
			return true
		}
	}
	return false
}

// parseHistogram reads one command's histogram from the backend's reply: its name and its map.
func parseHistogram(name, v acl.Value) (histogramEntry, bool) {
	e := histogramEntry{buckets: map[int64]int64{}}
	var ok bool
	if e.name, ok = name.Text(); !ok {
		return e, false
	}
	fields, ok := v.Pairs()
	if !ok {
		return e, false
	}
	for i := 0; i < len(fields); i += 2 {
		key, _ := fields[i].Text()
		switch val := fields[i+1]; key {
		case "calls":
			e.calls = val.Int
		case "histogram_usec":
			points, ok := val.Pairs()
			if !ok {
				return e, false
			}
			var below int64
			for j := 0; j < len(points); j += 2 {
				e.buckets[points[j].Int] += points[j+1].Int - below
				below = points[j+1].Int
			}
		}
	}
	return e, true
}

// appendHistograms appends a LATENCY HISTOGRAM reply of entries, as Redis writes it.
func appendHistograms(b []byte, entries []histogramEntry, resp3 bool) []byte {
	b = resp.AppendMap(b, len(entries), resp3)
	for _, e := range entries {
		b = resp.AppendBulkString(b, e.name)
		b = resp.AppendMap(b, 2, resp3)
		b = resp.AppendInt(resp.AppendBulkString(b, "calls"), e.calls)
		b = resp.AppendBulkString(b, "histogram_usec")
		bounds := slices.Sorted(maps.Keys(e.buckets))
		n := 0
		for _, us := range bounds {
			if e.buckets[us] > 0 {
				n++
			}
		}
		b = resp.AppendMap(b, n, resp3)
		var cum int64
		for _, us := range bounds {
			if e.buckets[us] > 0 {
				cum += e.buckets[us]
				b = resp.AppendInt(resp.AppendInt(b, us), cum)
			}
		}
	}
	return b
}
