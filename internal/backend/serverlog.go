package backend

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
)

// maxServerLogLine bounds one line of the managed server's output; a longer line ends the forwarding
// (the rest of the output is still read, and dropped, so that the server never blocks on a full pipe).
const maxServerLogLine = 64 << 10

// forwardLog copies the managed server's output (stdout and stderr, one pipe) into moat's log, one
// record per line with the server's name and PID; the logger already names the instance. It returns at
// the pipe's end: when the server and any process it forked have exited.
func (m *managed) forwardLog(r *os.File, c *child) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxServerLogLine)
	for sc.Scan() {
		level, msg := parseServerLog(sc.Text())
		if msg == "" {
			continue
		}
		c.remember(msg)
		m.log.Log(context.Background(), level, msg, "server", m.srv.Name, "pid", c.pid)
	}
	_, _ = io.Copy(io.Discard, r)
}

// parseServerLog splits a Redis/Valkey log line, "pid:role dd Mon yyyy hh:mm:ss.mmm L message", into
// a level and the message. L is '.' (debug), '-' (verbose), '*' (notice) or '#' (warning); notices
// are Info, warnings Warn, the rest Debug. A line of another shape is Info, whole.
func parseServerLog(line string) (slog.Level, string) {
	f := strings.SplitN(line, " ", 7)
	if len(f) != 7 || !strings.Contains(f[0], ":") || len(f[5]) != 1 {
		return slog.LevelInfo, strings.TrimSpace(line)
	}
	switch f[5][0] {
	case '#':
		return slog.LevelWarn, f[6]
	case '*':
		return slog.LevelInfo, f[6]
	case '.', '-':
		return slog.LevelDebug, f[6]
	}
	return slog.LevelInfo, strings.TrimSpace(line)
}
