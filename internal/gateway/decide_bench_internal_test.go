package gateway

import (
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// decideBench is a connection's decide state on an instance judged with redis-server 7.0.15's table, as
// a client without ACL users has it (auth.free): what the reader runs for every command, without sockets.
func decideBench(tb testing.TB) (*decideState, *session) {
	tb.Helper()
	tbl, err := acl.LoadDefault()
	if err != nil {
		tb.Fatal(err)
	}
	in := &Instance{table: tbl, cmds: newCommandTable(tbl)}
	s := &session{in: in}
	st := &decideState{sess: s}
	st.auth.free = true
	return st, s
}

func benchCommand(args ...string) resp.Command {
	c := resp.Command{Args: make([][]byte, len(args))}
	for i, a := range args {
		c.Args[i] = []byte(a)
	}
	return c
}

// BenchmarkDecide is the reader's step for one forwarded command: decide, the lane it needs
// (sharedNeed) and the name CLIENT LIST shows (commandName). It allocates nothing.
func BenchmarkDecide(b *testing.B) {
	for _, args := range [][]string{
		{"GET", "k"},
		{"HINCRBY", "h", "f", "1"},
		{"BLPOP", "l", "0"},
		{"CLIENT", "GETNAME"},
	} {
		b.Run(args[0], func(b *testing.B) {
			st, s := decideBench(b)
			c := benchCommand(args...)
			b.ReportAllocs()
			for b.Loop() {
				sl, _, e := st.decide(&c)
				s.sharedNeed(e, &c, &sl)
				commandName(e, &c)
			}
		})
	}
}
