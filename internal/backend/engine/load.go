package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2/server"

	"github.com/moat-dev/moat/internal/resp"
)

// load replays the log into the engine and opens it for appending. Commands between MULTI and EXEC
// run only once their EXEC is read: a unit cut short by a crash is dropped with the rest of the tail.
func (e *Engine) load() error {
	l := e.log
	f, err := privateFile(l.path)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	good, total, err := e.replay(f)
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("engine: load %s: %w", l.path, err)
	}
	if good < total {
		e.lg.Warn("engine: the log ends with a cut-short entry (a crash during a write); dropping it",
			"file", l.path, "bytes", total-good)
		if err := f.Truncate(good); err != nil {
			_ = f.Close()
			return fmt.Errorf("engine: truncate %s: %w", l.path, err)
		}
	}
	l.f, l.size, l.base = e.asLog(f), good, good
	return nil
}

// replay runs the log's whole units and returns where the last one ends and the file's size.
func (e *Engine) replay(f *os.File) (good, total int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	total = fi.Size()
	lim := resp.DefaultLimits()
	lim.MaxBuffered = maxCommand
	rd := resp.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, 0, total), 1<<20), lim)
	p := server.NewPeer(discard())
	var (
		pos   int64
		group [][]string // commands of an open MULTI
		multi bool
		db    int
	)
	for {
		cmds, err := rd.ReadBatch()
		if err != nil {
			return good, total, nil // io.EOF, a cut-short tail or garbage after the last whole unit
		}
		for _, c := range cmds {
			if c.Inline || c.More || len(c.Args) == 0 {
				return good, total, nil
			}
			pos += int64(len(c.Raw))
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = string(a)
			}
			switch name := strings.ToUpper(args[0]); {
			case name == "MULTI":
				multi, group = true, group[:0]
				continue
			case name == "EXEC":
				for _, g := range group {
					db = e.replayOne(p, g, db)
				}
				multi, group = false, group[:0]
			case multi:
				group = append(group, args)
				continue
			default:
				db = e.replayOne(p, args, db)
			}
			good = pos
			e.log.db = db
		}
	}
}

// replayOne runs one logged command on p and returns the database selected after it.
func (e *Engine) replayOne(p *server.Peer, args []string, db int) int {
	if strings.EqualFold(args[0], "HPEXPIREAT") {
		args = hexpireNow(args, e.clock())
	}
	if strings.EqualFold(args[0], "SELECT") && len(args) == 2 {
		db = atoiOr(args[1], db)
	}
	e.srv.Dispatch(p, args)
	return db
}

// hexpireNow turns the log's "HPEXPIREAT key ms FIELDS n field…" (a hash field's absolute expiry)
// into what the engine has: HEXPIRE with the seconds left, rounded up, or HDEL once it has passed.
func hexpireNow(args []string, now time.Time) []string {
	if len(args) < 6 {
		return args
	}
	at, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return args
	}
	left := time.UnixMilli(at).Sub(now)
	if left <= 0 {
		return append([]string{"HDEL", args[1]}, args[5:]...)
	}
	secs := int64((left + time.Second - 1) / time.Second)
	return append([]string{"HEXPIRE", args[1], strconv.FormatInt(secs, 10)}, args[3:]...)
}

// discard is a writer for replies nobody reads.
func discard() *bufio.Writer { return bufio.NewWriterSize(io.Discard, 4096) }
