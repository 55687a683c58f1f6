package gateway

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/snapshot"
)

// The ACL check judges commands against a command table (arity, flags, key positions, categories).
// moat asks the backend with COMMAND when an instance starts (CommandTable), so that a newer or older
// server's commands are judged as that server defines them; a backend without COMMAND (the embedded
// engine), or one that cannot be reached then, gets redis-server 7.0.15's table. The server hands that
// table to the control plane (Plane.SetCommandTable), which compiles the instance's users against it, and
// to Start (Config.Commands with DefaultCommands): the snapshot published is the one served. Only a caller
// that compiles users against another table (tests) has them rebound here (bind).

// backendCommands asks be for its command table; it gives up after timeout.
func backendCommands(be backend.Backend, timeout time.Duration) (*acl.Table, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := be.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("*1\r\n$7\r\nCOMMAND\r\n")); err != nil {
		return nil, err
	}
	return acl.ReadCommandReply(bufio.NewReaderSize(c, 64*1024), "backend "+be.String()+" COMMAND")
}

// CommandTable is the command table an instance on be is judged with: be's COMMAND reply, else def (the
// backend has no COMMAND or does not answer within timeout). It logs which, to log.
func CommandTable(be backend.Backend, timeout time.Duration, def *acl.Table, log *slog.Logger) *acl.Table {
	t, err := backendCommands(be, timeout)
	if err != nil {
		log.Info("ACL command table: redis-server 7.0.15's (the backend gave none)", "backend", be.String(), "why", err)
		return def
	}
	log.Info("ACL command table from the backend", "backend", be.String(), "commands", t.Len())
	return t
}

// bind returns s with its users compiled against the instance's table. When they do not compile there (a
// rule names a command the backend lacks), s is returned as it is and the problem is logged: the users
// keep 7.0.15's table.
func (in *Instance) bind(s *snapshot.Snapshot) *snapshot.Snapshot {
	if s.Users == nil || s.Users.Table() == in.table {
		return s
	}
	us, err := s.Users.Rebind(in.table)
	if err != nil {
		in.log.Warn("ACL users judged with redis-server 7.0.15's command table: "+fmt.Sprint(err), "backend", in.backend.String())
		return s
	}
	cp := *s
	cp.Users = us
	return &cp
}
