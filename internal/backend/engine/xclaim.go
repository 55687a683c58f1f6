package engine

import (
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2/server"
)

// xclaim: XCLAIM key group consumer min-idle-time id [id ...] [options]. The library claims every
// pending ID whatever its idle time; Redis claims only those idle at least min-idle-time. The engine
// drops the others (asking XPENDING … IDLE), then lets the library claim the rest with a minimum of 0.
// Malformed commands and IDs not pending (claimed only with FORCE) go to the library as they are.
func (e *Engine) xclaim(p *server.Peer, args []string) {
	minIdle, err := strconv.ParseInt(safeArg(args, 3), 10, 64)
	if len(args) < 5 || err != nil || minIdle <= 0 {
		p.WriteRaw(string(e.call(p, append([]string{"XCLAIM"}, args...)...)))
		return
	}
	key, group := args[0], args[1]
	end := 4
	for end < len(args) && !isXclaimOption(args[end]) {
		end++
	}
	kept := []string{"XCLAIM", key, group, args[2], "0"}
	for _, id := range args[4:end] {
		all := e.call(p, "XPENDING", key, group, id, id, "1")
		idle := e.call(p, "XPENDING", key, group, "IDLE", args[3], id, id, "1")
		if string(all) != string(idle) && !strings.HasPrefix(string(all), "-") {
			continue // pending, but not idle long enough
		}
		kept = append(kept, id)
	}
	if len(kept) == 5 {
		p.WriteLen(0)
		return
	}
	kept = append(kept, args[end:]...)
	p.WriteRaw(string(e.call(p, kept...)))
}

// isXclaimOption reports XCLAIM's option words, which end its list of IDs.
func isXclaimOption(a string) bool {
	switch strings.ToUpper(a) {
	case "IDLE", "TIME", "RETRYCOUNT", "FORCE", "JUSTID", "LASTID":
		return true
	}
	return false
}

// safeArg is args[i], or "" past the end.
func safeArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
