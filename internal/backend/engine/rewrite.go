package engine

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/resp"
)

// maxDB is the highest database number a rewrite looks at (Redis's default "databases 16").
const maxDB = 15

// rewrite replaces the log by the commands that recreate the engine's data as it is now, so that the
// log's size follows the data's, not the history's. Logged commands wait meanwhile (reads do not).
// Every key reads back whole (record.go, state); when the new log cannot be written (a full disk), the
// old one is kept, with a warning, until the rewrite is due again (the log has doubled once more).
func (e *Engine) rewrite() {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	l := e.log
	start := time.Now()
	st := e.stats
	st.mu.Lock()
	st.rewriting = true
	st.mu.Unlock()
	ok := false
	defer func() {
		st.mu.Lock()
		st.rewriting, st.lastRewrite, st.lastRewriteErr = false, time.Since(start), !ok
		if ok {
			st.rewrites++
			st.rewriteFails = 0
		} else {
			st.rewriteFails++
		}
		st.mu.Unlock()
	}()
	tmp := l.path + ".rewrite"
	size, err := e.writeSnapshot(tmp)
	if err != nil {
		_ = os.Remove(tmp)
		l.mu.Lock()
		l.base = l.size // try again when it has doubled
		l.mu.Unlock()
		e.lg.Warn("engine: log rewrite skipped", "file", l.path, "reason", err)
		return
	}
	f, err := privateFile(tmp)
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		if f != nil {
			_ = f.Close()
		}
		e.lg.Error("engine: log rewrite failed; the old log is kept", "file", l.path, "error", err)
		return
	}
	l.mu.Lock()
	old := l.f
	before := l.size
	l.f, l.pending, l.size, l.base, l.db = e.asLog(f), l.pending[:0], size, size, 0
	l.mu.Unlock()
	_ = old.Close()
	ok = true
	e.lg.Info("engine: log rewritten", "file", l.path, "from", before, "to", size, "took", time.Since(start).Round(time.Millisecond))
}

// writeSnapshot writes the engine's data to path as commands (database 0 selected at the end) and
// fsyncs it. Called with the write lock held, so no logged command runs meanwhile.
func (e *Engine) writeSnapshot(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	now := e.clock()
	u := &unit{}
	for db := 0; db <= maxDB; db++ {
		keys := e.m.DB(db).Keys()
		if len(keys) == 0 {
			continue
		}
		slices.Sort(keys)
		u.db = db
		u.buf = resp.AppendCommand(u.buf[:0], "SELECT", strconv.Itoa(db))
		for _, k := range keys {
			e.state(u, k, now)
			if len(u.buf) > 1<<20 {
				n, err := w.Write(u.buf)
				size += int64(n)
				if err != nil {
					return 0, err
				}
				u.buf = u.buf[:0]
			}
		}
		n, err := w.Write(resp.AppendCommand(u.buf, "SELECT", "0"))
		size += int64(n)
		if err != nil {
			return 0, err
		}
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return size, f.Sync()
}

// syncDir fsyncs a directory, so that a rename in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
