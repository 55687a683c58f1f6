package engine

import (
	"bufio"
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2/server"
)

// placeholderField is the field of the entries a stream's state adds and deletes again (see
// streamState): an ID that must exist for a moment.
const placeholderField = "moat-placeholder"

// streamState adds the commands that recreate stream key of u's database as it is: its entries, its
// last generated ID, and each consumer group with its last-delivered ID, its consumers and its pending
// entries (owner, delivery count, time of last delivery). Entries that are pending but were deleted,
// and the last generated ID when its entry was deleted, are added as placeholders and deleted again at
// the end, so that the library knows them as it did. Not kept: the times consumers were last seen
// (they restart at load). Called with the write lock held (the engine's clock does not move).
func (e *Engine) streamState(u *unit, key string, now time.Time) {
	r := e.reader(u.db)
	entries, _ := e.m.DB(u.db).Stream(key)
	type group struct {
		name, last string
		consumers  []string
		pending    [][4]string // id, consumer, last delivery (Unix ms), delivery count
	}
	var groups []group
	var lastGen string
	if info, ok := r.do("XINFO", "STREAM", key).([]any); ok {
		lastGen, _ = field(info, "last-generated-id").(string)
	}
	infos, _ := r.do("XINFO", "GROUPS", key).([]any)
	for _, gi := range infos {
		g, _ := gi.([]any)
		name, _ := field(g, "name").(string)
		last, _ := field(g, "last-delivered-id").(string)
		gr := group{name: name, last: last}
		cons, _ := r.do("XINFO", "CONSUMERS", key, name).([]any)
		for _, ci := range cons {
			if n, ok := field(ci.([]any), "name").(string); ok {
				gr.consumers = append(gr.consumers, n)
			}
		}
		pend, _ := r.do("XPENDING", key, name, "-", "+", strconv.Itoa(1<<31-1)).([]any)
		for _, pi := range pend {
			p, _ := pi.([]any)
			if len(p) != 4 {
				continue
			}
			id, _ := p[0].(string)
			owner, _ := p[1].(string)
			idle, _ := p[2].(int)
			count, _ := p[3].(int)
			at := now.Add(-time.Duration(idle) * time.Millisecond).UnixMilli()
			gr.pending = append(gr.pending, [4]string{id, owner, strconv.FormatInt(at, 10), strconv.Itoa(count)})
		}
		groups = append(groups, gr)
	}
	slices.SortFunc(groups, func(a, b group) int { return cmp.Compare(a.name, b.name) })

	// The IDs that must exist while the groups are built: entries, pending entries, the last generated.
	present := make(map[string]bool, len(entries))
	for _, en := range entries {
		present[en.ID] = true
	}
	var placeholders []string
	for _, g := range groups {
		for _, p := range g.pending {
			if !present[p[0]] {
				present[p[0]] = true
				placeholders = append(placeholders, p[0])
			}
		}
	}
	if lastGen != "" && lastGen != "0-0" && !present[lastGen] {
		placeholders = append(placeholders, lastGen)
	}
	type item struct {
		id     string
		values []string
	}
	all := make([]item, 0, len(entries)+len(placeholders))
	for _, en := range entries {
		all = append(all, item{en.ID, en.Values})
	}
	for _, id := range placeholders {
		all = append(all, item{id, []string{placeholderField, ""}})
	}
	slices.SortFunc(all, func(a, b item) int { return compareIDs(a.id, b.id) })

	u.add("DEL", key)
	for _, it := range all {
		u.add(append([]string{"XADD", key, it.id}, it.values...)...)
	}
	if len(all) == 0 && len(groups) == 0 {
		// An empty stream without groups: made by a group that is destroyed again.
		u.add("XGROUP", "CREATE", key, placeholderField, "0", "MKSTREAM")
		u.add("XGROUP", "DESTROY", key, placeholderField)
	}
	for _, g := range groups {
		u.add("XGROUP", "CREATE", key, g.name, g.last, "MKSTREAM")
		for _, c := range g.consumers {
			u.add("XGROUP", "CREATECONSUMER", key, g.name, c)
		}
		for _, p := range g.pending {
			u.add("XCLAIM", key, g.name, p[1], "0", p[0], "TIME", p[2], "RETRYCOUNT", p[3], "FORCE", "JUSTID")
		}
	}
	if len(placeholders) > 0 {
		u.add(append([]string{"XDEL", key}, placeholders...)...)
	}
}

// compareIDs orders two stream IDs ("ms-seq").
func compareIDs(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if c := cmp.Compare(am, bm); c != 0 {
		return c
	}
	return cmp.Compare(as, bs)
}

// splitID reads a stream ID "ms-seq" (a missing seq is 0).
func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// field is the value after name in a flat RESP2 map ([name, value, ...]), or nil.
func field(m []any, name string) any {
	for i := 0; i+1 < len(m); i += 2 {
		if s, ok := m[i].(string); ok && s == name {
			return m[i+1]
		}
	}
	return nil
}

// libReader runs read commands on the library in one database and parses their RESP2 replies.
type libReader struct {
	e   *Engine
	p   *server.Peer
	out *bufferWriter
}

// reader is a libReader of database db.
func (e *Engine) reader(db int) *libReader {
	out := &bufferWriter{}
	r := &libReader{e: e, out: out, p: server.NewPeer(bufio.NewWriterSize(out, 4096))}
	r.do("SELECT", strconv.Itoa(db))
	return r
}

// do runs args and returns the parsed reply (nil for an error or a null).
func (r *libReader) do(args ...string) any {
	r.out.b = r.out.b[:0]
	r.e.srv.Dispatch(r.p, args)
	r.p.Flush()
	v, err := server.ParseReply(bufio.NewReader(bytes.NewReader(r.out.b)))
	if err != nil {
		return nil
	}
	return v
}
