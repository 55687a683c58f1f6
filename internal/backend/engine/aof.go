package engine

import (
	"strconv"
	"sync"

	"github.com/moat-dev/moat/internal/resp"
)

// aof is the append-only log: RESP commands, one unit (one command, or several between MULTI and
// EXEC) per logged client command. Units are encoded under the engine's write lock, in the order the
// engine ran them; writeOut hands them to the kernel before the replies go out, and the sync loop
// fsyncs every second.
type aof struct {
	mu      sync.Mutex
	f       logFile
	path    string
	pending []byte        // encoded units not yet written to f
	db      int           // database selected at the end of the log
	size    int64         // bytes in f plus pending
	base    int64         // size after the last load or rewrite: the next rewrite is due at 2×base (≥ min)
	min     int64         // the smallest log that is rewritten: minRewrite (tests make it smaller)
	units   int64         // units committed since Open (INFO's rdb_changes_since_last_save)
	dueC    chan struct{} // signalled (without blocking) when a commit makes the log due for a rewrite
	err     error         // the last write or sync error, nil once one succeeds again
	u       unit          // the unit being built (only under the engine's write lock)
}

// logFile is the open log: an *os.File, or in the power-cut test a file whose writes reach the disk
// only when synced (volatileFile).
type logFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// minRewrite is the smallest log that is rewritten.
const minRewrite = 64 << 20

// unit is one atomic entry of the log being built.
type unit struct {
	startDB, db int // database before and after it
	buf         []byte
	n           int // commands in buf
}

// unit starts a new unit on database db. Only one unit is built at a time (the write lock).
func (l *aof) unit(db int) *unit {
	l.u.startDB, l.u.db, l.u.buf, l.u.n = db, db, l.u.buf[:0], 0
	return &l.u
}

// add appends one command.
func (u *unit) add(args ...string) {
	u.buf = resp.AppendCommand(u.buf, args...)
	u.n++
}

// commit appends u to the log; false when u is empty.
func (l *aof) commit(u *unit) bool {
	if u.n == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	before := len(l.pending)
	if l.db != u.startDB {
		l.pending = resp.AppendCommand(l.pending, "SELECT", strconv.Itoa(u.startDB))
	}
	if u.n > 1 {
		l.pending = resp.AppendCommand(l.pending, "MULTI")
	}
	l.pending = append(l.pending, u.buf...)
	if u.n > 1 {
		l.pending = resp.AppendCommand(l.pending, "EXEC")
	}
	l.db = u.db
	l.units++
	l.size += int64(len(l.pending) - before)
	if l.size >= max(2*l.base, l.min) {
		select {
		case l.dueC <- struct{}{}:
		default: // already signalled
		}
	}
	if cap(u.buf) > 1<<20 {
		u.buf = nil
	}
	return true
}

// due reports whether the log has grown enough to be rewritten.
func (l *aof) due() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size >= max(2*l.base, l.min)
}

// writeOut hands the pending units to the kernel: they survive the process being killed.
func (l *aof) writeOut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeOutLocked()
}

func (l *aof) writeOutLocked() {
	if len(l.pending) == 0 || l.f == nil {
		return
	}
	n, err := l.f.Write(l.pending)
	l.err = err
	l.pending = l.pending[:copy(l.pending, l.pending[n:])]
	if cap(l.pending) > 4<<20 && len(l.pending) == 0 {
		l.pending = nil
	}
}

// sync writes out and fsyncs: what it covers survives a power cut.
func (l *aof) sync() error {
	l.mu.Lock()
	l.writeOutLocked()
	f, err := l.f, l.err
	l.mu.Unlock()
	if err != nil || f == nil {
		return err
	}
	if err := f.Sync(); err != nil {
		l.mu.Lock()
		if l.f == f { // not a file a rewrite has closed meanwhile
			l.err = err
		}
		l.mu.Unlock()
		return err
	}
	return nil
}
