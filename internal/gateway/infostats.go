package gateway

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// INFO's sections with moat's figures (info.go): connected_clients and maxclients in Clients; the
// statistics of the commands moat answers (stats.go) added to the backend's in Stats
// (total_commands_processed, total_error_replies), Commandstats (cmdstat_<name>: the counts summed,
// usec_per_call recomputed), Errorstats (errorstat_<PREFIX>: summed) and Latencystats
// (latency_percentiles_usec_<name>, with the percentiles the backend's lines show — its
// latency-tracking-info-percentiles —, else Redis's default 50, 99, 99.9; for a command both count,
// the backend's line). A command or prefix only moat counted gets a line of its own at the end of its
// section, in Redis 7.0.15's format (src/server.c genRedisInfoString). A section the backend's reply
// lacks is not added.

// infoEditor rewrites an INFO reply's body line by line. Pump goroutine; not reusable.
type infoEditor struct {
	connected, maxClients string

	cmds        []cmdCounts
	used        []bool // cmds[i] had a line of the backend's in the current section
	errors      map[string]int64
	errorsTotal int64
	calls       int64
	percentiles []string // the percentiles' text, as Redis writes them ("99.9")

	section string // the current section's title line
}

// infoEditor takes moat's figures for an INFO reply.
func (s *session) infoEditor() *infoEditor {
	ed := &infoEditor{
		connected:  strconv.Itoa(s.in.connectedClients()),
		maxClients: moatConfigValue(s.in.snap.Load(), "maxclients"),
		cmds:       s.in.commandCounts(),
	}
	ed.errors, ed.errorsTotal = s.in.errorCounts()
	ed.used = make([]bool, len(ed.cmds))
	for _, c := range ed.cmds {
		ed.calls += c.calls
	}
	return ed
}

// edit appends body (INFO's text) to text as moat shows it.
func (ed *infoEditor) edit(text, body []byte) []byte {
	for line := range bytes.SplitSeq(bytes.TrimSuffix(body, crlf), crlf) {
		text = ed.line(text, line)
	}
	text = ed.end(text)
	if !bytes.HasSuffix(body, crlf) {
		text = bytes.TrimSuffix(text, crlf)
	}
	return text
}

// line appends line (without its CRLF) to text as moat shows it, and what moat adds at the end of a
// section.
func (ed *infoEditor) line(text, line []byte) []byte {
	switch {
	case len(line) == 0:
		text = ed.end(text)
		ed.section = ""
	case line[0] == '#':
		ed.section = string(line)
		clear(ed.used)
	default:
		if v, ok := ed.value(line); ok {
			line = v
		}
	}
	return append(append(text, line...), crlf...)
}

// value is the line moat shows in place of line of the current section, if not line.
func (ed *infoEditor) value(line []byte) ([]byte, bool) {
	key, val, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return nil, false
	}
	switch ed.section {
	case "# Clients":
		switch string(key) {
		case "connected_clients":
			return append(key[:len(key):len(key)], ":"+ed.connected...), true
		case "maxclients":
			return append(key[:len(key):len(key)], ":"+ed.maxClients...), true
		}
	case "# Stats":
		switch string(key) {
		case "total_commands_processed":
			return addToValue(key, val, ed.calls), true
		case "total_error_replies":
			return addToValue(key, val, ed.errorsTotal), true
		}
	case "# Commandstats":
		if i := ed.find(key, "cmdstat_"); i >= 0 {
			ed.used[i] = true
			c := ed.cmds[i]
			f := infoFields(val)
			c.calls += f["calls"]
			c.usec += f["usec"]
			c.rejected += f["rejected_calls"]
			c.failed += f["failed_calls"]
			return appendCmdstat(nil, &c), true
		}
	case "# Errorstats":
		prefix, ok := strings.CutPrefix(string(key), "errorstat_")
		if n, mine := ed.errors[prefix]; ok && mine {
			delete(ed.errors, prefix)
			return addToValue(key, val, n, "count="), true
		}
	case "# Latencystats":
		if ed.percentiles == nil {
			ed.percentiles = percentilesOf(val)
		}
		if i := ed.find(key, "latency_percentiles_usec_"); i >= 0 {
			ed.used[i] = true // the backend's percentiles: moat's histogram cannot be merged into them
		}
	}
	return nil, false
}

// find is the index in ed.cmds of the command key names (prefix, then its name), or -1.
func (ed *infoEditor) find(key []byte, prefix string) int {
	name, ok := bytes.CutPrefix(key, []byte(prefix))
	if !ok {
		return -1
	}
	for i := range ed.cmds {
		if ed.cmds[i].name == string(name) {
			return i
		}
	}
	return -1
}

// end appends the lines moat adds at the end of the current section.
func (ed *infoEditor) end(text []byte) []byte {
	switch ed.section {
	case "# Commandstats":
		for i := range ed.cmds {
			if !ed.used[i] {
				text = append(appendCmdstat(text, &ed.cmds[i]), crlf...)
			}
		}
	case "# Errorstats":
		for _, p := range slices.Sorted(maps.Keys(ed.errors)) {
			text = append(text, "errorstat_"+p+":count="...)
			text = append(strconv.AppendInt(text, ed.errors[p], 10), crlf...)
		}
	case "# Latencystats":
		ps := ed.percentiles
		if ps == nil {
			ps = []string{"50", "99", "99.9"} // Redis's latency-tracking-info-percentiles default
		}
		for i := range ed.cmds {
			if !ed.used[i] && ed.cmds[i].samples() > 0 {
				text = append(appendLatencystat(text, &ed.cmds[i], ps), crlf...)
			}
		}
	}
	return text
}

// appendCmdstat appends the commandstats line of c (without its CRLF), as Redis writes it.
func appendCmdstat(b []byte, c *cmdCounts) []byte {
	perCall := 0.0
	if c.calls > 0 {
		perCall = float64(c.usec) / float64(c.calls)
	}
	b = append(b, "cmdstat_"+c.name+":calls="...)
	b = strconv.AppendInt(b, c.calls, 10)
	b = strconv.AppendInt(append(b, ",usec="...), c.usec, 10)
	b = strconv.AppendFloat(append(b, ",usec_per_call="...), perCall, 'f', 2, 64)
	b = strconv.AppendInt(append(b, ",rejected_calls="...), c.rejected, 10)
	return strconv.AppendInt(append(b, ",failed_calls="...), c.failed, 10)
}

// appendLatencystat appends the latencystats line of c (without its CRLF) at the percentiles ps, as
// Redis writes it: each value in microseconds with 3 decimals.
func appendLatencystat(b []byte, c *cmdCounts, ps []string) []byte {
	b = append(b, "latency_percentiles_usec_"+c.name+":"...)
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		f, _ := strconv.ParseFloat(p, 64)
		b = append(b, "p"+p+"="...)
		b = strconv.AppendFloat(b, float64(c.percentile(f))/1000, 'f', 3, 64)
	}
	return b
}

// percentilesOf is the percentiles of a latencystats value ("p50=1.003,p99=…"), as written.
func percentilesOf(val []byte) []string {
	var ps []string
	for f := range strings.SplitSeq(string(val), ",") {
		p, _, ok := strings.Cut(f, "=")
		if p, found := strings.CutPrefix(p, "p"); ok && found {
			ps = append(ps, p)
		}
	}
	return ps
}

// infoFields are the integer fields of an INFO value "a=1,b=2".
func infoFields(val []byte) map[string]int64 {
	out := map[string]int64{}
	for f := range strings.SplitSeq(string(val), ",") {
		k, v, _ := strings.Cut(f, "=")
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// addToValue is the line key:val with n added to its integer value, after the text prefix of val
// ("count=" of errorstats; none for a plain integer). A value that is not one is left as it is.
func addToValue(key, val []byte, n int64, prefix ...string) []byte {
	p := strings.Join(prefix, "")
	v, err := strconv.ParseInt(strings.TrimPrefix(string(val), p), 10, 64)
	out := append(append(key[:len(key):len(key)], ':'), p...)
	if err != nil {
		return append(out, bytes.TrimPrefix(val, []byte(p))...)
	}
	return strconv.AppendInt(out, v+n, 10)
}
